import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
const SCRIPT = 'cli/bin/ct.js';

/**
 * How docker-compose.yml runs the exporter's Node.js: the flags its entrypoint gives `node`
 * (V8 flags that NODE_OPTIONS does not accept) and its NODE_OPTIONS. The benchmarks measure what
 * is deployed.
 */
export function deployedExporterNode(composeFile = path.join(ROOT, 'docker-compose.yml')): { args: string[]; options: string } {
  const compose = parseYaml(readFileSync(composeFile, 'utf8'), { merge: true }) as {
    services?: Record<string, { entrypoint?: unknown; environment?: Record<string, string> }>;
  };
  const where = `${path.relative(ROOT, composeFile)}: services.exporters`;
  const service = compose.services?.exporters;
  const entrypoint = service?.entrypoint;
  if (!Array.isArray(entrypoint) || entrypoint[0] !== 'node' || entrypoint.at(-1) !== SCRIPT)
    throw new Error(`${where}.entrypoint must be ['node', <flags>…, '${SCRIPT}']; got ${JSON.stringify(entrypoint)}`);
  const options = service?.environment?.NODE_OPTIONS;
  if (!options) throw new Error(`${where}.environment.NODE_OPTIONS not found`);
  return { args: entrypoint.slice(1, -1).map(String), options };
}
