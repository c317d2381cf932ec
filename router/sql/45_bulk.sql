-- ---- bulk calls, split by shard ----
-- PL/Proxy's SPLIT sends each shard its own items, in parallel; each shard
-- commits its part by itself, so an ERROR on one shard leaves the others'
-- parts done (the envelopes are idempotent: create says DUPLICATE, a
-- second complete is refused by its fence).  The merged envelope lists the
-- items in input order.  A NULL or empty list, or lists of unequal length,
-- go whole to one shard, which answers as a single server would.

CREATE FUNCTION ffr.split_create_executions(execution_ids text[], lane_id text, input_payloads bytea[],
    namespace text, priority bigint, policy_json text, delay_until bigint) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids, input_payloads; RUN ON ffr.partition_of_execution(execution_ids);
    TARGET ff.create_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.split_create_executions_np(execution_ids text[], lane_id text, input_payloads bytea[],
    namespace text, priority bigint, policy_json text, delay_until bigint) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids; RUN ON ffr.partition_of_execution(execution_ids);
    TARGET ff.create_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.any_create_executions(execution_ids text[], lane_id text, input_payloads bytea[],
    namespace text, priority bigint, policy_json text, delay_until bigint) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON 0; TARGET ff.create_executions;
$$ LANGUAGE plproxy;

CREATE FUNCTION ff.create_executions(execution_ids text[], lane_id text DEFAULT 'default',
    input_payloads bytea[] DEFAULT NULL, namespace text DEFAULT 'default', priority bigint DEFAULT 0,
    policy_json text DEFAULT NULL, delay_until bigint DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF COALESCE(cardinality(execution_ids), 0) = 0
       OR (input_payloads IS NOT NULL AND cardinality(input_payloads) <> cardinality(execution_ids)) THEN
        RETURN ffr.any_create_executions($1, $2, $3, $4, $5, $6, $7);
    END IF;
    -- budgets and a quota in the policy must live on every item's shard
    IF policy_json IS NOT NULL THEN
        PERFORM ffr.route_create(x, policy_json) FROM unnest(execution_ids) x;
    END IF;
    IF input_payloads IS NULL THEN
        RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_create_executions_np($1, $2, $3, $4, $5, $6, $7)));
    END IF;
    RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_create_executions($1, $2, $3, $4, $5, $6, $7)));
END $$;
COMMENT ON FUNCTION ff.create_executions(text[], text, bytea[], text, bigint, text, bigint) IS
    'Router: manual. Split by shard (each shard commits its part), items merged in input order';

-- complete_executions, the four-array form
CREATE FUNCTION ffr.split_complete_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], result_payloads bytea[]) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids, lease_ids, lease_epochs, attempt_ids, result_payloads;
    RUN ON ffr.partition_of_execution(execution_ids); TARGET ff.complete_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.split_complete_executions_np(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], result_payloads bytea[]) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids, lease_ids, lease_epochs, attempt_ids;
    RUN ON ffr.partition_of_execution(execution_ids); TARGET ff.complete_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.any_complete_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], result_payloads bytea[]) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON 0; TARGET ff.complete_executions;
$$ LANGUAGE plproxy;

CREATE FUNCTION ff.complete_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], result_payloads bytea[] DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE n integer := COALESCE(cardinality(execution_ids), 0);
BEGIN
    IF n = 0 OR COALESCE(cardinality(lease_ids), -1) <> n OR COALESCE(cardinality(lease_epochs), -1) <> n
       OR COALESCE(cardinality(attempt_ids), -1) <> n
       OR (result_payloads IS NOT NULL AND cardinality(result_payloads) <> n) THEN
        RETURN ffr.any_complete_executions($1, $2, $3, $4, $5);
    END IF;
    IF result_payloads IS NULL THEN
        RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_complete_executions_np($1, $2, $3, $4, $5)));
    END IF;
    RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_complete_executions($1, $2, $3, $4, $5)));
END $$;
COMMENT ON FUNCTION ff.complete_executions(text[], uuid[], bigint[], uuid[], bytea[]) IS
    'Router: manual. Split by shard (each shard commits its part), items merged in input order';

-- complete_executions, the fence form
CREATE FUNCTION ffr.split_complete_fences(fences jsonb[], result_payloads bytea[]) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT fences, result_payloads; RUN ON ffr.partition_of_fence(fences);
    TARGET ff.complete_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.split_complete_fences_np(fences jsonb[], result_payloads bytea[]) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT fences; RUN ON ffr.partition_of_fence(fences);
    TARGET ff.complete_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.any_complete_fences(fences jsonb[], result_payloads bytea[]) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON 0; TARGET ff.complete_executions;
$$ LANGUAGE plproxy;

