CREATE TABLE `audit_counters` (
	`hour` integer NOT NULL,
	`event` text NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour`, `event`)
);
--> statement-breakpoint
CREATE TABLE `disabled_clients` (
	`client_id` text PRIMARY KEY NOT NULL,
	`disabled_at` integer NOT NULL,
	`disabled_by` text,
	FOREIGN KEY (`client_id`) REFERENCES `clients`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `password_reset_requirements` (
	`user_id` text PRIMARY KEY NOT NULL,
	`required_at` integer NOT NULL,
	`required_by` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `audit_events` ADD `actor_id` text;--> statement-breakpoint
CREATE INDEX `audit_events_client_idx` ON `audit_events` (`client_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_events_type_idx` ON `audit_events` (`type`,`at`);--> statement-breakpoint
-- The admin dashboard's hourly counters (docs/storage-schema.md, audit_counters),
-- kept by triggers: each count is written by the very statement that records its
-- event, in its transaction, so a count never exists without its event and no
-- caller makes another call. drizzle-kit does not model triggers; they live here.
CREATE TRIGGER `audit_events_count` AFTER INSERT ON `audit_events` BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((NEW.`at` / 3600) * 3600, NEW.`type`, 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `codes_redeemed_count` AFTER UPDATE OF `redeemed_at` ON `codes`
WHEN OLD.`redeemed_at` IS NULL AND NEW.`redeemed_at` IS NOT NULL BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((NEW.`redeemed_at` / 3600) * 3600, 'token_authorization_code', 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `refresh_tokens_used_count` AFTER UPDATE OF `used_at` ON `refresh_tokens`
WHEN OLD.`used_at` IS NULL AND NEW.`used_at` IS NOT NULL BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((NEW.`used_at` / 3600) * 3600, 'token_refresh_token', 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `device_authorizations_redeemed_count` AFTER UPDATE OF `redeemed_at` ON `device_authorizations`
WHEN OLD.`redeemed_at` IS NULL AND NEW.`redeemed_at` IS NOT NULL BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((NEW.`redeemed_at` / 3600) * 3600, 'token_device_code', 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `revoked_tokens_count` AFTER INSERT ON `revoked_tokens` BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((CAST(strftime('%s', 'now') AS INTEGER) / 3600) * 3600, 'token_revoked', 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `users_registered_count` AFTER INSERT ON `users` BEGIN
	INSERT INTO `audit_counters` (`hour`, `event`, `count`) VALUES ((NEW.`created_at` / 3600) * 3600, 'user_registered', 1)
	ON CONFLICT (`hour`, `event`) DO UPDATE SET `count` = `count` + 1;
END;
