-- ff_engine 0.1.0 -> 0.2.0, part 1 (written by hand): the tables, in place.
-- Part 2 (every function, view, comment and grant of 0.2.0) is generated
-- from sql/install/ by sql/upgrade/gen_upgrade.pl; see README "Upgrades".
-- Runs in ALTER EXTENSION's one transaction: all or nothing.

-- Completion events carry their execution's namespace (the channel they are
-- announced on).  An event whose execution was already purged has no
-- namespace to take: it was dispatched long ago and counts as 'default'.
ALTER TABLE ff.completion_event ADD COLUMN namespace text;
UPDATE ff.completion_event ce SET namespace = e.namespace
FROM ff.execution e WHERE e.partition = ce.partition AND e.execution_id = ce.execution_id;
UPDATE ff.completion_event SET namespace = 'default' WHERE namespace IS NULL;
ALTER TABLE ff.completion_event ALTER COLUMN namespace SET NOT NULL;

-- Budgets and quota policies belong to a namespace or to none; the ones
-- made under 0.1.0 stay global (NULL), as they behaved.
ALTER TABLE ff.budget ADD COLUMN namespace text CHECK (namespace <> '');
ALTER TABLE ff.quota_policy ADD COLUMN namespace text CHECK (namespace <> '');

-- Namespace bindings by role OID (renaming a role keeps them), one row per
-- role.  Grants naming a role that no longer exists are dropped, with a
-- notice.
CREATE TABLE ff.namespace_binding (
    role        regrole PRIMARY KEY,
    namespaces  text[] NOT NULL DEFAULT '{}'
);
INSERT INTO ff.namespace_binding (role, namespaces)
SELECT r.oid::regrole, array_agg(g.namespace ORDER BY g.namespace)
FROM ff.namespace_grant g JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
GROUP BY r.oid;
DO $grants$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT * FROM ff.namespace_grant x
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = x.role_name) LOOP
        RAISE NOTICE 'ff_engine 0.2.0: dropping the binding of role "%" (it no longer exists) to namespace "%"',
            g.role_name, g.namespace;
    END LOOP;
END $grants$;
ALTER EXTENSION ff_engine DROP TABLE ff.namespace_grant;
DROP TABLE ff.namespace_grant;
SELECT pg_catalog.pg_extension_config_dump('ff.namespace_binding', '');

-- The completion channels' key (channel names are an HMAC of the namespace).
CREATE TABLE ff.channel_key (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     bytea NOT NULL CHECK (octet_length(secret) >= 32)
);
INSERT INTO ff.channel_key (secret) VALUES (ff._random_secret());
SELECT pg_catalog.pg_extension_config_dump('ff.channel_key', '');