CREATE FUNCTION ff.complete_executions(fences jsonb[], result_payloads bytea[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE n integer := COALESCE(cardinality(fences), 0);
BEGIN
    IF n = 0 OR (result_payloads IS NOT NULL AND cardinality(result_payloads) <> n)
       OR EXISTS (SELECT 1 FROM unnest(fences) f WHERE jsonb_typeof(f -> 'execution_id') IS DISTINCT FROM 'string') THEN
        RETURN ffr.any_complete_fences($1, $2);
    END IF;
    IF result_payloads IS NULL THEN
        RETURN ffr.merge_bulk(ARRAY(SELECT f ->> 'execution_id' FROM unnest(fences) f),
                              ARRAY(SELECT ffr.split_complete_fences_np($1, $2)));
    END IF;
    RETURN ffr.merge_bulk(ARRAY(SELECT f ->> 'execution_id' FROM unnest(fences) f),
                          ARRAY(SELECT ffr.split_complete_fences($1, $2)));
END $$;
COMMENT ON FUNCTION ff.complete_executions(jsonb[], bytea[]) IS
    'Router: manual. Split by shard (each shard commits its part), items merged in input order';

-- fail_executions, the four-array form
CREATE FUNCTION ffr.split_fail_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], failure_reasons text[], failure_category text) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids, lease_ids, lease_epochs, attempt_ids, failure_reasons;
    RUN ON ffr.partition_of_execution(execution_ids); TARGET ff.fail_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.split_fail_executions_np(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], failure_reasons text[], failure_category text) RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT execution_ids, lease_ids, lease_epochs, attempt_ids;
    RUN ON ffr.partition_of_execution(execution_ids); TARGET ff.fail_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.any_fail_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], failure_reasons text[], failure_category text) RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON 0; TARGET ff.fail_executions;
$$ LANGUAGE plproxy;

CREATE FUNCTION ff.fail_executions(execution_ids text[], lease_ids uuid[], lease_epochs bigint[],
    attempt_ids uuid[], failure_reasons text[] DEFAULT NULL, failure_category text DEFAULT '') RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE n integer := COALESCE(cardinality(execution_ids), 0);
BEGIN
    IF n = 0 OR COALESCE(cardinality(lease_ids), -1) <> n OR COALESCE(cardinality(lease_epochs), -1) <> n
       OR COALESCE(cardinality(attempt_ids), -1) <> n
       OR (failure_reasons IS NOT NULL AND cardinality(failure_reasons) <> n) THEN
        RETURN ffr.any_fail_executions($1, $2, $3, $4, $5, $6);
    END IF;
    IF failure_reasons IS NULL THEN
        RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_fail_executions_np($1, $2, $3, $4, $5, $6)));
    END IF;
    RETURN ffr.merge_bulk(execution_ids, ARRAY(SELECT ffr.split_fail_executions($1, $2, $3, $4, $5, $6)));
END $$;
COMMENT ON FUNCTION ff.fail_executions(text[], uuid[], bigint[], uuid[], text[], text) IS
    'Router: manual. Split by shard (each shard commits its part), items merged in input order';

-- fail_executions, the fence form
CREATE FUNCTION ffr.split_fail_fences(fences jsonb[], failure_reasons text[], failure_category text)
RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT fences, failure_reasons; RUN ON ffr.partition_of_fence(fences);
    TARGET ff.fail_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.split_fail_fences_np(fences jsonb[], failure_reasons text[], failure_category text)
RETURNS SETOF jsonb AS $$
    CLUSTER 'ff_engine'; SPLIT fences; RUN ON ffr.partition_of_fence(fences);
    TARGET ff.fail_executions;
$$ LANGUAGE plproxy;
CREATE FUNCTION ffr.any_fail_fences(fences jsonb[], failure_reasons text[], failure_category text)
RETURNS jsonb AS $$
    CLUSTER 'ff_engine'; RUN ON 0; TARGET ff.fail_executions;
$$ LANGUAGE plproxy;

CREATE FUNCTION ff.fail_executions(fences jsonb[], failure_reasons text[] DEFAULT NULL, failure_category text DEFAULT '')
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE n integer := COALESCE(cardinality(fences), 0);
BEGIN
    IF n = 0 OR (failure_reasons IS NOT NULL AND cardinality(failure_reasons) <> n)
       OR EXISTS (SELECT 1 FROM unnest(fences) f WHERE jsonb_typeof(f -> 'execution_id') IS DISTINCT FROM 'string') THEN
        RETURN ffr.any_fail_fences($1, $2, $3);
    END IF;
    IF failure_reasons IS NULL THEN
        RETURN ffr.merge_bulk(ARRAY(SELECT f ->> 'execution_id' FROM unnest(fences) f),
                              ARRAY(SELECT ffr.split_fail_fences_np($1, $2, $3)));
    END IF;
    RETURN ffr.merge_bulk(ARRAY(SELECT f ->> 'execution_id' FROM unnest(fences) f),
                          ARRAY(SELECT ffr.split_fail_fences($1, $2, $3)));
END $$;
COMMENT ON FUNCTION ff.fail_executions(jsonb[], text[], text) IS
    'Router: manual. Split by shard (each shard commits its part), items merged in input order';
