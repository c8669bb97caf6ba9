/**
 * Grafana's plugin proxy (`/api/plugin-proxy/<plugin id>/<path>`), as Grafana 12 implements it in
 * pkg/api/plugin_proxy.go, pkg/api/pluginproxy/pluginproxy.go and pkg/util/proxyutil, for what
 * this plugin's routes use:
 *
 * - the routes of plugin.json are tried in order; a route whose `method` is set (and not "*") must
 *   equal the request's; its `path` is matched like Grafana's router tree (static segments,
 *   `:name` for one segment, a trailing `*` for the rest, leading/trailing slashes ignored,
 *   segments compared percent-decoded); the FIRST route that matches is used, and when the user's
 *   org role does not include its `reqRole` the answer is 403 "plugin proxy route access denied"
 *   (no later route is tried); no match is 404 "plugin route match not found";
 * - the target is the route's `url` (templated), joined with the `*` part of the path (nothing
 *   when the pattern has no `*`; a trailing slash is dropped); the query string is passed as is;
 * - `{{ .JsonData.x }}` / `{{ .SecureJsonData.x }}` in `url` and `headers` are Go text/template
 *   lookups: a missing key prints "<no value>";
 * - Cookie and Set-Cookie are removed; X-Grafana-User is removed, then set to the user's login when
 *   `[dataproxy] send_user_header` is on; X-Grafana-Context carries the signed-in user; route
 *   headers are set last (they override what the browser sent); Origin, Referer and
 *   X-Forwarded-Host/Port/Proto are removed, X-Grafana-Referer keeps the referer,
 *   X-Forwarded-For gains the client address;
 * - a target that cannot be reached or parsed (e.g. an unset apiUrl) is 502 Bad Gateway;
 * - answers lose Set-Cookie and gain `Content-Security-Policy: sandbox`; an unreachable target is 502.
 *
 * Only what this plugin needs is implemented; anything else in a route (reqAction, regexp
 * segments, body, urlParams, tokenAuth, jwtTokenAuth) is refused when the routes are loaded, so a
 * route Grafana would read differently cannot pass unnoticed.
 */

export type OrgRole = 'Viewer' | 'Editor' | 'Admin';

export interface PluginRoute {
  path: string;
  method?: string;
  reqRole?: string;
  url?: string;
  headers?: Array<{ name: string; content: string }>;
  [other: string]: unknown;
}

export interface PluginSettings {
  jsonData: Record<string, unknown>;
  secureJsonData: Record<string, string>;
}

export interface ProxyUser {
  login: string;
  role: OrgRole;
  isAnonymous?: boolean;
}

const SUPPORTED_KEYS = new Set(['path', 'method', 'reqRole', 'url', 'headers']);
const ROLES: OrgRole[] = ['Viewer', 'Editor', 'Admin'];

/** Checks that every route only uses what this stand-in implements exactly as Grafana does. */
export function loadRoutes(routes: unknown): PluginRoute[] {
  if (!Array.isArray(routes)) {
    throw new Error('plugin.json routes must be an array');
  }
  return routes.map((r: PluginRoute, i) => {
    const extra = Object.keys(r).filter((k) => !SUPPORTED_KEYS.has(k));
    if (extra.length) {
      throw new Error(`route ${i} (${r.path}) uses ${extra.join(', ')}, which this proxy stand-in does not implement`);
    }
    if (r.reqRole !== undefined && !ROLES.includes(r.reqRole as OrgRole)) {
      throw new Error(
        `route ${i} (${r.path}) has reqRole ${r.reqRole}; Grafana ignores roles other than ${ROLES.join(', ')}`
      );
    }
    for (const seg of r.path.replace(/^\/|\/$/g, '').split('/')) {
      if (
        (seg.includes('*') && seg !== '*') ||
        /[()]/.test(seg) ||
        (seg.startsWith(':') && !/^:[A-Za-z0-9]+$/.test(seg))
      ) {
        throw new Error(`route ${i} has path segment ${seg} that this stand-in does not implement`);
      }
    }
    if (r.path.replace(/\/$/, '').split('/').slice(0, -1).includes('*')) {
      throw new Error(`route ${i} has a * before its last segment`);
    }
    return r;
  });
}

/** Grafana's RoleType.Includes. */
export function roleIncludes(user: OrgRole, required: OrgRole): boolean {
  return ROLES.indexOf(user) >= ROLES.indexOf(required);
}

