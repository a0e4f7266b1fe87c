-- name: outbox_relay_try_lead
-- Become the one active relay (held until this session ends): one reader keeps each task's events in order.
SELECT pg_try_advisory_lock(hashtext('assistente.relay')) AS leader;

-- name: outbox_relay_resign
-- Stop being the active relay.
SELECT pg_advisory_unlock(hashtext('assistente.relay'));

-- name: outbox_reclaim
-- A new active relay takes over at once: messages a dead relay had read become visible now.
UPDATE pgmq.q_outbox SET vt = clock_timestamp() WHERE vt > clock_timestamp();

-- name: outbox_read
-- The next batch, oldest first, hidden for `vt_seconds`: only each task's oldest pending event, so a task's events leave in order whatever happened to earlier batches. Each message as published (pointers expanded from task_events; NULL if its event was pruned).
WITH candidate AS (
    SELECT q.msg_id
      FROM pgmq.q_outbox q
     WHERE q.vt <= clock_timestamp()
       AND NOT EXISTS (SELECT 1
                         FROM pgmq.q_outbox earlier
                        WHERE earlier.message ->> 'taskId' = q.message ->> 'taskId'
                          AND earlier.msg_id < q.msg_id)
     ORDER BY q.msg_id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE pgmq.q_outbox m
   SET vt = clock_timestamp() + make_interval(secs => %(vt_seconds)s::float8),
       read_ct = m.read_ct + 1,
       last_read_at = clock_timestamp()
  FROM candidate c
 WHERE m.msg_id = c.msg_id
RETURNING m.msg_id, m.read_ct, m.enqueued_at, outbox_message_content(m.message) AS message,
          m.headers;

-- name: outbox_archive
-- Mark events as published (RabbitMQ confirmed them).
SELECT pgmq.archive('outbox', %(ids)s::bigint[]);

-- name: outbox_release
-- Make events visible again at once (their publish did not happen).
UPDATE pgmq.q_outbox SET vt = clock_timestamp() WHERE msg_id = ANY(%(ids)s::bigint[]);

-- name: outbox_note_refusal
-- Count a refusal and remember its error; the event (and its task's later ones) waits `delay_seconds`.
UPDATE pgmq.q_outbox
   SET headers = coalesce(headers, '{}'::jsonb)
                 || jsonb_build_object('lastError', %(error)s::text,
                                       'refusals', coalesce((headers ->> 'refusals')::integer, 0) + 1),
       vt = clock_timestamp() + make_interval(secs => %(delay_seconds)s::float8)
 WHERE msg_id = %(id)s;

-- name: outbox_set_aside
-- Give up on an event the broker keeps refusing: move it to the archive with its error, so it blocks nothing.
WITH moved AS (
    DELETE FROM pgmq.q_outbox WHERE msg_id = %(id)s
    RETURNING msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers
)
INSERT INTO pgmq.a_outbox (msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers)
SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, message,
       coalesce(headers, '{}'::jsonb) || jsonb_build_object('error', %(error)s::text)
  FROM moved;

-- name: outbox_lag
-- Pending events and the age of the oldest (the relay's lag), in seconds.
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM clock_timestamp() - min(enqueued_at)), 0)::float8 AS lag_seconds
  FROM pgmq.q_outbox;

-- name: outbox_prune_published
-- Delete one batch of published events older than the retention.
DELETE FROM pgmq.a_outbox
 WHERE msg_id IN (SELECT msg_id
                    FROM pgmq.a_outbox
                   WHERE archived_at < clock_timestamp() - make_interval(secs => %(retention_seconds)s::float8)
                   ORDER BY archived_at
                   LIMIT %(limit)s);
