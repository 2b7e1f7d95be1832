-- When a destination's last run failed for good, and not yet delivered since: the next delivery
-- sends one "recovered" alert, however many replicas and runs deliver at once.
ALTER TABLE destinations ADD COLUMN failing_since timestamptz;
