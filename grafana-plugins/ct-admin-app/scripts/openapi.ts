/**
 * Prints the platform API's OpenAPI document without a database or any service: the document is
 * built from the routes' own schemas when the app is created, and creating it connects to nothing.
 *
 *   tsx scripts/openapi.ts write   → src/api/openapi.json (then `npm run api-types`)
 *   tsx scripts/openapi.ts check   → exit 1 when src/api/openapi.json is not the API's current document
 *
 * Run with the repository's tsx (the API's dependencies live in the root workspace).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import path from 'node:path';
import { createApp } from '../../../api/src/app';
import { createLogger, createPool, N8nClient } from '../../../lib/src';

const TARGET = path.resolve(__dirname, '..', 'src', 'api', 'openapi.json');

function currentDocument(): Record<string, unknown> {
  const pool = createPool({ url: 'postgres://nobody@127.0.0.1:1/none', max: 1, applicationName: 'openapi-print' });
  const { openapi } = createApp({
    pool,
    n8n: new N8nClient({ url: 'http://127.0.0.1:1', apiKey: 'unused' }),
    keyring: { currentId: 'k', keys: { k: 'unused-unused-unused-unused-unused' } },
    logger: createLogger({ level: 'silent', format: 'json' }),
    settings: {
      jwtSecret: 'unused-unused-unused-unused-unused',
      accessTtlSeconds: 900,
      refreshTtlSeconds: 86400,
      secretGraceSeconds: 86400,
      stuckThresholdSeconds: 900,
      corsOrigins: [],
      rateLimitPerIp: 1,
      rateLimitPerKey: 1,
      webhookRateLimit: 1,
      trustProxy: false,
    },
  });
  void pool.end();
  return openapi;
}

async function main(mode: string | undefined) {
  const doc = currentDocument();
  if (mode === 'write') {
    // Formatted as the repository's prettier check wants it.
    writeFileSync(TARGET, await format(JSON.stringify(doc), { ...(await resolveConfig(TARGET)), filepath: TARGET }));
    console.log(`wrote ${path.relative(process.cwd(), TARGET)}`);
    return;
  }
  if (mode !== 'check') {
    console.error('usage: tsx scripts/openapi.ts write|check');
    process.exit(2);
  }
  let committed: unknown = null;
  try {
    committed = JSON.parse(readFileSync(TARGET, 'utf8'));
  } catch {
    /* reported below */
  }
  // The same document, whatever the formatting (key order included: the API builds it in order).
  if (JSON.stringify(committed) !== JSON.stringify(doc)) {
    console.error(
      `${path.relative(process.cwd(), TARGET)} is not the API's current OpenAPI document: run "npm run openapi" in the plugin folder and commit the result`
    );
    process.exit(1);
  }
  console.log('src/api/openapi.json matches the API');
}

void main(process.argv[2]);
