-- 0008: the same rules on a task's type and an event's type, checked without a regex.
--
-- Postgres checks every CHECK constraint of a row on every update, whether or not the
-- update touched the column: the claim and the finish of each task ran the type's
-- regex twice, and each event insert ran another. Profiled during a drain, regex
-- matching was about a seventh of the database's CPU. btrim(x, chars) = '' holds
-- exactly when every character of x is one of chars, at a fraction of the cost.

-- type ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'
ALTER TABLE tasks DROP CONSTRAINT tasks_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_type_check CHECK (
    char_length(type) BETWEEN 1 AND 100
    AND btrim(left(type, 1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') = ''
    AND btrim(type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-') = ''
) NOT VALID;
ALTER TABLE tasks VALIDATE CONSTRAINT tasks_type_check;

-- event_type ~ '^Task[A-Z][A-Za-z]+$'
ALTER TABLE task_events DROP CONSTRAINT task_events_event_type_check;
ALTER TABLE task_events ADD CONSTRAINT task_events_event_type_check CHECK (
    left(event_type, 4) = 'Task'
    AND char_length(event_type) >= 6
    AND btrim(substr(event_type, 5, 1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') = ''
    AND btrim(event_type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') = ''
) NOT VALID;
ALTER TABLE task_events VALIDATE CONSTRAINT task_events_event_type_check;
