import { TwilioFake } from '../../test/alerting/twilio-contract';
import { bodyMarker, callOutcome, markedBody, newMarker, twilioSignature, validTwilioSignature } from './twilio';

describe('Twilio request signatures', () => {
  // The example of Twilio's webhook security documentation: its URL, parameters, Auth Token and signature.
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params: Record<string, string> = {
    CallSid: 'CA1234567890ABCDE',
    Caller: '+12349013030',
    Digits: '1234',
    From: '+12349013030',
    To: '+18005551212',
  };

  it('computes the signature of Twilio’s documented example', () => {
    expect(twilioSignature('12345', url, Object.entries(params))).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    // the contract fake signs the same way, written separately
    expect(new TwilioFake({ authToken: '12345' }).sign(url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('refuses a missing signature, another token, another URL or a changed parameter', () => {
    const entries = Object.entries(params);
    const good = twilioSignature('12345', url, entries);
    expect(validTwilioSignature('12345', good, url, entries)).toBe(true);
    expect(validTwilioSignature('12345', undefined, url, entries)).toBe(false);
    expect(validTwilioSignature('12345', '', url, entries)).toBe(false);
    expect(validTwilioSignature('54321', good, url, entries)).toBe(false);
    expect(validTwilioSignature('12345', good, `${url}&x=1`, entries)).toBe(false);
    expect(validTwilioSignature('12345', good, url, [...entries.slice(1), ['CallSid', 'CA1']])).toBe(false);
  });
});

describe('attempt markers in a text', () => {
  it('end the body, which stays within one 160-character segment', () => {
    const marker = newMarker();
    expect(marker).toMatch(/^[a-z0-9]{10}$/);
    expect(markedBody('FIRING high ApiSlow: API slow', marker)).toBe(`FIRING high ApiSlow: API slow (ref ${marker})`);
    const long = markedBody('x'.repeat(300), marker);
    expect(long).toHaveLength(160);
    expect(long.endsWith(`... (ref ${marker})`)).toBe(true);
    expect(bodyMarker(long)).toBe(marker);
    expect(bodyMarker('FIRING high ApiSlow: API slow')).toBeUndefined();
  });
});

describe('call outcomes', () => {
  it('count in-progress and completed as answered, busy, no-answer, failed and canceled as not', () => {
    expect(['in-progress', 'completed'].map(callOutcome)).toEqual(['answered', 'answered']);
    expect(['busy', 'no-answer', 'failed', 'canceled'].map(callOutcome)).toEqual(Array(4).fill('unanswered'));
    expect(['queued', 'initiated', 'ringing', undefined].map(callOutcome)).toEqual(Array(4).fill('pending'));
  });
});
