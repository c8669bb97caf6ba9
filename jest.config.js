/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/grafana-plugins/', '/test/bench/n8n/'],
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/', '<rootDir>/test/bench/n8n/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] },
  moduleNameMapper: { '^@ct/([a-z-]+)$': '<rootDir>/$1/src/index.ts' },
  globalSetup: '<rootDir>/test/bench/jest-global-setup.ts',
  globalTeardown: '<rootDir>/test/bench/jest-global-teardown.ts',
  // Suites talk to real services; two workers match the two cores these machines have.
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  maxWorkers: 2,
  testTimeout: 60_000,
};
