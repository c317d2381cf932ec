-- ---- computed on the router, exactly as the shards compute them ----

CREATE FUNCTION ffr._check_lane(lane_id text) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF octet_length(lane_id) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'lane_id must be 1 to 64 bytes long, got %', octet_length(lane_id) USING ERRCODE = '22023';
    END IF;
    IF lane_id !~ '^[\x20-\x7e]+$' THEN
        RAISE EXCEPTION 'lane_id must be printable ASCII' USING ERRCODE = '22023';
    END IF;
END $$;

CREATE FUNCTION ff.crc16(data bytea) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT ffr.crc16(data)
$$;
COMMENT ON FUNCTION ff.crc16(bytea) IS 'Router: local. CRC-16/XMODEM, as on the shards';

CREATE FUNCTION ff.solo_partition(lane_id text) RETURNS smallint LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    PERFORM ffr._check_lane(lane_id);
    RETURN (ffr.crc16(convert_to(lane_id, 'UTF8')) % (SELECT c.num_flow_partitions FROM ffr.config c))::smallint;
END $$;
COMMENT ON FUNCTION ff.solo_partition(text) IS 'Router: local. crc16(lane) mod num_flow_partitions';

CREATE FUNCTION ff.flow_partition(flow_id uuid) RETURNS smallint LANGUAGE sql STABLE STRICT AS $$
    SELECT ffr.partition_of_flow(flow_id)::smallint
$$;
COMMENT ON FUNCTION ff.flow_partition(uuid) IS 'Router: local. crc16(flow uuid bytes) mod num_flow_partitions';

CREATE FUNCTION ff.budget_partition(budget_id uuid) RETURNS smallint LANGUAGE sql STABLE STRICT AS $$
    SELECT ffr.partition_of_budget(budget_id)::smallint
$$;
COMMENT ON FUNCTION ff.budget_partition(uuid) IS 'Router: local. crc16(budget uuid bytes) mod num_budget_partitions';

CREATE FUNCTION ff.quota_partition(quota_policy_id uuid) RETURNS smallint LANGUAGE sql STABLE STRICT AS $$
    SELECT ffr.partition_of_quota(quota_policy_id)::smallint
$$;
COMMENT ON FUNCTION ff.quota_partition(uuid) IS 'Router: local. crc16(quota uuid bytes) mod num_quota_partitions';

CREATE FUNCTION ff.format_execution_id(partition smallint, execution_uuid uuid) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    IF partition < 0 THEN
        RAISE EXCEPTION 'partition must be between 0 and 65535, got %', partition USING ERRCODE = '22023';
    END IF;
    RETURN '{fp:' || partition || '}:' || execution_uuid::text;
END $$;
COMMENT ON FUNCTION ff.format_execution_id(smallint, uuid) IS 'Router: local. {fp:N}:<uuid>';

CREATE FUNCTION ff.parse_execution_id(execution_id text, OUT partition smallint, OUT execution_uuid uuid) RETURNS record
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF execution_id IS NULL THEN
        RAISE EXCEPTION 'execution_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    partition := ffr.partition_of_execution(execution_id)::smallint;
    execution_uuid := substr(execution_id, strpos(execution_id, '}:') + 2)::uuid;
END $$;
COMMENT ON FUNCTION ff.parse_execution_id(text) IS 'Router: local. The partition and uuid of an execution id';

-- Minting: the id's partition decides its shard, so the router mints with
-- the shards' own rule (a lane's solo executions share a partition).
CREATE FUNCTION ff.execution_id(lane_id text DEFAULT 'default') RETURNS text LANGUAGE sql VOLATILE STRICT AS $$
    SELECT ff.format_execution_id(ff.solo_partition(lane_id), gen_random_uuid())
$$;
COMMENT ON FUNCTION ff.execution_id(text) IS 'Router: local. A fresh solo execution id on the lane''s partition';

CREATE FUNCTION ff.flow_member_execution_id(flow_id uuid) RETURNS text LANGUAGE sql VOLATILE STRICT AS $$
    SELECT ff.format_execution_id(ff.flow_partition(flow_id), gen_random_uuid())
$$;
COMMENT ON FUNCTION ff.flow_member_execution_id(uuid) IS 'Router: local. A fresh execution id on the flow''s partition (co-located)';

-- ---- the row type list_edges returns (the shards'' view ff.flow_edges) ----
CREATE TYPE ff.flow_edges AS (
    flow_id uuid, edge_id uuid, upstream_execution_id text, downstream_execution_id text,
    dependency_kind text, data_passing_ref text, created_at bigint, dependency_state text, last_resolved_at bigint);
COMMENT ON TYPE ff.flow_edges IS 'The row of the shards'' view ff.flow_edges';

-- ---- partition configuration: every shard, then the router's copy ----
CREATE FUNCTION ffr.all_set_partition_config(num_flow_partitions integer, num_budget_partitions integer,
    num_quota_partitions integer) RETURNS SETOF boolean AS $$
    CLUSTER 'ff_engine'; RUN ON ALL; TARGET ff.set_partition_config;
$$ LANGUAGE plproxy;
COMMENT ON FUNCTION ffr.all_set_partition_config(integer, integer, integer) IS 'ff.set_partition_config on every shard';

