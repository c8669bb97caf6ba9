import { z } from 'zod';
import { withTransaction, writeAudit, type PoolClient, type SecretKeyring } from '@ct/lib';
import { conflict } from '../errors';
import { JsonText, type ApiRouter } from '../route';
import { clientParams, decodeCursor, email, encodeCursor, page, slug, text, timezone } from '../schemas';
import { createWebhookSecret } from '../secrets';
import { setClause } from '../sql';
import {
  audit,
  auditBase,
  onDuplicate,
  CLIENT_COLUMNS,
  CLIENT_JSON_COLUMNS,
  clientJson,
  findClient,
  type AuditWho,
  type ClientRow,
  type RouteDeps,
} from './common';

const status = z.enum(['active', 'paused', 'churned']);
const phone = z.string().regex(/^\+?[0-9 ().-]{3,40}$/, 'must be a phone number such as +1 555 0100');
const plan = z.string().regex(/^[a-z0-9-]{2,40}$/, 'must be a plan code (2-40 characters of a-z, 0-9 and -)');

export const createClientBody = z.strictObject({
  slug,
  name: text(200),
  plan: plan.optional(),
  contactEmail: email.optional(),
  contactPhone: phone.optional(),
  timezone: timezone.default('UTC'),
});
const updateBody = z
  .strictObject({
    name: text(200).optional(),
    plan: plan.nullable().optional(),
    contactEmail: email.nullable().optional(),
    contactPhone: phone.nullable().optional(),
    timezone: timezone.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');

export type NewClient = z.output<typeof createClientBody>;

/**
 * Creates a client and version 1 of its webhook secret in the caller's transaction, with its
 * audit row; returns the row and the secret in clear (shown once). What `POST /api/clients` and
 * `ct client onboard` both run. A taken slug is a 409.
 */
export async function createClient(
  tx: PoolClient,
  keyring: SecretKeyring,
  body: NewClient,
  who: AuditWho,
): Promise<{ client: ClientRow; webhookSecret: string }> {
  const { rows } = await tx
    .query<ClientRow>(
      `INSERT INTO clients (slug, name, plan, contact_email, contact_phone, timezone) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${CLIENT_COLUMNS}`,
      [body.slug, body.name, body.plan ?? null, body.contactEmail ?? null, body.contactPhone ?? null, body.timezone],
    )
    .catch(onDuplicate(() => conflict(`a client with slug ${body.slug} already exists`)));
  const client = rows[0]!;
  const webhookSecret = await createWebhookSecret(tx, keyring, client.id);
  await writeAudit(tx, {
    ...who,
    outcome: 'success',
    action: 'client.create',
    targetType: 'client',
    targetId: client.id,
    clientId: client.id,
    details: { slug: client.slug },
  });
  return { client, webhookSecret };
}

export function clientRoutes(r: ApiRouter, d: RouteDeps): void {
  const { pool, keyring } = d;

  r.route(
    {
      method: 'get',
      path: '/',
      summary: 'List clients by slug, with filters and cursor pagination',
      access: 'read',
      query: z.strictObject({ status: status.optional(), q: text(200).optional().describe('substring of the name or slug'), ...page }),
    },
    async ({ query }) => {
      const after = decodeCursor(query.cursor, ['string'])?.[0] ?? null;
      // The page is serialised by PostgreSQL: the API's most frequent read allocated ~150 KB per
      // request as row objects, Dates and JSON, and the collections of that garbage were its slowest answers.
      const { rows } = await pool.query<{ data: string; last: string | null }>({
        // Named (prepared once per connection): planning it cost PostgreSQL more than running it.
        name: 'ct-clients-page',
        text: `WITH hits AS (
            SELECT ${CLIENT_JSON_COLUMNS} FROM clients
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0 OR strpos(slug, lower($2)) > 0)
               AND ($3::text IS NULL OR slug > $3)
             ORDER BY slug LIMIT $4::int + 1),
          page AS (SELECT * FROM hits ORDER BY slug LIMIT $4::int)
          SELECT (SELECT coalesce(array_to_json(array_agg(page ORDER BY slug)), '[]')::text FROM page) AS data,
                 CASE WHEN (SELECT count(*) FROM hits) > $4::int THEN (SELECT max(slug) FROM page) END AS last`,
        values: [query.status ?? null, query.q ?? null, after, query.limit],
      });
      const { data, last } = rows[0]!;
      return new JsonText(`{"data":${data},"nextCursor":${last === null ? 'null' : JSON.stringify(encodeCursor([last]))}}`);
    },
  );

  r.route(
    {
      method: 'post',
      path: '/',
      summary: 'Create a client and its webhook secret (shown once)',
      access: 'write',
      status: 201,
      body: createClientBody,
    },
    async ({ body, req }) => {
      const created = await withTransaction(pool, async (tx) => {
        const { client, webhookSecret } = await createClient(tx, keyring, body, auditBase(req));
        return { client: clientJson(client), webhookSecret, webhookUrl: `/api/webhooks/n8n/${client.slug}` };
      });
      // Only once committed: a webhook arriving before would cache the old state again.
      d.webhookCache.invalidate(created.client.slug);
      return created;
    },
  );

  r.route(
    { method: 'get', path: '/:client', summary: 'One client, by slug or id', access: 'read', params: clientParams },
    async ({ params }) => clientJson(await findClient(pool, params.client)),
  );

  r.route(
    { method: 'patch', path: '/:client', summary: "Update a client's details", access: 'write', params: clientParams, body: updateBody },
    async ({ params, body, req }) =>
      withTransaction(pool, async (tx) => {
        const before = await findClient(tx, params.client, true);
        const cols: Record<string, unknown> = {
          name: body.name,
          plan: body.plan,
          contact_email: body.contactEmail,
          contact_phone: body.contactPhone,
          timezone: body.timezone,
        };
        const set = setClause(cols);
        const { rows } = await tx.query<ClientRow>(`UPDATE clients SET ${set.sql} WHERE id = $1 RETURNING ${CLIENT_COLUMNS}`, [
          before.id,
          ...set.values,
        ]);
        await audit(tx, req, {
          action: 'client.update',
          targetType: 'client',
          targetId: before.id,
          clientId: before.id,
          details: { fields: set.columns },
        });
        return clientJson(rows[0]!);
      }),
  );

  const transition = (path: string, to: ClientRow['status'], from: ClientRow['status'][], summary: string) =>
    r.route({ method: 'post', path: `/:client/${path}`, summary, access: 'write', params: clientParams }, async ({ params, req }) => {
      const moved = await withTransaction(pool, async (tx) => {
        const before = await findClient(tx, params.client, true);
        if (before.status !== to && !from.includes(before.status)) throw conflict(`a ${before.status} client cannot be moved to ${to}`);
        const changed = before.status !== to;
        const { rows } = await tx.query<ClientRow>(`UPDATE clients SET status = $2 WHERE id = $1 RETURNING ${CLIENT_COLUMNS}`, [
          before.id,
          to,
        ]);
        await audit(tx, req, {
          action: `client.${path}`,
          targetType: 'client',
          targetId: before.id,
          clientId: before.id,
          details: { from: before.status, to, changed },
        });
        return { ...clientJson(rows[0]!), changed };
      });
      // Only once committed: a webhook arriving before would cache the old status again.
      d.webhookCache.invalidate(moved.slug);
      return moved;
    });
  transition('pause', 'paused', ['active'], 'Pause a client (repeating it changes nothing)');
  transition('resume', 'active', ['paused'], 'Resume a paused client');
  transition('churn', 'churned', ['active', 'paused'], 'Mark a client as churned: its webhooks stop being accepted');
}
