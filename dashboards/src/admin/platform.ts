import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { prom } from '../queries';
import { GREEN, ORANGE, RED, UP, rangeText, stat, stateTimeline, timeseries, valueText } from '../panels';
import { ADMIN_UIDS, adminDashboard } from './common';

/** Our services' process metrics are prefixed per service: ct_api_, ct_exporter_, ct_notifier_. */
const perService = (suffix: string) =>
  `label_replace({__name__=~"ct_(api|exporter|notifier)_${suffix}"}, "service", "$1", "__name__", "ct_(api|exporter|notifier)_.*")`;

/** CT Admin — Platform: "is the machinery healthy?" API, exporters, services, monitoring, disk, TLS, n8n. */
export function platform(): Dashboard {
  const upDown = valueText({ 1: ['up', GREEN], 0: ['down', RED] });
  return adminDashboard(
    ADMIN_UIDS.platform,
    'CT Admin — Platform',
    'API latency and errors by route, exporter collectors, memory and event-loop lag of each service, Prometheus, Alertmanager, disk, TLS and n8n.',
  )
    .withRow(new RowBuilder('API'))
    .withPanel(
      timeseries({
        title: 'API latency p50 / p95 / p99',
        description: 'Quantiles of the time the API took to answer, all routes, over 5 minutes. ApiSlow texts when p95 stays above 2 s.',
        unit: 's',
        queries: [
          prom('A', 'ct:api_request_duration_seconds:p50_5m', { legend: 'p50' }),
          prom('B', 'ct:api_request_duration_seconds:p95_5m', { legend: 'p95' }),
          prom('C', 'ct:api_request_duration_seconds:p99_5m', { legend: 'p99' }),
        ],
        min: 0,
        thresholds: [
          [null, GREEN],
          [2, RED],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'API p95 by route',
        description: 'The 95th percentile of each route’s answer time over 5 minutes: which route is slow.',
        unit: 's',
        queries: [
          prom('A', 'histogram_quantile(0.95, sum by (le, route) (rate(ct_api_request_duration_seconds_bucket[5m])))', {
            legend: '{{route}}',
          }),
        ],
        min: 0,
        legendCalcs: ['mean', 'max'],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'API error ratio by route',
        description: 'Share of each route’s answers that were 5xx over 5 minutes. ApiErrorRateHigh texts above 5 % overall.',
        unit: 'percentunit',
        queries: [
          prom(
            'A',
            // A route that never failed has no 5xx series: it counts as 0, not as missing.
            '(sum by (route) (rate(ct_api_request_duration_seconds_count{status=~"5.."}[5m])) or sum by (route) (rate(ct_api_request_duration_seconds_count[5m])) * 0) / sum by (route) (rate(ct_api_request_duration_seconds_count[5m]))',
            { legend: '{{route}}' },
          ),
        ],
        min: 0,
        max: 1,
        thresholds: [
          [null, GREEN],
          [0.05, RED],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'API requests by status',
        description: 'Requests per second by status code.',
        unit: 'reqps',
        queries: [prom('A', 'sum by (status) (rate(ct_api_request_duration_seconds_count[5m]))', { legend: '{{status}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Exporters and services'))
    .withPanel(
      stateTimeline({
        title: 'Exporter collectors',
        description: 'Whether each collector read its source on each scrape (ExporterCollectorFailing e-mails after 10 min down).',
        unit: 'none',
        queries: [prom('A', 'max by (collector) (ct_exporter_collector_up)', { legend: '{{collector}}' })],
        mappings: [upDown],
        thresholds: UP,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Collector duration',
        description: 'Time each collector took on a scrape; the scrape times out at 20 s.',
        unit: 's',
        queries: [prom('A', 'max by (collector) (ct_exporter_collector_duration_seconds)', { legend: '{{collector}}' })],
        min: 0,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Memory per service',
        description: 'Resident memory of each platform service.',
        unit: 'bytes',
        queries: [prom('A', `max by (service) (${perService('process_resident_memory_bytes')})`, { legend: '{{service}}' })],
        min: 0,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Event-loop lag per service',
        description: 'How late Node.js ran scheduled work in each service: above 100 ms, the service is overloaded.',
        unit: 's',
        queries: [prom('A', `max by (service) (${perService('nodejs_eventloop_lag_seconds')})`, { legend: '{{service}}' })],
        min: 0,
        thresholds: [
          [null, GREEN],
          [0.1, ORANGE],
          [0.5, RED],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withRow(new RowBuilder('Monitoring, host and n8n'))
    .withPanel(
      stat({
        title: 'Alertmanagers up',
        description: 'Alertmanagers of the HA pair Prometheus reaches (both should be up) and Prometheus’s own health.',
        unit: 'none',
        queries: [
          prom('A', 'sum(up{job="alertmanager"}) or vector(0)', { instant: true, legend: 'alertmanagers' }),
          prom('B', 'max(up{job="prometheus"}) or vector(0)', { instant: true, legend: 'prometheus' }),
        ],
        textMode: 'value_and_name',
        thresholds: UP,
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'Disk free (worst)',
        description:
          'Free space on the fullest real filesystem of the host (node_exporter). DiskSpaceLow texts below 20 %, calls below 5 %.',
        unit: 'percentunit',
        queries: [
          prom(
            'A',
            'min(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"})',
            { instant: true },
          ),
        ],
        thresholds: [
          [null, RED],
          [0.05, ORANGE],
          [0.2, GREEN],
        ],
        min: 0,
        max: 1,
        noValue: 'node_exporter not scraped',
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'TLS certificate expiry (soonest)',
        description:
          'Time left on the public endpoints’ TLS certificate that expires first (blackbox_exporter). TlsCertExpiringSoon texts under 7 days.',
        unit: 's',
        queries: [prom('A', 'min(probe_ssl_earliest_cert_expiry{job="blackbox_http"}) - time()', { instant: true })],
        thresholds: [
          [null, RED],
          [7 * 86400, ORANGE],
          [21 * 86400, GREEN],
        ],
        noValue: 'no HTTPS probe',
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stat({
        title: 'n8n last poll',
        description: 'Time since the exporter last reached n8n’s API (polled every 15 s); N8nDown texts after 5 min.',
        unit: 's',
        queries: [prom('A', 'time() - max(ct_n8n_last_poll_success_timestamp_seconds)', { instant: true })],
        mappings: [rangeText(1e9, null, 'never', RED)],
        thresholds: [
          [null, GREEN],
          [60, ORANGE],
          [300, RED],
        ],
        noValue: 'exporter not scraped',
        w: 6,
        h: 4,
      }),
    )
    .withPanel(
      stateTimeline({
        title: 'Scrape targets',
        description: 'Whether Prometheus reaches each target (up); a red row is a service down or unreachable.',
        unit: 'none',
        queries: [prom('A', 'max by (job) (up)', { legend: '{{job}}' })],
        mappings: [upDown],
        thresholds: UP,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Probe success (1 day)',
        description: 'Share of successful HTTPS probes of each public service over the last day.',
        unit: 'percentunit',
        queries: [prom('A', 'service:probe_success:ratio_1d', { legend: '{{service}}' })],
        min: 0,
        max: 1,
        thresholds: [
          [null, RED],
          [0.99, ORANGE],
          [0.999, GREEN],
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseries({
        title: 'Database connections by state',
        description: 'Client connections to the platform database by state; many idle-in-transaction ones point at a stuck service.',
        unit: 'none',
        queries: [prom('A', 'sum by (state) (ct_database_connections)', { legend: '{{state}}' })],
        min: 0,
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .build();
}
