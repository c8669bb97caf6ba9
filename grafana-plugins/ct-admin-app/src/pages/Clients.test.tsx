import React from 'react';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Clients, { buildRows } from './Clients';
import { renderAt, setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { client } from '../test/fixtures';
import { testIds } from '../components/testIds';

const sub = (c: string, cents: number, currency = 'USD') => ({
  id: `s-${c}`,
  client: c,
  planId: 'p',
  monthlyAmountCents: cents,
  currency,
  startedAt: '2026-01-01T00:00:00Z',
  canceledAt: null,
});
const inv = (c: string, dueAt: string | null) => ({
  id: `i-${c}-${dueAt}`,
  client: c,
  number: 'INV-1',
  amountCents: 5000,
  currency: 'USD',
  status: 'open' as const,
  issuedAt: '2026-01-01T00:00:00Z',
  dueAt,
  paidAt: null,
  createdAt: '2026-01-01T00:00:00Z',
});
const auto = (c: string, enabled: boolean) => ({
  id: `a-${c}-${enabled}`,
  client: c,
  n8nWorkflowId: 'w',
  name: 'x',
  minutesSavedPerRun: 5,
  hourlyValueCents: 3000,
  currency: 'USD',
  enabled,
  createdAt: '2026-01-01T00:00:00Z',
});
const usage = (c: string, runs: number, failures: number) => ({
  client: c,
  runs,
  failures,
  failureRatio: runs ? failures / runs : 0,
  hoursSaved: 1,
  valueCents: 100,
  valueCurrency: 'USD',
  costCents: 50,
  costCurrency: 'USD',
  roi: 1,
});

function installBackend() {
  return setBackend({
    'GET /api/clients': {
      data: {
        data: [
          client('pizza-shop', { lastActivityAt: new Date().toISOString() }),
          client('plumber', { status: 'paused' }),
          client('hvac-co', { status: 'churned', plan: null }),
        ],
        nextCursor: null,
      },
    },
    'GET /api/billing/subscriptions': { data: { data: [sub('pizza-shop', 9900), sub('plumber', 4900)] } },
    'GET /api/automations': {
      data: { data: [auto('pizza-shop', true), auto('pizza-shop', false), auto('plumber', true)], nextCursor: null },
    },
    'GET /api/metrics/usage': {
      data: { from: 'x', to: 'y', data: [usage('pizza-shop', 40, 3), usage('plumber', 10, 0)] },
    },
    'GET /api/billing/invoices': {
      data: {
        data: [inv('pizza-shop', '2020-01-01T00:00:00Z'), inv('plumber', '2099-01-01T00:00:00Z')],
        nextCursor: null,
      },
    },
  });
}

describe('Clients', () => {
  it('shows every client with status, plan, MRR, automations, failures, activity and billing, from one call per list', async () => {
    const b = installBackend();
    renderAt(<Clients />);
    const pizza = await screen.findByTestId(testIds.clients.row('pizza-shop'));
    expect(pizza).toHaveTextContent('active');
    expect(pizza).toHaveTextContent('$99.00');
    expect(pizza).toHaveTextContent('2 (1)');
    expect(pizza).toHaveTextContent('3 of 40');
    expect(pizza).toHaveTextContent('1 overdue');
    expect(within(pizza).getByRole('link', { name: 'Pizza Shop' })).toHaveAttribute(
      'href',
      '/a/ct-admin-app/clients/pizza-shop'
    );
    expect(screen.getByTestId(testIds.clients.row('plumber'))).toHaveTextContent('1 open');
    expect(screen.getByTestId(testIds.clients.row('hvac-co'))).toHaveTextContent('paid up');
    expect(b.requests.find((r) => r.path === '/api/billing/subscriptions')?.query.get('active')).toBe('true');
    expect(b.requests.find((r) => r.path === '/api/billing/invoices')?.query.get('status')).toBe('open');
    expect(b.requests).toHaveLength(5);
  });

  it('filters by status, search and "needs attention", and says when nothing matches', async () => {
    installBackend();
    renderAt(<Clients />);
    await screen.findByTestId(testIds.clients.row('pizza-shop'));
    await userEvent.click(screen.getByRole('radio', { name: 'Paused' }));
    expect(screen.queryByTestId(testIds.clients.row('pizza-shop'))).not.toBeInTheDocument();
    expect(screen.getByTestId(testIds.clients.row('plumber'))).toBeInTheDocument();
    await userEvent.click(screen.getByRole('radio', { name: 'All' }));
    await userEvent.click(screen.getByRole('radio', { name: 'Needs attention' }));
    expect(screen.getByTestId(testIds.clients.row('pizza-shop'))).toBeInTheDocument();
    expect(screen.queryByTestId(testIds.clients.row('plumber'))).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('radio', { name: 'Everyone' }));
    await userEvent.type(screen.getByTestId(testIds.clients.search), 'zzz');
    expect(screen.getByTestId(testIds.clients.empty)).toHaveTextContent('No client matches these filters');
  });

  it('has an empty state and an error state', async () => {
    setBackend({
      'GET /api/clients': { data: { data: [], nextCursor: null } },
      'GET /api/billing/subscriptions': { data: { data: [] } },
      'GET /api/automations': { data: { data: [], nextCursor: null } },
      'GET /api/metrics/usage': { data: { data: [] } },
      'GET /api/billing/invoices': { data: { data: [], nextCursor: null } },
    });
    const { unmount } = renderAt(<Clients />);
    expect(await screen.findByText('No clients yet')).toBeInTheDocument();
    unmount();
    const down = apiError(503, 'unavailable', 'database unavailable');
    setBackend({
      'GET /api/clients': down,
      'GET /api/billing/subscriptions': down,
      'GET /api/automations': down,
      'GET /api/metrics/usage': down,
      'GET /api/billing/invoices': down,
    });
    renderAt(<Clients />);
    expect(await screen.findByText(/The platform database is unavailable/)).toBeInTheDocument();
  });

  it('adds MRR per currency', () => {
    const rows = buildRows([client('a')], [sub('a', 1000), sub('a', 500), sub('a', 700, 'EUR')], [], [], []);
    expect(rows[0]?.mrr).toBe('$15.00 + €7.00');
  });
});
