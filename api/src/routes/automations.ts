import { z } from 'zod';
import { N8nError, withTransaction, writeAudit, type N8nClient, type Pool } from '@ct/lib';
import { badRequest, notFound } from '../errors';
import type { ApiRouter } from '../route';
import { cents, clientRef, currency, decodeCursor, encodeCursor, idParams, page, text } from '../schemas';
import { setClause } from '../sql';
import { audit, auditBase, onDuplicate, findClient, type AuditWho, type RouteDeps } from './common';

export const workflowId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an n8n workflow id (1-64 characters of A-Z a-z 0-9 _ -)');
export const minutesSaved = z.number().min(0).max(100_000);

interface AutomationRow {
  id: string;
  client_id: string;
  slug: string;
  n8n_workflow_id: string;
  name: string;
  minutes_saved_per_run: string;
  hourly_value_cents: number;
  currency: string;
  enabled: boolean;
  created_at: Date;
  cursor_at: string;
}

const SELECT = `SELECT a.id, a.client_id, c.slug, a.n8n_workflow_id, a.name, a.minutes_saved_per_run, a.hourly_value_cents, a.currency,
  a.enabled, a.created_at, a.created_at::text AS cursor_at FROM automations a JOIN clients c ON c.id = a.client_id`;

const json = (a: AutomationRow) => ({
  id: a.id,
  client: a.slug,
  n8nWorkflowId: a.n8n_workflow_id,
  name: a.name,
  minutesSavedPerRun: Number(a.minutes_saved_per_run),
  hourlyValueCents: a.hourly_value_cents,
  currency: a.currency,
  enabled: a.enabled,
  createdAt: a.created_at,
});

export const createAutomationBody = z.strictObject({
  client: clientRef,
  n8nWorkflowId: workflowId,
  name: text(200).optional().describe("defaults to the workflow's name in n8n"),
  minutesSavedPerRun: minutesSaved,
  hourlyValueCents: cents,
  currency: currency.default('USD'),
});

/**
 * Maps an n8n workflow (checked to exist in n8n) to a client, with its audit row in the same
 * transaction; returns the automation's id. A workflow mapped already is a 400 on n8nWorkflowId.
 * What `POST /api/automations` and `ct client onboard` both run.
 */
