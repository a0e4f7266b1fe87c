-- name: schema_migration_lock
-- Serialise concurrent `assistente migrate` runs (session-level advisory lock).
SELECT pg_advisory_lock(hashtext('assistente.migrate'));

-- name: schema_migration_unlock
-- Release the migration lock.
SELECT pg_advisory_unlock(hashtext('assistente.migrate'));

-- name: schema_migration_create_table
-- The record of applied migrations.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('started', 'applied')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    duration_ms integer
);

-- name: schema_migration_list
-- Migrations the database has recorded, in order.
SELECT version, name, checksum, state, started_at, applied_at FROM schema_migrations ORDER BY version;

-- name: schema_migration_start
-- Record that a migration that cannot run in a transaction has started.
INSERT INTO schema_migrations (version, name, checksum, state)
VALUES (%(version)s, %(name)s, %(checksum)s, 'started');

-- name: schema_migration_record
-- Record a migration as applied (inserting or finishing its row).
INSERT INTO schema_migrations (version, name, checksum, state, applied_at, duration_ms)
VALUES (%(version)s, %(name)s, %(checksum)s, 'applied', now(), %(duration_ms)s)
ON CONFLICT (version) DO UPDATE
   SET state = 'applied', applied_at = now(), duration_ms = EXCLUDED.duration_ms;

-- name: schema_migration_pgmq_installed
-- Whether PGMQ (as an extension or from its SQL) is already in this database.
SELECT to_regclass('pgmq.meta') IS NOT NULL AS installed;
