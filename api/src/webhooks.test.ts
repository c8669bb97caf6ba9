import { createHmac } from 'node:crypto';
import { signWebhook, webhookEventSchema } from './webhooks';

describe('webhook signature', () => {
  it('is HMAC-SHA256 over "<timestamp>.<raw body>" in hex, with the timestamp beside it', () => {
    const body = '{"id":"1","type":"lead.captured"}';
    const h = signWebhook('whsec_test', body, 1700000000);
    expect(h['X-CT-Timestamp']).toBe('1700000000');
    expect(h['X-CT-Signature']).toBe(`sha256=${createHmac('sha256', 'whsec_test').update(`1700000000.${body}`).digest('hex')}`);
  });
});

describe('event schema', () => {
  it('accepts a minimal event (an id, the idempotency key, and a type) and names bad fields', () => {
    expect(webhookEventSchema.safeParse({ id: 'evt-1', type: 'invoice.sent' }).success).toBe(true);
    const bad = webhookEventSchema.safeParse({ type: 'Invoice Sent', occurredAt: 'yesterday', data: [] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['data', 'id', 'occurredAt', 'type']);
  });
});
