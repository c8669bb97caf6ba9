import React from 'react';
import { Alert, LinkButton, Stack, Text } from '@grafana/ui';
import { adviceFor, type ApiError } from '../../api/errors';
import { CONFIG_PAGE_URL } from '../../constants';
import { testIds } from '../testIds';

const TITLES: Record<ApiError['kind'], string> = {
  unreachable: 'The platform API is unreachable',
  credentials: 'The API refused the configured credentials',
  forbidden: 'Not allowed',
  notFound: 'Not found',
  conflict: 'Already in progress',
  unavailable: 'The platform database is unavailable',
  invalid: 'The API refused the input',
  notConfigured: 'Not configured',
  upstream: 'A service behind the API failed',
  other: 'The API answered with an error',
};

interface Props {
  error: ApiError;
  /** What was being done, e.g. "Loading clients". */
  action?: string;
  onRetry?: () => void;
}

/** An API failure: what happened, the API's own message, what to check, and where to fix it. */
export function ApiErrorAlert({ error, action, onRetry }: Props) {
  const severity = error.kind === 'conflict' || error.kind === 'invalid' ? 'warning' : 'error';
  return (
    <div data-testid={testIds.error} data-kind={error.kind} data-status={error.status}>
      <Alert
        severity={severity}
        title={`${action ? `${action}: ` : ''}${TITLES[error.kind]}${error.status ? ` (${error.status})` : ''}`}
      >
        <Stack direction="column" gap={1}>
          <Text>{error.message}</Text>
          <Text color="secondary">{adviceFor(error)}</Text>
          {error.fields?.length ? (
            <ul>
              {error.fields.map((f) => (
                <li key={`${f.in}.${f.field}`}>
                  {f.field}: {f.message}
                </li>
              ))}
            </ul>
          ) : null}
          {error.requestId ? (
            <Text color="secondary" variant="bodySmall">{`Request id: ${error.requestId}`}</Text>
          ) : null}
          <Stack direction="row" gap={1}>
            {onRetry ? (
              <LinkButton variant="secondary" size="sm" icon="sync" onClick={onRetry}>
                Retry
              </LinkButton>
            ) : null}
            {error.kind === 'credentials' ||
            error.kind === 'unreachable' ||
            (error.kind === 'forbidden' && !error.fromApi) ? (
              <LinkButton variant="secondary" size="sm" icon="cog" href={CONFIG_PAGE_URL}>
                Open the configuration page
              </LinkButton>
            ) : null}
          </Stack>
        </Stack>
      </Alert>
    </div>
  );
}
