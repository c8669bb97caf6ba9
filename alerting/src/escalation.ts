import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError, type Logger } from '@ct/lib';
import type { LedgerEntry } from './ledger';
import type { NotifierMetrics } from './metrics';
import { callOutcome, newMarker, ProviderError, type TwilioClient } from './twilio';

/**
 * The escalation of one page (the call-tier alerts of one webhook that newly fire): call the first
 * on-call number; when the call is not answered (no-answer, busy, failed, canceled) call it again,
 * up to NOTIFIER_CALL_ATTEMPTS calls, then the next number, and when nobody answered, text every
 * NOTIFIER_SMS_TO number. An answered call (in-progress, or completed) ends it, and so does the
 * resolution of all its alerts.
 *
 * Outcomes come from Twilio's signed status callbacks to the attempt's own URL; when none arrives
 * within NOTIFIER_CALLBACK_WAIT (or no public URL is configured), from the call resource, polled by
 * its sid. All waiting is measured on the notifier's own clock, from when it placed the call:
 * Twilio's timestamps are never compared with it.
 *
 * Each step is saved before it is taken (the attempt and its marker before the POST, its sid and
 * outcome as they become known), so a restarted notifier resumes the escalation where it was:
 * waiting for a call it had placed, never placing it again.
 */

export interface Step {
  channel: 'call' | 'sms';
  /** One number for a call; every SMS recipient for the final text. */
  to: string[];
}

export interface Attempt {
  step: number;
  marker: string;
  to: string;
  /** Notifier clock, epoch ms, when the attempt was saved (just before the POST). */
  placedAt: number;
  sid?: string;
  /** Last call status known (callback or poll). */
  status?: string;
  outcome?: 'answered' | 'unanswered' | 'not_placed';
}

export interface Escalation {
  id: string;
  /** Ledger keys (fingerprint@startsAt) of the alerts paged. */
  alerts: string[];
  twiml: string;
  /** The text of the final SMS step. */
  text: string;
  steps: Step[];
  step: number;
  attempts: Attempt[];
  state: 'running' | 'answered' | 'texted' | 'resolved' | 'failed';
  resolved: string[];
}

/** The notifier's saved state: its ledger and the escalations under way. */
export interface SavedState {
  version: 1;
  ledger: LedgerEntry[];
  escalations: Escalation[];
}

/** The state file, rewritten whole and atomically (a temporary file renamed over it). */
export class StateFile {
  constructor(private readonly file?: string) {}

  load(): SavedState {
    const empty: SavedState = { version: 1, ledger: [], escalations: [] };
    if (!this.file) return empty;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
      throw new UserError(`cannot read NOTIFIER_STATE_FILE ${this.file}: ${(err as Error).message}`);
    }
    let parsed: Partial<SavedState>;
    try {
      parsed = JSON.parse(text) as Partial<SavedState>;
    } catch {
      throw new UserError(`NOTIFIER_STATE_FILE ${this.file} is not valid JSON`);
    }
    if (parsed.version !== 1 || !Array.isArray(parsed.ledger) || !Array.isArray(parsed.escalations)) {
      throw new UserError(`NOTIFIER_STATE_FILE ${this.file} is not a notifier state file (version 1)`);
    }
    return parsed as SavedState;
  }

  save(state: SavedState): void {
    if (!this.file) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, this.file);
  }
}

export interface EscalatorOptions {
  twilio: TwilioClient;
  metrics: NotifierMetrics;
  logger: Logger;
  callTo: string[];
  smsTo: string[];
  callAttempts: number;
  ringSeconds: number;
  /** {NOTIFIER_PUBLIC_URL}/twilio/status, or undefined: no callbacks, poll only. */
  callbackUrl?: string;
  callbackWaitMs: number;
  pollMs: number;
  outcomeTimeoutMs: number;
  /** Saves the state (called after every change). */
  save(): void;
}

type Wake = () => void;

