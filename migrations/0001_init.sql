-- The events table is the platform's; the exporter only reads it. It is created here when
-- missing so that a fresh database (development, tests, the demo) has it.
CREATE TABLE IF NOT EXISTS events (
  id          uuid PRIMARY KEY,
  company_id  uuid        NOT NULL,
  type        text        NOT NULL,
  occurred_at timestamptz NOT NULL,
  payload     jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS events_company_id_type_occurred_at_idx ON events (company_id, type, occurred_at);

-- A target server: where files go. Secrets are AES-256-GCM sealed by the service.
CREATE TABLE targets (
  id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  name            text,
  host            text        NOT NULL,
  port            integer     NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
  username        text        NOT NULL,
  password_sealed bytea,
  private_key_sealed bytea,
  passphrase_sealed  bytea,
  host_key        text        NOT NULL DEFAULT '',
  base_dir        text        NOT NULL DEFAULT '',
  legacy_crypto   boolean     NOT NULL DEFAULT false,
  shared          boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A destination: a company's integration, delivering some event types in one format to a target.
CREATE TABLE destinations (
  id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  company_id   uuid        NOT NULL,
  name         text        NOT NULL DEFAULT '',
  target_id    uuid        NOT NULL REFERENCES targets (id),
  path         text        NOT NULL DEFAULT '',
  format       text        NOT NULL CHECK (format IN ('json', 'csv')),
  event_types  text[]      NOT NULL CHECK (cardinality(event_types) > 0),
  enabled      boolean     NOT NULL DEFAULT true,
  start_date   date        NOT NULL,
  alert_url    text        NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX destinations_target_id_idx ON destinations (target_id);
CREATE INDEX destinations_company_id_idx ON destinations (company_id);

-- A run: one file for one (destination, event type, day). Its file name is fixed at creation,
-- and its retry schedule (next_attempt_at) lives here so restarts neither reset nor lose it.
CREATE TABLE runs (
  id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  destination_id   uuid        NOT NULL REFERENCES destinations (id),
  event_type       text        NOT NULL,
  day              date        NOT NULL,
  window_start     timestamptz NOT NULL,
  window_end       timestamptz NOT NULL,
  kind             text        NOT NULL CHECK (kind IN ('scheduled', 'manual', 'resend', 'test')),
  status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'delivered', 'failed')),
  format           text        NOT NULL CHECK (format IN ('json', 'csv')),
  file_name        text        NOT NULL,
  remote_path      text        NOT NULL DEFAULT '',
  attempts         integer     NOT NULL DEFAULT 0,
  events           bigint,
  bytes            bigint,
  next_attempt_at  timestamptz,
  lease_owner      text,
  lease_expires_at timestamptz,
  last_error       text        NOT NULL DEFAULT '',
  last_error_class text        NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  failed_at        timestamptz,
  CHECK (window_start < window_end)
);
-- Exactly one scheduled run per destination, event type and day, whatever the number of replicas.
CREATE UNIQUE INDEX runs_scheduled_once ON runs (destination_id, event_type, day) WHERE kind = 'scheduled';
CREATE INDEX runs_due ON runs (next_attempt_at) WHERE status IN ('pending', 'running');
CREATE INDEX runs_destination_day ON runs (destination_id, day DESC, created_at DESC);

-- An attempt: one delivery try of a run.
CREATE TABLE attempts (
  run_id      uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  number      integer     NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  outcome     text        NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'delivered', 'failed', 'abandoned')),
  events      bigint,
  bytes       bigint,
  error       text        NOT NULL DEFAULT '',
  error_class text        NOT NULL DEFAULT '',
  permanent   boolean     NOT NULL DEFAULT false,
  replica     text        NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, number)
);
