-- 0017: triggers: when an event happens, start a task (docs/design/triggers.md).
--
-- A trigger is a row of `task_triggers`: what it waits for (a task event, filtered by
-- event type, status and task type; or a signal name) and the spec of the task it
-- starts, whose payload is a template (`{"$from": "result.text"}` anywhere in it).
--
-- * Events: a second statement-level trigger on task_events (beside task_events_publish
--   of 0002/0007) reads the statement's new events and starts the tasks their triggers
--   ask for, in the statement, so in the transaction, that wrote the events: a task
--   event and the tasks it starts commit together or not at all. The id of a started
--   task is derived from (trigger, event), inserted ON CONFLICT DO NOTHING: a second
--   guard against doubles.
-- * Signals: `triggers_fire_for_signal`, called by the signal path in its transaction.
-- * Loops (A starts B starts A …) end at a depth limit: a task started by a trigger
--   carries its depth (`tasks.trigger_depth`, one more than its source's); a task
--   past `trigger_max_depth()` (8) is not started, and the trigger counts it.
-- * The hot path (no trigger defined) pays one probe of an empty partial index per
--   statement that writes events (measured: docs/design/triggers.md, "Cost").

ALTER TABLE tasks ADD COLUMN trigger_depth smallint CHECK (trigger_depth >= 1);
COMMENT ON COLUMN tasks.trigger_depth IS
    'For a task a trigger started: how many triggers led to it (1: started by an event of a task no trigger started). NULL (0) for every other task.';

-- The depth limit: a trigger does not start a task whose depth would be above this.
CREATE FUNCTION trigger_max_depth() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 8';

-- The chain limit: one task's events lead to at most this many tasks through triggers,
-- however wide the chain (two triggers that each start a task on every TaskQueued would
-- otherwise start 2 + 4 + … + 256 tasks from one event, within the depth limit).
CREATE FUNCTION trigger_max_chain() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 1000';

ALTER TABLE tasks ADD COLUMN trigger_root uuid;
COMMENT ON COLUMN tasks.trigger_root IS
    'For a task a trigger started: the task whose event began its chain (NULL for every other task).';

-- How many tasks each chain has started: one row per task whose events fired a trigger,
-- gone with that task (retention).
CREATE TABLE task_trigger_chains (
    root_id    uuid        PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    started    integer     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE task_trigger_chains IS
    'Tasks started by triggers per chain (the task whose event began it): at most trigger_max_chain().';

CREATE TABLE task_triggers (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    on_kind       text        NOT NULL CHECK (on_kind IN ('event', 'signal')),
    -- An event trigger: the filters (NULL: any), at least one of them given.
    event_types   text[],
    statuses      task_status[],
    task_types    text[],
    -- A signal trigger: the signal's name.
    signal_name   text        CHECK (char_length(signal_name) BETWEEN 1 AND 200),
    -- The task to start, camelCase keys as POST /api/v1/tasks takes them, complete: the
    -- API filled in every default when the trigger was created (the SQL reads it as is).
    task          jsonb       NOT NULL CHECK (jsonb_typeof(task) = 'object'),
    active        boolean     NOT NULL DEFAULT true,
    fired_count   bigint      NOT NULL DEFAULT 0,
    last_fired_at timestamptz,
    -- Firings that started nothing: past the depth limit, or the task could not be stored.
    skipped_count bigint      NOT NULL DEFAULT 0,
    last_error    text,
    last_error_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    CONSTRAINT task_triggers_kind_matches CHECK (
        CASE on_kind
             WHEN 'signal' THEN signal_name IS NOT NULL
                                AND num_nonnulls(event_types, statuses, task_types) = 0
             ELSE signal_name IS NULL AND num_nonnulls(event_types, statuses, task_types) > 0
        END
    )
) WITH (fillfactor = 50);  -- its counters are updated on every firing: room for HOT updates

-- What the event path asks first, on every statement that writes events: is there any
-- active event trigger (of these tenants)? Empty, this index answers at once.
CREATE INDEX task_triggers_event_idx ON task_triggers (tenant_id)
    WHERE active AND on_kind = 'event';
CREATE INDEX task_triggers_signal_idx ON task_triggers (tenant_id, signal_name)
    WHERE active AND on_kind = 'signal';

COMMENT ON TABLE task_triggers IS
    'Triggers: when a task event (or a signal) matches, start a task, in the transaction of the event.';
COMMENT ON COLUMN task_triggers.skipped_count IS
    'Firings that started no task: the depth limit was reached, or the task could not be stored (last_error says why).';

-- Replace every `{"$from": "root.field.…"}` in `template` by the value at that path of
-- `context` (`{"event": …, "task": …, "result": …, "signal": …}`), or null when there
-- is none. Paths are dotted keys; a number reads an array's element. Nothing is evaluated.
CREATE FUNCTION trigger_resolve(template jsonb, context jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE jsonb_typeof(template)
    WHEN 'object' THEN
        IF template ? '$from' THEN
            RETURN coalesce(context #> string_to_array(template ->> '$from', '.'), 'null');
        END IF;
        RETURN (SELECT coalesce(jsonb_object_agg(key, trigger_resolve(value, context)), '{}')
                  FROM jsonb_each(template));
    WHEN 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(trigger_resolve(e, context) ORDER BY i), '[]')
                  FROM jsonb_array_elements(template) WITH ORDINALITY AS x(e, i));
    ELSE
        RETURN template;
    END CASE;
END
$$;

-- Insert one task a trigger started, Queued, with its TaskQueued event (`origin` under
-- `detail.trigger`), as task_enqueue_many (sql/queries/tasks.sql) does for the API. The
-- spec is complete (see task_triggers.task); nothing is defaulted here. False when a
-- task with this id exists already (this firing happened before).
CREATE FUNCTION task_insert_triggered(
    p_id uuid, p_tenant uuid, p_spec jsonb, p_payload jsonb, p_depth integer,
    p_correlation_id text, p_trace_id text, p_origin jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t tasks;
BEGIN
    INSERT INTO tasks (id, tenant_id, type, domain_type, capability_type, execution_type,
                       priority, payload, scheduled_at, max_attempts, timeout_seconds,
                       retry_policy, correlation_id, trace_id, trigger_depth, trigger_root)
    VALUES (p_id, p_tenant, p_spec ->> 'type',
            (p_spec ->> 'domainType')::domain_type,
            (p_spec ->> 'capabilityType')::capability_type,
            (p_spec ->> 'executionType')::execution_type,
            (p_spec ->> 'priority')::smallint,
            p_payload,
            now() + make_interval(secs => coalesce((p_spec ->> 'delaySeconds')::float8, 0)),
            (p_spec ->> 'maxAttempts')::integer,
            (p_spec ->> 'timeoutSeconds')::integer,
            nullif(p_spec -> 'retryPolicy', 'null'),
            coalesce(p_spec ->> 'correlationId', p_correlation_id),
            p_trace_id,
            p_depth,
            (p_origin ->> 'rootTaskId')::uuid)
    ON CONFLICT (id) DO NOTHING
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- Its first event: the publish trigger sends it to the outbox and wakes the workers.
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                             attempt, detail)
    VALUES (t.id, t.tenant_id, t.version, 'TaskQueued', t.status, t.trace_id, t.attempt_count,
            jsonb_build_object('scheduledAt', t.scheduled_at, 'priority', t.priority,
                               'trigger', p_origin));
    RETURN true;
END
$$;

-- One firing of one trigger: start its task (id `p_id`) with its payload resolved
-- against `p_context`, unless `p_depth` is past the limit. outcome: fired, duplicate
-- (started before), depth (not started: the limit), error (not started: `error` says
-- why). A bad firing never undoes the statement that wrote the event: its error is
-- caught here (in a savepoint, taken only when a trigger matched) and kept on the
-- trigger; transient errors (deadlock, serialization) still roll the statement back,
-- to be retried whole.
CREATE FUNCTION task_trigger_start(
    p_trigger task_triggers, p_id uuid, p_context jsonb, p_depth integer,
    p_correlation_id text, p_trace_id text, p_origin jsonb,
    OUT outcome text, OUT error text
)
LANGUAGE plpgsql AS $$
DECLARE
    template jsonb := coalesce(p_trigger.task -> 'payload', '{}');
    root uuid := (p_origin ->> 'rootTaskId')::uuid;
    chain integer;
BEGIN
    IF p_depth > trigger_max_depth() THEN
        outcome := 'depth';
        error := format('depth limit %s reached: not started after task %s',
                        trigger_max_depth(), p_origin ->> 'sourceTaskId');
        RAISE LOG 'trigger % (tenant %) stopped at the depth limit %', p_trigger.id,
                  p_trigger.tenant_id, trigger_max_depth();
        RETURN;
    END IF;
    IF root IS NOT NULL THEN
        INSERT INTO task_trigger_chains AS c (root_id, started) VALUES (root, 1)
        ON CONFLICT (root_id) DO UPDATE SET started = c.started + 1, updated_at = now()
        RETURNING c.started INTO chain;
        IF chain > trigger_max_chain() THEN
            outcome := 'chain';
            error := format('chain limit %s reached: not started in the chain of task %s',
                            trigger_max_chain(), root);
            RAISE LOG 'trigger % (tenant %) stopped at the chain limit %', p_trigger.id,
                      p_trigger.tenant_id, trigger_max_chain();
            RETURN;
        END IF;
    END IF;
    BEGIN
        IF strpos(template::text, '"$from"') > 0 THEN
            template := trigger_resolve(template, p_context);
        END IF;
        outcome := CASE WHEN task_insert_triggered(p_id, p_trigger.tenant_id, p_trigger.task,
                                                   template, p_depth, p_correlation_id,
                                                   p_trace_id, p_origin)
                        THEN 'fired' ELSE 'duplicate' END;
    EXCEPTION
        WHEN serialization_failure OR deadlock_detected OR lock_not_available THEN
            RAISE;
        WHEN OTHERS THEN
            outcome := 'error';
            error := left(format('could not start the task: %s (%s)', SQLERRM, SQLSTATE), 500);
            RAISE LOG 'trigger % (tenant %) could not start its task: %', p_trigger.id,
                      p_trigger.tenant_id, SQLSTATE;
    END;
END
$$;

-- Count a trigger's firings (one update per trigger per statement).
CREATE FUNCTION task_trigger_count(p_id uuid, p_fired integer, p_skipped integer, p_error text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE task_triggers
       SET fired_count = fired_count + p_fired,
           last_fired_at = CASE WHEN p_fired > 0 THEN now() ELSE last_fired_at END,
           skipped_count = skipped_count + p_skipped,
           last_error = coalesce(p_error, last_error),
           last_error_at = CASE WHEN p_error IS NOT NULL THEN now() ELSE last_error_at END
     WHERE id = p_id AND (p_fired > 0 OR p_skipped > 0);
$$;

-- The event path: every statement that writes task events (a worker's finish, a cancel,
-- the rescue of a lease, an enqueue, a settle …) starts the tasks its events' triggers
-- ask for, before it ends. The started tasks' own TaskQueued events are written by a
-- nested statement, which comes back here (a chain of triggers; the depth stops loops).
CREATE FUNCTION task_events_fire_triggers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    m record;
    r record;
    current_trigger uuid;
    fired integer := 0;
    skipped integer := 0;
    err text;
BEGIN
    -- The hot path: no active event trigger at all (an empty partial index).
    IF NOT EXISTS (SELECT 1 FROM task_triggers WHERE active AND on_kind = 'event') THEN
        RETURN NULL;
    END IF;
    -- Triggers in id order (the order their rows are then locked in), events in order.
    FOR m IN
        SELECT tr AS trigger_row, tr.id AS trigger_id, e.id AS event_id, e.task_id,
               coalesce(t.trigger_depth, 0) + 1 AS depth, t.correlation_id, t.trace_id,
               coalesce(t.trigger_root, t.id) AS root,
               jsonb_build_object(
                   'event', jsonb_build_object(
                       'id', e.id, 'taskId', e.task_id, 'type', e.event_type,
                       'status', e.status, 'taskType', t.type, 'sequence', e.sequence,
                       'detail', e.detail, 'occurredAt', e.occurred_at),
                   'task', jsonb_build_object(
                       'id', t.id, 'type', t.type, 'payload', t.payload,
                       'correlationId', t.correlation_id, 'traceId', t.trace_id),
                   -- The source's result, when the event is its success: the inline
                   -- result artifact (one offloaded to the artifact store: null).
                   'result', CASE WHEN e.status = 'Succeeded' THEN (
                       SELECT a.content::jsonb
                         FROM task_artifacts a
                        WHERE a.task_id = e.task_id AND a.kind = 'result'
                          AND a.content IS NOT NULL AND a.content_type = 'application/json'
                        ORDER BY a.created_at DESC
                        LIMIT 1) END
               ) AS context
          FROM new_events e
          JOIN task_triggers tr
            ON tr.tenant_id = e.tenant_id AND tr.active AND tr.on_kind = 'event'
           AND (tr.event_types IS NULL OR e.event_type = ANY (tr.event_types))
           AND (tr.statuses IS NULL OR e.status = ANY (tr.statuses))
          JOIN tasks t ON t.id = e.task_id
         WHERE tr.task_types IS NULL OR t.type = ANY (tr.task_types)
         ORDER BY tr.id, e.id
    LOOP
        IF current_trigger IS DISTINCT FROM m.trigger_id THEN
            IF current_trigger IS NOT NULL THEN
                PERFORM task_trigger_count(current_trigger, fired, skipped, err);
            END IF;
            current_trigger := m.trigger_id;
            fired := 0;
            skipped := 0;
            err := NULL;
        END IF;
        SELECT * INTO r FROM task_trigger_start(
            m.trigger_row,
            md5(m.trigger_id::text || ':' || m.event_id)::uuid,
            m.context, m.depth, m.correlation_id, m.trace_id,
            jsonb_build_object('id', m.trigger_id, 'sourceTaskId', m.task_id,
                               'sourceEventId', m.event_id, 'depth', m.depth,
                               'rootTaskId', m.root));
        IF r.outcome = 'fired' THEN
            fired := fired + 1;
        ELSIF r.outcome IN ('depth', 'chain', 'error') THEN
            skipped := skipped + 1;
            err := r.error;
        END IF;
    END LOOP;
    IF current_trigger IS NOT NULL THEN
        PERFORM task_trigger_count(current_trigger, fired, skipped, err);
    END IF;
    RETURN NULL;
END
$$;

-- Named to fire after task_events_publish (triggers fire in name order): the event
-- that caused a task reaches the outbox before that task's TaskQueued.
CREATE TRIGGER task_events_triggers
    AFTER INSERT ON task_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION task_events_fire_triggers();

-- The signal path: start the tasks of the tenant's active triggers on signal `p_name`,
-- in the caller's transaction (the one that stores the signal). A task's id is derived
-- from (trigger, signal): a signal delivered twice starts nothing twice. Returns how
-- many tasks it started. Such a task has depth 1 (a signal comes from outside).
CREATE FUNCTION triggers_fire_for_signal(
    p_tenant uuid, p_signal_id uuid, p_name text, p_key text, p_data jsonb,
    p_trace_id text DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    tr task_triggers;
    r record;
    started integer := 0;
    context jsonb := jsonb_build_object(
        'signal', jsonb_build_object('id', p_signal_id, 'name', p_name, 'key', p_key,
                                     'data', coalesce(p_data, 'null')));
BEGIN
    FOR tr IN
        SELECT *
          FROM task_triggers
         WHERE tenant_id = p_tenant AND active AND on_kind = 'signal' AND signal_name = p_name
         ORDER BY id
    LOOP
        SELECT * INTO r FROM task_trigger_start(
            tr, md5(tr.id::text || ':signal:' || p_signal_id)::uuid, context, 1, NULL,
            p_trace_id,
            jsonb_build_object('id', tr.id, 'signalId', p_signal_id, 'signalName', p_name,
                               'depth', 1));
        IF r.outcome = 'fired' THEN
            started := started + 1;
            PERFORM task_trigger_count(tr.id, 1, 0, NULL);
        ELSIF r.outcome IN ('depth', 'chain', 'error') THEN
            PERFORM task_trigger_count(tr.id, 0, 1, r.error);
        END IF;
    END LOOP;
    RETURN started;
END
$$;
COMMENT ON FUNCTION triggers_fire_for_signal(uuid, uuid, text, text, jsonb, text) IS
    'Start the tasks of a tenant''s triggers on a signal, in the caller''s transaction; returns how many started.';

-- What a DBA asks: each trigger, what it waits for, what it starts, how often it fired.
CREATE VIEW trigger_activity AS
SELECT tr.id,
       tr.tenant_id,
       tr.name,
       tr.active,
       CASE tr.on_kind
            WHEN 'signal' THEN 'signal ' || tr.signal_name
            ELSE concat_ws(' ',
                           'event',
                           'types=' || array_to_string(tr.event_types, ','),
                           'statuses=' || array_to_string(tr.statuses::text[], ','),
                           'taskTypes=' || array_to_string(tr.task_types, ','))
       END                     AS waits_for,
       tr.task ->> 'type'      AS starts,
       tr.fired_count,
       tr.last_fired_at,
       tr.skipped_count,
       tr.last_error,
       tr.last_error_at
  FROM task_triggers tr;
COMMENT ON VIEW trigger_activity IS
    'Each trigger: what it waits for, the task type it starts, how often it fired or was skipped (depth limit, errors).';
