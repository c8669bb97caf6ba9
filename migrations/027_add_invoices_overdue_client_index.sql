-- The exporters' churn risk lists the clients with an overdue invoice, and the billing figures
-- look for the next open invoice to fall due, at each scrape after a webhook batch (activity moves
-- the risk). The open invoices' index leads with currency and holds no client, so both read the
-- heap of every open invoice; this one answers both from the index alone.

CREATE INDEX invoices_open_due_client_idx ON invoices (due_at, client_id) WHERE status = 'open';
