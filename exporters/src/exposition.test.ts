import { spawnSync } from 'node:child_process';
import { decodedText, encodeFamilies, PreparedFamily, type Labels } from './exposition';

const families = [
  {
    name: 'demo_runs_total',
    type: 'counter' as const,
    help: 'Runs.\nSecond line with a \\ backslash.',
    samples: [
      [
        [
          ['client', 'a"b\\c\nd'],
          ['status', 'ok'],
        ],
        3,
      ],
      [
        [
          ['client', 'x'],
          ['status', 'ok'],
        ],
        0.5,
      ],
    ] as const,
  },
  { name: 'demo_age_seconds', type: 'gauge' as const, help: 'Age.', samples: [[[], NaN]] as const },
];

test('both formats escape labels and help, and name counters as each format wants', async () => {
  // One sample line per gzip chunk: the family's members must still read as one text.
  const encoded = await encodeFamilies(families, 1);
  const text = decodedText(encoded, false);
  const openMetrics = decodedText(encoded, true);
  expect(text).toBe(
    '# HELP demo_runs_total Runs.\\nSecond line with a \\\\ backslash.\n# TYPE demo_runs_total counter\n' +
      'demo_runs_total{client="a\\"b\\\\c\\nd",status="ok"} 3\ndemo_runs_total{client="x",status="ok"} 0.5\n' +
      '# HELP demo_age_seconds Age.\n# TYPE demo_age_seconds gauge\ndemo_age_seconds NaN\n',
  );
  expect(openMetrics).toContain('# TYPE demo_runs counter\ndemo_runs_total{client="a\\"b\\\\c\\nd",status="ok"} 3\n');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect({ status: check.status, out: check.stdout + check.stderr }).toEqual({ status: 0, out: '' });
});

test('a counter not named *_total and an invalid name are refused', async () => {
  await expect(encodeFamilies([{ name: 'demo_runs', type: 'counter', help: 'x', samples: [] }])).rejects.toThrow('must end in _total');
  await expect(encodeFamilies([{ name: 'demo-runs', type: 'gauge', help: 'x', samples: [] }])).rejects.toThrow('invalid metric name');
});

test('a prepared family renders the same text as encodeFamilies, with new values at each encoding', async () => {
  const runs = families[0]!;
  const labels: Labels[] = runs.samples.map(([l]) => l);
  const prepared = new PreparedFamily(runs, labels);
  const values = [
    [3, 0.5],
    [4, -Infinity],
  ];
  for (const v of values) {
    const expected = await encodeFamilies([{ ...runs, samples: labels.map((l, i) => [l, v[i]!] as const) }]);
    const encoded = prepared.encode((i) => v[i]!);
    for (const openMetrics of [false, true]) expect(decodedText([encoded], openMetrics)).toBe(decodedText(expected, openMetrics));
  }
  expect(() => new PreparedFamily({ name: 'demo_runs', type: 'counter', help: 'x' }, [])).toThrow('must end in _total');
});
