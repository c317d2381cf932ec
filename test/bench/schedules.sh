#!/usr/bin/env bash
# Schedules benchmark (issue 26): N schedules due in the same second fire
# within one second of their slot (p99), on a durable cluster with the
# engine worker running on the wall clock (no test clock).  The N
# schedules are created in one transaction with the cron "<s> <m> * * * *"
# (hourly, at one second SLOT_LEAD seconds ahead); the script then waits
# (bounded) until every slot's firing exists.  A firing's lateness is the
# commit time of its firing record (track_commit_timestamp; the moment the
# execution becomes visible to claims) minus its slot; also shown: the
# scan's clock at firing (ff.schedule_firing.fired_at) minus the slot.
# Baselines, same run: N plain ff.create_execution calls in one transaction
# (the time to create N executions at all), and the same with an
# idempotency key and two tags each (what a firing's execution carries).
# Holds /tmp/ff_engine_install.lock for its whole run (installs are global;
# FF_INSTALL_LOCKED=1 when the caller already holds it).
#   bash test/bench/schedules.sh      (N=10000 SLOT_LEAD=20)
export FF_PGPORT=${FF_PGPORT:-$((56000 + RANDOM % 900))}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${N:-10000}
SLOT_LEAD=${SLOT_LEAD:-20}
if [ "${FF_INSTALL_LOCKED:-0}" != 1 ]; then
  exec 9>/tmp/ff_engine_install.lock
  flock 9
fi
FF_EXTRA_CONF="track_commit_timestamp = on" bench_cluster
bench_db bench_sched engine
B >/dev/null <<'SQL'
CREATE TABLE bench_run (what text PRIMARY KEY, ms double precision, slot_at bigint);
-- N executions created in one transaction, timed to its commit
CREATE PROCEDURE baseline(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM count(ff.create_execution(ff.execution_id('base'), lane_id => 'base')) FROM generate_series(1, n);
  COMMIT;
  INSERT INTO bench_run VALUES ('baseline', extract(epoch FROM clock_timestamp() - t0) * 1000);
  COMMIT;
  -- the same with what a firing adds: an idempotency key and two tags each
  t0 := clock_timestamp();
  PERFORM count(ff.create_execution(ff.execution_id('base'), lane_id => 'base', idempotency_key => 'bench:' || i,
                                    tags => jsonb_build_object('ff.schedule', 's' || i, 'ff.slot', i::text)))
  FROM generate_series(1, n) i;
  COMMIT;
  INSERT INTO bench_run VALUES ('baseline_keyed', extract(epoch FROM clock_timestamp() - t0) * 1000);
END $$;
-- N schedules all due at the same second, lead seconds from now
CREATE PROCEDURE make_schedules(n int, lead int) LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz := clock_timestamp();
  slot timestamptz := date_trunc('second', clock_timestamp()) + make_interval(secs => lead);
  cron text := format('%s %s * * * *', extract(second FROM slot AT TIME ZONE 'UTC')::int,
                      extract(minute FROM slot AT TIME ZONE 'UTC')::int);
BEGIN
  PERFORM count(ff.create_schedule('s' || i, cron, lane_id => 'sched')) FROM generate_series(1, n) i;
  COMMIT;
  INSERT INTO bench_run VALUES ('create_schedules', extract(epoch FROM clock_timestamp() - t0) * 1000,
                                (extract(epoch FROM slot) * 1000)::bigint);
END $$;
SQL
sleep 2   # the engine worker has started
B -c "CALL baseline($N)"
B -c "CALL make_schedules($N, $SLOT_LEAD)"
slot=$(B -c "SELECT slot_at FROM bench_run WHERE what = 'create_schedules'")
wrong=$(B -c "SELECT count(*) FROM ff.schedule WHERE next_fire_at <> $slot")
[ "$wrong" = 0 ] || { echo "schedules not all due at the slot $slot ($wrong differ): creation too slow for SLOT_LEAD=$SLOT_LEAD" >&2; exit 1; }
fired=0
deadline=$(( $(date +%s) + SLOT_LEAD + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  fired=$(B -c "SELECT count(*) FROM ff.schedule_firing WHERE slot_at = $slot AND NOT manual")
  [ "$fired" -ge "$N" ] && break
  sleep 0.5
done
created=$(B -c "SELECT count(*) FROM ff.execution WHERE lane_id = 'sched'")

echo
echo "$N schedules due at the same second, lateness of each firing (ms), fsync on ($(nproc) cores):"
B -F '|' <<SQL | awk -F'|' '{printf "  %-58s %6d  p50 %8.1f  p99 %8.1f  max %8.1f\n", $1, $2, $3, $4, $5}'
SELECT 'firing committed (commit timestamp) - slot', count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l)
FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(f.xmin)) * 1000 - f.slot_at AS l
      FROM ff.schedule_firing f WHERE f.slot_at = $slot) x
UNION ALL
SELECT 'scan clock at firing (fired_at) - slot', count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l)
FROM (SELECT f.fired_at - f.slot_at AS l FROM ff.schedule_firing f WHERE f.slot_at = $slot) x;
SQL
p50=$(B -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 - slot_at)::numeric) FROM ff.schedule_firing WHERE slot_at = $slot")
p99=$(B -c "SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 - slot_at)::numeric) FROM ff.schedule_firing WHERE slot_at = $slot")
mx=$(B -c "SELECT round(max(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 - slot_at)::numeric) FROM ff.schedule_firing WHERE slot_at = $slot")
base=$(B -c "SELECT round(ms::numeric) FROM bench_run WHERE what = 'baseline'")
keyed=$(B -c "SELECT round(ms::numeric) FROM bench_run WHERE what = 'baseline_keyed'")
mk=$(B -c "SELECT round(ms::numeric) FROM bench_run WHERE what = 'create_schedules'")
echo "  baseline: $N ff.create_execution in one transaction: $base ms; with an idempotency key and two tags each: $keyed ms"
echo "  creating the $N schedules: $mk ms"
echo "  firings: $fired of $N, executions created: $created"
met=$([ "$fired" = "$N" ] && [ "$created" = "$N" ] && verdict "$p99" le 1000 || echo "NOT met")
echo "  p99 lateness <= 1000 ms with every slot fired once: $met"
bench_row "schedules: $N due at one second, lateness ms" "p50 $p50, p99 $p99, max $mx ($fired fired)" \
  "$N create_execution, 1 tx: $base ms; keyed + tagged: $keyed ms" "$(ratio "$mx" "$keyed")" "p99 <= 1000: $met"
stop_cluster
