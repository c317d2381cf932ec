-- ff_engine install script: types.
-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ff_engine" to load this file. \quit

-- The seven dimensions of an execution's state vector (spec/execution.md §2.1).
CREATE TYPE ff.lifecycle_phase AS ENUM
    ('submitted', 'runnable', 'active', 'suspended', 'terminal');

CREATE TYPE ff.ownership_state AS ENUM
    ('unowned', 'leased', 'lease_expired_reclaimable', 'lease_revoked');

CREATE TYPE ff.eligibility_state AS ENUM
    ('eligible_now', 'not_eligible_until_time', 'blocked_by_dependencies',
     'blocked_by_budget', 'blocked_by_quota', 'blocked_by_route',
     'blocked_by_lane_state', 'blocked_by_operator', 'not_applicable');

CREATE TYPE ff.blocking_reason AS ENUM
    ('none', 'waiting_for_worker', 'waiting_for_retry_backoff',
     'waiting_for_resume_delay', 'waiting_for_delay', 'waiting_for_signal',
     'waiting_for_approval', 'waiting_for_callback', 'waiting_for_tool_result',
     'waiting_for_children', 'waiting_for_budget', 'waiting_for_quota',
     'waiting_for_capable_worker', 'waiting_for_locality_match',
     'paused_by_operator', 'paused_by_policy', 'paused_by_flow_cancel');

CREATE TYPE ff.terminal_outcome AS ENUM
    ('none', 'success', 'failed', 'cancelled', 'expired', 'skipped');

CREATE TYPE ff.attempt_state AS ENUM
    ('none', 'pending_first_attempt', 'running_attempt', 'attempt_interrupted',
     'pending_retry_attempt', 'pending_replay_attempt', 'attempt_terminal');

CREATE TYPE ff.public_state AS ENUM
    ('waiting', 'delayed', 'rate_limited', 'waiting_children', 'active',
     'suspended', 'resumable', 'completed', 'failed', 'cancelled', 'expired',
     'skipped');

-- Attempt records (§2.5).
CREATE TYPE ff.attempt_type AS ENUM
    ('initial', 'retry', 'reclaim', 'replay', 'fallback');

CREATE TYPE ff.attempt_record_state AS ENUM
    ('created', 'started', 'suspended', 'ended_success', 'ended_failure',
     'ended_cancelled', 'interrupted_reclaimed');

