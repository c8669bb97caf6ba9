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
import path from 'node:path';
import { createApp } from '../../../api/src/app';
import { createLogger, createPool, N8nClient } from '../../../lib/src';

const TARGET = path.resolve(__dirname, '..', 'src', 'api', 'openapi.json');

function currentDocument(): string {
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
  return JSON.stringify(openapi, null, 2) + '\n';
}

const mode = process.argv[2];
const doc = currentDocument();
if (mode === 'write') {
  writeFileSync(TARGET, doc);
  console.log(`wrote ${path.relative(process.cwd(), TARGET)}`);
} else if (mode === 'check') {
  let committed = '';
  try {
    committed = readFileSync(TARGET, 'utf8');
  } catch {
    /* reported below */
  }
  if (committed !== doc) {
    console.error(
      `${path.relative(process.cwd(), TARGET)} is not the API's current OpenAPI document: run "npm run openapi" in the plugin folder and commit the result`
    );
    process.exit(1);
  }
  console.log('src/api/openapi.json matches the API');
} else {
  console.error('usage: tsx scripts/openapi.ts write|check');
  process.exit(2);
}
