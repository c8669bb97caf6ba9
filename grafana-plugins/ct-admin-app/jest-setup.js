// Jest setup provided by Grafana scaffolding
import './.config/jest-setup';

// Every test talks to a fake backendSrv (src/test/setup.tsx), never to a network.
jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getBackendSrv: () => require('./src/test/setup').backend.current,
}));

// jsdom has no IntersectionObserver; @grafana/ui's scroll containers (Select menus) need one.
class NoopIntersectionObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
  takeRecords() {
    return [];
  }
}
Object.defineProperty(global, 'IntersectionObserver', { writable: true, value: NoopIntersectionObserver });

// Nor ResizeObserver (truncated text, drawers).
class NoopResizeObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
Object.defineProperty(global, 'ResizeObserver', { writable: true, value: NoopResizeObserver });

// findBy*/waitFor: a lazily imported page can take seconds to load on a busy machine.
require('@testing-library/react').configure({ asyncUtilTimeout: 5000 });
