/**
 * The growth chart of docs/benchmarks.md: one small panel per measurement against the number of
 * clients (log scale), rendered to SVG by Apache ECharts' server-side renderer (no browser, no
 * canvas).
 */
import * as echarts from 'echarts';
import { exporterOk, thousands, type GrowthRow } from './results';

export interface Series {
  name: string;
  /** One value per row; undefined where the measurement has no figure at that size. */
  values: (number | undefined)[];
}

export interface Panel {
  title: string;
  unit: string;
  /** Where two series share a panel, the lower one first: its figures are written under its points. */
  series: Series[];
  /** Said inside the panel, e.g. the sizes a measurement failed at. */
  note?: string;
}

/** The panels drawn, in order: what each measurement is called in the chart's legends. */
export function growthPanels(rows: GrowthRow[]): Panel[] {
  const ex = rows.map(exporterOk);
  // Sizes that failed alike are named together, the reason on a line of its own.
  const failures = new Map<string, string[]>();
  for (const r of rows)
    if ('error' in r.exporter) failures.set(r.exporter.error, [...(failures.get(r.exporter.error) ?? []), thousands(r.clients)]);
  const exporterNote = failures.size
    ? [...failures].map(([error, sizes]) => `no figure at ${sizes.join(' and ')} clients:\n${error}`).join('\n')
    : undefined;
  return [
    {
      title: 'Exporter scrape',
      unit: 'ms',
      series: [
        { name: 'scrape median', values: ex.map((e) => e?.scrapeMedianMs) },
        { name: 'scrape p99', values: ex.map((e) => e?.scrapeP99Ms) },
      ],
      note: exporterNote,
    },
    {
      title: 'Exporter peak RSS',
      unit: 'MB',
      series: [{ name: 'VmHWM', values: ex.map((e) => e?.peakRssMb) }],
      note: exporterNote,
    },
    {
      title: 'Webhook ingest',
      unit: 'durable events/s',
      series: [{ name: 'events/s at 16 connections', values: rows.map((r) => r.webhookEventsPerSecond) }],
    },
    {
      title: 'GET /api/clients at 200 req/s',
      unit: 'ms',
      series: [
        { name: 'read p50', values: rows.map((r) => r.readP50Ms) },
        { name: 'read p99', values: rows.map((r) => r.readP99Ms) },
      ],
    },
    { title: 'ct backup run', unit: 's', series: [{ name: 'backup wall time', values: rows.map((r) => r.backupSeconds) }] },
    {
      title: 'Database and backup size',
      unit: 'MB',
      series: [
        { name: 'backup object', values: rows.map((r) => r.backupObjectBytes / 1e6) },
        { name: 'database', values: rows.map((r) => r.databaseBytes / 1e6) },
      ],
    },
  ];
}

/** Blue for a panel's lower or only series, orange for the upper one. */
const COLORS = ['#3b6fb6', '#d9622b'];
const COLUMNS = 3;
const PANEL_W = 400;
const PANEL_H = 300;
const HEADER = 44;

/** Short figures for point labels: 3 significant digits, thousands separated. */
function short(v: number): string {
  if (v >= 100) return thousands(v);
  return v >= 10 ? v.toFixed(1) : v.toPrecision(2);
}

/** Axis ticks: no trailing zeros. */
const tick = (v: number) => (Number.isInteger(v) ? thousands(v) : String(Number(v.toPrecision(3))));

/** The SVG document of the chart, `rows` ordered by size. */
export function growthChart(rows: GrowthRow[], opts: { subtitle?: string } = {}): string {
  const sizes = rows.map((r) => r.clients);
  const panels = growthPanels(rows);
  const rowsOfPanels = Math.ceil(panels.length / COLUMNS);
  const width = COLUMNS * PANEL_W;
  const height = HEADER + rowsOfPanels * PANEL_H;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const at = (i: number) => ({ left: (i % COLUMNS) * PANEL_W, top: HEADER + Math.floor(i / COLUMNS) * PANEL_H });
    const min = Math.min(...sizes);
    const max = Math.max(...sizes);
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      textStyle: { fontFamily: 'sans-serif' },
      title: [
        {
          text: 'How cost grows with the agency (clients, log scale)',
          subtext: opts.subtitle ?? '',
          left: 12,
          top: 4,
          textStyle: { fontSize: 15 },
          subtextStyle: { fontSize: 11 },
          itemGap: 4,
        },
        ...panels.map((p, i) => ({
          text: `${p.title} (${p.unit})`,
          left: at(i).left + 16,
          top: at(i).top + 8,
          textStyle: { fontSize: 13, fontWeight: 'bold' },
        })),
        ...panels.flatMap((p, i) =>
          p.note
            ? [
                {
                  text: p.note,
                  left: at(i).left + 226,
                  top: at(i).top + 200,
                  textStyle: { fontSize: 9, fontWeight: 'normal', color: '#b3261e' },
                },
              ]
            : [],
        ),
      ],
      legend: panels.map((p, i) => ({
        data: p.series.map((s) => s.name),
        left: at(i).left + 16,
        top: at(i).top + 30,
        itemWidth: 16,
        itemHeight: 8,
        itemGap: 28,
        textStyle: { fontSize: 11 },
      })),
      grid: panels.map((_, i) => ({
        left: at(i).left + 58,
        top: at(i).top + 62,
        width: PANEL_W - 58 - 28,
        height: PANEL_H - 62 - 40,
      })),
      xAxis: panels.map((_, i) => ({
        type: 'log',
        gridIndex: i,
        // A little room either side, so the first and last points are not on the frame.
        min: min / 1.6,
        max: max * 1.6,
        name: 'clients',
        nameLocation: 'middle',
        nameGap: 22,
        nameTextStyle: { fontSize: 10, color: '#666' },
        axisLabel: { customValues: sizes, formatter: (v: number) => thousands(v), fontSize: 10, hideOverlap: true },
        axisTick: { customValues: sizes },
        splitLine: { show: false },
      })),
      yAxis: panels.map((_, i) => ({
        type: 'value',
        gridIndex: i,
        min: 0,
        axisLabel: { fontSize: 10, formatter: tick },
        splitLine: { lineStyle: { color: '#eee' } },
      })),
      series: panels.flatMap((p, i) => {
        const top = Math.max(0, ...p.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined)));
        return p.series.map((s, k) => {
          // The lower of two series has its figures under its points, unless they sit on the axis.
          const below = p.series.length > 1 && k === 0;
          return {
            type: 'line',
            name: s.name,
            color: COLORS[k % COLORS.length],
            xAxisIndex: i,
            yAxisIndex: i,
            symbolSize: 6,
            connectNulls: false,
            data: sizes.map((size, j) => {
              const v = s.values[j];
              if (v === undefined) return [size, '-'];
              // Above the point when on the axis, if the upper series is well clear of it there.
              const upper = p.series[1]?.values[j];
              const position = !below ? 'top' : v > 0.12 * top ? 'bottom' : upper !== undefined && upper - v > 0.25 * top ? 'top' : 'right';
              return { value: [size, v], label: { position } };
            }),
            label: {
              show: true,
              fontSize: 10,
              formatter: (d: { value: [number, number | string] }) => (typeof d.value[1] === 'number' ? short(d.value[1]) : ''),
            },
          };
        });
      }),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
