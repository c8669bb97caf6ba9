import { webhookEventSchema } from '@ct/api';
import { DEMO_CLIENTS, DEMO_EVENT_DAYS } from './data';
import { demoEvents, seededRandom, zonedInstant } from './events';

const now = new Date('2026-03-20T15:30:00Z');
const DAY = 86_400_000;
const client = (slug: string) => DEMO_CLIENTS.find((c) => c.slug === slug)!;

describe('demo events', () => {
  it('are valid webhook events, unique by id, within the last 30 days and never in the future', () => {
    const all = DEMO_CLIENTS.flatMap((c) => demoEvents(c, { now, runId: 'r1' }));
    expect(all.length).toBeGreaterThan(200);
    expect(all.length).toBeLessThan(500);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    for (const e of all) {
      expect(webhookEventSchema.safeParse(e).success).toBe(true);
      const at = Date.parse(e.occurredAt);
      expect(at).toBeLessThanOrEqual(now.getTime());
      expect(now.getTime() - at).toBeLessThan(DEMO_EVENT_DAYS * DAY);
      expect(e.data.summary.length).toBeGreaterThan(5);
    }
  });

  it('are the same for the same run, and carry the run id so a new run never collides with an old one', () => {
    const a = demoEvents(client('pizza-co'), { now, runId: 'r1' });
    expect(demoEvents(client('pizza-co'), { now, runId: 'r1' })).toEqual(a);
    const b = demoEvents(client('pizza-co'), { now, runId: 'r2' });
    expect(b.map((e) => e.occurredAt)).toEqual(a.map((e) => e.occurredAt));
    expect(b.some((e) => a.some((x) => x.id === e.id))).toBe(false);
    expect(a[0]!.id).toBe('demo-r1-pizza-co-0001');
  });

  it("follow the client's days and local hours", () => {
    const bakery = demoEvents(client('corner-bakery'), { now, runId: 'r' });
    expect(now.getTime() - Date.parse(bakery[bakery.length - 1]!.occurredAt)).toBeGreaterThan(15 * DAY);
    const pizza = demoEvents(client('pizza-co'), { now, runId: 'r' });
    const hour = (iso: string) =>
      Number(new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hourCycle: 'h23' }).format(new Date(iso)));
    const orders = pizza.filter((e) => e.type === 'order.received');
    expect(orders.every((e) => hour(e.occurredAt) >= 11 && hour(e.occurredAt) < 23)).toBe(true);
    const plumbing = demoEvents(client('joes-plumbing'), { now, runId: 'r' });
    const weekday = (iso: string) =>
      new Intl.DateTimeFormat('en-US', { timeZone: 'America/Chicago', weekday: 'short' }).format(new Date(iso));
    const sundays = plumbing.filter((e) => weekday(e.occurredAt) === 'Sun');
    expect(sundays).toEqual([]);
  });

  it('place wall-clock times in the zone across a daylight-saving change', () => {
    // New York moved to daylight time on 2026-03-08.
    expect(zonedInstant({ y: 2026, m: 2, d: 7 }, 12 * 60, 'America/New_York').toISOString()).toBe('2026-03-07T17:00:00.000Z');
    expect(zonedInstant({ y: 2026, m: 2, d: 8 }, 12 * 60, 'America/New_York').toISOString()).toBe('2026-03-08T16:00:00.000Z');
    expect(zonedInstant({ y: 2026, m: 0, d: 31 }, 23 * 60 + 30, 'UTC').toISOString()).toBe('2026-01-31T23:30:00.000Z');
  });

  it('spread with a seeded generator: the same seed gives the same numbers', () => {
    const a = seededRandom('x');
    const b = seededRandom('x');
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom('y')()).not.toBe(xs[0]);
  });
});
