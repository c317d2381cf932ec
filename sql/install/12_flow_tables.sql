-- ff_engine install script: flow tables (behaviour/flows §2, behaviour/flows §A).
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
-- The CANCEL_BACKLOG entry is the flow's own cancel_due_at, so a deleted
-- flow takes its backlog entry with it; the cascade takes its pending set
-- too (behaviour/flows checklist 76): no orphaned set keeps members unclaimable.
CREATE TABLE ff.flow_pending_cancel (
    partition     smallint NOT NULL,
    flow_id       uuid NOT NULL,
    execution_id  uuid NOT NULL,
    PRIMARY KEY (partition, flow_id, execution_id),
    CONSTRAINT flow_pending_cancel_flow_fkey FOREIGN KEY (partition, flow_id)
        REFERENCES ff.flow (partition, flow_id) ON DELETE CASCADE
);

-- Flow-side edges (behaviour/flows §2.3), immutable once staged.
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

-- The inbound edge group of one downstream (behaviour/flows §2.4, RFC-016).
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

-- PENDING_CANCEL_GROUPS (behaviour/flows §2.6): groups owed a sibling cancel, written with
-- the group's terminal flip (Invariant Q6).
CREATE TABLE ff.pending_cancel_group (
    partition                 smallint NOT NULL,
    flow_id                   uuid NOT NULL,
    downstream_execution_id   uuid NOT NULL,
    enqueued_at               bigint NOT NULL,
    PRIMARY KEY (partition, flow_id, downstream_execution_id)
);
CREATE INDEX pending_cancel_group_enqueued_idx ON ff.pending_cancel_group (enqueued_at);

-- The child side of each applied edge (behaviour/flows §2.5).  UNRESOLVED = state
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

-- deps_meta (behaviour/flows §2.5): the all_of counters of a child.
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

-- The flow summary written by the projector (behaviour/flows §2.9), exact counts.
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
