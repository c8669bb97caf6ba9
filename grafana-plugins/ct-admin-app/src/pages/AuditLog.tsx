import React, { useState } from 'react';
import { Alert, Button, Drawer, Field, Input, Select, Stack, Text } from '@grafana/ui';
import { api } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import type { AuditRow, ChainVerification } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { ConfirmAction } from '../components/ConfirmAction/ConfirmAction';
import { testIds } from '../components/testIds';
import { clientOptions } from '../utils/clientOptions';
import { dateTime } from '../utils/format';
import { useLoad } from '../utils/useLoad';

export const AUDIT_PAGE_SIZE = 50;

interface Filters {
  actor: string;
  action: string;
  client: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { actor: '', action: '', client: '', from: '', to: '' };

/** A datetime-local value (local time, no zone) as the ISO instant the API wants. */
export function localToIso(v: string): string | undefined {
  if (!v) {
    return undefined;
  }
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

function queryOf(f: Filters, cursor?: string) {
  return {
    actor: f.actor || undefined,
    action: f.action || undefined,
    client: f.client || undefined,
    from: localToIso(f.from),
    to: localToIso(f.to),
    cursor,
    limit: AUDIT_PAGE_SIZE,
  };
}

export function AuditLog() {
  const clients = useLoad(() => api.allClients(), []);
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [verifications, setVerifications] = useState(0);
  const first = useLoad(() => api.audit(queryOf(filters)), [filters, verifications]);
  // Older pages fetched with "Load older rows", for the filters they were fetched with.
  const [older, setOlder] = useState<{ filters: Filters; rows: AuditRow[]; cursor: string | null } | undefined>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<ApiError | undefined>();
  const [open, setOpen] = useState<AuditRow | undefined>();
  const [verification, setVerification] = useState<ChainVerification | undefined>();
  const [verifyError, setVerifyError] = useState<ApiError | undefined>();

  const extra = older && older.filters === filters && !first.loading ? older : undefined;
  const rows = [...(first.value?.data ?? []), ...(extra?.rows ?? [])];
  const cursor = extra ? extra.cursor : (first.value?.nextCursor ?? null);
  const error = first.error ?? moreError;
  const loading = first.loading || loadingMore;

  const loadMore = async () => {
    if (!cursor) {
      return;
    }
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      const page = await api.audit(queryOf(filters, cursor));
      setOlder({ filters, rows: [...(extra?.rows ?? []), ...page.data], cursor: page.nextCursor });
    } catch (err) {
      setMoreError(toApiError(err));
    } finally {
      setLoadingMore(false);
    }
  };

  const set = (k: keyof Filters) => (e: React.FormEvent<HTMLInputElement>) =>
    setDraft({ ...draft, [k]: e.currentTarget.value });
  const clientName = (id: string | null) => (id ? (clients.value?.find((c) => c.id === id)?.slug ?? id) : '—');

  return (
    <div data-testid={testIds.audit.container}>
      <Stack direction="column" gap={2}>
        <Stack direction="row" gap={2} wrap="wrap" alignItems="flex-end">
          <Field label="Actor">
            <Input
              width={24}
              placeholder="grafana:admin"
              value={draft.actor}
              onChange={set('actor')}
              data-testid={testIds.audit.actor}
            />
          </Field>
          <Field label="Action">
            <Input
              width={24}
              placeholder="client.rotate_secret"
              value={draft.action}
              onChange={set('action')}
              data-testid={testIds.audit.action}
            />
          </Field>
          <Field label="Client">
            <Select
              width={30}
              options={clientOptions(clients.value, { all: true })}
              value={draft.client}
              onChange={(v) => setDraft({ ...draft, client: v?.value ?? '' })}
              data-testid={testIds.audit.client}
              inputId="audit-client"
            />
          </Field>
          <Field label="From">
            <Input type="datetime-local" value={draft.from} onChange={set('from')} data-testid={testIds.audit.from} />
          </Field>
          <Field label="To">
            <Input type="datetime-local" value={draft.to} onChange={set('to')} data-testid={testIds.audit.to} />
          </Field>
          <Button
            icon="filter"
            onClick={() => {
              setOlder(undefined);
              setFilters({ ...draft });
            }}
            data-testid={testIds.audit.apply}
          >
            Apply filters
          </Button>
          <ConfirmAction
            label="Verify chain"
            title="Verify the audit hash chain now?"
            body={
              <Text>
                Every audit row is re-hashed and compared with the chain, from the first to the last. The result is
                recorded (it is what the audit-chain alert reads) and the check itself is written to the audit log.
              </Text>
            }
            confirmText="Verify"
            variant="secondary"
            icon="shield"
            testId={testIds.audit.verify}
            run={() => api.verify()}
            onDone={(v) => {
              setVerifyError(undefined);
              setVerification(v);
              setVerifications((n) => n + 1);
            }}
            onError={setVerifyError}
          />
        </Stack>
        {verifyError ? <ApiErrorAlert error={verifyError} action="Verify chain" /> : null}
        {verification ? (
          <div data-testid={testIds.audit.verifyResult} data-ok={String(verification.ok)}>
            {verification.ok ? (
              <Alert severity="success" title="The audit chain is intact">
                {`${verification.rowsChecked} row${verification.rowsChecked === 1 ? '' : 's'} checked; every hash matches.`}
              </Alert>
            ) : (
              <Alert severity="error" title={`The audit chain is BROKEN at row ${verification.firstBadId}`}>
                {`${verification.rowsChecked} row${verification.rowsChecked === 1 ? '' : 's'} checked. First bad row: ${verification.firstBadId}. Reason: ${verification.reason ?? 'not given'}. A row was changed or removed outside the platform: see the security runbook.`}
              </Alert>
            )}
          </div>
        ) : null}
        {error ? <ApiErrorAlert error={error} action="Reading the audit log" onRetry={first.reload} /> : null}
        {!loading && !error && rows.length === 0 ? (
          <div data-testid={testIds.audit.empty}>
            <Alert severity="info" title="No audit rows match these filters" />
          </div>
        ) : null}
        {rows.length ? (
          <table className="filter-table">
            <thead>
              <tr>
                <th>Id</th>
                <th>At</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Client</th>
                <th>Outcome</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-testid={testIds.audit.row(r.id)}>
                  <td>{r.id}</td>
                  <td>{dateTime(r.at)}</td>
                  <td>{r.actor}</td>
                  <td>{r.action}</td>
                  <td>{[r.targetType, r.targetId].filter(Boolean).join(' ') || '—'}</td>
                  <td>{clientName(r.clientId)}</td>
                  <td>{r.outcome}</td>
                  <td>
                    <Button size="sm" variant="secondary" fill="text" onClick={() => setOpen(r)}>
                      Details
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
        {cursor ? (
          <div>
            <Button
              variant="secondary"
              icon={loading ? 'spinner' : 'angle-down'}
              disabled={loading}
              onClick={loadMore}
              data-testid={testIds.audit.more}
            >
              Load older rows
            </Button>
          </div>
        ) : null}
      </Stack>
      {open ? (
        <Drawer title={`Audit row ${open.id}: ${open.action}`} onClose={() => setOpen(undefined)} size="md">
          <div data-testid={testIds.audit.details}>
            <Stack direction="column" gap={1}>
              <Text>{`At ${dateTime(open.at)} by ${open.actor} (${open.actorType}), outcome ${open.outcome}.`}</Text>
              <Text>{`Target: ${[open.targetType, open.targetId].filter(Boolean).join(' ') || 'none'}; client: ${clientName(open.clientId)}.`}</Text>
              <Text>{`From ${open.sourceIp ?? 'unknown address'}, request ${open.requestId ?? 'unknown'}.`}</Text>
              <Text variant="bodySmall" color="secondary">{`Hash ${open.hash}`}</Text>
              <pre>{JSON.stringify(open.details ?? {}, null, 2)}</pre>
            </Stack>
          </div>
        </Drawer>
      ) : null}
    </div>
  );
}
