import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@ct/lib';
import { N8nError } from '@ct/lib';

export interface FieldProblem {
  /** Where the field is: path parameter, query string, body or header. */
  in: 'path' | 'query' | 'body' | 'header';
  field: string;
  message: string;
}

/** An error that becomes exactly this HTTP answer; anything else is a 500 (or 503 for the database). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldProblem[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (where: FieldProblem['in'], field: string, message: string) =>
  new HttpError(400, 'validation_failed', `${field}: ${message}`, [{ in: where, field, message }]);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);

/** PostgreSQL error classes that mean "the database is unavailable", not "your input is wrong". */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', '40001', '40P01']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && (UNAVAILABLE_CODES.has(e.code) || NETWORK_CODES.has(e.code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|not queryable/i.test(
    e.message ?? '',
  );
}

/** Maps a PostgreSQL error about the data to a 4xx; null when it is not one. */
function fromPgDataError(err: { code?: string; constraint?: string; detail?: string }): HttpError | null {
  const code = err.code;
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) return null;
  if (code === '23505') return new HttpError(409, 'conflict', `already exists${err.constraint ? ` (${err.constraint})` : ''}`);
  if (code === '23503')
    return new HttpError(409, 'conflict', `still referenced or refers to a missing row${err.constraint ? ` (${err.constraint})` : ''}`);
  if (code === '23514' || code === '23502') {
    return new HttpError(400, 'validation_failed', `rejected by the database${err.constraint ? ` (${err.constraint})` : ''}`);
  }
  if (code.startsWith('22')) return new HttpError(400, 'validation_failed', 'a value is out of range or malformed');
  return null;
}

/** The last middleware: one JSON error shape for everything, never a stack trace or a secret. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let http: HttpError;
    const e = err as { type?: string; status?: number; statusCode?: number; expose?: boolean; code?: string };
    if (err instanceof HttpError) http = err;
    else if (e?.type === 'entity.too.large') http = new HttpError(413, 'payload_too_large', 'request body is too large');
    else if (e?.type === 'entity.parse.failed')
      http = new HttpError(400, 'validation_failed', 'body: malformed JSON', [{ in: 'body', field: 'body', message: 'malformed JSON' }]);
    else if (err instanceof URIError)
      // The router could not percent-decode a path parameter: the client's mistake, not ours.
      http = new HttpError(400, 'bad_request', 'the request path is not valid percent-encoding');
    else if (e?.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      http = new HttpError(e.status, 'bad_request', 'the request could not be read');
    else if (isDatabaseUnavailable(err)) {
      logger.warn({ reqId: req.id, err: { code: e.code, message: (err as Error).message } }, 'database unavailable');
      http = new HttpError(503, 'unavailable', 'the database is unavailable; retry shortly', undefined, { 'Retry-After': '5' });
    } else if (err instanceof N8nError) {
      logger.warn({ reqId: req.id, err: { status: err.status, message: err.message } }, 'n8n call failed');
      http = new HttpError(502, 'upstream_failed', `n8n: ${err.message}`);
    } else {
      http = fromPgDataError(err as never) ?? new HttpError(500, 'internal', 'internal error; see the server log for the request id');
      if (http.status === 500) logger.error({ reqId: req.id, err }, 'unhandled error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(http.headers ?? {})) res.set(k, v);
    res
      .status(http.status)
      .json({ error: http.code, message: http.message, ...(http.fields ? { fields: http.fields } : {}), requestId: req.id });
  };
}
