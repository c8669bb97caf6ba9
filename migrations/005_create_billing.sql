-- Plans, subscriptions and invoices. Money is integer cents with an ISO 4217 currency, never float.

CREATE TABLE plans (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code                 text NOT NULL UNIQUE CONSTRAINT plans_code_format CHECK (code ~ '^[a-z0-9-]{2,40}$'),
  name                 text NOT NULL CONSTRAINT plans_name_length CHECK (length(name) BETWEEN 1 AND 200),
  monthly_amount_cents bigint NOT NULL CONSTRAINT plans_amount_nonnegative CHECK (monthly_amount_cents >= 0),
  currency             char(3) NOT NULL DEFAULT 'USD' CONSTRAINT plans_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  active               boolean NOT NULL DEFAULT true,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  client_id            uuid NOT NULL REFERENCES clients (id) ON DELETE RESTRICT,
  plan_id              uuid REFERENCES plans (id) ON DELETE RESTRICT,
  monthly_amount_cents bigint NOT NULL CONSTRAINT subscriptions_amount_nonnegative CHECK (monthly_amount_cents >= 0),
  currency             char(3) NOT NULL DEFAULT 'USD'
                       CONSTRAINT subscriptions_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  started_at           timestamptz NOT NULL DEFAULT now(),
  canceled_at          timestamptz,
  CONSTRAINT subscriptions_canceled_after_start CHECK (canceled_at IS NULL OR canceled_at >= started_at)
);

CREATE INDEX subscriptions_client_idx ON subscriptions (client_id);
CREATE INDEX subscriptions_active_idx ON subscriptions (currency) WHERE canceled_at IS NULL;

CREATE TABLE invoices (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  client_id    uuid NOT NULL REFERENCES clients (id) ON DELETE RESTRICT,
  number       text NOT NULL UNIQUE CONSTRAINT invoices_number_length CHECK (length(number) BETWEEN 1 AND 64),
  amount_cents bigint NOT NULL CONSTRAINT invoices_amount_nonnegative CHECK (amount_cents >= 0),
  currency     char(3) NOT NULL DEFAULT 'USD' CONSTRAINT invoices_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  status       text NOT NULL DEFAULT 'draft'
               CONSTRAINT invoices_status_valid CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
  issued_at    timestamptz,
  due_at       timestamptz,
  paid_at      timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT invoices_due_after_issue CHECK (due_at IS NULL OR issued_at IS NULL OR due_at >= issued_at),
  CONSTRAINT invoices_paid_has_date CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
  CONSTRAINT invoices_open_is_issued CHECK (status IN ('draft', 'void') OR issued_at IS NOT NULL)
);

CREATE INDEX invoices_client_idx ON invoices (client_id);
-- Open invoices are what the pending/overdue figures read, on every scrape.
CREATE INDEX invoices_open_due_idx ON invoices (currency, due_at) WHERE status = 'open';
