import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createLogger, listen, metricsHandler, safeEqual, type Logger, type RunningServer } from '@ct/lib';
import type { NotifierConfig } from './config';
import { Deduplicator } from './dedupe';
import { smsText, voiceTwiml } from './format';
import { createNotifierMetrics, type Channel, type NotifierMetrics } from './metrics';
import { newMarker, ProviderError, TwilioClient, validTwilioSignature } from './twilio';
import { AlertLedger } from './ledger';
import { Escalator, StateFile } from './escalation';
import { describeIssue, webhookPayload, type WebhookAlert, type WebhookPayload } from './webhook';

/**
 * The notifier: receives Alertmanager webhooks (version 4) and calls or texts through Twilio.
 *
 *   POST /alerts/call   the call tier: for the alerts that newly fire (per alert, by fingerprint),
 *                       a page escalated along the NOTIFIER_CALL_TO list (escalation.ts); each
 *                       resolution a text to each NOTIFIER_CALL_TO number
 *                       (NOTIFIER_CALL_RESOLVED=sms, default), a call, or nothing
 *   POST /alerts/sms    the text tier: an SMS to each NOTIFIER_SMS_TO number, firing and resolved
 *   POST /twilio/status Twilio's status callbacks (X-Twilio-Signature verified; no bearer token)
 *   GET  /metrics, GET /healthz
 *
 * It answers 200 only once Twilio accepted every message, and 502 when any failed after its
 * retries, so Alertmanager tries again later; recipients already served are not messaged again
 * (the call tier remembers each alert it called or resolved; the text tier deduplicates by group
 * key, status, alerts and recipient).
 */

export interface NotifierOptions {
  config: NotifierConfig;
  logger?: Logger;
}

export interface Notifier {
  app: express.Express;
  metrics: NotifierMetrics;
  /** Stops the escalations running in this process (their saved state stays, for the next one). */
  stop(): void;
}

interface Delivery {
  channel: Channel;
  to: string;
  send(): Promise<{ sid: string }>;
  /** Call tier: the ledger claim of the alerts this delivery is about (released if it fails). */
  claim?: { release(): void };
}

