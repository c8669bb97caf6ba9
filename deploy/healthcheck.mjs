/* global process, fetch, AbortSignal */
// Healthcheck of the ct-platform containers, whose Node.js image has neither curl nor wget.
//   node deploy/healthcheck.mjs http://127.0.0.1:8080/healthz   exit 0 when the URL answers 2xx
//   node deploy/healthcheck.mjs database                         exit 0 when DATABASE_URL answers SELECT 1
// Anything else, or no answer within 5 seconds, exits 1 with one line saying why (docker inspect
// shows it). The database URL is never printed.
const TIMEOUT_MS = 5000;
const target = process.argv[2];

async function checkUrl(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'manual' });
  if (res.status < 200 || res.status > 299) throw new Error(`${url} answered ${res.status}`);
}

async function checkDatabase() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

try {
  if (target === 'database') await checkDatabase();
  else if (target && /^https?:\/\//.test(target)) await checkUrl(target);
  else throw new Error('usage: healthcheck.mjs <http(s) URL> | database');
  process.exit(0);
} catch (err) {
  process.stdout.write(`unhealthy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
