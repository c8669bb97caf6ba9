-- The exporters' activity score reads the last 7 days of client_daily_stats for every client, at
-- each scrape (a fingerprint of those rows) and whenever they change. The primary key leads with
-- client_id, so without this index each read scans every day ever recorded (a year of 1,000
-- clients is 365,000 rows) to keep the last week's 7,000.

CREATE INDEX client_daily_stats_day_idx ON client_daily_stats (day);
