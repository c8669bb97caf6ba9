import type { WebhookPayload } from '@ct/alerting';

/** An Alertmanager webhook (version 4) payload of one group, for tests. */
export function groupPayload(opts: {
  receiver?: string;
  status?: 'firing' | 'resolved';
  alertname?: string;
  client?: string;
  severity?: string;
  tier?: string;
  summaries?: string[];
  groupKey?: string;
}): WebhookPayload {
  const status = opts.status ?? 'firing';
  const common: Record<string, string> = {
    alertname: opts.alertname ?? 'DatabaseUnreachable',
    severity: opts.severity ?? 'critical',
    tier: opts.tier ?? 'call',
  };
  if (opts.client) common.client = opts.client;
  const summaries = opts.summaries ?? ['Platform database unreachable'];
  return {
    version: '4',
    groupKey:
      opts.groupKey ?? `{}/{tier="${common.tier}"}:{alertname="${common.alertname}"${opts.client ? `, client="${opts.client}"` : ''}}`,
    truncatedAlerts: 0,
    status,
    receiver: opts.receiver ?? common.tier!,
    groupLabels: { alertname: common.alertname!, ...(opts.client ? { client: opts.client } : {}) },
    commonLabels: common,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.test:9093',
    alerts: summaries.map((summary, i) => ({
      status,
      labels: { ...common, instance: `host-${i}:9464` },
      annotations: { summary, description: `${summary} (details)`, runbook_url: 'https://ct-platform.example/docs/runbooks.md#x' },
      startsAt: '2026-11-27T08:00:00.000Z',
      endsAt: status === 'resolved' ? '2026-11-27T08:05:00.000Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.test:9090/graph',
      fingerprint: `f${i}${common.alertname!.length.toString(16)}0000000000000`.slice(0, 16),
    })),
  };
}
