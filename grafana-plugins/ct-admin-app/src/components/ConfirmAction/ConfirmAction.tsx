import React, { useState } from 'react';
import { Button, ConfirmModal, type ButtonVariant, type IconName } from '@grafana/ui';
import { toApiError, type ApiError } from '../../api/errors';
import { testIds } from '../testIds';

interface Props<T> {
  label: string;
  /** The modal's title: what is about to happen. */
  title: string;
  /** The consequence, in words the operator can weigh. */
  body: React.ReactNode;
  confirmText: string;
  run: () => Promise<T>;
  onDone: (value: T) => void;
  onError: (error: ApiError) => void;
  variant?: ButtonVariant;
  icon?: IconName;
  disabled?: boolean;
  testId?: string;
}

/** A state-changing button: asks for confirmation naming the consequence, then runs once. */
export function ConfirmAction<T>(p: Props<T>) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirm = async () => {
    setOpen(false);
    setBusy(true);
    try {
      p.onDone(await p.run());
    } catch (err) {
      p.onError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button
        variant={p.variant ?? 'primary'}
        icon={busy ? 'spinner' : p.icon}
        disabled={p.disabled || busy}
        onClick={() => setOpen(true)}
        data-testid={p.testId}
      >
        {busy ? `${p.label}…` : p.label}
      </Button>
      <ConfirmModal
        isOpen={open}
        title={p.title}
        body={<div data-testid={testIds.confirm}>{p.body}</div>}
        confirmText={p.confirmText}
        confirmVariant={p.variant === 'destructive' ? 'destructive' : 'primary'}
        onConfirm={confirm}
        onDismiss={() => setOpen(false)}
      />
    </>
  );
}
