-- 0002: the outbox, a PGMQ queue (installed from the pgmq package's SQL before
-- the numbered migrations run). Events are written with pgmq.send on the same
-- transaction as the state change they describe; the relay archives what
-- RabbitMQ confirmed.

SELECT pgmq.create('outbox');

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
