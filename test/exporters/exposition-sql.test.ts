import {
  ActivityCollector,
  decodedText,
  encodeFamilies,
  encodeRendered,
  epochSeconds,
  formatValue,
  sqlEpochSeconds,
  sqlSampleLine,
  type Family,
  type Labels,
} from '@ct/exporters';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

/**
 * Families whose lines PostgreSQL renders (sqlSampleLine) must be the very bytes the JS renderer
 * (encodeFamilies) writes for the same values: label escaping, number and timestamp formats.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'exposition_sql' });
});
afterAll(() => db.drop());

const META = { name: 'ct_test_samples', type: 'gauge', help: 'Test.' } as const;

/** Both renderings of one family, in both formats. */
async function expectSameFamily(sqlLines: string, samples: (readonly [Labels, number])[]) {
  const fromSql = [await encodeRendered(META, sqlLines)];
  const fromJs = await encodeFamilies([{ ...META, samples } satisfies Family]);
  for (const openMetrics of [true, false]) expect(decodedText(fromSql, openMetrics)).toBe(decodedText(fromJs, openMetrics));
}

test('label values are escaped as the JS renderer escapes them', async () => {
  const values = ['pizza-shop', '', 'a"b', 'back\\slash', 'two\nlines', '\\"\n\\n', 'tab\there', 'café ☕ 日本', "it's", '{},=', '\r\n'];
  const line = sqlSampleLine(
    META.name,
    [
      ['client', '$1::text'],
      ['kind', '$2::text'],
    ],
    '$3::bigint::text',
  );
  for (const v of values) {
    const { rows } = await db.pool.query<{ line: string }>(`SELECT ${line} AS line`, [v, `${v}.x`, 7]);
    await expectSameFamily(rows[0]!.line, [
      [
        [
          ['client', v],
          ['kind', `${v}.x`],
        ],
        7,
      ],
    ]);
  }
  // Without labels, and many lines at once.
  const { rows } = await db.pool.query<{ lines: string }>(
    `SELECT string_agg(${sqlSampleLine(META.name, [], 'g::text')}, '' ORDER BY g) AS lines FROM generate_series(1, 3) g`,
  );
  await expectSameFamily(rows[0]!.lines, [
    [[], 1],
    [[], 2],
    [[], 3],
  ]);
});

test('counters as bigint text are what formatValue writes of the number', async () => {
  const values = ['0', '1', '42', '1000000', '4294967296', String(Number.MAX_SAFE_INTEGER)];
  const { rows } = await db.pool.query<{ v: string }>('SELECT v::bigint::text AS v FROM unnest($1::text[]) v', [values]);
  expect(rows.map((r) => r.v)).toEqual(values.map((v) => formatValue(Number(v))));
});

test('timestamps are what formatValue writes of epochSeconds of the Date the driver parses', async () => {
  const fixed = [
    '1970-01-01 00:00:00+00',
    '2000-01-01 00:00:00+00',
    '2026-12-03 18:00:00.1+00',
    '2026-12-03 18:00:00.120+00',
    '2026-12-03 18:00:00.123+00',
    '2026-12-03 18:00:00.123456+00',
    '2026-12-03 18:00:00.000999+00',
    '2026-12-03 18:00:00.999999+00',
    '2026-12-03 18:00:00.0005+05:30',
    '2026-06-30 23:59:59.9995-07:00',
    '1969-12-31 23:59:59.999500+00',
    '1960-02-29 12:34:56.789012+00',
    '9999-12-31 23:59:59.999999+00',
  ];
  // Every millisecond position and a spread of sub-millisecond ones, at a recent date.
  const spread = Array.from({ length: 2000 }, (_, i) => {
    const us = String((i * 7919 + (i % 3) * 501) % 1_000_000).padStart(6, '0');
    return `2026-12-0${1 + (i % 9)} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:59.${us}+00`;
  });
  const client = await db.pool.connect();
  try {
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      await client.query(`SET TimeZone = '${zone}'`);
      const { rows } = await client.query<{ t: Date; s: string }>(
        `SELECT t, ${sqlEpochSeconds('t')} AS s FROM unnest($1::timestamptz[]) t`,
        [[...fixed, ...spread]],
      );
      expect(rows).toHaveLength(fixed.length + spread.length);
      for (const r of rows) expect([r.t.toISOString(), r.s]).toEqual([r.t.toISOString(), formatValue(epochSeconds(r.t)!)]);
    }
  } finally {
    client.release();
  }
});

