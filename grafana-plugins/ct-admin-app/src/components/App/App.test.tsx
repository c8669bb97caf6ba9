import React, { Suspense } from 'react';
import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import App from './App';
import { setBackend } from '../../test/setup';
import { healthyStatus } from '../../test/fixtures';
import { testIds } from '../testIds';

const renderApp = (path: string) =>
  render(
    <MemoryRouter initialEntries={[path]}>
      <Suspense fallback="loading">
        <App {...({ basename: '/a/ct-admin-app', meta: { id: 'ct-admin-app' } } as unknown as AppRootProps)} />
      </Suspense>
    </MemoryRouter>
  );

describe('App', () => {
  beforeEach(() =>
    setBackend({
      'GET /api/admin/status': { data: healthyStatus() },
      'GET /api/clients': { data: { data: [], nextCursor: null } },
      'GET /api/billing/subscriptions': { data: { data: [] } },
      'GET /api/automations': { data: { data: [], nextCursor: null } },
      'GET /api/metrics/usage': { data: { data: [] } },
      'GET /api/billing/invoices': { data: { data: [], nextCursor: null } },
      'GET /api/admin/audit': { data: { data: [], nextCursor: null } },
    })
  );

  it('opens the Overview by default', async () => {
    renderApp('/');
    expect(await screen.findByTestId(testIds.overview.container)).toBeInTheDocument();
  });

  it('routes clients and each quick action to its page, with the tabs', async () => {
    renderApp('/clients');
    expect(await screen.findByTestId(testIds.clients.container)).toBeInTheDocument();
  });

  it.each([
    ['restart-stuck', testIds.restart.container],
    ['rotate-secret', testIds.rotate.container],
    ['backup', testIds.backup.container],
    ['audit', testIds.audit.container],
    ['export', testIds.exports.container],
  ])('/actions/%s', async (action, id) => {
    renderApp(`/actions/${action}`);
    expect(await screen.findByTestId(id)).toBeInTheDocument();
    expect(screen.getByTestId(testIds.actions.tabs)).toBeInTheDocument();
  });

  it('sends /actions to the first action', async () => {
    renderApp('/actions');
    expect(await screen.findByTestId(testIds.restart.container)).toBeInTheDocument();
  });
});
