-- 0009: three fewer index entries written per task.
--
-- Every index of a table gets an entry for each row inserted (and for each update that
-- is not HOT). Profiled during a drain, inserting index entries was about 30 % of the
-- database's CPU, at 14 entries per task; these three bought nothing the others do
-- not give.
--
-- task_attempts: its rows were reached through two indexes, the primary key (id) and
-- (task_id, id). Nothing looks an attempt up by id alone, so (task_id, id) becomes the
-- primary key and the other index goes.
ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_pkey;
ALTER TABLE task_attempts ADD CONSTRAINT task_attempts_pkey PRIMARY KEY (task_id, id);
DROP INDEX task_attempts_task_idx;

-- task_events (tenant_id, id): read only by a tenant's live stream, for the events after
-- its cursor. The API's watcher tells a stream when its tenant has new events, so its
-- cursor is recent, and the events after a recent cursor are few whatever their
-- tenant: the primary key finds them. (A stream resumed from an old Last-Event-ID
-- reads the events of every tenant written since; sql/README.md says so.)
DROP INDEX task_events_tenant_idx;

-- The publish trigger reads its statement's events once, not three times: a claim or a
-- finish (no due work, no cancel request) runs one query in it instead of three.
CREATE OR REPLACE FUNCTION task_events_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    maybe_due boolean;
    cancelled uuid[];
BEGIN
    WITH summary AS (
        SELECT jsonb_agg(e.id ORDER BY e.id) AS events,
               bool_or(e.status IN ('Queued', 'Failed')) AS maybe_due,
               array_agg(e.task_id) FILTER (WHERE e.event_type = 'TaskCancelRequested')
                   AS cancelled
          FROM new_events e
    ), message AS (
        INSERT INTO pgmq.q_outbox (vt, message)
        SELECT clock_timestamp(), jsonb_build_object('events', events)
          FROM summary
         WHERE events IS NOT NULL
    )
    SELECT s.maybe_due, s.cancelled INTO maybe_due, cancelled FROM summary s;
    -- Wake workers only for work that is due now; later work is woken by its own timer
    -- (the worker that scheduled a retry, and the maintenance leader's due check).
    IF maybe_due AND EXISTS (SELECT 1
                               FROM new_events e
                              WHERE e.status IN ('Queued', 'Failed')
                                AND (SELECT scheduled_at FROM tasks WHERE id = e.task_id)
                                    <= now()) THEN
        PERFORM pg_notify('assistente_tasks', '');
    END IF;
    IF cancelled IS NOT NULL THEN
        PERFORM pg_notify('assistente_cancel', c::text) FROM unnest(cancelled) AS c;
    END IF;
    RETURN NULL;
END
$$;
