-- Leaderboard views. A sweep whose spec has `leaderboard: { name, night }` (orchestrator/spec.ts) is
-- one night of that leaderboard; the spec is stored as given to the planner in sweeps.spec.
--   leaderboard_nights   one row per such sweep: the leaderboard's name, the night's label, and its
--                        position among the leaderboard's nights (1 = the first, by created_at then id);
--   leaderboard_entries  per night and group (dataset, model, attack, steps) what the site shows: the
--                        attack's registry name and the options the spec gave it, N, ASR_10/50/∞, median
--                        ℓ0 (failures ∞), AttackBench's optimality ξ (attack_optimality), forward and
--                        backward calls per sample (each a batch of n counts n) and seconds per sample.
CREATE VIEW leaderboard_nights AS
SELECT s.spec -> 'leaderboard' ->> 'name' AS leaderboard,
       s.spec -> 'leaderboard' ->> 'night' AS night,
       s.id AS sweep_id,
       s.created_at,
       (row_number() OVER (PARTITION BY s.spec -> 'leaderboard' ->> 'name' ORDER BY s.created_at, s.id))::int AS night_index
FROM sweeps s
WHERE jsonb_typeof(s.spec -> 'leaderboard' -> 'name') = 'string';
--> statement-breakpoint
CREATE VIEW leaderboard_entries AS
WITH calls AS (
  SELECT t.sweep_id, t.dataset, t.model, t.attack_label AS attack, t.steps,
         sum(b.forwards)::float8 AS forwards, sum(b.backwards)::float8 AS backwards
  FROM batch_metrics b
  JOIN tasks t ON t.key = b.task_key
  GROUP BY t.sweep_id, t.dataset, t.model, t.attack_label, t.steps
), attacks AS (
  SELECT DISTINCT ON (t.sweep_id, t.attack_label) t.sweep_id, t.attack_label AS attack, t.attack AS attack_name
  FROM tasks t
  ORDER BY t.sweep_id, t.attack_label, t.attack
)
SELECT n.leaderboard, n.night, n.night_index, n.created_at,
       g.sweep_id, g.dataset, g.model, g.attack, a.attack_name,
       COALESCE(o.options, '{}'::jsonb) AS attack_options,
       g.steps, g.n, g.asr_10, g.asr_50, g.asr_inf, g.median_l0,
       q.optimality,
       (c.forwards / g.n)::float8 AS forwards_per_sample,
       (c.backwards / g.n)::float8 AS backwards_per_sample,
       g.seconds_per_sample
FROM leaderboard_nights n
JOIN sweeps s ON s.id = n.sweep_id
JOIN group_summary g ON g.sweep_id = n.sweep_id
LEFT JOIN attacks a ON a.sweep_id = g.sweep_id AND a.attack = g.attack
LEFT JOIN attack_optimality q ON q.sweep_id = g.sweep_id AND q.dataset = g.dataset AND q.model = g.model AND q.steps = g.steps AND q.attack = g.attack
LEFT JOIN calls c ON c.sweep_id = g.sweep_id AND c.dataset = g.dataset AND c.model = g.model AND c.steps = g.steps AND c.attack = g.attack
LEFT JOIN LATERAL (
  SELECT x -> 'options' AS options
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec -> 'attacks') = 'array' THEN s.spec -> 'attacks' ELSE '[]'::jsonb END) x
  WHERE x ->> 'label' = g.attack AND jsonb_typeof(x -> 'options') = 'object'
  LIMIT 1
) o ON true;
