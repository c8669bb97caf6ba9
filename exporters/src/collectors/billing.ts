import { Gauge, type Registry } from 'prom-client';
import type { Pool } from '@ct/lib';
import { FingerprintCaches, setGauge, untilMs, type Collector } from '../collector';
import { encodeFamilies, encodeRendered, sqlSampleLine, type EncodedFamily, type Family, type Labels } from '../exposition';
import { fingerprintKey, TableFingerprints } from '../fingerprints';

export const CLIENT_STATUSES = ['active', 'paused', 'churned'] as const;
/** A client with no activity for this long is at risk of churning (see docs/metrics.md). */
export const CHURN_INACTIVITY_DAYS = 14;

const cents = (v: string | number) => Number(v) / 100;
const clientCurrency = (r: { client: string; currency: string }): Labels => [
  ['client', r.client],
  ['currency', r.currency],
];

type GaugeRows<L extends string> = [Partial<Record<L, string>>, number][];
/** Clients, subscriptions and invoices: everything but the churn risk. */
interface RevenueState {
  clients: GaugeRows<'status'>;
  mrr: GaugeRows<'currency'>;
  pending: GaugeRows<'currency'>;
  pendingAmount: GaugeRows<'currency'>;
  overdue: GaugeRows<'currency'>;
  overdueAmount: GaugeRows<'currency'>;
  families: EncodedFamily[];
}
interface BillingParts extends Record<string, unknown> {
  revenue: RevenueState;
  /** ct_client_churn_risk, the one billing figure that activity events move. */
  risk: EncodedFamily[];
}

/**
 * Each client's last activity, as the activity and churn-risk figures both read it: over `clients
 * c` joined with LAST_ACTIVITY_JOIN, the later of its latest event (client_activity_counts) and the
 * API's last record of activity.
 */
export const LAST_ACTIVITY_JOIN =
  'LEFT JOIN (SELECT client_id, max(last_occurred_at) AS last_at FROM client_activity_counts GROUP BY 1) act ON act.client_id = c.id';
export const LAST_ACTIVITY_AT = 'greatest(c.last_activity_at, act.last_at)';

const RISK = {
  name: 'ct_client_churn_risk',
  type: 'gauge',
  help: `1 when a client that has not churned had no activity for ${CHURN_INACTIVITY_DAYS} days or has an overdue invoice, else 0.`,
} as const;
/** Over loadRisk's `state`: $1 is the days without activity that put a client at risk. */
const RISK_LINE = sqlSampleLine(
  RISK.name,
  [['client', 'slug']],
  `CASE WHEN active_at < now() - make_interval(days => $1) OR overdue THEN '1' ELSE '0' END`,
);

/** The first moment an open invoice falls due (it moves both the invoice figures and the churn risk). */
const NEXT_DUE = "(SELECT min(due_at) FROM invoices WHERE status = 'open' AND due_at >= now())";

/**
 * Revenue, invoices and churn risk from the billing tables. Money is reported in currency units.
 * Each scrape takes a fingerprint of each table (fingerprints.ts); a part of the figures is read and
 * rendered again only when the fingerprint of one of its own tables changed or one of its figures
 * is due to change with time: activity events move the churn risk only, so a busy day of webhooks
 * does not read the invoices again at every scrape.
 */
export class BillingCollector implements Collector {
  readonly name = 'billing';
  private readonly mrr: Gauge<'currency'>;
  private readonly clients: Gauge<'status'>;
  private readonly pending: Gauge<'currency'>;
  private readonly pendingAmount: Gauge<'currency'>;
  private readonly overdue: Gauge<'currency'>;
  private readonly overdueAmount: Gauge<'currency'>;
  /** The per-client families (ct_client_*) grow with the number of clients: rendered directly. */
  families: EncodedFamily[] = [];
  /** What the last read rendered, per part, reused while that part's tables are unchanged. */
  readonly cache = new FingerprintCaches<BillingParts>();

