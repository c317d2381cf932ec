#!/usr/bin/env bash
# Flow benchmark (issue 7): latency from a parent's complete_execution
# commit to its child becoming claimable, over PAIRS parent -> child edges,
# with push dispatch (the engine worker woken at commit) and with the
# dependency reconciler alone; and the end-to-end time of a chain of 10
# run by one worker.  Durable cluster, engine worker running.
#   bash test/bench/flows.sh         (PAIRS=1000 OFF_PAIRS=30)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PAIRS=${PAIRS:-1000}
OFF_PAIRS=${OFF_PAIRS:-30}
bench_cluster
bench_db bench_flows engine
B >/dev/null <<'SQL'
CREATE TABLE pair (i int PRIMARY KEY, parent text, child text);
CREATE TABLE lat (mode text, i int, ms double precision);
CREATE PROCEDURE make_pairs(n int, flow uuid) LANGUAGE plpgsql AS $$
DECLARE p text; c text; base int := coalesce((SELECT max(i) FROM pair), 0);
BEGIN
  PERFORM ff.create_flow(flow);
  FOR k IN 1..n LOOP
    p := ff.flow_member_execution_id(flow); c := ff.flow_member_execution_id(flow);
    PERFORM ff.create_execution(p, lane_id => 'parents'), ff.create_execution(c, lane_id => 'children');
    PERFORM ff.add_execution_to_flow(flow, p), ff.add_execution_to_flow(flow, c);
    PERFORM ff.add_dependency(flow, p, c);
    PERFORM ff.issue_grant_and_claim(p, 'bench', 'bench-1', 'parents', lease_ttl_ms => 3600000);
    INSERT INTO pair VALUES (base + k, p, c);
  END LOOP;
END $$;
-- complete each parent, commit, then watch its child until it is claimable
CREATE PROCEDURE measure(mode text, first int, last int) LANGUAGE plpgsql AS $$
DECLARE r pair; t0 timestamptz;
BEGIN
  FOR r IN SELECT * FROM pair WHERE i BETWEEN first AND last ORDER BY i LOOP
    PERFORM ff.complete_execution(r.parent, source => 'operator_override');
    COMMIT;
    t0 := clock_timestamp();
    WHILE (SELECT public_state FROM ff.executions WHERE id = r.child) <> 'waiting'
          AND clock_timestamp() - t0 < interval '30 s' LOOP
      PERFORM pg_sleep(0.0002);
    END LOOP;
    INSERT INTO lat VALUES (mode, r.i, extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
END $$;
-- one worker runs a chain of 10 from the first claim to the last complete
CREATE PROCEDURE run_chain(INOUT ms double precision DEFAULT 0) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); c jsonb; done int := 0;
BEGIN
  WHILE done < 10 AND clock_timestamp() - t0 < interval '60 s' LOOP
    SELECT claim INTO c FROM ff.claim_next('chain', 'cw', 'cw-1');
    IF c IS NULL THEN PERFORM pg_sleep(0.0002); CONTINUE; END IF;
    PERFORM ff.complete_execution(c->>'execution_id', (c->>'lease_id')::uuid, (c->>'lease_epoch')::bigint, (c->>'attempt_id')::uuid);
    done := done + 1;
    COMMIT;
  END LOOP;
  ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
SQL
B -c "CALL make_pairs($PAIRS, 'b0000000-0000-4000-8000-000000000001')"
B -c "CALL make_pairs($OFF_PAIRS, 'b0000000-0000-4000-8000-000000000002')"
B >/dev/null <<'SQL'
SELECT ff.create_flow('b0000000-0000-4000-8000-000000000003');
CREATE TEMP TABLE ch AS SELECT g, ff.flow_member_execution_id('b0000000-0000-4000-8000-000000000003') AS id FROM generate_series(1, 10) g;
SELECT ff.create_execution(id, lane_id => 'chain'), ff.add_execution_to_flow('b0000000-0000-4000-8000-000000000003', id) FROM ch;
SELECT ff.add_dependency('b0000000-0000-4000-8000-000000000003', a.id, b.id) FROM ch a JOIN ch b ON b.g = a.g + 1;
SQL
sleep 2   # the engine worker has started

B -c "CALL measure('push', 1, $PAIRS)"
chain=$(B -c "CALL run_chain()")
psql -X -q -c "ALTER SYSTEM SET ff_engine.push_dispatch = off" -c "ALTER SYSTEM SET ff_engine.dependencies_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
B -c "CALL measure('reconciler', $((PAIRS + 1)), $((PAIRS + OFF_PAIRS)))"
psql -X -q -c "ALTER SYSTEM RESET ff_engine.push_dispatch" -c "ALTER SYSTEM RESET ff_engine.dependencies_interval" -c "SELECT pg_reload_conf()" >/dev/null

echo
echo "Parent complete (committed) -> child claimable, fsync on ($(nproc) cores):"
lat_table 34 edges ASC push 'push dispatch (worker woken)' reconciler 'reconciler only (interval 1 s)'
p99=$(B -c "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM lat WHERE mode = 'push'")
echo "  target push p99 <= 20 ms: $(awk -v p="$p99" 'BEGIN {print (p <= 20) ? "met" : "NOT met"}')"
echo "  chain of 10, one worker, claim -> complete each level: $(printf '%.1f' "$chain") ms end to end"
stop_cluster
