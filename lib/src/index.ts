export * from './errors';
export * from './config';
export * from './logger';
export * from './db';
export * from './migrate';
export * from './crypto';
export * from './audit';
export * from './n8n';
