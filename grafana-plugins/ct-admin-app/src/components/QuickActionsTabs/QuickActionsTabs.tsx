import React from 'react';
import { Tab, TabsBar } from '@grafana/ui';
import { ACTIONS, ROUTES, prefixRoute } from '../../constants';
import { testIds } from '../testIds';

const TABS: Array<{
  id: ACTIONS;
  label: string;
  icon: 'sync' | 'key-skeleton-alt' | 'save' | 'history' | 'download-alt';
}> = [
  { id: ACTIONS.RestartStuck, label: 'Restart stuck workflows', icon: 'sync' },
  { id: ACTIONS.RotateSecret, label: "Rotate a client's secret", icon: 'key-skeleton-alt' },
  { id: ACTIONS.Backup, label: 'Force a backup', icon: 'save' },
  { id: ACTIONS.Audit, label: 'Audit log', icon: 'history' },
  { id: ACTIONS.Export, label: 'Export metrics', icon: 'download-alt' },
];

/** The five quick actions, one tab each. */
export function QuickActionsTabs({ active }: { active: ACTIONS }) {
  return (
    <div data-testid={testIds.actions.tabs}>
      <TabsBar>
        {TABS.map((t) => (
          <Tab
            key={t.id}
            label={t.label}
            icon={t.icon}
            active={t.id === active}
            href={prefixRoute(`${ROUTES.Actions}/${t.id}`)}
          />
        ))}
      </TabsBar>
    </div>
  );
}
