import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fail, pass, type Outcome } from './types';

/** Documentation present: the operator's documents exist and say something. */

export const OPERATOR_DOCS = [
  'deployment.md',
  'onboarding.md',
  'security.md',
  'troubleshooting.md',
  'emergency.md',
  'runbooks.md',
  'backup.md',
  'alerting.md',
  'scaling.md',
  'launch-check.md',
];

/** A document says something when it has a line that is neither blank nor a heading. */
const hasText = (text: string) => text.split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#'));

export async function checkDocs(dir: string, files: string[] = OPERATOR_DOCS): Promise<Outcome> {
  const problems: string[] = [];
  for (const f of files) {
    const text = await readFile(path.join(dir, f), 'utf8').catch(() => undefined);
    if (text === undefined) problems.push(`docs/${f} is missing`);
    else if (!hasText(text)) problems.push(`docs/${f} is empty`);
  }
  if (problems.length > 0) {
    return fail(
      `${problems.length} of ${files.length} operator documents missing or empty`,
      'deploy from a complete checkout of the repository (the documents ship with it); if a document is new, write it before launch',
      problems,
    );
  }
  return pass(`${files.length} operator documents present (${files.join(', ')})`);
}
