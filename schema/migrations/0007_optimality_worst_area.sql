-- attack_optimality, corrected: ξ = 1 − (A − A*)/(W − A*) where W is the area of an attack that breaks
-- nothing, computed by the same trapezoid rule as A and A*. Its curve is RA(ε) = c on 0…ε_max−1 and 0 at
-- ε_max (failures are clipped to ε_max), so W = c·ε_max − c/2, not c·ε_max: with c·ε_max an attack that
-- breaks nothing scored (c/2)/(c·ε_max − A*) > 0 instead of 0, and ξ stayed short of [0,1] at its low end.
-- Columns are unchanged (CREATE OR REPLACE keeps the dependent views).
CREATE OR REPLACE VIEW attack_optimality AS
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
       (1 - (a.area - z.area) / NULLIF(e.clean_accuracy * e.eps_max - e.clean_accuracy / 2 - z.area, 0))::float8 AS optimality
FROM att_area a
JOIN ens e USING (sweep_id, dataset, model, steps)
JOIN ens_area z USING (sweep_id, dataset, model, steps);
