CREATE TABLE `replica_clock` (
	`id` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
-- The clock's one row, set long ago: until the primary first sets it, every replica read counts as too stale and is made at the primary.
INSERT INTO `replica_clock` (`id`, `at`) VALUES (1, 0);
