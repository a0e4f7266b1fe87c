-- 0007: one outbox message per statement, not per event.
--
-- Since 0006 an outbox message only points at its task_events row. A statement that
-- changes fifty tasks (a worker's claim or finish) still wrote fifty messages, each a
-- heap row and three index entries, and the relay then archived each (a delete and
-- another insert). Now the statement writes one message that lists its events,
-- {"events": [task_events.id, ...]}, and the relay publishes one AMQP message per
-- event as before (docs/events.md is unchanged).
--
-- Order per task still holds: two statements that write events of one task both
-- update its row, so the second waits for the first to commit and its message gets
-- the higher msg_id; the relay publishes in msg_id order, one task's events in
-- separate waves (app/application/relay.py).
--
-- An event the broker refuses, and a task's later events while that one waits, move
-- into a message of their own, {"taskId": …, "event": id}, as 0006 wrote them: a held
-- message. Held messages leave in order per task, oldest first, as before; the index
-- below finds them, and only them.

DROP INDEX pgmq.outbox_task_order_idx;
CREATE INDEX outbox_held_task_idx ON pgmq.q_outbox ((message ->> 'taskId'), msg_id)
    WHERE message ? 'taskId';

-- The events of one outbox message as the relay publishes them, in order. `held` says
-- that the event's task has a held message waiting, so this event must wait behind it.
-- An event pruned before it was published is missing from the result.
CREATE FUNCTION outbox_message_events(message jsonb)
RETURNS TABLE (event_id bigint, task_id uuid, content jsonb, held boolean)
LANGUAGE sql STABLE AS $$
    -- A batch message: the events its statement wrote.
    SELECT e.id,
           e.task_id,
           jsonb_build_object(
               -- Stable across re-deliveries: derived from (task, sequence).
               'eventId', md5(e.task_id::text || '/' || e.sequence)::uuid,
               'eventType', e.event_type,
               'occurredAt', e.occurred_at,
               'tenantId', e.tenant_id,
               'taskId', e.task_id,
               'sequence', e.sequence,
               'traceId', e.trace_id,
               'status', e.status,
               'type', t.type,
               'attempt', coalesce(e.attempt, t.attempt_count),
               'correlationId', t.correlation_id
           ) || (e.detail - 'error'),
           EXISTS (SELECT 1
                     FROM pgmq.q_outbox h
                    WHERE h.message ? 'taskId'
                      AND h.message ->> 'taskId' = e.task_id::text)
      FROM task_events e
      JOIN tasks t ON t.id = e.task_id
     WHERE message ? 'events'
       AND e.id = ANY (ARRAY(SELECT jsonb_array_elements_text(message -> 'events')::bigint))
    UNION ALL
    -- A held message, or one written before this migration: a single event (its
    -- content NULL when the event it points at was pruned).
    SELECT (message ->> 'event')::bigint,
           (message ->> 'taskId')::uuid,
           outbox_message_content(message),
           false
     WHERE NOT message ? 'events'
     ORDER BY 1
$$;
COMMENT ON FUNCTION outbox_message_events(jsonb) IS
    'The events of an outbox message as published (docs/events.md), in order; held: the task has a held message waiting.';

CREATE OR REPLACE FUNCTION task_events_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pgmq.q_outbox (vt, message)
    SELECT clock_timestamp(), jsonb_build_object('events', jsonb_agg(e.id ORDER BY e.id))
      FROM new_events e
    HAVING count(*) > 0;
    -- Wake workers only for work that is due now; later work is woken by its own timer
    -- (the worker that scheduled a retry, and the maintenance leader's due check).
    IF EXISTS (SELECT 1
                 FROM new_events e
                WHERE e.status IN ('Queued', 'Failed')
                  AND (SELECT scheduled_at FROM tasks WHERE id = e.task_id) <= now()) THEN
        PERFORM pg_notify('assistente_tasks', '');
    END IF;
    PERFORM pg_notify('assistente_cancel', e.task_id::text)
       FROM new_events e
      WHERE e.event_type = 'TaskCancelRequested';
    RETURN NULL;
END
$$;

-- One row per event, as before: a batch message shows each of its events.
CREATE OR REPLACE VIEW outbox_messages AS
SELECT q.msg_id                                AS id,
       x.content ->> 'eventType'               AS type,
       x.task_id                               AS task_id,
       (x.content ->> 'tenantId')::uuid        AS tenant_id,
       x.content                               AS content,
       q.enqueued_at                           AS occurred_at,
       NULL::timestamptz                       AS processed_at,
       q.read_ct                               AS attempts,
       q.headers ->> 'error'                   AS error,
       'Pending'::text                         AS status
  FROM pgmq.q_outbox q
 CROSS JOIN LATERAL outbox_message_events(q.message) x
UNION ALL
SELECT a.msg_id,
       x.content ->> 'eventType',
       x.task_id,
       (x.content ->> 'tenantId')::uuid,
       x.content,
       a.enqueued_at,
       a.archived_at,
       a.read_ct,
       a.headers ->> 'error',
       CASE WHEN a.headers ? 'error' THEN 'SetAside' ELSE 'Published' END
  FROM pgmq.a_outbox a
 CROSS JOIN LATERAL outbox_message_events(a.message) x;

COMMENT ON VIEW outbox_messages IS
    'Outbox events, one row each: Pending (waiting for the relay), Published (confirmed by RabbitMQ), SetAside (refused; see error).';
