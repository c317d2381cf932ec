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

CREATE FUNCTION ff._caller_now_ms(now_ms bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ff_caller_now_ms_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._caller_now_ms(bigint) IS
    'Internal: the engine clock when now_ms is NULL, else now_ms, which only an administrator may pass (42501)';

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
    'Mints a new solo execution id {fp:N}:<uuid v7> for the lane (time-ordered)';

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

-- Backends keep what they read of a kept table (the partition counts, the
-- channel key) until it is written.
CREATE FUNCTION ff._kept_table_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ff_kept_table_changed' LANGUAGE C;
COMMENT ON FUNCTION ff._kept_table_changed() IS
    'Internal (trigger): a write to a table backends keep (ff.partition_config, ff.channel_key) makes every backend read it again';
CREATE TRIGGER partition_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ff.partition_config
    FOR EACH STATEMENT EXECUTE FUNCTION ff._kept_table_changed();

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
    'Submits an execution (behaviour/execution §3.1): OK {execution_id, public_state} or DUPLICATE {execution_id}';

-- Bulk submit: one call, one transaction, each element exactly create_execution
-- with the shared options; distinct ids are written set-based (src/exec_batch.c).
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
    'Reserves an eligible execution for one worker_id for grant_ttl_ms (behaviour/execution §3.2)';

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
    'Claims a fresh attempt using a claim grant (behaviour/execution §3.3); lease_id/attempt_id are minted when NULL';

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
    'Continues an interrupted attempt using a claim grant (behaviour/execution §3.4)';

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
    'Operator grant + claim in one step, capabilities not checked (behaviour/execution §3.5)';

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
    'Extends the lease to now + lease_ttl_ms (behaviour/execution §3.6); an expired lease is marked and refused';

CREATE FUNCTION ff.update_progress(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    progress_pct integer DEFAULT NULL,
    progress_message text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_update_progress' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.update_progress(text, uuid, bigint, integer, text) IS
    'Records progress of the running attempt (behaviour/execution §3.7)';

CREATE FUNCTION ff.complete_execution(
    execution_id text,
    lease_id uuid DEFAULT NULL,
    lease_epoch bigint DEFAULT NULL,
    attempt_id uuid DEFAULT NULL,
    result_payload bytea DEFAULT NULL,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_complete_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.complete_execution(text, uuid, bigint, uuid, bytea, text) IS
    'Completes the running attempt successfully (behaviour/execution §3.8)';

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
    'Fails the running attempt: retry_scheduled per the policy''s retry_policy, else terminal_failed (behaviour/execution §3.9)';

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
    'Cancels a non-terminal execution (behaviour/execution §3.10); an active one needs its lease unless source = operator_override';

CREATE FUNCTION ff.delay_execution(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    delay_until bigint,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_delay_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.delay_execution(text, uuid, bigint, uuid, bigint, text) IS
    'Parks the running attempt until delay_until; it resumes on the same attempt (behaviour/execution §3.11)';

CREATE FUNCTION ff.move_to_waiting_children(
    execution_id text,
    lease_id uuid,
    lease_epoch bigint,
    attempt_id uuid,
    source text DEFAULT '')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_move_to_waiting_children' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.move_to_waiting_children(text, uuid, bigint, uuid, text) IS
    'Parks the running attempt until its child executions complete (behaviour/execution §3.12)';

CREATE FUNCTION ff.mark_lease_expired_if_due(execution_id text)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_mark_lease_expired_if_due' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.mark_lease_expired_if_due(text) IS
    'Marks a lease past its expiry as lease_expired_reclaimable (behaviour/execution §3.17)';

-- ---- scheduling ----

CREATE FUNCTION ff.promote_delayed(execution_id text, now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_promote_delayed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.promote_delayed(text, bigint) IS
    'Makes a due delayed execution eligible, keeping its attempt_state (behaviour/execution §3.13)';

CREATE FUNCTION ff.change_priority(execution_id text, new_priority bigint)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_change_priority' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.change_priority(text, bigint) IS
    'Changes the priority (clamped to 0..9000) of an eligible execution (behaviour/execution §3.16)';

-- ---- tags ----

CREATE FUNCTION ff.set_execution_tags(execution_id text, VARIADIC pairs text[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_set_execution_tags' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.set_execution_tags(text, text[]) IS
    'Upserts key/value tag pairs; keys must look like app.field (behaviour/execution §3.23)';

-- ---- lease recovery (behaviour/execution §3.18-§3.20) ----

CREATE FUNCTION ff.revoke_lease(
    execution_id text,
    expected_lease_id uuid DEFAULT NULL,
    revoke_reason text DEFAULT 'operator')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_revoke_lease' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.revoke_lease(text, uuid, text) IS
    'Takes the lease away from its holder at once; the execution waits for a reclaim (behaviour/execution §3.18)';

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
    'Reserves an execution whose lease expired or was revoked for one worker_id (behaviour/execution §3.19)';

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
    'Takes over an expired or revoked lease with a new attempt of type reclaim, within the reclaim cap (behaviour/execution §3.20)';

-- ---- expiry, replay, admission (behaviour/execution §3.14, §3.15, §3.21, §3.22) ----

CREATE FUNCTION ff.expire_execution(execution_id text, expire_reason text DEFAULT 'attempt_timeout')
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_expire_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.expire_execution(text, text) IS
    'Ends a non-terminal execution as expired (attempt_timeout or execution_deadline; behaviour/execution §3.21)';

CREATE FUNCTION ff.replay_execution(execution_id text, requested_by text DEFAULT NULL, reason text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_replay_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.replay_execution(text, text, text) IS
    'Runs a terminal execution again with a new replay attempt (behaviour/execution §3.22)';

CREATE FUNCTION ff.block_execution_for_admission(
    execution_id text,
    blocking_reason text,
    blocking_detail text DEFAULT NULL,
    now_ms bigint DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_block_execution_for_admission' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.block_execution_for_admission(text, text, text, bigint) IS
    'Holds an eligible execution back for budget, quota, route, operator or policy (behaviour/execution §3.14)';

CREATE FUNCTION ff.unblock_execution(
    execution_id text,
    now_ms bigint DEFAULT NULL,
    expected_blocking_reason text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_unblock_execution' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.unblock_execution(text, bigint, text) IS
    'Releases a budget, quota, route or operator block back to its place in the queue (behaviour/execution §3.15)';
