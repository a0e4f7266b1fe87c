-- The SQL ceiling's "minimal queue": only what a bare Postgres queue needs, so
-- pgbench over it measures the database's own limit for claim-and-complete.
-- Named blocks like sql/queries (read with app.adapters.postgres.queries.parse_queries)
-- and run by tests/bench/ceiling.py through psycopg; the pgbench script that works
-- this table is minimal_claim_complete.sql.

-- name: minimal_queue_create
-- One table and one partial index that holds only claimable rows, like tasks_claim_idx.
CREATE TABLE minimal_queue (
    id           bigserial   PRIMARY KEY,
    status       smallint    NOT NULL DEFAULT 0,  -- 0 queued, 1 done
    priority     smallint    NOT NULL DEFAULT 5,
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    payload      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX minimal_queue_claim_idx ON minimal_queue (priority, scheduled_at) WHERE status = 0;

-- name: minimal_queue_fill
-- `rows` due tasks; every 1 000 share a scheduled_at, as the drain benchmark's enqueue chunks of 1 000 do.
INSERT INTO minimal_queue (scheduled_at)
SELECT now() - interval '1 hour' + (i / 1000) * interval '1 millisecond'
  FROM generate_series(0, %(rows)s - 1) AS i;
