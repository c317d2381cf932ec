-- ff_engine install script: lane controls (issue 26).
--
-- A lane exists implicitly (any text an execution names); a row here only
-- when an administrator paused it or limited it.  Lanes are global (one
-- lane may carry executions of many namespaces), so only an administrator
-- changes them.  Configuration: pg_dump carries the rows.
CREATE TABLE ff.lane (
    lane_id     text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    max_active  integer CHECK (max_active > 0),   -- NULL: no limit
    updated_at  bigint NOT NULL,
    updated_by  text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('ff.lane', '');
