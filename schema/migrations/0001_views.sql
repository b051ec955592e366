-- Reporting views (hand-written; see schema/tables.ts for the tables).
-- Metric definitions follow the σ-zero evaluation code (shared/design.md, "Metrics"):
--   per sample: l0_eff = l0 when the returned input is misclassified, +Infinity otherwise;
--   ASR_k = 100 · #{l0_eff ≤ k} / N over all N samples of the group (already-misclassified
--   samples count as successes with l0 0); median over all N with failures as +Infinity, the mean
--   of the two middle values for even N (Python statistics.median); t = Σ batch seconds / N;
--   q = Σ (forwards + backwards) / N.
-- Fixed-budget groups (options k for PGD-ℓ0 / Sparse-RS, epsilonBudget for σ-zero) also report
-- their budget and ASR at it (the paper's Tables VIII–XI); PGD-ℓ0's k is in pixels, ASR counts features.
CREATE VIEW sample_l0 AS
SELECT t.sweep_id, t.dataset, t.split, t.model, t.attack_label, t.attack, t.steps,
       r.task_key, r.dataset_index, r.label, r.clean_pred, r.adv_pred, r.success, r.l0,
       CASE WHEN r.success THEN r.l0::float8 ELSE 'Infinity'::float8 END AS l0_eff
FROM sample_results r
JOIN tasks t ON t.key = r.task_key;
--> statement-breakpoint
CREATE VIEW attack_summary AS
WITH budgeted AS (
  SELECT s.*,
         COALESCE((t.attack_options ->> 'k')::int, (t.attack_options ->> 'epsilonBudget')::int) AS budget
  FROM sample_l0 s
  JOIN tasks t ON t.key = s.task_key
), ranked AS (
  SELECT b.*,
         row_number() OVER (PARTITION BY sweep_id, dataset, model, attack_label, steps ORDER BY l0_eff, dataset_index) AS rn,
         count(*) OVER (PARTITION BY sweep_id, dataset, model, attack_label, steps) AS n
  FROM budgeted b
), med AS (
  SELECT sweep_id, dataset, model, attack_label, steps,
         CASE WHEN max(l0_eff) = 'Infinity'::float8 THEN 'Infinity'::float8
              ELSE (min(l0_eff) + max(l0_eff)) / 2 END AS median_l0
  FROM ranked
  WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
  GROUP BY sweep_id, dataset, model, attack_label, steps
), rates AS (
  SELECT sweep_id, dataset, model, attack_label, steps,
         count(*)::int AS n,
         (100.0 * count(*) FILTER (WHERE l0_eff <= 10) / count(*))::float8 AS asr_10,
         (100.0 * count(*) FILTER (WHERE l0_eff <= 24) / count(*))::float8 AS asr_24,
         (100.0 * count(*) FILTER (WHERE l0_eff <= 50) / count(*))::float8 AS asr_50,
         (100.0 * count(*) FILTER (WHERE l0_eff <= 100) / count(*))::float8 AS asr_100,
         (100.0 * count(*) FILTER (WHERE l0_eff <= 150) / count(*))::float8 AS asr_150,
         (100.0 * count(*) FILTER (WHERE success) / count(*))::float8 AS asr_inf,
         max(budget) AS budget,
         (100.0 * count(*) FILTER (WHERE l0_eff <= budget) / count(*))::float8 AS asr_budget
  FROM budgeted
  GROUP BY sweep_id, dataset, model, attack_label, steps
), costs AS (
  SELECT t.sweep_id, t.dataset, t.model, t.attack_label, t.steps,
         sum(b.seconds)::float8 AS seconds,
         sum(b.forwards + b.backwards)::float8 AS queries,
         max(b.peak_bytes_logical)::float8 AS peak_bytes_logical,
         max(b.peak_bytes_device)::float8 AS peak_bytes_device,
         string_agg(DISTINCT b.backend, ',') AS backends
  FROM batch_metrics b
  JOIN tasks t ON t.key = b.task_key
  GROUP BY t.sweep_id, t.dataset, t.model, t.attack_label, t.steps
)
SELECT r.sweep_id, r.dataset, r.model, r.attack_label AS attack, r.steps, r.n,
       r.asr_10, r.asr_24, r.asr_50, r.asr_100, r.asr_150, r.asr_inf, m.median_l0,
       (c.seconds / r.n)::float8 AS seconds_per_sample,
       (c.queries / r.n)::float8 AS queries_per_sample,
       c.peak_bytes_logical, c.peak_bytes_device, c.backends,
       r.budget, CASE WHEN r.budget IS NULL THEN NULL ELSE r.asr_budget END AS asr_budget
FROM rates r
JOIN med m USING (sweep_id, dataset, model, attack_label, steps)
LEFT JOIN costs c USING (sweep_id, dataset, model, attack_label, steps);
