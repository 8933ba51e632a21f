CREATE TABLE `pushed_requests` (
	`hash` text PRIMARY KEY NOT NULL,
	`client_id` text NOT NULL,
	`parameters` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `pushed_requests_client_idx` ON `pushed_requests` (`client_id`);--> statement-breakpoint
CREATE INDEX `pushed_requests_expires_idx` ON `pushed_requests` (`expires_at`);--> statement-breakpoint
ALTER TABLE `clients` ADD `require_pushed_authorization_requests` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `clients` ADD `registration_token_hash` text;