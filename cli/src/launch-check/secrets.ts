import { fail, pass, type Outcome } from './types';

/**
 * No default or weak secrets: every secret the platform reads from its environment is long
 * enough, random-looking, not a placeholder of .env.example and not one of the bench's fixed
 * values (which all say "bench" in them).
 */

/** The platform's secrets and the least length of each (documented in .env.example). */
export const SECRET_VARIABLES: Record<string, number> = {
  SECRETS_KEY: 32,
  API_JWT_SECRET: 32,
  API_GRAFANA_PROXY_SECRET: 32,
  BACKUP_MASTER_KEY: 32,
  NOTIFIER_AUTH_TOKEN: 32,
  N8N_ENCRYPTION_KEY: 32,
  N8N_API_KEY: 32,
  GRAFANA_TOKEN: 32,
  TWILIO_AUTH_TOKEN: 32,
  S3_SECRET_ACCESS_KEY: 32,
  DASHBOARD_DB_PASSWORD: 16,
  POSTGRES_PASSWORD: 16,
  N8N_DB_PASSWORD: 16,
  N8N_OWNER_PASSWORD: 16,
  GRAFANA_ADMIN_PASSWORD: 16,
  REDIS_PASSWORD: 16,
};
/** Lists of earlier keys, `id:key,id:key`: each key is checked. */
const KEY_LISTS: Record<string, number> = { SECRETS_PREVIOUS_KEYS: 32, BACKUP_PREVIOUS_MASTER_KEYS: 32 };
/** Connection strings whose password is a secret. */
const URL_PASSWORDS = ['DATABASE_URL', 'BACKUP_DATABASE_URL'];
/** Secrets the platform cannot run safely without. */
const REQUIRED = ['SECRETS_KEY', 'API_JWT_SECRET', 'BACKUP_MASTER_KEY', 'NOTIFIER_AUTH_TOKEN'];
/** Names .env.example documents that look like secrets are checked too (a variable added later). */
const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|_KEY)$/;

/** Words of defaults, examples and fixed test values; a random secret does not contain them. */
const WEAK_MARKERS = [
  'bench',
  'change-me',
  'changeme',
  'change_me',
  'replace',
  'example',
  'placeholder',
  'not-secret',
  'notsecret',
  'secret-for',
  'default',
  'dummy',
  'sample',
  'password',
  'passw0rd',
  'letmein',
  'qwerty',
  'admin',
  'test-',
  '-test',
  '0123456789',
  'abcdef',
  '123456',
];

/** Bits of entropy estimated from the characters' frequencies (Shannon) times the length. */
export function entropyBits(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * value.length;
}

/** `KEY=value` lines of an env file (comments and blanks skipped; quotes taken off). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** Why a secret is weak, or null. Never includes the value. */
export function weakness(value: string, minLength: number, placeholders: Set<string>): string | null {
  if (placeholders.has(value)) return 'is the placeholder of .env.example';
  const lower = value.toLowerCase();
  const marker = WEAK_MARKERS.find((m) => lower.includes(m));
  if (marker) return `contains "${marker}" (a default, example or test value)`;
  if (value.length < minLength) return `is ${value.length} characters long, fewer than ${minLength}`;
  // What a random value of the least length scores (hex keys about 115, 16-character passwords 50-64).
  const need = minLength >= 32 ? 100 : 48;
  const bits = entropyBits(value);
  if (bits < need) return `looks guessable (about ${Math.round(bits)} bits of entropy, want ${need})`;
  return null;
}

export interface SecretsOptions {
  env: NodeJS.ProcessEnv;
  /** The text of .env.example, for its placeholders and its secret names; undefined when absent. */
  envExample?: string;
}

export async function checkSecrets(o: SecretsOptions): Promise<Outcome> {
  const example = o.envExample ? parseEnvFile(o.envExample) : {};
  const placeholders = new Set(Object.values(example).filter((v) => v !== ''));
  for (const u of URL_PASSWORDS) {
    if (example[u]) placeholders.add(decodeURIComponent(new URL(example[u]!).password));
  }
  const lengths: Record<string, number> = { ...SECRET_VARIABLES };
  for (const name of Object.keys(example)) if (SECRET_NAME.test(name) && !(name in lengths)) lengths[name] = 16;

  const problems: string[] = [];
  let checked = 0;
  const judge = (label: string, value: string, min: number) => {
    checked++;
    const why = weakness(value, min, placeholders);
    if (why) problems.push(`${label} ${why}`);
  };
  for (const [name, min] of Object.entries(lengths)) {
    const value = o.env[name];
    if (value) judge(name, value, min);
  }
  for (const [name, min] of Object.entries(KEY_LISTS)) {
    for (const pair of (o.env[name] ?? '').split(',').filter(Boolean)) {
      const i = pair.indexOf(':');
      judge(`${name} (key ${pair.slice(0, Math.max(i, 0))})`, pair.slice(i + 1), min);
    }
  }
  for (const name of URL_PASSWORDS) {
    const value = o.env[name];
    if (!value) continue;
    let password = '';
    try {
      password = decodeURIComponent(new URL(value).password);
    } catch {
      problems.push(`${name} is not a URL`);
      continue;
    }
    if (password) judge(`the password in ${name}`, password, 16);
  }
  const missing = REQUIRED.filter((n) => !o.env[n]);
  for (const n of missing) problems.push(`${n} is not set in this environment`);
  if (problems.length > 0) {
    return fail(
      `${problems.length} weak, default or missing secret(s)`,
      'generate each one anew (openssl rand -base64 48; passwords: openssl rand -base64 24), put it in .env, restart the services that read it ' +
        '(a changed SECRETS_KEY or BACKUP_MASTER_KEY needs its rotation: docs/security.md), and run ct launch-check with that .env loaded',
      problems,
    );
  }
  return pass(`${checked} secret(s) long, random and not defaults`);
}
