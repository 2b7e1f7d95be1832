-- Targets by kind: a target is a kind (the transport that delivers to it), the transport's own
-- settings as JSON, and its sealed secrets by name. Existing SFTP targets are carried over as
-- kind 'sftp' with the same settings and secrets, so their destinations keep working untouched.
ALTER TABLE targets ADD COLUMN kind text NOT NULL DEFAULT 'sftp';
ALTER TABLE targets ALTER COLUMN kind DROP DEFAULT;
ALTER TABLE targets ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
UPDATE targets SET settings = jsonb_build_object(
  'host', host, 'port', port, 'user', username, 'host_key', host_key,
  'base_dir', base_dir, 'legacy_crypto', legacy_crypto);

-- A target's secrets, AES-256-GCM sealed by the service: one row per secret that is set.
CREATE TABLE target_secrets (
  target_id uuid  NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  name      text  NOT NULL,
  sealed    bytea NOT NULL,
  PRIMARY KEY (target_id, name)
);
INSERT INTO target_secrets (target_id, name, sealed)
  SELECT id, 'password', password_sealed FROM targets WHERE password_sealed IS NOT NULL
  UNION ALL
  SELECT id, 'private_key', private_key_sealed FROM targets WHERE private_key_sealed IS NOT NULL
  UNION ALL
  SELECT id, 'passphrase', passphrase_sealed FROM targets WHERE passphrase_sealed IS NOT NULL;

ALTER TABLE targets
  DROP COLUMN host, DROP COLUMN port, DROP COLUMN username, DROP COLUMN host_key,
  DROP COLUMN base_dir, DROP COLUMN legacy_crypto,
  DROP COLUMN password_sealed, DROP COLUMN private_key_sealed, DROP COLUMN passphrase_sealed;

-- The formats are a registry in the service: a format it does not know is refused there, with
-- the list of those it knows, and a new format needs no schema change.
ALTER TABLE destinations DROP CONSTRAINT destinations_format_check;
ALTER TABLE runs DROP CONSTRAINT runs_format_check;

-- A removed destination loses its target and secrets, but its row stays, disabled, so that its
-- runs keep their destination's id, company, name and format: the history stays readable.
ALTER TABLE destinations ADD COLUMN removed_at timestamptz;
ALTER TABLE destinations ALTER COLUMN target_id DROP NOT NULL;
ALTER TABLE destinations ADD CHECK (removed_at IS NOT NULL OR target_id IS NOT NULL);
