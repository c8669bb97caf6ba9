import type { Command } from 'commander';
import { startExportersService } from '@ct/exporters';
import { UserError, untilSignal } from '@ct/lib';

/**
 * `ct serve <service>`: each long-running service is a function that starts it and returns a
 * stop(). Services register here with one line; `all` starts every one in this process.
 */
export interface ServeOptions {
  /** Overrides the service's configured port. */
  port?: number;
}
export type ServiceStarter = (opts: ServeOptions) => Promise<{ stop(): Promise<void> }>;

export const SERVICES: Record<string, ServiceStarter> = {};
SERVICES.exporters = startExportersService;

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
