import { Observable, of, throwError } from 'rxjs';
import type { BackendSrvRequest, FetchResponse } from '@grafana/runtime';

/**
 * A stand-in for Grafana's backendSrv in unit tests: answers by "METHOD /path" (the path after
 * the plugin proxy prefix, without the query), records every request, and fails like Grafana does
 * (a FetchError with status and data).
 */
export interface Answer {
  status?: number;
  data?: unknown;
}
export type Handler = (req: BackendSrvRequest & { path: string; query: URLSearchParams }) => Answer | Promise<Answer>;

export interface FakeBackend {
  requests: Array<BackendSrvRequest & { path: string; query: URLSearchParams }>;
  fetch: <T>(req: BackendSrvRequest) => Observable<FetchResponse<T>>;
  on(key: string, handler: Handler | Answer): void;
}

export function fakeBackend(handlers: Record<string, Handler | Answer> = {}): FakeBackend {
  const table = new Map(Object.entries(handlers));
  const requests: FakeBackend['requests'] = [];
  const fetch = <T>(req: BackendSrvRequest): Observable<FetchResponse<T>> => {
    const url = new URL(req.url, 'http://grafana.test');
    const path = url.pathname.replace(/^\/api\/plugin-proxy\/ct-admin-app/, '');
    const full = { ...req, path, query: url.searchParams };
    requests.push(full);
    const key = `${(req.method ?? 'GET').toUpperCase()} ${path}`;
    const h = table.get(key);
    const answer: Promise<Answer> =
      h === undefined
        ? Promise.resolve({ status: 404, data: { message: `no fake for ${key}` } })
        : Promise.resolve(typeof h === 'function' ? h(full) : h);
    return new Observable<FetchResponse<T>>((sub) => {
      answer.then((a) => {
        const status = a.status ?? 200;
        const obs =
          status >= 400
            ? throwError(() => ({ status, data: a.data, statusText: `HTTP ${status}`, config: req }))
            : of({
                data: a.data as T,
                status,
                ok: true,
                headers: new Headers(),
                redirected: false,
                statusText: 'OK',
                type: 'basic',
                url: req.url,
                config: req,
              } as FetchResponse<T>);
        obs.subscribe(sub);
      });
    });
  };
  return { requests, fetch, on: (key, h) => void table.set(key, h) };
}

/** The API's error body. */
export const apiError = (status: number, error: string, message: string): Answer => ({
  status,
  data: { error, message, requestId: 'req-test-1' },
});
