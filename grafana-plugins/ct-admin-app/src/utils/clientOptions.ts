import type { SelectableValue } from '@grafana/data';
import type { Client } from '../api/types';

export function clientOptions(
  clients: Client[] | undefined,
  opts: { all?: boolean; excludeChurned?: boolean } = {}
): Array<SelectableValue<string>> {
  const list = (clients ?? [])
    .filter((c) => !opts.excludeChurned || c.status !== 'churned')
    .map((c) => ({ label: `${c.name} (${c.slug})`, value: c.slug, description: c.status }));
  return opts.all ? [{ label: 'All clients', value: '' }, ...list] : list;
}
