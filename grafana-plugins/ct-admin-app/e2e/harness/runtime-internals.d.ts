// The module Grafana's frontend uses to install its page chrome around app pages.
declare module '@grafana/runtime/dist/esm/components/PluginPage.mjs' {
  import type { ComponentType } from 'react';
  import type { PluginPageProps } from '@grafana/runtime';
  export function setPluginPage(component: ComponentType<PluginPageProps>): void;
}