  constructor(
    registry: Registry,
    private readonly pool: Pool,
    /** Shared with the activity collector by the exporter, so common tables are fingerprinted once. */
    private readonly fingerprints = new TableFingerprints(pool),
  ) {
    const registers = [registry];
    this.mrr = new Gauge({
      name: 'ct_mrr',
      help: 'Monthly recurring revenue in currency units: the sum of active subscriptions (started, not canceled).',
      labelNames: ['currency'],
      registers,
    });
    this.clients = new Gauge({
      name: 'ct_clients',
      help: 'Clients by status (active, paused, churned).',
      labelNames: ['status'],
      registers,
    });
    this.pending = new Gauge({
      name: 'ct_invoices_pending',
      help: 'Open invoices not yet due (no due date, or due later).',
      labelNames: ['currency'],
      registers,
    });
    this.pendingAmount = new Gauge({
      name: 'ct_invoices_pending_amount',
      help: 'Amount of the open invoices not yet due, in currency units.',
      labelNames: ['currency'],
      registers,
    });
    this.overdue = new Gauge({
      name: 'ct_invoices_overdue',
      help: 'Open invoices past their due date.',
      labelNames: ['currency'],
      registers,
    });
    this.overdueAmount = new Gauge({
      name: 'ct_invoices_overdue_amount',
      help: 'Amount of the open invoices past their due date, in currency units.',
      labelNames: ['currency'],
      registers,
    });
  }

  async read(): Promise<() => void> {
    const f = await this.fingerprints.take();
    const { revenue, risk } = await this.cache.get(f.now.getTime(), {
      // The revenue reads clients but not their last activity, which each webhook batch touches.
      revenue: [fingerprintKey(f, ['clients_except_last_activity', 'subscriptions', 'invoices']), () => this.loadRevenue()],
      risk: [fingerprintKey(f, ['clients', 'invoices', 'client_activity_counts']), () => this.loadRisk()],
    });
    return () => {
      setGauge(this.clients, revenue.clients);
      setGauge(this.mrr, revenue.mrr);
      setGauge(this.pending, revenue.pending);
      setGauge(this.pendingAmount, revenue.pendingAmount);
      setGauge(this.overdue, revenue.overdue);
      setGauge(this.overdueAmount, revenue.overdueAmount);
      this.families = [...revenue.families, ...risk];
    };
  }

  /**
   * ct_client_churn_risk, from clients, their activity and their overdue invoices. Read again at
   * every webhook batch (it moves with activity), so PostgreSQL renders its lines (sqlSampleLine).
   */
  private async loadRisk(): Promise<{ value: EncodedFamily[]; until: number }> {
    // One statement: the lines and the first moment they change by time alone (an open invoice
    // falls due, a client reaches 14 days without activity) come from the same snapshot.
    const { rows } = await this.pool.query<{ lines: string | null; until: Date | null }>(
      `WITH state AS (
         SELECT c.slug COLLATE "C" AS slug, coalesce(${LAST_ACTIVITY_AT}, c.created_at) AS active_at,
                od.client_id IS NOT NULL AS overdue
           FROM clients c
           ${LAST_ACTIVITY_JOIN}
           LEFT JOIN (SELECT DISTINCT client_id FROM invoices WHERE status = 'open' AND due_at < now()) od ON od.client_id = c.id
          WHERE c.status <> 'churned'
       )
       SELECT (SELECT string_agg(${RISK_LINE}, '' ORDER BY slug) FROM state) AS lines,
              least(${NEXT_DUE},
                    (SELECT min(t) FROM (SELECT active_at + make_interval(days => $1) AS t FROM state) x WHERE t >= now())) AS until`,
      [CHURN_INACTIVITY_DAYS],
    );
    return { value: [await encodeRendered(RISK, rows[0]?.lines ?? '')], until: untilMs(rows[0]?.until) };
  }

