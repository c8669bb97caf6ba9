-- An action on a system outside this database (stopping and retrying n8n executions) cannot share
-- a transaction with its audit row. It first commits a row of what it is about to do, outcome
-- 'requested' (who, what, on which targets), and acts only once that row is committed; a row of
-- what it did follows, with its usual outcome. Both carry the request's request_id: a 'requested'
-- row without a later row of the same request_id is an action that was interrupted (the process
-- died or the database went away), and what it names may have been done in part.
ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_outcome_valid;
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_outcome_valid
  CHECK (outcome IN ('success', 'failure', 'denied', 'partial', 'requested'));
