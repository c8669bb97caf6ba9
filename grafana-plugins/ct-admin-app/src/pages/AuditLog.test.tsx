import React from 'react';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { AuditLog } from './AuditLog';
import { setBackend } from '../test/setup';
import { client } from '../test/fixtures';
import { testIds } from '../components/testIds';
import type { AuditRow } from '../api/types';

const row = (id: number, over: Partial<AuditRow> = {}): AuditRow => ({
  id: String(id),
  at: '2026-03-01T10:00:00Z',
  actor: 'grafana:admin',
  actorType: 'grafana',
  action: 'client.rotate_secret',
  targetType: 'client_secret',
  targetId: 'pizza-shop:webhook:v2',
  clientId: client('pizza-shop').id,
  outcome: 'success',
  details: { version: 2, graceSeconds: 86400 },
  sourceIp: '127.0.0.1',
  requestId: 'req-1',
  hash: 'abc123',
  ...over,
});

describe('AuditLog', () => {
  it('filters by actor, action and client, pages with the cursor and opens a row', async () => {
    const b = setBackend({
      'GET /api/clients': { data: { data: [client('pizza-shop')], nextCursor: null } },
      'GET /api/admin/audit': (req) =>
        req.query.get('cursor') === 'c2'
          ? { data: { data: [row(1, { action: 'client.create' })], nextCursor: null } }
          : { data: { data: [row(3), row(2)], nextCursor: 'c2' } },
    });
    render(<AuditLog />);
    expect(await screen.findByTestId(testIds.audit.row('3'))).toHaveTextContent('pizza-shop');
    await userEvent.type(screen.getByTestId(testIds.audit.actor), 'grafana:admin');
    await userEvent.type(screen.getByTestId(testIds.audit.action), 'client.rotate_secret');
    await userEvent.click(screen.getByTestId(testIds.audit.apply));
    await waitFor(() => expect(b.requests.filter((r) => r.path === '/api/admin/audit')).toHaveLength(2));
    const q = b.requests.filter((r) => r.path === '/api/admin/audit')[1]!.query;
    expect(Object.fromEntries(q)).toEqual({ actor: 'grafana:admin', action: 'client.rotate_secret', limit: '50' });

    await userEvent.click(await screen.findByTestId(testIds.audit.more));
    expect(await screen.findByTestId(testIds.audit.row('1'))).toHaveTextContent('client.create');
    expect(screen.queryByTestId(testIds.audit.more)).not.toBeInTheDocument();
    expect(b.requests.at(-1)?.query.get('cursor')).toBe('c2');

    await userEvent.click(within(screen.getByTestId(testIds.audit.row('3'))).getByRole('button', { name: 'Details' }));
    const details = await screen.findByTestId(testIds.audit.details);
    expect(details).toHaveTextContent('"graceSeconds": 86400');
    expect(details).toHaveTextContent('request req-1');
  });

  it('verifies the chain after confirmation and names the first bad row', async () => {
    setBackend({
      'GET /api/clients': { data: { data: [], nextCursor: null } },
      'GET /api/admin/audit': { data: { data: [], nextCursor: null } },
      'POST /api/admin/audit/verify': {
        data: { ok: false, rowsChecked: 12, firstBadId: '7', reason: 'hash mismatch' },
      },
    });
    render(<AuditLog />);
    expect(await screen.findByTestId(testIds.audit.empty)).toBeInTheDocument();
    await userEvent.click(screen.getByTestId(testIds.audit.verify));
    await userEvent.click(screen.getByRole('button', { name: 'Verify' }));
    const result = await screen.findByTestId(testIds.audit.verifyResult);
    expect(result).toHaveAttribute('data-ok', 'false');
    expect(result).toHaveTextContent('BROKEN at row 7');
    expect(result).toHaveTextContent('Reason: hash mismatch');
  });
});
