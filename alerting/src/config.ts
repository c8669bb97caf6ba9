import { z } from 'zod';
import { ConfigError, durationSeconds, loadConfig, port } from '@ct/lib';

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number such as +14155550100');
const phoneList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(e164).min(1, 'must list at least one phone number'));

/** The notifier's own variables (see .env.example, section "Notifier"). */
export const notifierSchema = z.object({
  NOTIFIER_PORT: port.default(9465),
  NOTIFIER_HOST: z.string().min(1).default('127.0.0.1'),
  /** Bearer token Alertmanager sends (http_config.authorization.credentials_file). */
  NOTIFIER_AUTH_TOKEN: z.string().min(32, 'must be at least 32 characters'),
  TWILIO_API_URL: z.string().url().default('https://api.twilio.com'),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be a Twilio Account SID: AC followed by 32 hex digits'),
  TWILIO_AUTH_TOKEN: z.string().min(1),
  TWILIO_FROM: e164,
  TWILIO_TIMEOUT: durationSeconds.default(10),
  /**
   * The on-call list, in order: a page calls the first number; unanswered (no-answer, busy,
   * failed), it calls again, then the next number, and at the end texts NOTIFIER_SMS_TO.
   */
  NOTIFIER_CALL_TO: phoneList,
  NOTIFIER_SMS_TO: phoneList,
  /** Calls per on-call number before moving to the next (the first included). */
  NOTIFIER_CALL_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(2),
  /** How long a call rings before Twilio gives up with no-answer (Twilio's Timeout, 5s–600s). */
  NOTIFIER_RING_TIMEOUT: durationSeconds.pipe(z.number().min(5, 'must be at least 5s').max(600, 'must be at most 600s')).default(30),
  /**
   * The notifier's address as Twilio reaches it (https, from the internet), for the signed status
   * callbacks at {NOTIFIER_PUBLIC_URL}/twilio/status. Unset: outcomes are learnt by polling Twilio.
   */
  NOTIFIER_PUBLIC_URL: z
    .string()
    .url()
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
  /** How long after placing a call its final status callback is awaited before asking Twilio. */
  NOTIFIER_CALLBACK_WAIT: durationSeconds.default(90),
  /** How often Twilio is asked for a call's status once callbacks are late (or not configured). */
  NOTIFIER_POLL_INTERVAL: durationSeconds.default(10),
  /** A call whose outcome is still unknown this long after it was placed counts as unanswered. */
  NOTIFIER_OUTCOME_TIMEOUT: durationSeconds.default(300),
  /**
   * Where the notifier keeps what it called about and each escalation in progress (a JSON file,
   * rewritten atomically), so a restart neither calls twice nor drops an escalation. Unset: memory only.
   */
  NOTIFIER_STATE_FILE: z.string().min(1).optional(),
  /** What a resolved call-tier alert does: a text (default), another call, or nothing. */
  NOTIFIER_CALL_RESOLVED: z.enum(['sms', 'call', 'none']).default('sms'),
  NOTIFIER_DEDUPE_WINDOW: durationSeconds.default(300),
  /**
   * The call tier calls again for an alert still firing once its last call is this old (the
   * repeat of an unanswered page; Alertmanager repeats the call route every 30m); 0: never.
   */
  NOTIFIER_RECALL_AFTER: durationSeconds.default(1500),
  NOTIFIER_PROVIDER_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  NOTIFIER_RETRY_BACKOFF: durationSeconds.default(0.5),
});

export type NotifierConfig = z.infer<typeof notifierSchema> & { LOG_LEVEL: string; LOG_FORMAT: 'json' | 'pretty' | 'auto' };

export function loadNotifierConfig(env: NodeJS.ProcessEnv = process.env): NotifierConfig {
  const config = loadConfig(['logging'], notifierSchema, env);
  // A call still ringing must not count as unanswered (the next one would ring over it).
  if (config.NOTIFIER_OUTCOME_TIMEOUT <= config.NOTIFIER_RING_TIMEOUT) {
    throw new ConfigError([{ variable: 'NOTIFIER_OUTCOME_TIMEOUT', message: 'must be longer than NOTIFIER_RING_TIMEOUT' }]);
  }
  return config;
}
