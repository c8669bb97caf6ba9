// The client portal: tenant proxy (src/proxy/), the client's database role (src/database/) and the
// Grafana org sync (src/grafana/). One export line per module.
export {};
export * from './database';
export * from './proxy';
export * from './grafana';
