import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { UserError, writeAudit, type Pool } from '@ct/lib';
import type { GrafanaClient, GrafanaOrg, GrafanaOrgUser } from './client';
import { orgNameOf, requireAdminUser } from './sync';

/**
 * A client's portal users: Grafana users that are Viewers of the client's organisation and of no
 * other. Grafana holds them (there is no copy in the platform database); `ct client portal-user`
 * adds, removes and lists them, each change audited.
 */

export interface PortalUserOptions {
  pool: Pool;
  grafana: GrafanaClient;
  actor: string;
  clientSlug: string;
}

interface ClientRow {
  id: string;
  slug: string;
  name: string;
  status: string;
}

const email = z.string().trim().toLowerCase().email().max(320);

function parseEmail(value: string): string {
  const r = email.safeParse(value);
  if (!r.success) throw new UserError(`not an email address: ${value}`);
  return r.data;
}

async function clientAndOrg(o: PortalUserOptions): Promise<{ client: ClientRow; org: GrafanaOrg }> {
  requireAdminUser(o.grafana, 'ct client portal-user');
  const { rows } = await o.pool.query<ClientRow>('SELECT id::text, slug, name, status FROM clients WHERE slug = $1', [o.clientSlug]);
  const client = rows[0];
  if (!client) throw new UserError(`no client with slug ${o.clientSlug}`);
  const org = await o.grafana.orgByName(orgNameOf(client.name));
  if (!org)
    throw new UserError(`client ${client.slug} has no Grafana organisation yet (${orgNameOf(client.name)}): run \`ct grafana sync\` first`);
  return { client, org };
}

export interface AddedPortalUser {
  email: string;
  userId: number;
  orgId: number;
  /** Shown once to the operator, who hands it to the client; Grafana keeps only its hash. */
  password: string;
}

/** Creates a Viewer of the client's org with a one-time password. */
export async function addPortalUser(o: PortalUserOptions & { email: string }): Promise<AddedPortalUser> {
  const address = parseEmail(o.email);
  const { client, org } = await clientAndOrg(o);
  if (client.status === 'churned') throw new UserError(`client ${client.slug} has churned: it gets no new portal user`);
  const existing = await o.grafana.lookupUser(address);
  if (existing) {
    const orgs = await o.grafana.userOrgs(existing.id);
    if (orgs.some((x) => x.orgId === org.id)) throw new UserError(`${address} is already a portal user of ${client.slug}`);
    throw new UserError(
      `a Grafana user ${address} already exists (member of ${orgs.map((x) => x.name).join(', ') || 'no organisation'}): ` +
        'a portal user belongs to one client only',
    );
  }
  const password = randomBytes(18).toString('base64url');
  const base = { actor: o.actor, actorType: 'system' as const, clientId: client.id };
  let userId: number;
  try {
    userId = await o.grafana.createUser({ name: address, email: address, login: address, password, orgId: org.id });
  } catch (err) {
    await writeAudit(o.pool, {
      ...base,
      action: 'grafana.portal_user.add',
      targetType: 'grafana_org',
      targetId: String(org.id),
      outcome: 'failure',
      details: { email: address, error: (err as Error).message },
    });
    throw err;
  }
  await writeAudit(o.pool, {
    ...base,
    action: 'grafana.portal_user.add',
    targetType: 'grafana_user',
    targetId: String(userId),
    outcome: 'success',
    details: { email: address, org_id: org.id, role: 'Viewer' },
  });
  // Whatever users.auto_assign_org* say, the user ends up a Viewer of this org and of no other.
  const orgs = await o.grafana.userOrgs(userId);
  for (const other of orgs.filter((x) => x.orgId !== org.id)) {
    await o.grafana.removeOrgUser(other.orgId, userId);
    await writeAudit(o.pool, {
      ...base,
      action: 'grafana.org_user.remove',
      targetType: 'grafana_org',
      targetId: String(other.orgId),
      outcome: 'success',
      details: { user_id: userId, email: address, reason: 'a portal user belongs to its client org only' },
    });
  }
  const mine = orgs.find((x) => x.orgId === org.id);
  if (!mine || mine.role !== 'Viewer') {
    if (mine) await o.grafana.setOrgUserRole(org.id, userId, 'Viewer');
    else await o.grafana.addOrgUser(org.id, address, 'Viewer');
    await writeAudit(o.pool, {
      ...base,
      action: mine ? 'grafana.org_user.role' : 'grafana.org_user.add',
      targetType: 'grafana_org',
      targetId: String(org.id),
      outcome: 'success',
      details: { user_id: userId, email: address, role: 'Viewer', from: mine?.role ?? null },
    });
  }
  return { email: address, userId, orgId: org.id, password };
}

/** Removes a portal user from the client's org, and deletes it from Grafana when it is in no other org. */
export async function removePortalUser(o: PortalUserOptions & { email: string }): Promise<{ deleted: boolean }> {
  const address = parseEmail(o.email);
  const { client, org } = await clientAndOrg(o);
  const user = await o.grafana.lookupUser(address);
  const orgs = user ? await o.grafana.userOrgs(user.id) : [];
  if (!user || !orgs.some((x) => x.orgId === org.id)) throw new UserError(`${address} is not a portal user of ${client.slug}`);
  if (user.login === o.grafana.login || user.isGrafanaAdmin) throw new UserError(`${address} is a Grafana admin, not a portal user`);
  const base = { actor: o.actor, actorType: 'system' as const, clientId: client.id, outcome: 'success' as const };
  await o.grafana.removeOrgUser(org.id, user.id);
  await writeAudit(o.pool, {
    ...base,
    action: 'grafana.portal_user.remove',
    targetType: 'grafana_org',
    targetId: String(org.id),
    details: { user_id: user.id, email: address },
  });
  if (orgs.length > 1) return { deleted: false };
  await o.grafana.deleteUser(user.id);
  await writeAudit(o.pool, {
    ...base,
    action: 'grafana.user.delete',
    targetType: 'grafana_user',
    targetId: String(user.id),
    details: { email: address },
  });
  return { deleted: true };
}

/** The client org's users other than the sync's own admin. */
export async function listPortalUsers(o: PortalUserOptions): Promise<GrafanaOrgUser[]> {
  const { org } = await clientAndOrg(o);
  const users = await o.grafana.orgUsers(org.id);
  return users.filter((u) => u.login !== o.grafana.login).sort((a, b) => a.email.localeCompare(b.email));
}
