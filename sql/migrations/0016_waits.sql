-- 0016: tasks that wait on the outside world: a person's decision (HumanInLoop) and a
-- signal (EventDriven). docs/design/waits.md.
--
-- A waiting task is *parked*: a row of `tasks` in `Created` with `wait_reason` decision,
-- input or signal, and one row in `task_waits` saying what it waits for and until when.
-- `Created` is not claimable (the claim index holds only Queued and Failed), so a parked
-- task holds no lease and no worker slot, however long it waits.
--
-- * Before it runs: a HumanInLoop task with an `approval` block, or a task with `waitFor`
--   a signal, is inserted parked (task_enqueue_many).
-- * While it runs: a handler asks for input (`ctx.request_input`) or for a signal
--   (`ctx.wait_for_signal`); its attempt ends Released (not a failure, not counted), the
--   lease is let go and the task is parked (task_park_attempts).
-- * The answer (a decision, a signal, or the deadline passing) is kept in
--   `tasks.resume` under the wait's key, and the task is queued again: its handler runs
--   again from the top and finds the answer there.

ALTER TABLE tasks ADD COLUMN resume jsonb
    CHECK (resume IS NULL OR jsonb_typeof(resume) = 'object');
COMMENT ON COLUMN tasks.resume IS
    'The answers to the task''s earlier waits, by wait key ({"decision": …}, {"signal": …} or {"timedOut": true}); its handler reads them when it runs again.';
COMMENT ON COLUMN tasks.wait_reason IS
    'Why a Created task is held: children (a parent waiting for its children), dependencies (a step waiting for its predecessors), compensation (an undo waiting its turn), decision (an approval before it runs), input (its handler asked a person), signal (it waits for a signal).';

-- A handler that asks for input or a signal parks its running task.
INSERT INTO task_status_transitions (from_status, to_status) VALUES ('Running', 'Created');

ALTER TABLE task_events DROP CONSTRAINT task_events_event_type_check;
ALTER TABLE task_events ADD CONSTRAINT task_events_event_type_check
    CHECK (event_type ~ '^(Task|Batch|Saga|Schedule|Trigger|Signal)[A-Z][A-Za-z]+$') NOT VALID;
ALTER TABLE task_events VALIDATE CONSTRAINT task_events_event_type_check;

CREATE TABLE task_waits (
    task_id      uuid        PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    tenant_id    uuid        NOT NULL,
    -- approval: a decision before the task runs; input: its handler asked a person;
    -- signal: a signal (name, key), before it runs or while it runs.
    kind         text        NOT NULL CHECK (kind IN ('approval', 'input', 'signal')),
    -- Where the answer goes in tasks.resume.
    wait_key     text        NOT NULL CHECK (length(wait_key) BETWEEN 1 AND 200),
    question     text,
    input_schema jsonb,
    signal_name  text,
    signal_key   text,
    deadline_at  timestamptz,
    -- What the deadline does: approve, reject, deadLetter (an approval); resume (the
    -- handler runs again and is told the wait timed out); run, cancel, deadLetter (a
    -- signal awaited before the task ran).
    on_deadline  text        NOT NULL
                             CHECK (on_deadline IN ('approve', 'reject', 'deadLetter', 'resume',
                                                    'run', 'cancel')),
    since        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT task_waits_signal_named CHECK (
        (kind = 'signal') = (signal_name IS NOT NULL AND signal_key IS NOT NULL)),
    CONSTRAINT task_waits_question_asked CHECK (kind = 'signal' OR question IS NOT NULL)
);
COMMENT ON TABLE task_waits IS
    'What each parked task waits for (a decision, input or a signal), since when and until when; one row per waiting task, deleted when the wait ends.';
-- The maintenance leader's deadline sweep, the signal lookup and the "awaiting people" list.
CREATE INDEX task_waits_deadline_idx ON task_waits (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX task_waits_signal_idx ON task_waits (tenant_id, signal_name, signal_key)
    WHERE kind = 'signal';
CREATE INDEX task_waits_tenant_idx ON task_waits (tenant_id, kind, since);

-- Every decision, kept (the wait row goes): who decided what, when. One per wait: a
-- second decision on the same wait breaks the unique key.
CREATE TABLE task_decisions (
    id                bigint      PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    task_id           uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    tenant_id         uuid        NOT NULL,
    wait_key          text        NOT NULL,
    decision          text        NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment           text,
    input             jsonb,
    decided_by_key_id uuid,
    decided_by        text,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, wait_key)
);
COMMENT ON TABLE task_decisions IS
    'The decisions people made on waiting tasks: the API key that sent each and an optional name.';

