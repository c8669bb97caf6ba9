import { execFileSync } from 'node:child_process';
import { N8nClient } from '@ct/lib';
import { createCodeWebhookWorkflow } from '../helpers/sleepy-workflow';
import { sleep } from './process';

/**
 * The bench's n8n in queue mode (CT_BENCH_N8N_MODE=queue, `npm run test:queue-mode`): a webhook
 * received by the main instance goes through Bull's queue in Redis and is run by the worker.
 * In the default mode there is no worker and this file has nothing to check.
 */
const queueMode = process.env.CT_BENCH_N8N_MODE === 'queue';
const run = queueMode ? describe : describe.skip;

run('n8n in queue mode on the bench', () => {
  const n8n = new N8nClient({ url: process.env.N8N_URL ?? '', apiKey: process.env.N8N_API_KEY ?? '' });
  /** Executions enqueued so far: Bull's job id counter in Redis. */
  const enqueued = (): number =>
    Number(
      execFileSync(
        'redis-cli',
        [
          '-h',
          process.env.REDIS_HOST!,
          '-p',
          process.env.REDIS_PORT!,
          '--no-auth-warning',
          'GET',
          `${process.env.N8N_QUEUE_BULL_PREFIX}:jobs:id`,
        ],
        { env: { ...process.env, REDISCLI_AUTH: process.env.REDIS_PASSWORD } },
      )
        .toString()
        .trim() || 0,
    );

  it('runs a webhook execution through the Redis queue, on the worker', async () => {
    const wf = await createCodeWebhookWorkflow(n8n, 'queue', 'return [{ json: { ok: true } }];');
    try {
      const before = enqueued();
      const res = await fetch(`${process.env.N8N_URL}/webhook/${wf.path}`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(200);
      let runs = await n8n.listExecutions({ workflowId: wf.id });
      for (let i = 0; i < 150 && !runs.some((e) => e.stoppedAt); i++) {
        await sleep(200);
        runs = await n8n.listExecutions({ workflowId: wf.id });
      }
      expect(runs.map((e) => e.status)).toEqual(['success']);
      expect(enqueued()).toBe(before + 1);
      // The main instance hands every execution to the queue; only the worker takes jobs from it.
      expect((await fetch(`${process.env.N8N_WORKER_URL}/healthz/readiness`)).status).toBe(200);
    } finally {
      await n8n.deactivateWorkflow(wf.id).catch(() => undefined);
      await n8n.deleteWorkflow(wf.id).catch(() => undefined);
    }
  });
});
