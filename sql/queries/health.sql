-- name: health_database
-- Cheap liveness probe: the database answers and our schema is there.
SELECT to_regclass('public.tasks') IS NOT NULL AS schema_ready;
