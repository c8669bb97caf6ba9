import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths whose values are replaced before a line is written. Services log objects, not request
 * bodies; this is the safety net for the day someone logs a config or a header map.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["x-n8n-api-key"]',
  'headers["x-api-key"]',
  'headers["x-ct-signature"]',
  'headers["x-ct-proxy-secret"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-ct-proxy-secret"]',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'SECRETS_KEY',
  '*.SECRETS_KEY',
];

export interface LoggerOptions {
  level?: string;
  /** `pretty` for a terminal, `json` for production; `auto` picks pretty on a TTY. */
  format?: 'json' | 'pretty' | 'auto';
  name?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && !opts.destination && process.stdout.isTTY === true);
  const base = {
    level: opts.level ?? 'info',
    name: opts.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return opts.destination ? pino(base, opts.destination as pino.DestinationStream) : pino(base);
}

/** Removes the password from a connection string so it can be shown or logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
