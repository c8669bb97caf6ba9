import { DUMMY_HASH, hashPassword, needsRehash, passwordProblem, SCRYPT_COST, verifyPassword } from './passwords';

describe('scrypt password hashing', () => {
  it('hashes at N = 2^17, r = 8, p = 1, verifies the right password and refuses others', async () => {
    const h = await hashPassword('correct horse battery');
    expect(h).toMatch(/^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{86}$/);
    expect(await verifyPassword('correct horse battery', h)).toBe(true);
    expect(await verifyPassword('correct horse batterY', h)).toBe(false);
    expect(await hashPassword('correct horse battery')).not.toBe(h); // salted
    expect(needsRehash(h)).toBe(false);
  });

  it('verifies a hash of an older cost by its own parameters, and asks for it to be rewritten', async () => {
    const old = await hashPassword('correct horse battery', { N: 16384, r: 8, p: 1 });
    expect(old).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', old)).toBe(true);
    expect(needsRehash(old)).toBe(true);
  });

  it('never matches the dummy hash or a malformed one, and refuses costs beyond the memory bound', async () => {
    expect(DUMMY_HASH.startsWith(`scrypt$${SCRYPT_COST.N}$8$1$`)).toBe(true);
    expect(await verifyPassword('', DUMMY_HASH)).toBe(false);
    expect(await verifyPassword('x', 'plain')).toBe(false);
    expect(await verifyPassword('x', 'scrypt$99999999$8$1$AA$AA')).toBe(false);
    expect(await verifyPassword('x', `scrypt$${2 ** 20}$8$1$AA$AA`)).toBe(false);
  });

  it('states the password rule', () => {
    expect(passwordProblem('short')).toMatch(/at least 12/);
    expect(passwordProblem('long enough pass')).toBeNull();
  });
});
