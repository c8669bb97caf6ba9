import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { N8nWorkflow } from '@ct/lib';

/**
 * The signed-event reporting workflow of docs/n8n/report-event-workflow.json, filled in for one
 * client. The client's webhook secret is not in it: the "Sign event" node (n8n's Crypto node,
 * HMAC action) reads it from an n8n credential of type `crypto`, which n8n stores encrypted and
 * leaves out of the workflow and of its exports.
 */

/** The template, from the repository's docs (the same path from src/ and from dist/). */
export const REPORT_WORKFLOW_TEMPLATE = path.join(__dirname, '..', '..', '..', 'docs', 'n8n', 'report-event-workflow.json');

/** The n8n credential type whose `hmacSecret` the Crypto node's HMAC action reads. */
export const CRYPTO_CREDENTIAL_TYPE = 'crypto';
const TRIGGER = 'Example trigger';
const BUILD = 'Build event';
const SIGN = 'Sign event';

/** The names onboarding gives a client's reporting workflow and credential, by which a re-run finds them. */
export const REPORT_WORKFLOW_PREFIX = 'CT report event — ';
export const reportWorkflowName = (slug: string) => `${REPORT_WORKFLOW_PREFIX}${slug}`;
export const reportCredentialName = (slug: string) => `CT webhook secret — ${slug}`;

/** A webhook path nobody can guess: the trigger signs whatever is posted to it. */
export function newReportWebhookPath(slug: string): string {
  return `ct-report-${slug}-${randomBytes(12).toString('hex')}`;
}

export interface ReportWorkflowValues {
  /** The platform API's base URL as n8n reaches it. */
  apiUrl: string;
  slug: string;
  eventType: string;
  /** The n8n credential (type crypto) holding the client's webhook secret. */
  credential: { id: string; name: string };
  /** The trigger's production webhook path. */
  webhookPath: string;
  name?: string;
}

type Node = NonNullable<N8nWorkflow['nodes']>[number];

function node(wf: N8nWorkflow, name: string): Node {
  const found = wf.nodes?.find((n) => n.name === name);
  if (!found) throw new Error(`the reporting workflow template has no node "${name}"`);
  return found;
}

/** Replaces `const NAME = '…';` in the Code node, refusing a template that lacks it. */
function setConstant(code: string, name: string, value: string): string {
  const re = new RegExp(`const ${name} = '[^'\\n]*';`);
  if (!re.test(code)) throw new Error(`the reporting workflow template's "${BUILD}" node has no constant ${name}`);
  return code.replace(re, () => `const ${name} = ${JSON.stringify(value)};`);
}

/** The template filled in for one client: what is created in n8n. */
export function fillReportWorkflow(v: ReportWorkflowValues, templatePath = REPORT_WORKFLOW_TEMPLATE): N8nWorkflow {
  const wf = JSON.parse(readFileSync(templatePath, 'utf8')) as N8nWorkflow;
  const trigger = node(wf, TRIGGER);
  trigger.parameters = { ...trigger.parameters, path: v.webhookPath };
  trigger.webhookId = v.webhookPath;
  const build = node(wf, BUILD);
  let code = String(build.parameters?.jsCode ?? '');
  code = setConstant(code, 'CT_URL', v.apiUrl.replace(/\/+$/, ''));
  code = setConstant(code, 'CLIENT', v.slug);
  code = setConstant(code, 'EVENT_TYPE', v.eventType);
  build.parameters = { ...build.parameters, jsCode: code };
  node(wf, SIGN).credentials = { [CRYPTO_CREDENTIAL_TYPE]: { id: v.credential.id, name: v.credential.name } };
  return { ...wf, name: v.name ?? reportWorkflowName(v.slug) };
}

/** The production webhook path of an imported reporting workflow's trigger, if it has one. */
export function reportWebhookPath(wf: N8nWorkflow): string | null {
  const trigger = wf.nodes?.find((n) => n.name === TRIGGER);
  const p = trigger?.parameters?.path;
  return typeof p === 'string' && p ? p : null;
}

/** The credential id the imported workflow's "Sign event" node uses, if any. */
export function reportCredentialId(wf: N8nWorkflow): string | null {
  const sign = wf.nodes?.find((n) => n.name === SIGN) as (Node & { credentials?: Record<string, { id?: string }> }) | undefined;
  return sign?.credentials?.[CRYPTO_CREDENTIAL_TYPE]?.id ?? null;
}
