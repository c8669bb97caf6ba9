import { z } from 'zod';
import { withTransaction, writeAudit, type PoolClient } from '@ct/lib';
import { badRequest, conflict, notFound } from '../errors';
import type { ApiRouter } from '../route';
import { cents, clientRef, currency, decodeCursor, encodeCursor, idParams, isoDateTime, page, text } from '../schemas';
import { audit, auditBase, onDuplicate, findClient, type AuditWho, type RouteDeps } from './common';

export const planCode = z.string().regex(/^[a-z0-9-]{2,40}$/, 'must be 2-40 characters of a-z, 0-9 and -');
const invoiceStatus = z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']);

const planJson = (p: Record<string, unknown>) => ({
  id: p.id,
  code: p.code,
  name: p.name,
  monthlyAmountCents: Number(p.monthly_amount_cents),
  currency: p.currency,
  active: p.active,
  createdAt: p.created_at,
});
const subscriptionJson = (s: Record<string, unknown>) => ({
  id: s.id,
  client: s.slug,
  planId: s.plan_id,
  monthlyAmountCents: Number(s.monthly_amount_cents),
  currency: s.currency,
  startedAt: s.started_at,
  canceledAt: s.canceled_at,
});
const invoiceJson = (i: Record<string, unknown>) => ({
  id: i.id,
  client: i.slug,
  number: i.number,
  amountCents: Number(i.amount_cents),
  currency: i.currency,
  status: i.status,
  issuedAt: i.issued_at,
  dueAt: i.due_at,
  paidAt: i.paid_at,
  createdAt: i.created_at,
});

export const createPlanBody = z.strictObject({
  code: planCode,
  name: text(200),
  monthlyAmountCents: cents,
  currency: currency.default('USD'),
});

/** Creates a plan with its audit row, in the caller's transaction (409 when the code is taken). */
export async function createPlan(tx: PoolClient, body: z.output<typeof createPlanBody>, who: AuditWho): Promise<Record<string, unknown>> {
  const { rows } = await tx
    .query('INSERT INTO plans (code, name, monthly_amount_cents, currency) VALUES ($1, $2, $3, $4) RETURNING *', [
      body.code,
      body.name,
      body.monthlyAmountCents,
      body.currency,
    ])
    .catch(onDuplicate(() => conflict(`plan ${body.code} already exists`)));
  await writeAudit(tx, {
    ...who,
    outcome: 'success',
    action: 'plan.create',
    targetType: 'plan',
    targetId: rows[0].id,
    details: { code: body.code },
  });
  return rows[0];
}

/**
 * Subscribes a client to an active plan, in the caller's transaction, with its audit row; the
 * client's plan follows. One active subscription per client (409 otherwise). Returns its id.
 */
export async function createSubscription(
  tx: PoolClient,
  body: { client: string; plan: string; monthlyAmountCents?: number },
  who: AuditWho,
): Promise<string> {
  const client = await findClient(tx, body.client, true);
  const plan = (await tx.query('SELECT * FROM plans WHERE code = $1', [body.plan])).rows[0];
  if (!plan) throw badRequest('body', 'plan', `no plan with code ${body.plan}`);
  if (!plan.active) throw badRequest('body', 'plan', `plan ${body.plan} is not active`);
  const active = await tx.query('SELECT id FROM subscriptions WHERE client_id = $1 AND canceled_at IS NULL', [client.id]);
  if (active.rows.length) throw conflict(`client ${client.slug} already has an active subscription; cancel it first`);
  const { rows } = await tx.query(
    'INSERT INTO subscriptions (client_id, plan_id, monthly_amount_cents, currency) VALUES ($1, $2, $3, $4) RETURNING id',
    [client.id, plan.id, body.monthlyAmountCents ?? plan.monthly_amount_cents, plan.currency],
  );
  await tx.query('UPDATE clients SET plan = $2 WHERE id = $1', [client.id, plan.code]);
  await writeAudit(tx, {
    ...who,
    outcome: 'success',
    action: 'subscription.create',
    targetType: 'subscription',
    targetId: rows[0].id,
    clientId: client.id,
    details: { plan: plan.code },
  });
  return rows[0].id as string;
}

const INVOICE_SELECT = `SELECT i.*, c.slug, i.created_at::text AS cursor_at FROM invoices i JOIN clients c ON c.id = i.client_id`;
const SUB_SELECT = `SELECT s.*, c.slug FROM subscriptions s JOIN clients c ON c.id = s.client_id`;

