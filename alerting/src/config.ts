import { z } from 'zod';
import { durationSeconds, loadConfig, port } from '@ct/lib';

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
  NOTIFIER_CALL_TO: phoneList,
  NOTIFIER_SMS_TO: phoneList,
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
  return loadConfig(['logging'], notifierSchema, env);
}