-- A millisecond setting of the engine as a number: current_setting shows
-- it with a unit ('1500ms', '2s', '1min'); pg_settings has the bare number
-- but builds every setting of the server to find it (~1 ms).
CREATE FUNCTION ff._setting_ms(name text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT m[1]::bigint * CASE m[2] WHEN 's' THEN 1000 WHEN 'min' THEN 60000
                                    WHEN 'h' THEN 3600000 WHEN 'd' THEN 86400000 ELSE 1 END
    FROM pg_catalog.regexp_match(pg_catalog.current_setting(name, true),
                                 '^(-?[0-9]+)(ms|s|min|h|d)?$') m
$$;
COMMENT ON FUNCTION ff._setting_ms(text) IS
    'Internal: a millisecond setting (ff_engine.*) as a number of milliseconds';
-- ff_engine install script: tables.
--
-- Every table that belongs to an execution carries `partition` (the N of
-- the id's {fp:N} tag) as its first key column, so each operation stays
-- inside one partition and the schema can be distributed by that column.
-- All times are integer milliseconds since the Unix epoch (columns *_at).
-- Tables are written only through the ff.* functions.

-- Partition counts (spec §1.2).  A single row; see ff.set_partition_config.
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
-- stay small (fillfactor leaves room for HOT updates).
CREATE TABLE ff.execution (
    partition                    smallint NOT NULL,
    execution_id                 uuid NOT NULL,
    namespace                    text NOT NULL,
    lane_id                      text NOT NULL,
    execution_kind               text NOT NULL DEFAULT '',
    creator_identity             text NOT NULL DEFAULT '',
    priority                     integer NOT NULL DEFAULT 0,
    flow_id                      uuid,
    required_capabilities        text[],
    retention_ms                 bigint,
    -- state vector
    lifecycle_phase              ff.lifecycle_phase NOT NULL,
    ownership_state              ff.ownership_state NOT NULL,
    eligibility_state            ff.eligibility_state NOT NULL,
    blocking_reason              ff.blocking_reason NOT NULL,
    blocking_detail              text,
    terminal_outcome             ff.terminal_outcome NOT NULL,
    attempt_state                ff.attempt_state NOT NULL,
    public_state                 ff.public_state NOT NULL,
    -- attempt accounting
    total_attempt_count          integer NOT NULL DEFAULT 0,
    current_attempt_index        integer,
    current_attempt_id           uuid,
    retry_count                  integer NOT NULL DEFAULT 0,
    replay_count                 integer NOT NULL DEFAULT 0,
    lease_reclaim_count          integer NOT NULL DEFAULT 0,
    -- lease mirror (the current lease lives here; there is no separate row)
    current_lease_id             uuid,
    current_lease_epoch          bigint NOT NULL DEFAULT 0,
    current_worker_id            text,
    current_worker_instance_id   text,
    current_lane                 text,
    lease_acquired_at            bigint,
    lease_expires_at             bigint,
    lease_last_renewed_at        bigint,
    lease_renewal_deadline       bigint,
    lease_expired_at             bigint,
    lease_revoked_at             bigint,
    lease_revoke_reason          text,
    -- timestamps and timers
    created_at                   bigint NOT NULL,
    started_at                   bigint,
    completed_at                 bigint,
    last_transition_at           bigint NOT NULL,
    last_mutation_at             bigint NOT NULL,
    delay_until                  bigint,
    attempt_timeout_at           bigint,
    execution_deadline_at        bigint,
    purge_after                  bigint,
    -- pending lineage consumed by the next fresh claim
    pending_retry_reason         text,
    pending_replay_reason        text,
    pending_replay_requested_by  text,
    pending_previous_attempt_index integer,
    -- outcome detail
    failure_reason               text,
    cancellation_reason          text,
    cancelled_by                 text,
    -- suspension pointers
    current_suspension_id        uuid,
    current_waitpoint_id         uuid,
    last_hmac_validation_failed_at bigint,
    -- admission (budgets spec §2.3): attached budgets (CSV) and quota policy
    budget_ids                   text,
    quota_policy_id              uuid,
    -- progress and diagnostics
    progress_pct                 integer,
    progress_message             text,
    progress_updated_at          bigint,
    last_capability_mismatch_at  bigint,
    history_seq                  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (partition, execution_id)
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05,
        autovacuum_analyze_scale_factor = 0.05);

-- ELIGIBLE(lane): claim order is priority desc, then created_at, then id.
CREATE INDEX execution_eligible_idx ON ff.execution
    (lane_id, priority DESC, created_at, partition, execution_id)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now';
-- DELAYED: the promoter's due items.
CREATE INDEX execution_delayed_idx ON ff.execution (delay_until)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'not_eligible_until_time';
-- LEASE_EXPIRY: only leases still held (spec §6.1 recommendation).
CREATE INDEX execution_lease_expiry_idx ON ff.execution (lease_expires_at)
    WHERE lifecycle_phase = 'active' AND ownership_state = 'leased';
-- Leases of a lane marked expired or revoked, by expiry: with LEASE_EXPIRY
-- (leases past their expiry not yet marked), ff.claim_next's reclaim
-- candidates.  Only lost leases: a claim inserts into no index for them.
CREATE INDEX execution_lease_lost_idx ON ff.execution (lane_id, lease_expires_at)
    WHERE lifecycle_phase = 'active'
      AND ownership_state IN ('lease_expired_reclaimable', 'lease_revoked');
-- WORKER_LEASES(worker_instance_id).
CREATE INDEX execution_worker_leases_idx ON ff.execution (current_worker_instance_id)
    WHERE ownership_state = 'leased';
-- ATTEMPT_TIMEOUT and EXECUTION_DEADLINE: timer columns set exactly while
-- the logical index would hold the execution.
CREATE INDEX execution_attempt_timeout_idx ON ff.execution (attempt_timeout_at)
    WHERE attempt_timeout_at IS NOT NULL;
CREATE INDEX execution_deadline_idx ON ff.execution (execution_deadline_at)
    WHERE execution_deadline_at IS NOT NULL;
-- TERMINAL, ordered by each row's own purge time (spec §6.6 recommendation).
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

-- Attempts (spec §2.5): one row per attempt index, dense from 0.
CREATE TABLE ff.attempt (
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

-- Lease history (spec §4.6): append-only, trimmed to about the newest 1000
-- events per execution.
CREATE TABLE ff.lease_history (
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
    PRIMARY KEY (partition, execution_id, seq)
);

-- Claim grants (spec §5.3): at most one per execution; a grant whose
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

-- Idempotency keys (spec §1.5), scoped by (partition, namespace, key).
CREATE TABLE ff.idempotency_key (
    partition      smallint NOT NULL,
    namespace      text NOT NULL,
    key            text NOT NULL,
    execution_id   uuid NOT NULL,
    expires_at     bigint NOT NULL,
    PRIMARY KEY (partition, namespace, key)
);
CREATE INDEX idempotency_key_expiry_idx ON ff.idempotency_key (expires_at);

-- Completion events (spec §3.32, ARCHITECTURE §6): one row per terminal
-- transition, written in the same transaction, announced on 'ff_completion'.
CREATE TABLE ff.completion_event (
    partition      smallint NOT NULL,
    event_id       bigint GENERATED ALWAYS AS IDENTITY,
    execution_id   uuid NOT NULL,
    flow_id        uuid,
    outcome        ff.terminal_outcome NOT NULL,
    created_at     bigint NOT NULL,
    processed_at   bigint,                 -- set when its downstream edges are resolved (at insert outside a flow)
    dispatch_failures integer NOT NULL DEFAULT 0,
    dispatch_retry_at bigint,              -- a row that keeps failing waits until then
    last_error     text,
    PRIMARY KEY (partition, event_id)
);
CREATE INDEX completion_event_pending_idx ON ff.completion_event (event_id)
    WHERE processed_at IS NULL;
CREATE INDEX completion_event_execution_idx ON ff.completion_event (partition, execution_id);

-- Attempt output streams (spec §3.24-§3.27): one stream per (execution,
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
SELECT pg_catalog.pg_extension_config_dump('ff.attempt', '');
SELECT pg_catalog.pg_extension_config_dump('ff.lease_history', '');
SELECT pg_catalog.pg_extension_config_dump('ff.claim_grant', '');
SELECT pg_catalog.pg_extension_config_dump('ff.idempotency_key', '');
SELECT pg_catalog.pg_extension_config_dump('ff.completion_event', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_meta', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_frame', '');
SELECT pg_catalog.pg_extension_config_dump('ff.stream_summary', '');
-- ff_engine install script: flow tables (spec/flows.md §2, Appendix A).
--
-- A flow and every member live in one partition (the flow's, RFC-011), so
-- every flow operation is partition-local.  Membership is the execution's
-- own flow_id column (MEMBERS(f) = executions whose flow_id = f).

CREATE TABLE ff.flow (
    partition            smallint NOT NULL,
    flow_id              uuid NOT NULL,
    flow_kind            text NOT NULL DEFAULT '',
    namespace            text NOT NULL,
    graph_revision       bigint NOT NULL DEFAULT 0,
    node_count           integer NOT NULL DEFAULT 0,
    edge_count           integer NOT NULL DEFAULT 0,
    public_flow_state    text NOT NULL DEFAULT 'open'
                         CHECK (public_flow_state IN ('open', 'cancelled', 'completed', 'failed')),
    created_at           bigint NOT NULL,
    last_mutation_at     bigint NOT NULL,
    cancelled_at         bigint,
    cancel_reason        text,
    cancellation_policy  text,
    cancel_due_at        bigint,                 -- CANCEL_BACKLOG score while members are owed a cancel
    in_flow_index        boolean NOT NULL DEFAULT true,   -- FLOW_INDEX: the projector visits it
    tags                 jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (partition, flow_id)
);
CREATE INDEX flow_index_idx ON ff.flow (partition, flow_id) WHERE in_flow_index;
CREATE INDEX flow_cancel_backlog_idx ON ff.flow (cancel_due_at) WHERE cancel_due_at IS NOT NULL;

-- MEMBERS: the executions of a flow.
CREATE INDEX execution_flow_idx ON ff.execution (partition, flow_id) WHERE flow_id IS NOT NULL;

-- PENDING_CANCELS(flow): members still owed a cancel after cancel_flow.
CREATE TABLE ff.flow_pending_cancel (
    partition     smallint NOT NULL,
    flow_id       uuid NOT NULL,
    execution_id  uuid NOT NULL,
    PRIMARY KEY (partition, flow_id, execution_id)
);

-- Flow-side edges (§2.3), immutable once staged.
CREATE TABLE ff.flow_edge (
    partition                smallint NOT NULL,
    flow_id                  uuid NOT NULL,
    edge_id                  uuid NOT NULL,
    upstream_execution_id    uuid NOT NULL,
    downstream_execution_id  uuid NOT NULL,
    dependency_kind          text NOT NULL DEFAULT 'success_only',
    data_passing_ref         text,
    created_at               bigint NOT NULL,
    PRIMARY KEY (partition, flow_id, edge_id)
);
CREATE INDEX flow_edge_out_idx ON ff.flow_edge (partition, flow_id, upstream_execution_id);
CREATE INDEX flow_edge_in_idx ON ff.flow_edge (partition, flow_id, downstream_execution_id);

-- The inbound edge group of one downstream (§2.4, RFC-016).
CREATE TABLE ff.edge_group (
    partition                 smallint NOT NULL,
    flow_id                   uuid NOT NULL,
    downstream_execution_id   uuid NOT NULL,
    policy_variant            text NOT NULL DEFAULT 'all_of' CHECK (policy_variant IN ('all_of', 'any_of', 'quorum')),
    on_satisfied              text CHECK (on_satisfied IN ('cancel_remaining', 'let_run')),
    k                         integer NOT NULL DEFAULT 0,
    n                         integer NOT NULL DEFAULT 0,
    succeeded                 integer NOT NULL DEFAULT 0,
    failed                    integer NOT NULL DEFAULT 0,
    skipped                   integer NOT NULL DEFAULT 0,
    group_state               text NOT NULL DEFAULT 'pending'
                              CHECK (group_state IN ('pending', 'satisfied', 'impossible', 'cancelled')),
    satisfied_at              bigint,
    created_at                bigint,
    cancel_siblings_pending   boolean NOT NULL DEFAULT false,
    cancel_siblings_members   uuid[],
    cancel_siblings_reason    text,
    PRIMARY KEY (partition, flow_id, downstream_execution_id)
);

-- PENDING_CANCEL_GROUPS (§2.6): groups owed a sibling cancel, written with
-- the group's terminal flip (Invariant Q6).
CREATE TABLE ff.pending_cancel_group (
    partition                 smallint NOT NULL,
    flow_id                   uuid NOT NULL,
    downstream_execution_id   uuid NOT NULL,
    enqueued_at               bigint NOT NULL,
    PRIMARY KEY (partition, flow_id, downstream_execution_id)
);
CREATE INDEX pending_cancel_group_enqueued_idx ON ff.pending_cancel_group (enqueued_at);

-- The child side of each applied edge (§2.5).  UNRESOLVED = state
-- 'unsatisfied'.
CREATE TABLE ff.dependency (
    partition                 smallint NOT NULL,
    downstream_execution_id   uuid NOT NULL,
    edge_id                   uuid NOT NULL,
    flow_id                   uuid NOT NULL,
    upstream_execution_id     uuid NOT NULL,
    dependency_kind           text NOT NULL DEFAULT 'success_only',
    data_passing_ref          text,
    state                     text NOT NULL DEFAULT 'unsatisfied'
                              CHECK (state IN ('unsatisfied', 'satisfied', 'impossible')),
    last_resolved_at          bigint,
    PRIMARY KEY (partition, downstream_execution_id, edge_id)
);
-- the dependency reconciler: unresolved edges by upstream
CREATE INDEX dependency_unresolved_idx ON ff.dependency (partition, upstream_execution_id)
    WHERE state = 'unsatisfied';

-- deps_meta (§2.5): the all_of counters of a child.
CREATE TABLE ff.dependency_meta (
    partition                   smallint NOT NULL,
    execution_id                uuid NOT NULL,
    flow_id                     uuid NOT NULL,
    unsatisfied_required_count  integer NOT NULL DEFAULT 0,
    impossible_required_count   integer NOT NULL DEFAULT 0,
    last_flow_graph_revision    bigint,
    last_dependency_update_at   bigint,
    PRIMARY KEY (partition, execution_id)
);

-- The flow summary written by the projector (§2.9), exact counts.
CREATE TABLE ff.flow_summary (
    partition                 smallint NOT NULL,
    flow_id                   uuid NOT NULL,
    total_members             integer NOT NULL,
    members_completed         integer NOT NULL,
    members_failed            integer NOT NULL,
    members_cancelled         integer NOT NULL,
    members_expired           integer NOT NULL,
    members_skipped           integer NOT NULL,
    members_active            integer NOT NULL,
    members_suspended         integer NOT NULL,
    members_waiting           integer NOT NULL,
    members_delayed           integer NOT NULL,
    members_rate_limited      integer NOT NULL,
    members_waiting_children  integer NOT NULL,
    public_flow_state         text NOT NULL,
    last_summary_update_at    bigint NOT NULL,
    PRIMARY KEY (partition, flow_id)
);

SELECT pg_catalog.pg_extension_config_dump('ff.flow', '');
SELECT pg_catalog.pg_extension_config_dump('ff.flow_pending_cancel', '');
SELECT pg_catalog.pg_extension_config_dump('ff.flow_edge', '');
SELECT pg_catalog.pg_extension_config_dump('ff.edge_group', '');
SELECT pg_catalog.pg_extension_config_dump('ff.pending_cancel_group', '');
SELECT pg_catalog.pg_extension_config_dump('ff.dependency', '');
SELECT pg_catalog.pg_extension_config_dump('ff.dependency_meta', '');
SELECT pg_catalog.pg_extension_config_dump('ff.flow_summary', '');
-- ff_engine install script: suspension, waitpoint, signal and HMAC key tables
-- (spec/suspension.md §2, Appendix A).
--
-- Every row belongs to one execution's partition.  Operations lock the
-- execution row first, then touch these rows (lock order: execution ->
-- suspension -> waitpoints by id -> signals); the pending-waitpoint expiry
-- scanner alone locks only waitpoint rows.

-- The execution's current (or most recently closed) suspension: one row per
-- execution, replaced by the next suspend.
CREATE TABLE ff.suspension (
    partition                     smallint NOT NULL,
    execution_id                  uuid NOT NULL,
    suspension_id                 uuid NOT NULL,
    attempt_index                 integer NOT NULL,
    primary_waitpoint_id          uuid NOT NULL,
    waitpoint_key                 text NOT NULL,
    extra_waitpoints              jsonb NOT NULL DEFAULT '[]',
    reason_code                   text NOT NULL,
    requested_by                  text NOT NULL,
    created_at                    bigint NOT NULL,
    timeout_at                    bigint,
    timeout_behavior              text,
    resume_condition              jsonb NOT NULL,
    condition_kind                text NOT NULL CHECK (condition_kind IN ('matcher', 'composite')),
    resume_policy                 jsonb,
    continuation_metadata_pointer text,
    last_signal_at                bigint,
    satisfied_at                  bigint,
    closed_at                     bigint,
    close_reason                  text,
    closer_signal_id              uuid,
    all_satisfier_signals         uuid[],
    PRIMARY KEY (partition, execution_id)
);
-- SUSPENSION_TIMEOUT: open suspensions with a timeout.
CREATE INDEX suspension_timeout_idx ON ff.suspension (timeout_at, partition, execution_id)
    WHERE closed_at IS NULL AND timeout_at IS NOT NULL;
-- Listing of suspended executions by when they suspended.
CREATE INDEX suspension_open_idx ON ff.suspension (created_at, partition, execution_id)
    WHERE closed_at IS NULL;

-- Composite progress (§3.3.2, per-node tokens): "<node path>|leaf",
-- "<node path>|wp:<id>", "<node path>|sig:<id>", "<node path>|src:<t>:<i>".
CREATE TABLE ff.suspension_token (
    partition     smallint NOT NULL,
    execution_id  uuid NOT NULL,
    token         text NOT NULL,
    signal_id     uuid NOT NULL,
    PRIMARY KEY (partition, execution_id, token)
);

-- Waitpoints (§2.2) with their condition record folded in (§2.3): the
-- cond_* columns are NULL while the waitpoint is pending (no condition).
CREATE TABLE ff.waitpoint (
    partition             smallint NOT NULL,
    waitpoint_id          uuid NOT NULL,
    execution_id          uuid NOT NULL,
    attempt_index         integer NOT NULL,
    suspension_id         uuid,
    waitpoint_key         text NOT NULL,
    token                 text NOT NULL,
    state                 text NOT NULL CHECK (state IN ('pending', 'active', 'closed')),
    created_at            bigint NOT NULL,
    activated_at          bigint,
    expires_at            bigint,
    satisfied_at          bigint,
    closed_at             bigint,
    close_reason          text,
    signal_count          integer NOT NULL DEFAULT 0,
    matched_signal_count  integer NOT NULL DEFAULT 0,
    last_signal_at        bigint,
    next_seq              bigint NOT NULL DEFAULT 0,
    cond_kind             text CHECK (cond_kind IN ('matcher', 'composite')),
    cond_match_mode       text,
    cond_min_count        integer,
    cond_names            text[],
    cond_signal_ids       uuid[],
    cond_satisfied_count  integer,
    cond_closed           boolean,
    cond_closed_at        bigint,
    cond_closed_reason    text,
    PRIMARY KEY (partition, waitpoint_id)
);
CREATE INDEX waitpoint_execution_idx ON ff.waitpoint (partition, execution_id, waitpoint_id);
-- PENDING_WP_EXPIRY
CREATE INDEX waitpoint_pending_expiry_idx ON ff.waitpoint (expires_at, partition, waitpoint_id)
    WHERE state = 'pending';

-- Accepted signals (§2.5).  seq orders a waitpoint's log.
CREATE TABLE ff.signal (
    partition         smallint NOT NULL,
    signal_id         uuid NOT NULL,
    execution_id      uuid NOT NULL,
    waitpoint_id      uuid NOT NULL,
    seq               bigint NOT NULL,
    target_scope      text NOT NULL,
    signal_name       text NOT NULL,
    signal_category   text NOT NULL,
    source_type       text NOT NULL,
    source_identity   text NOT NULL,
    correlation_id    text NOT NULL,
    idempotency_key   text NOT NULL,
    created_at        bigint NOT NULL,
    accepted_at       bigint NOT NULL,
    payload           bytea,
    payload_encoding  text NOT NULL,
    observed_effect   text NOT NULL,
    PRIMARY KEY (partition, signal_id)
);
CREATE INDEX signal_waitpoint_idx ON ff.signal (partition, waitpoint_id, seq);
CREATE INDEX signal_execution_idx ON ff.signal (partition, execution_id, accepted_at);

-- Signal idempotency guards, scope (waitpoint, key); a row past expires_at
-- is absent.
CREATE TABLE ff.signal_dedup (
    partition        smallint NOT NULL,
    waitpoint_id     uuid NOT NULL,
    idempotency_key  text NOT NULL,
    execution_id     uuid NOT NULL,
    signal_id        uuid NOT NULL,
    expires_at       bigint NOT NULL,
    PRIMARY KEY (partition, waitpoint_id, idempotency_key)
);
CREATE INDEX signal_dedup_expiry_idx ON ff.signal_dedup (expires_at);

-- Stored outcomes of suspend calls, scope (execution, key) (§4.1.6).
CREATE TABLE ff.suspend_dedup (
    partition        smallint NOT NULL,
    execution_id     uuid NOT NULL,
    idempotency_key  text NOT NULL,
    outcome          jsonb NOT NULL,
    expires_at       bigint,
    PRIMARY KEY (partition, execution_id, idempotency_key)
);

-- The waitpoint HMAC keystore (§5.4): one current kid (no expiry), older
-- kids verify until their expires_at.  Readable by the extension owner only.
CREATE TABLE ff.waitpoint_hmac_key (
    kid           text PRIMARY KEY CHECK (kid <> '' AND position(':' IN kid) = 0),
    secret        bytea NOT NULL,
    is_current    boolean NOT NULL DEFAULT false,
    expires_at    bigint,
    installed_at  bigint NOT NULL,
    CHECK (NOT is_current OR expires_at IS NULL)
);
CREATE UNIQUE INDEX waitpoint_hmac_key_current_idx ON ff.waitpoint_hmac_key (is_current) WHERE is_current;
REVOKE ALL ON ff.waitpoint_hmac_key FROM PUBLIC;

-- Signal-delivery events (§7.1): one per accepted deliver_signal, announced
-- on channel ff_signal_event at commit.
CREATE TABLE ff.signal_event (
    event_id         bigint GENERATED ALWAYS AS IDENTITY,
    partition        smallint NOT NULL,
    execution_id     uuid NOT NULL,
    signal_id        uuid NOT NULL,
    waitpoint_id     uuid NOT NULL,
    source_identity  text NOT NULL,
    effect           text NOT NULL,
    delivered_at     bigint NOT NULL,
    namespace        text NOT NULL,
    instance_tag     text,
    PRIMARY KEY (partition, event_id)
);
CREATE INDEX signal_event_age_idx ON ff.signal_event (delivered_at);

SELECT pg_catalog.pg_extension_config_dump('ff.suspension', '');
SELECT pg_catalog.pg_extension_config_dump('ff.suspension_token', '');
SELECT pg_catalog.pg_extension_config_dump('ff.waitpoint', '');
SELECT pg_catalog.pg_extension_config_dump('ff.signal', '');
SELECT pg_catalog.pg_extension_config_dump('ff.signal_dedup', '');
SELECT pg_catalog.pg_extension_config_dump('ff.suspend_dedup', '');
SELECT pg_catalog.pg_extension_config_dump('ff.waitpoint_hmac_key', '');
SELECT pg_catalog.pg_extension_config_dump('ff.signal_event', '');
-- ff_engine install script: budgets, quota policies and their admission
-- records (spec/budgets.md §2, Appendix A).  Budgets and quota policies are
-- global (not execution-partitioned); their partition column is the
-- {b:M} / {q:K} index for a sharded deployment.
--
-- Lock order: a budget row, then its usage rows by dimension ascending.
-- Quota admissions lock only slot rows they take with SKIP LOCKED (they
-- never wait on one another, except on a slot row being created) and their
-- guard row; a claim holds its candidate execution rows first.

CREATE TABLE ff.budget (
    budget_id              uuid PRIMARY KEY,
    partition              smallint NOT NULL,
    scope_type             text NOT NULL DEFAULT '',
    scope_id               text NOT NULL DEFAULT '',
    enforcement_mode       text NOT NULL DEFAULT '',
    on_hard_limit          text NOT NULL DEFAULT '',
    on_soft_limit          text NOT NULL DEFAULT '',
    reset_interval_ms      bigint NOT NULL DEFAULT 0 CHECK (reset_interval_ms >= 0),
    next_reset_at          bigint,
    breach_count           bigint NOT NULL DEFAULT 0,
    soft_breach_count      bigint NOT NULL DEFAULT 0,
    last_breach_at         bigint,
    last_breach_dim        text,
    reset_count            bigint NOT NULL DEFAULT 0,
    last_reset_at          bigint,
    created_at             bigint NOT NULL,
    last_updated_at        bigint NOT NULL,
    reconciled_breach_at   bigint
);
-- the reset schedule
CREATE INDEX budget_reset_idx ON ff.budget (next_reset_at) WHERE next_reset_at IS NOT NULL;

CREATE TABLE ff.budget_limit (
    budget_id    uuid NOT NULL REFERENCES ff.budget ON DELETE CASCADE,
    dimension    text NOT NULL,
    hard_limit   bigint NOT NULL CHECK (hard_limit >= 0),
    soft_limit   bigint NOT NULL CHECK (soft_limit >= 0),
    PRIMARY KEY (budget_id, dimension)
);

CREATE TABLE ff.budget_usage (
    budget_id    uuid NOT NULL REFERENCES ff.budget ON DELETE CASCADE,
    dimension    text NOT NULL,
    value        bigint NOT NULL CHECK (value >= 0),
    PRIMARY KEY (budget_id, dimension)
);

-- What record_spend attributed to each execution, for release_budget.
CREATE TABLE ff.budget_usage_by_exec (
    budget_id     uuid NOT NULL REFERENCES ff.budget ON DELETE CASCADE,
    execution_id  text NOT NULL,
    dimension     text NOT NULL,
    delta_total   bigint NOT NULL CHECK (delta_total >= 0),
    PRIMARY KEY (budget_id, execution_id, dimension)
);

-- Usage idempotency marks, scope (budget, key) (Appendix C #3); a mark
-- past expires_at is absent.
CREATE TABLE ff.budget_usage_dedup (
    budget_id    uuid NOT NULL REFERENCES ff.budget ON DELETE CASCADE,
    dedup_key    text NOT NULL,
    expires_at   bigint NOT NULL,
    PRIMARY KEY (budget_id, dedup_key)
);
CREATE INDEX budget_usage_dedup_expiry_idx ON ff.budget_usage_dedup (expires_at);

CREATE TABLE ff.quota_policy (
    quota_policy_id          uuid PRIMARY KEY,
    partition                smallint NOT NULL,
    window_seconds           bigint NOT NULL CHECK (window_seconds >= 0),
    max_requests_per_window  bigint NOT NULL CHECK (max_requests_per_window >= 0),
    active_concurrency_cap   bigint NOT NULL CHECK (active_concurrency_cap >= 0),
    jitter_ms                bigint NOT NULL DEFAULT 0 CHECK (jitter_ms >= 0),
    created_at               bigint NOT NULL
);

-- Admission slots: a rate limit of R is R rate slots ('r', per window
-- dimension), a concurrency cap of C is C concurrency slots ('c').  An
-- admission takes a free slot of each kind (free_at <= now) with FOR UPDATE
-- SKIP LOCKED and holds it until free_at: a rate slot for the window (so
-- the admissions of the last window are exactly the busy rate slots), a
-- concurrency slot until its admission expires or is released.  Taking
-- distinct rows lets concurrent claims admit in parallel instead of queueing
-- on one counter row, and a slot another transaction holds is never counted
-- free, so a limit is never exceeded.  Slots are created as needed, up to
-- the limit.
CREATE TABLE ff.quota_slot (
    quota_policy_id  uuid NOT NULL,
    kind             "char" NOT NULL CHECK (kind IN ('r', 'c')),
    dimension        text NOT NULL,
    slot             integer NOT NULL,
    execution_id     text,
    taken_at         bigint NOT NULL DEFAULT 0,
    free_at          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (quota_policy_id, kind, dimension, slot)
);
CREATE INDEX quota_slot_free_idx ON ff.quota_slot (quota_policy_id, kind, dimension, free_at);

-- Admission guards: live while expires_at > now (ALREADY_ADMITTED).
CREATE TABLE ff.quota_admission (
    quota_policy_id  uuid NOT NULL,
    execution_id     text NOT NULL,
    admitted_at      bigint NOT NULL,
    expires_at       bigint NOT NULL,
    PRIMARY KEY (quota_policy_id, execution_id)
);
CREATE INDEX quota_admission_expiry_idx ON ff.quota_admission (expires_at);

SELECT pg_catalog.pg_extension_config_dump('ff.budget', '');
SELECT pg_catalog.pg_extension_config_dump('ff.budget_limit', '');
SELECT pg_catalog.pg_extension_config_dump('ff.budget_usage', '');
SELECT pg_catalog.pg_extension_config_dump('ff.budget_usage_by_exec', '');
SELECT pg_catalog.pg_extension_config_dump('ff.budget_usage_dedup', '');
SELECT pg_catalog.pg_extension_config_dump('ff.quota_policy', '');
SELECT pg_catalog.pg_extension_config_dump('ff.quota_slot', '');
SELECT pg_catalog.pg_extension_config_dump('ff.quota_admission', '');
-- ff_engine install script: namespace isolation (issue 10).
--
-- A login role bound here to one or more namespaces sees and touches only
-- executions of those namespaces: any other execution reads as not found,
-- claim_next offers none of them, and it cannot create executions or flows
-- elsewhere.  Roles without a binding, ff_admin members and superusers (and
-- so the engine's workers) are not restricted.  The binding follows the
-- caller's role (session user or SET ROLE), not the function owner.

CREATE TABLE ff.namespace_grant (
    role_name  name NOT NULL,
    namespace  text NOT NULL,
    PRIMARY KEY (role_name, namespace)
);
SELECT pg_catalog.pg_extension_config_dump('ff.namespace_grant', '');

CREATE FUNCTION ff._namespaces() RETURNS text[]
    AS 'MODULE_PATHNAME', 'ff_namespaces_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._namespaces() IS
    'Internal: the namespaces the calling role is bound to, NULL when it is not restricted';

CREATE FUNCTION ff.grant_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = grant_namespace.role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    IF namespace IS NULL OR namespace = '' OR length(namespace) > 256 THEN
        RAISE EXCEPTION 'namespace must be 1..256 bytes' USING ERRCODE = '22023';
    END IF;
    INSERT INTO ff.namespace_grant VALUES (role_name, namespace) ON CONFLICT DO NOTHING;
    RETURN jsonb_build_object('ok', true, 'status', 'OK');
END $$;
COMMENT ON FUNCTION ff.grant_namespace(name, text) IS
    'Binds a role to a namespace: from its first binding on it sees and touches only its namespaces'' executions';

CREATE FUNCTION ff.revoke_namespace(role_name name, namespace text) RETURNS jsonb
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM ff.namespace_grant g WHERE g.role_name = $1 AND g.namespace = $2 RETURNING 1)
    SELECT jsonb_build_object('ok', true, 'status', 'OK', 'revoked', EXISTS (SELECT 1 FROM d))
$$;
COMMENT ON FUNCTION ff.revoke_namespace(name, text) IS
    'Removes a role''s namespace binding (with none left the role is unrestricted again)';

-- The executions the caller may see; every read model reads through it.
CREATE VIEW ff.visible_execution WITH (security_barrier) AS
SELECT e.* FROM ff.execution e
WHERE (SELECT ff._namespaces()) IS NULL OR e.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.visible_execution IS
    'ff.execution as the calling role may see it (its namespaces only when it is bound to some)';
-- ff_engine install script: the operations (C functions).
--
-- Every operation returns one jsonb envelope:
--   {"ok": true,  "status": "OK" | "DUPLICATE" | "ALREADY_SATISFIED", ...fields}
--   {"ok": false, "error": "<code>", ...detail}
-- Domain outcomes are values, never exceptions.  Misuse (NULL where a value
-- is required, malformed ids, out-of-range numbers) raises an ERROR and
-- writes nothing.  Times are milliseconds since the Unix epoch.

-- ---- identifiers and partitions ----

CREATE FUNCTION ff.now_ms() RETURNS bigint
    AS 'MODULE_PATHNAME', 'ff_now_ms_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.now_ms() IS
    'The engine clock in ms since the epoch (ff_engine.test_clock_ms when set)';

CREATE FUNCTION ff.crc16(data bytea) RETURNS integer
    AS 'MODULE_PATHNAME', 'ff_crc16_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ff.crc16(bytea) IS
    'CRC-16/XMODEM of the bytes (the partition hash; crc16(''123456789'') = 12739 = 0x31C3)';

CREATE FUNCTION ff.solo_partition(lane_id text) RETURNS smallint
    AS 'MODULE_PATHNAME', 'ff_solo_partition_sql' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ff.solo_partition(text) IS
    'Partition of a solo execution on this lane: crc16(lane_id) mod num_flow_partitions';

CREATE FUNCTION ff.flow_partition(flow_id uuid) RETURNS smallint
    AS 'MODULE_PATHNAME', 'ff_flow_partition_sql' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ff.flow_partition(uuid) IS
    'Partition of a flow and its members: crc16(uuid bytes) mod num_flow_partitions';

CREATE FUNCTION ff.budget_partition(budget_id uuid) RETURNS smallint
    AS 'MODULE_PATHNAME', 'ff_budget_partition_sql' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ff.budget_partition(uuid) IS
    'Partition of a budget: crc16(uuid bytes) mod num_budget_partitions';

CREATE FUNCTION ff.quota_partition(quota_policy_id uuid) RETURNS smallint
    AS 'MODULE_PATHNAME', 'ff_quota_partition_sql' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ff.quota_partition(uuid) IS
    'Partition of a quota policy: crc16(uuid bytes) mod num_quota_partitions';

CREATE FUNCTION ff.execution_id(lane_id text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'ff_execution_id_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff.execution_id(text) IS
    'Mints a new solo execution id {fp:N}:<uuid v4> for the lane';

CREATE FUNCTION ff.flow_member_execution_id(flow_id uuid) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_flow_member_execution_id_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff.flow_member_execution_id(uuid) IS
    'Mints a new execution id co-located with the flow''s partition';

CREATE FUNCTION ff.parse_execution_id(execution_id text,
    OUT partition smallint, OUT execution_uuid uuid)
    AS 'MODULE_PATHNAME', 'ff_parse_execution_id_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ff.parse_execution_id(text) IS
    'Splits {fp:N}:<uuid> into its partition and uuid; raises 22P02 when malformed';

CREATE FUNCTION ff.format_execution_id(partition smallint, execution_uuid uuid) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_format_execution_id_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ff.format_execution_id(smallint, uuid) IS
    'Formats a partition and uuid as an execution id {fp:N}:<uuid>';

CREATE FUNCTION ff.set_partition_config(num_flow_partitions integer,
    num_budget_partitions integer DEFAULT 32, num_quota_partitions integer DEFAULT 32)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_set_partition_config' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_partition_config(integer, integer, integer) IS
    'Sets the partition counts; refused (55000) while executions exist with other counts';

-- ---- creating and claiming ----

CREATE FUNCTION ff.create_execution(
    execution_id text,
    namespace text DEFAULT 'default',
    lane_id text DEFAULT 'default',
    execution_kind text DEFAULT '',
    priority bigint DEFAULT 0,
    creator_identity text DEFAULT '',
    policy_json text DEFAULT NULL,
    input_payload bytea DEFAULT NULL,
    delay_until bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT 86400000,
    tags jsonb DEFAULT NULL,
    execution_deadline_at bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_execution(text, text, text, text, bigint, text, text, bytea, bigint, text, bigint, jsonb, bigint) IS
    'Submits an execution (spec §3.1): OK {execution_id, public_state} or DUPLICATE {execution_id}';

-- Bulk submit: one call, one transaction, each element exactly create_execution
-- with the shared options; distinct ids are written set-based (src/batch.c).
CREATE FUNCTION ff.create_executions(
    execution_ids text[],
    lane_id text DEFAULT 'default',
    input_payloads bytea[] DEFAULT NULL,
    namespace text DEFAULT 'default',
    priority bigint DEFAULT 0,
    policy_json text DEFAULT NULL,
    delay_until bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_executions' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_executions(text[], text, bytea[], text, bigint, text, bigint) IS
    'Submits up to 10000 executions of one lane in one call: {count, results: [create_execution envelope per item, in order]}';

CREATE FUNCTION ff.issue_claim_grant(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane_id text,
    capability_hash text DEFAULT NULL,
    grant_ttl_ms bigint DEFAULT 5000,
    route_snapshot_json text DEFAULT NULL,
    admission_summary text DEFAULT NULL,
    worker_capabilities_csv text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_issue_claim_grant' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.issue_claim_grant(text, text, text, text, text, bigint, text, text, text) IS
    'Reserves an eligible execution for one worker_id for grant_ttl_ms (spec §3.2)';

CREATE FUNCTION ff.claim_execution(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane text,
    capability_snapshot_hash text DEFAULT NULL,
    lease_id uuid DEFAULT NULL,
    lease_ttl_ms bigint DEFAULT 30000,
    renew_before_ms bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    attempt_policy_json text DEFAULT NULL,
    attempt_timeout_ms bigint DEFAULT NULL,
    execution_deadline_at bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_claim_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.claim_execution(text, text, text, text, text, uuid, bigint, bigint, uuid, text, bigint, bigint) IS
    'Claims a fresh attempt using a claim grant (spec §3.3); lease_id/attempt_id are minted when NULL';

CREATE FUNCTION ff.claim_resumed_execution(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane text,
    capability_snapshot_hash text DEFAULT NULL,
    lease_id uuid DEFAULT NULL,
    lease_ttl_ms bigint DEFAULT 30000,
    remaining_attempt_timeout_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_claim_resumed_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.claim_resumed_execution(text, text, text, text, text, uuid, bigint, bigint) IS
    'Continues an interrupted attempt using a claim grant (spec §3.4)';

CREATE FUNCTION ff.issue_grant_and_claim(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane text,
    capability_hash text DEFAULT NULL,
    lease_id uuid DEFAULT NULL,
    lease_ttl_ms bigint DEFAULT 30000,
    attempt_id uuid DEFAULT NULL,
    attempt_policy_json text DEFAULT NULL,
    attempt_timeout_ms bigint DEFAULT NULL,
    execution_deadline_at bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_issue_grant_and_claim' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.issue_grant_and_claim(text, text, text, text, text, uuid, bigint, uuid, text, bigint, bigint) IS
    'Operator grant + claim in one step, capabilities not checked (spec §3.5)';

CREATE FUNCTION ff.claim_next(
    lane_id text,
    worker_id text,
    worker_instance_id text,
    worker_capabilities text[] DEFAULT '{}',
    lease_ttl_ms bigint DEFAULT 30000,
    max_count integer DEFAULT 1,
    attempt_timeout_ms bigint DEFAULT NULL,
    reclaim boolean DEFAULT false)
    RETURNS TABLE (claim jsonb, input_payload bytea)
    AS 'MODULE_PATHNAME', 'ff_claim_next' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.claim_next(text, text, text, text[], bigint, integer, bigint, boolean) IS
    'Worker hot path: claims up to max_count of the lane''s best eligible executions (priority, then age), taking over expired or revoked leases first when reclaim is true; no row when idle';

-- ---- lease-bound operations ----

CREATE FUNCTION ff.renew_lease(
    execution_id text,
    attempt_index integer,
    attempt_id uuid,
    lease_id uuid,
    lease_epoch bigint,
    lease_ttl_ms bigint DEFAULT 30000,
    lease_history_grace_ms bigint DEFAULT 60000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_renew_lease' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.renew_lease(text, integer, uuid, uuid, bigint, bigint, bigint) IS
    'Extends the lease to now + lease_ttl_ms (spec §3.6); an expired lease is marked and refused';

CREATE FUNCTION ff.update_progress(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    progress_pct integer DEFAULT NULL,
    progress_message text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_update_progress' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.update_progress(text, uuid, bigint, integer, text) IS
    'Records progress of the running attempt (spec §3.7)';

CREATE FUNCTION ff.complete_execution(
    execution_id text,
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    result_payload bytea DEFAULT NULL,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_complete_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.complete_execution(text, uuid, bigint, uuid, bytea, text) IS
    'Completes the running attempt successfully (spec §3.8)';

CREATE FUNCTION ff.fail_execution(
    execution_id text,
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    failure_reason text DEFAULT '',
    failure_category text DEFAULT '',
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_fail_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.fail_execution(text, uuid, bigint, uuid, text, text, text) IS
    'Fails the running attempt: retry_scheduled per the policy''s retry_policy, else terminal_failed (spec §3.9)';

CREATE FUNCTION ff.lane_channel(lane_id text) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_lane_channel_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ff.lane_channel(text) IS
    'The NOTIFY channel announcing that executions of the lane became claimable: EXECUTE format(''LISTEN %I'', ff.lane_channel(lane))';

-- Batched forms: one transaction completes or fails many leased executions,
-- each with its own fence and its own envelope in "results".
CREATE FUNCTION ff.complete_executions(
    execution_ids text[],
    lease_ids uuid[],
    lease_epochs bigint[],
    attempt_ids uuid[],
    result_payloads bytea[] DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_complete_executions' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.complete_executions(text[], uuid[], bigint[], uuid[], bytea[]) IS
    'complete_execution for up to 1000 leased executions at once: {count, succeeded, results: [envelope per item]}';

CREATE FUNCTION ff.fail_executions(
    execution_ids text[],
    lease_ids uuid[],
    lease_epochs bigint[],
    attempt_ids uuid[],
    failure_reasons text[] DEFAULT NULL,
    failure_category text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_fail_executions' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.fail_executions(text[], uuid[], bigint[], uuid[], text[], text) IS
    'fail_execution for up to 1000 leased executions at once (retry per each policy): {count, succeeded, results}';

CREATE FUNCTION ff.cancel_execution(
    execution_id text,
    reason text DEFAULT '',
    source text DEFAULT 'operator_override',
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_cancel_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.cancel_execution(text, text, text, uuid, bigint) IS
    'Cancels a non-terminal execution (spec §3.10); an active one needs its lease unless source = operator_override';

CREATE FUNCTION ff.delay_execution(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    delay_until bigint,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_delay_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.delay_execution(text, uuid, bigint, uuid, bigint, text) IS
    'Parks the running attempt until delay_until; it resumes on the same attempt (spec §3.11)';

CREATE FUNCTION ff.move_to_waiting_children(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_move_to_waiting_children' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.move_to_waiting_children(text, uuid, bigint, uuid, text) IS
    'Parks the running attempt until its child executions complete (spec §3.12)';

CREATE FUNCTION ff.mark_lease_expired_if_due(execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_mark_lease_expired_if_due' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.mark_lease_expired_if_due(text) IS
    'Marks a lease past its expiry as lease_expired_reclaimable (spec §3.17)';

-- ---- scheduling ----

CREATE FUNCTION ff.promote_delayed(execution_id text, now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_promote_delayed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.promote_delayed(text, bigint) IS
    'Makes a due delayed execution eligible, keeping its attempt_state (spec §3.13)';

CREATE FUNCTION ff.change_priority(execution_id text, new_priority bigint)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_change_priority' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.change_priority(text, bigint) IS
    'Changes the priority (clamped to 0..9000) of an eligible execution (spec §3.16)';

-- ---- tags ----

CREATE FUNCTION ff.set_execution_tags(execution_id text, VARIADIC pairs text[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_execution_tags' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_execution_tags(text, text[]) IS
    'Upserts key/value tag pairs; keys must look like app.field (spec §3.23)';

-- ---- lease recovery (spec §3.18-§3.20) ----

CREATE FUNCTION ff.revoke_lease(
    execution_id text,
    expected_lease_id uuid DEFAULT NULL,
    revoke_reason text DEFAULT 'operator')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_revoke_lease' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.revoke_lease(text, uuid, text) IS
    'Takes the lease away from its holder at once; the execution waits for a reclaim (spec §3.18)';

CREATE FUNCTION ff.issue_reclaim_grant(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane_id text,
    capability_hash text DEFAULT NULL,
    grant_ttl_ms bigint DEFAULT 5000,
    route_snapshot_json text DEFAULT NULL,
    admission_summary text DEFAULT NULL,
    worker_capabilities_csv text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_issue_reclaim_grant' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.issue_reclaim_grant(text, text, text, text, text, bigint, text, text, text) IS
    'Reserves an execution whose lease expired or was revoked for one worker_id (spec §3.19)';

CREATE FUNCTION ff.reclaim_execution(
    execution_id text,
    worker_id text,
    worker_instance_id text,
    lane text,
    lease_id uuid DEFAULT NULL,
    lease_ttl_ms bigint DEFAULT 30000,
    attempt_id uuid DEFAULT NULL,
    attempt_policy_json text DEFAULT NULL,
    default_max_reclaim_count bigint DEFAULT 100)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reclaim_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reclaim_execution(text, text, text, text, uuid, bigint, uuid, text, bigint) IS
    'Takes over an expired or revoked lease with a new attempt of type reclaim, within the reclaim cap (spec §3.20)';

-- ---- expiry, replay, admission (spec §3.14, §3.15, §3.21, §3.22) ----

CREATE FUNCTION ff.expire_execution(execution_id text, expire_reason text DEFAULT 'attempt_timeout')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_expire_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.expire_execution(text, text) IS
    'Ends a non-terminal execution as expired (attempt_timeout or execution_deadline; spec §3.21)';

CREATE FUNCTION ff.replay_execution(execution_id text, requested_by text DEFAULT NULL, reason text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_replay_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.replay_execution(text, text, text) IS
    'Runs a terminal execution again with a new replay attempt (spec §3.22)';

CREATE FUNCTION ff.block_execution_for_admission(
    execution_id text,
    blocking_reason text,
    blocking_detail text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_block_execution_for_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.block_execution_for_admission(text, text, text, bigint) IS
    'Holds an eligible execution back for budget, quota, route, operator or policy (spec §3.14)';

CREATE FUNCTION ff.unblock_execution(
    execution_id text,
    now_ms bigint DEFAULT NULL,
    expected_blocking_reason text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_unblock_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.unblock_execution(text, bigint, text) IS
    'Releases a budget, quota, route or operator block back to its place in the queue (spec §3.15)';
-- ff_engine install script: attempt output streams (spec §3.24-§3.27).

CREATE FUNCTION ff.append_frame(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    frame_type text,
    payload bytea,
    ts bigint DEFAULT NULL,
    encoding text DEFAULT 'utf8',
    correlation_id text DEFAULT NULL,
    source text DEFAULT 'worker',
    retention_maxlen integer DEFAULT 0,
    attempt_id uuid DEFAULT NULL,
    max_payload_bytes integer DEFAULT 65536,
    stream_mode text DEFAULT 'durable',
    patch_kind text DEFAULT NULL,
    ttl_ms bigint DEFAULT 0,
    maxlen_floor integer DEFAULT 0,
    maxlen_ceiling integer DEFAULT 0,
    ema_alpha double precision DEFAULT 0)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_append_frame' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.append_frame(text, integer, uuid, bigint, text, bytea, bigint, text, text, text, integer, uuid, integer, text, text, bigint, integer, integer, double precision) IS
    'Appends a frame to the running attempt''s stream: OK {entry_id, frame_count, summary_version} (spec §3.24)';

CREATE FUNCTION ff.read_attempt_stream(
    execution_id text,
    attempt_index integer,
    from_id text DEFAULT 'start',
    to_id text DEFAULT 'end',
    count_limit integer DEFAULT 100,
    visibility text DEFAULT 'all')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_read_attempt_stream' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.read_attempt_stream(text, integer, text, text, integer, text) IS
    'Entries of an attempt stream between two ids, inclusive: OK {entries, closed_at, closed_reason} (spec §3.25)';

CREATE FUNCTION ff.tail_attempt_stream(
    execution_id text,
    attempt_index integer,
    after text DEFAULT '0-0',
    block_ms integer DEFAULT 0,
    count_limit integer DEFAULT 100,
    visibility text DEFAULT 'all')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_tail_attempt_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.tail_attempt_stream(text, integer, text, integer, integer, text) IS
    'Entries after a cursor, waiting up to block_ms (<= 30000) for the next append (spec §3.26)';

CREATE FUNCTION ff.read_summary(execution_id text, attempt_index integer)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_read_summary' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.read_summary(text, integer) IS
    'The summary document of a summary-mode stream: OK {document, version, patch_kind, last_updated_ms, first_applied_ms} (spec §3.27)';

CREATE FUNCTION ff.read_stream_meta(execution_id text, attempt_index integer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'stream_id', $1 || ':' || $2, 'attempt_id', m.attempt_id, 'created_at', m.created_at,
            'frame_count', m.frame_count, 'retained_count', m.retained_count, 'total_bytes', m.total_bytes,
            'last_sequence', CASE WHEN m.last_seq >= 0 THEN m.last_ts || '-' || m.last_seq END,
            'last_frame_at', m.last_frame_at, 'has_durable_frame', m.has_durable_frame,
            'retention_maxlen', m.retention_maxlen, 'ema_rate_hz', m.ema_rate_hz,
            'maxlen_applied_last', m.maxlen_applied_last, 'frames_expire_at', m.frames_expire_at,
            'closed_at', m.closed_at, 'closed_reason', m.closed_reason)
         FROM ff.stream_meta m, ff.parse_execution_id($1) p
         WHERE m.partition = p.partition AND m.execution_id = p.execution_uuid AND m.attempt_index = $2
           AND EXISTS (SELECT 1 FROM ff.visible_execution v WHERE v.partition = p.partition AND v.execution_id = p.execution_uuid)),
        '{"ok": false, "error": "stream_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_stream_meta(text, integer) IS
    'Stream meta: frame count, bytes, last sequence, close markers, best-effort state';
-- ff_engine install script: flows, edges, edge groups (spec/flows.md §3).

CREATE FUNCTION ff.create_flow(flow_id uuid, flow_kind text DEFAULT '', namespace text DEFAULT 'default')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_flow(uuid, text, text) IS
    'Creates a flow (spec §3.1): OK {flow_id, partition} or ALREADY_SATISFIED';

CREATE FUNCTION ff.add_execution_to_flow(flow_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_add_execution_to_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.add_execution_to_flow(uuid, text) IS
    'Adds an execution minted in the flow''s partition to the flow (spec §3.2): OK {execution_id, node_count}';

CREATE FUNCTION ff.set_flow_tags(flow_id uuid, VARIADIC pairs text[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_flow_tags' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_flow_tags(uuid, text[]) IS
    'Upserts key/value tag pairs on a flow; keys like app.field (spec §3.3)';

CREATE FUNCTION ff.set_edge_group_policy(flow_id uuid, downstream_execution_id text, policy_variant text,
    on_satisfied text DEFAULT NULL, k bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_edge_group_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_edge_group_policy(uuid, text, text, text, bigint) IS
    'Sets all_of / any_of / quorum (k) for a downstream before its first edge is applied (spec §3.4)';

CREATE FUNCTION ff.stage_dependency_edge(flow_id uuid, edge_id uuid, upstream_execution_id text,
    downstream_execution_id text, expected_graph_revision bigint,
    dependency_kind text DEFAULT 'success_only', data_passing_ref text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_stage_dependency_edge' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.stage_dependency_edge(uuid, uuid, text, text, bigint, text, text) IS
    'Stages a flow edge after the cycle check: OK {edge_id, graph_revision} (spec §3.5)';

CREATE FUNCTION ff.apply_dependency_to_child(flow_id uuid, edge_id uuid, downstream_execution_id text,
    upstream_execution_id text, graph_revision bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_apply_dependency_to_child' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.apply_dependency_to_child(uuid, uuid, text, text, bigint) IS
    'Records a staged edge on its child and blocks the child: OK {unresolved} (spec §3.6)';

CREATE FUNCTION ff.add_dependency(flow_id uuid, upstream_execution_id text, downstream_execution_id text,
    edge_id uuid DEFAULT NULL, dependency_kind text DEFAULT 'success_only', data_passing_ref text DEFAULT NULL,
    expected_graph_revision bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_add_dependency' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.add_dependency(uuid, text, text, uuid, text, text, bigint) IS
    'Stages and applies an edge in one step: OK {edge_id, graph_revision, unresolved} (spec §3.7)';

CREATE FUNCTION ff.resolve_dependency(flow_id uuid, edge_id uuid, upstream_outcome text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_resolve_dependency' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.resolve_dependency(uuid, uuid, text) IS
    'Resolves one applied edge with its upstream''s outcome (spec §3.8); the dispatcher calls it for you';

CREATE FUNCTION ff.dispatch_completions(max_events integer DEFAULT 100)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_dispatch_completions' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.dispatch_completions(integer) IS
    'Resolves the downstream edges of up to max_events completion events, oldest first (spec §5.3)';

CREATE FUNCTION ff._reconcile_dependencies_of(execution_id text)
    RETURNS integer AS 'MODULE_PATHNAME', 'ff_reconcile_dependencies_of' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._reconcile_dependencies_of(text) IS
    'Internal: resolves a child''s unresolved edges whose upstream already ended';

CREATE FUNCTION ff.cancel_flow(flow_id uuid, reason text DEFAULT '', cancellation_policy text DEFAULT 'cancel_all',
    grace_ms bigint DEFAULT 30000, wait boolean DEFAULT true)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_cancel_flow' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.cancel_flow(uuid, text, text, bigint, boolean) IS
    'Cancels a flow and (cancel_all / cancel_pending) its members, now or after grace_ms (spec §3.12)';

CREATE FUNCTION ff.ack_cancel_member(flow_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_ack_cancel_member' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.ack_cancel_member(uuid, text) IS
    'Marks a member''s owed cancel as done (spec §3.12.4)';

-- ---- read models (§3.15) ----

CREATE VIEW ff.flows AS
SELECT f.flow_id, f.partition, f.flow_kind, f.namespace, f.public_flow_state, f.graph_revision,
       f.node_count, f.edge_count, f.created_at, f.last_mutation_at, f.cancelled_at, f.cancel_reason,
       f.cancellation_policy, f.tags, s.public_flow_state AS summary_state
FROM ff.flow f LEFT JOIN ff.flow_summary s ON s.partition = f.partition AND s.flow_id = f.flow_id;
COMMENT ON VIEW ff.flows IS 'Every flow with its core state and its projected summary state';

CREATE VIEW ff.flow_edges AS
SELECT e.flow_id, e.edge_id, ff.format_execution_id(e.partition, e.upstream_execution_id) AS upstream_execution_id,
       ff.format_execution_id(e.partition, e.downstream_execution_id) AS downstream_execution_id,
       e.dependency_kind, e.data_passing_ref, e.created_at, d.state AS dependency_state, d.last_resolved_at
FROM ff.flow_edge e
LEFT JOIN ff.dependency d ON d.partition = e.partition AND d.downstream_execution_id = e.downstream_execution_id
                         AND d.edge_id = e.edge_id;
COMMENT ON VIEW ff.flow_edges IS 'Every edge with its resolution state on the child (NULL while staged only)';

CREATE VIEW ff.edge_groups AS
SELECT g.flow_id, ff.format_execution_id(g.partition, g.downstream_execution_id) AS downstream_execution_id,
       g.policy_variant, g.on_satisfied, CASE WHEN g.policy_variant = 'quorum' THEN g.k ELSE 1 END AS k,
       g.n, g.succeeded, g.failed, g.skipped, greatest(0, g.n - g.succeeded - g.failed - g.skipped) AS running,
       g.group_state, g.satisfied_at, g.cancel_siblings_pending, g.cancel_siblings_reason
FROM ff.edge_group g;
COMMENT ON VIEW ff.edge_groups IS 'Every edge group with its counters (running = n - succeeded - failed - skipped)';

CREATE FUNCTION ff.describe_flow(flow_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK', 'flow_id', f.flow_id, 'flow_kind', f.flow_kind,
            'namespace', f.namespace, 'public_flow_state', f.public_flow_state,
            'graph_revision', f.graph_revision, 'node_count', f.node_count, 'edge_count', f.edge_count,
            'created_at', f.created_at, 'last_mutation_at', f.last_mutation_at,
            'cancelled_at', f.cancelled_at, 'cancel_reason', f.cancel_reason,
            'cancellation_policy', f.cancellation_policy, 'tags', f.tags,
            'edge_groups', COALESCE((SELECT jsonb_agg(to_jsonb(g) - 'flow_id' ORDER BY g.downstream_execution_id)
                                     FROM ff.edge_groups g WHERE g.flow_id = f.flow_id), '[]'::jsonb))
         FROM ff.flow f WHERE f.partition = ff.flow_partition($1) AND f.flow_id = $1),
        '{"ok": false, "error": "flow_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_flow(uuid) IS 'A flow, its tags and one entry per edge group';

CREATE FUNCTION ff.describe_edge(flow_id uuid, edge_id uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT jsonb_build_object('ok', true, 'status', 'OK') || to_jsonb(e)
                     FROM ff.flow_edges e WHERE e.flow_id = $1 AND e.edge_id = $2),
                    '{"ok": false, "error": "edge_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_edge(uuid, uuid) IS 'One edge and its resolution state';

CREATE FUNCTION ff.list_edges(flow_id uuid, execution_id text, direction text DEFAULT 'outgoing')
RETURNS SETOF ff.flow_edges LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF direction NOT IN ('outgoing', 'incoming') THEN
        RAISE EXCEPTION 'direction must be outgoing or incoming, got "%"', direction USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT * FROM ff.flow_edges e WHERE e.flow_id = list_edges.flow_id
        AND CASE WHEN direction = 'outgoing' THEN e.upstream_execution_id ELSE e.downstream_execution_id END
            = ff.format_execution_id((ff.parse_execution_id(execution_id)).partition,
                                     (ff.parse_execution_id(execution_id)).execution_uuid)
        ORDER BY e.created_at, e.edge_id;
END $$;
COMMENT ON FUNCTION ff.list_edges(uuid, text, text) IS 'The outgoing (or incoming) edges of a member';

CREATE FUNCTION ff.list_flows(partition smallint, cursor uuid DEFAULT NULL, page_limit integer DEFAULT 100)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    rows jsonb;
    more boolean;
BEGIN
    IF page_limit IS NULL OR page_limit < 0 OR page_limit > 1000 THEN
        RAISE EXCEPTION 'page_limit must be between 0 and 1000, got %', page_limit USING ERRCODE = '22023';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('flow_id', x.flow_id, 'created_at', x.created_at,
                                        'status', x.public_flow_state) ORDER BY x.flow_id),
           count(*) > page_limit
      INTO rows, more
      FROM (SELECT f.flow_id, f.created_at, f.public_flow_state FROM ff.flow f
            WHERE f.partition = list_flows.partition AND (cursor IS NULL OR f.flow_id > cursor)
            ORDER BY f.flow_id LIMIT page_limit + 1) x;
    IF more THEN
        rows := rows - page_limit;
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'flows', coalesce(rows, '[]'::jsonb),
                              'next_cursor', CASE WHEN more THEN rows -> (page_limit - 1) -> 'flow_id' END);
END $$;
COMMENT ON FUNCTION ff.list_flows(smallint, uuid, integer) IS
    'Flows of a partition by id, page by page (every flow until purged, not only live ones)';
-- ff_engine install script: RFC-016 sibling cancellation (spec/flows.md §3.10, §3.11, §6.2, §6.3).

-- How many sibling cancels the dispatcher attempted, by reason and disposition.
CREATE TABLE ff.sibling_cancel_stat (
    reason       text NOT NULL,
    disposition  text NOT NULL CHECK (disposition IN ('cancelled', 'already_terminal', 'not_found')),
    count        bigint NOT NULL,
    PRIMARY KEY (reason, disposition)
);
CREATE VIEW ff.sibling_cancel_status AS
SELECT reason, sum(count) AS dispatched,
       sum(count) FILTER (WHERE disposition = 'cancelled') AS cancelled,
       sum(count) FILTER (WHERE disposition = 'already_terminal') AS already_terminal,
       sum(count) FILTER (WHERE disposition = 'not_found') AS not_found,
       (SELECT count(*) FROM ff.pending_cancel_group) AS groups_pending
FROM ff.sibling_cancel_stat GROUP BY reason;
COMMENT ON VIEW ff.sibling_cancel_status IS
    'Sibling cancels dispatched, by reason and disposition, and the groups still pending';

CREATE FUNCTION ff.drain_sibling_cancel_group(flow_id uuid, downstream_execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_drain_sibling_cancel_group' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.drain_sibling_cancel_group(uuid, text) IS
    'Removes a sibling-cancel request: drained / already_drained / drained_sans_group (spec §3.10)';

CREATE FUNCTION ff.reconcile_sibling_cancel_group(flow_id uuid, downstream_execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reconcile_sibling_cancel_group' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reconcile_sibling_cancel_group(uuid, text) IS
    'Finishes a sibling-cancel request a crash left behind; never cancels (spec §3.11)';

CREATE FUNCTION ff.scan_edge_cancel_dispatch(batch_size integer DEFAULT 50)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_edge_cancel_dispatch' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_edge_cancel_dispatch(integer) IS
    'Cancels the losing siblings of decided any_of/quorum groups and drains the requests, one batch (spec §6.2)';

CREATE FUNCTION ff.scan_edge_cancel_reconcile(batch_size integer DEFAULT 50)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_edge_cancel_reconcile' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_edge_cancel_reconcile(integer) IS
    'Finalises sibling-cancel requests left behind by a crash (Invariant Q6), one batch (spec §6.3)';
-- ff_engine install script: suspension, waitpoints, signals and waitpoint
-- tokens (spec/suspension.md).  The state-changing operations are C; the
-- keystore administration and the read models are SQL over the tables.

CREATE FUNCTION ff.suspend_execution(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    suspension_id uuid,
    waitpoint_id uuid,
    waitpoint_key text,
    reason_code text,
    resume_condition jsonb,
    timeout_at bigint DEFAULT NULL,
    timeout_behavior text DEFAULT 'fail',
    requested_by text DEFAULT 'worker',
    resume_policy jsonb DEFAULT NULL,
    continuation_metadata_pointer text DEFAULT NULL,
    use_pending_waitpoint boolean DEFAULT false,
    idempotency_key text DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT NULL,
    extra_waitpoint_ids uuid[] DEFAULT NULL,
    extra_waitpoint_keys text[] DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_suspend_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.suspend_execution(text, integer, uuid, bigint, uuid, uuid, uuid, text, text, jsonb, bigint, text, text, jsonb, text, boolean, text, bigint, uuid[], text[]) IS
    'The lease holder suspends its attempt on waitpoints until a resume condition, an operator or a timeout (suspension spec §4.1)';

CREATE FUNCTION ff.create_pending_waitpoint(
    execution_id text,
    attempt_index integer,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    waitpoint_id uuid,
    waitpoint_key text,
    expires_at bigint)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_pending_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_pending_waitpoint(text, integer, uuid, bigint, uuid, uuid, text, bigint) IS
    'Creates a waitpoint (and its token) before suspending, so early signals are buffered (suspension spec §4.2)';

CREATE FUNCTION ff.close_waitpoint(
    execution_id text,
    waitpoint_id uuid,
    reason text DEFAULT 'proactive_close',
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    source text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_close_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.close_waitpoint(text, uuid, text, uuid, bigint, uuid, text) IS
    'Closes a pending waitpoint; fenced by the lease, or source => operator_override (suspension spec §4.3)';

CREATE FUNCTION ff.deliver_signal(
    execution_id text,
    waitpoint_id uuid,
    signal_id uuid,
    signal_name text,
    waitpoint_token text,
    payload bytea DEFAULT NULL,
    signal_category text DEFAULT '',
    source_type text DEFAULT '',
    source_identity text DEFAULT '',
    idempotency_key text DEFAULT '',
    correlation_id text DEFAULT '',
    payload_encoding text DEFAULT 'json',
    target_scope text DEFAULT 'waitpoint',
    created_at bigint DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT 86400000,
    resume_delay_ms bigint DEFAULT 0,
    max_signals_per_execution integer DEFAULT 10000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_deliver_signal' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.deliver_signal(text, uuid, uuid, text, text, bytea, text, text, text, text, text, text, text, bigint, bigint, bigint, integer) IS
    'Delivers a signal to a waitpoint, authorised by its token; resumes the execution when the condition is met (suspension spec §4.4)';

CREATE FUNCTION ff.buffer_signal_for_pending_waitpoint(
    execution_id text,
    waitpoint_id uuid,
    signal_id uuid,
    signal_name text,
    waitpoint_token text,
    payload bytea DEFAULT NULL,
    signal_category text DEFAULT '',
    source_type text DEFAULT '',
    source_identity text DEFAULT '',
    idempotency_key text DEFAULT '',
    correlation_id text DEFAULT '',
    payload_encoding text DEFAULT 'json',
    target_scope text DEFAULT 'waitpoint',
    created_at bigint DEFAULT NULL,
    dedup_ttl_ms bigint DEFAULT 86400000,
    resume_delay_ms bigint DEFAULT 0,
    max_signals_per_execution integer DEFAULT 10000)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_buffer_signal_for_pending_waitpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.buffer_signal_for_pending_waitpoint(text, uuid, uuid, text, text, bytea, text, text, text, text, text, text, text, bigint, bigint, bigint, integer) IS
    'Records a signal for a pending waitpoint, evaluated when a suspend activates it; a full delivery on an active one (suspension spec §4.5)';

CREATE FUNCTION ff.resume_execution(
    execution_id text,
    trigger_type text DEFAULT 'operator',
    resume_delay_ms bigint DEFAULT 0)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_resume_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.resume_execution(text, text, bigint) IS
    'Operator resume of a suspended execution, optionally after a delay (suspension spec §4.6)';

CREATE FUNCTION ff.expire_suspension(execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_expire_suspension' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.expire_suspension(text) IS
    'Applies a due suspension''s timeout behaviour: fail, cancel, expire, auto_resume or escalate (suspension spec §4.7)';

-- ---- waitpoint HMAC keystore (§5.4, §5.8) ----

CREATE FUNCTION ff._hmac_sha1_hex(key bytea, message bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_hmac_sha1_hex_sql' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION ff._hmac_sha1_hex(bytea, bytea) IS 'Internal: HMAC-SHA1 as 40 hex digits (token digests)';
REVOKE ALL ON FUNCTION ff._hmac_sha1_hex(bytea, bytea) FROM PUBLIC;

CREATE FUNCTION ff._random_secret() RETURNS bytea
    AS 'MODULE_PATHNAME', 'ff_random_secret_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._random_secret() IS 'Internal: 32 random bytes for a waitpoint key';
REVOKE ALL ON FUNCTION ff._random_secret() FROM PUBLIC;

-- A working keystore from the start: kid k1 with a random secret that never
-- leaves the database.  Rotate to your own secret with
-- ff.rotate_waitpoint_hmac_secret.
INSERT INTO ff.waitpoint_hmac_key (kid, secret, is_current, installed_at)
VALUES ('k1', ff._random_secret(), true, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);

-- The input checks shared by seed and rotate: NULL when fine, else the code.
CREATE FUNCTION ff._hmac_input_error(kid text, secret_hex text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN kid IS NULL OR kid = '' OR position(':' IN kid) > 0 OR octet_length(kid) > 256 THEN 'invalid_kid'
        WHEN secret_hex IS NULL OR secret_hex !~ '^([0-9a-fA-F]{2})+$' OR length(secret_hex) > 1024 THEN 'invalid_secret_hex'
    END
$$;
COMMENT ON FUNCTION ff._hmac_input_error(text, text) IS 'Internal: kid / secret input check';

CREATE FUNCTION ff.rotate_waitpoint_hmac_secret(new_kid text, new_secret_hex text, grace_ms numeric DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    err text := ff._hmac_input_error(new_kid, new_secret_hex);
    secret bytea;
    now_ bigint := ff.now_ms();
    cur ff.waitpoint_hmac_key;
    other ff.waitpoint_hmac_key;
    gc integer;
    grace bigint;
BEGIN
    IF err IS NOT NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', err);
    END IF;
    IF grace_ms IS NULL THEN
        grace := coalesce(ff._setting_ms('ff_engine.waitpoint_hmac_grace'), 86400000);
    ELSIF grace_ms < 0 OR grace_ms <> trunc(grace_ms) OR grace_ms > 9007199254740991 THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_grace_ms');
    ELSE
        grace := grace_ms::bigint;
    END IF;
    secret := decode(new_secret_hex, 'hex');
    -- one rotation at a time; readers (token checks) are not blocked
    LOCK TABLE ff.waitpoint_hmac_key IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO cur FROM ff.waitpoint_hmac_key k WHERE k.is_current;
    IF FOUND AND cur.kid = new_kid THEN
        -- Appendix C #25: the decoded bytes are compared, not the hex text
        IF cur.secret = secret THEN
            RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'noop', 'kid', new_kid);
        END IF;
        RETURN jsonb_build_object('ok', false, 'error', 'rotation_conflict', 'kid', new_kid);
    END IF;
    SELECT * INTO other FROM ff.waitpoint_hmac_key k WHERE k.kid = new_kid;
    IF FOUND AND other.secret <> secret THEN
        -- Appendix C #24: an older kid is never re-keyed
        RETURN jsonb_build_object('ok', false, 'error', 'rotation_conflict', 'kid', new_kid);
    END IF;
    -- garbage: kids whose grace has passed (a kid expiring now still verifies)
    WITH gone AS (DELETE FROM ff.waitpoint_hmac_key k
                  WHERE NOT k.is_current AND k.kid <> new_kid
                    AND (k.expires_at IS NULL OR k.expires_at <= 0 OR k.expires_at < now_)
                  RETURNING 1)
    SELECT count(*) INTO gc FROM gone;
    IF cur.kid IS NOT NULL THEN
        UPDATE ff.waitpoint_hmac_key k SET is_current = false, expires_at = now_ + grace WHERE k.kid = cur.kid;
    END IF;
    INSERT INTO ff.waitpoint_hmac_key AS k (kid, secret, is_current, expires_at, installed_at)
    VALUES (new_kid, secret, true, NULL, now_)
    ON CONFLICT (kid) DO UPDATE SET is_current = true, expires_at = NULL;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'rotated',
                              'previous_kid', coalesce(cur.kid, ''), 'new_kid', new_kid, 'gc_count', gc);
END $$;
COMMENT ON FUNCTION ff.rotate_waitpoint_hmac_secret(text, text, numeric) IS
    'Makes new_kid the signing key; tokens of the previous kid verify for grace_ms more (default ff_engine.waitpoint_hmac_grace)';

CREATE FUNCTION ff.seed_waitpoint_hmac_secret(kid text, secret_hex text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    err text := ff._hmac_input_error(kid, secret_hex);
    cur ff.waitpoint_hmac_key;
BEGIN
    IF err IS NOT NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', err);
    END IF;
    LOCK TABLE ff.waitpoint_hmac_key IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO cur FROM ff.waitpoint_hmac_key k WHERE k.is_current;
    IF NOT FOUND THEN
        INSERT INTO ff.waitpoint_hmac_key (kid, secret, is_current, installed_at)
        VALUES (seed_waitpoint_hmac_secret.kid, decode(secret_hex, 'hex'), true, ff.now_ms())
        ON CONFLICT ON CONSTRAINT waitpoint_hmac_key_pkey DO UPDATE SET secret = EXCLUDED.secret, is_current = true, expires_at = NULL;
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'seeded', 'kid', kid);
    ELSIF cur.kid = seed_waitpoint_hmac_secret.kid THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'already_seeded', 'kid', kid,
                                  'same_secret', cur.secret = decode(secret_hex, 'hex'));
    END IF;
    RETURN jsonb_build_object('ok', false, 'error', 'invalid_input',
                              'detail', format('kid %s is current, not %s', cur.kid, kid));
END $$;
COMMENT ON FUNCTION ff.seed_waitpoint_hmac_secret(text, text) IS
    'Installs the first waitpoint key when the keystore has none (idempotent)';

CREATE FUNCTION ff.list_waitpoint_hmac_kids() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('ok', true, 'status', 'OK',
        'current_kid', coalesce((SELECT k.kid FROM ff.waitpoint_hmac_key k WHERE k.is_current), ''),
        'kids', coalesce((SELECT jsonb_agg(jsonb_build_object('kid', k.kid, 'expires_at', k.expires_at) ORDER BY k.kid)
                          FROM ff.waitpoint_hmac_key k
                          WHERE NOT k.is_current AND k.expires_at >= ff.now_ms()), '[]'))
$$;
COMMENT ON FUNCTION ff.list_waitpoint_hmac_kids() IS
    'The current kid and the older kids whose tokens still verify, with their expiry';

REVOKE ALL ON FUNCTION ff.rotate_waitpoint_hmac_secret(text, text, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION ff.seed_waitpoint_hmac_secret(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ff.list_waitpoint_hmac_kids() FROM PUBLIC;

-- ---- read models (§4.10) ----

CREATE FUNCTION ff.observe_signals(execution_id text, attempt_index integer)
RETURNS TABLE (signal_id uuid, signal_name text, signal_category text, source_type text,
               source_identity text, correlation_id text, accepted_at bigint, payload bytea)
LANGUAGE sql STABLE AS $$
    SELECT g.signal_id, g.signal_name, g.signal_category, g.source_type, g.source_identity,
           g.correlation_id, g.accepted_at, g.payload
    FROM ff.parse_execution_id($1) p
    JOIN ff.suspension s ON s.partition = p.partition AND s.execution_id = p.execution_uuid
    JOIN ff.visible_execution v ON v.partition = s.partition AND v.execution_id = s.execution_id
    CROSS JOIN LATERAL pg_catalog.unnest(CASE WHEN cardinality(s.all_satisfier_signals) > 0
            THEN s.all_satisfier_signals
            ELSE (SELECT w.cond_signal_ids FROM ff.waitpoint w
                  WHERE w.partition = s.partition AND w.waitpoint_id = s.primary_waitpoint_id) END)
        WITH ORDINALITY AS u(id, ord)
    JOIN ff.signal g ON g.partition = s.partition AND g.signal_id = u.id
    WHERE s.attempt_index = $2 AND s.close_reason = 'resumed'
    ORDER BY u.ord
$$;
COMMENT ON FUNCTION ff.observe_signals(text, integer) IS
    'The signals that resumed this attempt''s last suspension, with payloads (empty after a timeout or for another attempt)';

CREATE FUNCTION ff.list_pending_waitpoints(execution_id text, after uuid DEFAULT NULL, "limit" integer DEFAULT 100)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    k record;
    n integer := least(greatest(coalesce("limit", 100), 1), 1000);
    rows jsonb;
    more boolean;
BEGIN
    SELECT p.partition, p.execution_uuid INTO k FROM ff.parse_execution_id(execution_id) p;
    IF NOT EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = k.partition AND e.execution_id = k.execution_uuid) THEN
        RETURN '{"ok": false, "error": "execution_not_found"}';
    END IF;
    WITH page AS (
        SELECT w.* FROM ff.waitpoint w
        WHERE w.partition = k.partition AND w.execution_id = k.execution_uuid
          AND w.state IN ('pending', 'active') AND w.token <> ''
          AND (after IS NULL OR w.waitpoint_id > after)
        ORDER BY w.waitpoint_id LIMIT n + 1)
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'waitpoint_id', w.waitpoint_id, 'waitpoint_key', w.waitpoint_key, 'state', w.state,
               'required_signal_names', to_jsonb(ARRAY(SELECT x FROM unnest(w.cond_names) x WHERE x <> '')),
               'created_at', w.created_at, 'activated_at', w.activated_at, 'expires_at', w.expires_at,
               'execution_id', list_pending_waitpoints.execution_id, 'token_kid', split_part(w.token, ':', 1),
               'token_fingerprint', left(substr(w.token, position(':' IN w.token) + 1), 16)))
               ORDER BY w.waitpoint_id) FILTER (WHERE w.rn <= n), '[]'),
           count(*) > n
      INTO rows, more
      FROM (SELECT page.*, row_number() OVER (ORDER BY page.waitpoint_id) AS rn FROM page) w;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'waitpoints', rows,
                              'next_cursor', CASE WHEN more THEN rows -> (n - 1) -> 'waitpoint_id' END);
END $$;
COMMENT ON FUNCTION ff.list_pending_waitpoints(text, uuid, integer) IS
    'Open (pending and active) waitpoints of an execution with the token''s kid and fingerprint, never the token; pages by waitpoint_id';

CREATE FUNCTION ff.read_waitpoint_token(execution_id text, waitpoint_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT nullif(w.token, '') FROM ff.parse_execution_id($1) p
    JOIN ff.waitpoint w ON w.partition = p.partition AND w.waitpoint_id = $2
$$;
COMMENT ON FUNCTION ff.read_waitpoint_token(text, uuid) IS
    'The stored token of a waitpoint (a bearer credential: operators only)';
REVOKE ALL ON FUNCTION ff.read_waitpoint_token(text, uuid) FROM PUBLIC;

CREATE FUNCTION ff.list_suspended("limit" integer DEFAULT 100, after_suspended_at bigint DEFAULT NULL,
                                  after_execution_id text DEFAULT NULL)
RETURNS TABLE (execution_id text, lane_id text, reason_code text, suspended_at bigint,
               timeout_at bigint, timeout_behavior text, waitpoint_id uuid)
LANGUAGE sql STABLE AS $$
    SELECT ff.format_execution_id(s.partition, s.execution_id), e.lane_id, s.reason_code, s.created_at,
           s.timeout_at, s.timeout_behavior, s.primary_waitpoint_id
    FROM ff.suspension s
    JOIN ff.visible_execution e ON e.partition = s.partition AND e.execution_id = s.execution_id
    WHERE s.closed_at IS NULL AND e.lifecycle_phase = 'suspended'
      AND ($2 IS NULL OR (s.created_at, s.partition, s.execution_id) >
           ($2, (ff.parse_execution_id(coalesce($3, '{fp:0}:00000000-0000-0000-0000-000000000000'))).partition,
                (ff.parse_execution_id(coalesce($3, '{fp:0}:00000000-0000-0000-0000-000000000000'))).execution_uuid))
    ORDER BY s.created_at, s.partition, s.execution_id
    LIMIT least(greatest(coalesce($1, 100), 1), 1000)
$$;
COMMENT ON FUNCTION ff.list_suspended(integer, bigint, text) IS
    'Suspended executions by when they suspended (keyset pages: pass the last row''s suspended_at and execution_id)';

CREATE VIEW ff.suspensions AS
SELECT ff.format_execution_id(s.partition, s.execution_id) AS id, s.*
FROM ff.suspension s
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = s.partition AND e.execution_id = s.execution_id);
COMMENT ON VIEW ff.suspensions IS 'The current or last suspension of each execution';

CREATE VIEW ff.waitpoints AS
SELECT ff.format_execution_id(w.partition, w.execution_id) AS execution, w.*
FROM ff.waitpoint w
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = w.partition AND e.execution_id = w.execution_id);
COMMENT ON VIEW ff.waitpoints IS 'Every waitpoint with its condition record (tokens included: restrict to operators)';

CREATE VIEW ff.signals AS
SELECT ff.format_execution_id(g.partition, g.execution_id) AS execution, g.*
FROM ff.signal g
WHERE EXISTS (SELECT 1 FROM ff.visible_execution e WHERE e.partition = g.partition AND e.execution_id = g.execution_id);
COMMENT ON VIEW ff.signals IS 'Every accepted signal with its observed effect';

CREATE FUNCTION ff.deliver_approval_signal(execution_id text, lane_id text, waitpoint_id uuid,
    signal_name text, idempotency_suffix text, signal_id uuid DEFAULT NULL,
    signal_dedup_ttl_ms bigint DEFAULT 86400000, max_signals_per_execution integer DEFAULT 10000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    stored_lane text;
    tok text;
BEGIN
    SELECT e.lane_id INTO stored_lane FROM ff.parse_execution_id(execution_id) p
    JOIN ff.visible_execution e ON e.partition = p.partition AND e.execution_id = p.execution_uuid;
    IF NOT FOUND THEN
        RETURN '{"ok": false, "error": "execution_not_found"}';
    END IF;
    IF stored_lane IS DISTINCT FROM lane_id THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_input',
                                  'detail', format('lane_mismatch: %s is not %s', lane_id, stored_lane));
    END IF;
    tok := ff.read_waitpoint_token(execution_id, waitpoint_id);
    IF tok IS NULL THEN
        RETURN '{"ok": false, "error": "waitpoint_not_found"}';
    END IF;
    RETURN ff.deliver_signal(execution_id, waitpoint_id, coalesce(signal_id, gen_random_uuid()), signal_name, tok,
        signal_category => 'approval', source_type => 'operator', source_identity => '',
        idempotency_key => format('approval:%s:%s', signal_name, idempotency_suffix),
        target_scope => 'execution', dedup_ttl_ms => signal_dedup_ttl_ms,
        max_signals_per_execution => max_signals_per_execution);
END $$;
COMMENT ON FUNCTION ff.deliver_approval_signal(text, text, uuid, text, text, uuid, bigint, integer) IS
    'Operator approval: delivers signal_name with the waitpoint''s stored token (suspension spec §4.10)';
REVOKE ALL ON FUNCTION ff.deliver_approval_signal(text, text, uuid, text, text, uuid, bigint, integer) FROM PUBLIC;
-- ff_engine install script: budgets, quotas and admission (spec/budgets.md).
-- The state-changing operations are C; the reads are SQL over the tables.

CREATE FUNCTION ff.create_budget(
    budget_id uuid,
    dimensions text[] DEFAULT '{}',
    hard_limits bigint[] DEFAULT '{}',
    soft_limits bigint[] DEFAULT '{}',
    reset_interval_ms bigint DEFAULT 0,
    scope_type text DEFAULT '',
    scope_id text DEFAULT '',
    enforcement_mode text DEFAULT '',
    on_hard_limit text DEFAULT '',
    on_soft_limit text DEFAULT '',
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_budget(uuid, text[], bigint[], bigint[], bigint, text, text, text, text, text, bigint) IS
    'Creates a budget with hard and soft limits per dimension (0 = none), optionally resetting every reset_interval_ms (budgets spec §3.1)';

CREATE FUNCTION ff.report_usage_and_check(
    budget_id uuid,
    dimensions text[],
    deltas bigint[],
    dedup_key text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_report_usage_and_check' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.report_usage_and_check(uuid, text[], bigint[], text, bigint) IS
    'Adds usage unless a hard limit would be exceeded: OK, SOFT_BREACH, HARD_BREACH (nothing applied) or ALREADY_APPLIED (budgets spec §3.2)';

CREATE FUNCTION ff.record_spend(
    budget_id uuid,
    execution_id text,
    dimensions text[],
    deltas bigint[],
    idempotency_key text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_record_spend' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.record_spend(uuid, text, text[], bigint[], text, bigint) IS
    'As report_usage_and_check, and attributes the spend to the execution so release_budget can reverse it (budgets spec §3.3)';

CREATE FUNCTION ff.release_budget(budget_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_release_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.release_budget(uuid, text) IS
    'Reverses the spend record_spend attributed to the execution (clamped at 0): released or noop (budgets spec §3.4)';

CREATE FUNCTION ff.reset_budget(budget_id uuid, now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_reset_budget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.reset_budget(uuid, bigint) IS
    'Zeroes a budget''s usage and schedules its next reset (budgets spec §3.5)';

CREATE FUNCTION ff.create_quota_policy(
    quota_policy_id uuid,
    window_seconds bigint,
    max_requests_per_window bigint,
    max_concurrent bigint,
    jitter_ms bigint DEFAULT 0,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_create_quota_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.create_quota_policy(uuid, bigint, bigint, bigint, bigint, bigint) IS
    'Creates a quota: at most max_requests_per_window admissions per window, at most max_concurrent admissions live (0 = no limit) (budgets spec §4.1)';

CREATE FUNCTION ff.check_admission_and_record(
    quota_policy_id uuid,
    execution_id text,
    window_seconds bigint,
    rate_limit bigint,
    concurrency_cap bigint,
    dimension text DEFAULT 'default',
    jitter_ms bigint DEFAULT 0,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_check_admission_and_record' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.check_admission_and_record(uuid, text, bigint, bigint, bigint, text, bigint, bigint) IS
    'Sliding-window rate and concurrency check with the given limits: ADMITTED, ALREADY_ADMITTED, RATE_EXCEEDED (retry_after_ms), CONCURRENCY_EXCEEDED (budgets spec §4.2)';

CREATE FUNCTION ff.release_admission(quota_policy_id uuid, execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_release_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.release_admission(uuid, text) IS
    'Gives an admission''s concurrency slot back; its window entry keeps counting (budgets spec §4.3)';

CREATE FUNCTION ff.set_execution_admission(execution_id text, budget_ids uuid[] DEFAULT NULL,
                                           quota_policy_id uuid DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_execution_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_execution_admission(text, uuid[], uuid) IS
    'Attaches budgets and a quota policy to a non-terminal execution (NULL detaches); claims then admit it against them';

-- ---- admission evaluation shared by claim_next and the unblock scanner ----

-- The block detail of the first attached budget at or over a hard limit
-- (usage >= limit), NULL when every budget admits.  Ids that are not UUIDs
-- and budgets without limits admit.  The same C code decides at claim time.
CREATE FUNCTION ff._budget_block_detail(budget_ids text) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_budget_block_detail_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff._budget_block_detail(text) IS 'Internal: why attached budgets refuse admission, or NULL';

-- Whether a quota would refuse an admission now (window 0 means 60 s):
-- every rate slot up to the limit busy, or every concurrency slot.
CREATE FUNCTION ff._quota_refuses(policy uuid, now_ms bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT (q.max_requests_per_window > 0
                AND (SELECT count(*) FROM (SELECT 1 FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id
                       AND s.kind = 'r' AND s.dimension = 'default' AND s.slot <= q.max_requests_per_window
                       AND s.free_at > now_ms LIMIT q.max_requests_per_window) x) >= q.max_requests_per_window)
            OR (q.active_concurrency_cap > 0
                AND (SELECT count(*) FROM (SELECT 1 FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id
                       AND s.kind = 'c' AND s.dimension = '' AND s.slot <= q.active_concurrency_cap
                       AND s.free_at > now_ms LIMIT q.active_concurrency_cap) x) >= q.active_concurrency_cap)
        FROM ff.quota_policy q WHERE q.quota_policy_id = policy), false)
$$;
COMMENT ON FUNCTION ff._quota_refuses(uuid, bigint) IS 'Internal: whether a quota policy refuses an admission now';

-- ---- read models ----

CREATE FUNCTION ff.get_budget_status(budget_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT jsonb_build_object('ok', true, 'status', 'OK', 'budget_id', b.budget_id,
            'scope_type', b.scope_type, 'scope_id', b.scope_id, 'enforcement_mode', b.enforcement_mode,
            'on_hard_limit', b.on_hard_limit, 'on_soft_limit', b.on_soft_limit,
            'usage', coalesce((SELECT jsonb_object_agg(u.dimension, u.value) FROM ff.budget_usage u WHERE u.budget_id = b.budget_id), '{}'),
            'hard_limits', coalesce((SELECT jsonb_object_agg(l.dimension, l.hard_limit) FROM ff.budget_limit l WHERE l.budget_id = b.budget_id), '{}'),
            'soft_limits', coalesce((SELECT jsonb_object_agg(l.dimension, l.soft_limit) FROM ff.budget_limit l WHERE l.budget_id = b.budget_id), '{}'),
            'breach_count', b.breach_count, 'soft_breach_count', b.soft_breach_count,
            'last_breach_at', b.last_breach_at, 'last_breach_dim', b.last_breach_dim,
            'reset_interval_ms', b.reset_interval_ms, 'next_reset_at', b.next_reset_at,
            'reset_count', b.reset_count, 'last_reset_at', b.last_reset_at,
            'reconciled_breach_at', b.reconciled_breach_at,
            'created_at', b.created_at, 'last_updated_at', b.last_updated_at)
        FROM ff.budget b WHERE b.budget_id = get_budget_status.budget_id),
        '{"ok": false, "error": "budget_not_found"}')
$$;
COMMENT ON FUNCTION ff.get_budget_status(uuid) IS
    'A budget with its usage, hard and soft limits per dimension, breach and reset counters';

CREATE VIEW ff.budget_status AS
SELECT b.budget_id, b.scope_type, b.scope_id, l.dimension, coalesce(u.value, 0) AS usage,
       l.hard_limit, l.soft_limit,
       l.hard_limit > 0 AND coalesce(u.value, 0) >= l.hard_limit AS exhausted,
       l.soft_limit > 0 AND coalesce(u.value, 0) > l.soft_limit AS over_soft_limit,
       b.next_reset_at
FROM ff.budget b
JOIN ff.budget_limit l ON l.budget_id = b.budget_id
LEFT JOIN ff.budget_usage u ON u.budget_id = l.budget_id AND u.dimension = l.dimension;
COMMENT ON VIEW ff.budget_status IS 'Every limited dimension of every budget: usage against its limits';

CREATE VIEW ff.quota_status AS
SELECT q.quota_policy_id, q.window_seconds, q.max_requests_per_window, q.active_concurrency_cap, q.jitter_ms,
       (SELECT count(*) FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id AND s.kind = 'r'
          AND s.dimension = 'default' AND s.free_at > ff.now_ms()) AS admitted_in_window,
       (SELECT count(*) FROM ff.quota_slot s WHERE s.quota_policy_id = q.quota_policy_id AND s.kind = 'c'
          AND s.free_at > ff.now_ms()) AS active_concurrency,
       (SELECT count(*) FROM ff.quota_admission a WHERE a.quota_policy_id = q.quota_policy_id
          AND a.expires_at > ff.now_ms()) AS live_admissions,
       ff._quota_refuses(q.quota_policy_id, ff.now_ms()) AS refusing
FROM ff.quota_policy q;
COMMENT ON VIEW ff.quota_status IS 'Every quota policy: its limits, admissions in the current window, live admissions, whether it refuses now';
-- ff_engine install script: read models (spec §3.31) and the consistency check.
-- These only read; they are plain SQL over the tables.

CREATE VIEW ff.executions AS
SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.*
FROM ff.visible_execution e;
COMMENT ON VIEW ff.executions IS
    'Every execution with its text id {fp:N}:<uuid> and all core columns';

-- The public state §2.2 derives from a vector (an independent oracle of
-- the C derivation, used by the consistency check).
CREATE FUNCTION ff.derive_public_state(phase ff.lifecycle_phase,
    eligibility ff.eligibility_state, outcome ff.terminal_outcome)
    RETURNS ff.public_state LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN phase = 'terminal' THEN CASE outcome
            WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled'
            WHEN 'expired' THEN 'expired' WHEN 'skipped' THEN 'skipped'
            ELSE 'failed' END
        WHEN phase = 'suspended' THEN 'suspended'
        WHEN phase = 'active' THEN 'active'
        WHEN phase = 'runnable' THEN CASE eligibility
            WHEN 'not_eligible_until_time' THEN 'delayed'
            WHEN 'blocked_by_dependencies' THEN 'waiting_children'
            WHEN 'blocked_by_budget' THEN 'rate_limited'
            WHEN 'blocked_by_quota' THEN 'rate_limited'
            ELSE 'waiting' END
        ELSE 'waiting' END::ff.public_state
$$;
COMMENT ON FUNCTION ff.derive_public_state(ff.lifecycle_phase, ff.eligibility_state, ff.terminal_outcome) IS
    'The public state spec §2.2 derives from a state vector';

-- Every execution whose state vector breaks an invariant of spec §2.3, or
-- whose timer columns disagree with its state (stands in for the
-- reference's index reconciler, §6.5).  Empty when all is well.
CREATE VIEW ff.consistency_violations AS
SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, v.problem
FROM ff.execution e
CROSS JOIN LATERAL (VALUES
    (CASE WHEN (e.terminal_outcome <> 'none') <> (e.lifecycle_phase = 'terminal')
          THEN 'I1: terminal_outcome set iff phase terminal' END),
    (CASE WHEN e.ownership_state = 'leased' AND (e.lifecycle_phase <> 'active'
              OR e.current_lease_id IS NULL OR e.current_attempt_id IS NULL
              OR e.lease_expires_at IS NULL OR e.attempt_state <> 'running_attempt')
          THEN 'I2: leased implies active with a complete lease' END),
    (CASE WHEN e.attempt_state = 'running_attempt' AND e.ownership_state <> 'leased'
          THEN 'I3: running attempt without a lease' END),
    (CASE WHEN e.current_lease_epoch < 0 OR e.total_attempt_count < 0
              OR (e.current_attempt_index IS NOT NULL AND e.current_attempt_index >= e.total_attempt_count)
          THEN 'I4/I5: counters out of range' END),
    (CASE WHEN (SELECT count(*) FROM ff.attempt a WHERE a.partition = e.partition
                 AND a.execution_id = e.execution_id) <> e.total_attempt_count
              OR EXISTS (SELECT 1 FROM ff.attempt a WHERE a.partition = e.partition
                 AND a.execution_id = e.execution_id
                 AND (a.attempt_index < 0 OR a.attempt_index >= e.total_attempt_count))
          THEN 'I5: attempt indexes not dense' END),
    (CASE WHEN e.public_state <> ff.derive_public_state(e.lifecycle_phase, e.eligibility_state, e.terminal_outcome)
          THEN 'public_state differs from its derivation' END),
    (CASE WHEN e.lifecycle_phase = 'runnable' AND e.ownership_state <> 'unowned'
          THEN 'runnable but owned' END),
    (CASE WHEN e.lifecycle_phase = 'runnable' AND e.eligibility_state = 'not_eligible_until_time'
              AND e.delay_until IS NULL
          THEN 'delayed without delay_until' END),
    (CASE WHEN e.lifecycle_phase = 'terminal' AND (e.completed_at IS NULL OR e.purge_after IS NULL
              OR e.attempt_timeout_at IS NOT NULL OR e.execution_deadline_at IS NOT NULL
              OR e.current_lease_id IS NOT NULL)
          THEN 'terminal with live timers or lease' END),
    (CASE WHEN e.lifecycle_phase = 'active' AND e.eligibility_state = 'eligible_now'
          THEN 'active but eligible' END),
    -- suspension spec §10 items 69-71
    (CASE WHEN (e.lifecycle_phase = 'suspended') <> EXISTS (SELECT 1 FROM ff.suspension s
                 WHERE s.partition = e.partition AND s.execution_id = e.execution_id AND s.closed_at IS NULL
                   AND s.suspension_id = e.current_suspension_id AND s.primary_waitpoint_id = e.current_waitpoint_id)
          THEN 'S1: suspended iff an open suspension matching the pointers' END),
    (CASE WHEN EXISTS (SELECT 1 FROM ff.waitpoint w WHERE w.partition = e.partition AND w.execution_id = e.execution_id
                 AND (w.state = 'active' OR w.cond_closed = false)
                 AND (e.lifecycle_phase <> 'suspended' OR w.state <> 'active'
                      OR w.suspension_id IS DISTINCT FROM e.current_suspension_id))
          THEN 'S2: an active waitpoint or open condition outside the open suspension' END),
    (CASE WHEN e.lifecycle_phase <> 'suspended' AND EXISTS (SELECT 1 FROM ff.suspension s
                 WHERE s.partition = e.partition AND s.execution_id = e.execution_id AND s.closed_at IS NULL)
          THEN 'S3: an open suspension on an execution that is not suspended' END)
) AS v(problem)
WHERE v.problem IS NOT NULL;
COMMENT ON VIEW ff.consistency_violations IS
    'Executions whose state vector breaks an invariant of spec §2.3; empty when consistent';

-- Resolve a text id to its row key, raising 22P02 when malformed.
CREATE FUNCTION ff.read_execution_state(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK', 'public_state', e.public_state)
         FROM ff.visible_execution e, ff.parse_execution_id($1) p
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_execution_state(text) IS 'The public state of one execution';

CREATE FUNCTION ff.read_execution_info(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'execution_id', $1, 'namespace', e.namespace, 'lane_id', e.lane_id,
            'priority', e.priority, 'execution_kind', e.execution_kind,
            'lifecycle_phase', e.lifecycle_phase, 'ownership_state', e.ownership_state,
            'eligibility_state', e.eligibility_state, 'blocking_reason', e.blocking_reason,
            'blocking_detail', e.blocking_detail, 'terminal_outcome', e.terminal_outcome,
            'attempt_state', e.attempt_state, 'public_state', e.public_state,
            'created_at', e.created_at, 'started_at', e.started_at,
            'completed_at', e.completed_at, 'current_attempt_index', e.current_attempt_index,
            'flow_id', e.flow_id, 'retry_count', e.retry_count, 'replay_count', e.replay_count,
            'failure_reason', e.failure_reason, 'delay_until', e.delay_until)
         FROM ff.visible_execution e, ff.parse_execution_id($1) p
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.read_execution_info(text) IS
    'Namespace, lane, priority, kind, the full state vector and timestamps of one execution';

CREATE FUNCTION ff.describe_execution(execution_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT jsonb_build_object('ok', true, 'status', 'OK',
            'execution_id', $1, 'flow_id', e.flow_id, 'lane_id', e.lane_id,
            'namespace', e.namespace, 'public_state', e.public_state,
            'blocking_reason', NULLIF(e.blocking_reason::text, 'none'),
            'blocking_detail', NULLIF(e.blocking_detail, ''),
            'current_attempt', CASE WHEN e.current_attempt_id IS NOT NULL THEN
                jsonb_build_object('attempt_id', e.current_attempt_id,
                                   'attempt_index', e.current_attempt_index) END,
            'current_lease', CASE WHEN e.current_worker_instance_id IS NOT NULL
                                   AND e.lease_expires_at IS NOT NULL THEN
                jsonb_build_object('lease_id', e.current_lease_id,
                    'lease_epoch', e.current_lease_epoch, 'worker_id', e.current_worker_id,
                    'worker_instance_id', e.current_worker_instance_id,
                    'expires_at', e.lease_expires_at, 'ownership_state', e.ownership_state) END,
            'current_waitpoint_id', e.current_waitpoint_id,
            'created_at', e.created_at, 'last_mutation_at', e.last_mutation_at,
            'total_attempt_count', e.total_attempt_count,
            'progress_pct', e.progress_pct, 'progress_message', e.progress_message,
            'tags', COALESCE(d.tags, '{}'::jsonb))
         FROM ff.visible_execution e
         CROSS JOIN ff.parse_execution_id($1) p
         LEFT JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
         WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid),
        '{"ok": false, "error": "execution_not_found"}'::jsonb)
$$;
COMMENT ON FUNCTION ff.describe_execution(text) IS
    'Snapshot of one execution: state, current attempt and lease (when held), tags';

CREATE FUNCTION ff.get_execution_result(execution_id text) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT d.result FROM ff.execution_data d, ff.parse_execution_id($1) p
    WHERE d.partition = p.partition AND d.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.get_execution_result(text) IS
    'The stored result bytes (last complete wins), or NULL';

CREATE FUNCTION ff.read_execution_context(execution_id text,
    OUT input_payload bytea, OUT execution_kind text, OUT tags jsonb)
LANGUAGE sql STABLE AS $$
    SELECT d.payload, e.execution_kind, d.tags
    FROM ff.visible_execution e
    CROSS JOIN ff.parse_execution_id($1) p
    JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id
    WHERE e.partition = p.partition AND e.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.read_execution_context(text) IS
    'What a worker needs to run an execution: payload, kind, tags';

CREATE FUNCTION ff.get_execution_tag(execution_id text, key text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT d.tags ->> $2 FROM ff.execution_data d, ff.parse_execution_id($1) p
    WHERE d.partition = p.partition AND d.execution_id = p.execution_uuid
$$;
COMMENT ON FUNCTION ff.get_execution_tag(text, text) IS 'One tag value, or NULL';

CREATE FUNCTION ff.list_executions(partition smallint, cursor text DEFAULT NULL,
    page_limit integer DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    after uuid;
    ids text[];
    more boolean;
BEGIN
    IF partition IS NULL OR partition < 0 THEN
        RAISE EXCEPTION 'partition must be a non-negative number' USING ERRCODE = '22023';
    END IF;
    IF page_limit IS NULL OR page_limit < 1 OR page_limit > 1000 THEN
        RAISE EXCEPTION 'page_limit must be between 1 and 1000, got %', page_limit
            USING ERRCODE = '22023';
    END IF;
    IF cursor IS NOT NULL THEN
        after := (ff.parse_execution_id(cursor)).execution_uuid;
    END IF;
    SELECT array_agg(ff.format_execution_id(x.partition, x.execution_id) ORDER BY x.execution_id)
      INTO ids
      FROM (SELECT e.partition, e.execution_id FROM ff.visible_execution e
            WHERE e.partition = list_executions.partition
              AND (after IS NULL OR e.execution_id > after)
            ORDER BY e.execution_id LIMIT page_limit + 1) x;
    more := coalesce(array_length(ids, 1), 0) > page_limit;
    IF more THEN
        ids := ids[1:page_limit];
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'executions', to_jsonb(coalesce(ids, '{}'::text[])),
        'next_cursor', CASE WHEN more THEN ids[page_limit] END);
END
$$;
COMMENT ON FUNCTION ff.list_executions(smallint, text, integer) IS
    'Execution ids of one partition in ascending order, page by page (at most 1000)';
-- ff_engine install script: the execution scanners (spec §6).
--
-- Each ff.scan_<name>() does one bounded batch: it locks due executions
-- with FOR UPDATE SKIP LOCKED (so two scanners never take the same item)
-- and applies the per-item operation (the C functions of the operations).
-- The whole batch runs as one unit; only if it fails is it retried item by
-- item in subtransactions, recording the failures: after 3 consecutive
-- failures an item is skipped for 10 cycles of its scanner.  The engine
-- worker (and pg_cron, through ff.run_scanners) calls these through
-- ff.run_scanner, which records each run in ff.scanner_state.


-- One row per scanner: its cycle counter and what its last run did.
CREATE TABLE ff.scanner_state (
    scanner           text PRIMARY KEY,
    cycle             bigint NOT NULL DEFAULT 0,
    runs              bigint NOT NULL DEFAULT 0,
    last_started_at   bigint,
    last_duration_ms  double precision,
    last_processed    integer,
    last_errors       integer,
    total_processed   bigint NOT NULL DEFAULT 0,
    total_errors      bigint NOT NULL DEFAULT 0,
    next_run_at       bigint
);
INSERT INTO ff.scanner_state (scanner) VALUES
    ('lease_expiry'), ('delayed'), ('attempt_timeout'), ('execution_deadline'),
    ('unblock'), ('retention'), ('dependencies'), ('flow_cancel'), ('flow_projector'),
    ('edge_cancel_dispatch'), ('edge_cancel_reconcile'), ('suspension_timeout'),
    ('pending_waitpoint_expiry'), ('budget_reset'), ('budget_reconcile'), ('quota_reconcile'),
    ('worker_registry_sweep');

-- Items a scanner failed on; skipped until skip_until_cycle once they fail
-- three times in a row.
CREATE TABLE ff.scanner_item_failure (
    scanner           text NOT NULL,
    partition         smallint NOT NULL,
    execution_id      uuid NOT NULL,
    failures          integer NOT NULL,
    skip_until_cycle  bigint NOT NULL DEFAULT 0,
    last_error        text,
    PRIMARY KEY (scanner, partition, execution_id)
);

-- The worker registry (spec §3.30): live workers and their capabilities,
-- read by the unblock scanner's route rule.
CREATE TABLE ff.worker (
    namespace           text NOT NULL,
    worker_instance_id  text NOT NULL,
    worker_id           text NOT NULL,
    lanes               text[] NOT NULL DEFAULT '{}',
    capabilities        text[] NOT NULL DEFAULT '{}',
    ttl_ms              bigint NOT NULL,
    registered_at       bigint NOT NULL,
    last_heartbeat_at   bigint NOT NULL,
    expires_at          bigint NOT NULL,
    PRIMARY KEY (namespace, worker_instance_id)
);

CREATE FUNCTION ff.register_worker(worker_instance_id text, worker_id text,
    lanes text[] DEFAULT '{}', capabilities text[] DEFAULT '{}',
    ttl_ms bigint DEFAULT 30000, namespace text DEFAULT 'default', now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := coalesce(now_ms, ff.now_ms());
    live ff.worker;
BEGIN
    IF worker_instance_id IS NULL OR worker_instance_id = '' OR worker_id IS NULL OR worker_id = ''
       OR namespace IS NULL OR lanes IS NULL OR capabilities IS NULL THEN
        RAISE EXCEPTION 'worker_instance_id, worker_id, namespace, lanes and capabilities are required'
            USING ERRCODE = '22004';
    END IF;
    IF ttl_ms IS NULL OR ttl_ms <= 0 THEN
        RAISE EXCEPTION 'invalid_input: ttl_ms must be positive, got %', ttl_ms USING ERRCODE = '22023';
    END IF;
    IF length(worker_instance_id) > 256 OR length(worker_id) > 256 OR length(namespace) > 256 THEN
        RAISE EXCEPTION 'worker ids and the namespace are at most 256 bytes' USING ERRCODE = '22001';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(capabilities) c WHERE c IS NULL OR c = '' OR c ~ '[,[:space:][:cntrl:]]')
       OR cardinality(capabilities) > 256 THEN
        RAISE EXCEPTION 'capabilities must be at most 256 non-empty tokens without commas, whitespace or control characters'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(lanes) l WHERE l IS NULL OR l = '' OR length(l) > 256 OR l ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'lanes must be non-empty lane ids' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO live FROM ff.worker w
    WHERE w.namespace = register_worker.namespace AND w.worker_instance_id = register_worker.worker_instance_id
      AND w.expires_at > now_
    FOR UPDATE;
    -- Appendix C #12: an instance id is not reassigned while its registration lives
    IF live.worker_id IS NOT NULL AND live.worker_id <> register_worker.worker_id THEN
        RETURN jsonb_build_object('ok', false, 'error', 'invalid_input', 'detail', 'instance_id reassigned');
    END IF;
    INSERT INTO ff.worker AS w VALUES (namespace, worker_instance_id, worker_id,
        (SELECT coalesce(array_agg(DISTINCT l ORDER BY l), '{}') FROM unnest(lanes) l),
        (SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') FROM unnest(capabilities) c),
        ttl_ms, now_, now_, now_ + ttl_ms)
    ON CONFLICT ON CONSTRAINT worker_pkey DO UPDATE SET worker_id = EXCLUDED.worker_id, lanes = EXCLUDED.lanes,
        capabilities = EXCLUDED.capabilities, ttl_ms = EXCLUDED.ttl_ms, registered_at = now_,
        last_heartbeat_at = now_, expires_at = now_ + EXCLUDED.ttl_ms;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'result', CASE WHEN live.worker_id IS NOT NULL THEN 'refreshed' ELSE 'registered' END);
END $$;
COMMENT ON FUNCTION ff.register_worker(text, text, text[], text[], bigint, text, bigint) IS
    'Registers (or refreshes) a live worker, its lanes and capabilities for ttl_ms (budgets spec §6.1)';

CREATE FUNCTION ff.heartbeat_worker(worker_instance_id text, namespace text DEFAULT 'default',
    now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := coalesce(now_ms, ff.now_ms());
    ttl bigint;
BEGIN
    UPDATE ff.worker w SET last_heartbeat_at = now_, expires_at = now_ + w.ttl_ms
    WHERE w.namespace = heartbeat_worker.namespace AND w.worker_instance_id = heartbeat_worker.worker_instance_id
      AND w.expires_at > now_
    RETURNING w.ttl_ms INTO ttl;
    IF ttl IS NULL THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'not_registered');
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'refreshed', 'ttl_ms', ttl,
                              'next_expiry_ms', now_ + ttl);
END $$;
COMMENT ON FUNCTION ff.heartbeat_worker(text, text, bigint) IS
    'Extends a live worker registration by its stored ttl; not_registered once it expired (budgets spec §6.2)';

CREATE FUNCTION ff.mark_worker_dead(worker_instance_id text, namespace text DEFAULT 'default',
    reason text DEFAULT '', now_ms bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := coalesce(now_ms, ff.now_ms());
    was_live boolean;
BEGIN
    IF octet_length(coalesce(reason, '')) > 256 THEN
        RAISE EXCEPTION 'invalid_input: reason: exceeds 256 bytes (got %)', octet_length(reason) USING ERRCODE = '22023';
    END IF;
    IF coalesce(reason, '') ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid_input: reason: must not contain control characters' USING ERRCODE = '22023';
    END IF;
    DELETE FROM ff.worker w
    WHERE w.namespace = mark_worker_dead.namespace AND w.worker_instance_id = mark_worker_dead.worker_instance_id
    RETURNING w.expires_at > now_ INTO was_live;
    RETURN jsonb_build_object('ok', true, 'status', 'OK',
        'result', CASE WHEN coalesce(was_live, false) THEN 'marked' ELSE 'not_registered' END);
END $$;
COMMENT ON FUNCTION ff.mark_worker_dead(text, text, text, bigint) IS
    'Removes a worker''s registration at once (its leases are untouched: they expire as usual) (budgets spec §6.3)';

CREATE FUNCTION ff.list_workers(namespace text DEFAULT 'default', after text DEFAULT NULL, "limit" integer DEFAULT 1000)
RETURNS TABLE (worker_instance_id text, worker_id text, lanes text[], capabilities text[],
               last_heartbeat_ms bigint, liveness_ttl_ms bigint, registered_at_ms bigint, expires_at_ms bigint)
LANGUAGE sql STABLE AS $$
    SELECT w.worker_instance_id, w.worker_id, w.lanes, w.capabilities, w.last_heartbeat_at,
           w.ttl_ms, w.registered_at, w.expires_at
    FROM ff.worker w
    WHERE w.namespace = $1 AND w.expires_at > ff.now_ms() AND ($2 IS NULL OR w.worker_instance_id > $2)
    ORDER BY w.worker_instance_id COLLATE "C"
    LIMIT least(greatest(coalesce($3, 1000), 1), 10000)
$$;
COMMENT ON FUNCTION ff.list_workers(text, text, integer) IS
    'Live registrations of a namespace by instance id (exclusive cursor; limit at most 10 000) (budgets spec §6.4)';

CREATE FUNCTION ff.list_expired_leases(as_of bigint DEFAULT NULL, after_expires_at bigint DEFAULT NULL,
    after_execution_id text DEFAULT NULL, "limit" integer DEFAULT 1000, namespace text DEFAULT NULL)
RETURNS TABLE (execution_id text, lease_id uuid, lease_epoch bigint, worker_instance_id text,
               expires_at_ms bigint, attempt_index integer)
LANGUAGE sql STABLE AS $$
    SELECT x.id, x.current_lease_id, x.current_lease_epoch, x.current_worker_instance_id,
           x.lease_expires_at, x.current_attempt_index
    FROM (SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.*
          FROM ff.execution e   -- LEASE_EXPIRY: held leases past their expiry
          WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased'
            AND e.lease_expires_at <= coalesce($1, ff.now_ms())
            AND e.current_lease_id IS NOT NULL AND e.current_worker_instance_id IS NOT NULL
            AND ($5 IS NULL OR e.namespace = $5)
          UNION ALL
          SELECT ff.format_execution_id(e.partition, e.execution_id) AS id, e.*
          FROM ff.execution e   -- LEASE_LOST: leases marked expired or revoked
          WHERE e.lifecycle_phase = 'active'
            AND e.ownership_state IN ('lease_expired_reclaimable', 'lease_revoked')
            AND e.lease_expires_at <= coalesce($1, ff.now_ms())
            AND e.current_lease_id IS NOT NULL AND e.current_worker_instance_id IS NOT NULL
            AND ($5 IS NULL OR e.namespace = $5)) x
    WHERE $2 IS NULL OR (x.lease_expires_at, x.id COLLATE "C") > ($2, coalesce($3, '') COLLATE "C")
    ORDER BY x.lease_expires_at, x.id COLLATE "C"
    LIMIT least(greatest(coalesce($4, 1000), 1), 10000)
$$;
COMMENT ON FUNCTION ff.list_expired_leases(bigint, bigint, text, integer, text) IS
    'Leases past their expiry as of as_of, by (expiry, execution id) with a tuple cursor, for reclaim orchestration (budgets spec §6.5)';

-- Deletes every record of an execution (retention), its streams and
-- dependency records included.  Its flow and the flow's edges stay.
CREATE FUNCTION ff.purge_execution(execution_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    p smallint;
    u uuid;
BEGIN
    SELECT k.partition, k.execution_uuid INTO p, u FROM ff.parse_execution_id(execution_id) k;
    DELETE FROM ff.stream_frame f WHERE f.partition = p AND f.execution_id = u;
    DELETE FROM ff.stream_summary s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.stream_meta s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.attempt a WHERE a.partition = p AND a.execution_id = u;
    DELETE FROM ff.lease_history h WHERE h.partition = p AND h.execution_id = u;
    DELETE FROM ff.claim_grant g WHERE g.partition = p AND g.execution_id = u;
    DELETE FROM ff.completion_event c WHERE c.partition = p AND c.execution_id = u;
    DELETE FROM ff.idempotency_key k WHERE k.partition = p AND k.execution_id = u;
    DELETE FROM ff.scanner_item_failure f WHERE f.partition = p AND f.execution_id = u;
    DELETE FROM ff.signal_dedup d WHERE d.partition = p AND d.waitpoint_id IN
        (SELECT w.waitpoint_id FROM ff.waitpoint w WHERE w.partition = p AND w.execution_id = u);
    DELETE FROM ff.signal g WHERE g.partition = p AND g.execution_id = u;
    DELETE FROM ff.waitpoint w WHERE w.partition = p AND w.execution_id = u;
    DELETE FROM ff.suspension_token t WHERE t.partition = p AND t.execution_id = u;
    DELETE FROM ff.suspension s WHERE s.partition = p AND s.execution_id = u;
    DELETE FROM ff.suspend_dedup d WHERE d.partition = p AND d.execution_id = u;
    DELETE FROM ff.dependency d WHERE d.partition = p AND d.downstream_execution_id = u;
    DELETE FROM ff.dependency_meta m WHERE m.partition = p AND m.execution_id = u;
    DELETE FROM ff.execution_data d WHERE d.partition = p AND d.execution_id = u;
    DELETE FROM ff.execution e WHERE e.partition = p AND e.execution_id = u;
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION ff.purge_execution(text) IS
    'Deletes an execution and every record that belongs to it (the retention path)';

-- The per-item step of each scanner.
CREATE FUNCTION ff._scan_item(scanner text, execution_id text, now_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE scanner
        WHEN 'lease_expiry' THEN PERFORM ff.mark_lease_expired_if_due(execution_id);
        WHEN 'delayed' THEN PERFORM ff.promote_delayed(execution_id, now_ms);
        WHEN 'attempt_timeout' THEN PERFORM ff.expire_execution(execution_id, 'attempt_timeout');
        WHEN 'execution_deadline' THEN PERFORM ff.expire_execution(execution_id, 'execution_deadline');
        WHEN 'unblock' THEN PERFORM ff.unblock_execution(execution_id, now_ms);
        WHEN 'retention' THEN PERFORM ff.purge_execution(execution_id);
        WHEN 'dependencies' THEN PERFORM ff._reconcile_dependencies_of(execution_id);
        WHEN 'suspension_timeout' THEN PERFORM ff.expire_suspension(execution_id);
        ELSE RAISE EXCEPTION 'no per-item step for scanner "%"', scanner USING ERRCODE = '22023';
    END CASE;
END $$;
COMMENT ON FUNCTION ff._scan_item(text, text, bigint) IS 'Internal: one scanner item';

-- Applies a locked batch: all at once, or item by item when that fails.
CREATE FUNCTION ff._scan_apply(scanner text, ids text[], now_ms bigint, batch_size integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    id text;
    cyc bigint;
    succeeded text[] := '{}';
    errors integer := 0;
    err text;
BEGIN
    IF scanner IS NULL OR NOT EXISTS (SELECT 1 FROM ff.scanner_state s WHERE s.scanner = _scan_apply.scanner) THEN
        RAISE EXCEPTION 'unknown scanner "%"', scanner USING ERRCODE = '22023';
    END IF;
    IF ids IS NULL OR array_position(ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ids must not be or contain NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        FOREACH id IN ARRAY ids LOOP
            PERFORM ff._scan_item(scanner, id, now_ms);
        END LOOP;
        succeeded := ids;
    EXCEPTION WHEN OTHERS THEN
        SELECT s.cycle INTO cyc FROM ff.scanner_state s WHERE s.scanner = _scan_apply.scanner;
        FOREACH id IN ARRAY ids LOOP
            BEGIN
                PERFORM ff._scan_item(scanner, id, now_ms);
                succeeded := succeeded || id;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
                errors := errors + 1;
                RAISE WARNING 'ff_engine scanner % failed on %: %', scanner, id, err;
                INSERT INTO ff.scanner_item_failure AS f (scanner, partition, execution_id, failures, last_error)
                SELECT _scan_apply.scanner, k.partition, k.execution_uuid, 1, err FROM ff.parse_execution_id(id) k
                ON CONFLICT ON CONSTRAINT scanner_item_failure_pkey DO UPDATE
                    SET failures = f.failures + 1, last_error = EXCLUDED.last_error,
                        skip_until_cycle = CASE WHEN f.failures + 1 >= 3 THEN coalesce(cyc, 0) + 11
                                                ELSE f.skip_until_cycle END;
            END;
        END LOOP;
    END;
    -- a success ends an item's run of consecutive failures
    IF cardinality(succeeded) > 0 AND EXISTS (SELECT 1 FROM ff.scanner_item_failure f WHERE f.scanner = _scan_apply.scanner) THEN
        DELETE FROM ff.scanner_item_failure f
        USING unnest(succeeded) i, LATERAL ff.parse_execution_id(i) k
        WHERE f.scanner = _scan_apply.scanner AND f.partition = k.partition AND f.execution_id = k.execution_uuid;
    END IF;
    -- a full batch means more may be due: the caller can take another at once
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', scanner,
                              'processed', cardinality(succeeded), 'errors', errors,
                              'more', cardinality(ids) >= batch_size);
END $$;
COMMENT ON FUNCTION ff._scan_apply(text, text[], bigint, integer) IS 'Internal: apply a scanner batch';

-- What a scan needs to know: the clock, the filter, its cycle.
CREATE TYPE ff._scan_context AS (now_ms bigint, namespace text, tag_key text, tag_value text, cycle bigint);

CREATE FUNCTION ff._scan_context(scanner text, namespace text, tag text, batch_size integer)
RETURNS ff._scan_context LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 1000, got %', batch_size USING ERRCODE = '22023';
    END IF;
    tag := coalesce(tag, nullif(current_setting('ff_engine.scanner_tag', true), ''));
    IF tag IS NOT NULL AND position('=' IN tag) < 2 THEN
        RAISE EXCEPTION 'a scanner tag filter looks like key=value, got "%"', tag USING ERRCODE = '22023';
    END IF;
    c.now_ms := ff.now_ms();
    c.namespace := coalesce(namespace, nullif(current_setting('ff_engine.scanner_namespace', true), ''));
    c.tag_key := split_part(tag, '=', 1);
    c.tag_value := substr(tag, position('=' IN tag) + 1);
    SELECT s.cycle INTO c.cycle FROM ff.scanner_state s WHERE s.scanner = _scan_context.scanner;
    RETURN c;
END $$;
COMMENT ON FUNCTION ff._scan_context(text, text, text, integer) IS 'Internal: a scan''s clock, filter and cycle';

-- Whether a scan takes this execution: the namespace / tag filter (so two
-- deployments sharing a database leave each other's executions alone) and
-- the skip of items that keep failing.
CREATE FUNCTION ff._scan_wants(scanner text, p smallint, u uuid, ns text, c ff._scan_context)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (c.namespace IS NULL OR ns = c.namespace)
       AND (c.tag_key IS NULL OR EXISTS (SELECT 1 FROM ff.execution_data d
                WHERE d.partition = p AND d.execution_id = u AND d.tags ->> c.tag_key = c.tag_value))
       AND NOT EXISTS (SELECT 1 FROM ff.scanner_item_failure f
                WHERE f.scanner = $1 AND f.partition = p AND f.execution_id = u AND f.skip_until_cycle > c.cycle)
$$;
COMMENT ON FUNCTION ff._scan_wants(text, smallint, uuid, text, ff._scan_context) IS 'Internal: scanner filter';

-- ---- the scanners ----

CREATE FUNCTION ff.scan_lease_expiry(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('lease_expiry', namespace, tag, batch_size);
BEGIN
    -- only leases still held: marked ones leave the index (spec §6.1)
    RETURN ff._scan_apply('lease_expiry', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased' AND e.lease_expires_at <= c.now_ms
          AND ff._scan_wants('lease_expiry', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.lease_expires_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_lease_expiry(integer, text, text) IS
    'Marks leases past their expiry as lease_expired_reclaimable, one batch (spec §6.1)';

CREATE FUNCTION ff.scan_delayed(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('delayed', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('delayed', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'runnable' AND e.eligibility_state = 'not_eligible_until_time'
          AND e.delay_until <= c.now_ms
          AND ff._scan_wants('delayed', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.delay_until LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_delayed(integer, text, text) IS
    'Promotes due delayed executions to eligible, one batch (spec §6.2)';

CREATE FUNCTION ff.scan_attempt_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('attempt_timeout', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('attempt_timeout', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.attempt_timeout_at <= c.now_ms
          AND ff._scan_wants('attempt_timeout', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.attempt_timeout_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_attempt_timeouts(integer, text, text) IS
    'Expires executions whose attempt ran past its timeout, one batch (spec §6.3)';

CREATE FUNCTION ff.scan_execution_deadlines(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('execution_deadline', namespace, tag, batch_size);
BEGIN
    RETURN ff._scan_apply('execution_deadline', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.execution_deadline_at <= c.now_ms
          AND ff._scan_wants('execution_deadline', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.execution_deadline_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_execution_deadlines(integer, text, text) IS
    'Expires executions past their whole-execution deadline, in any phase, one batch (spec §6.4)';

CREATE FUNCTION ff.scan_unblock(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('unblock', namespace, tag, batch_size);
BEGIN
    -- budget blocks clear when no attached budget is at a hard limit, quota
    -- blocks when the quota's window and cap have room (the window admission
    -- writes: Appendix C #5); route blocks clear once the union of the capabilities of the live
    -- workers of the namespace covers the requirement (spec §6.7).
    -- Operator, lane-state and flow-cancel holds are never released here.
    RETURN ff._scan_apply('unblock', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'runnable'
          AND ((e.eligibility_state = 'blocked_by_budget' AND e.blocking_reason = 'waiting_for_budget'
                AND ff._budget_block_detail(e.budget_ids) IS NULL)
            OR (e.eligibility_state = 'blocked_by_quota' AND e.blocking_reason = 'waiting_for_quota'
                AND (e.quota_policy_id IS NULL OR NOT ff._quota_refuses(e.quota_policy_id, c.now_ms)))
            OR (e.eligibility_state = 'blocked_by_route' AND e.blocking_reason = 'waiting_for_capable_worker'
                AND (e.required_capabilities IS NULL
                     OR e.required_capabilities <@ ARRAY(SELECT DISTINCT cap FROM ff.worker w, unnest(w.capabilities) cap
                                                         WHERE w.namespace = e.namespace AND w.expires_at > c.now_ms))))
          AND ff._scan_wants('unblock', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.eligibility_state, e.created_at LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_unblock(integer, text, text) IS
    'Releases budget, quota and route blocks whose cause has cleared, one batch (spec §6.7)';

CREATE FUNCTION ff.trim_retention(batch_size integer DEFAULT 20, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('retention', namespace, tag, batch_size);
    r jsonb;
    keys integer;
    streams integer;
    guards integer;
    events integer;
BEGIN
    -- by each execution's own purge time (spec §6.6 recommendation)
    r := ff._scan_apply('retention', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
        WHERE e.lifecycle_phase = 'terminal' AND e.purge_after <= c.now_ms
          AND ff._scan_wants('retention', e.partition, e.execution_id, e.namespace, c)
        ORDER BY e.purge_after LIMIT batch_size FOR UPDATE OF e SKIP LOCKED), c.now_ms, batch_size);
    -- frames of best-effort streams past their expiry
    WITH expired AS (
        SELECT m.partition, m.execution_id, m.attempt_index FROM ff.stream_meta m
        WHERE m.frames_expire_at <= c.now_ms ORDER BY m.frames_expire_at LIMIT batch_size
        FOR UPDATE SKIP LOCKED),
    frames AS (
        DELETE FROM ff.stream_frame f USING expired x
        WHERE f.partition = x.partition AND f.execution_id = x.execution_id AND f.attempt_index = x.attempt_index),
    metas AS (
        UPDATE ff.stream_meta m SET retained_count = 0, frames_expire_at = NULL FROM expired x
        WHERE m.partition = x.partition AND m.execution_id = x.execution_id AND m.attempt_index = x.attempt_index
        RETURNING 1)
    SELECT count(*) INTO streams FROM metas;
    -- and expired idempotency keys
    WITH gone AS (
        DELETE FROM ff.idempotency_key k WHERE (k.partition, k.namespace, k.key) IN (
            SELECT i.partition, i.namespace, i.key FROM ff.idempotency_key i
            WHERE i.expires_at <= c.now_ms AND (c.namespace IS NULL OR i.namespace = c.namespace)
            ORDER BY i.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO keys FROM gone;
    -- expired signal idempotency guards, and signal-delivery events past
    -- ff_engine.signal_event_retention
    WITH gone AS (
        DELETE FROM ff.signal_dedup d WHERE (d.partition, d.waitpoint_id, d.idempotency_key) IN (
            SELECT g.partition, g.waitpoint_id, g.idempotency_key FROM ff.signal_dedup g
            WHERE g.expires_at <= c.now_ms ORDER BY g.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO guards FROM gone;
    WITH gone AS (
        DELETE FROM ff.signal_event v WHERE (v.partition, v.event_id) IN (
            SELECT x.partition, x.event_id FROM ff.signal_event x
            WHERE x.delivered_at < c.now_ms - ff._setting_ms('ff_engine.signal_event_retention')
            ORDER BY x.delivered_at LIMIT batch_size * 50 FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO events FROM gone;
    RETURN r || jsonb_build_object('idempotency_keys_expired', keys, 'streams_expired', streams,
                                   'signal_guards_expired', guards, 'signal_events_trimmed', events);
END $$;
COMMENT ON FUNCTION ff.trim_retention(integer, text, text) IS
    'Deletes terminal executions past their retention, and expired idempotency keys, one batch (spec §6.6)';

CREATE FUNCTION ff.scan_dependencies(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('dependencies', namespace, tag, batch_size);
BEGIN
    -- the safety net for lost completions (flows §6.1), driven by the data:
    -- children with an unresolved edge whose upstream already ended.  No
    -- row lock here: resolution locks the group row, then the child.
    RETURN ff._scan_apply('dependencies', ARRAY(
        SELECT ff.format_execution_id(x.partition, x.downstream_execution_id) FROM (
            SELECT DISTINCT d.partition, d.downstream_execution_id FROM ff.dependency d
            JOIN ff.execution u ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id
            JOIN ff.execution ch ON ch.partition = d.partition AND ch.execution_id = d.downstream_execution_id
            WHERE d.state = 'unsatisfied' AND u.lifecycle_phase = 'terminal'
              AND ff._scan_wants('dependencies', ch.partition, ch.execution_id, ch.namespace, c)
            LIMIT batch_size) x), c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_dependencies(integer, text, text) IS
    'Resolves edges whose upstream ended but whose completion was never dispatched, one batch (flows §6.1)';

CREATE FUNCTION ff.scan_flow_cancels(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('flow_cancel', namespace, tag, batch_size);
    f record;
    m record;
    r jsonb;
    processed integer := 0;
    errors integer := 0;
    flows integer := 0;
BEGIN
    -- members still owed a cancel once the grace has passed (flows §6.4)
    FOR f IN SELECT fl.partition, fl.flow_id, coalesce(fl.cancel_reason, 'flow_cancelled') AS reason
             FROM ff.flow fl WHERE fl.cancel_due_at <= c.now_ms
               AND (c.namespace IS NULL OR fl.namespace = c.namespace)
             ORDER BY fl.cancel_due_at LIMIT batch_size FOR UPDATE SKIP LOCKED LOOP
        flows := flows + 1;
        FOR m IN SELECT p.execution_id FROM ff.flow_pending_cancel p
                 WHERE p.partition = f.partition AND p.flow_id = f.flow_id ORDER BY p.execution_id LIMIT 500 LOOP
            BEGIN
                r := ff.cancel_execution(ff.format_execution_id(f.partition, m.execution_id), f.reason, 'operator_override');
                -- cancelled, already terminal or gone: the cancel is done
                PERFORM ff.ack_cancel_member(f.flow_id, ff.format_execution_id(f.partition, m.execution_id));
                processed := processed + 1;
            EXCEPTION WHEN OTHERS THEN
                errors := errors + 1;
                RAISE WARNING 'ff_engine could not cancel flow member %: %', m.execution_id, SQLERRM;
            END;
        END LOOP;
        -- nothing left owed: out of the backlog
        UPDATE ff.flow fl SET cancel_due_at = NULL WHERE fl.partition = f.partition AND fl.flow_id = f.flow_id
          AND NOT EXISTS (SELECT 1 FROM ff.flow_pending_cancel p WHERE p.partition = f.partition AND p.flow_id = f.flow_id);
    END LOOP;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'flow_cancel', 'processed', processed,
                              'errors', errors, 'more', flows >= batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_flow_cancels(integer, text, text) IS
    'Cancels flow members still owed a cancel after the grace window, one batch (flows §6.4)';

CREATE FUNCTION ff.project_flows(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('flow_projector', namespace, tag, batch_size);
    done integer := 0;
BEGIN
    -- exact counts per flow (flows §6.5, Appendix C.13), the reference's
    -- derivation; a flow whose members all ended leaves FLOW_INDEX
    WITH picked AS (
        SELECT fl.partition, fl.flow_id FROM ff.flow fl
        WHERE fl.in_flow_index AND (c.namespace IS NULL OR fl.namespace = c.namespace)
        ORDER BY fl.last_mutation_at LIMIT batch_size),
    counts AS (
        SELECT p.partition, p.flow_id, count(e.execution_id) AS total,
               count(*) FILTER (WHERE e.public_state = 'completed') AS completed,
               count(*) FILTER (WHERE e.public_state = 'failed') AS failed,
               count(*) FILTER (WHERE e.public_state = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE e.public_state = 'expired') AS expired,
               count(*) FILTER (WHERE e.public_state = 'skipped') AS skipped,
               count(*) FILTER (WHERE e.public_state = 'active') AS active,
               count(*) FILTER (WHERE e.public_state = 'suspended') AS suspended,
               count(*) FILTER (WHERE e.public_state = 'waiting') AS waiting,
               count(*) FILTER (WHERE e.public_state = 'delayed') AS delayed,
               count(*) FILTER (WHERE e.public_state = 'rate_limited') AS rate_limited,
               count(*) FILTER (WHERE e.public_state = 'waiting_children') AS waiting_children
        FROM picked p LEFT JOIN ff.execution e ON e.partition = p.partition AND e.flow_id = p.flow_id
        GROUP BY p.partition, p.flow_id),
    derived AS (
        SELECT x.*, (x.completed + x.failed + x.cancelled + x.expired + x.skipped) AS terminal,
               CASE WHEN x.completed + x.failed + x.cancelled + x.expired + x.skipped = x.total THEN
                        CASE WHEN x.failed + x.cancelled + x.expired > 0 THEN 'failed' ELSE 'completed' END
                    WHEN x.active > 0 THEN 'running'
                    WHEN x.suspended + x.delayed + x.rate_limited + x.waiting_children > 0 THEN 'blocked'
                    ELSE 'open' END AS state
        FROM counts x WHERE x.total > 0),
    upserted AS (
        INSERT INTO ff.flow_summary AS s (partition, flow_id, total_members, members_completed, members_failed,
            members_cancelled, members_expired, members_skipped, members_active, members_suspended,
            members_waiting, members_delayed, members_rate_limited, members_waiting_children,
            public_flow_state, last_summary_update_at)
        SELECT d.partition, d.flow_id, d.total, d.completed, d.failed, d.cancelled, d.expired, d.skipped,
               d.active, d.suspended, d.waiting, d.delayed, d.rate_limited, d.waiting_children, d.state, c.now_ms
        FROM derived d
        ON CONFLICT (partition, flow_id) DO UPDATE SET total_members = EXCLUDED.total_members,
            members_completed = EXCLUDED.members_completed, members_failed = EXCLUDED.members_failed,
            members_cancelled = EXCLUDED.members_cancelled, members_expired = EXCLUDED.members_expired,
            members_skipped = EXCLUDED.members_skipped, members_active = EXCLUDED.members_active,
            members_suspended = EXCLUDED.members_suspended, members_waiting = EXCLUDED.members_waiting,
            members_delayed = EXCLUDED.members_delayed, members_rate_limited = EXCLUDED.members_rate_limited,
            members_waiting_children = EXCLUDED.members_waiting_children,
            public_flow_state = EXCLUDED.public_flow_state, last_summary_update_at = EXCLUDED.last_summary_update_at
        RETURNING 1),
    retired AS (
        UPDATE ff.flow fl SET in_flow_index = false FROM derived d
        WHERE fl.partition = d.partition AND fl.flow_id = d.flow_id AND d.terminal = d.total
        RETURNING 1)
    SELECT count(*) INTO done FROM upserted;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'flow_projector', 'processed', done,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.project_flows(integer, text, text) IS
    'Writes each live flow''s summary from exact member counts; retires finished flows (flows §6.5)';

CREATE FUNCTION ff.scan_suspension_timeouts(batch_size integer DEFAULT 50, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c ff._scan_context := ff._scan_context('suspension_timeout', namespace, tag, batch_size);
BEGIN
    -- open suspensions past their timeout (SUSPENSION_TIMEOUT); each item
    -- is re-validated under its lock by ff.expire_suspension
    RETURN ff._scan_apply('suspension_timeout', ARRAY(
        SELECT ff.format_execution_id(e.partition, e.execution_id)
        FROM ff.suspension s JOIN ff.execution e ON e.partition = s.partition AND e.execution_id = s.execution_id
        WHERE s.closed_at IS NULL AND s.timeout_at <= c.now_ms AND e.lifecycle_phase = 'suspended'
          AND ff._scan_wants('suspension_timeout', e.partition, e.execution_id, e.namespace, c)
        ORDER BY s.timeout_at, s.partition, s.execution_id LIMIT batch_size FOR UPDATE OF e SKIP LOCKED),
        c.now_ms, batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_suspension_timeouts(integer, text, text) IS
    'Applies the timeout behaviour of suspensions past their timeout, one batch (suspension spec §6.1)';

CREATE FUNCTION ff.scan_pending_waitpoint_expiry(batch_size integer DEFAULT 100, namespace text DEFAULT NULL, tag text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('pending_waitpoint_expiry', namespace, tag, batch_size);
    n integer;
BEGIN
    -- pending waitpoints past their expiry close as never_committed; only
    -- the waitpoint rows are locked (a racing suspend that locked one first
    -- wins, and it is then no longer pending)
    WITH due AS (
        SELECT w.partition, w.waitpoint_id FROM ff.waitpoint w
        WHERE w.state = 'pending' AND w.expires_at <= c.now_ms
          AND (c.namespace IS NULL AND c.tag_key IS NULL OR EXISTS (SELECT 1 FROM ff.execution e
                WHERE e.partition = w.partition AND e.execution_id = w.execution_id
                  AND ff._scan_wants('pending_waitpoint_expiry', e.partition, e.execution_id, e.namespace, c)))
        ORDER BY w.expires_at, w.partition, w.waitpoint_id LIMIT batch_size FOR UPDATE OF w SKIP LOCKED),
    closed AS (
        UPDATE ff.waitpoint w SET state = 'closed', closed_at = c.now_ms, close_reason = 'never_committed'
        FROM due WHERE w.partition = due.partition AND w.waitpoint_id = due.waitpoint_id
        RETURNING 1)
    SELECT count(*) INTO n FROM closed;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'pending_waitpoint_expiry',
                              'processed', n, 'errors', 0, 'more', n >= batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_pending_waitpoint_expiry(integer, text, text) IS
    'Closes pending waitpoints past their expiry as never_committed, one batch (suspension spec §6.2)';

-- Budgets due for their periodic reset (budgets spec §7.1), earliest first;
-- each reset reschedules the budget from its own time.  Expired usage
-- idempotency marks are swept on the way.
CREATE FUNCTION ff.scan_budget_resets(batch_size integer DEFAULT 20)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('budget_reset', NULL, NULL, batch_size);
    b uuid;
    n integer := 0;
    errors integer := 0;
    due integer := 0;
BEGIN
    FOR b IN SELECT x.budget_id FROM ff.budget x WHERE x.next_reset_at <= c.now_ms
             ORDER BY x.next_reset_at LIMIT batch_size FOR UPDATE SKIP LOCKED LOOP
        due := due + 1;
        BEGIN
            PERFORM ff.reset_budget(b, c.now_ms);
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN
            errors := errors + 1;
            RAISE WARNING 'ff_engine scanner budget_reset failed on %: %', b, SQLERRM;
        END;
    END LOOP;
    DELETE FROM ff.budget_usage_dedup d WHERE (d.budget_id, d.dedup_key) IN (
        SELECT x.budget_id, x.dedup_key FROM ff.budget_usage_dedup x WHERE x.expires_at <= c.now_ms
        ORDER BY x.expires_at LIMIT batch_size * 50 FOR UPDATE SKIP LOCKED);
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'budget_reset', 'processed', n,
                              'errors', errors, 'more', due >= batch_size);
END $$;
COMMENT ON FUNCTION ff.scan_budget_resets(integer) IS
    'Resets budgets whose next_reset_at has come, one batch (budgets spec §7.1)';

-- The drift alarm of non-resetting budgets (§7.2): reconciled_breach_at is
-- set while some usage is strictly over its hard limit, cleared otherwise.
CREATE FUNCTION ff.reconcile_budgets(batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('budget_reconcile', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH cand AS (
        SELECT b.budget_id, EXISTS (SELECT 1 FROM ff.budget_limit l JOIN ff.budget_usage u
                                      ON u.budget_id = l.budget_id AND u.dimension = l.dimension
                                    WHERE l.budget_id = b.budget_id AND l.hard_limit > 0 AND u.value > l.hard_limit) AS breached
        FROM ff.budget b WHERE b.reset_interval_ms = 0 FOR UPDATE OF b SKIP LOCKED),
    changed AS (
        UPDATE ff.budget b SET reconciled_breach_at = CASE WHEN cand.breached THEN c.now_ms END
        FROM cand WHERE b.budget_id = cand.budget_id AND cand.breached <> (b.reconciled_breach_at IS NOT NULL)
        RETURNING 1)
    SELECT count(*) INTO n FROM changed;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'budget_reconcile', 'processed', n,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.reconcile_budgets(integer) IS
    'Marks non-resetting budgets whose usage is over a hard limit (reconciled_breach_at) and clears the mark (budgets spec §7.2)';

-- Quota bookkeeping (§7.3): admissions past their window are dropped (their
-- concurrency slots freed themselves at the same moment), and the slots
-- of a released or expired admission are cleared of its execution id.
CREATE FUNCTION ff.reconcile_quotas(batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('quota_reconcile', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM ff.quota_admission a WHERE (a.quota_policy_id, a.execution_id) IN (
            SELECT x.quota_policy_id, x.execution_id FROM ff.quota_admission x WHERE x.expires_at <= c.now_ms
            ORDER BY x.expires_at LIMIT batch_size * 10 FOR UPDATE SKIP LOCKED)
        RETURNING a.quota_policy_id)
    SELECT count(DISTINCT quota_policy_id) INTO n FROM gone;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'quota_reconcile', 'processed', n,
                              'errors', 0, 'more', false);
END $$;
COMMENT ON FUNCTION ff.reconcile_quotas(integer) IS
    'Drops quota admissions past their window, one batch (budgets spec §7.3)';

CREATE FUNCTION ff.sweep_worker_registry(batch_size integer DEFAULT 500)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c ff._scan_context := ff._scan_context('worker_registry_sweep', NULL, NULL, batch_size);
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM ff.worker w WHERE (w.namespace, w.worker_instance_id) IN (
            SELECT x.namespace, x.worker_instance_id FROM ff.worker x WHERE x.expires_at <= c.now_ms
            ORDER BY x.expires_at LIMIT batch_size FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'scanner', 'worker_registry_sweep', 'processed', n,
                              'errors', 0, 'more', n >= batch_size);
END $$;
COMMENT ON FUNCTION ff.sweep_worker_registry(integer) IS
    'Deletes expired worker registrations (reads ignore them already) (budgets spec §7.5)';

-- ---- running them ----

-- The interval of a scanner, from its setting ff_engine.<scanner>_interval.
CREATE FUNCTION ff.scanner_interval_ms(scanner text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT ff._setting_ms('ff_engine.' || scanner || '_interval')
$$;
COMMENT ON FUNCTION ff.scanner_interval_ms(text) IS 'A scanner''s interval in ms (ff_engine.<scanner>_interval)';

CREATE FUNCTION ff.run_scanner(scanner text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    now_ bigint := ff.now_ms();
    r jsonb;
BEGIN
    r := CASE scanner
        WHEN 'lease_expiry' THEN ff.scan_lease_expiry()
        WHEN 'delayed' THEN ff.scan_delayed()
        WHEN 'attempt_timeout' THEN ff.scan_attempt_timeouts()
        WHEN 'execution_deadline' THEN ff.scan_execution_deadlines()
        WHEN 'unblock' THEN ff.scan_unblock()
        WHEN 'retention' THEN ff.trim_retention()
        WHEN 'dependencies' THEN ff.scan_dependencies()
        WHEN 'flow_cancel' THEN ff.scan_flow_cancels()
        WHEN 'flow_projector' THEN ff.project_flows()
        WHEN 'edge_cancel_dispatch' THEN ff.scan_edge_cancel_dispatch()
        WHEN 'edge_cancel_reconcile' THEN ff.scan_edge_cancel_reconcile()
        WHEN 'suspension_timeout' THEN ff.scan_suspension_timeouts()
        WHEN 'pending_waitpoint_expiry' THEN ff.scan_pending_waitpoint_expiry()
        WHEN 'budget_reset' THEN ff.scan_budget_resets()
        WHEN 'budget_reconcile' THEN ff.reconcile_budgets()
        WHEN 'quota_reconcile' THEN ff.reconcile_quotas()
        WHEN 'worker_registry_sweep' THEN ff.sweep_worker_registry()
    END;
    IF r IS NULL THEN
        RAISE EXCEPTION 'unknown scanner "%"', scanner USING ERRCODE = '22023',
            HINT = 'Scanners: lease_expiry, delayed, attempt_timeout, execution_deadline, unblock, retention, dependencies, flow_cancel, flow_projector, edge_cancel_dispatch, edge_cancel_reconcile, suspension_timeout, pending_waitpoint_expiry, budget_reset, budget_reconcile, quota_reconcile, worker_registry_sweep.';
    END IF;
    UPDATE ff.scanner_state s SET cycle = s.cycle + 1, runs = s.runs + 1, last_started_at = now_,
        last_duration_ms = extract(epoch FROM clock_timestamp() - started) * 1000,
        last_processed = (r ->> 'processed')::integer, last_errors = (r ->> 'errors')::integer,
        total_processed = s.total_processed + (r ->> 'processed')::integer,
        total_errors = s.total_errors + (r ->> 'errors')::integer,
        next_run_at = now_ + ff.scanner_interval_ms(run_scanner.scanner)
    WHERE s.scanner = run_scanner.scanner;
    RETURN r;
END $$;
COMMENT ON FUNCTION ff.run_scanner(text) IS
    'Runs one batch of a scanner and records it in ff.scanner_state (what the engine worker calls)';

CREATE FUNCTION ff.run_scanners() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s text;
    r jsonb;
    out jsonb := '[]';
BEGIN
    FOR s IN SELECT st.scanner FROM ff.scanner_state st
             WHERE st.next_run_at IS NULL OR st.next_run_at <= ff.now_ms() ORDER BY st.scanner LOOP
        -- full batches mean a backlog: take up to 256 batches, as the
        -- engine worker does in one tick
        FOR i IN 1..256 LOOP
            r := ff.run_scanner(s);
            out := out || r;
            EXIT WHEN NOT (r ->> 'more')::boolean;
        END LOOP;
    END LOOP;
    RETURN out;
END $$;
COMMENT ON FUNCTION ff.run_scanners() IS
    'Runs every scanner that is due, draining a backlog up to 256 batches each (for pg_cron where the library is not preloaded)';

CREATE VIEW ff.scanner_status AS
SELECT s.scanner, ff.scanner_interval_ms(s.scanner) AS interval_ms, s.runs, s.cycle,
       to_timestamp(s.last_started_at / 1000.0) AS last_run, s.last_duration_ms,
       s.last_processed, s.last_errors, s.total_processed, s.total_errors,
       to_timestamp(s.next_run_at / 1000.0) AS next_run,
       (SELECT count(*) FROM ff.scanner_item_failure f WHERE f.scanner = s.scanner) AS failing_items
FROM ff.scanner_state s;
COMMENT ON VIEW ff.scanner_status IS
    'Per scanner: interval, last run and its duration, processed and error counts, next run';
-- ff_engine install script: background workers.
CREATE FUNCTION ff._wake_launcher() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_wake_launcher_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._wake_launcher() IS
    'Internal: asks the launcher to start this database''s engine worker once the transaction commits';

-- Serve this database at once when the library is preloaded.
SELECT ff._wake_launcher();
-- ff_engine install script: roles and privileges (issue 10).
--
-- Four roles (cluster-wide, created once, kept when the extension is
-- dropped): ff_reader sees the read models; ff_worker claims and works
-- executions; ff_submitter submits, cancels, signals and builds flows;
-- ff_admin has every function.  Grant them to login roles.
--
-- Nobody but the extension's owner reaches the tables: every function runs
-- as its owner (SECURITY DEFINER) with search_path pinned to pg_catalog, ff
-- and pg_temp last, and the views run with the owner's rights too.  What a
-- role may do is therefore exactly which functions and views it is granted.

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ff_reader', 'ff_worker', 'ff_submitter', 'ff_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $roles$;

-- Every function of the extension runs as its owner with a pinned search_path.
DO $definer$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'ff' AND p.prokind = 'f' LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, ff, pg_temp', f);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $definer$;

REVOKE ALL ON ALL TABLES IN SCHEMA ff FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ff FROM PUBLIC;
GRANT USAGE ON SCHEMA ff TO ff_reader, ff_worker, ff_submitter, ff_admin;

-- Grants by role: a function list per role.
DO $grants$
DECLARE
    grants jsonb := '{
      "ff_reader": ["read_execution_state", "read_execution_info", "describe_execution", "get_execution_result",
                    "get_execution_tag", "read_execution_context", "list_executions", "describe_flow", "list_flows",
                    "list_edges", "describe_edge", "read_stream_meta", "read_attempt_stream", "tail_attempt_stream",
                    "read_summary", "list_pending_waitpoints", "list_suspended", "get_budget_status", "list_workers",
                    "list_expired_leases", "execution_id", "flow_member_execution_id", "parse_execution_id",
                    "format_execution_id", "crc16", "solo_partition", "flow_partition", "budget_partition",
                    "quota_partition", "now_ms", "derive_public_state", "lane_channel", "scanner_interval_ms",
                    "_namespaces"],
      "ff_worker": ["claim_next", "claim_execution", "claim_resumed_execution", "renew_lease", "update_progress",
                    "complete_execution", "fail_execution", "complete_executions", "fail_executions",
                    "delay_execution", "move_to_waiting_children", "append_frame", "suspend_execution",
                    "create_pending_waitpoint", "close_waitpoint", "observe_signals", "report_usage_and_check",
                    "record_spend", "register_worker", "heartbeat_worker", "mark_worker_dead"],
      "ff_submitter": ["create_execution", "create_executions", "cancel_execution", "set_execution_tags",
                       "change_priority", "deliver_signal", "buffer_signal_for_pending_waitpoint", "create_flow",
                       "add_execution_to_flow", "set_flow_tags", "stage_dependency_edge", "apply_dependency_to_child",
                       "add_dependency", "set_edge_group_policy", "cancel_flow"]
    }';
    r text;
    fn text;
    f regprocedure;
BEGIN
    FOR r IN SELECT jsonb_object_keys(grants) LOOP
        FOR fn IN SELECT jsonb_array_elements_text(grants -> r) LOOP
            FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'ff' AND p.proname = fn LOOP
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, r);
            END LOOP;
        END LOOP;
    END LOOP;
END $grants$;

-- workers and submitters read what they work on; the admin has every
-- function and view (the waitpoints view shows tokens), never a table
GRANT ff_reader TO ff_worker, ff_submitter;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ff TO ff_admin;
GRANT SELECT ON ff.executions, ff.visible_execution, ff.flows, ff.flow_edges, ff.edge_groups, ff.suspensions, ff.signals,
                ff.budget_status, ff.quota_status, ff.scanner_status, ff.sibling_cancel_status,
                ff.consistency_violations TO ff_reader;
GRANT ff_reader TO ff_admin;
GRANT SELECT ON ff.waitpoints TO ff_admin;