export class Escalator {
  private readonly escalations = new Map<string, Escalation>();
  private readonly byMarker = new Map<string, { esc: Escalation; attempt: Attempt }>();
  private readonly sleepers = new Map<string, Set<Wake>>();
  private stopped = false;

  constructor(private readonly opts: EscalatorOptions) {}

  /** The escalations still running, to save. */
  running(): Escalation[] {
    return [...this.escalations.values()].filter((e) => e.state === 'running');
  }

  /** The attempt's status callback URL (its marker in the query, which Twilio signs with the rest). */
  statusCallback(marker: string): string | undefined {
    return this.opts.callbackUrl ? `${this.opts.callbackUrl}?attempt=${marker}` : undefined;
  }

  /**
   * Starts the escalation of a page and places its first call; resolves once Twilio accepted it
   * (then the rest runs in the background), rejects with the ProviderError if it could not be placed.
   */
  async start(alerts: string[], twiml: string, text: string): Promise<{ sid: string }> {
    const steps: Step[] = [];
    for (const to of this.opts.callTo) for (let i = 0; i < this.opts.callAttempts; i++) steps.push({ channel: 'call', to: [to] });
    steps.push({ channel: 'sms', to: this.opts.smsTo });
    const esc: Escalation = { id: newMarker(), alerts, twiml, text, steps, step: 0, attempts: [], state: 'running', resolved: [] };
    this.escalations.set(esc.id, esc);
    this.opts.metrics.escalationsActive.inc();
    let attempt: Attempt;
    try {
      attempt = await this.placeCall(esc, true);
    } catch (err) {
      this.forget(esc);
      this.opts.save();
      throw err;
    }
    void this.run(esc);
    return { sid: attempt.sid ?? '' };
  }

  /** Takes up an escalation saved by an earlier process. */
  resume(esc: Escalation): void {
    this.escalations.set(esc.id, esc);
    for (const attempt of esc.attempts) this.byMarker.set(attempt.marker, { esc, attempt });
    this.opts.metrics.escalationsActive.inc();
    this.opts.logger.info({ escalation: esc.id, step: esc.step }, 'resuming an escalation saved before a restart');
    void this.run(esc);
  }

  /** The alerts that resolved: an escalation whose alerts have all resolved stops. */
  resolve(alertKeys: string[]): void {
    for (const esc of this.running()) {
      const mine = alertKeys.filter((k) => esc.alerts.includes(k) && !esc.resolved.includes(k));
      if (mine.length === 0) continue;
      esc.resolved.push(...mine);
      if (esc.resolved.length >= esc.alerts.length) {
        this.finish(esc, 'resolved');
        for (const a of esc.attempts) this.wake(a.marker);
      }
    }
    this.opts.save();
  }

  /**
   * A verified status callback of a call: records its status. False when no attempt has this
   * marker (an escalation already over, or unknown).
   */
  callStatus(marker: string, params: { CallSid?: string; CallStatus?: string }): boolean {
    const found = this.byMarker.get(marker);
    if (!found) return false;
    const { attempt } = found;
    if (params.CallSid && !attempt.sid) attempt.sid = params.CallSid;
    // A later callback may arrive first; a final status is never replaced by a passing one.
    if (params.CallStatus && callOutcome(attempt.status) === 'pending') attempt.status = params.CallStatus;
    this.opts.save();
    this.wake(marker);
    return true;
  }

  /** Stops every escalation loop of this process (on shutdown), leaving their saved state as it is. */
  stop(): void {
    this.stopped = true;
    for (const marker of [...this.sleepers.keys()]) this.wake(marker);
  }

  private finish(esc: Escalation, state: Escalation['state']): void {
    if (esc.state !== 'running') return;
    esc.state = state;
    this.opts.metrics.escalations.inc({ outcome: state });
    this.forget(esc);
    this.opts.logger.info({ escalation: esc.id, outcome: state, attempts: esc.attempts.length }, 'escalation over');
  }

