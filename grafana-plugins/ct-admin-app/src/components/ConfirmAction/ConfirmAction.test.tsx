import React from 'react';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../../api/errors';
import { ConfirmAction } from './ConfirmAction';

describe('ConfirmAction', () => {
  it('runs nothing until confirmed, then runs once and hands back the answer', async () => {
    const run = jest.fn().mockResolvedValue('done');
    const onDone = jest.fn();
    render(
      <ConfirmAction
        label="Pause"
        title="Pause Pizza?"
        body="Its dashboards show it paused."
        confirmText="Pause client"
        run={run}
        onDone={onDone}
        onError={jest.fn()}
      />
    );
    await userEvent.click(screen.getByRole('button', { name: 'Pause' }));
    expect(screen.getByText('Its dashboards show it paused.')).toBeInTheDocument();
    expect(run).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(run).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Pause' }));
    await userEvent.click(screen.getByRole('button', { name: 'Pause client' }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith('done'));
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('hands a failure to onError as an ApiError', async () => {
    const onError = jest.fn();
    const err = new ApiError('conflict', 409, 'already running', true);
    render(
      <ConfirmAction
        label="Go"
        title="Go?"
        body="b"
        confirmText="Yes"
        run={() => Promise.reject(err)}
        onDone={jest.fn()}
        onError={onError}
      />
    );
    await userEvent.click(screen.getByRole('button', { name: 'Go' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes' }));
    await waitFor(() => expect(onError).toHaveBeenCalledWith(err));
  });
});
