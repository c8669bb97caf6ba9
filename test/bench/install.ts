import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Installs what the bench needs, idempotently: Debian packages (only the missing ones) and n8n in
 * its own folder. Everything it cannot install is named in one error.
 */

/** Debian package → a file that proves it is installed. */
export const DEBIAN_PACKAGES: Record<string, string> = {
  'postgresql-15': '/usr/lib/postgresql/15/bin/initdb',
  prometheus: '/usr/bin/promtool',
  'prometheus-alertmanager': '/usr/bin/prometheus-alertmanager',
  'prometheus-node-exporter': '/usr/bin/prometheus-node-exporter',
  'prometheus-blackbox-exporter': '/usr/bin/prometheus-blackbox-exporter',
  'prometheus-postgres-exporter': '/usr/bin/prometheus-postgres-exporter',
  // n8n's queue mode (CT_BENCH_N8N_MODE=queue).
  'redis-server': '/usr/bin/redis-server',
  zstd: '/usr/bin/zstd',
  // Validates docker-compose.yml (no engine needed for `config`).
  'docker-compose': '/usr/bin/docker-compose',
  // Runs deploy/caddy/Caddyfile (test/deploy/caddy.test.ts).
  caddy: '/usr/bin/caddy',
  openssl: '/usr/bin/openssl',
  // The admin app's browser suite (Playwright drives Debian's build; it never downloads one).
  chromium: '/usr/bin/chromium',
};

export const N8N_DIR = path.join(__dirname, 'n8n');
export const N8N_BIN = path.join(N8N_DIR, 'node_modules', '.bin', 'n8n');

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function missingDebianPackages(): string[] {
  return Object.entries(DEBIAN_PACKAGES)
    .filter(([, file]) => !existsSync(file))
    .map(([pkg]) => pkg);
}

export function installDebianPackages(): void {
  const missing = missingDebianPackages();
  if (missing.length === 0) return;
  const sudo = isRoot() ? [] : ['sudo', '-n'];
  if (!isRoot() && spawnSync('sudo', ['-n', 'true']).status !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(' ')}; install them as root (apt-get install ${missing.join(' ')})`);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  // Keep the packages' init scripts from starting daemons on their default ports.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  const run = (args: string[]) =>
    execFileSync(args[0]!, args.slice(1), {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  if (!hadPolicy) run([...sudo, 'sh', '-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod +x ${policy}`]);
  try {
    run([...sudo, 'apt-get', 'update', '-qq']);
    run([...sudo, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]);
  } finally {
    if (!hadPolicy) run([...sudo, 'rm', '-f', policy]);
  }
  const still = missingDebianPackages();
  if (still.length > 0) throw new Error(`apt-get finished but these are still missing: ${still.join(' ')}`);
}

function installedN8nVersion(): string | null {
  const pkg = path.join(N8N_DIR, 'node_modules', 'n8n', 'package.json');
  if (!existsSync(pkg)) return null;
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

export function wantedN8nVersion(): string {
  return (JSON.parse(readFileSync(path.join(N8N_DIR, 'package.json'), 'utf8')) as { dependencies: { n8n: string } }).dependencies.n8n;
}

export function installN8n(): void {
  const wanted = wantedN8nVersion();
  if (installedN8nVersion() === wanted && existsSync(N8N_BIN)) return;
  log(`installing n8n ${wanted} in ${path.relative(process.cwd(), N8N_DIR)} (npm ci, a few minutes)`);
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: N8N_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  if (installedN8nVersion() !== wanted) throw new Error(`npm ci finished but n8n ${wanted} is not installed in ${N8N_DIR}`);
}

export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (install postgresql-15)');
}

export function installAll(opts: { n8n?: boolean } = {}): void {
  installDebianPackages();
  if (opts.n8n !== false) installN8n();
}

if (require.main === module) {
  installAll();
  writeFileSync(process.stdout.fd, 'bench prerequisites installed\n');
}
