import React from 'react';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ClientDetail from './ClientDetail';
import { renderAt, setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { client } from '../test/fixtures';
import { testIds } from '../components/testIds';

function installBackend(status: 'active' | 'paused' = 'active') {
  return setBackend({
    'GET /api/clients/pizza-shop': { data: client('pizza-shop', { status }) },
    'GET /api/automations/workflows': {
      data: {
        client: 'pizza-shop',
        data: [
          {
            automation: {
              id: 'a1',
              client: 'pizza-shop',
              n8nWorkflowId: 'w1',
              name: 'Order intake',
              minutesSavedPerRun: 4,
              hourlyValueCents: 2500,
              currency: 'USD',
              enabled: true,
              createdAt: 'x',
            },
            n8n: { id: 'w1', name: 'Orders', active: true, updatedAt: null },
            missingInN8n: false,
          },
          {
            automation: {
              id: 'a2',
              client: 'pizza-shop',
              n8nWorkflowId: 'w9',
              name: 'Gone',
              minutesSavedPerRun: 1,
              hourlyValueCents: 100,
              currency: 'USD',
              enabled: true,
              createdAt: 'x',
            },
            n8n: null,
            missingInN8n: true,
          },
        ],
      },
    },
    'GET /api/billing/invoices': {
      data: {
        data: [
          {
            id: 'i1',
            client: 'pizza-shop',
            number: 'INV-7',
            amountCents: 12000,
            currency: 'USD',
            status: 'open',
            issuedAt: '2026-01-01T00:00:00Z',
            dueAt: '2026-01-15T00:00:00Z',
            paidAt: null,
            createdAt: 'x',
          },
        ],
        nextCursor: null,
      },
    },
    'GET /api/metrics/usage': (req) => ({
      data: {
        from: req.query.get('from'),
        to: req.query.get('to'),
        data: [
          {
            client: 'pizza-shop',
            runs: 120,
            failures: 6,
            failureRatio: 0.05,
            hoursSaved: 8,
            valueCents: 20000,
            valueCurrency: 'USD',
            costCents: 9900,
            costCurrency: 'USD',
            roi: 1.0202,
          },
        ],
      },
    }),
    'GET /api/admin/audit': {
      data: {
        data: [
          {
            id: '5',
            at: '2026-03-01T10:00:00Z',
            actor: 'grafana:admin',
            actorType: 'grafana',
            action: 'client.create',
            targetType: 'client',
            targetId: 'x',
            clientId: 'x',
            outcome: 'success',
            details: {},
            sourceIp: null,
            requestId: null,
            hash: 'h',
          },
        ],
        nextCursor: null,
      },
    },
    'POST /api/clients/pizza-shop/pause': { data: { ...client('pizza-shop', { status: 'paused' }), changed: true } },
    'POST /api/clients/pizza-shop/churn': apiError(409, 'conflict', 'a churned client cannot be moved to churned'),
  });
}

describe('ClientDetail', () => {
  it('shows automations with their n8n state, invoices, usage over a chosen range and recent activity', async () => {
    const b = installBackend();
    renderAt(<ClientDetail />, '/clients/pizza-shop', '/clients/:slug');
    expect(await screen.findByText('Pizza Shop')).toBeInTheDocument();
    const autos = screen.getByTestId(testIds.client.automations);
    expect(await within(autos).findByText('Order intake')).toBeInTheDocument();
    expect(within(autos).getByText('missing in n8n')).toBeInTheDocument();
    expect(within(screen.getByTestId(testIds.client.invoices)).getByText('overdue')).toBeInTheDocument();
    expect(await within(screen.getByTestId(testIds.client.usage)).findByText('102%')).toBeInTheDocument();
    expect(within(screen.getByTestId(testIds.client.activity)).getByText('client.create')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /Client dashboard/ })).toHaveAttribute(
      'href',
      '/d/ct-admin-client-detail?var-client=pizza-shop'
    );
    await userEvent.click(screen.getByRole('radio', { name: '90 days' }));
    const usageCalls = b.requests.filter((r) => r.path === '/api/metrics/usage');
    const last = usageCalls[usageCalls.length - 1]!.query;
    expect((Date.parse(last.get('to')!) - Date.parse(last.get('from')!)) / 86400_000).toBe(89);
    expect(last.get('client')).toBe('pizza-shop');
  });

  it('pauses after a confirmation naming the consequence, and shows a refused churn', async () => {
    const b = installBackend();
    renderAt(<ClientDetail />, '/clients/pizza-shop', '/clients/:slug');
    await userEvent.click(await screen.findByTestId(testIds.client.pause));
    expect(screen.getByText(/Its n8n workflows are not touched/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Pause client' }));
    expect(await screen.findByTestId(testIds.client.result)).toHaveTextContent('Pizza Shop is now paused.');
    expect(screen.getByTestId(testIds.client.status)).toHaveAttribute('data-status', 'paused');
    expect(screen.getByTestId(testIds.client.resume)).toBeInTheDocument();
    await userEvent.click(screen.getByTestId(testIds.client.churn));
    expect(screen.getByText(/every webhook event of Pizza Shop is refused/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Churn client' }));
    expect(await screen.findByText('a churned client cannot be moved to churned')).toBeInTheDocument();
    expect(b.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([
      '/api/clients/pizza-shop/pause',
      '/api/clients/pizza-shop/churn',
    ]);
  });

  it('shows a 404 for an unknown client and a 403 on the admin-only activity', async () => {
    setBackend({
      'GET /api/clients/nope': apiError(404, 'not_found', 'client nope not found'),
      'GET /api/automations/workflows': apiError(404, 'not_found', 'client nope not found'),
      'GET /api/billing/invoices': apiError(404, 'not_found', 'client nope not found'),
      'GET /api/metrics/usage': apiError(404, 'not_found', 'client nope not found'),
      'GET /api/admin/audit': { status: 403, data: { message: 'plugin proxy route access denied' } },
    });
    renderAt(<ClientDetail />, '/clients/nope', '/clients/:slug');
    expect(await screen.findByText(/Loading client nope: Not found \(404\)/)).toBeInTheDocument();
    expect(
      await within(screen.getByTestId(testIds.client.activity)).findByText(/Not allowed \(403\)/)
    ).toBeInTheDocument();
  });
});
