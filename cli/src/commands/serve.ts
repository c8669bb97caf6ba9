import type { Command } from 'commander';
import type { ForceBackup } from '@ct/api';
import { loadConfig, poolFromConfig, UserError, untilSignal, type Pool } from '@ct/lib';
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
 * The API's "force a backup": a request the backup scheduler picks up (backup_requests), answered
 * with the run it starts. The API holds neither the backup master key nor S3 credentials; only
 * the scheduler does. Without a scheduler running, the route answers 502 after `waitMs`.
 */
export function backupForApi(env: NodeJS.ProcessEnv = process.env, opts: { waitMs?: number } = {}): ForceBackup {
  // Required, not imported: only `ct serve api` needs @ct/backup here, and this answers synchronously.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { requestDatabaseBackup } = require('@ct/backup') as typeof import('@ct/backup');
  let pool: Pool | undefined;
  return async ({ actor, actorType, requestId }) => {
    pool ??= poolFromConfig(loadConfig(['database'], undefined, env), { applicationName: 'ct-api-backup', max: 2 });
    const { run, alreadyRunning } = await requestDatabaseBackup({
      pool,
      actor,
      actorType: actorType ?? 'system',
      requestId,
      waitMs: opts.waitMs,
    });
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
