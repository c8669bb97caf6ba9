import React from 'react';
import { render, screen } from '@testing-library/react';
import { QuickActionsTabs } from './QuickActionsTabs';
import { ACTIONS } from '../../constants';

describe('QuickActionsTabs', () => {
  it('links the five quick actions and marks the active one', () => {
    render(<QuickActionsTabs active={ACTIONS.Audit} />);
    const tabs = screen.getAllByRole('tab');
    expect(tabs.map((t) => t.textContent)).toEqual([
      'Restart stuck workflows',
      "Rotate a client's secret",
      'Force a backup',
      'Audit log',
      'Export metrics',
    ]);
    expect(screen.getByRole('tab', { name: /Audit log/ })).toHaveAttribute('aria-selected', 'true');
    expect(screen.getByRole('tab', { name: /Force a backup/ })).toHaveAttribute('aria-selected', 'false');
    expect(
      screen.getByRole('tab', { name: /Export metrics/ }).closest('a') ??
        screen.getByRole('tab', { name: /Export metrics/ })
    ).toHaveAttribute('href', '/a/ct-admin-app/actions/export');
  });
});
