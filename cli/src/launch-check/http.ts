import http from 'node:http';
import https from 'node:https';
import { errorMessage } from '@ct/lib';

/** What a check got from an HTTP endpoint, or why it got nothing. */
export type Answer = { ok: true; status: number; text: string; json: unknown } | { ok: false; error: string };

/** Why a connection failed, in a few words: ECONNREFUSED, ENOTFOUND, timed out, a TLS error code. */
export function fetchFailure(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer (timed out)';
  return e.code ?? e.cause?.code ?? e.cause?.message ?? errorMessage(err);
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** Certificates trusted besides the system's, for https:// URLs (certificates are verified). */
  ca?: string | string[];
}

/**
 * One HTTP(S) request with a timeout; never throws: an unreachable endpoint is an answer too.
 * Redirects are not followed (a redirect to https is what the plain-http check looks for).
 */
export function request(url: string, o: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve({ ok: false, error: `not a URL: ${url}` });
      return;
    }
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      { method: o.method ?? 'GET', headers: o.headers, timeout: o.timeoutMs ?? 10_000, ...(o.ca ? { ca: o.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ ok: false, error: fetchFailure(err) }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ ok: true, status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'no answer (timed out)' })));
    req.on('error', (err) => resolve({ ok: false, error: fetchFailure(err) }));
    req.end(o.body);
  });
}

/** The origin of a URL without credentials, for messages. */
export const originOf = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
};
