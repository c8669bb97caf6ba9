import React from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { BACKUP_POLL_MS, ForceBackup, outcomeOf } from './ForceBackup';
import { setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { healthyStatus } from '../test/fixtures';
import { testIds } from '../components/testIds';

const run = {
  id: 'run-9',
  kind: 'database',
  status: 'running',
  startedAt: new Date().toISOString(),
  finishedAt: null,
  bytes: null,
  error: null,
};

describe('ForceBackup', () => {
  it('starts after confirmation, follows the run until it succeeds, and links the backups dashboard', async () => {
    let polls = 0;
    const b = setBackend({
      'GET /api/admin/status': () => {
        polls++;
        const base = healthyStatus();
        return {
          data:
            polls < 3
              ? { ...base, backups: { ...base.backups, running: polls === 1 ? null : run } }
              : {
                  ...base,
                  backups: {
                    ...base.backups,
                    running: null,
                    lastSuccess: {
                      ...run,
                      status: 'succeeded',
                      finishedAt: new Date().toISOString(),
                      bytes: 5 * 1024 * 1024,
                    },
                  },
                },
        };
      },
      'POST /api/admin/backups': { status: 202, data: { alreadyRunning: false, run } },
    });
    const user = userEvent.setup();
    render(<ForceBackup />);
    expect(await screen.findByText(/Last successful backup/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /Backups dashboard/ })).toHaveAttribute('href', '/d/ct-admin-backups');
    await user.click(screen.getByTestId(testIds.backup.start));
    expect(b.requests.some((r) => r.method === 'POST')).toBe(false);
    await user.click(screen.getByRole('button', { name: 'Start backup' }));
    expect(await screen.findByTestId(testIds.backup.progress)).toHaveTextContent('Backup started');
    expect(screen.getByTestId(testIds.backup.start)).toBeDisabled();
    const result = await screen.findByTestId(testIds.backup.result, {}, { timeout: BACKUP_POLL_MS * 3 });
    expect(result).toHaveAttribute('data-state', 'succeeded');
    expect(result).toHaveTextContent('Run run-9 succeeded');
    expect(result).toHaveTextContent('5.0 MB uploaded');
    expect(screen.getByText(/Last successful backup .*5\.0 MB/)).toBeInTheDocument();
  });

  it('says when a backup was already running, and explains a 501', async () => {
    let n = 0;
    setBackend({
      'GET /api/admin/status': { data: healthyStatus() },
      'POST /api/admin/backups': () =>
        ++n === 1
          ? { status: 202, data: { alreadyRunning: true, run } }
          : apiError(501, 'not_implemented', 'backups are not configured in this API process'),
    });
    const { unmount } = render(<ForceBackup />);
    await userEvent.click(screen.getByTestId(testIds.backup.start));
    await userEvent.click(screen.getByRole('button', { name: 'Start backup' }));
    expect(await screen.findByText('A backup was already running: following it')).toBeInTheDocument();
    unmount();
    render(<ForceBackup />);
    await userEvent.click(screen.getByTestId(testIds.backup.start));
    await userEvent.click(screen.getByRole('button', { name: 'Start backup' }));
    expect(await screen.findByText(/no backup module wired in/)).toBeInTheDocument();
  });

  it('reads a failed run from the status', () => {
    const s = healthyStatus().backups;
    expect(outcomeOf('run-9', { ...s, lastFailure: { ...run, status: 'failed', error: 'upload refused' } })).toEqual({
      state: 'failed',
      error: 'upload refused',
    });
    expect(outcomeOf('run-9', { ...s, running: run })).toEqual({ state: 'running' });
  });
});
