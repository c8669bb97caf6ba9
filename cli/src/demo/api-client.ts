import { signWebhook } from '@ct/api';
import { errorMessage } from '@ct/lib';
import type { DemoEvent } from './events';

/**
 * The seed's HTTP client for the platform API: every change goes through the API's routes, so it
 * is validated and audited as an operator's would be. A 429 is waited out (Retry-After) and
 * retried, never dropped.
 */

export class DemoApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'DemoApiError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds of a Retry-After header (delta-seconds or an HTTP date), bounded to 1-60. */
export function retryAfterMs(header: string | null): number {
  const n = Number(header);
  const seconds = Number.isFinite(n) ? n : header ? (Date.parse(header) - Date.now()) / 1000 : NaN;
  return Math.round(Math.min(60, Math.max(1, Number.isFinite(seconds) ? seconds : 1)) * 1000);
}

export class DemoApi {
  /** 429 answers waited out, for the summary and the tests. */
  rateLimited = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly maxWaits = 30,
  ) {}

  private async send(path: string, init: RequestInit): Promise<Response> {
    for (let waits = 0; ; waits++) {
      const res = await fetch(`${this.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
      if (res.status !== 429 || waits >= this.maxWaits) return res;
      this.rateLimited++;
      await res.arrayBuffer();
      await sleep(retryAfterMs(res.headers.get('retry-after')));
    }
  }

  async call<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.send(path, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* reported below */
    }
    if (!res.ok) {
      const message = (json as { message?: string } | null)?.message ?? text.slice(0, 200);
      throw new DemoApiError(`${method} ${path} answered ${res.status}: ${message}`, res.status);
    }
    return json as T;
  }

  /**
   * Posts one signed event as a client workflow would. The event id is the idempotency key: a
   * post retried after a lost answer is stored once ("duplicate" the second time).
   */
  async postEvent(slug: string, secret: string, event: DemoEvent): Promise<'stored' | 'duplicate'> {
    const body = JSON.stringify(event);
    const path = `/api/webhooks/n8n/${slug}`;
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        // Signed at each attempt: the timestamp must stay within the API's 5-minute window.
        const res = await this.send(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': event.id, ...signWebhook(secret, body) },
          body,
        });
        const answer = (await res.json().catch(() => null)) as { status?: string; message?: string } | null;
        if (res.status === 201 || res.status === 200) return answer?.status === 'duplicate' ? 'duplicate' : 'stored';
        last = `answered ${res.status}: ${answer?.message ?? ''}`;
        if (res.status !== 503) break;
      } catch (err) {
        last = errorMessage(err);
      }
      await sleep(500 * (attempt + 1));
    }
    throw new DemoApiError(`POST ${path} (event ${event.id}) ${last}`, 0);
  }
}