export function billingRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool } = d;

  // ------------------------------------------------------------------ plans
  r.route({ method: 'get', path: '/plans', summary: 'List plans', access: 'read' }, async () => {
    const { rows } = await pool.query('SELECT * FROM plans ORDER BY code LIMIT 1000');
    return { data: rows.map(planJson) };
  });

  r.route(
    {
      method: 'post',
      path: '/plans',
      summary: 'Create a plan',
      access: 'write',
      status: 201,
      body: createPlanBody,
    },
    async ({ body, req }) => withTransaction(pool, async (tx) => planJson(await createPlan(tx, body, auditBase(req)))),
  );

  r.route(
    {
      method: 'patch',
      path: '/plans/:id',
      summary: "Change a plan's name, price (for new subscriptions) or active flag",
      access: 'write',
      params: idParams,
      body: z
        .strictObject({ name: text(200).optional(), monthlyAmountCents: cents.optional(), active: z.boolean().optional() })
        .refine((b) => Object.keys(b).length > 0, 'give at least one field to change'),
    },
    async ({ params, body, req }) =>
      withTransaction(pool, async (tx) => {
        const { rows } = await tx.query(
          `UPDATE plans SET name = coalesce($2, name), monthly_amount_cents = coalesce($3, monthly_amount_cents), active = coalesce($4, active)
            WHERE id = $1 RETURNING *`,
          [params.id, body.name ?? null, body.monthlyAmountCents ?? null, body.active ?? null],
        );
        if (!rows[0]) throw notFound(`plan ${params.id}`);
        await audit(tx, req, { action: 'plan.update', targetType: 'plan', targetId: params.id, details: { fields: Object.keys(body) } });
        return planJson(rows[0]);
      }),
  );

  // ------------------------------------------------------------------ subscriptions
  r.route(
    {
      method: 'get',
      path: '/subscriptions',
      summary: 'List subscriptions, newest first',
      access: 'read',
      query: z.strictObject({ client: clientRef.optional(), active: z.enum(['true', 'false']).optional() }),
    },
    async ({ query }) => {
      const clientId = query.client ? (await findClient(pool, query.client)).id : null;
      const { rows } = await pool.query(
        `${SUB_SELECT} WHERE ($1::uuid IS NULL OR s.client_id = $1) AND ($2::boolean IS NULL OR (s.canceled_at IS NULL) = $2)
          ORDER BY s.started_at DESC, s.id DESC LIMIT 1000`,
        [clientId, query.active === undefined ? null : query.active === 'true'],
      );
      return { data: rows.map(subscriptionJson) };
    },
  );

  r.route(
    {
      method: 'post',
      path: '/subscriptions',
      summary: 'Subscribe a client to a plan (one active subscription per client)',
      access: 'write',
      status: 201,
      body: z.strictObject({
        client: clientRef,
        plan: planCode,
        monthlyAmountCents: cents.optional().describe("defaults to the plan's price"),
      }),
    },
    async ({ body, req }) =>
      withTransaction(pool, async (tx) => {
        const id = await createSubscription(tx, body, auditBase(req));
        return subscriptionJson((await tx.query(`${SUB_SELECT} WHERE s.id = $1`, [id])).rows[0]);
      }),
  );

  r.route(
    {
      method: 'post',
      path: '/subscriptions/:id/cancel',
      summary: 'Cancel a subscription (repeating it changes nothing)',
      access: 'write',
      params: idParams,
    },
    async ({ params, req }) =>
      withTransaction(pool, async (tx) => {
        const before = (await tx.query(`${SUB_SELECT} WHERE s.id = $1 FOR UPDATE OF s`, [params.id])).rows[0];
        if (!before) throw notFound(`subscription ${params.id}`);
        await tx.query('UPDATE subscriptions SET canceled_at = coalesce(canceled_at, greatest(now(), started_at)) WHERE id = $1', [
          params.id,
        ]);
        await audit(tx, req, {
          action: 'subscription.cancel',
          targetType: 'subscription',
          targetId: params.id,
          clientId: before.client_id,
          details: { alreadyCanceled: before.canceled_at !== null },
        });
        return subscriptionJson((await tx.query(`${SUB_SELECT} WHERE s.id = $1`, [params.id])).rows[0]);
      }),
  );

  r.route(
    { method: 'get', path: '/mrr', summary: 'Monthly recurring revenue by currency, from active subscriptions', access: 'read' },
    async () => {
      const { rows } = await pool.query<{ currency: string; mrr: string; n: string }>(
        `SELECT currency, sum(monthly_amount_cents)::text AS mrr, count(*)::text AS n FROM subscriptions WHERE canceled_at IS NULL GROUP BY currency ORDER BY currency`,
      );
      return { data: rows.map((x) => ({ currency: x.currency, mrrCents: Number(x.mrr), activeSubscriptions: Number(x.n) })) };
    },
  );

  // ------------------------------------------------------------------ invoices
  r.route(
    {
      method: 'get',
      path: '/invoices',
      summary: 'List invoices, newest first, with cursor pagination',
      access: 'read',
      query: z.strictObject({ client: clientRef.optional(), status: invoiceStatus.optional(), ...page }),
    },
    async ({ query }) => {
      const clientId = query.client ? (await findClient(pool, query.client)).id : null;
      const c = decodeCursor(query.cursor, ['string', 'string']);
      const { rows } = await pool.query(
        `${INVOICE_SELECT} WHERE ($1::uuid IS NULL OR i.client_id = $1) AND ($2::text IS NULL OR i.status = $2)
           AND ($3::timestamptz IS NULL OR (i.created_at, i.id) < ($3::timestamptz, $4::uuid))
          ORDER BY i.created_at DESC, i.id DESC LIMIT $5`,
        [clientId, query.status ?? null, c?.[0] ?? null, c?.[1] ?? null, query.limit + 1],
      );
      const data = rows.slice(0, query.limit);
      const last = data[data.length - 1];
      return {
        data: data.map(invoiceJson),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null,
      };
    },
  );

  r.route(
    {
      method: 'post',
      path: '/invoices',
      summary: 'Create an invoice (draft or open)',
      access: 'write',
      status: 201,
      body: z
        .strictObject({
          client: clientRef,
          number: text(64),
          amountCents: cents,
          currency: currency.default('USD'),
          status: z.enum(['draft', 'open']).default('draft'),
          issuedAt: isoDateTime.optional(),
          dueAt: isoDateTime.optional(),
        })
        .refine((b) => !b.dueAt || !b.issuedAt || !(Date.parse(b.dueAt) < Date.parse(b.issuedAt)), {
          path: ['dueAt'],
          message: 'must not be before issuedAt',
        }),
    },
    async ({ body, req }) =>
      withTransaction(pool, async (tx) => {
        const client = await findClient(tx, body.client);
        const issuedAt = body.issuedAt ?? (body.status === 'open' ? new Date().toISOString() : null);
        if (body.dueAt && issuedAt && Date.parse(body.dueAt) < Date.parse(issuedAt))
          throw badRequest('body', 'dueAt', 'must not be before the issue date');
        const { rows } = await tx
          .query(
            'INSERT INTO invoices (client_id, number, amount_cents, currency, status, issued_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
            [client.id, body.number, body.amountCents, body.currency, body.status, issuedAt, body.dueAt ?? null],
          )
          .catch(onDuplicate(() => conflict(`invoice number ${body.number} already exists`)));
        await audit(tx, req, {
          action: 'invoice.create',
          targetType: 'invoice',
          targetId: rows[0].id,
          clientId: client.id,
          details: { number: body.number, amountCents: body.amountCents, currency: body.currency },
        });
        return invoiceJson((await tx.query(`${INVOICE_SELECT} WHERE i.id = $1`, [rows[0].id])).rows[0]);
      }),
  );

  const invoiceTransition = (path: 'pay' | 'void', to: 'paid' | 'void', from: string[], summary: string) =>
    r.route(
      {
        method: 'post',
        path: `/invoices/:id/${path}`,
        summary,
        access: 'write',
        params: idParams,
        body: path === 'pay' ? z.strictObject({ paidAt: isoDateTime.optional() }).optional() : z.strictObject({}).optional(),
      },
      async ({ params, body, req }) =>
        withTransaction(pool, async (tx) => {
          const before = (await tx.query(`${INVOICE_SELECT} WHERE i.id = $1 FOR UPDATE OF i`, [params.id])).rows[0];
          if (!before) throw notFound(`invoice ${params.id}`);
          const changed = before.status !== to;
          if (changed && !from.includes(before.status)) throw conflict(`a ${before.status} invoice cannot become ${to}`);
          if (changed) {
            const paidAt = (body as { paidAt?: string } | undefined)?.paidAt ?? null;
            if (paidAt && before.issued_at && Date.parse(paidAt) < new Date(before.issued_at).getTime()) {
              throw badRequest('body', 'paidAt', 'must not be before the issue date');
            }
            await tx.query(
              `UPDATE invoices SET status = $2, paid_at = CASE WHEN $2 = 'paid' THEN coalesce($3::timestamptz, now()) END,
                 issued_at = CASE WHEN $2 = 'paid' THEN coalesce(issued_at, coalesce($3::timestamptz, now())) ELSE issued_at END WHERE id = $1`,
              [params.id, to, paidAt],
            );
          }
          await audit(tx, req, {
            action: `invoice.${path}`,
            targetType: 'invoice',
            targetId: params.id,
            clientId: before.client_id,
            details: { from: before.status, to, changed },
          });
          return { ...invoiceJson((await tx.query(`${INVOICE_SELECT} WHERE i.id = $1`, [params.id])).rows[0]), changed };
        }),
    );
  invoiceTransition('pay', 'paid', ['open', 'uncollectible', 'draft'], 'Mark an invoice paid (repeating it changes nothing)');
  invoiceTransition('void', 'void', ['draft', 'open', 'uncollectible'], 'Void an invoice (repeating it changes nothing)');
}
