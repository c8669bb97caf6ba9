/**
 * The server side of the harness: the part of Grafana an app plugin talks to.
 *
 * - `/a/<id>/…` and `/plugins/<id>`: the app's pages (the harness page, e2e/harness/page.tsx);
 * - `/public/plugins/<id>/…`: the built plugin (dist/), as Grafana serves it;
 * - `GET|POST /api/plugins/<id>/settings`: the app's settings (jsonData; secureJsonData is stored
 *   and never returned, only `secureJsonFields` says which keys are set; changing needs Admin);
 * - `/api/plugin-proxy/<id>/…`: the plugin proxy, from the routes of the plugin's own plugin.json
 *   (see pluginProxy.ts for the Grafana behaviour it follows);
 * - `/d/<uid>`: a placeholder for the admin dashboards the app links to.
 *
 * The signed-in user is the `grafana_session` cookie: one of the users given at start.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import Ajv from 'ajv';
import {
  BadGateway,
  decide,
  loadRoutes,
  outgoing,
  type OrgRole,
  type PluginSettings,
  type ProxyUser,
} from '../grafana/pluginProxy';

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const HARNESS = path.join(ROOT, 'e2e', 'harness', 'dist');
// Grafana serves @grafana/ui's icons under public/build/img/icons.
const ICONS = path.join(path.dirname(require.resolve('@grafana/ui/package.json')), 'dist', 'public', 'img', 'icons');

export interface GrafanaStandIn {
  url: string;
  settings: PluginSettings & { enabled: boolean; pinned: boolean };
  /** Every request the proxy sent upstream: method, url, headers (for tests of the proxy itself). */
  proxied: Array<{ method: string; url: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

export interface StandInOptions {
  port?: number;
  users: ProxyUser[];
  settings: PluginSettings;
  /** Grafana's [dataproxy] send_user_header. */
  sendUserHeader: boolean;
}

// Grafana's UpdatePluginSettingCmd (pkg/services/pluginsintegration/pluginsettings): what the settings POST may carry.
const validateSettingsBody = new Ajv({ allErrors: true }).compile({
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    pinned: { type: 'boolean' },
    jsonData: { type: 'object' },
    secureJsonData: { type: 'object', additionalProperties: { type: 'string' } },
    version: { type: 'string' },
  },
});

const TYPES: Record<string, string> = {
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ttf': 'font/ttf',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.md': 'text/markdown',
};

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

function sendFile(res: ServerResponse, base: string, rel: string) {
  const file = path.join(base, rel);
  if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) {
    return json(res, 404, { message: 'Not found' });
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) {
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  const m = new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(req.headers.cookie ?? '');
  return m ? decodeURIComponent(m[1]!) : undefined;
}

