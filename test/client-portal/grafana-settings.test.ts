import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * The Grafana settings the client portal relies on are part of the production stack: the grafana
 * service of docker-compose.yml sets each of them (docs/client-portal.md lists why).
 */

const compose = parse(readFileSync(path.resolve(__dirname, '..', '..', 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { environment?: Record<string, string> | string[] }>;
};

function grafanaEnvironment(): Record<string, string> {
  const env = compose.services.grafana?.environment;
  if (!env) throw new Error('docker-compose.yml has no grafana service environment');
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

test.each([
  ['GF_USERS_ALLOW_SIGN_UP', 'false', 'nobody signs up'],
  ['GF_USERS_ALLOW_ORG_CREATE', 'false', 'users cannot create organisations'],
  ['GF_USERS_VIEWERS_CAN_EDIT', 'false', 'Viewers neither edit panels nor use Explore'],
  ['GF_USERS_EDITORS_CAN_ADMIN', 'false', 'no one administers what they create without being an org admin'],
  ['GF_USERS_AUTO_ASSIGN_ORG_ROLE', 'Viewer', 'a user created into a client org is a Viewer there'],
  ['GF_AUTH_ANONYMOUS_ENABLED', 'false', 'nothing is visible without signing in'],
  ['GF_PUBLIC_DASHBOARDS_ENABLED', 'false', 'no dashboard is shared outside its org by a public link'],
  ['GF_SNAPSHOTS_EXTERNAL_ENABLED', 'false', 'no snapshot leaves for an external service'],
])('grafana sets %s=%s (%s)', (name, value) => {
  expect(grafanaEnvironment()[name]).toBe(value);
});

test('nothing re-opens what the portal relies on: basic auth stays on for org sync, no anonymous org or role', () => {
  const env = grafanaEnvironment();
  expect(env.GF_AUTH_BASIC_ENABLED ?? 'true').toBe('true');
  expect(Object.keys(env).filter((k) => /^GF_AUTH_ANONYMOUS_(ORG|ORG_NAME|ORG_ROLE)/.test(k))).toEqual([]);
  expect(Object.keys(env).filter((k) => /^GF_FEATURE_TOGGLES_ENABLE$/.test(k) && /publicDashboards/i.test(env[k]!))).toEqual([]);
});
