import React from 'react';
import { render } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { fakeBackend, type FakeBackend, type Handler, type Answer } from './backend';

/** Installs a fake backendSrv for @grafana/runtime (jest.mock in each test file points here). */
export const backend: { current: FakeBackend } = { current: fakeBackend() };

export function setBackend(handlers: Record<string, Handler | Answer>): FakeBackend {
  backend.current = fakeBackend(handlers);
  return backend.current;
}

export function renderAt(element: React.ReactElement, path = '/', route = '*') {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path={route} element={element} />
      </Routes>
    </MemoryRouter>
  );
}
