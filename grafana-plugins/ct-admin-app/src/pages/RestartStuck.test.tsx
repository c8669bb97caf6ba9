import React from 'react';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { RestartStuck } from './RestartStuck';
import { setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { client } from '../test/fixtures';
import { testIds } from '../components/testIds';

const stuck = [
  {
    executionId: '101',
    workflowId: 'wf1',
    client: 'pizza-shop',
    automation: 'Order intake',
    startedAt: '2026-03-01T10:00:00Z',
    runningSeconds: 1800,
  },
  {
    executionId: '102',
    workflowId: 'wf2',
    client: 'pizza-shop',
    automation: 'Invoices',
    startedAt: '2026-03-01T10:05:00Z',
    runningSeconds: 1500,
  },
];
const WARNING =
  'n8n resumed the stopped execution from its saved state and ran no node again; re-trigger the workflow if its work must be redone';

/** A backend whose dry run lists `stuck` (review token `token`) and whose real run answers `results`. */
function restartBackend(token: string, results: Array<Record<string, unknown>>) {
  return setBackend({
    'GET /api/clients': { data: { data: [client('pizza-shop')], nextCursor: null } },
    'POST /api/admin/executions/restart-stuck': (req) =>
      (req.data as { dryRun: boolean }).dryRun
        ? { data: { dryRun: true, stuck, reviewToken: token, reviewExpiresAt: '2026-03-01T10:40:00Z' } }
        : { data: { dryRun: false, outcome: 'success', results } },
  });
}

describe('RestartStuck', () => {
  it('lists with a dry run, restarts only the selected after confirmation, and shows each result with the warning', async () => {
    const b = restartBackend('review-1', [
      {
        ...stuck[0],
        result: 'restarted',
        stoppedVia: 'session',
        newExecutionId: '201',
        newExecutionStatus: 'success',
        rerunNodes: [],
        warning: WARNING,
      },
    ]);
    render(<RestartStuck />);
    await userEvent.click(screen.getByRole('radio', { name: '30 min' }));
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    const list = await screen.findByTestId(testIds.restart.list);
    expect(within(list).getByText('Order intake')).toBeInTheDocument();
    expect(within(list).getByText('30m 0s')).toBeInTheDocument();
    const dry = b.requests.find((r) => r.method === 'POST');
    expect(dry?.data).toEqual({ olderThan: '30m', dryRun: true });

    await userEvent.click(screen.getByLabelText('Select execution 102'));
    await userEvent.click(screen.getByTestId(testIds.restart.restart));
    expect(screen.getByText(/Executions: 101\./)).toBeInTheDocument();
    expect(b.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    await userEvent.click(screen.getByRole('button', { name: 'Stop and retry' }));

    const results = await screen.findByTestId(testIds.restart.results);
    expect(results).toHaveAttribute('data-outcome', 'success');
    expect(within(results).getByText('Restart success: 1 of 1 restarted')).toBeInTheDocument();
    expect(within(results).getByText('201 (success)')).toBeInTheDocument();
    expect(within(results).getByTestId(testIds.restart.warning)).toHaveTextContent(WARNING);
    // The real run names what was reviewed (the token) and the selection, nothing else.
    expect(b.requests.filter((r) => r.method === 'POST')[1]?.data).toEqual({
      dryRun: false,
      reviewToken: 'review-1',
      executionIds: ['101'],
    });
  });

  it('shows a retry still running as running, with the nodes it has run so far and no warning', async () => {
    restartBackend('review-3', [
      {
        ...stuck[0],
        result: 'restarted',
        stoppedVia: 'session',
        newExecutionId: '202',
        newExecutionStatus: 'running',
        rerunNodes: ['Code'],
      },
      {
        ...stuck[1],
        result: 'restarted',
        stoppedVia: 'session',
        newExecutionId: '203',
        newExecutionStatus: 'running',
        rerunNodes: [],
      },
    ]);
    render(<RestartStuck />);
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    await screen.findByTestId(testIds.restart.list);
    await userEvent.click(screen.getByTestId(testIds.restart.restart));
    await userEvent.click(screen.getByRole('button', { name: 'Stop and retry' }));
    const results = await screen.findByTestId(testIds.restart.results);
    expect(within(results).getByText('202 (running)')).toBeInTheDocument();
    expect(within(results).getByText('Code so far (still running)')).toBeInTheDocument();
    expect(within(results).getByText('still running')).toBeInTheDocument();
    expect(within(results).queryByTestId(testIds.restart.warning)).not.toBeInTheDocument();
  });

  it('forgets the reviewed list when a filter changes, and asks for unmapped workflows only when told', async () => {
    const b = setBackend({
      'GET /api/clients': { data: { data: [client('pizza-shop')], nextCursor: null } },
      'POST /api/admin/executions/restart-stuck': {
        data: { dryRun: true, stuck, reviewToken: 'review-2', reviewExpiresAt: '2026-03-01T10:40:00Z' },
      },
    });
    render(<RestartStuck />);
    await userEvent.click(within(screen.getByTestId(testIds.restart.includeUnmapped)).getByRole('checkbox'));
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    await screen.findByTestId(testIds.restart.list);
    expect(b.requests.find((r) => r.method === 'POST')?.data).toEqual({
      olderThan: '15m',
      includeUnmapped: true,
      dryRun: true,
    });
    // Another threshold: the list shown is not what a restart would act on any more.
    await userEvent.click(screen.getByRole('radio', { name: '1 hour' }));
    expect(screen.queryByTestId(testIds.restart.list)).not.toBeInTheDocument();
    expect(screen.queryByTestId(testIds.restart.restart)).not.toBeInTheDocument();
  });

  it('says when nothing is stuck, and shows the API 409 while another restart runs', async () => {
    let n = 0;
    setBackend({
      'GET /api/clients': { data: { data: [], nextCursor: null } },
      'POST /api/admin/executions/restart-stuck': () =>
        ++n === 1
          ? { data: { dryRun: true, stuck: [], reviewToken: 'r', reviewExpiresAt: '2026-03-01T10:40:00Z' } }
          : apiError(409, 'conflict', 'stuck executions are being restarted already'),
    });
    render(<RestartStuck />);
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    expect(await screen.findByTestId(testIds.restart.empty)).toHaveTextContent(
      'no execution running for longer than 15m'
    );
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    expect(await screen.findByText('stuck executions are being restarted already')).toBeInTheDocument();
    expect(screen.getByTestId(testIds.error)).toHaveAttribute('data-kind', 'conflict');
  });

  it("shows the proxy's 403 for a role below Admin", async () => {
    setBackend({
      'GET /api/clients': { data: { data: [], nextCursor: null } },
      'POST /api/admin/executions/restart-stuck': {
        status: 403,
        data: { message: 'plugin proxy route access denied' },
      },
    });
    render(<RestartStuck />);
    await userEvent.click(screen.getByRole('button', { name: /List stuck executions/ }));
    await waitFor(() => expect(screen.getByTestId(testIds.error)).toHaveAttribute('data-kind', 'forbidden'));
    expect(screen.getByText(/every action the Admin role/)).toBeInTheDocument();
  });
});
