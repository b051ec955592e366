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
--> statement-breakpoint
-- attack_optimality: AttackBench's optimality of each attack against the ensemble of its sweep (same
-- dataset, model and step budget). With δ*ᵢ = ensemble_best.best_l0, ε_max = max finite δ*, every
-- distance clipped at ε_max (failures become ε_max), RA(ε) = share of samples with distance > ε,
-- A = ∫₀^ε_max RA(ε) dε by the trapezoid rule on the integer grid 0…ε_max (ℓ0 is an integer, so the
-- grid holds every step of RA), which is exactly mean(clipped distance) − RA(0)/2 because RA(ε_max) = 0;
-- A* the same for the ensemble, c = clean accuracy: ξ = 1 − (A − A*)/(c·ε_max − A*) (NULL when the
-- denominator is 0: nothing to attack, or no sample broken by any attack).
CREATE VIEW attack_optimality AS
WITH ens AS (
  SELECT sweep_id, dataset, model, steps,
         max(best_l0) FILTER (WHERE best_l0 < 'Infinity'::float8) AS eps_max,
         avg(CASE WHEN clean_correct THEN 1.0 ELSE 0.0 END)::float8 AS clean_accuracy
  FROM ensemble_best
  GROUP BY sweep_id, dataset, model, steps
), ens_area AS (
  SELECT b.sweep_id, b.dataset, b.model, b.steps,
         (avg(LEAST(b.best_l0, e.eps_max)) - avg(CASE WHEN LEAST(b.best_l0, e.eps_max) > 0 THEN 1.0 ELSE 0.0 END)::float8 / 2)::float8 AS area
  FROM ensemble_best b JOIN ens e USING (sweep_id, dataset, model, steps)
  GROUP BY b.sweep_id, b.dataset, b.model, b.steps
), att_area AS (
  SELECT s.sweep_id, s.dataset, s.model, s.steps, s.attack_label AS attack, count(*)::int AS n,
         (avg(LEAST(s.l0_eff, e.eps_max)) - avg(CASE WHEN LEAST(s.l0_eff, e.eps_max) > 0 THEN 1.0 ELSE 0.0 END)::float8 / 2)::float8 AS area
  FROM sample_l0 s JOIN ens e USING (sweep_id, dataset, model, steps)
  GROUP BY s.sweep_id, s.dataset, s.model, s.steps, s.attack_label
)
SELECT a.sweep_id, a.dataset, a.model, a.steps, a.attack, a.n,
       e.eps_max, e.clean_accuracy, a.area, z.area AS ensemble_area,
       (1 - (a.area - z.area) / NULLIF(e.clean_accuracy * e.eps_max - z.area, 0))::float8 AS optimality
FROM att_area a
JOIN ens e USING (sweep_id, dataset, model, steps)
JOIN ens_area z USING (sweep_id, dataset, model, steps);
--> statement-breakpoint
-- global optimality: the mean ξ of an attack over the models of a sweep (per step budget)
CREATE VIEW attack_global_optimality AS
SELECT sweep_id, attack, steps, avg(optimality)::float8 AS optimality, count(optimality)::int AS models
FROM attack_optimality
GROUP BY sweep_id, attack, steps;