export async function startGrafanaStandIn(o: StandInOptions): Promise<GrafanaStandIn> {
  const pluginJson = JSON.parse(readFileSync(path.join(DIST, 'plugin.json'), 'utf8'));
  const id: string = pluginJson.id;
  const routes = loadRoutes(pluginJson.routes);
  const settings = {
    enabled: true,
    pinned: true,
    jsonData: { ...o.settings.jsonData },
    secureJsonData: { ...o.settings.secureJsonData },
  };
  const proxied: GrafanaStandIn['proxied'] = [];
  const users = new Map(o.users.map((u) => [u.login, u]));

  const page = (user: ProxyUser) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grafana</title></head>
<body class="theme-dark"><div id="root"></div>
<script>window.__grafana_public_path__ = '/public/';
window.harnessBoot = ${JSON.stringify({ user: { login: user.login, orgRole: user.role }, pluginId: id, includes: pluginJson.includes })};</script>
<script src="/harness/harness.js"></script></body></html>`;

  async function proxy(req: IncomingMessage, res: ServerResponse, user: ProxyUser, proxyPath: string, search: string) {
    const decision = decide(routes, req.method ?? 'GET', proxyPath, user.role);
    if (decision.status !== 200) {
      return json(res, decision.status, { message: decision.message });
    }
    let out: ReturnType<typeof outgoing>;
    try {
      out = outgoing(
        decision,
        {
          search,
          headers: req.headers as Record<string, string | undefined>,
          remoteAddress: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
        },
        settings,
        user,
        o.sendUserHeader
      );
    } catch (err) {
      if (err instanceof BadGateway) {
        res.writeHead(502);
        return res.end();
      }
      throw err;
    }
    proxied.push({ method: req.method ?? 'GET', url: out.url, headers: out.headers });
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
    let upstream: Response;
    try {
      upstream = await fetch(out.url, {
        method: req.method,
        headers: out.headers,
        body: body ? new Uint8Array(body) : undefined,
        redirect: 'manual',
      });
    } catch {
      // Grafana's reverse proxy error handler: 502 Bad Gateway, empty body.
      res.writeHead(502);
      return res.end();
    }
    const headers: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!['set-cookie', 'content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k)) {
        headers[k] = v;
      }
    });
    headers['content-security-policy'] = 'sandbox';
    res.writeHead(upstream.status, headers);
    if (upstream.body) {
      // Streamed through, as Grafana's reverse proxy does (exports are not buffered).
      Readable.fromWeb(upstream.body as never).pipe(res);
    } else {
      res.end();
    }
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://harness');
      const p = url.pathname;
      if (p.startsWith('/public/build/img/icons/')) {
        return sendFile(res, ICONS, p.slice('/public/build/img/icons/'.length));
      }
      if (p.startsWith('/harness/')) {
        return sendFile(res, HARNESS, p.slice('/harness/'.length));
      }
      if (p.startsWith(`/public/plugins/${id}/`)) {
        return sendFile(res, DIST, p.slice(`/public/plugins/${id}/`.length));
      }
      const user = users.get(cookie(req, 'grafana_session') ?? '');
      if (!user) {
        return p.startsWith('/api/')
          ? json(res, 401, { message: 'Unauthorized' })
          : (res.writeHead(401), res.end('not signed in'));
      }
      if (p === `/api/plugins/${id}/settings`) {
        if (req.method === 'GET') {
          return json(res, 200, {
            id,
            name: pluginJson.name,
            type: 'app',
            enabled: settings.enabled,
            pinned: settings.pinned,
            jsonData: settings.jsonData,
            secureJsonFields: Object.fromEntries(Object.keys(settings.secureJsonData).map((k) => [k, true])),
            info: pluginJson.info,
            includes: pluginJson.includes,
            module: `public/plugins/${id}/module.js`,
            baseUrl: `public/plugins/${id}`,
          });
        }
        if (req.method === 'POST') {
          if (user.role !== 'Admin') {
            return json(res, 403, { message: 'You do not have permission to update plugin settings' });
          }
          let body: unknown;
          try {
            body = JSON.parse((await readBody(req)).toString('utf8'));
          } catch {
            return json(res, 400, { message: 'bad request data' });
          }
          if (!validateSettingsBody(body)) {
            return json(res, 400, { message: `bad request data: ${JSON.stringify(validateSettingsBody.errors)}` });
          }
          const b = body as {
            enabled?: boolean;
            pinned?: boolean;
            jsonData?: Record<string, unknown>;
            secureJsonData?: Record<string, string>;
          };
          settings.enabled = b.enabled ?? settings.enabled;
          settings.pinned = b.pinned ?? settings.pinned;
          if (b.jsonData) {
            settings.jsonData = b.jsonData;
          }
          // Grafana merges: keys sent replace stored ones, keys not sent are kept.
          Object.assign(settings.secureJsonData, b.secureJsonData ?? {});
          return json(res, 200, { message: 'Plugin settings updated' });
        }
        return json(res, 405, { message: 'method not allowed' });
      }
      const proxyPrefix = `/api/plugin-proxy/${id}`;
      if (p === proxyPrefix || p.startsWith(`${proxyPrefix}/`)) {
        const raw = (req.url ?? '').split('?')[0]!.slice(proxyPrefix.length).replace(/^\//, '');
        return await proxy(req, res, user, raw, url.search);
      }
      if (p.startsWith('/d/')) {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end(
          `<!doctype html><title>Dashboard</title><h1 data-testid="dashboard">Dashboard ${p.slice(3)}${url.search}</h1>`
        );
      }
      if (p.startsWith(`/a/${id}`) || p.startsWith(`/plugins/${id}`)) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(page(user));
      }
      return json(res, 404, { message: 'Not found' });
    } catch (err) {
      if (!res.headersSent) {
        json(res, 500, { message: (err as Error).message });
      } else {
        res.destroy(err as Error);
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    settings,
    proxied,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type { OrgRole };
