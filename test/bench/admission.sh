#!/usr/bin/env bash
# Admission benchmark (issue 12): claim throughput of executions that carry
# a budget and a quota (both with room: every claim is admitted, so the
# cost measured is the admission itself) against the same workload with
# nothing attached, in the same run on the same durable cluster.  CLIENTS
# workers call ff.claim_next (max_count 1 and 10); each figure is the median
# of REPS runs with min and max.  Target: >= 80% of the unlimited rate.
#   bash test/bench/admission.sh        (N=8000 CLIENTS=4 REPS=3)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-8000}
CLIENTS=${CLIENTS:-4}
REPS=${REPS:-3}
bench_cluster
bench_work

psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE EXTENSION ff_engine;
SELECT ff.create_budget('00000000-0000-4000-b000-000000000001', '{tokens}', '{1000000000}', '{0}');
SELECT ff.report_usage_and_check('00000000-0000-4000-b000-000000000001', '{tokens}', '{1}');
SELECT ff.create_quota_policy('00000000-0000-4000-c000-000000000001', 60, 1000000, 1000000);
-- n executions in lane, the limited ones with the budget and the quota attached
CREATE FUNCTION bench_setup(lane text, n integer, limited boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE id text;
BEGIN
    FOR i IN 1..n LOOP
        id := ff.execution_id(lane);
        PERFORM ff.create_execution(id, lane_id => lane,
            policy_json => CASE WHEN limited THEN '{"budget_ids": ["00000000-0000-4000-b000-000000000001"]}' END);
        IF limited THEN
            PERFORM ff.set_execution_admission(id, ARRAY['00000000-0000-4000-b000-000000000001'::uuid],
                                               '00000000-0000-4000-c000-000000000001');
        END IF;
    END LOOP;
END $$;
SQL

for batch in 1 10; do
  cat > "$work/free$batch.sql" <<SQL
SELECT count(*) FROM ff.claim_next('free', 'w', 'w-:client_id', max_count => $batch);
SQL
  cat > "$work/limited$batch.sql" <<SQL
SELECT count(*) FROM ff.claim_next('limited', 'w', 'w-:client_id', max_count => $batch);
SQL
done

for rep in $(seq 1 $REPS); do
  for batch in 1 10; do
    TXNS=$((N / CLIENTS / batch))
    psql -X -q -c "SELECT bench_setup('free', $N, false), bench_setup('limited', $N, true)" >/dev/null
    pgbench_run free$batch $rep >>"$work/free$batch.results"
    pgbench_run limited$batch $rep >>"$work/limited$batch.results"
    left=$(psql -X -q -At -c "SELECT count(*) FROM ff.execution WHERE lane_id IN ('free', 'limited') AND public_state <> 'active'")
    echo "run $rep, max_count $batch: $left executions left unclaimed" >>"$work/checks"
    psql -X -q -c "UPDATE ff.execution SET lane_id = lane_id || '_done' WHERE lane_id IN ('free', 'limited')" >/dev/null
  done
done
admitted=$(psql -X -q -At -c "SELECT count(*) FROM ff.quota_admission")
stop_cluster

echo
echo "Claims with a budget and a quota attached vs none: $N executions, $CLIENTS clients, $REPS runs, fsync on ($(nproc) cores)"
for batch in 1 10; do
  summary_table 40 "max_count $batch (claims per call)" calls/s "  nothing attached (baseline)" "$work/free$batch.results" \
    "  budget + quota attached" "$work/limited$batch.results"
  ratio=$(median_ratio "$work/limited$batch.results" "$work/free$batch.results")
  echo "  ratio: $ratio (target >= 0.80: $(awk -v r="$ratio" 'BEGIN {print (r >= 0.80) ? "met" : "NOT met"}'))"
done
cat "$work/checks"
echo "quota admissions recorded: $admitted (expected $((N * REPS * 2)))"
rm -rf "$work"
