#!/usr/bin/env bash
# Stream append benchmark (issue 5): 4 concurrent writers append 64-byte
# durable frames to their attempts' streams with ff.append_frame, against a
# plain INSERT of the same rows into a table shaped like ff.stream_frame,
# in the same run on the same durable cluster (fsync and synchronous_commit
# on).  Reports frames/s (median of REPS runs, with min and max) and
# p50/p99 latency per append.  Target: durable appends >= 60% of the plain
# insert rate.
#   bash test/bench/streams.sh         (CLIENTS=4 SECS=15 REPS=3)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLIENTS=${CLIENTS:-4}
SECS=${SECS:-15}
REPS=${REPS:-3}
bench_cluster
bench_work

psql -X -q -v ON_ERROR_STOP=1 -v clients=$CLIENTS <<'SQL' >/dev/null
CREATE EXTENSION ff_engine;
-- one running attempt per writer, with a lease that outlives the run
CREATE TABLE bench_writer (client_id integer PRIMARY KEY, eid text, lease uuid);
SELECT ff.create_execution(ff.execution_id('bench'), lane_id => 'bench') FROM generate_series(1, :clients);
INSERT INTO bench_writer
SELECT row_number() OVER () - 1, c.claim->>'execution_id', (c.claim->>'lease_id')::uuid
FROM ff.claim_next('bench', 'w', 'w-1', lease_ttl_ms => 86400000, max_count => :clients) c;
-- the baseline: the same rows into a plain table of the same shape
CREATE TABLE plain_frame (LIKE ff.stream_frame INCLUDING ALL);
CREATE SEQUENCE plain_seq;
SQL
writers=$(psql -X -q -At -c "SELECT count(*) FROM bench_writer")
[ "$writers" = "$CLIENTS" ] || { echo "setup failed: $writers writers claimed, expected $CLIENTS"; exit 1; }
payload=$(printf 'x%.0s' $(seq 1 64))
cat > "$work/append.sql" <<SQL
SELECT ff.append_frame(eid, 0, lease, 1, 'stdout', '$payload') FROM bench_writer WHERE client_id = :client_id;
SQL
cat > "$work/insert.sql" <<SQL
INSERT INTO plain_frame (partition, execution_id, attempt_index, ts, seq, frame_type, frame_ts, payload, encoding, source, mode)
SELECT p.partition, p.execution_uuid, 0, ff.now_ms(), nextval('plain_seq'), 'stdout', ff.now_ms(), '$payload', 'utf8', 'worker', 'durable'
FROM bench_writer w, ff.parse_execution_id(w.eid) p WHERE w.client_id = :client_id;
SQL


for rep in $(seq 1 $REPS); do
  for name in insert append; do
    pgbench_run $name $rep >>"$work/$name.results"
  done
done
frames=$(psql -X -q -At -c "SELECT coalesce(sum((ff.read_stream_meta(eid, 0)->>'frame_count')::bigint), 0) FROM bench_writer")
kept=$(psql -X -q -At -c "SELECT coalesce(sum((ff.read_stream_meta(eid, 0)->>'retained_count')::bigint), 0) FROM bench_writer")
inserted=$(psql -X -q -At -c "SELECT count(*) FROM plain_frame")
stop_cluster

echo
echo "Stream appends: $CLIENTS writers, ${SECS}s x $REPS runs, 64-byte frames, fsync on ($(nproc) cores)"
summary_table 26 "" frames/s "plain INSERT (baseline)" "$work/insert.results" "ff.append_frame durable" "$work/append.results"
ratio=$(median_ratio "$work/append.results" "$work/insert.results")
met=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.60) ? "met" : "NOT met"}')
echo "ratio append/insert: $ratio (target >= 0.60: $met)"
echo "frames appended: $frames (retained after trimming: $kept, durable retention ~10 000 per stream); rows inserted: $inserted"
# every transaction must have done its work: a run of error envelopes would look fast
expected=$(awk -v t="$(awk '{s += $1} END {print s}' "$work/append.results")" -v s="$SECS" 'BEGIN {printf "%d", t * s * 0.9}')
[ "$frames" -ge "$expected" ] || echo "WARNING: only $frames frames for ~$expected appends: appends failed"
rm -rf "$work"
