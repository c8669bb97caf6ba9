import type { DemoSummary } from './seed';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const day = (iso: string | null) => (iso ? iso.slice(0, 10) : '-');

/** What `ct demo seed` prints: what was created, in a few lines, and nothing secret. */
export function formatDemoSummary(s: DemoSummary): string {
  if (s.outcome !== 'seeded') return `${s.message}\n`;
  const byStatus = (status: string) => s.createdClients.filter((c) => c.status === status).length;
  const reused = s.workflows.filter((w) => w.reused).length;
  const lines = [
    `${s.message} (${s.durationSeconds.toFixed(1)} s)`,
    `  clients:       ${s.createdClients.map((c) => `${c.slug} (${c.status})`).join(', ')}` +
      (s.presentClients.length ? `; already there: ${s.presentClients.join(', ')}` : ''),
    `                 ${byStatus('active')} active, ${byStatus('paused')} paused, ${byStatus('churned')} churned`,
    `  plans:         ${s.plansCreated.length ? s.plansCreated.join(', ') : 'none created (already there)'}`,
    `  subscriptions: ${s.subscriptions.active} active, ${s.subscriptions.canceled} canceled`,
    `  invoices:      ${s.invoices.paid} paid, ${s.invoices.open} open not yet due, ${s.invoices.overdue} overdue`,
    `  n8n:           ${plural(s.workflows.length, 'workflow')} mapped as ${plural(s.automations, 'automation')}` +
      (reused ? ` (${reused} already in n8n under that name, updated)` : '') +
      '; executions: ' +
      `${s.executions.success.length} success, ${s.executions.error.length} error, ${s.executions.running.length} running` +
      (s.stuckUntil && s.executions.running.length ? ` (stuck until ${s.stuckUntil.replace(/\.\d+Z$/, 'Z')})` : ''),
    `  events:        ${s.events.stored} signed webhook events from ${day(s.events.oldest)} to ${day(s.events.newest)}` +
      (s.events.duplicates ? ` (${s.events.duplicates} already stored)` : ''),
  ];
  if (s.rateLimited) lines.push(`  rate limits:   ${plural(s.rateLimited, 'answer')} 429 waited out and retried`);
  return `${lines.join('\n')}\n`;
}
