-- 0014: dependsOn, a DAG of named tasks inside a batch (and, next, a saga's steps).
--
-- A task that depends on others is inserted held: `Created`, `wait_reason =
-- 'dependencies'`, `deps_pending` = how many predecessors it waits for, and one row of
-- `task_dependencies` per predecessor. It publishes nothing until released. When a
-- predecessor ends, in the transaction that ended it (the same paths as 0013),
-- `task_dependencies_release` counts it against each successor under the successor's
-- row lock: a successor whose predecessors all succeeded is released (`Queued`, its
-- TaskQueued event); one whose predecessor ended otherwise (dead-lettered, cancelled)
-- is cancelled, and so, in turn, are its own successors. Those cancellations are
-- endings of children like any other: they go on to task_groups_settle with the rest.
-- Tasks without dependencies are untouched: nothing joins this table for them.

ALTER TABLE tasks ADD COLUMN deps_pending integer CHECK (deps_pending >= 0);
COMMENT ON COLUMN tasks.deps_pending IS
    'For a task held on its dependencies: predecessors that have not ended yet; NULL otherwise.';

CREATE TABLE task_dependencies (
    depends_on uuid NOT NULL,  -- the predecessor
    task_id    uuid NOT NULL,  -- the successor, held until its predecessors end
    tenant_id  uuid NOT NULL,
    PRIMARY KEY (depends_on, task_id),
    CHECK (depends_on <> task_id)
);
-- What a task waits on (DBAs), and pruning the edges of a pruned successor.
CREATE INDEX task_dependencies_task_idx ON task_dependencies (task_id);
COMMENT ON TABLE task_dependencies IS
    'dependsOn edges: task_id runs once depends_on has succeeded (it is cancelled if depends_on ends otherwise).';

-- Count ended children (sign 1 in `changes`, as for task_groups_settle) against their
-- successors, in id order; release those whose predecessors all succeeded, cancel those
-- with a predecessor that did not (and theirs, transitively). Returns `changes` with
-- those cancellations added, for task_groups_settle.
CREATE FUNCTION task_dependencies_release(changes jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    wave jsonb := changes;
    found_more jsonb;
BEGIN
    LOOP
        WITH ended AS (
            SELECT (c ->> 'task')::uuid AS id, (c ->> 'tenant')::uuid AS tenant,
                   c ->> 'status' AS status
              FROM jsonb_array_elements(wave) AS c
             WHERE (c ->> 'sign')::integer = 1 AND c ? 'task'
        ), hits AS (
            SELECT d.task_id, count(*) AS n, bool_or(e.status <> 'Succeeded') AS failed
              FROM task_dependencies d
              JOIN ended e ON d.depends_on = e.id AND d.tenant_id = e.tenant
             GROUP BY d.task_id
        ), locked AS (
            -- Successors in id order: the order every path locks them in.
            SELECT t.id, h.n, h.failed
              FROM tasks t
              JOIN hits h ON h.task_id = t.id
             WHERE t.status = 'Created' AND t.wait_reason = 'dependencies'
             ORDER BY t.id
               FOR UPDATE OF t
        ), moved AS (
            UPDATE tasks t
               SET deps_pending = t.deps_pending - l.n,
                   status = CASE WHEN l.failed THEN 'Cancelled'::task_status
                                 WHEN t.deps_pending - l.n = 0 THEN 'Queued'::task_status
                                 ELSE t.status END,
                   finished_at = CASE WHEN l.failed THEN now() END,
                   cancel_requested_at = CASE WHEN l.failed THEN now() END,
                   last_error = CASE WHEN l.failed THEN 'a task it depends on did not succeed' END,
                   scheduled_at = CASE WHEN NOT l.failed AND t.deps_pending - l.n = 0
                                       THEN greatest(t.scheduled_at, now())
                                       ELSE t.scheduled_at END,
                   updated_at = now()
              FROM locked l
             WHERE t.id = l.id
            RETURNING t.id, t.tenant_id, t.parent_id, t.status, t.version, t.trace_id,
                      t.attempt_count, t.scheduled_at, t.priority
        ), events AS (
            -- A held task published nothing yet: its first event has sequence 1 (its version).
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            SELECT id, tenant_id, version,
                   CASE status WHEN 'Queued' THEN 'TaskQueued' ELSE 'TaskCancelled' END,
                   status, trace_id, attempt_count,
                   CASE status WHEN 'Queued'
                        THEN jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
                        ELSE jsonb_build_object('errorCode', 'DependencyFailed') END
              FROM moved
             WHERE status IN ('Queued', 'Cancelled')
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'task', id, 'parent', parent_id, 'tenant', tenant_id, 'status', 'Cancelled',
                   'sign', 1)), '[]')
          INTO found_more
          FROM moved
         WHERE status = 'Cancelled' AND parent_id IS NOT NULL;
        EXIT WHEN found_more = '[]'::jsonb;
        changes := changes || found_more;
        wave := found_more;  -- their successors are cancelled in turn
    END LOOP;
    RETURN changes;
END
$$;
COMMENT ON FUNCTION task_dependencies_release(jsonb) IS
    'Release (or cancel) the successors of ended tasks, in the caller''s transaction; returns the changes plus the cancellations, for task_groups_settle.';

-- What each held task waits on, for DBAs.
CREATE VIEW task_waiting_on AS
SELECT d.task_id,
       d.tenant_id,
       d.depends_on,
       p.type   AS depends_on_type,
       p.status AS depends_on_status
  FROM task_dependencies d
  JOIN tasks s ON s.id = d.task_id AND s.status = 'Created'
  JOIN tasks p ON p.id = d.depends_on;
COMMENT ON VIEW task_waiting_on IS
    'For each task held on its dependencies: each task it depends on, and that task''s status.';

CREATE OR REPLACE VIEW held_tasks AS
SELECT t.id,
       t.tenant_id,
       t.type,
       t.execution_type,
       t.wait_reason,
       CASE t.wait_reason
            WHEN 'children' THEN format('%s of %s children still to end', g.remaining, g.total)
            WHEN 'dependencies' THEN format('%s tasks it depends on still to end', t.deps_pending)
            ELSE t.wait_reason END                        AS waiting_for,
       g.remaining,
       g.total,
       t.cancel_requested_at IS NOT NULL                  AS cancel_requested,
       now() - t.created_at                               AS held_for
  FROM tasks t
  LEFT JOIN task_groups g ON g.parent_id = t.id
 WHERE t.status = 'Created';
