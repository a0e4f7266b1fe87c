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
-- The next batch of pending events, oldest first, hidden from other readers for `vt_seconds`.
SELECT msg_id, read_ct, enqueued_at, message, headers
  FROM pgmq.read('outbox', %(vt_seconds)s::integer, %(limit)s::integer);

-- name: outbox_archive
-- Mark events as published (RabbitMQ confirmed them).
SELECT pgmq.archive('outbox', %(ids)s::bigint[]);

-- name: outbox_release
-- Make events visible again at once (their publish did not happen).
UPDATE pgmq.q_outbox SET vt = clock_timestamp() WHERE msg_id = ANY(%(ids)s::bigint[]);

-- name: outbox_note_refusal
-- Remember why the broker refused an event; it is retried after `delay_seconds`.
UPDATE pgmq.q_outbox
   SET headers = coalesce(headers, '{}'::jsonb) || jsonb_build_object('lastError', %(error)s::text),
       vt = clock_timestamp() + make_interval(secs => %(delay_seconds)s::float8)
 WHERE msg_id = %(id)s;

-- name: outbox_set_aside
-- Give up on an event the broker keeps refusing: archive it with its error so it blocks nothing.
WITH noted AS (
    UPDATE pgmq.q_outbox
       SET headers = coalesce(headers, '{}'::jsonb) || jsonb_build_object('error', %(error)s::text)
     WHERE msg_id = %(id)s
    RETURNING msg_id
)
SELECT pgmq.archive('outbox', msg_id) FROM noted;

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
