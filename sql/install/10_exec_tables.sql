-- ff_engine install script: tables.
--
-- Every table that belongs to an execution carries `partition` (the N of
-- the id's {fp:N} tag) as its first key column, so each operation stays
-- inside one partition and the schema can be distributed by that column.
-- All times are integer milliseconds since the Unix epoch (columns *_at).
-- Tables are written only through the ff.* functions.

-- Partition counts (behaviour/execution §1.2).  A single row; see ff.set_partition_config.
CREATE TABLE ff.partition_config (
    singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    num_flow_partitions   integer NOT NULL DEFAULT 256 CHECK (num_flow_partitions BETWEEN 1 AND 32768),
    num_budget_partitions integer NOT NULL DEFAULT 32 CHECK (num_budget_partitions BETWEEN 1 AND 32768),
    num_quota_partitions  integer NOT NULL DEFAULT 32 CHECK (num_quota_partitions BETWEEN 1 AND 32768)
);
INSERT INTO ff.partition_config DEFAULT VALUES;

-- The execution core: identity, the state vector, attempt accounting, the
-- lease mirror and the timers the scanners look at.  This is the row the
-- state machine updates; bulky data lives in ff.execution_data so updates
-- stay small.
--
-- Column order serves the hot path twice (issue 21):
-- - WAL: an UPDATE that keeps the row on its page logs the new row minus
--   the bytes it shares with the old one at its start and at its end.  So
--   the columns a claim or a completion never changes come first, then
--   those a claim sets and a completion keeps, then those both change, then
--   the lease's identity (current_*) beside its copy kept at completion
--   (held_*): the completed row ends with the bytes the leased row ended
--   with, and the rarely set columns after them (no bytes while NULL) add
--   to that common end.  A completion logs 62 bytes of row instead of 182.
-- - CPU: every UPDATE compares each indexed column (key or predicate) of
--   the old and the new version, and reaching a column past a text or a
--   NULL walks the row from its start.  So the 18 indexed columns come
--   within the first 28, in the order above; at the end of the table they
--   cost a store 39 000 instructions a job (test/bench/README.md).
-- Readers never depend on this order: ff.visible_execution and
-- ff.executions list the columns in the order of 0.1.0 (an upgraded
-- install keeps its table's order, and only these costs differ).
CREATE TABLE ff.execution (
    -- identity: never changed by a claim or a completion; indexed
    partition                    smallint NOT NULL,
    execution_id                 uuid NOT NULL,
    priority                     integer NOT NULL DEFAULT 0,
    created_at                   bigint NOT NULL,
    namespace                    text NOT NULL,
    lane_id                      text NOT NULL,
    flow_id                      uuid,
    -- concurrency key (issue 26): at most concurrency_limit executions of
    -- (namespace, concurrency_key) hold a live lease at once; NULL: none
    concurrency_key              text,
    -- indexed timers, NULL on the hot path
    delay_until                  bigint,
    attempt_timeout_at           bigint,
    execution_deadline_at        bigint,
    -- set by a claim, kept by a completion
    eligibility_state            ff.eligibility_state NOT NULL,
    blocking_reason              ff.blocking_reason NOT NULL,
    total_attempt_count          integer NOT NULL DEFAULT 0,
    current_attempt_index        integer,
    current_lease_epoch          bigint NOT NULL DEFAULT 0,
    lease_acquired_at            bigint,
    started_at                   bigint,
    -- a first attempt and its one lease, kept here instead of in
    -- ff.attempt_record and ff.lease_log while nothing else happens to
    -- them (see ff_attempt_hold): the acquisition's seq, and (held_* below)
    -- the lease's identity once it ended by completion
    held_attempt_seq             bigint,
    current_attempt_id           uuid,
    -- changed by both (the indexed ones first), then set by a completion
    lifecycle_phase              ff.lifecycle_phase NOT NULL,
    ownership_state              ff.ownership_state NOT NULL,
    terminal_outcome             ff.terminal_outcome NOT NULL,
    attempt_state                ff.attempt_state NOT NULL,
    lease_expires_at             bigint,
    completed_at                 bigint,
    purge_after                  bigint,
    last_transition_at           bigint NOT NULL,
    last_mutation_at             bigint NOT NULL,
    history_seq                  bigint NOT NULL DEFAULT 0,
    lease_last_renewed_at        bigint,
    lease_renewal_deadline       bigint,
    -- last of its kind: no padding before the uuid that follows
    public_state                 ff.public_state NOT NULL,
    -- the current lease (the lease mirror: there is no separate row), then
    -- the same identity held after its completion
    current_lease_id             uuid,
    current_worker_id            text,
    current_worker_instance_id   text,
    held_lease_id                uuid,
    held_worker_id               text,
    held_worker_instance_id      text,
    -- never changed by a claim or a completion, not indexed
    execution_kind               text NOT NULL DEFAULT '',
    creator_identity             text NOT NULL DEFAULT '',
    retention_ms                 bigint,
    required_capabilities        text[],
    current_lane                 text,
    retry_count                  integer NOT NULL DEFAULT 0,
    replay_count                 integer NOT NULL DEFAULT 0,
    lease_reclaim_count          integer NOT NULL DEFAULT 0,
    concurrency_limit            integer CHECK (concurrency_limit > 0),
    -- admission (behaviour/budgets §2.3): attached budgets (CSV) and quota policy
    budget_ids                   text,
    quota_policy_id              uuid,
    -- rarely set (NULL on the hot path): pending lineage consumed by the
    -- next fresh claim, outcome detail, suspension pointers, progress,
    -- lease loss
    blocking_detail              text,
    pending_retry_reason         text,
    pending_replay_reason        text,
    pending_replay_requested_by  text,
    pending_previous_attempt_index integer,
    failure_reason               text,
    cancellation_reason          text,
    cancelled_by                 text,
    current_suspension_id        uuid,
    current_waitpoint_id         uuid,
    last_hmac_validation_failed_at bigint,
    progress_pct                 integer,
    progress_message             text,
    progress_updated_at          bigint,
    last_capability_mismatch_at  bigint,
    lease_expired_at             bigint,
    lease_revoked_at             bigint,
    lease_revoke_reason          text,
    PRIMARY KEY (partition, execution_id)
-- fillfactor 50: a batch claims or completes up to 100 rows created side by
-- side, and every new version stays on its page only if the page has room
-- for it beside the old one (which no one may prune before the commit); a
-- version moved to another page logs a lock, a second page and the whole
-- row.  Measured: 160 bytes less WAL per batched job, 55 per item, and less
-- space after a drain (no half-empty pages left behind by moved rows).
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.05,
        autovacuum_analyze_scale_factor = 0.05);

-- ELIGIBLE(lane): claim order is priority desc, then created_at, then id.
CREATE INDEX execution_eligible_idx ON ff.execution
    (lane_id, priority DESC, created_at, partition, execution_id)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now';
-- The slots of each concurrency key: its executions holding a live lease.
-- Only executions with a key have an entry, so a claim without one pays
-- nothing; the index is the slot table (an execution leaving the state
-- leaves the index, whatever the way out).
CREATE INDEX execution_concurrency_idx ON ff.execution (namespace, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND lifecycle_phase = 'active' AND ownership_state = 'leased';
-- DELAYED: the promoter's due items.
CREATE INDEX execution_delayed_idx ON ff.execution (delay_until)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'not_eligible_until_time';
-- LEASE_EXPIRY: only leases still held (behaviour/execution §6.1 recommendation).
CREATE INDEX execution_lease_expiry_idx ON ff.execution (lease_expires_at)
    WHERE lifecycle_phase = 'active' AND ownership_state = 'leased';
-- Leases of a lane marked expired or revoked, by expiry: with LEASE_EXPIRY
-- (leases past their expiry not yet marked), ff.claim_next's reclaim
-- candidates.  Only lost leases: a claim inserts into no index for them.
CREATE INDEX execution_lease_lost_idx ON ff.execution (lane_id, lease_expires_at)
    WHERE lifecycle_phase = 'active'
      AND ownership_state IN ('lease_expired_reclaimable', 'lease_revoked');
-- (The reference's WORKER_LEASES(worker_instance_id) has no index here: no
-- statement looks leases up by worker instance, and every claim would pay
-- an index entry for it.)
-- ATTEMPT_TIMEOUT and EXECUTION_DEADLINE: timer columns set exactly while
-- the logical index would hold the execution.
CREATE INDEX execution_attempt_timeout_idx ON ff.execution (attempt_timeout_at)
    WHERE attempt_timeout_at IS NOT NULL;
CREATE INDEX execution_deadline_idx ON ff.execution (execution_deadline_at)
    WHERE execution_deadline_at IS NOT NULL;
-- TERMINAL, ordered by each row's own purge time (behaviour/execution §6.6 recommendation).
CREATE INDEX execution_retention_idx ON ff.execution (purge_after)
    WHERE lifecycle_phase = 'terminal';
-- BLOCKED_BUDGET / QUOTA / ROUTE / OPERATOR, for the unblock scanner.
CREATE INDEX execution_blocked_idx ON ff.execution (eligibility_state, created_at)
    WHERE lifecycle_phase = 'runnable'
      AND eligibility_state IN ('blocked_by_budget', 'blocked_by_quota',
                                'blocked_by_route', 'blocked_by_operator');

-- Bulky, rarely rewritten data of an execution: payload, policy, tags, result.
CREATE TABLE ff.execution_data (
    partition     smallint NOT NULL,
    execution_id  uuid NOT NULL,
    payload       bytea,
    policy        jsonb,
    tags          jsonb NOT NULL DEFAULT '{}',
    result        bytea,
    PRIMARY KEY (partition, execution_id)
);

-- Attempts (behaviour/execution §2.5): one row per attempt index, dense from 0, read
-- through the view ff.attempt, which adds the first attempt an execution
-- row holds (held_attempt_seq).
CREATE TABLE ff.attempt_record (
    partition                   smallint NOT NULL,
    execution_id                uuid NOT NULL,
    attempt_index               integer NOT NULL,
    attempt_id                  uuid NOT NULL,
    attempt_type                ff.attempt_type NOT NULL,
    attempt_state               ff.attempt_record_state NOT NULL,
    created_at                  bigint NOT NULL,
    started_at                  bigint,
    ended_at                    bigint,
    lease_id                    uuid,
    lease_epoch                 bigint,
    worker_id                   text,
    worker_instance_id          text,
    failure_reason              text,
    failure_category            text,
    suspended_at                bigint,
    suspension_id               text,
    resumed_at                  bigint,
    retry_reason                text,
    previous_attempt_index      integer,
    replay_reason               text,
    replay_requested_by         text,
    replayed_from_attempt_index integer,
    reclaim_reason              text,
    last_usage_report_seq       bigint NOT NULL DEFAULT 0,
    policy                      jsonb,
    PRIMARY KEY (partition, execution_id, attempt_index)
);

-- Lease history (behaviour/execution §4.6), one row per lease: the acquisition (event
-- 'acquired' or 'reclaimed'), then, written into the same row, the expiry
-- mark and the end ('released' or 'revoked'), each with its own seq; or one
-- row per event that belongs to no lease ('replay_initiated', and the rows
-- 0.1.0 wrote, one per event).  Updating the lease's row at its end is a
-- HOT update, where an event row of its own cost a job a heap tuple and an
-- index entry.  The view ff.lease_history shows one row per event, as 0.1.0's
-- table did.  Trimmed to about the newest 1000 events per execution.
CREATE TABLE ff.lease_log (
    partition           smallint NOT NULL,
    execution_id        uuid NOT NULL,
    seq                 bigint NOT NULL,
    event               text NOT NULL,
    lease_id            uuid,
    lease_epoch         bigint,
    attempt_index       integer,
    attempt_id          uuid,
    worker_id           text,
    worker_instance_id  text,
    reason              text,
    detail              jsonb,
    ts                  bigint NOT NULL,
    expired_seq         bigint,
    expired_at          bigint,
    end_seq             bigint,
    end_event           text CHECK (end_event IN ('released', 'revoked')),
    end_reason          text,
    ended_at            bigint,
    PRIMARY KEY (partition, execution_id, seq)
) WITH (fillfactor = 90);

-- Claim grants (behaviour/execution §5.3): at most one per execution; a grant whose
-- grant_expires_at < now is treated as absent and replaced lazily.
CREATE TABLE ff.claim_grant (
    partition            smallint NOT NULL,
    execution_id         uuid NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('claim', 'reclaim')),
    worker_id            text NOT NULL,
    worker_instance_id   text NOT NULL,
    lane_id              text NOT NULL,
    capability_hash      text,
    route_snapshot_json  text,
    admission_summary    text,
    created_at           bigint NOT NULL,
    grant_expires_at     bigint NOT NULL,
    PRIMARY KEY (partition, execution_id)
);

-- Idempotency keys (behaviour/execution §1.5), scoped by (partition, namespace, key).
CREATE TABLE ff.idempotency_key (
    partition      smallint NOT NULL,
    namespace      text NOT NULL,
    key            text NOT NULL,
    execution_id   uuid NOT NULL,
    expires_at     bigint NOT NULL,
    PRIMARY KEY (partition, namespace, key)
);
CREATE INDEX idempotency_key_expiry_idx ON ff.idempotency_key (expires_at);

-- Completion events (behaviour/execution §3.32, behaviour/README §6): one row per terminal
-- transition, written in the same transaction, announced on the channel of
-- the execution's namespace (ff.completion_channel).
CREATE TABLE ff.completion_event (
    partition      smallint NOT NULL,
    event_id       bigint GENERATED ALWAYS AS IDENTITY,
    execution_id   uuid NOT NULL,
    flow_id        uuid,
    namespace      text NOT NULL,
    outcome        ff.terminal_outcome NOT NULL,
    created_at     bigint NOT NULL,
    processed_at   bigint,                 -- set when its downstream edges are resolved (at insert outside a flow)
    -- a failing dispatch: ff.scanner_item_failure (completion_dispatch, its execution)
    PRIMARY KEY (partition, event_id)
);
CREATE INDEX completion_event_pending_idx ON ff.completion_event (event_id)
    WHERE processed_at IS NULL;
CREATE INDEX completion_event_execution_idx ON ff.completion_event (partition, execution_id);

-- Attempt output streams (behaviour/execution §3.24-§3.27): one stream per (execution,
-- attempt).  The meta row is the stream's serialization point: appends lock
-- it (never the execution row), and every transition that ends an attempt
-- closes it under the same lock, so no frame lands after a close.
CREATE TABLE ff.stream_meta (
    partition          smallint NOT NULL,
    execution_id       uuid NOT NULL,
    attempt_index      integer NOT NULL,
    attempt_id         uuid,
    created_at         bigint NOT NULL,
    closed_at          bigint,
    closed_reason      text,
    retention_maxlen   integer NOT NULL DEFAULT 0,
    frame_count        bigint NOT NULL DEFAULT 0,      -- lifetime, not reduced by trimming
    retained_count     bigint NOT NULL DEFAULT 0,      -- frames currently stored
    total_bytes        bigint NOT NULL DEFAULT 0,
    last_ts            bigint NOT NULL DEFAULT 0,      -- entry id of the last frame: last_ts-last_seq
    last_seq           bigint NOT NULL DEFAULT -1,
    last_frame_at      bigint,
    has_durable_frame  boolean NOT NULL DEFAULT false,
    ema_rate_hz        double precision,               -- best-effort rate estimator
    last_append_ts_ms  bigint,
    maxlen_applied_last integer,
    frames_expire_at   bigint,                         -- best-effort streams without durable frames
    PRIMARY KEY (partition, execution_id, attempt_index)
);
CREATE INDEX stream_meta_expiry_idx ON ff.stream_meta (frames_expire_at) WHERE frames_expire_at IS NOT NULL;

CREATE TABLE ff.stream_frame (
    partition       smallint NOT NULL,
    execution_id    uuid NOT NULL,
    attempt_index   integer NOT NULL,
    ts              bigint NOT NULL,
    seq             integer NOT NULL,
    frame_type      text NOT NULL,
    frame_ts        bigint NOT NULL,
    payload         bytea NOT NULL,
    encoding        text NOT NULL,
    source          text NOT NULL,
    mode            text NOT NULL,
    correlation_id  text,
    summary_version bigint,
    ttl_ms          bigint,
    PRIMARY KEY (partition, execution_id, attempt_index, ts, seq)
);

-- The summary document of a summary-mode stream (JSON merge patch).
CREATE TABLE ff.stream_summary (
    partition         smallint NOT NULL,
    execution_id      uuid NOT NULL,
    attempt_index     integer NOT NULL,
    document          jsonb NOT NULL,
    version           bigint NOT NULL,
    patch_kind        text NOT NULL,
    first_applied_ms  bigint NOT NULL,
    last_updated_ms   bigint NOT NULL,
    PRIMARY KEY (partition, execution_id, attempt_index)
);

SELECT pg_catalog.pg_extension_config_dump('ff.execution', '');
SELECT pg_catalog.pg_extension_config_dump('ff.execution_data', '');
SELECT pg_catalog.pg_extension_config_dump('ff.attempt_record', '');
SELECT pg_catalog.pg_extension_config_dump('ff.lease_log', '');
SELECT pg_catalog.pg_extension_config_dump('ff.claim_grant', '');
SELECT pg_catalog.pg_extension_config_dump('ff.idempotency_key', '');
SELECT pg_catalog.pg_extension_config_dump('ff.completion_event', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_meta', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_frame', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_summary', '');