-- Signals: facts from outside (name, key, data), kept for a window so that a wait
-- registered just after its signal still finds it.
CREATE TABLE signals (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    key        text        NOT NULL,
    data       jsonb,
    -- The request's fingerprint, to tell a replay of the same id from a different signal.
    request_hash text      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- How many waiting tasks it resumed when it arrived (later waits are not counted).
    resumed    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE signals IS
    'Signals received (POST /api/v1/signals), kept until expires_at: a wait registered before then is answered by the newest one of its name and key.';
CREATE INDEX signals_lookup_idx ON signals (tenant_id, name, key, created_at DESC);
CREATE INDEX signals_expiry_idx ON signals (expires_at);

-- Both sides of the race between "wait" and "signal" take this lock first, on the
-- same (tenant, name, key): whichever commits first, the other sees it.
CREATE FUNCTION signal_lock(p_tenant uuid, p_name text, p_key text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant::text || '/' || p_name || '/' || p_key, 16));
END
$$;

-- End the wait of a parked task the caller has locked: the answer goes under its key,
-- the wait row goes, and the task moves on (Queued to run again, or Cancelled /
-- DeadLetter), with one event. Returns the task's (id, status, parent_id, tenant_id), for
-- the settle of a child's ending.
CREATE FUNCTION task_wait_end(p_task uuid, p_status task_status, p_answer jsonb,
                              p_event text, p_detail jsonb, p_error text DEFAULT NULL)
