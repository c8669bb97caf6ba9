import type { Client, PlatformStatus } from '../api/types';

export const client = (slug: string, over: Partial<Client> = {}): Client => ({
  id: `00000000-0000-4000-8000-${slug
    .padEnd(12, '0')
    .slice(0, 12)
    .replace(/[^0-9a-f]/g, '0')}`,
  slug,
  name: slug.replace(/-/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()),
  status: 'active',
  plan: 'starter',
  contactEmail: `${slug}@example.com`,
  contactPhone: null,
  timezone: 'UTC',
  createdAt: '2026-01-01T00:00:00Z',
  lastActivityAt: null,
  ...over,
});

export const healthyStatus = (over: Partial<PlatformStatus> = {}): PlatformStatus => ({
  at: '2026-03-01T12:00:00.000Z',
  overall: 'ok',
  platform: { status: 'ok', version: '0.1.0', uptimeSeconds: 3700 },
  database: {
    status: 'ok',
    reachable: true,
    latencyMs: 1.2,
    migrations: { applied: 13, total: 13 },
    auditChain: { ok: true, rowsChecked: 42, firstBadId: null, reason: null, verifiedAt: '2026-03-01T11:00:00.000Z' },
  },
  n8n: { status: 'ok', reachable: true, workflows: 9, activeWorkflows: 7 },
  backups: {
    status: 'ok',
    running: null,
    lastSuccess: {
      id: 'b1',
      kind: 'database',
      status: 'succeeded',
      startedAt: '2026-03-01T02:00:00Z',
      finishedAt: '2026-03-01T02:01:00Z',
      bytes: 2048,
      error: null,
    },
    lastSuccessAgeSeconds: 36000,
    lastFailure: null,
  },
  alerts: { status: 'ok', firing: 0, bySeverity: {} },
  ...over,
});
