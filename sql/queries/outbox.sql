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
-- The next messages, oldest first (at most `limit`, and no more once `max_events` events are read), hidden for `vt_seconds`, each with its events as published, in order (a message whose events were all pruned comes with none). A held message is read only while it is its task's oldest, so a task's held events leave in order whatever happened to earlier batches.
WITH visible AS (
    SELECT q.msg_id,
           -- Events up to and including this message, to stop near `max_events`.
           sum(CASE WHEN q.message ? 'events' THEN jsonb_array_length(q.message -> 'events')
                    ELSE 1 END) OVER (ORDER BY q.msg_id) AS events_through
      FROM pgmq.q_outbox q
     WHERE q.vt <= clock_timestamp()
       AND NOT (q.message ? 'taskId'
                AND EXISTS (SELECT 1
                              FROM pgmq.q_outbox earlier
                             WHERE earlier.message ? 'taskId'
                               AND earlier.message ->> 'taskId' = q.message ->> 'taskId'
                               AND earlier.msg_id < q.msg_id))
     ORDER BY q.msg_id
     LIMIT %(limit)s
), candidate AS (
    -- The first message always; then messages while the events before them fit.
    SELECT q.msg_id
      FROM pgmq.q_outbox q
      JOIN visible v ON v.msg_id = q.msg_id
     WHERE v.events_through - CASE WHEN q.message ? 'events'
                                   THEN jsonb_array_length(q.message -> 'events') ELSE 1 END
           < %(max_events)s
       FOR UPDATE OF q SKIP LOCKED
), taken AS (
    UPDATE pgmq.q_outbox m
       SET vt = clock_timestamp() + make_interval(secs => %(vt_seconds)s::float8),
           read_ct = m.read_ct + 1,
           last_read_at = clock_timestamp()
      FROM candidate c
     WHERE m.msg_id = c.msg_id
    RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.message, m.headers
)
SELECT t.msg_id, t.read_ct, t.enqueued_at, t.headers, t.message ? 'events' AS batch, x.event_id,
       x.task_id, x.content, x.held
  FROM taken t
  LEFT JOIN LATERAL outbox_message_events(t.message) x ON true
 ORDER BY t.msg_id, x.event_id;

-- name: outbox_settle
-- In one statement: move events that must wait into held messages of their own (in the order given, so each task's stay in order) and archive the messages that are done. Returns each held message's id and event.
WITH held AS (
    INSERT INTO pgmq.q_outbox (vt, message, headers)
    SELECT clock_timestamp() + make_interval(secs => h.delay_seconds),
           jsonb_build_object('taskId', h.task_id, 'event', h.event_id),
           h.headers
      FROM unnest(%(event_ids)s::bigint[], %(task_ids)s::uuid[], %(delays)s::float8[],
                  %(headers)s::jsonb[]) WITH ORDINALITY
           AS h(event_id, task_id, delay_seconds, headers, n)
     ORDER BY h.n
    RETURNING msg_id, (message ->> 'event')::bigint AS event_id
)
SELECT msg_id, event_id FROM held
UNION ALL
SELECT archived, NULL FROM pgmq.archive('outbox', %(archive)s::bigint[]) AS archived;

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
SELECT coalesce(sum(CASE WHEN message ? 'events' THEN jsonb_array_length(message -> 'events')
                         ELSE 1 END), 0)::bigint AS pending,
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
