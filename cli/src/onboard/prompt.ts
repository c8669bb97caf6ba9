import { z } from 'zod';
import { UserError, type N8nClient, type Pool } from '@ct/lib';
import { getIn, onboardSpecSchema, setIn, type RawSpec } from './spec';
import { REPORT_WORKFLOW_PREFIX } from './workflow';

/**
 * The interactive part of `ct client onboard`: asks for what the file and the flags left out, one
 * question at a time, checking each answer with the same schema as the file (a wrong answer is
 * asked again, saying why). `Ask` is injected: a terminal's readline in the command, scripted
 * answers in tests.
 */

/** Asks one question; resolves to the answer as typed (trimmed by the caller). */
export type Ask = (question: string) => Promise<string>;

export interface PromptContext {
  ask: Ask;
  /** Lines shown before a question (lists to choose from), e.g. to stderr. */
  say(line: string): void;
  pool: Pool;
  n8n: N8nClient;
}

const shape = onboardSpecSchema.shape;
const ATTEMPTS = 3;
/** y/yes/n/no, any case. */
const yesNo = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['y', 'yes', 'n', 'no'], { error: 'answer y or n' }))
  .transform((v) => v.startsWith('y'));

/** A number typed at a prompt, for the schemas that want one. */
function numberOf(s: string): number | string {
  return /^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : s;
}

/**
 * Asks until the answer passes `schema` (at most 3 times); a blank answer takes `fallback`, and a
 * blank fallback means "none" (undefined). `asNumber` reads the answer as a number first.
 */
async function askValid<T>(
  ctx: PromptContext,
  question: string,
  schema: z.ZodType<T>,
  fallback?: string,
  asNumber = false,
): Promise<T | undefined> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const typed = (await ctx.ask(`${question}${fallback !== undefined ? ` [${fallback || 'none'}]` : ''}: `)).trim();
    const answer = typed === '' ? fallback : typed;
    if (answer === undefined) {
      ctx.say('  an answer is needed');
      continue;
    }
    if (answer === '') return undefined;
    const r = schema.safeParse(asNumber ? numberOf(answer) : answer);
    if (r.success) return r.data;
    ctx.say(`  ${r.error.issues[0]?.message ?? 'not valid'}`);
  }
  throw new UserError(`no valid answer to "${question}" after ${ATTEMPTS} tries`);
}

async function fill<T>(
  ctx: PromptContext,
  raw: RawSpec,
  path: string,
  question: string,
  schema: z.ZodType<T>,
  fallback?: string,
  asNumber = false,
) {
  if (getIn(raw, path) !== undefined) return;
  setIn(raw, path, await askValid(ctx, question, schema, fallback, asNumber));
}

/** Fills the missing parts of `raw` by asking; what is there already is not asked again. */
export async function promptForSpec(raw: RawSpec, ctx: PromptContext): Promise<RawSpec> {
  const client = shape.client.shape;
  await fill(ctx, raw, 'client.slug', 'Client slug (a-z, 0-9 and -, e.g. pizza-shop)', client.slug);
  await fill(ctx, raw, 'client.name', "Client's name", client.name);
  await fill(ctx, raw, 'client.contactEmail', "Client's contact email (optional)", client.contactEmail, '');
  await fill(ctx, raw, 'client.timezone', "Client's time zone", client.timezone, 'UTC');

  // The plan: one of the active ones, or a new one.
  const plans = await ctx.pool.query<{ code: string; name: string; monthly_amount_cents: string; currency: string }>(
    'SELECT code, name, monthly_amount_cents::text, currency FROM plans WHERE active ORDER BY code',
  );
  if (getIn(raw, 'plan.code') === undefined) {
    if (plans.rows.length) {
      ctx.say('Active plans:');
      for (const p of plans.rows)
        ctx.say(`  ${p.code}  ${p.name}, ${(Number(p.monthly_amount_cents) / 100).toFixed(2)} ${p.currency}/month`);
    }
    await fill(
      ctx,
      raw,
      'plan.code',
      plans.rows.length ? 'Plan code (one above, or a new one)' : 'Plan code (a new plan)',
      shape.plan.shape.code,
    );
  }
  if (!plans.rows.some((p) => p.code === getIn(raw, 'plan.code'))) {
    const plan = shape.plan.shape;
    await fill(ctx, raw, 'plan.name', `Name of the new plan ${String(getIn(raw, 'plan.code'))}`, plan.name.unwrap());
    await fill(
      ctx,
      raw,
      'plan.monthlyAmountCents',
      'Its monthly price, in cents (e.g. 4900)',
      plan.monthlyAmountCents.unwrap(),
      undefined,
      true,
    );
    await fill(ctx, raw, 'plan.currency', 'Its currency', plan.currency.unwrap(), 'USD');
  }

  // Automations: the n8n workflows no client has yet.
  if (getIn(raw, 'automations') === undefined) {
    const mapped = new Set((await ctx.pool.query<{ id: string }>('SELECT n8n_workflow_id AS id FROM automations')).rows.map((r) => r.id));
    const free = (await ctx.n8n.listWorkflows()).filter((w) => !mapped.has(String(w.id)) && !w.name.startsWith(REPORT_WORKFLOW_PREFIX));
    const chosen: string[] = [];
    if (free.length === 0) ctx.say('n8n has no workflow that is not mapped to a client yet: none to map now.');
    else {
      ctx.say('n8n workflows not mapped to any client:');
      free.forEach((w, i) => ctx.say(`  ${i + 1}. ${w.name} (${w.id})${w.active ? '' : ', inactive'}`));
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const answer = (await ctx.ask("The client's workflows: numbers above, comma-separated [none]: ")).trim();
        const picks = answer ? answer.split(/[\s,]+/).filter(Boolean) : [];
        const bad = picks.filter((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > free.length);
        if (bad.length) {
          ctx.say(`  not a number from the list: ${bad.join(', ')}`);
          continue;
        }
        chosen.push(...new Set(picks.map((p) => String(free[Number(p) - 1]!.id))));
        break;
      }
    }
    const automations: Array<Record<string, unknown>> = [];
    if (chosen.length) {
      const item = shape.automations.unwrap().element.shape;
      const minutes = await askValid(ctx, 'Minutes of work each run saves', item.minutesSavedPerRun.unwrap(), '0', true);
      const value = await askValid(ctx, 'What an hour of that work is worth, in cents', item.hourlyValueCents.unwrap(), '0', true);
      for (const id of chosen) automations.push({ workflow: id, minutesSavedPerRun: minutes ?? 0, hourlyValueCents: value ?? 0 });
    }
    raw.automations = automations;
  }

  await fill(
    ctx,
    raw,
    'reporting.apiUrl',
    "The platform API's URL as n8n reaches it (e.g. https://ct.example.com)",
    shape.reporting.shape.apiUrl,
  );
  await fill(ctx, raw, 'portalUser.email', "Email of the client's first portal user", shape.portalUser.shape.email);
  if (getIn(raw, 'wait.sendTestEvent') === undefined) {
    const yes = await askValid(ctx, 'Send a test event through the reporting workflow now? (y/n)', yesNo, 'y');
    setIn(raw, 'wait.sendTestEvent', yes ?? false);
  }
  return raw;
}
