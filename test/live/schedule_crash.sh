#!/usr/bin/env bash
# Schedules across crashes (issue 26): a schedule firing every second is
# run by two concurrent runners (psql loops calling ff.scan_schedules, as
# two engine workers or pg_cron would) while the postmaster is killed
# (pg_ctl stop -m immediate) and restarted several times.  A slot's
# execution and the schedule's advance commit together, so afterwards every
# slot up to the end has exactly one execution: none lost, none doubled.
# Sourced by test/run.sh (run_live) against its cluster; prints TAP lines.
set -u
echo "1..6"
source "$FF_ROOT/test/live/tap.sh"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_sc -c "$1" 2>&1; }

psql -X -q -c "DROP DATABASE IF EXISTS ff_sc" -c "CREATE DATABASE ff_sc" >/dev/null
q "CREATE EXTENSION ff_engine" >/dev/null
# every second, all missed slots caught up within a day
first=$(q "SELECT ff.create_schedule('tick', '* * * * * *', catch_up => 'all', lane_id => 'sc') ->> 'next_fire_at'")

runner() {
  while [ ! -f "$FF_PGDATA/sc_stop" ]; do
    psql -X -q -At -d ff_sc -c "SELECT ff.scan_schedules()" >/dev/null 2>&1 || sleep 0.05
  done
}
rm -f "$FF_PGDATA/sc_stop"
runner & r1=$!
runner & r2=$!
for cycle in 1 2 3 4; do
  sleep 1.$((RANDOM % 10))
  as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m immediate -w stop >/dev/null 2>&1
  sleep 0.$((RANDOM % 10))
  as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null 2>&1
done
sleep 1
touch "$FF_PGDATA/sc_stop"
wait $r1 $r2
rm -f "$FF_PGDATA/sc_stop"
check "the server is up after ${cycle} kills" "$(q "SELECT 1")" "1"

# the end: every slot up to now + 2 s fired (catch-up all, no cap in the way)
end=$(q "SELECT ff.now_ms() + 2000")
q "SET ff_engine.test_clock_ms = '$end'; SET ff_engine.schedule_catch_up_max = 100000; SELECT ff.scan_schedules()" >/dev/null
want=$(q "SELECT count(*) FROM generate_series($first::bigint, $end::bigint, 1000)")
check "the schedule advanced past the end" "$(q "SELECT next_fire_at > $end FROM ff.schedule WHERE name = 'tick'")" "t"
check "no slot lost: every slot has an execution" \
  "$(q "SELECT count(*) FROM generate_series($first::bigint, $end::bigint, 1000) s
        WHERE NOT EXISTS (SELECT 1 FROM ff.execution_data d WHERE d.tags ->> 'ff.slot' = s::text)")" "0"
check "no slot doubled" \
  "$(q "SELECT count(*) FROM (SELECT d.tags ->> 'ff.slot' FROM ff.execution_data d GROUP BY 1 HAVING count(*) > 1) x")" "0"
check "one execution per slot ($want slots)" "$(q "SELECT count(*) FROM ff.execution WHERE lane_id = 'sc'")" "$want"
check "the row agrees: fire_count, nothing missed" \
  "$(q "SELECT fire_count || '/' || missed_count FROM ff.schedule WHERE name = 'tick'")" "$want/0"
psql -X -q -c "DROP DATABASE ff_sc" >/dev/null 2>&1
