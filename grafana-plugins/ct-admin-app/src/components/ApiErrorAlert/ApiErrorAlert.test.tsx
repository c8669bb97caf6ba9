import React from 'react';
import { render, screen } from '@testing-library/react';
import { ApiError, toApiError } from '../../api/errors';
import { ApiErrorAlert } from './ApiErrorAlert';
import { testIds } from '../testIds';

const fetchError = (status: number, data: unknown) => ({
  status,
  data,
  statusText: `HTTP ${status}`,
  config: { url: '/x' },
});

describe('ApiErrorAlert', () => {
  it('tells an unreachable API (Grafana 502, no API body) apart from an n8n failure reported by the API', () => {
    const unreachable = toApiError(fetchError(502, ''));
    expect(unreachable.kind).toBe('unreachable');
    const n8n = toApiError(
      fetchError(502, { error: 'upstream_failed', message: 'n8n could not be reached', requestId: 'r1' })
    );
    expect(n8n.kind).toBe('upstream');
    render(<ApiErrorAlert error={unreachable} action="Loading clients" />);
    expect(screen.getByText(/Loading clients: The platform API is unreachable \(502\)/)).toBeInTheDocument();
    expect(screen.getByText(/ct serve api/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /configuration page/i })).toHaveAttribute('href', '/plugins/ct-admin-app');
  });

  it('sends a 401 to the configuration page, naming send_user_header when the API asks for the user', () => {
    const e = toApiError(
      fetchError(401, {
        error: 'unauthorized',
        message: 'X-Grafana-User is required with the proxy secret',
        requestId: 'r2',
      })
    );
    render(<ApiErrorAlert error={e} />);
    expect(screen.getByText(/send_user_header = true/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /configuration page/i })).toBeInTheDocument();
    expect(screen.getByText('Request id: r2')).toBeInTheDocument();
  });

  it("explains the proxy's 403 as a Grafana role problem", () => {
    const e = toApiError(fetchError(403, { message: 'plugin proxy route access denied' }));
    expect(e).toMatchObject({ kind: 'forbidden', fromApi: false });
    render(<ApiErrorAlert error={e} />);
    expect(screen.getByText(/Not allowed \(403\)/)).toBeInTheDocument();
    expect(screen.getByText(/the Admin role/)).toBeInTheDocument();
  });

  it('shows a 409 as a warning, a 503 as the database, and lists the fields of a 400', () => {
    const { rerender } = render(
      <ApiErrorAlert
        error={toApiError(fetchError(409, { error: 'conflict', message: 'being restarted already', requestId: 'r' }))}
      />
    );
    expect(screen.getByTestId(testIds.error)).toHaveAttribute('data-kind', 'conflict');
    expect(screen.getByText(/Already in progress/)).toBeInTheDocument();
    rerender(
      <ApiErrorAlert
        error={toApiError(fetchError(503, { error: 'unavailable', message: 'database unavailable', requestId: 'r' }))}
      />
    );
    expect(screen.getByText(/Check PostgreSQL/)).toBeInTheDocument();
    rerender(
      <ApiErrorAlert
        error={
          new ApiError('invalid', 400, 'body grace: must be at most 2592000 seconds', true, 'r', [
            { in: 'body', field: 'grace', message: 'must be at most 2592000 seconds' },
          ])
        }
      />
    );
    expect(screen.getByText('grace: must be at most 2592000 seconds')).toBeInTheDocument();
  });

  it('treats an unknown proxy route as a version mismatch and a thrown Error as unreachable', () => {
    expect(toApiError(fetchError(404, { message: 'plugin route match not found' })).kind).toBe('notConfigured');
    expect(toApiError(fetchError(404, { error: 'not_found', message: 'client x', requestId: 'r' })).kind).toBe(
      'notFound'
    );
    expect(toApiError(new TypeError('Failed to fetch'))).toMatchObject({ kind: 'unreachable', status: 0 });
  });
});
