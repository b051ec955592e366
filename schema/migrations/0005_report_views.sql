-- Report views over the per-sample rows (everything re-derivable with psql):
--   group_summary     attack_summary plus the memory figure with its kind (device when a GPU backend
--                     reported it, else the logical tensor peak) and the device-seconds of the group;
--   robustness_curve  ASR as a function of the budget k: one row per distinct finite ℓ0 of a group,
--                     asr = 100·#{l0_eff ≤ k}/N over all N samples (failures never count);
--   ensemble_best     per sample, the best ℓ0 over the attacks of a sweep at the same step budget
--                     (∞ when none succeeded), the attack that reached it (ties: first label), and
--                     whether the clean input was classified correctly.
CREATE VIEW group_summary AS
SELECT s.*,
       COALESCE(s.peak_bytes_device, s.peak_bytes_logical) AS memory_bytes,
       CASE WHEN s.peak_bytes_device IS NOT NULL THEN 'device'
            WHEN s.peak_bytes_logical IS NOT NULL THEN 'logical' END AS memory_kind,
       (s.seconds_per_sample * s.n)::float8 AS device_seconds
FROM attack_summary s;
--> statement-breakpoint
CREATE VIEW robustness_curve AS
WITH counts AS (
  SELECT sweep_id, dataset, model, attack_label AS attack, steps, l0_eff, count(*) AS c
  FROM sample_l0
  GROUP BY sweep_id, dataset, model, attack_label, steps, l0_eff
), cumulative AS (
  SELECT counts.*,
         sum(c) OVER (PARTITION BY sweep_id, dataset, model, attack, steps) AS n,
         sum(c) OVER (PARTITION BY sweep_id, dataset, model, attack, steps ORDER BY l0_eff) AS reached
  FROM counts
)
SELECT sweep_id, dataset, model, attack, steps, l0_eff::int AS k, (100.0 * reached / n)::float8 AS asr, n::int AS n
FROM cumulative
WHERE l0_eff < 'Infinity'::float8;
--> statement-breakpoint
CREATE VIEW ensemble_best AS
SELECT sweep_id, dataset, split, model, steps, dataset_index,
       min(l0_eff) AS best_l0,
       (array_agg(attack_label ORDER BY l0_eff, attack_label))[1] AS best_attack,
       count(*)::int AS attacks,
       bool_and(clean_pred = label) AS clean_correct
FROM sample_l0
GROUP BY sweep_id, dataset, split, model, steps, dataset_index;
