import React, { useEffect, useState } from 'react';
import { Alert, LinkButton, LoadingBar, Stack, Text } from '@grafana/ui';
import { api } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import type { BackupStarted, PlatformStatus } from '../api/types';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { ConfirmAction } from '../components/ConfirmAction/ConfirmAction';
import { testIds } from '../components/testIds';
import { DASHBOARDS, dashboardUrl } from '../constants';
import { ago, bytes, dateTime, duration } from '../utils/format';
import { useLoad } from '../utils/useLoad';

export const BACKUP_POLL_MS = 2000;

type Outcome =
  | { state: 'running' }
  | { state: 'succeeded'; bytes: number | null; finishedAt: string | null }
  | { state: 'failed'; error: string | null };

/** Where a run stands, from the status route: running, or its final row. */
export function outcomeOf(runId: string, s: PlatformStatus['backups']): Outcome {
  if (s.running?.id === runId) {
    return { state: 'running' };
  }
  if (s.lastSuccess?.id === runId) {
    return { state: 'succeeded', bytes: s.lastSuccess.bytes, finishedAt: s.lastSuccess.finishedAt };
  }
  if (s.lastFailure?.id === runId) {
    return { state: 'failed', error: s.lastFailure.error };
  }
  return { state: 'running' };
}

export function ForceBackup() {
  const status = useLoad(() => api.status(), []);
  const [started, setStarted] = useState<BackupStarted | undefined>();
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [pollError, setPollError] = useState<ApiError | undefined>();
  // The backups part of the latest poll, so the summary line follows the run too.
  const [polled, setPolled] = useState<PlatformStatus['backups'] | undefined>();
  const [now, setNow] = useState(() => Date.now());

  const finished = outcome !== undefined && outcome.state !== 'running';
  useEffect(() => {
    if (!started || finished) {
      return;
    }
    let cancelled = false;
    const tick = async () => {
      setNow(Date.now());
      try {
        const s = await api.status();
        if (!cancelled) {
          setPollError(undefined);
          setPolled(s.backups);
          setOutcome(outcomeOf(started.run.id, s.backups));
        }
      } catch (err) {
        if (!cancelled) {
          setPollError(toApiError(err));
        }
      }
    };
    const timer = setInterval(tick, BACKUP_POLL_MS);
    void tick();
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [started, finished]);

  const b = polled ?? status.value?.backups;
  return (
    <div data-testid={testIds.backup.container}>
      <Stack direction="column" gap={2}>
        <Text color="secondary">
          Starts a database backup now (pg_dump, compressed, encrypted, uploaded to the backup bucket), as the scheduler
          does. If one is already running, you follow that one instead of starting a second.
        </Text>
        {status.error ? (
          <ApiErrorAlert error={status.error} action="Reading backup state" onRetry={status.reload} />
        ) : null}
        {b ? (
          <Text>
            {b.lastSuccess
              ? `Last successful backup ${ago(b.lastSuccess.finishedAt)} (${dateTime(b.lastSuccess.finishedAt)}, ${bytes(b.lastSuccess.bytes)}).`
              : 'No successful database backup yet.'}
            {b.running ? ` A backup is running since ${dateTime(b.running.startedAt)}.` : ''}
          </Text>
        ) : null}
        <Stack direction="row" gap={1}>
          <ConfirmAction
            label="Start a backup now"
            title="Start a database backup now?"
            body={
              <Text>
                The platform database is dumped, compressed, encrypted and uploaded to the backup bucket. It adds load
                on the database for the dump&apos;s duration; nothing is changed or removed. The start is recorded in
                the audit log.
              </Text>
            }
            confirmText="Start backup"
            icon="save"
            disabled={Boolean(started && outcome?.state === 'running')}
            testId={testIds.backup.start}
            run={() => api.backup()}
            onDone={(s) => {
              setError(undefined);
              setOutcome({ state: 'running' });
              setStarted(s);
            }}
            onError={setError}
          />
          <LinkButton variant="secondary" icon="apps" href={dashboardUrl(DASHBOARDS.backups)}>
            Backups dashboard
          </LinkButton>
        </Stack>
        {error ? <ApiErrorAlert error={error} action="Force a backup" /> : null}
        {started ? (
          <div
            data-testid={outcome?.state === 'running' ? testIds.backup.progress : testIds.backup.result}
            data-state={outcome?.state}
          >
            {outcome?.state === 'running' || !outcome ? (
              <Alert
                severity="info"
                title={started.alreadyRunning ? 'A backup was already running: following it' : 'Backup started'}
              >
                <Stack direction="column" gap={1}>
                  <LoadingBar width={300} />
                  <Text>{`Run ${started.run.id}, started ${dateTime(started.run.startedAt)}; running for ${duration((now - Date.parse(started.run.startedAt)) / 1000)}.`}</Text>
                  {pollError ? (
                    <Text color="warning">{`Cannot read its progress right now: ${pollError.message}`}</Text>
                  ) : null}
                </Stack>
              </Alert>
            ) : outcome.state === 'succeeded' ? (
              <Alert severity="success" title="Backup finished">
                {`Run ${started.run.id} succeeded at ${dateTime(outcome.finishedAt)}: ${bytes(outcome.bytes)} uploaded.`}
              </Alert>
            ) : (
              <Alert severity="error" title="Backup failed">
                {`Run ${started.run.id} failed: ${outcome.error ?? 'no reason recorded'}. See the backups dashboard and docs/backup.md.`}
              </Alert>
            )}
          </div>
        ) : null}
      </Stack>
    </div>
  );
}