CREATE FUNCTION ff.set_partition_config(num_flow_partitions integer, num_budget_partitions integer DEFAULT 32,
    num_quota_partitions integer DEFAULT 32) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- a shard that refuses (executions exist) raises here and the router
    -- keeps its counts; the call is repeatable after fixing the cause
    PERFORM ffr.all_set_partition_config($1, $2, $3);
    IF ffr.nshards() > least($1, $2, $3) THEN
        RAISE EXCEPTION 'cannot have % shards with %/%/% partitions', ffr.nshards(), $1, $2, $3
            USING ERRCODE = '22023', HINT = 'Every shard must own at least one partition of each family.';
    END IF;
    UPDATE ffr.config SET num_flow_partitions = $1, num_budget_partitions = $2, num_quota_partitions = $3;
    RETURN true;
END $$;
COMMENT ON FUNCTION ff.set_partition_config(integer, integer, integer) IS
    'Router: all. Sets the counts on every shard (idempotent), then the router''s copy';

-- ---- variadic tags (PL/Proxy forwards no VARIADIC argument) ----
CREATE FUNCTION ffr.set_execution_tags_on(execution_id text, pairs text[]) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON ffr.partition_of_execution(execution_id);
    SELECT ff.set_execution_tags(execution_id, VARIADIC pairs);
$$ LANGUAGE plproxy;
COMMENT ON FUNCTION ffr.set_execution_tags_on(text, text[]) IS 'ff.set_execution_tags on the execution''s shard';
CREATE FUNCTION ff.set_execution_tags(execution_id text, VARIADIC pairs text[]) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT ffr.set_execution_tags_on($1, $2)
$$;
COMMENT ON FUNCTION ff.set_execution_tags(text, text[]) IS 'Router: run on the execution''s partition';

CREATE FUNCTION ffr.set_flow_tags_on(flow_id uuid, pairs text[]) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON ffr.partition_of_flow(flow_id);
    SELECT ff.set_flow_tags(flow_id, VARIADIC pairs);
$$ LANGUAGE plproxy;
COMMENT ON FUNCTION ffr.set_flow_tags_on(uuid, text[]) IS 'ff.set_flow_tags on the flow''s shard';
CREATE FUNCTION ff.set_flow_tags(flow_id uuid, VARIADIC pairs text[]) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT ffr.set_flow_tags_on($1, $2)
$$;
COMMENT ON FUNCTION ff.set_flow_tags(uuid, text[]) IS 'Router: run on the flow''s partition';

-- ---- claim_next: the lane on every shard, in a worker-specific order ----
CREATE FUNCTION ffr.claim_next_on(shard integer, lane_id text, worker_id text, worker_instance_id text,
    worker_capabilities text[], lease_ttl_ms bigint, max_count integer, attempt_timeout_ms bigint, reclaim boolean)
RETURNS TABLE(claim jsonb, input_payload bytea) AS $$
    CLUSTER 'ff_engine'; RUN ON shard;
    SELECT c.claim, c.input_payload FROM ff.claim_next(lane_id, worker_id, worker_instance_id, worker_capabilities,
        lease_ttl_ms, max_count, attempt_timeout_ms, reclaim) c;
$$ LANGUAGE plproxy;
COMMENT ON FUNCTION ffr.claim_next_on(integer, text, text, text, text[], bigint, integer, bigint, boolean) IS
    'ff.claim_next on one shard';

-- Starts at a shard chosen by the worker instance and moves one shard on
-- per call, so workers spread; a shard that fails is skipped (its work
-- waits for it).  Each shard's claim commits there by itself.
CREATE FUNCTION ff.claim_next(lane_id text, worker_id text, worker_instance_id text,
    worker_capabilities text[] DEFAULT '{}', lease_ttl_ms bigint DEFAULT 30000, max_count integer DEFAULT 1,
    attempt_timeout_ms bigint DEFAULT NULL, reclaim boolean DEFAULT false)
RETURNS TABLE(claim jsonb, input_payload bytea) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n integer := ffr.nshards();
    turn bigint := COALESCE(NULLIF(current_setting('ffr.claim_turn', true), ''), '0')::bigint;
    start integer;
    got integer := 0;
    k integer;
    s integer;
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION 'the shard map is empty' USING ERRCODE = '55000';
    END IF;
    PERFORM set_config('ffr.claim_turn', (turn + 1)::text, false);
    start := ((hashtext(COALESCE(worker_instance_id, '')) & 2147483647) + turn) % n;
    FOR i IN 0 .. n - 1 LOOP
        s := (start + i) % n;
        BEGIN
            k := 0;
            FOR claim, input_payload IN
                SELECT c.claim, c.input_payload FROM ffr.claim_next_on(s, lane_id, worker_id, worker_instance_id,
                    worker_capabilities, lease_ttl_ms, max_count - got, attempt_timeout_ms, reclaim) c LOOP
                k := k + 1;
                RETURN NEXT;
            END LOOP;
            got := got + k;
        EXCEPTION WHEN OTHERS THEN
            -- an unreachable shard (PL/Proxy reports it as XX000 naming the
            -- libpq call): the others still serve; anything else is raised
            IF SQLSTATE LIKE '08%' OR SQLSTATE LIKE '57P%'
               OR (SQLSTATE = 'XX000' AND SQLERRM ~ '(PQconnect|PQconsumeInput|PQsendQuery|PQflush|PQsendQueryParams)') THEN
                RAISE WARNING 'ff.claim_next: shard % skipped: %', s, SQLERRM;
            ELSE
                RAISE;
            END IF;
        END;
        EXIT WHEN got >= max_count;
    END LOOP;
END $$;
COMMENT ON FUNCTION ff.claim_next(text, text, text, text[], bigint, integer, bigint, boolean) IS
    'Router: manual. Tries the lane on each shard, starting at one chosen by the worker instance and turning per call';
