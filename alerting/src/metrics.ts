import { registerProcessMetrics } from '@ct/lib';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Channel = 'call' | 'sms';

/** The notifier's own metrics, on its /metrics. */
export function createNotifierMetrics() {
  const registry = new Registry();
  registerProcessMetrics(registry, 'ct_notifier_');
  return {
    registry,
    received: new Counter({
      name: 'ct_notifier_webhooks_received_total',
      help: 'Alertmanager webhook deliveries accepted for processing, by receiver path (call|sms) and status (firing|resolved).',
      labelNames: ['receiver', 'status'] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'ct_notifier_webhooks_rejected_total',
      help: 'Webhook requests refused before processing, by reason (unauthorized|invalid_payload|unknown_receiver).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sent: new Counter({
      name: 'ct_notifier_notifications_sent_total',
      help: 'Notifications the provider accepted, by channel (call|sms), one per recipient.',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    failed: new Counter({
      name: 'ct_notifier_notifications_failed_total',
      help: 'Notifications given up after every attempt, by channel and reason (provider_error|provider_rejected|rate_limited|timeout|network).',
      labelNames: ['channel', 'reason'] as const,
      registers: [registry],
    }),
    deduplicated: new Counter({
      name: 'ct_notifier_notifications_deduplicated_total',
      help: 'Notifications skipped because the same group, status, alerts and recipient were delivered within the dedupe window.',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    escalations: new Counter({
      name: 'ct_notifier_escalations_total',
      help: 'Call-tier pages whose escalation ended, by outcome (answered|texted|resolved|failed): texted means no call was answered.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    escalationsActive: new Gauge({
      name: 'ct_notifier_escalations_active',
      help: 'Call-tier pages whose escalation is under way (a call ringing or awaiting its outcome).',
      registers: [registry],
    }),
    escalationSteps: new Counter({
      name: 'ct_notifier_escalation_steps_total',
      help: 'Escalation steps taken after a call was not answered, by step (retry|next_number|sms).',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    unanswered: new Counter({
      name: 'ct_notifier_calls_unanswered_total',
      help: 'Calls that were not answered, by final status (no-answer|busy|failed|canceled|unknown: none learnt in time).',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    callbacks: new Counter({
      name: 'ct_notifier_twilio_callbacks_total',
      help: 'Twilio status callbacks received, by kind (call|sms) and result (accepted|unknown_attempt|forged|invalid).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    smsStatus: new Counter({
      name: 'ct_notifier_sms_final_status_total',
      help: 'Texts whose final delivery status Twilio reported, by status (delivered|undelivered|failed).',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    providerRequests: new Histogram({
      name: 'ct_notifier_provider_request_duration_seconds',
      help: 'Duration of each HTTP request to the provider, retries included, by channel and outcome.',
      labelNames: ['channel', 'outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export type NotifierMetrics = ReturnType<typeof createNotifierMetrics>;
