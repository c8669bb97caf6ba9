import { isFetchError } from '@grafana/runtime';

/**
 * What went wrong with a call, sorted by what the person at the screen should do about it.
 * - unreachable: the platform API did not answer through Grafana (502/504 from Grafana's proxy, or no answer)
 * - credentials: the API refused the proxy's credentials (401): the configuration page
 * - forbidden: the Grafana role lacks the route's reqRole (the proxy's 403), or the API refused (403)
 * - conflict: 409, e.g. a restart already running
 * - unavailable: 503, the API's database (or a service it needs) is down
 * - invalid: 400, the API named the bad field
 * - notConfigured: 501, or a route this Grafana does not know
 */
export type ApiErrorKind =
  | 'unreachable'
  | 'credentials'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'unavailable'
  | 'invalid'
  | 'notConfigured'
  | 'upstream'
  | 'other';

interface ApiErrorBody {
  error?: string;
  message?: string;
  requestId?: string;
  fields?: Array<{ in: string; field: string; message: string }>;
}

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    readonly status: number,
    message: string,
    /** True when the platform API itself answered (its error body), false when Grafana did. */
    readonly fromApi: boolean,
    readonly requestId?: string,
    readonly fields?: ApiErrorBody['fields']
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function kindOf(status: number, fromApi: boolean, message: string): ApiErrorKind {
  if (status === 0 || status === 504 || (status === 502 && !fromApi)) {
    return 'unreachable';
  }
  if (status === 401) {
    return 'credentials';
  }
  if (status === 403) {
    return 'forbidden';
  }
  if (status === 404) {
    return !fromApi && /plugin route match not found|plugin not found/i.test(message) ? 'notConfigured' : 'notFound';
  }
  if (status === 409) {
    return 'conflict';
  }
  if (status === 503) {
    return 'unavailable';
  }
  if (status === 400) {
    return 'invalid';
  }
  if (status === 501) {
    return 'notConfigured';
  }
  if (status === 502) {
    return 'upstream';
  }
  return 'other';
}

/** Turns whatever getBackendSrv().fetch threw into an ApiError. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) {
    return err;
  }
  if (isFetchError(err)) {
    const body = (err.data && typeof err.data === 'object' ? err.data : {}) as ApiErrorBody;
    const fromApi = typeof body.error === 'string' && typeof body.requestId === 'string';
    const message = body.message || err.statusText || err.message || `HTTP ${err.status}`;
    return new ApiError(
      kindOf(err.status, fromApi, message),
      err.status,
      message,
      fromApi,
      body.requestId,
      body.fields
    );
  }
  return new ApiError('unreachable', 0, err instanceof Error ? err.message : String(err), false);
}

/** A sentence saying what to check, for each kind of failure. */
export function adviceFor(e: ApiError): string {
  switch (e.kind) {
    case 'unreachable':
      return 'Grafana could not reach the platform API. Check that the API is running (ct serve api) and that the API URL on the configuration page is the address Grafana uses to reach it.';
    case 'credentials':
      return e.message.includes('X-Grafana-User')
        ? 'The API needs the Grafana user on every call: set [dataproxy] send_user_header = true (GF_DATAPROXY_SEND_USER_HEADER=true) in Grafana.'
        : "The API refused Grafana's credentials. Set the proxy secret on the configuration page to the API's API_GRAFANA_PROXY_SECRET.";
    case 'forbidden':
      return e.fromApi
        ? 'The API refused this call for these credentials.'
        : 'Your Grafana role does not allow this: reading needs the Editor role, every action the Admin role. Ask an organisation admin.';
    case 'conflict':
      return 'The API refused because of the current state; the message says why. Wait for the running action to finish, then try again.';
    case 'unavailable':
      return 'The platform database (or a service the API needs) is unavailable. Check PostgreSQL, then retry in a few seconds.';
    case 'invalid':
      return 'The API refused the input; the message names the field.';
    case 'notConfigured':
      return e.status === 501
        ? 'This API process has no backup module wired in: run it with `ct serve api` (see docs/backup.md).'
        : "This Grafana's copy of the plugin does not have this route: install the plugin version that matches the API.";
    case 'upstream':
      return 'The API could not reach a service it depends on (n8n, Prometheus or the backup scheduler); the message says which.';
    case 'notFound':
      return 'It no longer exists, or the name is wrong.';
    default:
      return 'Unexpected answer from the API; the request id helps find it in the API log.';
  }
}
