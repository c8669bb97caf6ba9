import { DEMO_EVENT_DAYS, type DemoClient, type DemoEventPattern } from './data';

/**
 * The demo events of one client: spread over its days the way its business runs (weekday rates,
 * weighted local hours in the client's time zone), never later than `now`. The spread is
 * pseudo-random but seeded by the client's slug, so two runs on the same day look alike; the ids
 * carry the run's id, so a retried post is a duplicate, never a second event.
 */

export interface DemoEvent {
  id: string;
  type: string;
  occurredAt: string;
  data: { summary: string; demo: true };
}

/** mulberry32: a small seeded generator, enough to spread demo events (not for anything secret). */
export function seededRandom(seedText: string): () => number {
  let seed = 0;
  for (const ch of seedText) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The calendar date (year, month 0-11, day) and weekday of an instant in a time zone. */
function localDate(at: Date, timeZone: string): { y: number; m: number; d: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { y: get('year'), m: get('month') - 1, d: get('day') };
}

/** Milliseconds the zone's wall clock is ahead of UTC at an instant. */
function zoneOffsetMs(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - (at - (at % 1000));
}

/** The instant of a wall-clock time in a time zone (minutes past midnight of a local date). */
export function zonedInstant(date: { y: number; m: number; d: number }, minuteOfDay: number, timeZone: string): Date {
  const wall = Date.UTC(date.y, date.m, date.d, 0, minuteOfDay);
  // Two passes settle the offset on either side of a daylight-saving change.
  let at = wall - zoneOffsetMs(wall, timeZone);
  at = wall - zoneOffsetMs(at, timeZone);
  return new Date(at);
}

function pickHour(rand: () => number, hours: DemoEventPattern['hours']): number {
  const total = hours.reduce((s, [from, to, w]) => s + (to - from) * w, 0);
  let x = rand() * total;
  for (const [from, to, w] of hours) {
    const span = (to - from) * w;
    if (x < span) return from + x / w;
    x -= span;
  }
  const last = hours[hours.length - 1]!;
  return last[1] - 0.01;
}

/** How many events on a day that expects `rate` of them: the rate, rounded at random (fractions count). */
function countFor(rate: number, rand: () => number): number {
  const jittered = rate * (0.6 + 0.8 * rand());
  const whole = Math.floor(jittered);
  return whole + (rand() < jittered - whole ? 1 : 0);
}

export function demoEvents(client: DemoClient, opts: { now: Date; runId: string }): DemoEvent[] {
  const rand = seededRandom(client.slug);
  const [oldest, newest] = client.eventDays ?? [DEMO_EVENT_DAYS - 1, 0];
  const today = localDate(opts.now, client.timezone);
  const out: DemoEvent[] = [];
  for (let ago = oldest; ago >= newest; ago--) {
    // Date.UTC normalises day underflow into the previous months.
    const day = new Date(Date.UTC(today.y, today.m, today.d - ago));
    const date = { y: day.getUTCFullYear(), m: day.getUTCMonth(), d: day.getUTCDate() };
    const weekday = day.getUTCDay();
    for (const pattern of client.events) {
      const n = countFor(pattern.perWeekday[weekday]!, rand);
      for (let i = 0; i < n; i++) {
        const minute = Math.floor(pickHour(rand, pattern.hours) * 60);
        const at = zonedInstant(date, minute, client.timezone);
        const summary = pattern.summaries[Math.floor(rand() * pattern.summaries.length)]!;
        if (at.getTime() > opts.now.getTime()) continue; // later today: not happened yet
        out.push({ id: '', type: pattern.kind, occurredAt: at.toISOString(), data: { summary, demo: true } });
      }
    }
  }
  out.sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  out.forEach((e, i) => (e.id = `demo-${opts.runId}-${client.slug}-${String(i + 1).padStart(4, '0')}`));
  return out;
}
