import React, { useState } from 'react';
import { Alert, Button, Checkbox, Field, Input, RadioButtonGroup, Select, Stack, Text } from '@grafana/ui';
import { api } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import type { RestartAnswer, StuckExecution } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { ConfirmAction } from '../components/ConfirmAction/ConfirmAction';
import { testIds } from '../components/testIds';
import { clientOptions } from '../utils/clientOptions';
import { dateTime, duration } from '../utils/format';
import { useLoad } from '../utils/useLoad';

const THRESHOLDS = [
  { label: '5 min', value: '5m' },
  { label: '15 min', value: '15m' },
  { label: '30 min', value: '30m' },
  { label: '1 hour', value: '1h' },
  { label: 'Other', value: 'custom' },
];

type Results = Extract<RestartAnswer, { dryRun: false }>;

export function RestartStuck() {
  const clients = useLoad(() => api.allClients(), []);
  const [client, setClient] = useState('');
  const [threshold, setThreshold] = useState('15m');
  const [custom, setCustom] = useState('');
  const [includeUnmapped, setIncludeUnmapped] = useState(false);
  const [stuck, setStuck] = useState<StuckExecution[] | undefined>();
  const [reviewToken, setReviewToken] = useState<string | undefined>();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [listing, setListing] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [results, setResults] = useState<Results | undefined>();
  const olderThan = threshold === 'custom' ? custom.trim() : threshold;
  /** A filter changed: the list on screen is no longer what a restart would act on. */
  const forget = () => {
    setStuck(undefined);
    setReviewToken(undefined);
  };

  const list = async () => {
    setListing(true);
    setError(undefined);
    setResults(undefined);
    try {
      const answer = await api.restartStuck({
        client: client || undefined,
        olderThan: olderThan || undefined,
        ...(includeUnmapped && !client ? { includeUnmapped: true } : {}),
        dryRun: true,
      });
      const found = answer.dryRun ? answer.stuck : [];
      setStuck(found);
      setReviewToken(answer.dryRun ? answer.reviewToken : undefined);
      setSelected(new Set(found.map((s) => s.executionId)));
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setListing(false);
    }
  };
  const toggle = (id: string) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (next.has(id)) {
        next.delete(id);
      } else {
        next.add(id);
      }
      return next;
    });

  return (
    <div data-testid={testIds.restart.container}>
      <Stack direction="column" gap={2}>
        <Text color="secondary">
          Executions n8n reports as running for longer than the threshold (at least 5 minutes) are listed first; nothing
          changes until you select some and confirm. Only the listed executions that are still stuck are then stopped in
          n8n and retried: one that started after the list was made is left alone.
        </Text>
        {clients.error ? (
          <ApiErrorAlert error={clients.error} action="Loading clients" onRetry={clients.reload} />
        ) : null}
        <Stack direction="row" gap={2} wrap="wrap" alignItems="flex-end">
          <Field label="Client">
            <Select
              width={40}
              options={clientOptions(clients.value, { all: true })}
              value={client}
              onChange={(v) => {
                setClient(v?.value ?? '');
                forget();
              }}
              isLoading={clients.loading}
              data-testid={testIds.restart.client}
              inputId="restart-client"
            />
          </Field>
          <Field label="Running for longer than">
            <Stack direction="row" gap={1}>
              <div data-testid={testIds.restart.threshold}>
                <RadioButtonGroup
                  options={THRESHOLDS}
                  value={threshold}
                  onChange={(v) => {
                    setThreshold(v);
                    forget();
                  }}
                />
              </div>
              {threshold === 'custom' ? (
                <Input
                  width={12}
                  placeholder="e.g. 10m, 2h"
                  value={custom}
                  onChange={(e) => {
                    setCustom(e.currentTarget.value);
                    forget();
                  }}
                  aria-label="Threshold"
                />
              ) : null}
            </Stack>
          </Field>
          <Field label="Unmapped workflows">
            <div data-testid={testIds.restart.includeUnmapped}>
              <Checkbox
                label="Include workflows of no client"
                value={includeUnmapped && !client}
                disabled={Boolean(client)}
                onChange={() => {
                  setIncludeUnmapped(!includeUnmapped);
                  forget();
                }}
              />
            </div>
          </Field>
          <Button
            icon={listing ? 'spinner' : 'search'}
            disabled={listing || (threshold === 'custom' && !custom.trim())}
            onClick={list}
          >
            List stuck executions
          </Button>
        </Stack>
        {error ? <ApiErrorAlert error={error} action="Restart stuck workflows" /> : null}
        {stuck && stuck.length === 0 ? (
          <div data-testid={testIds.restart.empty}>
            <Alert severity="success" title="Nothing is stuck">
              {`n8n reports no execution running for longer than ${olderThan}${client ? ` for ${client}` : ''}.`}
            </Alert>
          </div>
        ) : null}
        {stuck && stuck.length > 0 ? (
          <Stack direction="column" gap={1}>
            <table className="filter-table" data-testid={testIds.restart.list}>
              <thead>
                <tr>
                  <th />
                  <th>Workflow</th>
                  <th>Client</th>
                  <th>Execution id</th>
                  <th>Started</th>
                  <th>Running for</th>
                </tr>
              </thead>
              <tbody>
                {stuck.map((s) => (
                  <tr key={s.executionId} data-testid={testIds.restart.row(s.executionId)}>
                    <td>
                      <Checkbox
                        value={selected.has(s.executionId)}
                        onChange={() => toggle(s.executionId)}
                        aria-label={`Select execution ${s.executionId}`}
                      />
                    </td>
                    <td>{s.automation ?? `n8n workflow ${s.workflowId}`}</td>
                    <td>{s.client ?? 'not mapped'}</td>
                    <td>{s.executionId}</td>
                    <td>{dateTime(s.startedAt)}</td>
                    <td>{duration(s.runningSeconds)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div>
              <ConfirmAction
                label={`Restart ${selected.size} selected`}
                title={`Restart ${selected.size} stuck execution${selected.size === 1 ? '' : 's'}?`}
                body={
                  <Stack direction="column" gap={1}>
                    <Text>{`Each selected execution is stopped in n8n (its current work is interrupted) and then retried. Executions: ${[...selected].join(', ')}.`}</Text>
                    <Text color="secondary">
                      n8n retries from the execution&apos;s saved state: a node that was interrupted may not run again.
                      When the answer says so, re-trigger the workflow. The action is recorded in the audit log.
                    </Text>
                  </Stack>
                }
                confirmText="Stop and retry"
                variant="destructive"
                icon="sync"
                disabled={selected.size === 0 || !reviewToken}
                testId={testIds.restart.restart}
                run={() =>
                  // The review token carries the listed ids and the filters; the selection narrows it.
                  api.restartStuck({ dryRun: false, reviewToken, executionIds: [...selected] })
                }
                onDone={(answer) => {
                  forget();
                  setResults(answer.dryRun ? undefined : answer);
                }}
                onError={setError}
              />
            </div>
          </Stack>
        ) : null}
        {results ? <RestartResults results={results} /> : null}
      </Stack>
    </div>
  );
}

function RestartResults({ results }: { results: Results }) {
  const warnings = [
    ...new Set(results.results.flatMap((r) => (r.result === 'restarted' && r.warning ? [r.warning] : []))),
  ];
  return (
    <div data-testid={testIds.restart.results} data-outcome={results.outcome}>
      <Stack direction="column" gap={1}>
        <Alert
          severity={results.outcome === 'success' ? 'success' : results.outcome === 'partial' ? 'warning' : 'error'}
          title={
            results.results.length === 0
              ? 'None of the selected executions was still stuck: nothing was restarted'
              : `Restart ${results.outcome}: ${results.results.filter((r) => r.result === 'restarted').length} of ${results.results.length} restarted`
          }
        />
        {warnings.map((w) => (
          <div key={w} data-testid={testIds.restart.warning}>
            <Alert severity="warning" title="The retry re-ran no node">
              {w}
            </Alert>
          </div>
        ))}
        {results.results.length ? (
          <table className="filter-table">
            <thead>
              <tr>
                <th>Execution id</th>
                <th>Workflow</th>
                <th>Result</th>
                <th>New execution</th>
                <th>Nodes run again</th>
              </tr>
            </thead>
            <tbody>
              {results.results.map((r) => (
                <tr key={r.executionId}>
                  <td>{r.executionId}</td>
                  <td>{r.automation ?? r.workflowId}</td>
                  <td>
                    {r.result === 'restarted'
                      ? `restarted (stopped via ${r.stoppedVia})`
                      : `failed at ${r.stage}: ${r.reason}`}
                  </td>
                  <td>
                    {r.result === 'restarted'
                      ? `${r.newExecutionId} (${r.newExecutionStatus})`
                      : r.stopped
                        ? 'stopped, not retried'
                        : '—'}
                  </td>
                  <td>{r.result === 'restarted' ? nodesRunAgain(r.rerunNodes, r.newExecutionStatus) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Stack>
    </div>
  );
}

/** A retry still running has run only some nodes so far (the API stops waiting for it after a few seconds). */
function nodesRunAgain(nodes: string[], status: string): string {
  const list = nodes.join(', ');
  if (status === 'running') {
    return list ? `${list} so far (still running)` : 'still running';
  }
  return list || 'none';
}
