import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { freePort, httpStatus, killGroup, spawnDaemon, waitFor } from '../bench/process';
import { ROOT } from './generate';

/**
 * An Alertmanager of docker-compose.yml run as the compose file runs it: its bind mounts are read
 * from the compose file and their sources copied to the same paths under a private root, the
 * configuration is loaded from there unmodified, and the process runs chrooted into that root (in
 * its own mount namespace, with /usr bound read-only), so every path the configuration names
 * (relative template globs, /run/secrets/...) resolves exactly as in the container. Host names the
 * configuration uses resolve through the root's /etc/hosts, and its CA bundle is the one given.
 */

interface ComposeService {
  command?: string[];
  volumes?: string[];
}

export interface ComposeMount {
  source: string;
  target: string;
}

/** The services of docker-compose.yml, anchors and merge keys resolved. */
export function composeServices(file = path.join(ROOT, 'docker-compose.yml')): Record<string, ComposeService> {
  const doc = parse(readFileSync(file, 'utf8'), { merge: true }) as { services?: Record<string, ComposeService> };
  if (!doc.services) throw new Error(`${file}: no services`);
  return doc.services;
}

/** The bind mounts of a service (host paths relative to the repository; named volumes left out). */
export function bindMounts(service: ComposeService, name: string): ComposeMount[] {
  return (service.volumes ?? [])
    .map((v) => {
      if (typeof v !== 'string') throw new Error(`service ${name}: only short volume syntax is understood, got ${JSON.stringify(v)}`);
      const [source, target] = v.split(':');
      if (!source || !target) throw new Error(`service ${name}: volume ${v} is not source:target`);
      return { source, target };
    })
    .filter((m) => m.source.startsWith('./') || m.source.startsWith('../'));
}

/** The value of a `--flag=value` argument of a compose command. */
export function flagValue(command: string[], flag: string): string | undefined {
  const arg = command.find((a) => a.startsWith(`${flag}=`));
  return arg?.slice(flag.length + 1);
}

export interface ChrootedAlertmanager {
  url: string;
  root: string;
  logFile: string;
  configPath: string;
  stop(): Promise<void>;
}

/**
 * Starts compose service `serviceName` (an Alertmanager) chrooted into `dir/root`. `secrets` are the
 * files of the compose file's `./secrets` source (not in the repository), `hosts` the /etc/hosts
 * lines, `caBundle` the PEM bundle Go's TLS trusts. Cluster flags are replaced by a single
 * instance's (no peers to gossip with), and the web address is a free loopback port.
 */
export async function startComposeAlertmanager(
  dir: string,
  opts: { serviceName: string; secrets: Record<string, string>; hosts: Record<string, string>; caBundle: string },
): Promise<ChrootedAlertmanager> {
  const service = composeServices()[opts.serviceName];
  if (!service) throw new Error(`docker-compose.yml has no service ${opts.serviceName}`);
  const command = service.command ?? [];
  const configPath = flagValue(command, '--config.file');
  if (!configPath) throw new Error(`service ${opts.serviceName}: no --config.file in its command`);
  const root = path.join(dir, 'root');
  mkdirSync(root, { recursive: true });
  for (const m of bindMounts(service, opts.serviceName)) {
    const source = path.resolve(ROOT, m.source);
    const target = path.join(root, m.target);
    if (m.source.replace(/\/$/, '') === './secrets') {
      // Production secrets are not in the repository: the test's own stand in for them.
      mkdirSync(target, { recursive: true });
      for (const [file, value] of Object.entries(opts.secrets)) writeFileSync(path.join(target, file), value);
      continue;
    }
    if (!existsSync(source)) throw new Error(`service ${opts.serviceName}: volume source ${m.source} does not exist`);
    mkdirSync(path.dirname(target), { recursive: true });
    cpSync(source, target, { recursive: true });
  }
  if (!existsSync(path.join(root, configPath))) {
    throw new Error(`service ${opts.serviceName}: no volume puts a file at ${configPath} (its --config.file)`);
  }
  const storage = flagValue(command, '--storage.path') ?? '/alertmanager';
  mkdirSync(path.join(root, storage), { recursive: true });
  mkdirSync(path.join(root, 'etc', 'ssl', 'certs'), { recursive: true });
  mkdirSync(path.join(root, 'usr'), { recursive: true });
  for (const link of ['bin', 'lib', 'lib64']) if (!existsSync(path.join(root, link))) symlinkSync(`usr/${link}`, path.join(root, link));
  writeFileSync(
    path.join(root, 'etc', 'hosts'),
    `127.0.0.1 localhost\n${Object.entries(opts.hosts)
      .map(([host, ip]) => `${ip} ${host}`)
      .join('\n')}\n`,
  );
  writeFileSync(path.join(root, 'etc', 'nsswitch.conf'), 'hosts: files\n');
  writeFileSync(path.join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), opts.caBundle);

  const port = await freePort();
  const args = command.filter((a) => !a.startsWith('--cluster.') && !a.startsWith('--web.listen-address'));
  args.push('--cluster.listen-address=', `--web.listen-address=127.0.0.1:${port}`, '--log.level=debug');
  const logFile = path.join(dir, 'alertmanager.log');
  const script =
    'mount --bind /usr "$0/usr" && mount -o remount,bind,ro "$0/usr" && exec chroot "$0" /usr/bin/prometheus-alertmanager "$@"';
  const pid = spawnDaemon('unshare', ['--mount', '--propagation', 'private', '--fork', '--', 'sh', '-c', script, root, ...args], {
    logFile,
    env: { PATH: process.env.PATH },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(opts.serviceName, async () => (await httpStatus(`${url}/-/ready`)) === 200, { timeoutMs: 20_000, logFile, pid });
  return { url, root, logFile, configPath, stop: () => killGroup(pid) };
}
