import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { UserError } from '@ct/lib';
import { registerApiCommands } from './commands/api';
import { registerAuditCommands } from './commands/audit';
import { registerBackupCommands } from './commands/backup';
import { registerClientCommands } from './commands/client';
import { registerDemoCommands } from './commands/demo';
import { registerGrafanaCommands } from './commands/grafana';
import { registerLaunchCheckCommand } from './commands/launch-check';
import { registerMaintenanceCommands } from './commands/maintenance';
import { registerMigrateCommand } from './commands/migrate';
import { registerPortalCommands } from './commands/portal';
import { registerServeCommand } from './commands/serve';
import { registerStatusCommand } from './commands/status';

/** The platform's version, from the root package.json (the same path from src/ and from dist/). */
function platformVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('ct')
    .description('CT Platform: one tool for migrations, services, backups, clients and the audit log.')
    .version(platformVersion())
    .showHelpAfterError()
    .exitOverride();
  registerMigrateCommand(program);
  registerAuditCommands(program);
  registerMaintenanceCommands(program);
  registerStatusCommand(program);
  registerBackupCommands(program);
  registerServeCommand(program);
  registerApiCommands(program);
  registerDemoCommands(program);
  registerPortalCommands(program);
  registerGrafanaCommands(program);
  registerClientCommands(program);
  registerLaunchCheckCommand(program);
  return program;
}

/** Entry point of the `ct` binary: operator errors print one line, bugs keep their stack. */
export async function run(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed the message (or the help text).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`ct: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`ct: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70; // EX_SOFTWARE
  }
}
