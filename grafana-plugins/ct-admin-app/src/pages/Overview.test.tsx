import React from 'react';
import { act, render, screen, waitFor } from '@testing-library/react';
import Overview from './Overview';
import { setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { healthyStatus } from '../test/fixtures';
import { testIds } from '../components/testIds';
import { REFRESH_MS } from '../constants';

describe('Overview', () => {
  afterEach(() => jest.useRealTimers());

  it('shows a loading state, then one tile per part, each linking to its dashboard', async () => {
    setBackend({ 'GET /api/admin/status': { data: healthyStatus() } });
    render(<Overview />);
    expect(screen.getByText('Reading the platform status…')).toBeInTheDocument();
    expect(await screen.findByTestId(testIds.overview.tile('platform'))).toHaveAttribute('data-status', 'ok');
    expect(screen.getByText('7 active workflows')).toBeInTheDocument();
    expect(screen.getByText('Migrations 13/13')).toBeInTheDocument();
    expect(screen.getByText('0 firing')).toBeInTheDocument();
    const links = screen.getAllByRole('link').map((a) => a.getAttribute('href'));
    expect(links).toEqual(
      expect.arrayContaining([
        '/d/ct-admin-platform',
        '/d/ct-admin-security',
        '/d/ct-admin-backups',
        '/d/ct-admin-overview',
      ])
    );
  });

  it('shows bad news plainly: n8n down, broken chain, no backup, critical alerts', async () => {
    setBackend({
      'GET /api/admin/status': {
        data: healthyStatus({
          overall: 'critical',
          n8n: { status: 'critical', reachable: false, error: 'connection refused (is n8n running?)' },
          database: {
            status: 'critical',
            reachable: true,
            latencyMs: 2,
            migrations: { applied: 12, total: 13 },
            auditChain: {
              ok: false,
              rowsChecked: 10,
              firstBadId: '7',
              reason: 'hash mismatch',
              verifiedAt: '2026-03-01T11:00:00Z',
            },
          },
          backups: {
            status: 'critical',
            running: null,
            lastSuccess: null,
            lastSuccessAgeSeconds: null,
            lastFailure: null,
          },
          alerts: { status: 'critical', firing: 3, bySeverity: { critical: 2, high: 1 } },
        }),
      },
    });
    render(<Overview />);
    expect(await screen.findByText('Unreachable')).toBeInTheDocument();
    expect(screen.getByText('connection refused (is n8n running?)')).toBeInTheDocument();
    expect(screen.getByText('Audit chain BROKEN at row 7: hash mismatch')).toBeInTheDocument();
    expect(screen.getByText('Migrations 12/13: run ct migrate')).toBeInTheDocument();
    expect(screen.getByText('No successful backup')).toBeInTheDocument();
    expect(screen.getByText('3 firing')).toBeInTheDocument();
    expect(screen.getByText('2 critical')).toBeInTheDocument();
    expect(screen.getByTestId(testIds.overview.tile('alerts'))).toHaveAttribute('data-status', 'critical');
  });

  it('refreshes every 10 s and keeps the last figures when a refresh fails', async () => {
    jest.useFakeTimers();
    let calls = 0;
    setBackend({
      'GET /api/admin/status': () =>
        ++calls === 1 ? { data: healthyStatus() } : apiError(503, 'unavailable', 'database unavailable'),
    });
    render(<Overview />);
    await act(async () => {
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(screen.getByText('7 active workflows')).toBeInTheDocument();
    await act(async () => {
      await jest.advanceTimersByTimeAsync(REFRESH_MS);
    });
    expect(calls).toBe(2);
    expect(screen.getByTestId(testIds.error)).toHaveAttribute('data-kind', 'unavailable');
    expect(screen.getByText('7 active workflows')).toBeInTheDocument();
    expect(screen.getByTestId(testIds.overview.updated)).toHaveTextContent('may be stale');
  });

  it('says what to check when the API cannot be reached, and sends a 401 to the configuration page', async () => {
    setBackend({ 'GET /api/admin/status': { status: 502, data: '' } });
    const { unmount } = render(<Overview />);
    expect(await screen.findByText(/The platform API is unreachable/)).toBeInTheDocument();
    unmount();
    setBackend({ 'GET /api/admin/status': apiError(401, 'unauthorized', 'invalid proxy secret') });
    render(<Overview />);
    expect(await screen.findByText(/refused the configured credentials/)).toBeInTheDocument();
    await waitFor(() =>
      expect(screen.getByRole('link', { name: /configuration page/ })).toHaveAttribute('href', '/plugins/ct-admin-app')
    );
  });
});
