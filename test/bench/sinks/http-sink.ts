/**
 * HTTP sink for the bench: records every request it receives (method, path, headers, body) and
 * answers 200, or what a test programmed for a path. It stands in for providers that cannot run
 * here (Twilio, for one) and for any webhook receiver.
 *
 *   GET    /_sink/requests           every recorded request, oldest first
 *   DELETE /_sink/requests           forget them
 *   POST   /_sink/responses          {"path": "/x", "status": 500, "body": {...}, "times": 2,
 *                                      "method": "GET" (only that method), "delayMs": 3000 (answer late)}
 *   DELETE /_sink/responses          back to 200 everywhere
 */
import http from 'node:http';

interface Recorded {
  at: string;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
interface Programmed {
  path: string;
  status: number;
  body?: unknown;
  /** How many requests get this answer before it is used up; absent = forever. */
  times?: number;
  /** Only requests with this method; absent = any. */
  method?: string;
  /** Answer this much later (the request is recorded at once). */
  delayMs?: number;
}

const port = Number(process.argv[2]);
const requests: Recorded[] = [];
let responses: Programmed[] = [];

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://sink');
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(payload ?? {}));
    };
    if (url.pathname === '/_sink/requests') {
      if (req.method === 'DELETE') requests.length = 0;
      return send(200, req.method === 'DELETE' ? {} : requests);
    }
    if (url.pathname === '/_sink/responses') {
      if (req.method === 'DELETE') responses = [];
      else if (req.method === 'POST') responses.push(JSON.parse(body) as Programmed);
      return send(200, responses);
    }
    requests.push({
      at: new Date().toISOString(),
      method: req.method ?? 'GET',
      path: url.pathname + url.search,
      headers: req.headers,
      body,
    });
    const match = responses.find(
      (r) =>
        (r.method === undefined || r.method === req.method) &&
        (url.pathname === r.path || (r.path.endsWith('*') && url.pathname.startsWith(r.path.slice(0, -1)))),
    );
    if (match) {
      if (match.times !== undefined && --match.times <= 0) responses = responses.filter((r) => r !== match);
      if (match.delayMs) return void setTimeout(() => send(match.status, match.body), match.delayMs);
      return send(match.status, match.body);
    }
    return send(200, { ok: true });
  });
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
