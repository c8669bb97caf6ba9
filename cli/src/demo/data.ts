/**
 * The demo data set: a handful of local businesses as an automation agency has them, with their
 * plans, invoices, n8n workflows and the kind of events their workflows report. Everything here
 * is data; seed.ts turns it into API calls and n8n executions. Dates are offsets from "now", so a
 * seed run on any day looks like the last few weeks of a real business.
 */

export type DemoClientStatus = 'active' | 'paused' | 'churned';

export interface DemoPlan {
  code: string;
  name: string;
  monthlyAmountCents: number;
}

/** One invoice, dated in days from now (negative: in the past). */
export interface DemoInvoice {
  issuedDaysAgo: number;
  /** Days after the issue date. */
  dueAfterDays: number;
  /** Days after the issue date it was paid; absent: still open. */
  paidAfterDays?: number;
}

/** What one run of a workflow does: succeed, fail (its Code node throws), or hold (stay running). */
export type DemoRun = { outcome: 'success' } | { outcome: 'error'; message: string } | { outcome: 'hold' };

export interface DemoWorkflow {
  /** Stable key within the client, part of the webhook path. */
  key: string;
  /** The workflow's name after the client's name: "Pizza Co · Invoice automation". */
  title: string;
  /** The node doing the work (a Code node). */
  step: string;
  minutesSavedPerRun: number;
  hourlyValueCents: number;
  runs: DemoRun[];
  /** A workflow waiting on someone else: a Wait node loops until the run's hold ends. */
  waits?: string;
}

/** A kind of event a client's workflows report, and when. */
export interface DemoEventPattern {
  kind: string;
  /** Short human sentences for data.summary (the admin portal's activity feed shows them); one is picked per event. */
  summaries: string[];
  /** Expected events per day, by weekday (0 = Sunday … 6 = Saturday). */
  perWeekday: [number, number, number, number, number, number, number];
  /** Local hours the events fall in, each with a weight: [from hour, to hour, weight]. */
  hours: [number, number, number][];
}

export interface DemoClient {
  slug: string;
  name: string;
  /** Where it ends up: paused and churned clients are moved there after their events are sent. */
  status: DemoClientStatus;
  timezone: string;
  contactEmail: string;
  contactPhone: string;
  plan: string;
  /** When its subscription started, in days ago. */
  subscribedDaysAgo: number;
  invoices: DemoInvoice[];
  workflows: DemoWorkflow[];
  events: DemoEventPattern[];
  /** The days its events span, in days ago: [oldest, newest]. 30 days up to today unless said. */
  eventDays?: [number, number];
  /** Why this client is in the set, for the docs and the summary. */
  role: string;
}

export const DEMO_PLANS: DemoPlan[] = [
  { code: 'starter', name: 'Starter', monthlyAmountCents: 14_900 },
  { code: 'growth', name: 'Growth', monthlyAmountCents: 34_900 },
  { code: 'pro', name: 'Pro', monthlyAmountCents: 69_900 },
];

/** Events spread over this many days, ending now. */
export const DEMO_EVENT_DAYS = 30;

const ok = (n: number): DemoRun[] => Array.from({ length: n }, () => ({ outcome: 'success' }));
const fail = (message: string, n = 1): DemoRun[] => Array.from({ length: n }, () => ({ outcome: 'error', message }));

const WEEKDAYS_ONLY = (n: number): DemoEventPattern['perWeekday'] => [0, n, n, n, n, n, n * 0.3];
const OFFICE_HOURS: DemoEventPattern['hours'] = [
  [8, 12, 3],
  [13, 17, 3],
  [17, 20, 1],
];

/** Two months paid, the current one open and not yet due. */
const PAID_THEN_OPEN: DemoInvoice[] = [
  { issuedDaysAgo: 62, dueAfterDays: 14, paidAfterDays: 6 },
  { issuedDaysAgo: 31, dueAfterDays: 14, paidAfterDays: 9 },
  { issuedDaysAgo: 2, dueAfterDays: 14 },
];

