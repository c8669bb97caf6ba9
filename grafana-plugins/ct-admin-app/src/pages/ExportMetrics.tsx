import React, { useState } from 'react';
import { Field, Input, LinkButton, RadioButtonGroup, Select, Stack, Text } from '@grafana/ui';
import { api } from '../api/client';
import { ApiErrorAlert } from '../components/ApiErrorAlert/ApiErrorAlert';
import { testIds } from '../components/testIds';
import { localToIso } from './AuditLog';
import { useLoad } from '../utils/useLoad';

const STEPS = [
  { label: '5 min', value: '5m' },
  { label: '1 hour', value: '1h' },
  { label: '1 day', value: '1d' },
];

/** A Date as a datetime-local value (local time). */
function toLocalInput(d: Date): string {
  const off = d.getTimezoneOffset() * 60_000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

export function ExportMetrics() {
  const catalogue = useLoad(() => api.exports(), []);
  const [name, setName] = useState('');
  const [from, setFrom] = useState(() => toLocalInput(new Date(Date.now() - 7 * 86400_000)));
  const [to, setTo] = useState(() => toLocalInput(new Date()));
  const [step, setStep] = useState('1h');
  const chosen = catalogue.value?.data.find((e) => e.name === name);
  const fromIso = localToIso(from);
  const toIso = localToIso(to);
  const ready = Boolean(chosen && fromIso && toIso && fromIso <= toIso);
  const href = (format: 'csv' | 'json') =>
    ready ? api.exportUrl(name, { from: fromIso!, to: toIso!, step, format }) : undefined;

  return (
    <div data-testid={testIds.exports.container}>
      <Stack direction="column" gap={2}>
        <Text color="secondary">
          Downloads one of the platform&apos;s named exports from Prometheus over a range, one value per step. The file
          streams straight to disk; the export is recorded in the audit log with the number of rows sent.
        </Text>
        {catalogue.error ? (
          <ApiErrorAlert error={catalogue.error} action="Loading the export catalogue" onRetry={catalogue.reload} />
        ) : null}
        <Stack direction="row" gap={2} wrap="wrap" alignItems="flex-end">
          <Field label="Export">
            <Select
              width={36}
              options={(catalogue.value?.data ?? []).map((e) => ({
                label: e.name,
                value: e.name,
                description: e.description,
              }))}
              value={name || null}
              onChange={(v) => setName(v?.value ?? '')}
              isLoading={catalogue.loading}
              placeholder="Choose an export"
              data-testid={testIds.exports.name}
              inputId="export-name"
            />
          </Field>
          <Field label="From">
            <Input
              type="datetime-local"
              value={from}
              onChange={(e) => setFrom(e.currentTarget.value)}
              data-testid={testIds.exports.from}
            />
          </Field>
          <Field label="To" invalid={Boolean(fromIso && toIso && fromIso > toIso)} error="must not be before From">
            <Input
              type="datetime-local"
              value={to}
              onChange={(e) => setTo(e.currentTarget.value)}
              data-testid={testIds.exports.to}
            />
          </Field>
          <Field label="Step">
            <div data-testid={testIds.exports.step}>
              <RadioButtonGroup options={STEPS} value={step} onChange={setStep} />
            </div>
          </Field>
        </Stack>
        {chosen ? <Text>{`${chosen.description} Columns: ${chosen.columns.join(', ')} (${chosen.unit}).`}</Text> : null}
        <Stack direction="row" gap={1}>
          <LinkButton
            icon="download-alt"
            href={href('csv')}
            download={`${name}.csv`}
            disabled={!ready}
            data-testid={testIds.exports.csv}
          >
            Download CSV
          </LinkButton>
          <LinkButton
            icon="download-alt"
            variant="secondary"
            href={href('json')}
            download={`${name}.json`}
            disabled={!ready}
            data-testid={testIds.exports.json}
          >
            Download JSON
          </LinkButton>
        </Stack>
      </Stack>
    </div>
  );
}
