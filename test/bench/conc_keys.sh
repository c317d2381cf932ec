#!/usr/bin/env bash
# Concurrency keys under load (issue 26): the drain rate of other keys'
# work (each execution its own key of limit 1 among 1 000) on a lane whose
# 1 000 busy keys are each at their limit 1, against a lane without keys,
# in the same run on the same cluster (the target: >= 0.8x).  A third lane
# shows the worst case: each busy key also has one execution queued behind
# it, queued first, so every claim passes over 1 000 executions of full
# keys before it reaches other work.  Per item (claim 1 + complete 1), 4
# clients, the lanes in turn REPS times; median (min-max) jobs/s.
#   bash test/bench/conc_keys.sh         (N=4000 REPS=3, about a minute)
# Hold /tmp/ff_engine_install.lock when running it by hand.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-4000}
REPS=${REPS:-3}
BUSY=${BUSY:-1000}
C=4
BENCH=$FF_ROOT/test/bench/conc_keys
bench_cluster
bench_db bench_keys
results=$(mktemp)
tps() { awk '/^tps = /{print $3}'; }

fill() {   # fill <lane> <keyed 0|1|2>: N executions (+ slack); keyed: the busy keys first (2: one more queued each)
  psql -X -q -d bench_keys -v ON_ERROR_STOP=1 >/dev/null <<SQL
TRUNCATE ff.execution, ff.execution_data, ff.attempt_record, ff.lease_log, ff.completion_event, ff.claim_grant, ff.stream_meta, ff.stream_frame;
SELECT count(ff.create_execution(ff.execution_id('$1'), lane_id => '$1',
       policy_json => jsonb_build_object('concurrency', jsonb_build_object('key', 'busy-' || (i % $BUSY), 'limit', 1))::text))
FROM generate_series(1, CASE $2 WHEN 0 THEN 0 WHEN 1 THEN $BUSY ELSE 2 * $BUSY END) i;
-- the busy keys: one execution of each claimed (never completed here), one queued behind it
SELECT count(*) FROM ff.claim_next('$1', 'holder', 'holder-1', lease_ttl_ms => 3600000, max_count => 1000)
  CROSS JOIN generate_series(1, ($BUSY + 999) / 1000) WHERE $2 > 0;
SELECT count(ff.create_execution(ff.execution_id('$1'), lane_id => '$1',
       policy_json => CASE WHEN $2 > 0 THEN jsonb_build_object('concurrency', jsonb_build_object('key', 'other-' || (i % 1000), 'limit', 1))::text END))
FROM generate_series(1, $N + 200) i;
VACUUM ANALYZE ff.execution;
SQL
}
check() {   # check <lane> <keyed>: the busy keys still at their limit, nothing of theirs claimed twice
  local held
  held=$(psql -X -q -At -d bench_keys -c "SELECT count(*) FROM ff.execution WHERE concurrency_key LIKE 'busy-%' AND ownership_state = 'leased'")
  [ "$2" = 0 ] || [ "$held" = "$BUSY" ] || { echo "  busy keys holding $held leases, expected $BUSY" >&2; bad=$((bad + 1)); }
}
bad=0
per=$((N / C))
for r in $(seq 1 "$REPS"); do
  for keyed in 0 1 2; do
    lane=$(case $keyed in 0) echo plain;; 1) echo keyed;; 2) echo queued;; esac)
    fill $lane $keyed
    t=$(pgbench -n -d bench_keys -f "$BENCH/per_item.pgbench" -D lane=$lane -c $C -j 2 -t $per 2>&1 | tps)
    echo "$lane|$t" >>"$results"
    check $lane $keyed
  done
done
runs() { awk -F'|' -v w="$1" '$1 == w {print $2}' "$results"; }
plain=$(runs plain | median); keyed=$(runs keyed | median); queued=$(runs queued | median)
r=$(ratio "$keyed" "$plain"); rq=$(ratio "$queued" "$plain")
met=$(verdict "$r" ge 0.8)
echo
echo "Drain of $N executions per run, per item, $C clients, jobs/s, median of $REPS (min-max):"
echo "  lane without keys:                                             $(runs plain | spread)"
echo "  other keys' work, lane with $BUSY busy keys:                    $(runs keyed | spread)"
echo "  the same, each busy key with one execution queued ahead:       $(runs queued | spread)"
echo "  keyed / plain: $r (target >= 0.80: $met); queued ahead / plain: $rq; runs where a busy key lost its slot: $bad"
bench_row "conc keys: drain $N beside $BUSY busy keys, 4 clients, jobs/s" "$(runs keyed | spread)" "no keys $(runs plain | spread)" "$r" ">= 0.80: $met"
bench_row "  the same, $BUSY queued executions of full keys ahead" "$(runs queued | spread)" "" "$rq" ""
rm -f "$results"
stop_cluster
