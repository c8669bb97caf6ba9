import React from 'react';
import { Alert, ClipboardButton, Field, Input, Stack, Text } from '@grafana/ui';
import type { Rotation } from '../../api/types';
import { ago, dateTime } from '../../utils/format';
import { testIds } from '../testIds';

/**
 * The new secret of a rotation, shown once: it lives only in the state of the page that asked
 * for it (never stored, never logged), so leaving the page forgets it.
 */
export function OneTimeSecret({ rotation }: { rotation: Rotation }) {
  return (
    <Alert severity="success" title={`New webhook secret for ${rotation.client} (version ${rotation.version})`}>
      <Stack direction="column" gap={1}>
        <Text>
          Copy it now into the client&apos;s n8n workflows: it is shown only this once and cannot be displayed again.
        </Text>
        <Field label="New secret">
          <Stack direction="row" gap={1}>
            <Input
              readOnly
              value={rotation.secret}
              data-testid={testIds.rotate.secret}
              width={70}
              aria-label="New secret"
            />
            <ClipboardButton icon="copy" variant="primary" getText={() => rotation.secret}>
              Copy
            </ClipboardButton>
          </Stack>
        </Field>
        <Text data-testid={testIds.rotate.expiry}>
          {rotation.previousVersion === null
            ? 'There was no previous secret.'
            : rotation.previousValidUntil
              ? `The previous secret (version ${rotation.previousVersion}) keeps verifying until ${dateTime(rotation.previousValidUntil)} (${ago(rotation.previousValidUntil)}).`
              : `The previous secret (version ${rotation.previousVersion}) stopped verifying now.`}
        </Text>
      </Stack>
    </Alert>
  );
}
