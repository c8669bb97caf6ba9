-- Keyset pagination of the API's lists: newest first, with the id as tie-breaker.

CREATE INDEX invoices_created_idx ON invoices (created_at DESC, id DESC);
CREATE INDEX automations_created_idx ON automations (client_id, created_at DESC, id DESC);
CREATE INDEX subscriptions_started_idx ON subscriptions (started_at DESC, id DESC);
-- Lookup of the webhook secrets still valid for a client.
CREATE INDEX client_secrets_valid_idx ON client_secrets (client_id, kind) WHERE revoked_at IS NULL;
