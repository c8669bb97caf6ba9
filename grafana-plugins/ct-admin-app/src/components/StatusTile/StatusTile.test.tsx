import React from 'react';
import { render, screen } from '@testing-library/react';
import { StatusTile } from './StatusTile';
import { testIds } from '../testIds';

describe('StatusTile', () => {
  it('shows the status, the figure, the details and links to its dashboard', () => {
    render(
      <StatusTile
        name="alerts"
        title="Firing alerts"
        status="critical"
        value="3 firing"
        details={['2 critical', '1 high']}
        href="/d/ct-admin-overview"
        linkText="Admin overview dashboard"
      />
    );
    expect(screen.getByTestId(testIds.overview.tile('alerts'))).toHaveAttribute('data-status', 'critical');
    expect(screen.getByText('Critical')).toBeInTheDocument();
    expect(screen.getByText('3 firing')).toBeInTheDocument();
    expect(screen.getByText('1 high')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /Admin overview dashboard/ })).toHaveAttribute(
      'href',
      '/d/ct-admin-overview'
    );
  });
});