RETURNS TABLE (id uuid, status task_status, parent_id uuid, tenant_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w task_waits;
    t tasks;
BEGIN
    DELETE FROM task_waits WHERE task_id = p_task RETURNING * INTO w;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE tasks
       SET status = p_status,
           wait_reason = NULL,
           resume = CASE WHEN p_answer IS NULL THEN resume
                         ELSE coalesce(resume, '{}') || jsonb_build_object(w.wait_key, p_answer) END,
           scheduled_at = CASE WHEN p_status = 'Queued' THEN now() ELSE scheduled_at END,
           finished_at = CASE WHEN p_status IN ('Cancelled', 'DeadLetter', 'Succeeded')
                              THEN now() END,
           last_error = coalesce(p_error, last_error),
           version = version + 1,
           updated_at = now()
     WHERE tasks.id = p_task
    RETURNING * INTO t;
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    VALUES (t.id, t.tenant_id, t.version, p_event, t.status, t.trace_id, t.attempt_count,
            jsonb_strip_nulls(p_detail || jsonb_build_object('kind', w.kind, 'waitKey', w.wait_key)));
    RETURN QUERY SELECT t.id, t.status, t.parent_id, t.tenant_id;
END
$$;

-- The newest live signal of (tenant, name, key), if any; call under signal_lock.
CREATE FUNCTION signal_latest(p_tenant uuid, p_name text, p_key text)
RETURNS signals
LANGUAGE sql STABLE AS $$
    SELECT * FROM signals
     WHERE tenant_id = p_tenant AND name = p_name AND key = p_key AND expires_at > now()
     ORDER BY created_at DESC, id DESC
     LIMIT 1
$$;

-- The answer a signal gives a wait (what tasks.resume keeps, and the handler reads).
CREATE FUNCTION signal_answer(s signals) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('signal', jsonb_build_object(
        'id', s.id, 'name', s.name, 'key', s.key, 'data', s.data, 'receivedAt', s.created_at))
$$;

-- Parked tasks that wait for a signal already received (within its window) are
-- resumed at once: called after a wait is registered, in its transaction. The lock is
-- taken before the signal is looked for, in a statement of its own, so a signal sent
-- concurrently is either seen here or sees the wait (signal_send).
CREATE FUNCTION task_waits_check_signals(p_tasks uuid[])
RETURNS TABLE (id uuid, status task_status, parent_id uuid, tenant_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w record;
    s signals;
BEGIN
    FOR w IN SELECT tw.task_id, tw.tenant_id, tw.signal_name, tw.signal_key
               FROM task_waits tw
              WHERE tw.task_id = ANY (p_tasks) AND tw.kind = 'signal'
              ORDER BY tw.tenant_id, tw.signal_name, tw.signal_key, tw.task_id
    LOOP
        PERFORM signal_lock(w.tenant_id, w.signal_name, w.signal_key);
        s := signal_latest(w.tenant_id, w.signal_name, w.signal_key);
        IF s.id IS NOT NULL THEN
            PERFORM 1 FROM tasks WHERE tasks.id = w.task_id FOR UPDATE;
            RETURN QUERY SELECT * FROM task_wait_end(
                w.task_id, 'Queued', signal_answer(s), 'TaskSignalled',
                jsonb_build_object('signal', s.name, 'key', s.key, 'signalId', s.id,
                                   'receivedAt', s.created_at));
        END IF;
    END LOOP;
END
$$;

-- Receive a signal: keep it for `p_retention_seconds`, and resume every task of the
-- tenant waiting for its name and key. A replay of the same id changes nothing.
-- Returns (created, resumed, task ids resumed); `created` false: the id was used before
-- (`request_hash` then tells the caller whether it was the same signal).
CREATE FUNCTION signal_send(p_tenant uuid, p_id uuid, p_name text, p_key text, p_data jsonb,
                            p_request_hash text, p_retention_seconds float8)
RETURNS TABLE (created boolean, request_hash text, resumed integer, received_at timestamptz,
               expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s signals;
    n integer := 0;
    w record;
BEGIN
    PERFORM signal_lock(p_tenant, p_name, p_key);
    INSERT INTO signals (tenant_id, id, name, key, data, request_hash, expires_at)
    VALUES (p_tenant, p_id, p_name, p_key, p_data, p_request_hash,
            now() + make_interval(secs => p_retention_seconds))
    ON CONFLICT DO NOTHING
    RETURNING * INTO s;
    IF s.id IS NULL THEN
        RETURN QUERY SELECT false, x.request_hash, x.resumed, x.created_at, x.expires_at
                       FROM signals x WHERE x.tenant_id = p_tenant AND x.id = p_id;
        RETURN;
    END IF;
    -- A new statement, a new snapshot: every wait committed before our lock is seen.
    FOR w IN SELECT tw.task_id
               FROM task_waits tw
               JOIN tasks t ON t.id = tw.task_id
              WHERE tw.tenant_id = p_tenant AND tw.kind = 'signal'
                AND tw.signal_name = p_name AND tw.signal_key = p_key
                AND t.status = 'Created'
              ORDER BY tw.task_id
                FOR UPDATE OF t
    LOOP
        PERFORM task_wait_end(w.task_id, 'Queued', signal_answer(s), 'TaskSignalled',
                              jsonb_build_object('signal', s.name, 'key', s.key,
                                                 'signalId', s.id, 'receivedAt', s.created_at));
        n := n + 1;
    END LOOP;
    UPDATE signals SET resumed = n WHERE tenant_id = p_tenant AND id = p_id;
    RETURN QUERY SELECT true, s.request_hash, n, s.created_at, s.expires_at;
END
$$;

-- A person's decision on a task waiting for one (an approval, or input its handler
-- asked for). Returns one row: the outcome (decided, not_waiting, not_found) and the
-- task's status after. The task row is locked first, so a decision and the deadline
-- sweep (which locks it too, and re-checks the wait) cannot both end the same wait.
CREATE FUNCTION task_decide(p_tenant uuid, p_task uuid, p_decision text, p_comment text,
                            p_input jsonb, p_key_id uuid, p_decided_by text)
RETURNS TABLE (outcome text, status task_status, parent_id uuid, wait_kind text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t tasks;
    w task_waits;
    next task_status;
    answer jsonb;
    ended record;
BEGIN
    SELECT * INTO t FROM tasks WHERE id = p_task AND tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::task_status, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO w FROM task_waits WHERE task_id = p_task AND t.status = 'Created';
    IF NOT FOUND OR w.kind NOT IN ('approval', 'input') THEN
        RETURN QUERY SELECT 'not_waiting', t.status, t.parent_id, w.kind;
        RETURN;
    END IF;
    INSERT INTO task_decisions (task_id, tenant_id, wait_key, decision, comment, input,
                                decided_by_key_id, decided_by)
    VALUES (p_task, p_tenant, w.wait_key, p_decision, p_comment, p_input, p_key_id,
            p_decided_by);
    answer := jsonb_build_object('decision', jsonb_strip_nulls(jsonb_build_object(
        'decision', p_decision, 'input', p_input, 'comment', p_comment,
        'decidedBy', p_decided_by, 'decidedAt', now())));
    -- A rejected approval never runs; any answer to a handler's question runs it again.
    next := CASE WHEN w.kind = 'approval' AND p_decision = 'reject' THEN 'Cancelled'
                 ELSE 'Queued' END;
    SELECT * INTO ended FROM task_wait_end(
        p_task, next, answer, 'TaskDecided',
        jsonb_build_object('decision', p_decision, 'decidedBy', p_decided_by,
                           'apiKeyId', p_key_id),
        CASE WHEN next = 'Cancelled' THEN 'rejected by a person' END);
    RETURN QUERY SELECT 'decided', ended.status, ended.parent_id, w.kind;
END
$$;

-- The maintenance leader's sweep: waits whose deadline has passed end as their
-- on_deadline says. A task locked by a decision being made is skipped this round (and
-- then has no wait left). Returns the tasks it moved on, for the settle of children.
CREATE FUNCTION task_waits_expire(p_limit integer)
RETURNS TABLE (id uuid, status task_status, parent_id uuid, tenant_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c record;
    w task_waits;
    next task_status;
    answer jsonb;
BEGIN
    FOR c IN SELECT tw.task_id
               FROM task_waits tw
               JOIN tasks t ON t.id = tw.task_id
              WHERE tw.deadline_at <= now()
                AND t.status = 'Created'
              ORDER BY tw.deadline_at
              LIMIT p_limit
                FOR UPDATE OF t SKIP LOCKED
    LOOP
        -- Re-read under the task's lock: a decision that committed while we waited for
        -- it re-checked only the task's row (its status); its wait may be gone, or be a
        -- new one (answered, run, asked again) whose deadline has not passed.
        SELECT * INTO w FROM task_waits
         WHERE task_id = c.task_id AND deadline_at <= now();
        IF NOT FOUND THEN
            CONTINUE;
        END IF;
        next := CASE w.on_deadline WHEN 'reject' THEN 'Cancelled'
                                   WHEN 'cancel' THEN 'Cancelled'
                                   WHEN 'deadLetter' THEN 'DeadLetter'
                                   ELSE 'Queued' END;
        answer := CASE w.on_deadline
                      WHEN 'approve' THEN jsonb_build_object('decision', jsonb_build_object(
                          'decision', 'approve', 'decidedBy', 'deadline', 'decidedAt', now()))
                      WHEN 'resume' THEN jsonb_build_object('timedOut', true)
                      WHEN 'run' THEN jsonb_build_object('timedOut', true)
                  END;
        RETURN QUERY SELECT * FROM task_wait_end(
            w.task_id, next, answer, 'TaskWaitTimedOut',
            jsonb_build_object('onDeadline', w.on_deadline, 'deadline', w.deadline_at),
            CASE WHEN next <> 'Queued' THEN 'no answer before the deadline' END);
    END LOOP;
END
$$;

-- A handler asked for input or a signal: its attempts end Released (not counted, not a
-- failure), their leases go and the tasks are parked, each with its wait; a task whose
-- cancel was asked meanwhile is cancelled instead. `parks` is a JSON array of
-- {task_id, attempt_id, kind, wait_key, question, schema, signal_name, signal_key,
-- timeout_seconds, ran_ms, running_event, latency_ms}. Guarded by attempt_id, like every
-- write of a worker. A signal wait already answered by a kept signal is queued again at
-- once. Returns the tasks it changed, for the worker and the settle.
CREATE FUNCTION task_park_attempts(p_worker text, p_parks jsonb)
RETURNS TABLE (attempt_id bigint, id uuid, status task_status, parent_id uuid, tenant_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    p record;
    t tasks;
    reason text;
    deadline timestamptz;
    attempt_no integer;
BEGIN
    FOR p IN SELECT *
               FROM jsonb_to_recordset(p_parks)
                    AS x(task_id uuid, attempt_id bigint, kind text, wait_key text,
                         question text, schema jsonb, signal_name text, signal_key text,
                         timeout_seconds float8, ran_ms float8, running_event boolean,
                         latency_ms integer)
              ORDER BY x.task_id
    LOOP
        reason := CASE p.kind WHEN 'signal' THEN 'signal' ELSE 'input' END;
        deadline := CASE WHEN p.timeout_seconds IS NOT NULL
                         THEN now() + make_interval(secs => p.timeout_seconds) END;
        UPDATE tasks
           SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'Cancelled'
                             ELSE 'Created' END::task_status,
               wait_reason = CASE WHEN cancel_requested_at IS NULL THEN reason END,
               finished_at = CASE WHEN cancel_requested_at IS NOT NULL THEN now() END,
               locked_by = NULL,
               locked_until = NULL,
               attempt_id = NULL,
               attempt_count = attempt_count - 1,
               started_at = coalesce(started_at, now() - make_interval(secs => coalesce(p.ran_ms, 0) / 1000)),
               attempt_started_at = coalesce(attempt_started_at,
                                             now() - make_interval(secs => coalesce(p.ran_ms, 0) / 1000)),
               version = version + 1 + (p.running_event IS TRUE)::integer,
               updated_at = now()
         WHERE tasks.id = p.task_id AND tasks.attempt_id = p.attempt_id
        RETURNING * INTO t;
        IF NOT FOUND THEN
            CONTINUE;  -- a stale worker: the lease is someone else's now
        END IF;
        attempt_no := t.attempt_count + 1;
        INSERT INTO task_attempts (id, task_id, attempt_no, worker_id, status, started_at,
                                   ended_at, error_code, latency_ms)
        VALUES (p.attempt_id, t.id, attempt_no, p_worker, 'Released',
                coalesce(t.attempt_started_at, now()), now(),
                CASE reason WHEN 'signal' THEN 'AwaitingSignal' ELSE 'AwaitingInput' END,
                p.latency_ms);
        IF p.running_event THEN
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            VALUES (t.id, t.tenant_id, t.version - 1, 'TaskRunning', 'Running', t.trace_id,
                    attempt_no, jsonb_build_object('attemptNo', attempt_no, 'workerId', p_worker));
        END IF;
        IF t.status = 'Cancelled' THEN
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            VALUES (t.id, t.tenant_id, t.version, 'TaskCancelled', t.status, t.trace_id,
                    t.attempt_count, '{"attemptStatus": "Released"}');
            RETURN QUERY SELECT p.attempt_id, t.id, t.status, t.parent_id, t.tenant_id;
            CONTINUE;
        END IF;
        IF reason = 'signal' THEN
            -- Before the wait is visible to a signal's sender, so neither misses the other.
            PERFORM signal_lock(t.tenant_id, p.signal_name, p.signal_key);
        END IF;
        INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, question, input_schema,
                                signal_name, signal_key, deadline_at, on_deadline)
        VALUES (t.id, t.tenant_id, p.kind, p.wait_key, p.question, p.schema, p.signal_name,
                p.signal_key, deadline, 'resume');
        INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                 attempt, detail)
        VALUES (t.id, t.tenant_id, t.version,
                CASE reason WHEN 'signal' THEN 'TaskAwaitingSignal' ELSE 'TaskAwaitingInput' END,
                t.status, t.trace_id, t.attempt_count,
                jsonb_strip_nulls(jsonb_build_object(
                    'kind', p.kind, 'waitKey', p.wait_key, 'question', p.question,
                    'signal', p.signal_name, 'key', p.signal_key, 'deadline', deadline,
                    'attemptStatus', 'Released')));
        RETURN QUERY SELECT p.attempt_id, t.id, t.status, t.parent_id, t.tenant_id;
        IF reason = 'signal' THEN
            RETURN QUERY SELECT p.attempt_id, c.id, c.status, c.parent_id, c.tenant_id
                           FROM task_waits_check_signals(ARRAY[t.id]) c;
        END IF;
    END LOOP;
END
$$;

-- What every parked task waits for, and since when: one view for a DBA.
CREATE VIEW task_waiting AS
SELECT t.id AS task_id, t.tenant_id, t.type, t.execution_type, t.wait_reason,
       w.kind, w.wait_key, w.question, w.signal_name, w.signal_key,
       coalesce(w.since, t.updated_at) AS since, now() - coalesce(w.since, t.updated_at) AS waiting_for,
       w.deadline_at, w.on_deadline, t.parent_id
  FROM tasks t
  LEFT JOIN task_waits w ON w.task_id = t.id
 WHERE t.status = 'Created';
COMMENT ON VIEW task_waiting IS
    'Every parked task (status Created): why it waits (wait_reason: children, dependencies, compensation, decision, input, signal), since when, and its deadline.';
