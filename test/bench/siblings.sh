#!/usr/bin/env bash
# Sibling-cancellation benchmark (issue 8, RFC-016 release gate): ROUNDS
# groups of SIBLINGS running upstreams under any_of (= quorum{1}) +
# cancel_remaining.  Each round the winner completes and commits; we time
# from that commit until every other sibling is cancelled (resolution and
# the sibling dispatcher both run in the engine worker, woken at commit).
# Baseline, same run: the same number of running executions cancelled
# directly with ff.cancel_execution in one transaction — the floor cost of
# the cancels themselves.  Durable cluster, engine worker running.
#   bash test/bench/siblings.sh      (ROUNDS=50 SIBLINGS=100)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-50}
SIBLINGS=${SIBLINGS:-100}
bench_cluster
bench_db bench_siblings engine
B >/dev/null <<'SQL'
CREATE TABLE member (round int, k int, id text, part smallint, uid uuid, PRIMARY KEY (round, k));
CREATE TABLE lat (mode text, round int, ms double precision);
-- round r: downstream k = 0, upstreams k = 1..n, all claimed (running)
CREATE PROCEDURE make_round(r int, n int) LANGUAGE plpgsql AS $$
DECLARE f uuid := gen_random_uuid(); mid text;
BEGIN
  PERFORM ff.create_flow(f);
  FOR k IN 0..n LOOP
    mid := ff.flow_member_execution_id(f);
    PERFORM ff.create_execution(mid, lane_id => CASE WHEN k = 0 THEN 'down' ELSE 'sib' END);
    PERFORM ff.add_execution_to_flow(f, mid);
    INSERT INTO member SELECT r, k, mid, p.partition, p.execution_uuid FROM ff.parse_execution_id(mid) p;
  END LOOP;
  PERFORM ff.set_edge_group_policy(f, (SELECT m0.id FROM member m0 WHERE m0.round = r AND m0.k = 0), 'any_of', 'cancel_remaining');
  PERFORM ff.add_dependency(f, m.id, (SELECT m0.id FROM member m0 WHERE m0.round = r AND m0.k = 0)) FROM member m WHERE m.round = r AND m.k > 0;
  PERFORM ff.issue_grant_and_claim(m.id, 'bench', 'bench-1', 'sib', lease_ttl_ms => 3600000) FROM member m WHERE m.round = r AND m.k > 0;
END $$;
CREATE FUNCTION cancelled_in(r int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM member m JOIN ff.execution e ON e.partition = m.part AND e.execution_id = m.uid
  WHERE m.round = r AND m.k > 1 AND e.public_state = 'cancelled'
$$;
-- drained = the group flipped and its request is gone; the drain commits in
-- the same transaction as the cancels, so this is the cancellation commit
CREATE FUNCTION drained(r int) RETURNS boolean LANGUAGE sql AS $$
  SELECT g.cancel_siblings_reason IS NOT NULL AND NOT g.cancel_siblings_pending
  FROM member m JOIN ff.edge_group g ON g.partition = m.part AND g.downstream_execution_id = m.uid
  WHERE m.round = r AND m.k = 0
$$;
CREATE PROCEDURE measure(n int, rounds int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
  FOR r IN 1..rounds LOOP
    -- start each round quiet: the previous round's cancelled completions dispatched
    t0 := clock_timestamp();
    WHILE EXISTS (SELECT 1 FROM ff.completion_event WHERE processed_at IS NULL) AND clock_timestamp() - t0 < interval '5 s' LOOP
      PERFORM pg_sleep(0.002);
    END LOOP;
    PERFORM ff.complete_execution((SELECT id FROM member WHERE round = r AND k = 1), source => 'operator_override');
    COMMIT;
    t0 := clock_timestamp();
    WHILE NOT drained(r) AND clock_timestamp() - t0 < interval '30 s' LOOP
      PERFORM pg_sleep(0.0005);
    END LOOP;
    INSERT INTO lat VALUES ('dispatcher', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
END $$;
-- baseline: cancel the same number of running executions directly, one transaction
CREATE PROCEDURE baseline(n int, r int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM ff.cancel_execution(m.id, 'baseline', source => 'operator_override') FROM member m WHERE m.round = r AND m.k > 1;
  COMMIT;
  INSERT INTO lat VALUES ('baseline', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
  COMMIT;
END $$;
SQL
for r in $(seq 1 $((ROUNDS * 2))); do B -c "CALL make_round($r, $SIBLINGS)"; done
sleep 2   # the engine worker has started
B -c "CALL measure($SIBLINGS, $ROUNDS)"
for r in $(seq $((ROUNDS + 1)) $((ROUNDS * 2))); do B -c "CALL baseline($SIBLINGS, $r)"; done
missed=$(B -c "SELECT count(*) FROM generate_series(1, $ROUNDS) r WHERE cancelled_in(r) <> $SIBLINGS - 1")

echo
echo "Winner complete (committed) -> all $((SIBLINGS - 1)) running siblings cancelled, any_of + cancel_remaining, fsync on ($(nproc) cores):"
lat_table 44 rounds DESC dispatcher 'sibling dispatcher (engine worker woken)' baseline 'baseline: direct cancel_execution, one txn'
p99=$(B -c "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM lat WHERE mode = 'dispatcher'")
echo "  rounds with a sibling left running: $missed"
echo "  RFC-016 release gate p99 <= 500 ms: $(awk -v p="$p99" 'BEGIN {print (p <= 500) ? "met" : "NOT met"}');" \
     "issue target p99 <= 50 ms: $(awk -v p="$p99" 'BEGIN {print (p <= 50) ? "met" : "NOT met"}')"
stop_cluster