  private forget(esc: Escalation): void {
    if (this.escalations.delete(esc.id)) this.opts.metrics.escalationsActive.dec();
    for (const a of esc.attempts) this.byMarker.delete(a.marker);
  }

  private async run(esc: Escalation): Promise<void> {
    const log = this.opts.logger.child({ escalation: esc.id });
    try {
      while (esc.state === 'running' && !this.stopped) {
        const step = esc.steps[esc.step]!;
        if (step.channel === 'sms') {
          await this.text(esc, step);
          if (!this.stopped) this.finish(esc, 'texted');
          break;
        }
        let attempt = esc.attempts.find((a) => a.step === esc.step && !a.outcome);
        if (!attempt) attempt = await this.placeCall(esc, false);
        else if (!attempt.sid) await this.findPlaced(attempt);
        if (!attempt.outcome) await this.awaitOutcome(esc, attempt);
        if (this.stopped || esc.state !== 'running') break;
        if (attempt.outcome === 'answered') {
          log.info({ to: attempt.to, sid: attempt.sid, status: attempt.status }, 'page answered');
          this.finish(esc, 'answered');
          break;
        }
        if (attempt.outcome === 'unanswered') this.opts.metrics.unanswered.inc({ status: unansweredStatus(attempt.status) });
        const next = esc.steps[esc.step + 1]!;
        const kind = next.channel === 'sms' ? 'sms' : next.to[0] === step.to[0] ? 'retry' : 'next_number';
        log.warn({ to: attempt.to, status: attempt.status ?? 'unknown', next: kind }, 'page not answered: escalating');
        this.opts.metrics.escalationSteps.inc({ step: kind });
        esc.step++;
        this.opts.save();
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'escalation failed');
      this.finish(esc, 'failed');
    } finally {
      this.opts.save();
    }
  }

  /** Saves the attempt, then asks Twilio for the call; a background step that fails is "not placed". */
  private async placeCall(esc: Escalation, first: boolean): Promise<Attempt> {
    const to = esc.steps[esc.step]!.to[0]!;
    const attempt = this.newAttempt(esc, to);
    try {
      const { sid } = await this.opts.twilio.call({
        to,
        twiml: esc.twiml,
        marker: attempt.marker,
        ringSeconds: this.opts.ringSeconds,
        statusCallback: this.statusCallback(attempt.marker),
        findCreated: () => this.sidFromCallbacks(attempt, Math.min(this.opts.callbackWaitMs, 15_000)),
      });
      attempt.sid ??= sid;
      this.opts.metrics.sent.inc({ channel: 'call' });
      this.opts.logger.info({ escalation: esc.id, sid: attempt.sid }, 'provider accepted the call');
    } catch (err) {
      if (first) throw err;
      this.notPlaced(esc, attempt, 'call', err);
    }
    this.opts.save();
    return attempt;
  }

  /** After a restart: an attempt saved without a sid is identified by its callbacks, or counted as not placed. */
  private async findPlaced(attempt: Attempt): Promise<void> {
    const sid = await this.sidFromCallbacks(attempt, Math.max(0, attempt.placedAt + this.opts.callbackWaitMs - Date.now()));
    if (this.stopped) return;
    if (sid) attempt.sid = sid;
    else attempt.outcome = 'not_placed';
    this.opts.save();
  }

  /** The sid a callback bearing this attempt's marker named, within `ms`: null if none came, undefined without callbacks. */
  private async sidFromCallbacks(attempt: Attempt, ms: number): Promise<string | null | undefined> {
    if (!this.opts.callbackUrl) return undefined;
    const deadline = Date.now() + ms;
    while (!attempt.sid && !this.stopped && Date.now() < deadline) await this.sleep(attempt.marker, deadline - Date.now());
    return attempt.sid ?? null;
  }

