import React, { useState } from 'react';
import { useParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Badge, LinkButton, LoadingPlaceholder, RadioButtonGroup, Stack, Text } from '@grafana/ui';
import { api } from '../api/client';
import type { ApiError } from '../api/errors';
import type { Client } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { ConfirmAction } from '../components/ConfirmAction/ConfirmAction';
import { testIds } from '../components/testIds';
import { DASHBOARDS, ROUTES, dashboardUrl, prefixRoute } from '../constants';
import { ago, dateTime, isoDay, money, percent } from '../utils/format';
import { useLoad } from '../utils/useLoad';
import { STATUS_COLOR } from './Clients';

const RANGES = [
  { label: '7 days', value: 7 },
  { label: '30 days', value: 30 },
  { label: '90 days', value: 90 },
  { label: '365 days', value: 365 },
];

function Section({ title, children, testId }: { title: string; children: React.ReactNode; testId: string }) {
  return (
    <div data-testid={testId}>
      <Stack direction="column" gap={1}>
        <Text element="h3" variant="h4">
          {title}
        </Text>
        {children}
      </Stack>
    </div>
  );
}

function Actions({ client, onChanged }: { client: Client; onChanged: (c: Client) => void }) {
  const [error, setError] = useState<ApiError | undefined>();
  const [result, setResult] = useState<string | undefined>();
  const done = (verb: string) => (c: Client & { changed: boolean }) => {
    setError(undefined);
    setResult(c.changed ? `${c.name} is now ${c.status}.` : `${c.name} was already ${c.status}: nothing changed.`);
    onChanged(c);
    void verb;
  };
  return (
    <Stack direction="column" gap={1}>
      <Stack direction="row" gap={1}>
        {client.status === 'active' ? (
          <ConfirmAction
            label="Pause"
            title={`Pause ${client.name}?`}
            body={
              <Text>{`${client.name} is marked paused on the platform: its dashboards show it paused and it drops out of the active clients' figures. Its n8n workflows are not touched and its webhooks are still accepted (deactivate workflows in n8n if they must stop). Resume undoes it. Recorded in the audit log.`}</Text>
            }
            confirmText="Pause client"
            variant="secondary"
            icon="pause"
            testId={testIds.client.pause}
            run={() => api.pause(client.slug)}
            onDone={done('pause')}
            onError={setError}
          />
        ) : null}
        {client.status === 'paused' ? (
          <ConfirmAction
            label="Resume"
            title={`Resume ${client.name}?`}
            body={<Text>{`${client.name} is marked active again. Recorded in the audit log.`}</Text>}
            confirmText="Resume client"
            icon="play"
            testId={testIds.client.resume}
            run={() => api.resume(client.slug)}
            onDone={done('resume')}
            onError={setError}
          />
        ) : null}
        {client.status !== 'churned' ? (
          <ConfirmAction
            label="Churn"
            title={`Mark ${client.name} as churned?`}
            body={
              <Text>{`From now on every webhook event of ${client.name} is refused (403) and its secret can no longer be rotated. A churned client cannot be resumed from here. Its history, invoices and audit rows are kept. Recorded in the audit log.`}</Text>
            }
            confirmText="Churn client"
            variant="destructive"
            icon="times"
            testId={testIds.client.churn}
            run={() => api.churn(client.slug)}
            onDone={done('churn')}
            onError={setError}
          />
        ) : null}
      </Stack>
      {result ? (
        <div data-testid={testIds.client.result}>
          <Alert severity="success" title={result} />
        </div>
      ) : null}
      {error ? <ApiErrorAlert error={error} action="Changing the client's status" /> : null}
    </Stack>
  );
}

