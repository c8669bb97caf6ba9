export * from './promql';
export * from './tokens';
export * from './config';
export * from './metrics';
export * from './server';
export * from './service';
