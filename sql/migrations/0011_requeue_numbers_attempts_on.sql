-- 0011: a requeue numbers a task's attempts on instead of starting again at 1.
--
-- An operator requeue used to reset attempt_count to 0, so the next attempt was
-- numbered 1 again: two attempts of one task both showed attemptNo 1, and its events
-- said `attempt: 1` twice. Now attempt_count counts every attempt over the task's life
-- and a requeue grants fresh attempts by raising max_attempts instead (by as many as
-- the task was given; see task_requeue in sql/queries/tasks.sql). A task requeued
-- often may then be allowed more than 100 attempts in all: the API still takes at
-- most 100 per task when it is queued, the table no longer caps the total.

ALTER TABLE tasks DROP CONSTRAINT tasks_max_attempts_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_max_attempts_check CHECK (max_attempts >= 1) NOT VALID;
ALTER TABLE tasks VALIDATE CONSTRAINT tasks_max_attempts_check;

COMMENT ON COLUMN tasks.attempt_count IS
    'Attempts started over the task''s life (an operator requeue does not reset it); the number of its latest attempt.';
COMMENT ON COLUMN tasks.max_attempts IS
    'Attempts allowed in all: what the client asked for (1..100), raised by each operator requeue by as many again.';
