import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sleep } from '../bench/process';
import { CALL_TO, startPipeline, type Pipeline } from './pipeline';

/**
 * High availability: two Alertmanagers clustered on loopback, Prometheus sending every alert to
 * both. The cluster delivers one notification per group (the second instance waits its peer
 * timeout, then sees in the gossiped notification log that the first one sent); with one
 * instance stopped, the other still delivers.
 */

const PEER_TIMEOUT_S = 3;
const metrics = (o: { dbUp: number; auditValid: number }) => `ct_database_up ${o.dbUp}\nct_audit_chain_valid ${o.auditValid}\n`;

describe('two clustered Alertmanagers', () => {
  let dir: string;
  let p: Pipeline;
  const state = { dbUp: 1, auditValid: 1 };
  const set = (change: Partial<typeof state>) => {
    Object.assign(state, change);
    p.exporters.text = metrics(state);
  };
  /** Webhook deliveries the notifier received from Alertmanager (before its own deduplication). */
  const received = async () => {
    const text = await (await fetch(`${p.notifierUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('ct_notifier_webhooks_received_total{receiver="call",status="firing"} '));
    return line ? Number(line.split(' ')[1]) : 0;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-alerting-ha-'));
    p = await startPipeline(dir, {
      exporterMetrics: metrics(state),
      alertmanagers: 2,
      alertmanagerArgs: [`--cluster.peer-timeout=${PEER_TIMEOUT_S}s`],
    });
    // both see each other before the test starts
    await p.waitFor('a two-member cluster', async () => {
      const peers = await Promise.all(
        p.alertmanagers.map(
          async (am) => ((await (await fetch(`${am.url}/api/v2/status`)).json()) as { cluster: { peers: unknown[] } }).cluster.peers.length,
        ),
      );
      return peers.every((n) => n === 2) ? true : undefined;
    });
  }, 90_000);
  afterAll(async () => {
    await p?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers exactly one notification per group although both instances have the alert', async () => {
    const t0 = Date.now();
    set({ dbUp: 0 });
    const call = await p.waitFor('the call', async () =>
      (await p.twilio()).find((r) => r.kind === 'call' && r.form.Twiml!.includes('database unreachable')),
    );
    process.stdout.write(`[alerting HA] condition → call in ${call.at - t0} ms\n`);
    for (const am of p.alertmanagers) {
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="DatabaseUnreachable"')}`);
      expect(((await res.json()) as unknown[]).length).toBe(1);
    }
    // past the second instance's turn (peer timeout) and a few group intervals
    await sleep((PEER_TIMEOUT_S + 6) * 1000);
    expect((await p.twilio()).filter((r) => r.kind === 'call')).toHaveLength(1);
    expect(call.form.To).toBe(CALL_TO);
    expect(await received()).toBe(1);
  }, 90_000);

  it('still delivers with one instance stopped', async () => {
    await p.alertmanagers[0]!.stop();
    const before = await received();
    const t0 = Date.now();
    set({ auditValid: 0 });
    const call = await p.waitFor('the call through the surviving instance', async () =>
      (await p.twilio()).find((r) => r.kind === 'call' && r.form.Twiml!.includes('Audit log chain is broken')),
    );
    process.stdout.write(`[alerting HA] one instance down: condition → call in ${call.at - t0} ms\n`);
    await sleep(3000);
    expect((await p.twilio()).filter((r) => r.kind === 'call' && r.form.Twiml!.includes('Audit log chain'))).toHaveLength(1);
    expect(await received()).toBe(before + 1);
  }, 90_000);
});