  /** Reads clients, subscriptions and open invoices and renders their per-client families. */
  private async loadRevenue(): Promise<{ value: RevenueState; until: number }> {
    const [clients, mrr, invoices, info, clientInvoices, next] = await Promise.all([
      this.pool.query<{ status: string; n: string }>('SELECT status, count(*)::text AS n FROM clients GROUP BY status'),
      this.pool.query<{ client: string; currency: string; cents: string }>(
        `SELECT c.slug AS client, s.currency, sum(s.monthly_amount_cents)::text AS cents
           FROM subscriptions s JOIN clients c ON c.id = s.client_id
          WHERE s.started_at <= now() AND (s.canceled_at IS NULL OR s.canceled_at > now())
          GROUP BY 1, 2`,
      ),
      this.pool.query<{ currency: string; overdue: boolean; n: string; cents: string }>(
        `SELECT currency, (due_at IS NOT NULL AND due_at < now()) AS overdue, count(*)::text AS n, sum(amount_cents)::text AS cents
           FROM invoices WHERE status = 'open' GROUP BY 1, 2`,
      ),
      this.pool.query<{ client: string; name: string; status: string; plan: string }>(
        `SELECT slug AS client, name, status, coalesce(plan, '') AS plan FROM clients`,
      ),
      this.pool.query<{ client: string; currency: string; open: string; open_cents: string; overdue: string; overdue_cents: string }>(
        `SELECT c.slug AS client, i.currency,
                count(*)::text AS open, sum(i.amount_cents)::text AS open_cents,
                count(*) FILTER (WHERE i.due_at < now())::text AS overdue,
                coalesce(sum(i.amount_cents) FILTER (WHERE i.due_at < now()), 0)::text AS overdue_cents
           FROM invoices i JOIN clients c ON c.id = i.client_id
          WHERE i.status = 'open'
          GROUP BY 1, 2`,
      ),
      // The first moment a figure above changes by time alone: a subscription starts or ends, an
      // open invoice falls due.
      this.pool.query<{ until: Date | null }>(
        `SELECT least(
           (SELECT min(started_at) FROM subscriptions WHERE started_at > now()),
           (SELECT min(canceled_at) FROM subscriptions WHERE canceled_at > now()),
           ${NEXT_DUE}
         ) AS until`,
      ),
    ]);
    const byStatus = new Map<string, number>(CLIENT_STATUSES.map((s) => [s, 0]));
    for (const r of clients.rows) byStatus.set(r.status, Number(r.n));

    const currencies = new Set<string>();
    const total = new Map<string, number>();
    for (const r of mrr.rows) {
      currencies.add(r.currency);
      total.set(r.currency, (total.get(r.currency) ?? 0) + Number(r.cents));
    }
    for (const r of invoices.rows) currencies.add(r.currency);
    const inv = (overdue: boolean, field: 'n' | 'cents') =>
      [...currencies].map((currency): [{ currency: string }, number] => {
        const row = invoices.rows.find((r) => r.currency === currency && r.overdue === overdue);
        const v = row ? Number(row[field]) : 0;
        return [{ currency }, field === 'cents' ? cents(v) : v];
      });
    const families = await encodeFamilies([
      {
        name: 'ct_client_mrr',
        type: 'gauge',
        help: "The client's monthly recurring revenue in currency units (its active subscriptions).",
        samples: mrr.rows.map((r) => [clientCurrency(r), cents(r.cents)] as const),
      },
      {
        name: 'ct_client_info',
        type: 'gauge',
        help: 'Always 1, one series per client: its display name, status (active, paused, churned) and plan as labels, for dashboards to join on client.',
        samples: info.rows.map(
          (r) =>
            [
              [
                ['client', r.client],
                ['name', r.name],
                ['status', r.status],
                ['plan', r.plan],
              ],
              1,
            ] as const,
        ),
      },
      ...clientInvoiceFamilies(clientInvoices.rows),
    ]);
    return {
      until: untilMs(next.rows[0]?.until),
      value: {
        clients: [...byStatus].map(([status, n]) => [{ status }, n]),
        mrr: [...currencies].map((currency) => [{ currency }, cents(total.get(currency) ?? 0)]),
        pending: inv(false, 'n'),
        pendingAmount: inv(false, 'cents'),
        overdue: inv(true, 'n'),
        overdueAmount: inv(true, 'cents'),
        families,
      },
    };
  }

  reset(): void {
    for (const g of [this.mrr, this.clients, this.pending, this.pendingAmount, this.overdue, this.overdueAmount]) {
      g.reset();
    }
    this.families = [];
    this.cache.clear();
  }
}

/** ct_client_invoices_{open,overdue}[_amount]: a client's open invoices per currency (absent = none open). */
function clientInvoiceFamilies(
  rows: readonly { client: string; currency: string; open: string; open_cents: string; overdue: string; overdue_cents: string }[],
): Family[] {
  const family = (name: string, help: string, value: (r: (typeof rows)[number]) => number): Family => ({
    name,
    type: 'gauge',
    help,
    samples: rows.map((r) => [clientCurrency(r), value(r)] as const),
  });
  return [
    family('ct_client_invoices_open', "The client's open invoices, overdue ones included.", (r) => Number(r.open)),
    family('ct_client_invoices_open_amount', "Amount of the client's open invoices, in currency units.", (r) => cents(r.open_cents)),
    family('ct_client_invoices_overdue', "The client's open invoices past their due date.", (r) => Number(r.overdue)),
    family('ct_client_invoices_overdue_amount', "Amount of the client's overdue invoices, in currency units.", (r) =>
      cents(r.overdue_cents),
    ),
  ];
}
