CREATE TABLE `dpop_proofs` (
	`hash` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dpop_proofs_expires_idx` ON `dpop_proofs` (`expires_at`);--> statement-breakpoint
ALTER TABLE `clients` ADD `dpop_bound_access_tokens` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `codes` ADD `dpop_jkt` text;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `dpop_jkt` text;