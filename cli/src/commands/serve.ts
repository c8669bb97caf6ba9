import type { Command } from 'commander';
import type { ForceBackup } from '@ct/api';
import { poolFromConfig, UserError, untilSignal, type Pool } from '@ct/lib';
import { preferFullCollections } from '../gc';

/**
 * `ct serve <service>`: each long-running service is a function that starts it and returns a
 * stop(). Services register here with one line; `all` starts every one in this process. Each one
 * loads its package when it starts, so that no other ct command pays for loading them all.
 */
export interface ServeOptions {
  /** Overrides the service's configured port. */
  port?: number;
}
export type ServiceStarter = (opts: ServeOptions) => Promise<{ stop(): Promise<void> }>;

export const SERVICES: Record<string, ServiceStarter> = {};
SERVICES.api = async (opts) => (await import('@ct/api')).startApi(opts, { forceBackup: backupForApi() });
SERVICES.exporters = async (opts) => (await import('@ct/exporters')).startExportersService(opts);
SERVICES.scheduler = async (opts) => (await import('@ct/backup')).startScheduler(opts);
SERVICES.notifier = async (opts) => (await import('@ct/alerting')).startNotifierService(opts);
SERVICES['tenant-proxy'] = async (opts) => (await import('@ct/client-portal')).startTenantProxyService(opts);

/**
 * The API's "force a backup": a database backup through the backup module, answered as soon as
 * the run is recorded. Without a valid backup configuration (S3, BACKUP_MASTER_KEY) the API
 * answers 501 instead, and says so at start.
 */
export function backupForApi(env: NodeJS.ProcessEnv = process.env): ForceBackup | undefined {
  // Required, not imported: only `ct serve api` needs @ct/backup here, and this answers synchronously.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadBackupConfig, startDatabaseBackup } = require('@ct/backup') as typeof import('@ct/backup');
  let cfg: ReturnType<typeof loadBackupConfig>;
  try {
    cfg = loadBackupConfig(env);
  } catch {
    return undefined;
  }
  let pool: Pool | undefined;
  return async ({ actor, actorType }) => {
    pool ??= poolFromConfig(cfg, { applicationName: 'ct-api-backup', max: 2 });
    const { run, alreadyRunning } = await startDatabaseBackup({ config: cfg, pool, actor, actorType });
    return { run: { ...run }, alreadyRunning };
  };
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(`run a service until SIGINT/SIGTERM: ${[...Object.keys(SERVICES), 'all'].join(', ')}`)
    .argument('<service>', 'which service')
    .option('--port <port>', "listen on this port instead of the configured one (not with 'all')", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UserError(`--port must be an integer from 0 to 65535, got ${v}`);
      return n;
    })
    .action(async (service: string, opts: ServeOptions) => {
      const names = service === 'all' ? Object.keys(SERVICES) : [service];
      if (service === 'all' && opts.port !== undefined) throw new UserError("--port cannot be used with 'all'");
      for (const name of names) {
        if (!SERVICES[name]) throw new UserError(`unknown service ${name}; one of: ${[...Object.keys(SERVICES), 'all'].join(', ')}`);
      }
      // Alone, the scheduler's heavy work is streaming backups, and it answers no requests.
      if (service === 'scheduler') preferFullCollections();
      const running: { stop(): Promise<void> }[] = [];
      try {
        for (const name of names) running.push(await SERVICES[name]!(opts));
      } catch (err) {
        await Promise.allSettled(running.map((r) => r.stop()));
        throw err;
      }
      await untilSignal();
      await Promise.allSettled(running.map((r) => r.stop()));
    });
}
