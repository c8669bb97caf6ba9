import type { OnboardResult } from './onboard';

/** What the operator reads at the end of a run: each step, where things are, the one-time secrets, notes. */
export function formatOnboardSummary(r: OnboardResult): string {
  const lines: string[] = [];
  lines.push(r.ok ? `Client ${r.slug} is onboarded.` : `Onboarding of ${r.slug} stopped at "${r.failure?.step}".`);
  const width = Math.max(...r.steps.map((s) => s.step.length));
  for (const s of r.steps) lines.push(`  ${s.step.padEnd(width)}  ${s.status.padEnd(7)}  ${s.detail}`);
  const facts = Object.entries(r.facts);
  if (facts.length) {
    lines.push('');
    for (const [k, v] of facts) lines.push(`${k}: ${v}`);
  }
  if (r.secrets.length) {
    lines.push('', 'One-time secrets, shown this once (store them now; they cannot be shown again):');
    for (const s of r.secrets) lines.push(`  ${s.label}: ${s.value}`);
  }
  if (r.notes.length) {
    lines.push('', 'Notes:');
    for (const n of r.notes) lines.push(`  - ${n}`);
  }
  if (!r.ok) {
    lines.push('', `Failed: ${r.failure?.message}`);
    lines.push('Fix what is said above and run the same command again: it continues where it stopped and creates nothing twice.');
  }
  return `${lines.join('\n')}\n`;
}