export function createNotifier({ config, logger: given }: NotifierOptions): Notifier {
  const logger = given ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name: 'notifier' });
  const metrics = createNotifierMetrics();
  const dedupe = new Deduplicator(config.NOTIFIER_DEDUPE_WINDOW * 1000);
  const stateFile = new StateFile(config.NOTIFIER_STATE_FILE);
  const saved = stateFile.load();
  const save = () => {
    try {
      stateFile.save({ version: 1, ledger: ledger.entries(), escalations: escalator.running() });
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'cannot save the notifier state file');
    }
  };
  const ledger = new AlertLedger({
    recallAfterMs: config.NOTIFIER_RECALL_AFTER * 1000,
    forgetAfterMs: 24 * 3600 * 1000,
    entries: saved.ledger,
    onChange: save,
  });
  const twilio = new TwilioClient({
    baseUrl: config.TWILIO_API_URL,
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    from: config.TWILIO_FROM,
    timeoutMs: config.TWILIO_TIMEOUT * 1000,
    attempts: config.NOTIFIER_PROVIDER_ATTEMPTS,
    backoffMs: config.NOTIFIER_RETRY_BACKOFF * 1000,
    onAttempt: (channel, outcome, seconds) => metrics.providerRequests.observe({ channel, outcome }, seconds),
  });
  const callbackUrl = config.NOTIFIER_PUBLIC_URL ? `${config.NOTIFIER_PUBLIC_URL}/twilio/status` : undefined;
  const escalator = new Escalator({
    twilio,
    metrics,
    logger,
    callTo: config.NOTIFIER_CALL_TO,
    smsTo: config.NOTIFIER_SMS_TO,
    callAttempts: config.NOTIFIER_CALL_ATTEMPTS,
    ringSeconds: config.NOTIFIER_RING_TIMEOUT,
    callbackUrl,
    callbackWaitMs: config.NOTIFIER_CALLBACK_WAIT * 1000,
    pollMs: config.NOTIFIER_POLL_INTERVAL * 1000,
    outcomeTimeoutMs: config.NOTIFIER_OUTCOME_TIMEOUT * 1000,
    save,
  });
  for (const esc of saved.escalations) if (esc.state === 'running') escalator.resume(esc);

  /** An SMS with a marker of its own (found again by it if Twilio's answer is lost). */
  const text = (to: string, body: string) => () => {
    const marker = newMarker();
    return twilio.sms({ to, text: body, marker, statusCallback: escalator.statusCallback(marker) });
  };

  /** The payload narrowed to some of its alerts, as if Alertmanager had sent only those. */
  const only = (payload: WebhookPayload, status: 'firing' | 'resolved', alerts: WebhookAlert[]): WebhookPayload => ({
    ...payload,
    status,
    alerts,
  });

  /**
   * The call tier works per alert, not per group: Alertmanager re-sends a group whenever its alert
   * set changes (an alert joins, one of several resolves), still `firing`. A page goes out only
   * for the alerts that newly fire (or whose page is due again after NOTIFIER_RECALL_AFTER), and
   * escalates along the on-call list until someone answers; each resolution is told once to each
   * on-call number, by SMS unless configured otherwise, and stops an escalation still running.
   */
  const callDeliveries = (payload: WebhookPayload): Delivery[] => {
    const firing = payload.alerts.filter((a) => a.status === 'firing');
    const resolved = payload.alerts.filter((a) => a.status === 'resolved');
    const out: Delivery[] = [];
    if (resolved.length > 0) escalator.resolve(resolved.map((a) => AlertLedger.alertKey(a)));
    const calls = ledger.claim('call', 'on-call', firing);
    if (firing.length > 0 && calls.alerts.length === 0) metrics.deduplicated.inc({ channel: 'call' });
    if (calls.alerts.length > 0) {
      const paged = only(payload, 'firing', calls.alerts);
      const keys = calls.alerts.map((a) => AlertLedger.alertKey(a));
      out.push({
        channel: 'call',
        to: config.NOTIFIER_CALL_TO[0]!,
        send: () => escalator.start(keys, voiceTwiml(paged), smsText(paged)),
        claim: calls,
      });
    }
    for (const to of config.NOTIFIER_CALL_TO) {
      if (config.NOTIFIER_CALL_RESOLVED === 'none') continue;
      const told = ledger.claim('resolved', to, resolved);
      const resolvedChannel = config.NOTIFIER_CALL_RESOLVED === 'call' ? 'call' : 'sms';
      if (resolved.length > 0 && told.alerts.length === 0) metrics.deduplicated.inc({ channel: resolvedChannel });
      if (told.alerts.length === 0) continue;
      const narrowed = only(payload, 'resolved', told.alerts);
      out.push(
        config.NOTIFIER_CALL_RESOLVED === 'call'
          ? {
              channel: 'call',
              to,
              send: () => twilio.call({ to, twiml: voiceTwiml(narrowed), marker: newMarker(), ringSeconds: config.NOTIFIER_RING_TIMEOUT }),
              claim: told,
            }
          : { channel: 'sms', to, send: text(to, smsText(narrowed)), claim: told },
      );
    }
    return out;
  };

  const deliveriesFor = (receiver: 'call' | 'sms', payload: WebhookPayload): Delivery[] => {
    if (receiver === 'call') return callDeliveries(payload);
    return config.NOTIFIER_SMS_TO.map((to) => ({ channel: 'sms', to, send: text(to, smsText(payload)) }));
  };

  const dedupeKey = (payload: WebhookPayload, d: Delivery) => {
    const fingerprints = payload.alerts
      .map((a) => `${a.fingerprint}@${a.startsAt}`)
      .sort()
      .join(',');
    return createHash('sha256').update([d.channel, payload.groupKey, payload.status, fingerprints, d.to].join('\n')).digest('hex');
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', metricsHandler(metrics.registry));

  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!token || !safeEqual(token, config.NOTIFIER_AUTH_TOKEN)) {
      metrics.rejected.inc({ reason: 'unauthorized' });
      res.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'missing or wrong bearer token' });
      return;
    }
    next();
  };

  /**
   * Twilio's status callbacks (form-encoded POST to the StatusCallback URL each attempt gave). The
   * signature covers the URL Twilio called, which is NOTIFIER_PUBLIC_URL's, not the one this
   * process sees behind its TLS proxy; a forged or altered callback is refused and changes nothing.
   */
  app.post('/twilio/status', express.text({ type: () => true, limit: '64kb' }), (req: Request, res: Response) => {
    if (!callbackUrl) {
      res.status(404).json({ error: 'status callbacks are off: NOTIFIER_PUBLIC_URL is not set' });
      return;
    }
    const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    const params = [...new URLSearchParams(typeof req.body === 'string' ? req.body : '')];
    const form = Object.fromEntries(params);
    const kind = form.MessageSid ? 'sms' : 'call';
    if (!validTwilioSignature(config.TWILIO_AUTH_TOKEN, req.get('x-twilio-signature'), callbackUrl + query, params)) {
      metrics.callbacks.inc({ kind, result: 'forged' });
      res.status(403).json({ error: 'X-Twilio-Signature does not match this request' });
      return;
    }
    const marker = new URLSearchParams(query).get('attempt') ?? '';
    if (kind === 'sms') {
      const status = form.MessageStatus ?? '';
      if (status === 'delivered' || status === 'undelivered' || status === 'failed') metrics.smsStatus.inc({ status });
      if (status === 'undelivered' || status === 'failed')
        logger.warn({ sid: form.MessageSid, status, errorCode: form.ErrorCode }, 'text not delivered');
      metrics.callbacks.inc({ kind, result: 'accepted' });
    } else if (!form.CallSid || !form.CallStatus) {
      metrics.callbacks.inc({ kind, result: 'invalid' });
      res.status(400).json({ error: 'a call status callback needs CallSid and CallStatus' });
      return;
    } else {
      const known = escalator.callStatus(marker, { CallSid: form.CallSid, CallStatus: form.CallStatus });
      metrics.callbacks.inc({ kind, result: known ? 'accepted' : 'unknown_attempt' });
    }
    res.status(204).end();
  });

  app.post('/alerts/:receiver', authenticate, express.json({ limit: '1mb' }), async (req: Request, res: Response) => {
    const receiver = req.params.receiver;
    if (receiver !== 'call' && receiver !== 'sms') {
      metrics.rejected.inc({ reason: 'unknown_receiver' });
      res.status(404).json({ error: `unknown receiver ${String(receiver)}; use /alerts/call or /alerts/sms` });
      return;
    }
    const parsed = webhookPayload.safeParse(req.body);
    if (!parsed.success) {
      metrics.rejected.inc({ reason: 'invalid_payload' });
      res.status(400).json({ error: `invalid Alertmanager webhook payload: ${describeIssue(parsed.error)}` });
      return;
    }
    const payload = parsed.data;
    metrics.received.inc({ receiver, status: payload.status });
    const log = logger.child({ receiver, groupKey: payload.groupKey, status: payload.status, alerts: payload.alerts.length });

    const results = await Promise.all(
      deliveriesFor(receiver, payload).map(async (d) => {
        try {
          let sid = '';
          // The call tier's ledger already decided what is news; the text tier dedupes whole webhooks.
          const ran = d.claim
            ? ((sid = (await d.send()).sid), true)
            : await dedupe.once(dedupeKey(payload, d), async () => {
                sid = (await d.send()).sid;
              });
          if (ran) {
            metrics.sent.inc({ channel: d.channel });
            log.info({ channel: d.channel, sid }, 'provider accepted the notification');
          } else {
            metrics.deduplicated.inc({ channel: d.channel });
          }
          return { channel: d.channel, outcome: ran ? 'sent' : 'duplicate', sid };
        } catch (err) {
          d.claim?.release();
          const e = err instanceof ProviderError ? err : new ProviderError(String(err), 'network', true);
          metrics.failed.inc({ channel: d.channel, reason: e.reason });
          log.warn({ channel: d.channel, reason: e.reason, status: e.status, err: e.message }, 'notification failed');
          return { channel: d.channel, outcome: 'failed', reason: e.reason, error: e.message };
        }
      }),
    );
    const failed = results.filter((r) => r.outcome === 'failed');
    // 5xx makes Alertmanager retry; the recipients already served are deduplicated then.
    res.status(failed.length > 0 ? 502 : 200).json({ results });
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // Malformed JSON and other body errors: a clear 400, never a stack trace.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 400) metrics.rejected.inc({ reason: 'invalid_payload' });
    if (status === 500) logger.error({ err: err.message }, 'notifier request failed');
    res.status(status).json({ error: status === 500 ? 'internal error' : `invalid request: ${err.message}` });
  });

  return { app, metrics, stop: () => escalator.stop() };
}

/** Starts the notifier on its configured (or the given) port. */
export async function startNotifier(opts: NotifierOptions & { port?: number }): Promise<RunningServer & Notifier> {
  const notifier = createNotifier(opts);
  const server = await listen(notifier.app, {
    port: opts.port ?? opts.config.NOTIFIER_PORT,
    host: opts.config.NOTIFIER_HOST,
    setting: 'NOTIFIER_PORT',
  });
  return {
    ...server,
    ...notifier,
    close: async (graceMs?: number) => {
      notifier.stop();
      await server.close(graceMs);
    },
  };
}
