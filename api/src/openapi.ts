import { z } from 'zod';
import { grafanaProxyMayCall } from './auth';
import type { RegisteredRoute } from './route';
import { webhookEventSchema, webhookHeadersSchema } from './webhooks';

/** Builds the OpenAPI 3.1 document from the routes' own zod schemas. */

type JsonSchema = Record<string, unknown>;

function schemaOf(s: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parametersOf(where: 'path' | 'query' | 'header', s: z.ZodType | undefined): JsonSchema[] {
  if (!s) return [];
  const js = schemaOf(s);
  // Refined objects still render as an object; unions of objects (none today) would not.
  const props = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, schema]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(schema.description ? { description: schema.description } : {}),
    schema,
  }));
}

const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error', 'message', 'requestId'],
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    requestId: { type: 'string' },
    fields: {
      type: 'array',
      items: {
        type: 'object',
        required: ['in', 'field', 'message'],
        properties: { in: { enum: ['path', 'query', 'body', 'header'] }, field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export function buildOpenApi(routes: RegisteredRoute[], info: { version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const all: RegisteredRoute[] = [
    ...routes,
    {
      method: 'post',
      path: '/n8n/:client',
      fullPath: '/api/webhooks/n8n/:client',
      tag: 'webhooks',
      summary: 'An event from a client workflow, signed with the client webhook secret (HMAC-SHA256 over "<timestamp>.<raw body>")',
      access: 'webhook',
      params: z.object({ client: z.string().regex(/^[a-z0-9-]{2,40}$/) }),
      body: webhookEventSchema,
      status: 201,
      responses: { 200: 'duplicate: this idempotency key was stored before; nothing new stored', 413: 'body larger than 256 KB' },
    },
  ];
  for (const r of all) {
    const path = r.fullPath.replace(/:([A-Za-z_]+)/g, '{$1}');
    const responses: Record<string, JsonSchema> = {
      [String(r.status ?? 200)]: r.produces
        ? { description: 'success', content: Object.fromEntries(r.produces.map((t) => [t, {}])) }
        : { description: 'success', content: { 'application/json': {} } },
    };
    if (r.params || r.query || r.body || r.access === 'webhook')
      responses['400'] = errorResponse('invalid input; `fields` names each bad field');
    if (r.access !== 'public')
      responses['401'] = errorResponse(
        r.access === 'webhook' ? 'missing or bad signature, or replayed timestamp' : 'missing or invalid credentials',
      );
    if (!['public', 'authenticated', 'webhook'].includes(r.access))
      responses['403'] = errorResponse(`the credentials lack the ${r.access} scope`);
    if (r.access !== 'webhook') responses['429'] = errorResponse('rate limited; see Retry-After');
    for (const [code, description] of Object.entries(r.responses ?? {}))
      responses[code] = code.startsWith('2') ? { description } : errorResponse(description);
    const op: JsonSchema = {
      operationId: `${r.method}_${r.fullPath.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`,
      summary: r.summary,
      tags: [r.tag],
      parameters: [
        ...parametersOf('path', r.params),
        ...parametersOf('query', r.query),
        ...(r.access === 'webhook' ? parametersOf('header', webhookHeadersSchema) : []),
      ],
      responses,
      security:
        r.access === 'public' || r.access === 'webhook'
          ? []
          : [{ apiKey: [] }, { bearer: [] }, ...(grafanaProxyMayCall(r.method.toUpperCase(), path) ? [{ grafanaProxy: [] }] : [])],
      'x-required-scope': r.access,
    };
    if (r.body) {
      const body = r.body.safeParse(undefined).success;
      op.requestBody = { required: !body, content: { 'application/json': { schema: schemaOf(r.body) } } };
    }
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CT Platform API',
      version: info.version,
      description:
        'Auth, clients, automations, usage metrics, billing, admin quick actions and signed n8n webhooks. Scopes: read < write < admin (admin implies write, write implies read).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (ct_…) as a bearer token, or in X-API-Key' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from POST /api/auth/login' },
        grafanaProxy: {
          type: 'apiKey',
          in: 'header',
          name: 'X-CT-Proxy-Secret',
          description:
            "Grafana's plugin proxy: the shared secret makes the caller an admin of the admin app's routes only (those that list this scheme); X-Grafana-User names the actor",
        },
      },
    },
  };
}
