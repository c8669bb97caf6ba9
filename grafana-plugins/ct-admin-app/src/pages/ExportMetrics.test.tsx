import React from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ExportMetrics } from './ExportMetrics';
import { setBackend } from '../test/setup';
import { testIds } from '../components/testIds';

describe('ExportMetrics', () => {
  it('builds a proxied download link from the chosen export, range and step, and sends no data through the page', async () => {
    const b = setBackend({
      'GET /api/admin/exports': {
        data: {
          data: [
            {
              name: 'mrr',
              description: 'Monthly recurring revenue by currency.',
              unit: 'currency units',
              columns: ['timestamp', 'currency', 'value'],
            },
          ],
        },
      },
    });
    render(<ExportMetrics />);
    expect(screen.getByTestId(testIds.exports.csv)).toHaveAttribute('aria-disabled', 'true');
    await userEvent.click(screen.getByText('Choose an export'));
    await userEvent.click(await screen.findByText('mrr'));
    await userEvent.click(screen.getByRole('radio', { name: '1 day' }));
    const csv = screen.getByTestId(testIds.exports.csv);
    const url = new URL(csv.getAttribute('href')!, 'http://grafana.test');
    expect(url.pathname).toBe('/api/plugin-proxy/ct-admin-app/api/admin/exports/mrr');
    expect(url.searchParams.get('step')).toBe('1d');
    expect(url.searchParams.get('format')).toBe('csv');
    expect(Date.parse(url.searchParams.get('to')!) - Date.parse(url.searchParams.get('from')!)).toBeCloseTo(
      7 * 86400_000,
      -5
    );
    expect(csv).toHaveAttribute('download', 'mrr.csv');
    expect(
      new URL(screen.getByTestId(testIds.exports.json).getAttribute('href')!, 'http://x').searchParams.get('format')
    ).toBe('json');
    expect(screen.getByText(/Columns: timestamp, currency, value/)).toBeInTheDocument();
    expect(b.requests.map((r) => r.path)).toEqual(['/api/admin/exports']);
  });
});
