-- pgbench script TEMPLATE: our engine's own claim and finish statements, no Python.
-- tests/bench/ceiling.py fills the dollar slots below at run time with the named
-- queries of sql/queries/leasing.sql, their psycopg placeholders rendered into pgbench
-- SQL, so this script follows the engine's SQL as it changes; it drops these comments.
--
-- Two transactions per iteration, as the worker does (its pool is in autocommit and
-- the claim must be committed before a task runs): claim up to `batch` tasks for
-- worker 'pgbench-<client_id>' (Reserved), then end every attempt this client holds as
-- Succeeded, its TaskRunning event written by the finish as for a no-op task.
-- The finish's parameters are what PgLeaseStore sends for no-op tasks that succeeded,
-- with the task and attempt ids taken from the leases this client holds (pgbench_claimed).
-- Needs --protocol=prepared and --define=batch=N.
${task_lease_available};
WITH pgbench_claimed AS MATERIALIZED (
    SELECT id, attempt_id
      FROM tasks
     WHERE status = 'Reserved'
       AND locked_by = ${worker_id}
),
${task_finish_attempts_after_with};
