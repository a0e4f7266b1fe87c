-- name: task_handler_register
-- Record the task types and replaced capabilities a worker handles, as it starts.
INSERT INTO task_handlers (kind, name, worker_id)
SELECT kind, name, %(worker_id)s
  FROM unnest(%(kinds)s::text[], %(names)s::text[]) AS h (kind, name)
ON CONFLICT (kind, name) DO UPDATE
   SET worker_id = EXCLUDED.worker_id, registered_at = now();

-- name: task_handler_list
-- Every task type and replaced capability some worker has registered.
SELECT kind, name FROM task_handlers;
