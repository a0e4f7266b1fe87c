-- 0006: an event is written once. The timeline row in task_events is the event; its
-- outbox message only points at it ({"taskId": …, "event": task_events.id}) and the
-- relay builds the published JSON when it reads the message.
--
-- Before this, every event was written twice on the hot path: a task_events row and a
-- ~450-byte outbox message holding the same facts (built in the trigger with a lookup
-- of its task), which the relay then copied again into the archive. Measured by
-- `make bench` (write cost): the two copies were over half of the WAL a task wrote.
--
-- The one fact of a message that changes after its event is the task's attempt count,
-- so the event keeps it in a column of its own. Messages written before this
-- migration carry their full JSON and are published as they are.

ALTER TABLE task_events ADD COLUMN attempt integer;
COMMENT ON COLUMN task_events.attempt IS 'The task''s attempt count when the event happened.';

-- The JSON the relay publishes for an outbox message (docs/events.md). NULL when the
-- event a pointer names is gone (pruned before it was published).
CREATE FUNCTION outbox_message_content(message jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
           WHEN NOT message ? 'event' THEN message
           ELSE (SELECT jsonb_build_object(
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
                        ) || (e.detail - 'error')
                   FROM task_events e
                   JOIN tasks t ON t.id = e.task_id
                  WHERE e.id = (message ->> 'event')::bigint)
           END
$$;
COMMENT ON FUNCTION outbox_message_content(jsonb) IS
    'The event JSON published for an outbox message: pointers are expanded from task_events.';

CREATE OR REPLACE FUNCTION task_events_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pgmq.q_outbox (vt, message)
    SELECT clock_timestamp(), jsonb_build_object('taskId', e.task_id, 'event', e.id)
      FROM new_events e
     ORDER BY e.id;
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

CREATE OR REPLACE VIEW outbox_messages AS
SELECT q.msg_id                                AS id,
       c.content ->> 'eventType'               AS type,
       (q.message ->> 'taskId')::uuid          AS task_id,
       (c.content ->> 'tenantId')::uuid        AS tenant_id,
       c.content                               AS content,
       q.enqueued_at                           AS occurred_at,
       NULL::timestamptz                       AS processed_at,
       q.read_ct                               AS attempts,
       q.headers ->> 'error'                   AS error,
       'Pending'::text                         AS status
  FROM pgmq.q_outbox q
 CROSS JOIN LATERAL (SELECT outbox_message_content(q.message) AS content) c
UNION ALL
SELECT a.msg_id,
       c.content ->> 'eventType',
       (a.message ->> 'taskId')::uuid,
       (c.content ->> 'tenantId')::uuid,
       c.content,
       a.enqueued_at,
       a.archived_at,
       a.read_ct,
       a.headers ->> 'error',
       CASE WHEN a.headers ? 'error' THEN 'SetAside' ELSE 'Published' END
  FROM pgmq.a_outbox a
 CROSS JOIN LATERAL (SELECT outbox_message_content(a.message) AS content) c;
