#!/usr/bin/env bash
# Signal delivery benchmark (issue 11): N executions are claimed and
# suspended on a waitpoint waiting for a signal named "go"; then 4 clients
# deliver one signal to each (ff.deliver_signal, token checked, condition
# evaluated, the execution made claimable in the same transaction).  The
# baseline, in the same run on the same durable cluster, is a plain UPDATE
# of the same execution rows.  Reports signals/s and the latency of the
# delivering transaction (commit included) = suspend -> signal ->
# resumed-claimable, median of REPS runs with min and max.
#   bash test/bench/signals.sh         (N=10000 CLIENTS=4 REPS=3)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-10000}
CLIENTS=${CLIENTS:-4}
REPS=${REPS:-3}
TXNS=$((N / CLIENTS))
bench_cluster
bench_work

psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE EXTENSION ff_engine;
CREATE TABLE bench_sig (k bigint PRIMARY KEY, id text, wp uuid, token text);
CREATE SEQUENCE sig_seq;
CREATE SEQUENCE upd_seq;
-- n executions claimed and suspended on one waitpoint each, numbered k
CREATE FUNCTION bench_setup(n integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
    s jsonb;
    w uuid;
    k bigint := coalesce((SELECT max(k) FROM bench_sig), 0);
    left_ integer := n;
BEGIN
    PERFORM ff.create_execution(ff.execution_id('sig'), lane_id => 'sig') FROM generate_series(1, n);
    WHILE left_ > 0 LOOP
        FOR c IN SELECT claim FROM ff.claim_next('sig', 'w', 'w-1', lease_ttl_ms => 3600000, max_count => least(left_, 1000)) LOOP
            w := gen_random_uuid();
            s := ff.suspend_execution(c->>'execution_id', 0, (c->>'lease_id')::uuid, (c->>'lease_epoch')::bigint,
                     (c->>'attempt_id')::uuid, gen_random_uuid(), w, NULL, 'waiting_for_signal',
                     '{"required_signal_names": ["go"]}');
            k := k + 1;
            INSERT INTO bench_sig VALUES (k, c->>'execution_id', w, s->>'waitpoint_token');
            left_ := left_ - 1;
        END LOOP;
    END LOOP;
END $$;
SQL
cat > "$work/signal.sql" <<'SQL'
SELECT ff.deliver_signal(b.id, b.wp, gen_random_uuid(), 'go', b.token) FROM bench_sig b, (SELECT nextval('sig_seq') AS k) n WHERE b.k = n.k;
SQL
cat > "$work/update.sql" <<'SQL'
UPDATE ff.execution e SET progress_message = 'signalled', last_mutation_at = e.last_mutation_at + 1
FROM bench_sig b, (SELECT nextval('upd_seq') AS k) n, ff.parse_execution_id(b.id) p
WHERE b.k = n.k AND e.partition = p.partition AND e.execution_id = p.execution_uuid;
SQL


for rep in $(seq 1 $REPS); do
  psql -X -q -v ON_ERROR_STOP=1 -c "SELECT bench_setup($N)" >/dev/null
  suspended=$(psql -X -q -At -c "SELECT count(*) FROM ff.execution WHERE lane_id = 'sig' AND public_state = 'suspended'")
  [ "$suspended" = "$N" ] || { echo "setup failed: $suspended suspended, expected $N"; exit 1; }
  pgbench_run update $rep >>"$work/update.results"
  pgbench_run signal $rep >>"$work/signal.results"
  resumed=$(psql -X -q -At -c "SELECT count(*) FROM ff.execution WHERE lane_id = 'sig' AND public_state = 'waiting' AND attempt_state = 'attempt_interrupted'")
  echo "run $rep: $resumed of $N resumed executions claimable" >>"$work/checks"
  # claim them away so the next run starts from suspended executions only
  psql -X -q -c "UPDATE ff.execution SET lane_id = 'sig_done' WHERE lane_id = 'sig'" >/dev/null
done
events=$(psql -X -q -At -c "SELECT count(*) FROM ff.signal_event WHERE effect = 'resume_condition_satisfied'")
stop_cluster

echo
echo "Signals to $N suspended executions: $CLIENTS clients, $REPS runs, fsync on ($(nproc) cores)"
summary_table 44 "" "per s" "plain UPDATE of the same rows (baseline)" "$work/update.results" \
  "ff.deliver_signal -> resumed, claimable" "$work/signal.results"
echo "ratio signal/update: $(median_ratio "$work/signal.results" "$work/update.results")"
cat "$work/checks"
echo "resume events written: $events (expected $((N * REPS)))"
rm -rf "$work"