-- What pg_dump carries besides (issue 27).
SELECT pg_catalog.pg_extension_config_dump('ff.partition_config', '');
SELECT pg_catalog.pg_extension_config_dump('ff.worker', '');
SELECT pg_catalog.pg_extension_config_dump('ff.sibling_cancel_stat', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ff.completion_event', 'event_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ff.signal_event', 'event_id'), '');

-- Every scanner of 0.2.0 has its state row, from the job registry
-- (src/bgw_jobs.c); part 2 makes ff._jobs() again with the others.
CREATE FUNCTION ff._jobs(OUT name text, OUT setting text, OUT interval_ms bigint, OUT default_interval_ms bigint,
                         OUT batch_size integer, OUT sql_function text, OUT at_commit boolean, OUT description text)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'ff_jobs_sql' LANGUAGE C STABLE;
INSERT INTO ff.scanner_state (scanner) SELECT j.name FROM ff._jobs() j WHERE j.setting IS NOT NULL
ON CONFLICT (scanner) DO NOTHING;

-- No index for WORKER_LEASES: nothing reads it, and every claim paid an
-- entry in it (issue 21).
DROP INDEX ff.execution_worker_leases_idx;

-- The lease history keeps one row per lease (issue 21): the table becomes
-- ff.lease_log, its rows of 0.1.0 stay one per event (the view
-- ff.lease_history shows both kinds alike), and a lease held across the
-- upgrade ends in its 0.1.0 'acquired' row.
ALTER TABLE ff.lease_history RENAME TO lease_log;
ALTER INDEX ff.lease_history_pkey RENAME TO lease_log_pkey;
ALTER TABLE ff.lease_log
    ADD COLUMN expired_seq bigint,
    ADD COLUMN expired_at bigint,
    ADD COLUMN end_seq bigint,
    ADD COLUMN end_event text CHECK (end_event IN ('released', 'revoked')),
    ADD COLUMN end_reason text,
    ADD COLUMN ended_at bigint;
ALTER TABLE ff.lease_log SET (fillfactor = 90);

-- A first attempt and its lease may be held on the execution row (issue
-- 21): the attempt table becomes ff.attempt_record, read through the view
-- ff.attempt with the held ones; work in flight keeps its rows.
ALTER TABLE ff.attempt RENAME TO attempt_record;
ALTER INDEX ff.attempt_pkey RENAME TO attempt_record_pkey;
ALTER TABLE ff.execution
    ADD COLUMN held_attempt_seq bigint,
    ADD COLUMN held_lease_id uuid,
    ADD COLUMN held_worker_id text,
    ADD COLUMN held_worker_instance_id text;

-- Lane controls and concurrency keys (issue 26).
ALTER TABLE ff.execution ADD COLUMN concurrency_key text,
    ADD COLUMN concurrency_limit integer CHECK (concurrency_limit > 0);
CREATE INDEX execution_concurrency_idx ON ff.execution (namespace, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND lifecycle_phase = 'active' AND ownership_state = 'leased';
CREATE TABLE ff.lane (
    lane_id     text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    max_active  integer CHECK (max_active > 0),
    updated_at  bigint NOT NULL,
    updated_by  text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('ff.lane', '');

-- Recurring schedules and their firings (issue 26); configuration users
-- create, carried by pg_dump.
CREATE TABLE ff.schedule (
    namespace           text NOT NULL,
    name                text NOT NULL,
    schedule_id         uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    cron                text NOT NULL,
    time_zone           text NOT NULL DEFAULT 'UTC',
    lane_id             text NOT NULL DEFAULT 'default',
    execution_kind      text NOT NULL DEFAULT '',
    payload             bytea,
    policy_json         text,
    priority            bigint NOT NULL DEFAULT 0,
    tags                jsonb,
    flow_template       jsonb,   -- a flow instead of one execution (see ff._schedule_flow_check)
    overlap             text NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip', 'cancel_previous')),
    catch_up            text NOT NULL DEFAULT 'last' CHECK (catch_up IN ('all', 'last', 'none')),
    catch_up_window_ms  bigint NOT NULL DEFAULT 86400000 CHECK (catch_up_window_ms > 0),
    misfire_grace_ms    bigint NOT NULL DEFAULT 60000 CHECK (misfire_grace_ms >= 0),
    start_at            bigint,
    end_at              bigint,
    max_fires           bigint CHECK (max_fires > 0),
    paused              boolean NOT NULL DEFAULT false,
    next_fire_at        bigint,
    last_fire_at        bigint,
    last_slot_at        bigint,
    last_execution_id   text,
    last_flow_id        uuid,
    fire_count          bigint NOT NULL DEFAULT 0,
    missed_count        bigint NOT NULL DEFAULT 0,
    skipped_count       bigint NOT NULL DEFAULT 0,
    last_error          text,
    created_at          bigint NOT NULL,
    updated_at          bigint NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX schedule_due_idx ON ff.schedule (next_fire_at) WHERE NOT paused AND next_fire_at IS NOT NULL;
CREATE TABLE ff.schedule_firing (
    schedule_id   uuid NOT NULL,
    slot_at       bigint NOT NULL,
    manual        boolean NOT NULL DEFAULT false,
    execution_id  text NOT NULL,
    fired_at      bigint NOT NULL,
    PRIMARY KEY (schedule_id, slot_at, manual)
);
CREATE INDEX schedule_firing_fired_idx ON ff.schedule_firing (fired_at);
SELECT pg_catalog.pg_extension_config_dump('ff.schedule', '');
SELECT pg_catalog.pg_extension_config_dump('ff.schedule_firing', '');

-- The dead-letter view's index (issue 26).
CREATE INDEX execution_dead_letter_idx ON ff.execution (completed_at)
    WHERE terminal_outcome IN ('failed', 'expired');

-- The job registry (issue 22): a scanner's last failed batch.
ALTER TABLE ff.scanner_state
    ADD COLUMN last_error_sqlstate text,
    ADD COLUMN last_error text,
    ADD COLUMN last_error_at bigint;

-- A deleted flow takes its pending-cancel set with it (flows checklist 76);
-- sets already orphaned by a deleted flow are dropped first.
DELETE FROM ff.flow_pending_cancel p
    WHERE NOT EXISTS (SELECT 1 FROM ff.flow f WHERE f.partition = p.partition AND f.flow_id = p.flow_id);
ALTER TABLE ff.flow_pending_cancel ADD CONSTRAINT flow_pending_cancel_flow_fkey FOREIGN KEY (partition, flow_id)
    REFERENCES ff.flow (partition, flow_id) ON DELETE CASCADE;

-- A scanner's failing items (issue 22): any item (an execution, a flow
-- member, a budget), with the last error's SQLSTATE, message and detail and
-- the times of its first and last failure.  The rows are bookkeeping:
-- 0.1.0's are dropped (the items are simply tried again).
DELETE FROM ff.scanner_item_failure;
ALTER TABLE ff.scanner_item_failure RENAME COLUMN execution_id TO item_id;
ALTER TABLE ff.scanner_item_failure DROP COLUMN last_error;
ALTER TABLE ff.scanner_item_failure ADD COLUMN sqlstate text NOT NULL,
    ADD COLUMN message text NOT NULL, ADD COLUMN detail text,
    ADD COLUMN first_failed_at bigint NOT NULL, ADD COLUMN last_failed_at bigint NOT NULL;

-- The execution row's pages keep room for a batch's new versions (issue
-- 21; sql/install/10_exec_tables.sql).  The column order a fresh install
-- chooses for the WAL of the hot path is not applied here: it would
-- rewrite the table; readers see the same columns in the same order
-- (ff.visible_execution).
-- (all three options named, so they read in a fresh install's order)
ALTER TABLE ff.execution SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.05,
                              autovacuum_analyze_scale_factor = 0.05);

-- ff.scan_schedules is C on the batch runner (issue 22): the plpgsql scan
-- context and its type are gone (the function goes with its type).
DROP TYPE ff._scan_context CASCADE;

-- The completion dispatcher records a failing event in ff.scanner_item_failure
-- (by its execution), waiting by time (skip_until_at), not in its own
-- columns; their failures are bookkeeping, the events are simply tried again.
ALTER TABLE ff.scanner_item_failure ADD COLUMN skip_until_at bigint;
DROP VIEW IF EXISTS ff.dispatcher_status;
ALTER TABLE ff.completion_event DROP COLUMN dispatch_failures, DROP COLUMN dispatch_retry_at, DROP COLUMN last_error;
