import type { ActorType } from '@ct/lib';

export type Scope = 'read' | 'write' | 'admin';

/** Who is calling, once authentication has run. */
export interface Principal {
  /** What the audit log records: user email, api key name + prefix, or the Grafana user. */
  actor: string;
  actorType: ActorType;
  scopes: ReadonlySet<Scope>;
  /** Key id, user id or Grafana user, for rate limiting and logs (never a secret). */
  id: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      id: string;
      principal?: Principal;
    }
  }
}

/** admin implies write, write implies read. */
export function hasScope(p: Principal, needed: Scope): boolean {
  if (p.scopes.has('admin')) return true;
  if (needed === 'read') return p.scopes.has('read') || p.scopes.has('write');
  return p.scopes.has(needed);
}
