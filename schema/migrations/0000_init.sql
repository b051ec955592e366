CREATE TABLE "agents" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"backend" text NOT NULL,
	"device" text NOT NULL,
	"last_seen" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "batch_metrics" (
	"task_key" text NOT NULL,
	"batch_index" integer NOT NULL,
	"size" integer NOT NULL,
	"seconds" double precision NOT NULL,
	"forwards" bigint NOT NULL,
	"backwards" bigint NOT NULL,
	"peak_bytes_logical" bigint NOT NULL,
	"peak_bytes_device" bigint,
	"backend" text NOT NULL,
	"device" text NOT NULL,
	CONSTRAINT "batch_metrics_task_key_batch_index_pk" PRIMARY KEY("task_key","batch_index")
);
--> statement-breakpoint
CREATE TABLE "dead_tasks" (
	"task_key" text PRIMARY KEY NOT NULL,
	"sweep_id" text NOT NULL,
	"reason" text NOT NULL,
	"deliveries" integer,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sample_results" (
	"task_key" text NOT NULL,
	"dataset_index" integer NOT NULL,
	"label" integer NOT NULL,
	"clean_pred" integer NOT NULL,
	"adv_pred" integer NOT NULL,
	"success" boolean NOT NULL,
	"l0" integer NOT NULL,
	"l1" double precision NOT NULL,
	"l2" double precision NOT NULL,
	"linf" double precision NOT NULL,
	"pert_indices" integer[] NOT NULL,
	"pert_values" real[] NOT NULL,
	CONSTRAINT "sample_results_task_key_dataset_index_pk" PRIMARY KEY("task_key","dataset_index")
);
--> statement-breakpoint
CREATE TABLE "sweeps" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"spec" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"key" text PRIMARY KEY NOT NULL,
	"sweep_id" text NOT NULL,
	"dataset" text NOT NULL,
	"split" text NOT NULL,
	"sample_indices" integer[] NOT NULL,
	"model" text NOT NULL,
	"model_sha256" text NOT NULL,
	"attack_label" text NOT NULL,
	"attack" text NOT NULL,
	"attack_options" jsonb NOT NULL,
	"steps" integer NOT NULL,
	"batch_size" integer NOT NULL,
	"seed" integer NOT NULL,
	"status" text DEFAULT 'planned' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"agent" text,
	"backend" text,
	"device" text,
	"gpu_type" text,
	"error" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"seconds" double precision
);
--> statement-breakpoint
ALTER TABLE "batch_metrics" ADD CONSTRAINT "batch_metrics_task_key_tasks_key_fk" FOREIGN KEY ("task_key") REFERENCES "public"."tasks"("key") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sample_results" ADD CONSTRAINT "sample_results_task_key_tasks_key_fk" FOREIGN KEY ("task_key") REFERENCES "public"."tasks"("key") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_sweep_id_sweeps_id_fk" FOREIGN KEY ("sweep_id") REFERENCES "public"."sweeps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tasks_sweep_idx" ON "tasks" USING btree ("sweep_id");