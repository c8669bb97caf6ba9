/**
 * The browser side of the harness: what Grafana's frontend gives an app plugin, built from the
 * same @grafana/* packages the plugin is compiled against. It provides the plugin's externals to
 * its AMD module (as Grafana's SystemJS does), sets @grafana/runtime's backend service to a fetch
 * against the harness server (whose /api/plugin-proxy/ is the stand-in of Grafana's plugin proxy),
 * renders the app's root page or its configuration page in Grafana's theme, and gives PluginPage a
 * header with the app's navigation, like Grafana's page chrome.
 */
import * as emotionCss from '@emotion/css';
import * as grafanaData from '@grafana/data';
import { AppPlugin, PluginContextProvider, createTheme, type AppPluginMeta, type KeyValue } from '@grafana/data';
import * as grafanaRuntime from '@grafana/runtime';
import {
  setBackendSrv,
  type BackendSrv,
  type BackendSrvRequest,
  type FetchResponse,
  type PluginPageProps,
} from '@grafana/runtime';
// Not exported by @grafana/runtime: the hook Grafana itself uses to install its page chrome.
// eslint-disable-next-line no-restricted-imports
import { setPluginPage } from '@grafana/runtime/dist/esm/components/PluginPage.mjs';
import * as grafanaUi from '@grafana/ui';
import { GlobalStyles, Stack, Text, ThemeContext } from '@grafana/ui';
import React from 'react';
import * as jsxRuntime from 'react/jsx-runtime';
import * as ReactDOM from 'react-dom';
import { createRoot } from 'react-dom/client';
import * as reactRouter from 'react-router';
import { BrowserRouter } from 'react-router-dom';
import * as rxjs from 'rxjs';
import { Observable } from 'rxjs';

interface Boot {
  user: { login: string; orgRole: string };
  pluginId: string;
  includes: Array<{ name: string; path: string; role?: string }>;
}
declare global {
  interface Window {
    harnessBoot: Boot;
    define: ((deps: string[], factory: (...mods: unknown[]) => unknown) => void) & { amd?: object };
  }
}

const boot = window.harnessBoot;
const pluginBase = `/public/plugins/${boot.pluginId}/`;

// --------------------------------------------------------------- backend service
function fetchObservable<T>(req: BackendSrvRequest): Observable<FetchResponse<T>> {
  return new Observable<FetchResponse<T>>((sub) => {
    const controller = new AbortController();
    const url = req.params ? `${req.url}?${new URLSearchParams(req.params as Record<string, string>)}` : req.url;
    const hasBody = req.data !== undefined && req.method !== 'GET';
    fetch(url, {
      method: req.method ?? 'GET',
      headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...(req.headers ?? {}) },
      body: hasBody ? JSON.stringify(req.data) : undefined,
      signal: controller.signal,
      credentials: 'same-origin',
    }).then(
      async (res) => {
        const text = await res.text();
        let data: unknown = text;
        try {
          data = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON */
        }
        const response = {
          data: data as T,
          status: res.status,
          statusText: res.statusText,
          ok: res.ok,
          headers: res.headers,
          redirected: res.redirected,
          type: res.type,
          url: res.url,
          config: req,
        } as FetchResponse<T>;
        if (res.ok) {
          sub.next(response);
          sub.complete();
        } else {
          // Grafana's FetchError
          sub.error({ status: res.status, statusText: res.statusText, data, config: req });
        }
      },
      (err: Error) => sub.error({ status: 0, statusText: err.message, data: { message: err.message }, config: req })
    );
    return () => controller.abort();
  });
}

setBackendSrv({ fetch: fetchObservable } as unknown as BackendSrv);

// --------------------------------------------------------------- page chrome
function currentInclude() {
  const path = window.location.pathname;
  const withId = boot.includes.map((i) => ({ ...i, path: i.path.replace('%PLUGIN_ID%', boot.pluginId) }));
  return withId.filter((i) => path.startsWith(i.path)).sort((a, b) => b.path.length - a.path.length)[0];
}

