import { z } from 'zod';
import { checkout, errorMessage, verifyAndRecordAuditChain, withTransaction, type AuditOutcome } from '@ct/lib';
import { conflict, HttpError } from '../errors';
import { EXPORT_CATALOGUE, MAX_EXPORT_POINTS, streamExport } from '../exports';
import {
  findStuckExecutions,
  readStuckReview,
  restartExecutions,
  signStuckReview,
  type RestartResult,
  type StuckExecution,
} from '../restart-stuck';
import type { ApiRouter } from '../route';
import { clientParams, clientRef, decodeCursor, duration, encodeCursor, isoDateTime, limit, text } from '../schemas';
import { rotateWebhookSecret } from '../secrets';
import { audit, auditBase, findClient, type RouteDeps } from './common';

const executionId = z.string().regex(/^[0-9A-Za-z_-]{1,64}$/, 'must be an n8n execution id');

export function adminRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool, n8n, metrics, settings } = d;
  const counted = (action: string, outcome: string) => metrics.quickActions.inc({ action, outcome });

  // ------------------------------------------------------------------ 1. restart stuck workflows
  const bad = (field: string, message: string) =>
    new HttpError(400, 'validation_failed', `body ${field}: ${message}`, [{ in: 'body', field, message }]);
  r.route(
    {
      method: 'post',
      path: '/executions/restart-stuck',
      summary:
        'List executions running longer than a threshold (dryRun, the default: the list and a review token) or stop and retry the reviewed ones that are still stuck (dryRun false with that token)',
      access: 'admin',
      body: z.strictObject({
        client: clientRef.optional().describe('only this client; all clients when absent'),
        olderThan: duration(30 * 86400)
          .optional()
          .describe('threshold such as 15m; API_STUCK_THRESHOLD by default, at least API_STUCK_MIN_AGE'),
        includeUnmapped: z
          .boolean()
          .default(false)
          .describe('also executions of workflows no automation maps to a client (not with client)'),
        dryRun: z.boolean().default(true),
        executionIds: z
          .array(executionId)
          .min(1)
          .max(100)
          .optional()
          .describe('only these executions (of the reviewed ones, in a real run)'),
        reviewToken: text(8000).optional().describe("the dry run's reviewToken; required when dryRun is false"),
      }),
      responses: {
        409: 'a restart is already running',
        502: 'n8n could not be reached',
        503: 'the audit log could not record the restart beforehand: nothing was stopped or retried',
      },
    },
    async ({ body, req }) => {
      const client = body.client ? await findClient(pool, body.client) : null;
      const minAge = settings.stuckMinAgeSeconds ?? 300;
      if (body.olderThan !== undefined && body.olderThan < minAge)
        throw bad('olderThan', `must be at least ${minAge} seconds (API_STUCK_MIN_AGE): younger executions are ordinary runs`);
      if (client && body.includeUnmapped)
        throw bad('includeUnmapped', 'cannot be combined with client: a client has only mapped workflows');
      let filters = {
        client: client?.slug ?? null,
        clientId: client?.id,
        olderThanSeconds: Math.max(minAge, body.olderThan ?? settings.stuckThresholdSeconds),
        includeUnmapped: body.includeUnmapped,
      };
      let reviewed: Set<string> | null = null;
      if (!body.dryRun) {
        if (!body.reviewToken)
          throw bad('reviewToken', 'is required when dryRun is false: run the dry run, review its list, and pass its reviewToken');
        const review = readStuckReview(settings.jwtSecret, body.reviewToken);
        if ('problem' in review) throw bad('reviewToken', review.problem);
        const differs = (field: string) => bad(field, 'differs from the reviewed dry run: list again with the same filters');
        if (body.client !== undefined && filters.client !== review.client) throw differs('client');
        if (body.olderThan !== undefined && filters.olderThanSeconds !== review.olderThanSeconds) throw differs('olderThan');
        if (body.includeUnmapped && !review.includeUnmapped) throw differs('includeUnmapped');
        const reviewClient = review.client ? await findClient(pool, review.client) : null;
        filters = {
          client: reviewClient?.slug ?? null,
          clientId: reviewClient?.id,
          olderThanSeconds: review.olderThanSeconds,
          includeUnmapped: review.includeUnmapped,
        };
        reviewed = new Set(review.executionIds);
      }
      const listStuck = async () => {
        const stuck = await findStuckExecutions(pool, n8n, filters);
        return stuck.filter(
          (s) => (!body.executionIds || body.executionIds.includes(s.executionId)) && (!reviewed || reviewed.has(s.executionId)),
        );
      };
      if (body.dryRun) {
        const stuck = await listStuck();
        counted('restart_stuck', 'dry_run');
        const review = signStuckReview(settings.jwtSecret, {
          executionIds: stuck.map((s) => s.executionId),
          client: filters.client,
          olderThanSeconds: filters.olderThanSeconds,
          includeUnmapped: filters.includeUnmapped,
        });
        return { dryRun: true, stuck, reviewToken: review.token, reviewExpiresAt: review.expiresAt };
      }
      // n8n cannot share a transaction with the audit log: what is about to be stopped and retried
      // is recorded first, in a transaction of its own, and nothing is touched unless that commits.
      // A "requested" row without a later row of its request_id is a restart that was interrupted.
      const recordRequest = async (stuck: StuckExecution[]) => {
        try {
          await withTransaction(pool, (tx) =>
            audit(tx, req, {
              action: 'workflows.restart_stuck.request',
              targetType: 'n8n_executions',
              targetId: stuck.map((s) => s.executionId).join(','),
              clientId: filters.clientId ?? null,
              outcome: 'requested',
              details: { client: filters.client, includeUnmapped: filters.includeUnmapped, executions: stuck },
            }),
          );
        } catch (err) {
          d.logger.error(
            { reqId: req.id, err: { code: (err as { code?: string }).code, message: errorMessage(err) } },
            'restart-stuck not audited',
          );
          counted('restart_stuck', 'unavailable');
          throw new HttpError(
            503,
            'audit_unavailable',
            'the audit log could not record this restart, so no execution was stopped or retried; retry when the database accepts writes',
            undefined,
            { 'Retry-After': '5' },
          );
        }
      };
      // One restart at a time, across API processes: stopping and retrying takes seconds per
      // execution, and a second click meanwhile would stop and retry the same ones again.
      const lock = await checkout(pool);
      let results: RestartResult[];
      try {
        const { rows } = await lock.client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext('ct.restart_stuck')) AS ok`);
        if (!rows[0]!.ok) {
          counted('restart_stuck', 'already_running');
          throw conflict('stuck executions are being restarted already; list them again when that has finished');
        }
        try {
          const stuck = await listStuck(); // listed under the lock: still stuck
          if (stuck.length > 0) await recordRequest(stuck);
          results = await restartExecutions(n8n, stuck);
        } finally {
          await lock.client.query(`SELECT pg_advisory_unlock(hashtext('ct.restart_stuck'))`).catch(() => undefined);
        }
      } finally {
        lock.done();
      }
      const failed = results.filter((x) => x.result === 'failed').length;
      const outcome: AuditOutcome = failed === 0 ? 'success' : failed === results.length ? 'failure' : 'partial';
      await withTransaction(pool, (tx) =>
        audit(tx, req, {
          action: 'workflows.restart_stuck',
          targetType: 'n8n_executions',
          targetId: filters.client ?? 'all',
          clientId: filters.clientId ?? null,
          outcome,
          details: { reviewed: [...reviewed!], includeUnmapped: filters.includeUnmapped, results },
        }),
      ).catch((err: unknown) => {
        // Done in n8n and named by the request's row: what was done goes to the log too.
        d.logger.error({ reqId: req.id, results, err: { message: errorMessage(err) } }, 'restart-stuck done, its outcome not audited');
        throw err;
      });
      counted('restart_stuck', outcome);
      return { dryRun: false, outcome, results };
    },
  );

  // ------------------------------------------------------------------ 2. rotate a client's secret
  r.route(
    {
      method: 'post',
      path: '/clients/:client/rotate-secret',
      summary: "Rotate a client's webhook secret; the new one is in this answer only, the old one verifies during the grace period",
      access: 'admin',
      params: clientParams,
      body: z
        .strictObject({
          grace: duration(30 * 86400)
            .optional()
            .describe('how long the old secret keeps working; API_SECRET_GRACE by default'),
        })
        .optional(),
    },
    async ({ params, body, req }) => {
      const grace = body?.grace ?? settings.secretGraceSeconds;
      const out = await withTransaction(pool, async (tx) => {
        const client = await findClient(tx, params.client, true);
        if (client.status === 'churned') throw conflict('a churned client has no webhook secret to rotate');
        const rotation = await rotateWebhookSecret(tx, d.keyring, client.id, grace);
        await audit(tx, req, {
          action: 'client.rotate_secret',
          targetType: 'client_secret',
          targetId: `${client.slug}:webhook:v${rotation.version}`,
          clientId: client.id,
          details: { version: rotation.version, previousVersion: rotation.previousVersion, graceSeconds: grace },
        });
        return { client: client.slug, ...rotation };
      });
      d.webhookCache.invalidate(out.client);
      counted('rotate_secret', 'success');
      return out;
    },
  );

  // ------------------------------------------------------------------ 3. force a backup
  r.route(
    {
      method: 'post',
      path: '/backups',
      summary: 'Start a backup now; when one is running, answer that one instead',
      access: 'admin',
      status: 202,
      responses: { 501: 'no backup module is configured in this deployment' },
    },
    async ({ req }) => {
      if (!d.forceBackup) {
        counted('force_backup', 'unavailable');
        throw new HttpError(501, 'not_implemented', 'backups are not configured in this API process: no backup module is wired in');
      }
      let started: Awaited<ReturnType<typeof d.forceBackup>>;
      try {
        started = await d.forceBackup({
          actor: auditBase(req).actor,
          actorType: auditBase(req).actorType,
          requestId: req.id,
        });
      } catch (err) {
        if (err instanceof HttpError) throw err;
        await withTransaction(pool, (tx) =>
          audit(tx, req, {
            action: 'backup.force',
            targetType: 'backup_run',
            outcome: 'failure',
            details: { error: errorMessage(err).slice(0, 500) },
          }),
        ).catch(() => undefined);
        counted('force_backup', 'failure');
        throw new HttpError(502, 'backup_failed', `the backup could not start: ${errorMessage(err)}`);
      }
      // The backup runs from here on: a failure to audit it is not a failure to start it.
      const { run, alreadyRunning } = started;
      await withTransaction(pool, (tx) =>
        audit(tx, req, {
          action: 'backup.force',
          targetType: 'backup_run',
          targetId: String(run.id),
          details: { alreadyRunning },
        }),
      );
      counted('force_backup', alreadyRunning ? 'already_running' : 'success');
      return { alreadyRunning, run };
    },
  );

  // ------------------------------------------------------------------ 4. audit log
  r.route(
    {
      method: 'get',
      path: '/audit',
      summary: 'The audit log, newest first: filter by actor, action, client and time range; cursor pagination',
      access: 'admin',
      query: z
        .strictObject({
          actor: text(200).optional(),
          action: text(100).optional(),
          client: clientRef.optional(),
          from: isoDateTime.optional(),
          to: isoDateTime.optional(),
          limit,
          cursor: text(200).optional(),
        })
        .refine((q) => !q.from || !q.to || !(Date.parse(q.from) > Date.parse(q.to)), { path: ['to'], message: 'must not be before from' }),
    },
    async ({ query }) => {
      const clientId = query.client ? (await findClient(pool, query.client)).id : null;
      const before = decodeCursor(query.cursor, ['string'])?.[0] ?? null;
      if (before !== null && !/^\d{1,19}$/.test(String(before))) throw decodeCursor('!', ['string']);
      const { rows } = await pool.query(
        `SELECT id::text, at, actor, actor_type AS "actorType", action, target_type AS "targetType", target_id AS "targetId",
                client_id AS "clientId", outcome, details, host(source_ip) AS "sourceIp", request_id AS "requestId", hash
           FROM audit_logs
          WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) AND ($3::uuid IS NULL OR client_id = $3)
            AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at <= $5) AND ($6::bigint IS NULL OR id < $6)
          ORDER BY id DESC LIMIT $7`,
        [query.actor ?? null, query.action ?? null, clientId, query.from ?? null, query.to ?? null, before, query.limit + 1],
      );
      const data = rows.slice(0, query.limit);
      return { data, nextCursor: rows.length > query.limit ? encodeCursor([data[data.length - 1]!.id]) : null };
    },
  );

  r.route(
    { method: 'post', path: '/audit/verify', summary: 'Verify the audit hash chain now and record the result', access: 'admin' },
    async ({ req }) => {
      const result = await withTransaction(pool, async (tx) => {
        const v = await verifyAndRecordAuditChain(tx);
        await audit(tx, req, {
          action: 'audit.verify',
          targetType: 'audit_log',
          outcome: v.ok ? 'success' : 'failure',
          details: { rowsChecked: v.rowsChecked, firstBadId: v.firstBadId, reason: v.reason },
        });
        return v;
      });
      counted('audit_verify', result.ok ? 'success' : 'failure');
      return result;
    },
  );

  // ------------------------------------------------------------------ 5. metric exports
  r.route({ method: 'get', path: '/exports', summary: 'The catalogue of metric exports', access: 'admin' }, () => ({
    data: Object.entries(EXPORT_CATALOGUE).map(([name, e]) => ({
      name,
      description: e.description,
      unit: e.unit,
      columns: ['timestamp', ...e.labels, 'value'],
    })),
  }));

  r.route(
    {
      method: 'get',
      path: '/exports/:name',
      summary: 'Stream one export as CSV or JSON over a time range and step, from Prometheus',
      access: 'admin',
      params: z.strictObject({ name: z.enum(Object.keys(EXPORT_CATALOGUE) as [string, ...string[]]) }),
      query: z
        .strictObject({
          from: isoDateTime,
          to: isoDateTime,
          step: duration(86400 * 31).default(3600),
          format: z.enum(['csv', 'json']).default('csv'),
        })
        .superRefine((q, ctx) => {
          const span = (Date.parse(q.to) - Date.parse(q.from)) / 1000;
          if (span < 0) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
          if (q.step < 1) ctx.addIssue({ code: 'custom', path: ['step'], message: 'must be at least 1s' });
          else if (span / q.step > MAX_EXPORT_POINTS)
            ctx.addIssue({ code: 'custom', path: ['step'], message: `too small for this range: at most ${MAX_EXPORT_POINTS} points` });
        }),
      produces: ['text/csv', 'application/json'],
      responses: { 502: 'Prometheus could not be reached', 503: 'no Prometheus is configured' },
    },
    async ({ params, query, req, res }) => {
      if (!settings.prometheusUrl) throw new HttpError(503, 'unavailable', 'exports need PROMETHEUS_URL, which is not set');
      // Recorded once the stream ends, with what was sent (an export changes nothing, so the row
      // follows it rather than sharing a transaction with it).
      const record = (outcome: 'success' | 'failure', details: Record<string, unknown>) =>
        withTransaction(pool, (tx) =>
          audit(tx, req, {
            action: 'metrics.export',
            targetType: 'export',
            targetId: params.name,
            outcome,
            details: { from: query.from, to: query.to, step: query.step, format: query.format, ...details },
          }),
        );
      let rows: number;
      try {
        rows = await streamExport(res, {
          prometheusUrl: settings.prometheusUrl,
          name: params.name,
          from: new Date(query.from),
          to: new Date(query.to),
          stepSeconds: query.step,
          format: query.format,
        });
      } catch (err) {
        counted('export_metrics', 'failure');
        await record('failure', { error: errorMessage(err).slice(0, 300) }).catch(() => undefined);
        throw err;
      }
      counted('export_metrics', 'success');
      await record('success', { rows }).catch(() => undefined);
    },
  );
}
