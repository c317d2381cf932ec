-- ff_engine install script: suspension, waitpoint, signal and HMAC key tables
-- (behaviour/suspension §2, behaviour/suspension §A).
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

-- Composite progress (behaviour/suspension §3.3.2, per-node tokens): "<node path>|leaf",
-- "<node path>|wp:<id>", "<node path>|sig:<id>", "<node path>|src:<t>:<i>".
CREATE TABLE ff.suspension_token (
    partition     smallint NOT NULL,
    execution_id  uuid NOT NULL,
    token         text NOT NULL,
    signal_id     uuid NOT NULL,
    PRIMARY KEY (partition, execution_id, token)
);

-- Waitpoints (behaviour/suspension §2.2) with their condition record folded in (behaviour/suspension §2.3): the
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

-- Accepted signals (behaviour/suspension §2.5).  seq orders a waitpoint's log.
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

-- Stored outcomes of suspend calls, scope (execution, key) (behaviour/suspension §4.1.6).
CREATE TABLE ff.suspend_dedup (
    partition        smallint NOT NULL,
    execution_id     uuid NOT NULL,
    idempotency_key  text NOT NULL,
    outcome          jsonb NOT NULL,
    expires_at       bigint,
    PRIMARY KEY (partition, execution_id, idempotency_key)
);

-- The waitpoint HMAC keystore (behaviour/suspension §5.4): one current kid (no expiry), older
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

-- Signal-delivery events (behaviour/suspension §7.1): one per accepted deliver_signal, announced
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
