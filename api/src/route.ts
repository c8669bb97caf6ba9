import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { HttpError, type FieldProblem } from './errors';
import { hasScope, type Principal, type Scope } from './types';
import type { ApiMetrics } from './metrics';

/**
 * One declaration per route: its schemas validate the request AND produce the OpenAPI document,
 * so the two cannot drift apart.
 */
export type Access = Scope | 'public' | 'authenticated' | 'webhook';

export interface RouteSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express path relative to the router's prefix, e.g. `/:client/pause`. */
  path: string;
  summary: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Success status (200 unless said). */
  status?: number;
  /** Extra documented answers besides the standard ones. */
  responses?: Record<number, string>;
  /** Content type of a non-JSON success answer (exports). */
  produces?: string[];
}

export interface RegisteredRoute extends RouteSpec {
  fullPath: string;
  tag: string;
}

/**
 * A handler's answer already serialised as JSON (by PostgreSQL, for lists): sent as it is, with
 * the headers res.json would set, so a page of rows costs no row objects and no JSON.stringify.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

export interface Ctx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
  principal: Principal;
}

export class ApiRouter {
  readonly router: Router = express.Router();

  constructor(
    readonly prefix: string,
    readonly tag: string,
    private readonly registry: RegisteredRoute[],
    private readonly metrics: ApiMetrics,
  ) {}

  route<P extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown, B extends z.ZodType = z.ZodUnknown>(
    spec: RouteSpec<P, Q, B>,
    handler: (ctx: Ctx<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown> | unknown,
  ): void {
    const fullPath = this.prefix + (spec.path === '/' ? '' : spec.path);
    this.registry.push({ ...spec, fullPath, tag: this.tag } as RegisteredRoute);
    this.router[spec.method](spec.path, async (req: Request, res: Response) => {
      res.locals.route = fullPath; // the metrics' and logs' route label, also when this throws (routeTemplate)
      const principal = this.authorize(spec.access, req);
      const params = parsePart('path', spec.params, req.params);
      const query = parsePart('query', spec.query, req.query);
      const body = parsePart('body', spec.body, req.body);
      const result = await handler({ params, query, body, req, res, principal } as Ctx<z.output<P>, z.output<Q>, z.output<B>>);
      if (res.headersSent) return;
      res.status(spec.status ?? 200);
      if (result instanceof JsonText) res.type('application/json').send(result.text);
      else res.json(result ?? {});
    });
  }

  private authorize(access: Access, req: Request): Principal {
    if (access === 'public' || access === 'webhook') return req.principal as Principal;
    const p = req.principal;
    if (!p) {
      this.metrics.authFailures.inc({ reason: 'missing_credentials' });
      throw new HttpError(401, 'unauthorized', 'credentials required: an API key or an access token in Authorization: Bearer', undefined, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    if (access !== 'authenticated' && !hasScope(p, access)) {
      this.metrics.authFailures.inc({ reason: 'insufficient_scope' });
      throw new HttpError(403, 'forbidden', `this route needs the ${access} scope`);
    }
    return p;
  }
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_type') {
    let v: unknown = input;
    for (const k of issue.path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
    if (v === undefined) return 'is required';
  }
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  return issue.message;
}

export function fieldProblems(where: FieldProblem['in'], error: z.ZodError, input: unknown): FieldProblem[] {
  return error.issues.map((issue) => ({
    in: where,
    field: issue.path.length ? issue.path.map(String).join('.') : where,
    message: describeIssue(issue, input),
  }));
}

export function parsePart<S extends z.ZodType | undefined>(where: FieldProblem['in'], schema: S, input: unknown): unknown {
  if (!schema) return input;
  const r = schema.safeParse(input ?? (where === 'body' ? undefined : {}));
  if (r.success) return r.data;
  const fields = fieldProblems(where, r.error, input);
  throw new HttpError(400, 'validation_failed', fields.map((f) => `${f.in} ${f.field}: ${f.message}`).join('; '), fields);
}
