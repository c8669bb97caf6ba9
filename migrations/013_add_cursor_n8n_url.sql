-- Which n8n a cursor ingests. The counters add up the cursors' instances, so one n8n ingested
-- under a second instance name (EXPORTER_N8N_INSTANCE renamed, or two exporters configured
-- apart) would count every execution it still keeps again; the exporter refuses that.
ALTER TABLE workflow_execution_cursor ADD COLUMN n8n_url text;
CREATE INDEX workflow_execution_cursor_url_idx ON workflow_execution_cursor (n8n_url);
