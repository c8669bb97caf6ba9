import React, { useMemo, useState } from 'react';
import { PluginPage } from '@grafana/runtime';
import {
  Alert,
  Badge,
  Field,
  Input,
  LinkButton,
  LoadingPlaceholder,
  RadioButtonGroup,
  Stack,
  Text,
  type BadgeColor,
} from '@grafana/ui';
import { api } from '../api/client';
import type { Automation, Client, ClientStatus, Invoice, Subscription, Usage } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { testIds } from '../components/testIds';
import { DASHBOARDS, ROUTES, dashboardUrl, prefixRoute } from '../constants';
import { ago, isoDay, money } from '../utils/format';
import { useLoad } from '../utils/useLoad';

export const STATUS_COLOR: Record<ClientStatus, BadgeColor> = { active: 'green', paused: 'orange', churned: 'red' };
/** "Failing" looks at the last this many days of runs. */
export const FAILING_WINDOW_DAYS = 7;

export interface ClientRow {
  client: Client;
  mrr: string;
  automations: number;
  activeAutomations: number;
  failedRuns: number;
  runs: number;
  openInvoices: number;
  overdueInvoices: number;
}

/** One row per client from the API's lists (one call each, not one per client). */
export function buildRows(
  clients: Client[],
  subs: Subscription[],
  automations: Automation[],
  usage: Usage[],
  openInvoices: Invoice[],
  now = Date.now()
): ClientRow[] {
  return clients.map((c) => {
    const mine = subs.filter((s) => s.client === c.slug && !s.canceledAt);
    const byCurrency = new Map<string, number>();
    for (const s of mine) {
      byCurrency.set(s.currency, (byCurrency.get(s.currency) ?? 0) + s.monthlyAmountCents);
    }
    const autos = automations.filter((a) => a.client === c.slug);
    const u = usage.find((x) => x.client === c.slug);
    const inv = openInvoices.filter((i) => i.client === c.slug);
    return {
      client: c,
      mrr: byCurrency.size ? [...byCurrency].map(([cur, cents]) => money(cents, cur)).join(' + ') : '—',
      automations: autos.length,
      activeAutomations: autos.filter((a) => a.enabled).length,
      failedRuns: u?.failures ?? 0,
      runs: u?.runs ?? 0,
      openInvoices: inv.length,
      overdueInvoices: inv.filter((i) => i.dueAt && Date.parse(i.dueAt) < now).length,
    };
  });
}

async function loadRows(): Promise<ClientRow[]> {
  const today = new Date();
  const [clients, subs, automations, usage, invoices] = await Promise.all([
    api.allClients(),
    api.subscriptions({ active: 'true' }),
    api.allAutomations(),
    api.usage({ from: isoDay(new Date(today.getTime() - (FAILING_WINDOW_DAYS - 1) * 86400_000)), to: isoDay(today) }),
    api.allInvoices({ status: 'open' }),
  ]);
  return buildRows(clients, subs.data, automations, usage.data, invoices);
}

const STATUS_FILTER = [
  { label: 'All', value: '' },
  { label: 'Active', value: 'active' },
  { label: 'Paused', value: 'paused' },
  { label: 'Churned', value: 'churned' },
];

function Clients() {
  const rows = useLoad(loadRows, []);
  const [status, setStatus] = useState('');
  const [q, setQ] = useState('');
  const [problemsOnly, setProblemsOnly] = useState(false);
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (rows.value ?? []).filter(
      (r) =>
        (!status || r.client.status === status) &&
        (!needle || r.client.slug.includes(needle) || r.client.name.toLowerCase().includes(needle)) &&
        (!problemsOnly || r.failedRuns > 0 || r.overdueInvoices > 0)
    );
  }, [rows.value, status, q, problemsOnly]);

  return (
    <PluginPage>
      <div data-testid={testIds.clients.container}>
        <Stack direction="column" gap={2}>
          <Stack direction="row" gap={2} wrap="wrap" alignItems="flex-end">
            <Field label="Search">
              <Input
                width={30}
                placeholder="Name or slug"
                value={q}
                onChange={(e) => setQ(e.currentTarget.value)}
                data-testid={testIds.clients.search}
              />
            </Field>
            <Field label="Status">
              <div data-testid={testIds.clients.status}>
                <RadioButtonGroup options={STATUS_FILTER} value={status} onChange={setStatus} />
              </div>
            </Field>
            <Field label="Show">
              <RadioButtonGroup
                options={[
                  { label: 'Everyone', value: false },
                  { label: 'Needs attention', value: true },
                ]}
                value={problemsOnly}
                onChange={setProblemsOnly}
              />
            </Field>
            <LinkButton variant="secondary" icon="apps" href={dashboardUrl(DASHBOARDS.clients)}>
              Clients dashboard
            </LinkButton>
          </Stack>
          {rows.error ? <ApiErrorAlert error={rows.error} action="Loading clients" onRetry={rows.reload} /> : null}
          {rows.loading && !rows.value ? <LoadingPlaceholder text="Loading clients…" /> : null}
          {rows.value && shown.length === 0 ? (
            <div data-testid={testIds.clients.empty}>
              <Alert
                severity="info"
                title={rows.value.length === 0 ? 'No clients yet' : 'No client matches these filters'}
              >
                {rows.value.length === 0
                  ? 'Create clients with the API (POST /api/clients) or ct; they appear here.'
                  : ''}
              </Alert>
            </div>
          ) : null}
          {shown.length ? (
            <table className="filter-table">
              <thead>
                <tr>
                  <th>Client</th>
                  <th>Status</th>
                  <th>Plan</th>
                  <th>MRR</th>
                  <th>Automations (active)</th>
                  <th>{`Failed runs (${FAILING_WINDOW_DAYS} d)`}</th>
                  <th>Last activity</th>
                  <th>Billing</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={r.client.slug} data-testid={testIds.clients.row(r.client.slug)}>
                    <td>
                      <LinkButton href={prefixRoute(`${ROUTES.Clients}/${r.client.slug}`)} fill="text" size="sm">
                        {r.client.name}
                      </LinkButton>
                      <Text color="secondary" variant="bodySmall">{` ${r.client.slug}`}</Text>
                    </td>
                    <td>
                      <Badge text={r.client.status} color={STATUS_COLOR[r.client.status]} />
                    </td>
                    <td>{r.client.plan ?? '—'}</td>
                    <td>{r.mrr}</td>
                    <td>{`${r.automations} (${r.activeAutomations})`}</td>
                    <td>
                      {r.failedRuns ? (
                        <Badge text={`${r.failedRuns} of ${r.runs}`} color="red" icon="exclamation-triangle" />
                      ) : (
                        `0 of ${r.runs}`
                      )}
                    </td>
                    <td>{ago(r.client.lastActivityAt)}</td>
                    <td>
                      {r.overdueInvoices ? (
                        <Badge text={`${r.overdueInvoices} overdue`} color="red" />
                      ) : r.openInvoices ? (
                        <Badge text={`${r.openInvoices} open`} color="blue" />
                      ) : (
                        'paid up'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </Stack>
      </div>
    </PluginPage>
  );
}

export default Clients;
