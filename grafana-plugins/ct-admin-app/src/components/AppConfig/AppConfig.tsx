import React, { useState, type ChangeEvent } from 'react';
import { lastValueFrom } from 'rxjs';
import type { AppPluginMeta, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { Alert, Button, Field, FieldSet, Input, SecretInput, Stack, Text } from '@grafana/ui';
import { api } from '../../api/client';
import { ApiError, toApiError } from '../../api/errors';
import type { Me } from '../../api/types';
import { ApiErrorAlert } from '../ApiErrorAlert/ApiErrorAlert';
import { testIds } from '../testIds';

/** jsonData of the app: what Grafana may show; the proxy secret lives in secureJsonData only. */
export type AppSettings = {
  apiUrl?: string;
};

export interface AppConfigProps extends PluginConfigPageProps<AppPluginMeta<AppSettings>> {}

/** An API base URL Grafana can proxy to: http(s), no path beyond "/", no query. */
export function checkApiUrl(v: string): string | undefined {
  if (!v) {
    return 'The API URL is required';
  }
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'Enter a full URL such as http://ct-api:8080';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return 'The URL must start with http:// or https://';
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    return 'Give the API base URL only, without a path (the plugin adds /api/…)';
  }
  return undefined;
}

const AppConfig = ({ plugin }: AppConfigProps) => {
  const { enabled, pinned, jsonData, secureJsonFields } = plugin.meta;
  const [apiUrl, setApiUrl] = useState(jsonData?.apiUrl ?? '');
  const [secret, setSecret] = useState('');
  const [secretSet, setSecretSet] = useState(Boolean(secureJsonFields?.proxySecret));
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | undefined>();
  const [testing, setTesting] = useState(false);
  const [found, setFound] = useState<Me | undefined>();
  const [testError, setTestError] = useState<ApiError | undefined>();
  const urlProblem = apiUrl ? checkApiUrl(apiUrl.trim()) : undefined;
  const canSave = !saving && !checkApiUrl(apiUrl.trim()) && (secretSet || secret.length > 0);

  const save = async () => {
    setSaving(true);
    setSaveError(undefined);
    try {
      await lastValueFrom(
        getBackendSrv().fetch({
          url: `/api/plugins/${plugin.meta.id}/settings`,
          method: 'POST',
          data: {
            enabled: enabled ?? true,
            pinned: pinned ?? true,
            jsonData: { ...jsonData, apiUrl: apiUrl.trim().replace(/\/$/, '') },
            // Sent only when typed: the stored secret is never read back, and an untouched field keeps it.
            ...(secretSet ? {} : { secureJsonData: { proxySecret: secret } }),
          } satisfies Partial<PluginMeta<AppSettings>> & { secureJsonData?: Record<string, string> },
          showErrorAlert: false,
        })
      );
      // Grafana hands the plugin its settings at load: reload so pages and the proxy agree.
      window.location.reload();
    } catch (err) {
      setSaveError(toApiError(err).message);
      setSaving(false);
    }
  };

  const test = async () => {
    setTesting(true);
    setFound(undefined);
    setTestError(undefined);
    try {
      setFound(await api.me());
    } catch (err) {
      setTestError(toApiError(err));
    } finally {
      setTesting(false);
    }
  };

  return (
    <Stack direction="column" gap={2}>
      <FieldSet label="Platform API">
        <Field
          label="API URL"
          description="Where Grafana's server reaches the platform API (ct serve api), e.g. http://ct-api:8080. Calls go through Grafana's plugin proxy; browsers never call the API."
          invalid={Boolean(urlProblem)}
          error={urlProblem}
        >
          <Input
            width={60}
            id="config-api-url"
            data-testid={testIds.appConfig.apiUrl}
            value={apiUrl}
            placeholder="http://ct-api:8080"
            onChange={(e: ChangeEvent<HTMLInputElement>) => setApiUrl(e.target.value)}
          />
        </Field>
        <Field
          label="Proxy secret"
          description="The API's API_GRAFANA_PROXY_SECRET (32 characters or more). Grafana stores it encrypted and adds it to every proxied call; it is never sent back to a browser."
        >
          <SecretInput
            width={60}
            id="config-proxy-secret"
            data-testid={testIds.appConfig.proxySecret}
            value={secret}
            isConfigured={secretSet}
            placeholder="API_GRAFANA_PROXY_SECRET"
            onChange={(e: ChangeEvent<HTMLInputElement>) => setSecret(e.target.value.trim())}
            onReset={() => {
              setSecret('');
              setSecretSet(false);
            }}
          />
        </Field>
        <Stack direction="row" gap={1}>
          <Button
            onClick={save}
            disabled={!canSave}
            icon={saving ? 'spinner' : 'save'}
            data-testid={testIds.appConfig.save}
          >
            Save settings
          </Button>
          <Button
            variant="secondary"
            onClick={test}
            disabled={testing}
            icon={testing ? 'spinner' : 'heart-rate'}
            data-testid={testIds.appConfig.test}
          >
            Test connection
          </Button>
        </Stack>
        <Text color="secondary" variant="bodySmall">
          Test connection uses the saved settings: save first after a change. The API also needs the Grafana user on
          each call ([dataproxy] send_user_header = true).
        </Text>
      </FieldSet>
      {saveError ? <Alert severity="error" title={`Saving failed: ${saveError}`} /> : null}
      <div data-testid={testIds.appConfig.testResult}>
        {found ? (
          <Alert severity="success" title="Connected to the platform API">
            {`The API answered through Grafana's proxy and records you as ${found.actor} (${found.actorType}) with the scopes ${found.scopes.join(', ')}.`}
          </Alert>
        ) : null}
        {testError ? <ApiErrorAlert error={testError} action="Test connection" /> : null}
      </div>
    </Stack>
  );
};

export default AppConfig;
