import React from 'react';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { PluginType } from '@grafana/data';
import AppConfig, { checkApiUrl, type AppConfigProps } from './AppConfig';
import { setBackend } from '../../test/setup';
import { apiError } from '../../test/backend';
import { testIds } from '../testIds';

const props = (jsonData: Record<string, string>, secureJsonFields: Record<string, boolean>) =>
  ({
    plugin: {
      meta: {
        id: 'ct-admin-app',
        name: 'CT Admin',
        type: PluginType.app,
        enabled: true,
        pinned: true,
        jsonData,
        secureJsonFields,
      },
    },
    query: {},
  }) as unknown as AppConfigProps;

describe('AppConfig', () => {
  const reload = jest.fn();
  beforeAll(() => {
    Object.defineProperty(window, 'location', { value: { ...window.location, reload }, writable: true });
  });

  it('saves the API URL in jsonData and the proxy secret in secureJsonData, then reloads', async () => {
    const b = setBackend({
      'POST /api/plugins/ct-admin-app/settings': { data: { message: 'Plugin settings updated' } },
    });
    render(<AppConfig {...props({}, {})} />);
    expect(screen.getByTestId(testIds.appConfig.save)).toBeDisabled();
    await userEvent.type(screen.getByTestId(testIds.appConfig.apiUrl), 'http://ct-api:8080/');
    await userEvent.type(screen.getByTestId(testIds.appConfig.proxySecret), 'a-very-long-proxy-secret-of-32-chars');
    await userEvent.click(screen.getByTestId(testIds.appConfig.save));
    await waitFor(() => expect(reload).toHaveBeenCalled());
    expect(b.requests[0]?.url).toBe('/api/plugins/ct-admin-app/settings');
    expect(b.requests[0]?.data).toEqual({
      enabled: true,
      pinned: true,
      jsonData: { apiUrl: 'http://ct-api:8080' },
      secureJsonData: { proxySecret: 'a-very-long-proxy-secret-of-32-chars' },
    });
  });

  it('never echoes a stored secret and keeps it when untouched; reset asks for a new one', async () => {
    const b = setBackend({ 'POST /api/plugins/ct-admin-app/settings': { data: {} } });
    render(<AppConfig {...props({ apiUrl: 'http://ct-api:8080' }, { proxySecret: true })} />);
    const secret = screen.getByTestId(testIds.appConfig.proxySecret);
    expect(secret).toHaveValue('configured');
    expect(secret).toBeDisabled();
    await userEvent.click(screen.getByTestId(testIds.appConfig.save));
    await waitFor(() => expect(b.requests).toHaveLength(1));
    expect(b.requests[0]?.data).not.toHaveProperty('secureJsonData');
    await userEvent.click(screen.getByRole('button', { name: 'Reset' }));
    expect(screen.getByTestId(testIds.appConfig.save)).toBeDisabled();
  });

  it('tests the connection through the proxy and says who the API sees', async () => {
    const b = setBackend({
      'GET /api/auth/me': { data: { actor: 'grafana:admin', actorType: 'grafana', scopes: ['admin'] } },
    });
    render(<AppConfig {...props({ apiUrl: 'http://ct-api:8080' }, { proxySecret: true })} />);
    await userEvent.click(screen.getByTestId(testIds.appConfig.test));
    expect(
      await screen.findByText(/records you as grafana:admin \(grafana\) with the scopes admin/)
    ).toBeInTheDocument();
    expect(b.requests[0]?.url).toBe('/api/plugin-proxy/ct-admin-app/api/auth/me');
  });

  it('explains a refused secret and an unreachable API', async () => {
    let n = 0;
    setBackend({
      'GET /api/auth/me': () =>
        ++n === 1 ? apiError(401, 'unauthorized', 'invalid proxy secret') : { status: 502, data: '' },
    });
    render(<AppConfig {...props({ apiUrl: 'http://ct-api:8080' }, { proxySecret: true })} />);
    await userEvent.click(screen.getByTestId(testIds.appConfig.test));
    expect(await screen.findByText(/API_GRAFANA_PROXY_SECRET\./)).toBeInTheDocument();
    await userEvent.click(screen.getByTestId(testIds.appConfig.test));
    expect(await screen.findByText(/The platform API is unreachable/)).toBeInTheDocument();
  });

  it('refuses URLs Grafana cannot use as a base', () => {
    expect(checkApiUrl('ct-api:8080')).toMatch(/http/);
    expect(checkApiUrl('ftp://x')).toMatch(/http:\/\/ or https/);
    expect(checkApiUrl('http://x/api')).toMatch(/without a path/);
    expect(checkApiUrl('https://ct.example')).toBeUndefined();
  });
});
