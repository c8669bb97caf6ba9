import type { WebhookPayload } from './webhook';

/** Longest SMS text: one GSM-7 segment. */
export const SMS_MAX_CHARS = 160;

/** Cuts a text to `max` characters (code points), ending in "..." when cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 3).join('')}...`;
}

/**
 * The SMS text of a notification, at most 160 characters:
 *   FIRING high WorkflowStuck hvac: hvac: workflow sync stuck for 31m 0s
 * It is the same text as the `ct.sms.text` template in alerting/templates/ct.tmpl (a test renders
 * both and compares them), so switching SMS to an Alertmanager-native integration keeps it.
 */
export function smsText(payload: WebhookPayload): string {
  const client = payload.commonLabels.client ? ` ${payload.commonLabels.client}` : '';
  const more = payload.alerts.length > 1 ? ` (${payload.alerts.length} alerts)` : '';
  const summary = payload.alerts[0]?.annotations.summary ?? '';
  const text = `${payload.status.toUpperCase()} ${payload.commonLabels.severity ?? ''} ${payload.commonLabels.alertname ?? ''}${client}: ${summary}${more}`;
  return clip(text, SMS_MAX_CHARS);
}

const xmlEscape = (s: string) =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);

/** What the call says: the alerts' summaries, at most five of them. */
export function spokenText(payload: WebhookPayload): string {
  const alerts = payload.alerts.filter((a) => a.status === payload.status);
  const count = alerts.length;
  const head =
    payload.status === 'firing'
      ? `CT Platform alert. ${count} ${payload.commonLabels.severity ?? ''} alert${count === 1 ? '' : 's'}.`
      : `CT Platform. ${count} alert${count === 1 ? '' : 's'} resolved.`;
  const lines = alerts.slice(0, 5).map((a) => `${a.annotations.summary ?? a.labels.alertname ?? 'alert'}.`);
  if (count > 5) lines.push(`And ${count - 5} more.`);
  return [head, ...lines, 'Details and runbook are in your email.'].join(' ');
}

/** TwiML for the voice call: says the text twice, with a pause, in at most ~4,000 characters. */
export function voiceTwiml(payload: WebhookPayload): string {
  const said = xmlEscape(clip(spokenText(payload), 1800));
  return `<Response><Say language="en-US">${said}</Say><Pause length="1"/><Say language="en-US">${said}</Say></Response>`;
}
