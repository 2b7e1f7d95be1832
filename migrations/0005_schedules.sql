-- Per-destination schedules: the windows of each file (cadence and zone, as periods: a change
-- takes effect at the end of the window in progress), when each file is due, what to do with
-- events that arrive after their window was delivered, and where planning stands.
ALTER TABLE destinations ADD COLUMN schedule jsonb NOT NULL DEFAULT '[{"every": "day"}]';
ALTER TABLE destinations ADD COLUMN send_after_seconds bigint CHECK (send_after_seconds >= 0);
ALTER TABLE destinations ADD COLUMN late_events text NOT NULL DEFAULT 'report'
  CHECK (late_events IN ('ignore', 'report', 'resend'));
-- planned_until: every window ending at or before it has its scheduled runs; next_plan_at: when
-- the next window is due (NULL: plan at once, after a change).
ALTER TABLE destinations ADD COLUMN planned_until timestamptz;
ALTER TABLE destinations ADD COLUMN next_plan_at timestamptz;
CREATE INDEX destinations_next_plan_at ON destinations (next_plan_at) WHERE enabled AND removed_at IS NULL;

-- A scheduled run is one window: unique by its start, as a day was.
CREATE UNIQUE INDEX runs_scheduled_window ON runs (destination_id, event_type, window_start) WHERE kind = 'scheduled';
DROP INDEX runs_scheduled_once;

-- Events that arrived after a scheduled run was delivered: counted once, about a day later.
ALTER TABLE runs ADD COLUMN late_events bigint;
ALTER TABLE runs ADD COLUMN late_checked_at timestamptz;
CREATE INDEX runs_late_unchecked ON runs (delivered_at) WHERE kind = 'scheduled' AND status = 'delivered' AND late_checked_at IS NULL;
-- Runs delivered before schedules existed are not checked again, but for the last two days'.
UPDATE runs SET late_checked_at = delivered_at
  WHERE kind = 'scheduled' AND status = 'delivered' AND delivered_at < now() - interval '2 days';