test("the activity collector's events and last activity are the JS renderer's lines for the same rows", async () => {
  const { rows: clients } = await db.pool.query<{ id: string; slug: string }>(
    `INSERT INTO clients (slug, name, last_activity_at)
     VALUES ('zz-last', 'Z', '2026-12-03 10:00:00.123456+00'), ('aa-first', 'A', NULL), ('mm-middle', 'M', '2026-11-30 08:00:00+00'),
            ('never', 'N', NULL), ('no-end', 'E', 'infinity'), ('no-start', 'S', '-infinity')
     RETURNING id, slug`,
  );
  const id = Object.fromEntries(clients.map((c) => [c.slug, c.id]));
  await db.pool.query(
    `INSERT INTO activity_events (client_id, kind, occurred_at, idempotency_key)
     SELECT $1::uuid, k, '2026-12-03 11:22:33.987654+00'::timestamptz, $1 || k || g FROM unnest(ARRAY['order.placed', 'lead.captured', 'a_b-c.d']) k, generate_series(1, 3) g
     UNION ALL SELECT $2::uuid, 'lead.captured', '2026-12-01 00:00:00.0009+00'::timestamptz, 'aa-1'`,
    [id['zz-last'], id['aa-first']],
  );
  const activity = new ActivityCollector(db.appPool);
  (await activity.read())();
  const rendered = decodedText(activity.families, false);

  // The reference: the rows as objects, rendered by encodeFamilies in slug (then kind) order.
  const { rows: last } = await db.pool.query<{ slug: string; last_at: Date | null }>(
    `SELECT c.slug, greatest(c.last_activity_at, (SELECT max(last_occurred_at) FROM client_activity_counts k WHERE k.client_id = c.id)) AS last_at
       FROM clients c ORDER BY c.slug COLLATE "C"`,
  );
  const { rows: counts } = await db.pool.query<{ slug: string; kind: string; events: string }>(
    'SELECT c.slug, k.kind, k.events::text FROM client_activity_counts k JOIN clients c ON c.id = k.client_id ORDER BY c.slug COLLATE "C", k.kind COLLATE "C"',
  );
  const reference = decodedText(
    await encodeFamilies([
      {
        name: 'ct_client_last_activity_timestamp_seconds',
        type: 'gauge',
        help: "When the client's last activity event occurred (or the API last recorded activity); absent when it never had any.",
        // The driver gives ±Infinity (not a Date) for ±infinity: no time to show, as for never.
        samples: last.flatMap((r) => {
          const t = epochSeconds(r.last_at);
          return t === null ? [] : [[[['client', r.slug]], t] as const];
        }),
      },
      {
        name: 'ct_client_activity_events_total',
        type: 'counter',
        help: 'Activity events received from the client workflows, by kind.',
        samples: counts.map(
          (r) =>
            [
              [
                ['client', r.slug],
                ['kind', r.kind],
              ],
              Number(r.events),
            ] as const,
        ),
      },
    ]),
    false,
  );
  expect(rendered.startsWith(reference)).toBe(true);
  expect(reference).toContain('ct_client_activity_events_total{client="zz-last",kind="a_b-c.d"} 3\n');
  expect(reference).toContain(`ct_client_last_activity_timestamp_seconds{client="aa-first"} ${Date.UTC(2026, 11, 1) / 1000}\n`);
  for (const none of ['never', 'no-end', 'no-start']) expect(reference).not.toContain(`client="${none}"`);
  // The score, one series per client in slug order.
  expect(rendered.match(/^ct_client_activity_score\{client="[^"]+"\}/gm)).toEqual(
    ['aa-first', 'mm-middle', 'never', 'no-end', 'no-start', 'zz-last'].map((s) => `ct_client_activity_score{client="${s}"}`),
  );
  // Without a time of last activity a client scores 0, as one never active.
  for (const none of ['never', 'no-end', 'no-start']) expect(rendered).toContain(`ct_client_activity_score{client="${none}"} 0\n`);
});
