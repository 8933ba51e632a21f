CREATE TABLE `client_assertions` (
	`jti_hash` text PRIMARY KEY NOT NULL,
	`client_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `client_assertions_client_idx` ON `client_assertions` (`client_id`);--> statement-breakpoint
CREATE INDEX `client_assertions_expires_idx` ON `client_assertions` (`expires_at`);--> statement-breakpoint
ALTER TABLE `clients` ADD `jwks` text;--> statement-breakpoint
ALTER TABLE `clients` ADD `jwks_uri` text;--> statement-breakpoint
ALTER TABLE `clients` ADD `jwks_uri_cache` text;--> statement-breakpoint
ALTER TABLE `clients` ADD `token_endpoint_auth_signing_alg` text;