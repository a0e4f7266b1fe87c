-- 0005: usage roll-ups that outlive retention.
--
-- Every ended attempt records its model, tokens, cost and latency in task_attempts,
-- but the maintenance prune deletes finished tasks with their attempts after
-- RETENTION_DAYS. Before it deletes them, the prune now folds the attempts into
-- usage_history (one row per tenant, UTC day and model), in the same statement;
-- usage_daily adds the attempts still live to that history, so a tenant's usage
-- per day and model reads the same before and after a prune.
--
-- What counts: ended attempts that carry usage, i.e. name a model or report tokens
-- or a cost. The engine measures a latency for every attempt, so latency alone does
-- not count: a task that never called a model is not usage. An attempt with usage
-- but no cost is counted in unpriced_attempts (its tokens still add up), so a total
-- cost is never silently understated.

CREATE TABLE usage_history (
    tenant_id         uuid           NOT NULL REFERENCES tenants (id),
    day               date           NOT NULL,
    -- '' when the attempts named no model (a key column cannot be NULL).
    model             text           NOT NULL DEFAULT '',
    attempts          bigint         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    tokens_in         bigint         NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    tokens_out        bigint         NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    cost              numeric(20, 6) NOT NULL DEFAULT 0 CHECK (cost >= 0),
    unpriced_attempts bigint         NOT NULL DEFAULT 0
                                     CHECK (unpriced_attempts BETWEEN 0 AND attempts),
    latency_ms        bigint         NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    timed_attempts    bigint         NOT NULL DEFAULT 0
                                     CHECK (timed_attempts BETWEEN 0 AND attempts),
    PRIMARY KEY (tenant_id, day, model)
);

COMMENT ON TABLE usage_history IS
    'Usage of attempts whose tasks were pruned, summed per tenant, UTC day (of ended_at) and model; written only by the prune (task_prune_finished). Read usage_daily, which adds the attempts still in task_attempts.';
COMMENT ON COLUMN usage_history.model IS 'The attempts'' model; empty when they named none.';
COMMENT ON COLUMN usage_history.attempts IS 'Ended attempts that carried usage (a model, tokens or a cost).';
COMMENT ON COLUMN usage_history.cost IS 'Sum of the known costs; attempts without one are in unpriced_attempts.';
COMMENT ON COLUMN usage_history.unpriced_attempts IS 'Attempts with usage but no cost (the model''s price was unknown).';
COMMENT ON COLUMN usage_history.latency_ms IS 'Sum of latency_ms of the timed_attempts; average = latency_ms / timed_attempts.';
COMMENT ON COLUMN usage_history.timed_attempts IS 'Attempts that recorded a latency.';

-- The planner cannot estimate a filter on an attempt's UTC day from ended_at's own
-- statistics, guessed it tiny and scanned every attempt; statistics on the expression
-- fix the estimate at no cost to writes (an index on it would cost every attempt's insert).
CREATE STATISTICS task_attempts_ended_day_stats ON ((ended_at AT TIME ZONE 'UTC')::date)
    FROM task_attempts;

-- One row per tenant, UTC day and model: live attempts plus usage_history.
-- A filter on tenant_id and day reaches both halves (they are grouping columns).
CREATE VIEW usage_daily AS
SELECT tenant_id,
       day,
       model,
       sum(attempts)::bigint                                              AS attempts,
       sum(tokens_in)::bigint                                             AS tokens_in,
       sum(tokens_out)::bigint                                            AS tokens_out,
       -- NULL when no attempt of the group had a cost, rather than a misleading 0.
       CASE WHEN sum(attempts) > sum(unpriced_attempts) THEN sum(cost) END AS cost,
       sum(unpriced_attempts)::bigint                                     AS unpriced_attempts,
       sum(latency_ms)::bigint                                            AS latency_ms,
       sum(timed_attempts)::bigint                                        AS timed_attempts,
       round(sum(latency_ms) / nullif(sum(timed_attempts), 0))::bigint    AS avg_latency_ms
  FROM (SELECT t.tenant_id,
               (a.ended_at AT TIME ZONE 'UTC')::date AS day,
               coalesce(a.model, '')                 AS model,
               1                                     AS attempts,
               coalesce(a.tokens_in, 0)              AS tokens_in,
               coalesce(a.tokens_out, 0)             AS tokens_out,
               a.cost,
               (a.cost IS NULL)::integer             AS unpriced_attempts,
               coalesce(a.latency_ms, 0)             AS latency_ms,
               (a.latency_ms IS NOT NULL)::integer   AS timed_attempts
          FROM task_attempts a
          JOIN tasks t ON t.id = a.task_id
         WHERE a.ended_at IS NOT NULL
           -- The same rule as the fold in task_prune_finished: usage is a model, tokens or a cost.
           AND (a.model IS NOT NULL OR a.tokens_in IS NOT NULL OR a.tokens_out IS NOT NULL
                OR a.cost IS NOT NULL)
        UNION ALL
        SELECT tenant_id, day, model, attempts, tokens_in, tokens_out, cost, unpriced_attempts,
               latency_ms, timed_attempts
          FROM usage_history) AS u
 GROUP BY tenant_id, day, model;

COMMENT ON VIEW usage_daily IS
    'Usage per tenant, UTC day (of the attempt''s end) and model: live task_attempts with a model, tokens or a cost, plus usage_history (pruned tasks). cost is NULL when nothing in the group was priced; unpriced_attempts counts attempts without a cost.';
