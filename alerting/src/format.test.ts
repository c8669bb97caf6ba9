import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { groupPayload } from '../../test/alerting/payloads';
import { clip, smsText, spokenText, voiceTwiml } from './format';
import type { WebhookPayload } from './webhook';

const ROOT = path.resolve(__dirname, '..', '..');

/** Renders a definition of alerting/templates/*.tmpl with Alertmanager's own template engine. */
function renderTemplate(definition: string, data: WebhookPayload): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-tmpl-'));
  try {
    const file = path.join(dir, 'data.json');
    writeFileSync(file, JSON.stringify(data));
    return execFileSync(
      'amtool',
      [
        'template',
        'render',
        `--template.glob=${path.join(ROOT, 'alerting', 'templates', '*.tmpl')}`,
        `--template.data=${file}`,
        `--template.text={{ template "${definition}" . }}`,
      ],
      { encoding: 'utf8' },
    ).replace(/\n$/, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SMS text', () => {
  const cases: [string, WebhookPayload][] = [
    [
      'one alert of a client',
      groupPayload({ tier: 'text', severity: 'high', alertname: 'WorkflowStuck', client: 'hvac', summaries: ['hvac: stuck 31m'] }),
    ],
    ['no client, several alerts', groupPayload({ summaries: ['Platform database unreachable', 'second', 'third'] })],
    ['resolved', groupPayload({ status: 'resolved', alertname: 'N8nDown', severity: 'high', summaries: ['n8n is unreachable'] })],
    ['a summary far over 160 characters', groupPayload({ client: 'pizza', summaries: ['x'.repeat(150) + ' tail that is cut off'] })],
    ['exactly 160 characters', groupPayload({ alertname: 'A', severity: 'low', summaries: ['y'.repeat(160 - 'FIRING low A: '.length)] })],
  ];

  it.each(cases)('is at most 160 characters and equals the ct.sms.text template (%s)', (_name, payload) => {
    const text = smsText(payload);
    expect(Array.from(text).length).toBeLessThanOrEqual(160);
    expect(text).toBe(renderTemplate('ct.sms.text', payload));
  });

  it('cuts with an ellipsis only when over the limit', () => {
    expect(clip('abc', 3)).toBe('abc');
    expect(clip('abcd', 3)).toBe('...');
    expect(clip('abcdef', 5)).toBe('ab...');
    expect(smsText(cases[4]![1])).toHaveLength(160);
    expect(smsText(cases[4]![1]).endsWith('...')).toBe(false);
  });
});

describe('voice call', () => {
  it('speaks the severity and every summary, escaped for TwiML', () => {
    const payload = groupPayload({ summaries: ['Disk <almost> full & "hot"'] });
    expect(spokenText(payload)).toBe(
      'CT Platform alert. 1 critical alert. Disk <almost> full & "hot". Details and runbook are in your email.',
    );
    const twiml = voiceTwiml(payload);
    expect(twiml).toMatch(/^<Response><Say language="en-US">.*<\/Say><Pause length="1"\/><Say language="en-US">.*<\/Say><\/Response>$/);
    expect(twiml).toContain('Disk &lt;almost&gt; full &amp; &quot;hot&quot;');
  });

  it('stays under Twilio limits with many alerts', () => {
    const payload = groupPayload({ summaries: Array.from({ length: 20 }, (_, i) => `alert number ${i} ${'z'.repeat(300)}`) });
    expect(spokenText(payload)).toContain('And 15 more.');
    expect(voiceTwiml(payload).length).toBeLessThanOrEqual(4000);
  });
});