export const DEMO_CLIENTS: DemoClient[] = [
  {
    slug: 'pizza-co',
    name: 'Pizza Co',
    status: 'active',
    timezone: 'America/New_York',
    contactEmail: 'owner@pizza-co.example',
    contactPhone: '+1 555 0101',
    plan: 'growth',
    subscribedDaysAgo: 75,
    role: 'busy, healthy client: online orders at lunch and dinner, more on Fridays and Saturdays',
    invoices: PAID_THEN_OPEN,
    workflows: [
      { key: 'orders', title: 'Order intake', step: 'Send order to kitchen', minutesSavedPerRun: 3, hourlyValueCents: 2_500, runs: ok(5) },
      {
        key: 'invoices',
        title: 'Invoice automation',
        step: 'Create invoice',
        minutesSavedPerRun: 10,
        hourlyValueCents: 4_000,
        runs: [...ok(2), ...fail('Payment provider answered 503 Service Unavailable')],
      },
      {
        key: 'reviews',
        title: 'Review requests',
        step: 'Send review request',
        minutesSavedPerRun: 2,
        hourlyValueCents: 2_500,
        runs: ok(2),
      },
    ],
    events: [
      {
        kind: 'order.received',
        summaries: ['Online order received', 'Delivery order received', 'Pickup order received'],
        perWeekday: [2, 2.5, 2.5, 3, 3.5, 5, 5],
        hours: [
          [11, 14, 4],
          [17, 21, 5],
          [21, 23, 1],
        ],
      },
      {
        kind: 'lead.captured',
        summaries: ['New catering lead captured'],
        perWeekday: [0, 0.4, 0.4, 0.4, 0.4, 0.4, 0],
        hours: [[9, 17, 1]],
      },
      { kind: 'invoice.sent', summaries: ['Invoice automation ran'], perWeekday: [0, 1, 0, 0, 0, 0, 0], hours: [[8, 10, 1]] },
    ],
  },
  {
    slug: 'joes-plumbing',
    name: "Joe's Plumbing",
    status: 'active',
    timezone: 'America/Chicago',
    contactEmail: 'joe@joes-plumbing.example',
    contactPhone: '+1 555 0102',
    plan: 'starter',
    subscribedDaysAgo: 75,
    role: 'healthy client whose appointment reminders fail now and then',
    invoices: PAID_THEN_OPEN,
    workflows: [
      { key: 'leads', title: 'Lead capture', step: 'Add lead to CRM', minutesSavedPerRun: 5, hourlyValueCents: 4_500, runs: ok(3) },
      {
        key: 'reminders',
        title: 'Appointment reminders',
        step: 'Send SMS reminder',
        minutesSavedPerRun: 4,
        hourlyValueCents: 4_500,
        runs: [...ok(2), ...fail('SMS gateway rejected the phone number', 2)],
      },
    ],
    events: [
      {
        kind: 'lead.captured',
        summaries: ['New lead captured', 'Emergency call-out request captured'],
        perWeekday: WEEKDAYS_ONLY(1.2),
        hours: OFFICE_HOURS,
      },
      { kind: 'appointment.booked', summaries: ['Service call booked'], perWeekday: WEEKDAYS_ONLY(0.9), hours: OFFICE_HOURS },
      { kind: 'invoice.sent', summaries: ['Invoice sent after the job'], perWeekday: WEEKDAYS_ONLY(0.6), hours: [[15, 19, 1]] },
    ],
  },
  {
    slug: 'mikes-hvac',
    name: "Mike's HVAC",
    status: 'active',
    timezone: 'America/Denver',
    contactEmail: 'mike@mikes-hvac.example',
    contactPhone: '+1 555 0103',
    plan: 'pro',
    subscribedDaysAgo: 75,
    role: 'healthy client with one workflow stuck waiting on a supplier',
    invoices: [
      { issuedDaysAgo: 62, dueAfterDays: 14, paidAfterDays: 3 },
      { issuedDaysAgo: 31, dueAfterDays: 14, paidAfterDays: 2 },
      { issuedDaysAgo: 2, dueAfterDays: 14, paidAfterDays: 1 },
    ],
    workflows: [
      { key: 'booking', title: 'Service booking', step: 'Book technician', minutesSavedPerRun: 6, hourlyValueCents: 5_000, runs: ok(3) },
      {
        key: 'parts',
        title: 'Parts order sync',
        step: 'Update parts order',
        minutesSavedPerRun: 15,
        hourlyValueCents: 5_000,
        waits: 'Wait for supplier',
        runs: [{ outcome: 'hold' }],
      },
    ],
    events: [
      {
        kind: 'appointment.booked',
        summaries: ['Maintenance visit booked', 'Repair visit booked'],
        perWeekday: WEEKDAYS_ONLY(1.1),
        hours: OFFICE_HOURS,
      },
      { kind: 'lead.captured', summaries: ['New lead captured'], perWeekday: WEEKDAYS_ONLY(0.8), hours: OFFICE_HOURS },
      { kind: 'invoice.sent', summaries: ['Invoice automation ran'], perWeekday: WEEKDAYS_ONLY(0.6), hours: [[16, 19, 1]] },
    ],
  },
  {
    slug: 'corner-bakery',
    name: 'Corner Bakery',
    status: 'active',
    timezone: 'America/Los_Angeles',
    contactEmail: 'hello@corner-bakery.example',
    contactPhone: '+1 555 0104',
    plan: 'starter',
    subscribedDaysAgo: 75,
    role: 'at churn risk: an overdue invoice, and no event for more than two weeks',
    invoices: [
      { issuedDaysAgo: 62, dueAfterDays: 14, paidAfterDays: 12 },
      { issuedDaysAgo: 31, dueAfterDays: 14 },
      { issuedDaysAgo: 2, dueAfterDays: 14 },
    ],
    workflows: [
      {
        key: 'orders',
        title: 'Order intake',
        step: 'Send order to bakery',
        minutesSavedPerRun: 3,
        hourlyValueCents: 2_000,
        runs: [...ok(1), ...fail('Order form field "pickup_time" is empty')],
      },
    ],
    events: [
      {
        kind: 'order.received',
        summaries: ['Cake order received', 'Online order received'],
        perWeekday: [1.5, 1.5, 1.5, 1.5, 1.5, 2.5, 3],
        hours: [
          [7, 11, 3],
          [11, 15, 1],
        ],
      },
    ],
    eventDays: [DEMO_EVENT_DAYS - 1, 16],
  },
  {
    slug: 'bright-smile-dental',
    name: 'Bright Smile Dental',
    status: 'paused',
    timezone: 'America/New_York',
    contactEmail: 'office@bright-smile-dental.example',
    contactPhone: '+1 555 0105',
    plan: 'growth',
    subscribedDaysAgo: 75,
    role: 'paused a few days ago (the office is closed for renovation)',
    invoices: [
      { issuedDaysAgo: 62, dueAfterDays: 14, paidAfterDays: 5 },
      { issuedDaysAgo: 31, dueAfterDays: 14, paidAfterDays: 4 },
    ],
    workflows: [],
    events: [
      {
        kind: 'appointment.booked',
        summaries: ['Appointment booked', 'Cleaning appointment booked'],
        perWeekday: WEEKDAYS_ONLY(1.3),
        hours: OFFICE_HOURS,
      },
      { kind: 'reminder.sent', summaries: ['Appointment reminder sent'], perWeekday: WEEKDAYS_ONLY(0.8), hours: [[9, 11, 1]] },
    ],
    eventDays: [DEMO_EVENT_DAYS - 1, 6],
  },
  {
    slug: 'green-leaf-landscaping',
    name: 'Green Leaf Landscaping',
    status: 'churned',
    timezone: 'America/Chicago',
    contactEmail: 'info@green-leaf-landscaping.example',
    contactPhone: '+1 555 0106',
    plan: 'starter',
    subscribedDaysAgo: 75,
    role: 'churned: its activity faded out, its subscription is canceled',
    invoices: [
      { issuedDaysAgo: 62, dueAfterDays: 14, paidAfterDays: 8 },
      { issuedDaysAgo: 31, dueAfterDays: 14, paidAfterDays: 13 },
    ],
    workflows: [],
    events: [
      { kind: 'lead.captured', summaries: ['New lead captured'], perWeekday: WEEKDAYS_ONLY(0.8), hours: OFFICE_HOURS },
      { kind: 'invoice.sent', summaries: ['Invoice sent after the job'], perWeekday: WEEKDAYS_ONLY(0.5), hours: [[15, 18, 1]] },
    ],
    eventDays: [DEMO_EVENT_DAYS - 1, 10],
  },
];

export const DEMO_SLUGS: readonly string[] = DEMO_CLIENTS.map((c) => c.slug);

/** "Pizza Co · Invoice automation", with the tag when several demo sets share one n8n. */
export function workflowName(client: Pick<DemoClient, 'name'>, wf: Pick<DemoWorkflow, 'title'>, tag?: string): string {
  return `${client.name} · ${wf.title}${tag ? ` [${tag}]` : ''}`;
}

/** The production webhook path of a demo workflow: /webhook/ct-demo-pizza-co-invoices. */
export function webhookPath(client: Pick<DemoClient, 'slug'>, wf: Pick<DemoWorkflow, 'key'>, tag?: string): string {
  return `ct-demo-${client.slug}-${wf.key}${tag ? `-${tag}` : ''}`;
}

/** Invoice numbers: PIZZA-CO-0001, … in the order of the client's invoices. */
export function invoiceNumber(client: Pick<DemoClient, 'slug'>, index: number): string {
  return `${client.slug.toUpperCase()}-${String(index + 1).padStart(4, '0')}`;
}
