CREATE TABLE `node_credentials` (
	`node_name` text PRIMARY KEY NOT NULL,
	`hash` text NOT NULL,
	`pod_cidr` text NOT NULL,
	`token_id` text NOT NULL,
	`joined_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `node_credentials_hash` ON `node_credentials` (`hash`);