ALTER TABLE "tasks" ADD COLUMN "dataset_files" jsonb;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "model_path" text;