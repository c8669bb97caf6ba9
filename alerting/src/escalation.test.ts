import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StateFile } from './escalation';

describe('the notifier state file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ct-notifier-state-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts empty, and gives back what was saved', () => {
    const file = new StateFile(path.join(dir, 'sub', 'state.json'));
    expect(file.load()).toEqual({ version: 1, ledger: [], escalations: [] });
    const state = { version: 1 as const, ledger: [['call|on-call|f@t', 1, 2] as [string, number, number]], escalations: [] };
    file.save(state);
    expect(file.load()).toEqual(state);
    expect(new StateFile(undefined).load()).toEqual({ version: 1, ledger: [], escalations: [] });
  });

  it('refuses a file that is not its own, naming the variable', () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"version": ');
    expect(() => new StateFile(bad).load()).toThrow(/^NOTIFIER_STATE_FILE .*bad\.json is not valid JSON$/);
    writeFileSync(bad, '{"version": 2}');
    expect(() => new StateFile(bad).load()).toThrow(/is not a notifier state file \(version 1\)/);
  });
});
