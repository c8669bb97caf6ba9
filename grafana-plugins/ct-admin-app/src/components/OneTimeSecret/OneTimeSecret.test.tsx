import React from 'react';
import { render, screen } from '@testing-library/react';
import { OneTimeSecret } from './OneTimeSecret';
import { testIds } from '../testIds';

describe('OneTimeSecret', () => {
  it('shows the secret once with a copy button and when the previous one stops verifying', () => {
    const until = new Date(Date.now() + 3600_000).toISOString();
    render(
      <OneTimeSecret
        rotation={{
          client: 'pizza-shop',
          secret: 'whsec_abc',
          version: 3,
          previousVersion: 2,
          previousValidUntil: until,
        }}
      />
    );
    expect(screen.getByTestId(testIds.rotate.secret)).toHaveValue('whsec_abc');
    expect(screen.getByRole('button', { name: /copy/i })).toBeInTheDocument();
    expect(screen.getByText(/shown only this once/)).toBeInTheDocument();
    expect(screen.getByTestId(testIds.rotate.expiry)).toHaveTextContent(
      /version 2\) keeps verifying until .* \(in 5\dm|in 1h/
    );
  });

  it('says when the previous secret stopped at once, or there was none', () => {
    const { rerender } = render(
      <OneTimeSecret
        rotation={{ client: 'a', secret: 's', version: 2, previousVersion: 1, previousValidUntil: null }}
      />
    );
    expect(screen.getByTestId(testIds.rotate.expiry)).toHaveTextContent('stopped verifying now');
    rerender(
      <OneTimeSecret
        rotation={{ client: 'a', secret: 's', version: 1, previousVersion: null, previousValidUntil: null }}
      />
    );
    expect(screen.getByTestId(testIds.rotate.expiry)).toHaveTextContent('no previous secret');
  });
});
