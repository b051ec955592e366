DROP TABLE "agents" CASCADE;--> statement-breakpoint
ALTER TABLE "tasks" DROP COLUMN "gpu_type";