-- name: usage_daily_list
-- A tenant's usage by UTC day and model, from one day to another inclusive (pruned tasks included).
SELECT day, model, attempts, tokens_in, tokens_out, cost, unpriced_attempts, avg_latency_ms
  FROM usage_daily
 WHERE tenant_id = %(tenant_id)s
   AND day BETWEEN %(first_day)s::date AND %(last_day)s::date
 ORDER BY day, model;
