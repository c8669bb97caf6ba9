import React from 'react';
import { Navigate, Route, Routes } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import { ACTIONS, ROUTES } from '../../constants';

const Overview = React.lazy(() => import('../../pages/Overview'));
const Clients = React.lazy(() => import('../../pages/Clients'));
const ClientDetail = React.lazy(() => import('../../pages/ClientDetail'));
const QuickActions = React.lazy(() => import('../../pages/QuickActions'));

function App(_props: AppRootProps) {
  return (
    <Routes>
      <Route path={ROUTES.Overview} element={<Overview />} />
      <Route path={ROUTES.Clients} element={<Clients />} />
      <Route path={`${ROUTES.Clients}/:slug`} element={<ClientDetail />} />
      <Route path={ROUTES.Actions} element={<Navigate to={ACTIONS.RestartStuck} replace />} />
      <Route path={`${ROUTES.Actions}/:action`} element={<QuickActions />} />
      <Route path="*" element={<Overview />} />
    </Routes>
  );
}

export default App;
