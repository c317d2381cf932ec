-- ff_engine_router install script (generated: router/sql/*.sql, then the
-- proxies gen_router.pl writes from rules.tsv and the engine's function list).
-- The router holds no work: it forwards each ff.* call to the shard that
-- owns it.  doc/scale-out.md is the manual.
\echo Use "CREATE EXTENSION ff_engine_router CASCADE" to load this file. \quit

CREATE SCHEMA ffr;
COMMENT ON SCHEMA ffr IS 'ff_engine_router: the shard map, routing functions and merges';
CREATE SCHEMA ff;
COMMENT ON SCHEMA ff IS 'ff_engine_router: the engine''s functions, forwarded to the shards';
CREATE SCHEMA plproxy;

-- ---- the shard map (data) ----
-- Partition p of every family lives on shard p & (nshards - 1), i.e.
-- p mod nshards: PL/Proxy maps a RUN ON hash to a shard by that mask, and
-- the routing functions below return the partition itself.
CREATE TABLE ffr.shard (
    shard_no integer PRIMARY KEY CHECK (shard_no >= 0 AND shard_no < 1024),
    connstr  text NOT NULL CHECK (connstr <> '')
);
COMMENT ON TABLE ffr.shard IS 'The shards, numbered 0..n-1 (n a power of two); partition p is on shard p mod n';

-- The engine's partition counts, kept equal to every shard's
-- ff.partition_config by ff.set_partition_config (which goes to ALL).
CREATE TABLE ffr.config (
    singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    num_flow_partitions   integer NOT NULL DEFAULT 256 CHECK (num_flow_partitions BETWEEN 1 AND 32768),
    num_budget_partitions integer NOT NULL DEFAULT 32 CHECK (num_budget_partitions BETWEEN 1 AND 32768),
    num_quota_partitions  integer NOT NULL DEFAULT 32 CHECK (num_quota_partitions BETWEEN 1 AND 32768),
    map_version           integer NOT NULL DEFAULT 1
);
INSERT INTO ffr.config DEFAULT VALUES;
COMMENT ON TABLE ffr.config IS 'The shards'' partition counts (as ff.partition_config) and the shard map''s version';
SELECT pg_catalog.pg_extension_config_dump('ffr.shard', '');
SELECT pg_catalog.pg_extension_config_dump('ffr.config', '');

-- Any change of the map bumps its version: PL/Proxy reloads the cluster.
CREATE FUNCTION ffr._bump_map_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ffr.config SET map_version = map_version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER shard_map_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ffr.shard
    FOR EACH STATEMENT EXECUTE FUNCTION ffr._bump_map_version();

-- ---- PL/Proxy's cluster configuration: cluster 'ff_engine' ----
CREATE FUNCTION plproxy.get_cluster_version(cluster_name text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF cluster_name <> 'ff_engine' THEN
        RAISE EXCEPTION 'unknown cluster "%"', cluster_name USING ERRCODE = '22023';
    END IF;
    RETURN (SELECT c.map_version FROM ffr.config c);
END $$;

-- SECURITY DEFINER: callers need not read the connection strings
CREATE FUNCTION plproxy.get_cluster_partitions(cluster_name text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE n integer := (SELECT count(*) FROM ffr.shard);
BEGIN
    IF cluster_name <> 'ff_engine' THEN
        RAISE EXCEPTION 'unknown cluster "%"', cluster_name USING ERRCODE = '22023';
    END IF;
    IF n = 0 OR n & (n - 1) <> 0 OR (SELECT max(shard_no) FROM ffr.shard) <> n - 1 THEN
        RAISE EXCEPTION 'the shard map must number its shards 0..n-1 with n a power of two, has % shards', n
            USING ERRCODE = '55000', HINT = 'Fix ffr.shard.';
    END IF;
    RETURN QUERY SELECT s.connstr FROM ffr.shard s ORDER BY s.shard_no;
END $$;

CREATE FUNCTION plproxy.get_cluster_config(cluster_name text, OUT key text, OUT val text) RETURNS SETOF record
LANGUAGE sql STABLE AS $$
    -- a connection older than 30 min is reopened: a restarted shard is found again
    SELECT 'connection_lifetime'::text, '1800'::text
$$;

-- ---- partitions, computed as the shards compute them (src/core_ids.c) ----
CREATE FUNCTION ffr.crc16(data bytea) RETURNS integer
    AS 'MODULE_PATHNAME', 'ffr_crc16_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ffr.crc16(bytea) IS 'CRC-16/XMODEM, as ff.crc16 on the shards';
CREATE FUNCTION ffr.uuid_crc16(u uuid) RETURNS integer
    AS 'MODULE_PATHNAME', 'ffr_uuid_crc16_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ffr.uuid_crc16(uuid) IS 'CRC-16/XMODEM of the 16 raw bytes of a uuid';
CREATE FUNCTION ffr.partition_of_execution(execution_id text) RETURNS integer
    AS 'MODULE_PATHNAME', 'ffr_partition_of_execution_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ffr.partition_of_execution(text) IS
    'The N of {fp:N}:<uuid> (22P02 for a malformed id): the execution''s partition';

CREATE FUNCTION ffr.partition_of_flow(flow_id uuid) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT ffr.uuid_crc16(flow_id) % c.num_flow_partitions FROM ffr.config c
$$;
COMMENT ON FUNCTION ffr.partition_of_flow(uuid) IS 'crc16(flow uuid bytes) mod num_flow_partitions: the flow''s and its members'' partition';
CREATE FUNCTION ffr.partition_of_budget(budget_id uuid) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT ffr.uuid_crc16(budget_id) % c.num_budget_partitions FROM ffr.config c
$$;
COMMENT ON FUNCTION ffr.partition_of_budget(uuid) IS 'crc16(budget uuid bytes) mod num_budget_partitions';
CREATE FUNCTION ffr.partition_of_quota(quota_policy_id uuid) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT ffr.uuid_crc16(quota_policy_id) % c.num_quota_partitions FROM ffr.config c
$$;
COMMENT ON FUNCTION ffr.partition_of_quota(uuid) IS 'crc16(quota policy uuid bytes) mod num_quota_partitions';
-- A fence without a well-formed execution id goes to partition 0, whose
-- shard refuses it with the engine's own error.
CREATE FUNCTION ffr.partition_of_fence(fence jsonb) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(fence) IS DISTINCT FROM 'object' OR jsonb_typeof(fence -> 'execution_id') IS DISTINCT FROM 'string' THEN
        RETURN 0;
    END IF;
    RETURN ffr.partition_of_execution(fence ->> 'execution_id');
EXCEPTION WHEN invalid_text_representation THEN
    RETURN 0;
END $$;
COMMENT ON FUNCTION ffr.partition_of_fence(jsonb) IS
    'The partition of a fence''s (a claim''s) execution; 0 for a malformed fence (that shard refuses it)';

CREATE FUNCTION ffr.nshards() RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT count(*)::integer FROM ffr.shard
$$;
COMMENT ON FUNCTION ffr.nshards() IS 'The number of shards';
CREATE FUNCTION ffr.shard_of_partition(p integer) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT p & (ffr.nshards() - 1)
$$;
COMMENT ON FUNCTION ffr.shard_of_partition(integer) IS 'The shard owning partition p of any family: p mod nshards';
CREATE FUNCTION ffr.shard_of_execution(execution_id text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT ffr.shard_of_partition(ffr.partition_of_execution(execution_id))
$$;
COMMENT ON FUNCTION ffr.shard_of_execution(text) IS 'The shard owning an execution';

-- ---- budgets and quotas: admission never crosses a shard ----
-- Claim-time admission reads the execution's budgets and quota in the
-- claim's transaction, on the execution's shard.  So a budget or quota
-- may govern only executions on its own shard; the router refuses any
-- call that would attach or charge across shards (0A000), before a
-- shard sees it.  ffr.colocated_budget_id mints a fitting id.
CREATE FUNCTION ffr._refuse_cross_shard(what text, id uuid, owner_part integer, execution_id text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF ffr.shard_of_partition(owner_part) <> ffr.shard_of_execution(execution_id) THEN
        RAISE EXCEPTION '% % lives on shard %, execution % on shard %', what, id,
            ffr.shard_of_partition(owner_part), execution_id, ffr.shard_of_execution(execution_id)
            USING ERRCODE = '0A000',
                  DETAIL = 'Admission is checked in the claim''s transaction on the execution''s shard.',
                  HINT = 'Mint the budget or quota id on the execution''s shard: ffr.colocated_budget_id(execution_id).';
    END IF;
END $$;

CREATE FUNCTION ffr.route_admission(execution_id text, budget_ids uuid[], quota_policy_id uuid) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE b uuid;
BEGIN
    FOREACH b IN ARRAY COALESCE(budget_ids, '{}') LOOP
        CONTINUE WHEN b IS NULL;
        PERFORM ffr._refuse_cross_shard('budget', b, ffr.partition_of_budget(b), execution_id);
    END LOOP;
    IF quota_policy_id IS NOT NULL THEN
        PERFORM ffr._refuse_cross_shard('quota policy', quota_policy_id, ffr.partition_of_quota(quota_policy_id), execution_id);
    END IF;
    RETURN ffr.partition_of_execution(execution_id);
END $$;
COMMENT ON FUNCTION ffr.route_admission(text, uuid[], uuid) IS
    'The execution''s partition, after refusing (0A000) a budget or quota on another shard';

-- create_execution: budgets and a quota may come in policy_json; a policy
-- the shard will reject as malformed is left for the shard to reject.
CREATE FUNCTION ffr.route_create(execution_id text, policy_json text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE p jsonb; budgets uuid[]; quota uuid;
BEGIN
    IF policy_json IS NOT NULL THEN
        BEGIN
            p := policy_json::jsonb;
            IF jsonb_typeof(p -> 'budget_ids') = 'array' THEN
                budgets := ARRAY(SELECT x::uuid FROM jsonb_array_elements_text(p -> 'budget_ids') x);
            END IF;
            IF jsonb_typeof(p -> 'quota_policy_id') = 'string' THEN
                quota := (p ->> 'quota_policy_id')::uuid;
            END IF;
        EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
            NULL;
        END;
    END IF;
    RETURN ffr.route_admission(execution_id, budgets, quota);
END $$;
COMMENT ON FUNCTION ffr.route_create(text, text) IS
    'ff.create_execution''s route: the execution''s partition, refusing budgets or a quota of policy_json on another shard';

-- A charge's route: the budget's or quota's own partition (owner_part),
-- refusing (0A000) an execution given on another shard.
CREATE FUNCTION ffr._route_charge(what text, id uuid, owner_part integer, execution_id text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF execution_id IS NOT NULL THEN
        PERFORM ffr._refuse_cross_shard(what, id, owner_part, execution_id);
    END IF;
    RETURN owner_part;
END $$;
COMMENT ON FUNCTION ffr._route_charge(text, uuid, integer, text) IS
    'Internal: owner_part, after refusing (0A000) an execution on another shard';

CREATE FUNCTION ffr.route_budget_charge(budget_id uuid, execution_id text) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT ffr._route_charge('budget', $1, ffr.partition_of_budget($1), $2) $$;
COMMENT ON FUNCTION ffr.route_budget_charge(uuid, text) IS 'The budget''s partition, refusing (0A000) an execution on another shard';

CREATE FUNCTION ffr.route_quota_charge(quota_policy_id uuid, execution_id text) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT ffr._route_charge('quota policy', $1, ffr.partition_of_quota($1), $2) $$;
COMMENT ON FUNCTION ffr.route_quota_charge(uuid, text) IS 'The quota''s partition, refusing (0A000) an execution on another shard';

CREATE FUNCTION ffr.colocated_budget_id(execution_id text) RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
DECLARE want integer := ffr.shard_of_execution(execution_id); u uuid;
BEGIN
    -- about nshards tries; a budget id and a quota id share the rule
    LOOP
        u := gen_random_uuid();
        IF ffr.shard_of_partition(ffr.partition_of_budget(u)) = want
           AND ffr.shard_of_partition(ffr.partition_of_quota(u)) = want THEN
            RETURN u;
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION ffr.colocated_budget_id(text) IS
    'A fresh uuid that, as a budget id or a quota policy id, lives on the execution''s shard';

-- ---- merges of what several shards answered ----
-- Global administration: every shard must agree; the first refusal wins.
CREATE FUNCTION ffr.merge_admin(parts jsonb[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE((SELECT p FROM unnest(parts) WITH ORDINALITY AS x(p, i)
                     WHERE jsonb_typeof(p) = 'object' AND (p ->> 'ok') = 'false' ORDER BY i LIMIT 1), parts[1])
$$;
COMMENT ON FUNCTION ffr.merge_admin(jsonb[]) IS 'ALL-shard administration: the first refusal, else the first shard''s envelope';

-- Counters (scanners, dispatchers): numbers add, arrays concatenate,
-- objects merge key by key, "ok" is the AND and other flags the OR.
CREATE FUNCTION ffr.merge_sum(parts jsonb[], key text DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE t text; k text; out jsonb;
BEGIN
    parts := ARRAY(SELECT p FROM unnest(parts) p WHERE p IS NOT NULL AND jsonb_typeof(p) <> 'null');
    IF cardinality(parts) = 0 THEN RETURN NULL; END IF;
    t := jsonb_typeof(parts[1]);
    IF EXISTS (SELECT 1 FROM unnest(parts) p WHERE jsonb_typeof(p) <> t) THEN RETURN parts[1]; END IF;
    IF t = 'number' THEN
        RETURN to_jsonb((SELECT sum((p #>> '{}')::numeric) FROM unnest(parts) p));
    ELSIF t = 'boolean' THEN
        IF key = 'ok' THEN RETURN to_jsonb((SELECT bool_and((p #>> '{}')::boolean) FROM unnest(parts) p)); END IF;
        RETURN to_jsonb((SELECT bool_or((p #>> '{}')::boolean) FROM unnest(parts) p));
    ELSIF t = 'array' THEN
        RETURN (SELECT COALESCE(jsonb_agg(e ORDER BY i, j), '[]') FROM unnest(parts) WITH ORDINALITY AS x(p, i),
                jsonb_array_elements(p) WITH ORDINALITY AS y(e, j));
    ELSIF t = 'object' THEN
        out := '{}';
        FOR k IN SELECT DISTINCT o.key FROM unnest(parts) p, jsonb_object_keys(p) o(key) LOOP
            out := out || jsonb_build_object(k, ffr.merge_sum(ARRAY(SELECT p -> k FROM unnest(parts) p WHERE p ? k), k));
        END LOOP;
        RETURN out;
    END IF;
    RETURN parts[1];
END $$;
COMMENT ON FUNCTION ffr.merge_sum(jsonb[], text) IS 'Merges per-shard counters: numbers add, arrays concatenate, objects merge by key';

-- Bulk calls split by shard: one envelope, the items back in input order.
CREATE FUNCTION ffr.merge_bulk(ids text[], parts jsonb[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    WITH item AS (
        SELECT e, e ->> 'execution_id' AS id,
               row_number() OVER (PARTITION BY e ->> 'execution_id' ORDER BY i, j) AS k
        FROM unnest(parts) WITH ORDINALITY AS x(p, i), jsonb_array_elements(p -> 'results') WITH ORDINALITY AS y(e, j)),
    want AS (
        SELECT id, pos, row_number() OVER (PARTITION BY id ORDER BY pos) AS k
        FROM unnest(ids) WITH ORDINALITY AS z(id, pos))
    SELECT jsonb_build_object('ok', true, 'status', 'OK',
        'count', COALESCE((SELECT sum((p ->> 'count')::integer) FROM unnest(parts) p), 0),
        'succeeded', COALESCE((SELECT sum((p ->> 'succeeded')::integer) FROM unnest(parts) p), 0),
        'results', COALESCE((SELECT jsonb_agg(item.e ORDER BY want.pos) FROM want JOIN item USING (id, k)), '[]'))
$$;
COMMENT ON FUNCTION ffr.merge_bulk(text[], jsonb[]) IS 'Merges the per-shard envelopes of a split bulk call, items in input order';

-- ---- the routing rules (rules.tsv, inserted by the generated part) ----
CREATE TABLE ffr.route (
    proname name PRIMARY KEY,
    kind    text NOT NULL CHECK (kind IN ('run', 'any', 'all', 'sum', 'gather', 'local', 'manual', 'shard')),
    run_on  text
);
COMMENT ON TABLE ffr.route IS 'How each engine function is routed (router/rules.tsv; doc/scale-out.md)';
