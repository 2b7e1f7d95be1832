-- A destination's file rules beside its format (compression, encryption, size and row limits,
-- manifest, name template), as the service reads them. A run keeps a copy from its creation,
-- so that every attempt of it writes the same files under the same names.
ALTER TABLE destinations ADD COLUMN file_options jsonb NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN file_options jsonb NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN part_pattern text NOT NULL DEFAULT '';

-- The files a delivered run left on the server: one, or its parts and its manifest.
CREATE TABLE run_files (
  run_id  uuid    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq     integer NOT NULL,
  name    text    NOT NULL,
  bytes   bigint  NOT NULL,
  events  bigint  NOT NULL,
  sha256  text    NOT NULL,
  PRIMARY KEY (run_id, seq)
);