function ClientDetail() {
  const { slug = '' } = useParams();
  const client = useLoad(() => api.client(slug), [slug]);
  const [current, setCurrent] = useState<Client | undefined>();
  const workflows = useLoad(() => api.workflows(slug), [slug]);
  const invoices = useLoad(() => api.allInvoices({ client: slug }), [slug]);
  const [days, setDays] = useState(30);
  const [now] = useState(() => Date.now());
  const usage = useLoad(() => {
    const to = new Date();
    return api.usage({ client: slug, from: isoDay(new Date(to.getTime() - (days - 1) * 86400_000)), to: isoDay(to) });
  }, [slug, days]);
  const activity = useLoad(() => api.audit({ client: slug, limit: 20 }), [slug]);
  const c = current?.slug === slug ? current : client.value;
  const u = usage.value?.data[0];

  return (
    <PluginPage>
      <div data-testid={testIds.client.container}>
        <Stack direction="column" gap={3}>
          <LinkButton variant="secondary" fill="text" icon="arrow-left" href={prefixRoute(ROUTES.Clients)}>
            All clients
          </LinkButton>
          {client.error ? (
            <ApiErrorAlert error={client.error} action={`Loading client ${slug}`} onRetry={client.reload} />
          ) : null}
          {client.loading && !c ? <LoadingPlaceholder text="Loading the client…" /> : null}
          {c ? (
            <Stack direction="column" gap={1}>
              <Stack direction="row" gap={1} alignItems="center">
                <Text element="h2" variant="h3">
                  {c.name}
                </Text>
                <span data-testid={testIds.client.status} data-status={c.status}>
                  <Badge text={c.status} color={STATUS_COLOR[c.status]} />
                </span>
              </Stack>
              <Text color="secondary">{`${c.slug} · plan ${c.plan ?? 'none'} · ${c.timezone} · ${c.contactEmail ?? 'no email'} · ${c.contactPhone ?? 'no phone'} · client since ${dateTime(c.createdAt)} · last activity ${ago(c.lastActivityAt)}`}</Text>
              <Stack direction="row" gap={1}>
                <Actions client={c} onChanged={setCurrent} />
                <LinkButton
                  variant="secondary"
                  icon="apps"
                  href={dashboardUrl(DASHBOARDS.clientDetail, { client: c.slug })}
                >
                  Client dashboard
                </LinkButton>
              </Stack>
            </Stack>
          ) : null}

          <Section title="Automations" testId={testIds.client.automations}>
            {workflows.error ? (
              <ApiErrorAlert error={workflows.error} action="Loading automations" onRetry={workflows.reload} />
            ) : null}
            {workflows.loading && !workflows.value ? <LoadingPlaceholder text="Asking n8n…" /> : null}
            {workflows.value && workflows.value.data.length === 0 ? (
              <Text color="secondary">No n8n workflow is mapped to this client.</Text>
            ) : null}
            {workflows.value?.data.length ? (
              <table className="filter-table">
                <thead>
                  <tr>
                    <th>Automation</th>
                    <th>n8n workflow</th>
                    <th>In n8n</th>
                    <th>Counted</th>
                    <th>Minutes saved / run</th>
                    <th>Value / hour</th>
                  </tr>
                </thead>
                <tbody>
                  {workflows.value.data.map((w) => (
                    <tr key={w.automation.id}>
                      <td>{w.automation.name}</td>
                      <td>{w.n8n ? `${w.n8n.name} (${w.n8n.id})` : w.automation.n8nWorkflowId}</td>
                      <td>
                        {w.missingInN8n ? (
                          <Badge text="missing in n8n" color="red" />
                        ) : (
                          <Badge
                            text={w.n8n?.active ? 'active' : 'inactive'}
                            color={w.n8n?.active ? 'green' : 'orange'}
                          />
                        )}
                      </td>
                      <td>{w.automation.enabled ? 'yes' : 'no'}</td>
                      <td>{w.automation.minutesSavedPerRun}</td>
                      <td>{money(w.automation.hourlyValueCents, w.automation.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </Section>

          <Section title="Usage" testId={testIds.client.usage}>
            <div data-testid={testIds.client.range}>
              <RadioButtonGroup options={RANGES} value={days} onChange={setDays} />
            </div>
            {usage.error ? <ApiErrorAlert error={usage.error} action="Loading usage" onRetry={usage.reload} /> : null}
            {u ? (
              <table className="filter-table">
                <thead>
                  <tr>
                    <th>Runs</th>
                    <th>Failures</th>
                    <th>Failure ratio</th>
                    <th>Hours saved</th>
                    <th>Value</th>
                    <th>Cost</th>
                    <th>ROI</th>
                  </tr>
                </thead>
                <tbody>
                  <tr>
                    <td>{u.runs}</td>
                    <td>{u.failures}</td>
                    <td>{percent(u.failureRatio)}</td>
                    <td>{u.hoursSaved}</td>
                    <td>{money(u.valueCents, u.valueCurrency)}</td>
                    <td>{money(u.costCents, u.costCurrency)}</td>
                    <td>{u.roi === null ? '—' : percent(u.roi)}</td>
                  </tr>
                </tbody>
              </table>
            ) : usage.value ? (
              <Text color="secondary">No usage recorded in this range.</Text>
            ) : null}
          </Section>

          <Section title="Invoices" testId={testIds.client.invoices}>
            {invoices.error ? (
              <ApiErrorAlert error={invoices.error} action="Loading invoices" onRetry={invoices.reload} />
            ) : null}
            {invoices.value && invoices.value.length === 0 ? <Text color="secondary">No invoices.</Text> : null}
            {invoices.value?.length ? (
              <table className="filter-table">
                <thead>
                  <tr>
                    <th>Number</th>
                    <th>Amount</th>
                    <th>Status</th>
                    <th>Issued</th>
                    <th>Due</th>
                    <th>Paid</th>
                  </tr>
                </thead>
                <tbody>
                  {invoices.value.map((i) => {
                    const overdue = i.status === 'open' && i.dueAt !== null && Date.parse(i.dueAt) < now;
                    return (
                      <tr key={i.id}>
                        <td>{i.number}</td>
                        <td>{money(i.amountCents, i.currency)}</td>
                        <td>{overdue ? <Badge text="overdue" color="red" /> : i.status}</td>
                        <td>{dateTime(i.issuedAt)}</td>
                        <td>{dateTime(i.dueAt)}</td>
                        <td>{dateTime(i.paidAt)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            ) : null}
          </Section>

          <Section title="Recent activity" testId={testIds.client.activity}>
            {activity.error ? <ApiErrorAlert error={activity.error} action="Loading the client's audit trail" /> : null}
            {activity.value && activity.value.data.length === 0 ? (
              <Text color="secondary">Nothing recorded yet.</Text>
            ) : null}
            {activity.value?.data.length ? (
              <table className="filter-table">
                <thead>
                  <tr>
                    <th>At</th>
                    <th>Actor</th>
                    <th>Action</th>
                    <th>Outcome</th>
                  </tr>
                </thead>
                <tbody>
                  {activity.value.data.map((r) => (
                    <tr key={r.id}>
                      <td>{dateTime(r.at)}</td>
                      <td>{r.actor}</td>
                      <td>{r.action}</td>
                      <td>{r.outcome}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </Section>
        </Stack>
      </div>
    </PluginPage>
  );
}

export default ClientDetail;
