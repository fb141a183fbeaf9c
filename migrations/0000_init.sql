CREATE TABLE `allocations` (
	`kind` text NOT NULL,
	`value` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`kind`, `value`)
);
--> statement-breakpoint
CREATE INDEX `allocations_owner` ON `allocations` (`owner`);--> statement-breakpoint
CREATE TABLE `changes` (
	`rv` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`resource` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`body` text NOT NULL,
	`prev` text
);
--> statement-breakpoint
CREATE INDEX `changes_resource` ON `changes` (`resource`,`rv`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `objects` (
	`resource` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`uid` text NOT NULL,
	`rv` integer NOT NULL,
	`body` text NOT NULL,
	`node_name` text,
	PRIMARY KEY(`resource`, `namespace`, `name`)
);
--> statement-breakpoint
CREATE INDEX `objects_node` ON `objects` (`resource`,`node_name`);--> statement-breakpoint
CREATE INDEX `objects_uid` ON `objects` (`uid`);--> statement-breakpoint
CREATE TABLE `owner_refs` (
	`owner_uid` text NOT NULL,
	`resource` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	PRIMARY KEY(`owner_uid`, `resource`, `namespace`, `name`)
);
--> statement-breakpoint
CREATE TABLE `write_guard` (
	`id` integer PRIMARY KEY NOT NULL,
	`ok` integer NOT NULL,
	CONSTRAINT "conflict" CHECK("write_guard"."ok" = 1)
);
