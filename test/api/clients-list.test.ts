import { CLIENT_COLUMNS, clientJson, type ClientRow } from '../../api/src/routes/common';
import { encodeCursor } from '../../api/src/schemas';
import { startTestApi, type TestApi } from './harness';

/**
 * GET /api/clients is serialised by PostgreSQL (CLIENT_JSON_COLUMNS). Its pages must be, byte for
 * byte, what JSON.stringify makes of clientJson over the same rows: the reference is computed here
 * from the table with the driver's own parsing, for awkward values of every column.
 */

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
  // Awkward values: quotes, backslashes, control characters, non-ASCII, NULLs, and timestamps at
  // every sub-millisecond position (the driver truncates to the millisecond, as must the SQL).
  await api.pool.query(`
    INSERT INTO clients (slug, name, status, plan, contact_email, contact_phone, timezone, created_at, last_activity_at) VALUES
      ('aa-quotes', 'Joe''s "Best" Pizza \\ Co', 'active', 'pro', 'joe@pizza.test', '+1 555 0100', 'America/Chicago',
        '2026-01-01 00:00:00.999999+00', '2026-06-30 23:59:59.9995+00'),
      ('ab-unicode', 'Café Zoë – 東京 🍕', 'paused', NULL, NULL, NULL, 'Asia/Tokyo', '1999-12-31 23:59:59.000001+00', NULL),
      ('ac-control', E'Tab\\there\\nnewline \\u0001', 'churned', 'basic', NULL, '(555) 0101', 'UTC',
        '2026-03-29 01:30:00.5+02', '2026-10-25 01:30:00.123456-05'),
      ('ad-plain', 'Plain Plumbing', 'active', NULL, 'ops@plumb.test', NULL, 'Europe/Paris', '2026-12-03 14:53:01+00', now())`);
  await api.pool.query(
    `INSERT INTO clients (slug, name) SELECT 'zz-client-' || lpad(g::text, 3, '0'), 'Client ' || g FROM generate_series(1, 7) g`,
  );
});
afterAll(() => api.close());

/** The page as the JS mapping makes it from the same rows: the reference. */
async function expectedPage(filter: { status?: string; q?: string; after?: string; limit: number }): Promise<string> {
  const { rows } = await api.pool.query<ClientRow>(
    `SELECT ${CLIENT_COLUMNS} FROM clients
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0 OR strpos(slug, lower($2)) > 0)
        AND ($3::text IS NULL OR slug > $3)
      ORDER BY slug LIMIT $4`,
    [filter.status ?? null, filter.q ?? null, filter.after ?? null, filter.limit + 1],
  );
  const data = rows.slice(0, filter.limit);
  const more = rows.length > filter.limit;
  return JSON.stringify({ data: data.map(clientJson), nextCursor: more ? encodeCursor([data[data.length - 1]!.slug]) : null });
}

describe('GET /api/clients, serialised by PostgreSQL', () => {
  it('walks every page byte for byte as JSON.stringify of clientJson would write it', async () => {
    const limit = 3;
    let cursor: string | null = null;
    let after: string | undefined;
    const seen: string[] = [];
    do {
      const res = await api.call('GET', `/api/clients?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { key: api.keys.read });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.text).toBe(await expectedPage({ after, limit }));
      for (const c of res.body.data as { slug: string }[]) seen.push(c.slug);
      cursor = res.body.nextCursor;
      after = seen[seen.length - 1];
    } while (cursor);
    const { rows } = await api.pool.query<{ slug: string }>('SELECT slug FROM clients ORDER BY slug');
    expect(seen).toEqual(rows.map((r) => r.slug));
    expect(seen.length).toBeGreaterThan(limit * 3);
  });

  it('carries the awkward values exactly: escapes, NULLs, and timestamps truncated to the millisecond in UTC', async () => {
    const res = await api.call('GET', '/api/clients?limit=4', { key: api.keys.read });
    const [quotes, unicode, control] = res.body.data;
    expect(quotes).toMatchObject({
      name: 'Joe\'s "Best" Pizza \\ Co',
      createdAt: '2026-01-01T00:00:00.999Z',
      lastActivityAt: '2026-06-30T23:59:59.999Z',
    });
    expect(unicode).toMatchObject({
      name: 'Café Zoë – 東京 🍕',
      plan: null,
      contactEmail: null,
      createdAt: '1999-12-31T23:59:59.000Z',
      lastActivityAt: null,
    });
    expect(control).toMatchObject({
      name: 'Tab\there\nnewline \u0001',
      createdAt: '2026-03-28T23:30:00.500Z',
      lastActivityAt: '2026-10-25T06:30:00.123Z',
    });
  });

  it.each([
    { status: 'active', limit: 2 },
    { q: 'PIZZA', limit: 5 },
    { q: 'zz-client-00', limit: 4 },
    { status: 'paused', q: 'café', limit: 1 },
    { q: 'nothing matches this', limit: 10 },
    { after: 'ad-plain', limit: 500 },
  ])('filters and pages as the reference does: %j', async (filter) => {
    const query = new URLSearchParams({ limit: String(filter.limit) });
    if (filter.status) query.set('status', filter.status);
    if (filter.q) query.set('q', filter.q);
    if (filter.after) query.set('cursor', encodeCursor([filter.after]));
    const res = await api.call('GET', `/api/clients?${query}`, { key: api.keys.read });
    expect(res.status).toBe(200);
    expect(res.text).toBe(await expectedPage(filter));
  });
});