  /** Waits for the call's final status: callbacks first, then the call resource, on the notifier's own clock. */
  private async awaitOutcome(esc: Escalation, attempt: Attempt): Promise<void> {
    const deadline = attempt.placedAt + this.opts.outcomeTimeoutMs;
    const pollFrom = attempt.placedAt + (this.opts.callbackUrl ? this.opts.callbackWaitMs : 0);
    for (;;) {
      if (this.stopped || esc.state !== 'running') return;
      const outcome = callOutcome(attempt.status);
      if (outcome !== 'pending') {
        attempt.outcome = outcome;
        break;
      }
      const now = Date.now();
      if (now >= deadline) {
        attempt.outcome = 'unanswered';
        break;
      }
      if (now >= pollFrom && attempt.sid) {
        const call = await this.opts.twilio.fetchCall(attempt.sid);
        if (call && callOutcome(attempt.status) === 'pending') attempt.status = call.status;
        if (callOutcome(attempt.status) !== 'pending') continue;
        await this.sleep(attempt.marker, Math.min(this.opts.pollMs, deadline - now));
      } else {
        await this.sleep(attempt.marker, Math.min(Math.max(pollFrom - now, this.opts.pollMs), deadline - now));
      }
    }
    this.opts.save();
  }

  /** The final step: a text to every SMS recipient, each found by its marker if it was sent before a restart. */
  private async text(esc: Escalation, step: Step): Promise<void> {
    for (const to of step.to) {
      if (this.stopped) return;
      let attempt = esc.attempts.find((a) => a.step === esc.step && a.to === to);
      if (attempt?.sid || attempt?.outcome) continue;
      if (attempt) {
        const found = await this.opts.twilio.findMessage(to, attempt.marker);
        if (found) {
          attempt.sid = found;
          this.opts.save();
          continue;
        }
      } else {
        attempt = this.newAttempt(esc, to);
      }
      try {
        const { sid } = await this.opts.twilio.sms({
          to,
          text: esc.text,
          marker: attempt.marker,
          statusCallback: this.statusCallback(attempt.marker),
        });
        attempt.sid = sid;
        this.opts.metrics.sent.inc({ channel: 'sms' });
      } catch (err) {
        this.notPlaced(esc, attempt, 'sms', err);
      }
      this.opts.save();
    }
  }

  /** A new attempt of the current step, saved (with its marker) before anything is sent. */
  private newAttempt(esc: Escalation, to: string): Attempt {
    const attempt: Attempt = { step: esc.step, marker: newMarker(), to, placedAt: Date.now() };
    esc.attempts.push(attempt);
    this.byMarker.set(attempt.marker, { esc, attempt });
    this.opts.save();
    return attempt;
  }

  /** A background step Twilio would not take: counted as failed, and the escalation goes on. */
  private notPlaced(esc: Escalation, attempt: Attempt, channel: 'call' | 'sms', err: unknown): void {
    const e = err instanceof ProviderError ? err : new ProviderError(String(err), 'network', true);
    attempt.outcome = 'not_placed';
    this.opts.metrics.failed.inc({ channel, reason: e.reason });
    this.opts.logger.warn({ escalation: esc.id, channel, reason: e.reason, err: e.message }, 'escalation step could not be sent');
  }

  private sleep(marker: string, ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.sleepers.get(marker) ?? new Set<Wake>();
      this.sleepers.set(marker, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0) this.sleepers.delete(marker);
        resolve();
      };
      // The server keeps the process alive; a pending wait alone must not.
      const timer = setTimeout(wake, Math.max(0, ms)).unref();
      set.add(wake);
    });
  }

  private wake(marker: string): void {
    for (const wake of [...(this.sleepers.get(marker) ?? [])]) wake();
  }
}

/** The status label of an unanswered call: Twilio's, or `unknown` when no outcome could be learnt in time. */
function unansweredStatus(status: string | undefined): string {
  return status === 'busy' || status === 'no-answer' || status === 'failed' || status === 'canceled' ? status : 'unknown';
}
