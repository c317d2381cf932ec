#!/usr/bin/env bash
# Flow-cancel benchmark (issue 28): ROUNDS flows of MEMBERS waiting members;
# each round commits ff.cancel_flow(wait => false) and times from that
# commit until the last member is cancelled by the engine worker (woken at
# the commit, 500 members per transaction).  Baseline, same run: the same
# flow cancelled with wait => true, the members cancelled inside the call's
# own transaction.  Durable cluster, engine worker running.
#   bash test/bench/flow_cancel.sh      (ROUNDS=20 MEMBERS=1000)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-20}
MEMBERS=${MEMBERS:-1000}
bench_cluster
bench_db bench_fcancel engine
B >/dev/null <<'SQL'
CREATE TABLE round_flow (round int PRIMARY KEY, flow uuid);
CREATE TABLE lat (mode text, round int, ms double precision);
CREATE PROCEDURE make_round(r int, n int) LANGUAGE plpgsql AS $$
DECLARE f uuid := gen_random_uuid();
BEGIN
  PERFORM ff.create_flow(f);
  PERFORM ff.add_execution_to_flow(f, ff.create_execution(ff.flow_member_execution_id(f), lane_id => 'fc') ->> 'execution_id')
  FROM generate_series(1, n);
  INSERT INTO round_flow VALUES (r, f);
END $$;
CREATE FUNCTION left_in(r int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM round_flow rf JOIN ff.execution e ON e.partition = ff.flow_partition(rf.flow) AND e.flow_id = rf.flow
  WHERE rf.round = r AND e.lifecycle_phase <> 'terminal'
$$;
CREATE PROCEDURE measure(rounds int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
  FOR r IN 1..rounds LOOP
    PERFORM ff.cancel_flow((SELECT flow FROM round_flow WHERE round = r), 'bench', 'cancel_all', 600000, false);
    COMMIT;
    t0 := clock_timestamp();
    WHILE left_in(r) > 0 AND clock_timestamp() - t0 < interval '60 s' LOOP
      PERFORM pg_sleep(0.001);
    END LOOP;
    INSERT INTO lat VALUES ('background', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
END $$;
CREATE PROCEDURE baseline(r int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM ff.cancel_flow((SELECT flow FROM round_flow WHERE round = r), 'bench', 'cancel_all', 0, true);
  COMMIT;
  INSERT INTO lat VALUES ('baseline', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
  COMMIT;
END $$;
SQL
for r in $(seq 1 $((ROUNDS * 2))); do B -c "CALL make_round($r, $MEMBERS)"; done
sleep 2   # the engine worker has started and dispatched the creates' wake-ups
B -c "CALL measure($ROUNDS)"
for r in $(seq $((ROUNDS + 1)) $((ROUNDS * 2))); do B -c "CALL baseline($r)"; done
missed=$(B -c "SELECT count(*) FROM generate_series(1, $ROUNDS * 2) r WHERE left_in(r) > 0")

echo
echo "cancel_flow(wait => false) committed -> last of $MEMBERS members cancelled, fsync on ($(nproc) cores):"
lat_table 52 rounds DESC background 'engine worker, woken at the commit (wait => false)' baseline 'baseline: wait => true, one transaction'
p50=$(B -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM lat WHERE mode = 'background'")
p99=$(B -c "SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM lat WHERE mode = 'background'")
b50=$(B -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM lat WHERE mode = 'baseline'")
echo "  flows with a member left uncancelled: $missed"
bench_row "cancel_flow (no wait), $MEMBERS members: commit -> last cancelled, ms" "p50 $p50, p99 $p99" "wait => true p50 $b50" \
  "$(ratio "$p50" "$b50")" "all cancelled: $([ "$missed" = 0 ] && echo met || echo NOT met)"
stop_cluster
