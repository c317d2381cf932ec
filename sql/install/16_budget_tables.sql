-- ff_engine install script: budgets, quota policies and their admission
-- records (behaviour/budgets §2, behaviour/budgets §A).  Budgets and quota policies are
-- not execution-partitioned; their partition column is the {b:M} / {q:K}
-- index for a sharded deployment.
--
-- Each belongs to a namespace, or to none (NULL: global, an admin's).  A
-- role bound to namespaces sees and touches only those of its namespaces;
-- an execution is governed only by budgets and a quota of its own
-- namespace or global ones (issue 20; the reference has no namespaces on
-- budgets, see doc/decisions.md).
--
-- Lock order: a budget row, then its usage rows by dimension ascending.
-- Quota admissions lock only slot rows they take with SKIP LOCKED (they
-- never wait on one another, except on a slot row being created) and their
-- guard row; a claim holds its candidate execution rows first.

CREATE TABLE ff.budget (
    budget_id              uuid PRIMARY KEY,
    partition              smallint NOT NULL,
    namespace              text CHECK (namespace <> ''),
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

-- Usage idempotency marks, scope (budget, key) (behaviour/budgets §C.3); a mark
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
    namespace                text CHECK (namespace <> ''),
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
