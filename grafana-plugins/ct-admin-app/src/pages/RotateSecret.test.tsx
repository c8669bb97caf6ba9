import React from 'react';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { RotateSecret } from './RotateSecret';
import { setBackend } from '../test/setup';
import { apiError } from '../test/backend';
import { client } from '../test/fixtures';
import { testIds } from '../components/testIds';

async function pickClient(label: RegExp) {
  await userEvent.click(screen.getByText('Choose a client'));
  await userEvent.click(await screen.findByText(label));
}

describe('RotateSecret', () => {
  it('rotates after a confirmation naming the grace, shows the secret once, and forgets it when the page goes', async () => {
    const b = setBackend({
      'GET /api/clients': {
        data: { data: [client('pizza-shop'), client('old-co', { status: 'churned' })], nextCursor: null },
      },
      'POST /api/admin/clients/pizza-shop/rotate-secret': {
        data: {
          client: 'pizza-shop',
          secret: 'whsec_new',
          version: 2,
          previousVersion: 1,
          previousValidUntil: '2026-03-08T12:00:00Z',
        },
      },
    });
    const { unmount } = render(<RotateSecret />);
    expect(screen.getByTestId(testIds.rotate.submit)).toBeDisabled();
    await userEvent.click(screen.getByText('Choose a client'));
    expect(screen.queryByText(/Old Co/)).not.toBeInTheDocument();
    await userEvent.click(await screen.findByText(/Pizza Shop/));
    await userEvent.click(screen.getByRole('radio', { name: '7 days' }));
    await userEvent.click(screen.getByTestId(testIds.rotate.submit));
    expect(screen.getByText(/keeps verifying for 7 days, then stops/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Rotate' }));
    expect(await screen.findByTestId(testIds.rotate.secret)).toHaveValue('whsec_new');
    expect(screen.getByTestId(testIds.rotate.expiry)).toHaveTextContent(
      'version 1) keeps verifying until 2026-03-08 12:00:00 UTC'
    );
    expect(b.requests.find((r) => r.method === 'POST')?.data).toEqual({ grace: '7d' });
    unmount();
    render(<RotateSecret />);
    await waitFor(() => expect(b.requests.filter((r) => r.path === '/api/clients')).toHaveLength(2));
    expect(screen.queryByTestId(testIds.rotate.secret)).not.toBeInTheDocument();
    expect(screen.queryByDisplayValue('whsec_new')).not.toBeInTheDocument();
  });

  it('takes a custom grace and shows a refusal without a secret', async () => {
    const b = setBackend({
      'GET /api/clients': { data: { data: [client('pizza-shop')], nextCursor: null } },
      'POST /api/admin/clients/pizza-shop/rotate-secret': apiError(
        400,
        'validation_failed',
        'body grace: must be at most 2592000 seconds'
      ),
    });
    render(<RotateSecret />);
    await pickClient(/Pizza Shop/);
    await userEvent.click(screen.getByRole('radio', { name: 'Other' }));
    await userEvent.type(screen.getByTestId(testIds.rotate.customGrace), '90d');
    await userEvent.click(screen.getByTestId(testIds.rotate.submit));
    await userEvent.click(screen.getByRole('button', { name: 'Rotate' }));
    expect(await screen.findByText('body grace: must be at most 2592000 seconds')).toBeInTheDocument();
    expect(screen.queryByTestId(testIds.rotate.secret)).not.toBeInTheDocument();
    expect(b.requests.find((r) => r.method === 'POST')?.data).toEqual({ grace: '90d' });
  });
});
