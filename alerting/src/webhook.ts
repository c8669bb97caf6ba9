import { z } from 'zod';

/**
 * Alertmanager's webhook payload, version 4 (the only version Alertmanager has sent since 0.6).
 * https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
 */
const labelSet = z.record(z.string(), z.string());

export const webhookAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: z.string(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1),
});

export const webhookPayload = z.object({
  version: z.literal('4'),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelSet,
  commonLabels: labelSet,
  commonAnnotations: labelSet.default({}),
  externalURL: z.string(),
  alerts: z.array(webhookAlert).min(1),
});

export type WebhookAlert = z.infer<typeof webhookAlert>;
export type WebhookPayload = z.infer<typeof webhookPayload>;

/** The first problem of an invalid payload, naming the field, for a 400 answer. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid payload';
  const field = issue.path.length > 0 ? issue.path.join('.') : '(body)';
  return `${field}: ${issue.message}`;
}
