ALTER TABLE "tasks" ADD COLUMN "budget" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "budget_unit" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_status_check" CHECK ("tasks"."status" in ('planned', 'queued', 'running', 'done', 'failed', 'dead'));--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_budget_unit_check" CHECK ("tasks"."budget_unit" in ('pixel', 'feature'));;--> statement-breakpoint
-- Backfill for rows planned before budgets had columns: the budget options of the attacks that had
-- one then (PGD-ℓ0's k in pixels, Sparse-RS's k and σ-zero's epsilonBudget in features).
UPDATE "tasks" SET "budget" = ("attack_options" ->> 'k')::int, "budget_unit" = CASE WHEN "attack" = 'pgd-l0' THEN 'pixel' ELSE 'feature' END
WHERE "attack" IN ('pgd-l0', 'sparse-rs') AND jsonb_typeof("attack_options" -> 'k') = 'number';--> statement-breakpoint
UPDATE "tasks" SET "budget" = ("attack_options" ->> 'epsilonBudget')::int, "budget_unit" = 'feature'
WHERE "attack" IN ('sigma-zero', 'sigma-zero*') AND jsonb_typeof("attack_options" -> 'epsilonBudget') = 'number';--> statement-breakpoint
-- attack_summary reads the budget columns instead of option names inside attack_options, and shows
-- the unit (ASR at the budget still counts changed features, as the paper's fixed-budget tables do).
CREATE OR REPLACE VIEW attack_summary AS
WITH budgeted AS (
  SELECT s.*, t.budget, t.budget_unit
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
         max(budget_unit) AS budget_unit,
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
       r.budget, CASE WHEN r.budget IS NULL THEN NULL ELSE r.asr_budget END AS asr_budget,
       r.budget_unit
FROM rates r
JOIN med m USING (sweep_id, dataset, model, attack_label, steps)
LEFT JOIN costs c USING (sweep_id, dataset, model, attack_label, steps);
