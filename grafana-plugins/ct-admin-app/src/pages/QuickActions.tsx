import React from 'react';
import { useParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Stack } from '@grafana/ui';
import { QuickActionsTabs } from '../components/QuickActionsTabs/QuickActionsTabs';
import { ACTIONS } from '../constants';
import { AuditLog } from './AuditLog';
import { ExportMetrics } from './ExportMetrics';
import { ForceBackup } from './ForceBackup';
import { RestartStuck } from './RestartStuck';
import { RotateSecret } from './RotateSecret';

const PANES: Record<ACTIONS, () => React.JSX.Element> = {
  [ACTIONS.RestartStuck]: RestartStuck,
  [ACTIONS.RotateSecret]: RotateSecret,
  [ACTIONS.Backup]: ForceBackup,
  [ACTIONS.Audit]: AuditLog,
  [ACTIONS.Export]: ExportMetrics,
};

/** The five quick actions, one tab each (`/actions/<action>`). */
function QuickActions() {
  const { action } = useParams();
  const active = (Object.values(ACTIONS) as string[]).includes(action ?? '')
    ? (action as ACTIONS)
    : ACTIONS.RestartStuck;
  const Pane = PANES[active];
  return (
    <PluginPage>
      <Stack direction="column" gap={2}>
        <QuickActionsTabs active={active} />
        <Pane />
      </Stack>
    </PluginPage>
  );
}

export default QuickActions;
