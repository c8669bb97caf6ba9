import { z } from 'zod';
import { UserError } from './errors';

/**
 * Configuration comes from environment variables only. Each service declares the sections it
 * needs; `loadConfig` validates them all at once and, on failure, names every bad variable so an
 * operator fixes them in one go. Secrets are never echoed back in the message.
 */

export const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
  .refine((v) => URL.canParse(v), 'is not a valid URL');

/** Identifier recorded beside each ciphertext, so keys can be rotated. */
export const keyId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -');

/** Earlier keys still needed to decrypt older data: `id:key,id:key`, parsed to { id: key }. */
export const previousKeys = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const keys: Record<string, string> = {};
    for (const part of v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const i = part.indexOf(':');
      if (i <= 0 || part.length - i - 1 < 32 || !keyId.safeParse(part.slice(0, i)).success) {
        ctx.addIssue({ code: 'custom', message: 'entries must be id:key with a key of at least 32 characters' });
        return z.NEVER;
      }
      keys[part.slice(0, i)] = part.slice(i + 1);
    }
    return keys;
  });

/** A duration such as `30s`, `15m`, `24h`, `7d`, or a plain number of seconds. Parsed to seconds. */
export const durationSeconds = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(v).trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like 30s, 15m, 24h or 7d' });
    return z.NEVER;
  }
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 's'] ?? 1;
  return Number(m[1]) * unit;
});

/**
 * Password of ct_dashboard_reader, the role Grafana reads the platform database with. Printable
 * ASCII, so SCRAM's SASLprep leaves it as it is and the verifier `ct migrate` computes is the one
 * PostgreSQL would; no whitespace, quotes, backslash or `$`, which .env files, docker-compose and
 * Grafana's provisioning would rewrite. The value never appears in a message.
 */
export const dashboardPassword = z
  .string()
  .min(16, 'must be at least 16 characters (generate one with: openssl rand -base64 24)')
  .refine((v) => /^[\x21-\x7e]+$/.test(v) && !/["'`$\\]/.test(v), {
    message: 'must be printable ASCII without spaces, quotes, backslash or $ (generate one with: openssl rand -base64 24)',
  })
  .refine((v) => new Set(v).size >= 8, {
    message: 'is too weak: it repeats a few characters (generate one with: openssl rand -base64 24)',
  });

export const port = z.coerce.number().int().min(0).max(65535);

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const sections = {
  database: z.object({
    DATABASE_URL: postgresUrl,
    /** Upper bound for connecting, so an unreachable database fails fast instead of hanging. */
    DATABASE_CONNECT_TIMEOUT: durationSeconds.default(5),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  }),
  secrets: z.object({
    /** Master key that encrypts client secrets at rest (at least 32 characters). */
    SECRETS_KEY: z.string().min(32, 'must be at least 32 characters'),
    /** Identifier stored beside each ciphertext, so keys can be rotated. */
    SECRETS_KEY_ID: keyId.default('k1'),
    /** Earlier keys still needed to decrypt older secrets: `id:key,id:key`. */
    SECRETS_PREVIOUS_KEYS: previousKeys,
  }),
  n8n: z.object({
    N8N_URL: z.string().url(),
    N8N_API_KEY: z.string().min(1),
    /** Service login used only where n8n's public API lacks a route (stopping an execution in 2.8). */
    N8N_OWNER_EMAIL: z.string().email().optional(),
    N8N_OWNER_PASSWORD: z.string().min(1).optional(),
    N8N_TIMEOUT: durationSeconds.default(10),
  }),
  dashboard: z.object({
    /** Password `ct migrate` sets on ct_dashboard_reader (Grafana's role); unset leaves it as it is. */
    DASHBOARD_DB_PASSWORD: dashboardPassword.optional(),
  }),
  owner: z.object({
    /** The database owner's connection string: `ct migrate` connects with it (else DATABASE_URL); no service needs it. */
    DATABASE_OWNER_URL: postgresUrl.optional(),
    /** Password `ct migrate` sets on ct_app (the services' role, DATABASE_URL); unset leaves it as it is. */
    APP_DB_PASSWORD: dashboardPassword.optional(),
  }),
  logging: z.object({
    LOG_LEVEL: logLevel.default('info'),
    LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  }),
} as const;

export type SectionName = keyof typeof sections;
type SectionsOf<K extends SectionName> = z.infer<(typeof sections)[K]>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
export type ConfigOf<K extends SectionName> = UnionToIntersection<SectionsOf<K>>;

export class ConfigError extends UserError {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}\n` +
        'See .env.example for every variable and its meaning.',
      78, // EX_CONFIG
    );
    this.name = 'ConfigError';
  }
}

/** Validates a zod object against the environment, naming each bad or missing variable. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings count as unset, as in most shells' `VAR=` lines.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  // One line per variable: the first problem found is the one to fix.
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const variable = String(issue.path[0] ?? '(environment)');
    if (problems.has(variable)) continue;
    problems.set(variable, issue.path.length > 0 && !(variable in cleaned) ? 'is required but not set' : issue.message);
  }
  throw new ConfigError([...problems].map(([variable, message]) => ({ variable, message })));
}

/**
 * Loads the shared sections a service names plus its own schema (`extra`), all validated together
 * so one run reports every problem.
 */
export function loadConfig<K extends SectionName, E extends z.ZodRawShape = Record<never, never>>(
  names: readonly K[],
  extra?: z.ZodObject<E>,
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<K> & z.infer<z.ZodObject<E>> {
  let merged: z.ZodObject = z.object({});
  for (const name of names) merged = merged.extend(sections[name].shape);
  if (extra) merged = merged.extend(extra.shape);
  return parseEnv(merged, env) as ConfigOf<K> & z.infer<z.ZodObject<E>>;
}