function unescape(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Grafana's web.Tree Match for one pattern: the `*` part when it matched, null when it did not. */
export function matchPath(pattern: string, rawPath: string): { rest: string } | null {
  const pat = pattern.replace(/\/$/, '').replace(/^\//, '').split('/');
  const url = rawPath.replace(/^\//, '').replace(/\/$/, '');
  const segs = url.split('/');
  for (let i = 0; i < pat.length; i++) {
    const p = pat[i]!;
    const last = i === pat.length - 1;
    if (p === '*' && last) {
      // A trailing * matches what is left, which must not be empty (Grafana's leaf needs a segment).
      if (i >= segs.length) {
        return null;
      }
      const rest = unescape(segs.slice(i).join('/'));
      return rest === null ? null : { rest };
    }
    if (i >= segs.length) {
      return null;
    }
    const seg = unescape(segs[i]!);
    if (seg === null) {
      return null;
    }
    if (p.startsWith(':')) {
      if (last && segs.length !== pat.length) {
        return null;
      }
      continue;
    }
    if (p !== seg) {
      return null;
    }
  }
  return segs.length === pat.length ? { rest: '' } : null;
}

/** Go text/template for the two lookups plugin routes use; a missing key prints "<no value>". */
export function interpolate(template: string, settings: PluginSettings): string {
  return template.replace(/\{\{(.*?)\}\}/g, (_all, inner: string) => {
    const m = /^\s*\.(JsonData|SecureJsonData)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(inner);
    if (!m) {
      throw new Error(`could not parse template ${template}`);
    }
    const source = m[1] === 'JsonData' ? settings.jsonData : settings.secureJsonData;
    const v = source[m[2]!];
    return v === undefined || v === null ? '<no value>' : String(v);
  });
}

/** Grafana's util.JoinURLFragments. */
export function joinURLFragments(a: string, b: string): string {
  if (b.length === 0) {
    return a;
  }
  const aslash = a.endsWith('/');
  const bslash = b.startsWith('/');
  if (aslash && bslash) {
    return a + b.slice(1);
  }
  if (!aslash && !bslash) {
    return `${a}/${b}`;
  }
  return a + b;
}

export type RouteDecision =
  | { status: 404; message: 'plugin route match not found' }
  | { status: 403; message: 'plugin proxy route access denied'; route: PluginRoute }
  | { status: 200; route: PluginRoute; rest: string };

/** Which route Grafana uses for a request, and whether the user may use it. */
export function decide(routes: PluginRoute[], method: string, proxyPath: string, role: OrgRole): RouteDecision {
  for (const route of routes) {
    if (route.method && route.method !== '*' && route.method !== method) {
      continue;
    }
    const m = matchPath(route.path, proxyPath);
    if (!m) {
      continue;
    }
    if (route.reqRole && !roleIncludes(role, route.reqRole as OrgRole)) {
      return { status: 403, message: 'plugin proxy route access denied', route };
    }
    return { status: 200, route, rest: m.rest };
  }
  return { status: 404, message: 'plugin route match not found' };
}

/** The upstream request cannot be made: Grafana's proxy answers 502 Bad Gateway. */
export class BadGateway extends Error {}

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
}

/** The request Grafana sends upstream for an allowed route. */
export function outgoing(
  decision: Extract<RouteDecision, { status: 200 }>,
  incoming: { search: string; headers: Record<string, string | undefined>; remoteAddress?: string },
  settings: PluginSettings,
  user: ProxyUser,
  sendUserHeader: boolean
): OutgoingRequest {
  let target: URL;
  try {
    target = new URL(interpolate(decision.route.url ?? '', settings));
  } catch {
    // Go parses "<no value>/api" as a relative URL; the transport then fails: Grafana answers 502.
    throw new BadGateway(`unsupported protocol scheme in ${decision.route.url}`);
  }
  target.pathname = joinURLFragments(target.pathname, decision.rest);
  target.search = incoming.search;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(incoming.headers)) {
    if (v !== undefined) {
      headers[k.toLowerCase()] = v;
    }
  }
  for (const h of [
    'cookie',
    'set-cookie',
    'x-grafana-user',
    'host',
    'connection',
    'content-length',
    'transfer-encoding',
  ]) {
    delete headers[h];
  }
  headers['x-grafana-context'] = JSON.stringify({ login: user.login, orgRole: user.role, orgId: 1 });
  if (sendUserHeader && !user.isAnonymous) {
    headers['x-grafana-user'] = user.login;
  }
  for (const h of decision.route.headers ?? []) {
    headers[h.name.toLowerCase()] = interpolate(h.content, settings);
  }
  headers['x-grafana-referer'] = incoming.headers.referer ?? '';
  for (const h of ['origin', 'referer', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto']) {
    delete headers[h];
  }
  if (incoming.remoteAddress) {
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${incoming.remoteAddress}`
      : incoming.remoteAddress;
  }
  return { url: target.toString(), headers };
}