export async function createAutomation(
  pool: Pool,
  n8n: N8nClient,
  body: z.output<typeof createAutomationBody>,
  who: AuditWho,
): Promise<string> {
  const workflow = await n8n.getWorkflow(body.n8nWorkflowId).catch((err) => {
    if (err instanceof N8nError && (err.status === 404 || err.status === 400))
      throw badRequest('body', 'n8nWorkflowId', 'no such workflow in n8n');
    throw err;
  });
  return withTransaction(pool, async (tx) => {
    const client = await findClient(tx, body.client);
    const { rows } = await tx
      .query<{ id: string }>(
        `INSERT INTO automations (client_id, n8n_workflow_id, name, minutes_saved_per_run, hourly_value_cents, currency)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [
          client.id,
          body.n8nWorkflowId,
          (body.name ?? workflow.name).slice(0, 200),
          body.minutesSavedPerRun,
          body.hourlyValueCents,
          body.currency,
        ],
      )
      .catch(onDuplicate(() => badRequest('body', 'n8nWorkflowId', 'this workflow is already mapped to a client')));
    const id = rows[0]!.id;
    await writeAudit(tx, {
      ...who,
      outcome: 'success',
      action: 'automation.create',
      targetType: 'automation',
      targetId: id,
      clientId: client.id,
      details: { n8nWorkflowId: body.n8nWorkflowId },
    });
    return id;
  });
}

export function automationRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool, n8n } = d;
  const one = async (db: Pick<typeof pool, 'query'>, id: string) => {
    const { rows } = await db.query<AutomationRow>(`${SELECT} WHERE a.id = $1`, [id]);
    if (!rows[0]) throw notFound(`automation ${id}`);
    return rows[0];
  };

  r.route(
    {
      method: 'get',
      path: '/',
      summary: 'List automations (n8n workflows mapped to clients), newest first',
      access: 'read',
      query: z.strictObject({ client: clientRef.optional(), ...page }),
    },
    async ({ query }) => {
      const clientId = query.client ? (await findClient(pool, query.client)).id : null;
      const c = decodeCursor(query.cursor, ['string', 'string']);
      const { rows } = await pool.query<AutomationRow>(
        `${SELECT} WHERE ($1::uuid IS NULL OR a.client_id = $1) AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::uuid))
          ORDER BY a.created_at DESC, a.id DESC LIMIT $4`,
        [clientId, c?.[0] ?? null, c?.[1] ?? null, query.limit + 1],
      );
      const data = rows.slice(0, query.limit);
      const last = data[data.length - 1];
      return { data: data.map(json), nextCursor: rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null };
    },
  );

  r.route(
    {
      method: 'get',
      path: '/workflows',
      summary: "The client's workflows as n8n reports them, with their mapping",
      access: 'read',
      query: z.strictObject({ client: clientRef }),
    },
    async ({ query }) => {
      const client = await findClient(pool, query.client);
      const { rows } = await pool.query<AutomationRow>(`${SELECT} WHERE a.client_id = $1 ORDER BY a.name`, [client.id]);
      const workflows = new Map((await n8n.listWorkflows()).map((w) => [String(w.id), w]));
      return {
        client: client.slug,
        data: rows.map((a) => {
          const w = workflows.get(a.n8n_workflow_id);
          return {
            automation: json(a),
            n8n: w ? { id: String(w.id), name: w.name, active: w.active, updatedAt: w.updatedAt ?? null } : null,
            missingInN8n: !w,
          };
        }),
      };
    },
  );

  r.route({ method: 'get', path: '/:id', summary: 'One automation', access: 'read', params: idParams }, async ({ params }) =>
    json(await one(pool, params.id)),
  );

  r.route(
    {
      method: 'post',
      path: '/',
      summary: 'Map an n8n workflow to a client, with what each run is worth',
      access: 'write',
      status: 201,
      body: createAutomationBody,
    },
    async ({ body, req }) => json(await one(pool, await createAutomation(pool, n8n, body, auditBase(req)))),
  );

  r.route(
    {
      method: 'patch',
      path: '/:id',
      summary: "Change an automation's name, value per run or enabled flag",
      access: 'write',
      params: idParams,
      body: z
        .strictObject({
          name: text(200).optional(),
          minutesSavedPerRun: minutesSaved.optional(),
          hourlyValueCents: cents.optional(),
          currency: currency.optional(),
          enabled: z.boolean().optional(),
        })
        .refine((b) => Object.keys(b).length > 0, 'give at least one field to change'),
    },
    async ({ params, body, req }) =>
      withTransaction(pool, async (tx) => {
        const before = await one(tx, params.id);
        const cols = {
          name: body.name,
          minutes_saved_per_run: body.minutesSavedPerRun,
          hourly_value_cents: body.hourlyValueCents,
          currency: body.currency,
          enabled: body.enabled,
        };
        const set = setClause(cols);
        await tx.query(`UPDATE automations SET ${set.sql} WHERE id = $1`, [before.id, ...set.values]);
        await audit(tx, req, {
          action: 'automation.update',
          targetType: 'automation',
          targetId: before.id,
          clientId: before.client_id,
          details: { fields: set.columns },
        });
        return json(await one(tx, before.id));
      }),
  );

  r.route(
    { method: 'delete', path: '/:id', summary: 'Remove a mapping (the n8n workflow is untouched)', access: 'write', params: idParams },
    async ({ params, req }) =>
      withTransaction(pool, async (tx) => {
        const before = await one(tx, params.id);
        await tx.query('DELETE FROM automations WHERE id = $1', [before.id]);
        await audit(tx, req, {
          action: 'automation.delete',
          targetType: 'automation',
          targetId: before.id,
          clientId: before.client_id,
          details: { n8nWorkflowId: before.n8n_workflow_id },
        });
        return { deleted: true, id: before.id };
      }),
  );
}