function HarnessPluginPage({ children }: PluginPageProps) {
  const theme = grafanaUi.useTheme2();
  const here = currentInclude();
  return (
    <div style={{ padding: theme.spacing(2, 3), minHeight: '100vh' }}>
      <Stack direction="column" gap={2}>
        <Stack direction="row" justifyContent="space-between" alignItems="center">
          <Stack direction="row" gap={2} alignItems="center">
            <Text element="h1" variant="h2">
              {here?.name ?? 'CT Admin'}
            </Text>
            {boot.includes.map((i) => (
              <grafanaUi.LinkButton
                key={i.path}
                fill="text"
                size="sm"
                href={i.path.replace('%PLUGIN_ID%', boot.pluginId)}
              >
                {i.name}
              </grafanaUi.LinkButton>
            ))}
          </Stack>
          <Text color="secondary" variant="bodySmall">{`Signed in as ${boot.user.login} (${boot.user.orgRole})`}</Text>
        </Stack>
        <div>{children}</div>
      </Stack>
    </div>
  );
}
setPluginPage(HarnessPluginPage as never);

// --------------------------------------------------------------- AMD loading of the plugin
const shared: Record<string, unknown> = {
  react: React,
  'react-dom': ReactDOM,
  'react/jsx-runtime': jsxRuntime,
  'react-router': reactRouter,
  rxjs,
  '@emotion/css': emotionCss,
  '@grafana/data': grafanaData,
  '@grafana/ui': grafanaUi,
  '@grafana/runtime': grafanaRuntime,
};

function loadPlugin(): Promise<{ plugin: AppPlugin }> {
  return new Promise((resolve, reject) => {
    const define = (deps: string[], factory: (...mods: unknown[]) => unknown) => {
      try {
        const mods = deps.map((d) => {
          if (d === 'module') {
            return { uri: `${pluginBase}module.js` };
          }
          if (!(d in shared)) {
            throw new Error(`the plugin needs ${d}, which Grafana would provide and this harness does not`);
          }
          return shared[d];
        });
        resolve(factory(...mods) as { plugin: AppPlugin });
      } catch (err) {
        reject(err);
      }
    };
    define.amd = {};
    window.define = define;
    const script = document.createElement('script');
    script.src = `${pluginBase}module.js`;
    script.onerror = () => reject(new Error('module.js could not be loaded'));
    document.head.appendChild(script);
  });
}

async function main() {
  const theme = createTheme({ colors: { mode: 'dark' } });
  const root = createRoot(document.getElementById('root')!);
  const { plugin } = await loadPlugin();
  const settings = await (await fetch(`/api/plugins/${boot.pluginId}/settings`, { credentials: 'same-origin' })).json();
  const meta = settings as AppPluginMeta<KeyValue>;
  plugin.meta = meta;
  const query = Object.fromEntries(new URLSearchParams(window.location.search));
  const isConfig = window.location.pathname.startsWith(`/plugins/${boot.pluginId}`);
  const ConfigBody = plugin.configPages?.[0]?.body;
  const Root = plugin.root;
  root.render(
    <ThemeContext.Provider value={theme}>
      <GlobalStyles />
      <PluginContextProvider meta={meta}>
        {isConfig ? (
          <HarnessPluginPage>
            {ConfigBody ? <ConfigBody plugin={plugin} query={query} /> : 'no configuration page'}
          </HarnessPluginPage>
        ) : (
          <BrowserRouter basename={`/a/${boot.pluginId}`}>
            {Root ? (
              <Root meta={meta} basename={`/a/${boot.pluginId}`} onNavChanged={() => undefined} query={query} path="" />
            ) : null}
          </BrowserRouter>
        )}
      </PluginContextProvider>
    </ThemeContext.Provider>
  );
}

main().catch((err: Error) => {
  document.getElementById('root')!.textContent = `harness failed: ${err.message}`;
  throw err;
});
