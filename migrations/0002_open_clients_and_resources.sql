-- SQLite cannot drop NOT NULL from owner_id in place, so clients is rebuilt.
-- With foreign keys on (D1 ignores PRAGMA foreign_keys=OFF inside a
-- migration), DROP TABLE clients deletes its rows first, and that DELETE
-- cascades into grants and client_origins, and from grants into codes and
-- refresh_tokens. So those rows are copied aside first and put back after the
-- rename; defer_foreign_keys lets them point at no clients row meanwhile.
-- test/migrations.test.ts applies this to a database with rows.
CREATE TABLE `__keep_grants` AS SELECT * FROM `grants`;--> statement-breakpoint
CREATE TABLE `__keep_client_origins` AS SELECT * FROM `client_origins`;--> statement-breakpoint
CREATE TABLE `__keep_codes` AS SELECT * FROM `codes`;--> statement-breakpoint
CREATE TABLE `__keep_refresh_tokens` AS SELECT * FROM `refresh_tokens`;--> statement-breakpoint
PRAGMA defer_foreign_keys=ON;--> statement-breakpoint
CREATE TABLE `__new_clients` (
	`id` text PRIMARY KEY NOT NULL,
	`owner_id` text,
	`name` text NOT NULL,
	`secret_hash` text,
	`token_endpoint_auth_method` text NOT NULL,
	`redirect_uris` text NOT NULL,
	`post_logout_redirect_uris` text DEFAULT '[]' NOT NULL,
	`grant_types` text NOT NULL,
	`scope` text,
	`created_at` integer NOT NULL,
	`metadata_expires_at` integer,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_clients`("id", "owner_id", "name", "secret_hash", "token_endpoint_auth_method", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scope", "created_at", "metadata_expires_at") SELECT "id", "owner_id", "name", "secret_hash", "token_endpoint_auth_method", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scope", "created_at", NULL FROM `clients`;--> statement-breakpoint
DROP TABLE `clients`;--> statement-breakpoint
ALTER TABLE `__new_clients` RENAME TO `clients`;--> statement-breakpoint
INSERT INTO `grants` SELECT * FROM `__keep_grants`;--> statement-breakpoint
INSERT INTO `client_origins` SELECT * FROM `__keep_client_origins`;--> statement-breakpoint
INSERT INTO `codes` SELECT * FROM `__keep_codes`;--> statement-breakpoint
INSERT INTO `refresh_tokens` SELECT * FROM `__keep_refresh_tokens`;--> statement-breakpoint
DROP TABLE `__keep_grants`;--> statement-breakpoint
DROP TABLE `__keep_client_origins`;--> statement-breakpoint
DROP TABLE `__keep_codes`;--> statement-breakpoint
DROP TABLE `__keep_refresh_tokens`;--> statement-breakpoint
PRAGMA defer_foreign_keys=OFF;--> statement-breakpoint
CREATE INDEX `clients_owner_idx` ON `clients` (`owner_id`);--> statement-breakpoint
ALTER TABLE `codes` ADD `resource` text;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `resource` text;