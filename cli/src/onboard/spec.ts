import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDocument } from 'yaml';
import { createAutomationBody, createClientBody, createPlanBody, webhookEventSchema } from '@ct/api';
import { durationSeconds, UserError } from '@ct/lib';

/**
 * What `ct client onboard` needs to know about a client, from a YAML file, flags and prompts.
 * The fields reuse the API's own schemas, so a value the API would refuse is refused here, with
 * the field's path (`plan.monthlyAmountCents`, `automations.0.workflow`…) in the message.
 */

const clientShape = createClientBody.shape;
const planShape = createPlanBody.shape;
const automationShape = createAutomationBody.shape;

export const onboardSpecSchema = z.strictObject({
  client: z.strictObject({
    slug: clientShape.slug,
    name: clientShape.name,
    contactEmail: clientShape.contactEmail,
    contactPhone: clientShape.contactPhone,
    timezone: clientShape.timezone,
  }),
  plan: z.strictObject({
    code: planShape.code,
    /** Needed only when the plan does not exist yet. */
    name: planShape.name.optional(),
    monthlyAmountCents: planShape.monthlyAmountCents.optional(),
    currency: planShape.currency,
  }),
  subscription: z
    .strictObject({ monthlyAmountCents: planShape.monthlyAmountCents.optional().describe("defaults to the plan's price") })
    .default({}),
  automations: z
    .array(
      z.strictObject({
        /** An n8n workflow id or its exact name. */
        workflow: z.string().trim().min(1, 'must name an n8n workflow (its id or its exact name)').max(200),
        name: automationShape.name,
        minutesSavedPerRun: automationShape.minutesSavedPerRun.default(0),
        hourlyValueCents: automationShape.hourlyValueCents.default(0),
        currency: automationShape.currency,
      }),
    )
    .default([]),
  reporting: z.strictObject({
    /** The platform API's base URL as n8n reaches it (the workflow posts to <apiUrl>/api/webhooks/n8n/<slug>). */
    apiUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, such as https://ct.example.com' }),
    eventType: webhookEventSchema.shape.type.default('lead.captured'),
  }),
  portalUser: z.strictObject({ email: clientShape.contactEmail.unwrap() }),
  wait: z
    .strictObject({
      /** How long to wait for the client's first signed event (e.g. 10m); 0 = do not wait. */
      timeout: durationSeconds.default(600),
      /** Post one test event to the reporting workflow's trigger, so the wait ends by itself. */
      sendTestEvent: z.boolean().default(false),
    })
    .default({ timeout: 600, sendTestEvent: false }),
});

export type OnboardSpec = z.output<typeof onboardSpecSchema>;
/** The spec before validation: what the file, the flags and the prompts gather. */
export type RawSpec = Record<string, unknown>;

/** "where: field.path: message" for each problem, one per line. */
export function describeIssues(where: string, error: z.ZodError): string {
  return error.issues.map((i) => `${where}: ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`).join('\n');
}

/** Validates the gathered spec; a UserError names every field that is wrong. */
export function validateSpec(raw: RawSpec, where = 'onboarding'): OnboardSpec {
  const r = onboardSpecSchema.safeParse(raw);
  if (!r.success) throw new UserError(`invalid client onboarding:\n${describeIssues(where, r.error)}`);
  return r.data;
}

/** Reads a YAML (or JSON) file into a raw spec; syntax errors name the line. */
export function readSpecFile(file: string): RawSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new UserError(`${file} is not valid YAML: ${doc.errors[0]!.message}`);
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new UserError(`${file}: (top level): must be a mapping (client:, plan:, …)`);
  return value as RawSpec;
}

/** Sets `path` (a.b.c) in a raw spec when the value is given, creating the objects on the way. */
export function setIn(raw: RawSpec, path: string, value: unknown): void {
  if (value === undefined) return;
  const keys = path.split('.');
  let at: Record<string, unknown> = raw;
  for (const k of keys.slice(0, -1)) {
    const next = at[k];
    if (!next || typeof next !== 'object' || Array.isArray(next)) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1]!] = value;
}

/** The value at `path`, or undefined. */
export function getIn(raw: RawSpec, path: string): unknown {
  let at: unknown = raw;
  for (const k of path.split('.')) {
    if (!at || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[k];
  }
  return at;
}
