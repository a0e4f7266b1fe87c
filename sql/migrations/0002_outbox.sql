-- 0002: the outbox, a PGMQ queue (installed from the pgmq package's SQL before
-- the numbered migrations run). Events are written with pgmq.send on the same
-- transaction as the state change they describe; the relay archives what
-- RabbitMQ confirmed.

SELECT pgmq.create('outbox');

-- The relay reads only each task's oldest pending event; this index answers
-- "is there an earlier event of this task still waiting?" without a scan.
CREATE INDEX outbox_task_order_idx ON pgmq.q_outbox ((message ->> 'taskId'), msg_id);

-- The user's OutboxMessages, for DBAs: pending rows still in the queue, published
-- rows in its archive.
CREATE VIEW outbox_messages AS
SELECT q.msg_id                                AS id,
       q.message ->> 'eventType'               AS type,
       (q.message ->> 'taskId')::uuid          AS task_id,
       (q.message ->> 'tenantId')::uuid        AS tenant_id,
       q.message                               AS content,
       q.enqueued_at                           AS occurred_at,
       NULL::timestamptz                       AS processed_at,
       q.read_ct                               AS attempts,
       q.headers ->> 'error'                   AS error,
       'Pending'::text                         AS status
  FROM pgmq.q_outbox q
UNION ALL
SELECT a.msg_id,
       a.message ->> 'eventType',
       (a.message ->> 'taskId')::uuid,
       (a.message ->> 'tenantId')::uuid,
       a.message,
       a.enqueued_at,
       a.archived_at,
       a.read_ct,
       a.headers ->> 'error',
       CASE WHEN a.headers ? 'error' THEN 'SetAside' ELSE 'Published' END
  FROM pgmq.a_outbox a;

COMMENT ON VIEW outbox_messages IS
    'Outbox events: Pending (waiting for the relay), Published (confirmed by RabbitMQ), SetAside (refused; see error).';

-- Every task event goes to the outbox in the transaction that wrote it: one
-- statement-level trigger, so no code path can change a task and forget to tell
-- integrations. The message carries identifiers and status, never the payload.
-- The same trigger wakes workers (new or returned work) and delivers cancel
-- requests to the worker running the task.
CREATE FUNCTION task_events_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_events) THEN
        RETURN NULL;  -- statement triggers fire for zero rows too
    END IF;
    PERFORM pgmq.send_batch(
        'outbox',
        ARRAY(
            SELECT jsonb_build_object(
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
                       'attempt', t.attempt_count,
                       'correlationId', t.correlation_id
                   ) || (e.detail - 'error')
              FROM new_events e
              JOIN tasks t ON t.id = e.task_id
             ORDER BY e.id
        )
    );
    -- Wake workers only for work that is due now; later work is woken by its own timer
    -- (the worker that scheduled a retry, and the maintenance leader's due check).
    IF EXISTS (SELECT 1
                 FROM new_events e
                 JOIN tasks t ON t.id = e.task_id
                WHERE e.status IN ('Queued', 'Failed') AND t.scheduled_at <= now()) THEN
        PERFORM pg_notify('assistente_tasks', '');
    END IF;
    PERFORM pg_notify('assistente_cancel', e.task_id::text)
       FROM new_events e
      WHERE e.event_type = 'TaskCancelRequested';
    -- Live streams (SSE) of the API: which tenants have new events.
    PERFORM pg_notify('assistente_events', d.tenant_id::text)
       FROM (SELECT DISTINCT tenant_id FROM new_events) AS d;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_events_publish
    AFTER INSERT ON task_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION task_events_publish();
