import { runCt } from '../helpers/cli';

describe('ct serve notifier', () => {
  it('is registered and stops with a message naming every missing variable', async () => {
    const help = await runCt(['serve', '--help']);
    expect(help.stdout).toMatch(/notifier/);
    const res = await runCt(['serve', 'notifier'], { env: { PATH: process.env.PATH, TWILIO_FROM: '555-0100' } });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('NOTIFIER_AUTH_TOKEN: is required but not set');
    expect(res.stderr).toContain('TWILIO_ACCOUNT_SID: is required but not set');
    expect(res.stderr).toContain('TWILIO_FROM: must be an E.164 phone number');
    expect(res.stderr).toContain('NOTIFIER_CALL_TO: is required but not set');
  });
});
