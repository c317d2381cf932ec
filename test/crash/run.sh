#!/usr/bin/env bash
# Crash under load (issue 10): 4 clients run a mixed load (create,
# claim_next with reclaim, complete, fail with retry, cancel, two-member
# flows with a dependency) while the server is killed CYCLES times at random
# moments — pg_ctl stop -m immediate, SIGKILL of the engine worker, SIGKILL
# of a client backend (each makes the postmaster reinitialise) — and
# restarted.  What each client saw acknowledged is logged on the client
# side; after the last restart the engine settles and SQL checks that
# nothing acknowledged was lost and that the engine's invariants hold.
# Prints TAP lines.  Sourced by test/run.sh against its cluster (which the
# worker tests left stopped); CYCLES=20 by default, CYCLES=200 for a long run.
set -u
CYCLES=${CYCLES:-20}
n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash -c "$1" 2>&1; }
work=$(mktemp -d)
chmod 777 "$work"

up() {
  as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null 2>&1
  for _ in $(seq 1 100); do pg_isready -q && psql -X -q -At -d ff_crash -c "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
wait_ready() {
  for _ in $(seq 1 200); do psql -X -q -At -d ff_crash -c "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" status >/dev/null 2>&1 || up >/dev/null
psql -X -q -c "DROP DATABASE IF EXISTS ff_crash" -c "CREATE DATABASE ff_crash" \
     -c "ALTER DATABASE ff_crash SET ff_engine.enabled = on" \
     -c "ALTER DATABASE ff_crash SET synchronous_commit = on" >/dev/null
q "CREATE EXTENSION ff_engine" >/dev/null
log_from=$(($(wc -l < "$FF_PGDATA/server.log") + 1))

# one client: every acknowledged outcome is appended to its own files
client() {
  local c=$1 i=0 id out r eid lid ep aid f a b
  local policy='{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "initial_delay_ms": 0}}}'
  while [ ! -e "$work/stop" ]; do
    i=$((i + 1))
    if [ $((i % 7)) = 0 ]; then
      # a flow of two: a -> b
      f=$(cat /proc/sys/kernel/random/uuid)
      out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash 2>/dev/null <<SQL
SELECT ff.create_flow('$f') ->> 'status';
SELECT ff.flow_member_execution_id('$f') AS a \gset
SELECT ff.flow_member_execution_id('$f') AS b \gset
SELECT ff.create_execution(:'a', lane_id => 'crash') ->> 'status';
SELECT ff.create_execution(:'b', lane_id => 'crash') ->> 'status';
SELECT ff.add_execution_to_flow('$f', :'a') ->> 'status';
SELECT ff.add_execution_to_flow('$f', :'b') ->> 'status';
SELECT ff.add_dependency('$f', :'a', :'b') ->> 'status';
SELECT :'a' || ' ' || :'b';
SQL
) && [ "$(echo "$out" | head -n 6 | sort -u)" = OK ] && echo "$out" | tail -n 1 | tr ' ' '\n' >>"$work/created.$c"
      continue
    fi
    id=$(psql -X -q -At -d ff_crash -c "SELECT ff.execution_id('crash')" 2>/dev/null) || continue
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash \
          -c "SELECT ff.create_execution('$id', lane_id => 'crash', policy_json => '$policy') ->> 'status'" 2>/dev/null) \
      && [ "$out" = OK ] && echo "$id" >>"$work/created.$c"
    r=$(psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -d ff_crash -c "SELECT claim->>'execution_id', claim->>'lease_id',
          claim->>'lease_epoch', claim->>'attempt_id' FROM ff.claim_next('crash', 'w$c', 'w$c-1', reclaim => true)" 2>/dev/null) || continue
    [ -n "$r" ] || continue
    read -r eid lid ep aid <<<"$r"
    echo "$eid $ep" >>"$work/claimed.$c"
    case $((RANDOM % 5)) in
      0|1|2) out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash -c "SELECT ff.complete_execution('$eid', '$lid', $ep, '$aid') ->> 'result'" 2>/dev/null) \
               && [ "$out" = completed ] && echo "$eid" >>"$work/completed.$c" ;;
      3) out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash -c "SELECT ff.fail_execution('$eid', '$lid', $ep, '$aid', 'boom', 'transient') ->> 'result'" 2>/dev/null) \
               && [ "$out" = terminal_failed ] && echo "$eid" >>"$work/failed.$c" ;;
      4) out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d ff_crash -c "SELECT ff.cancel_execution('$eid', 'crash test', 'lease_holder', '$lid', $ep) ->> 'result'" 2>/dev/null) \
               && [ "$out" = cancelled ] && echo "$eid" >>"$work/cancelled.$c" ;;
    esac
  done
}

for c in 1 2 3 4; do client $c & done
kills=0
for cycle in $(seq 1 "$CYCLES"); do
  sleep "0.$((3 + RANDOM % 7))"
  case $((cycle % 3)) in
    0) pid=$(psql -X -q -At -d ff_crash -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_crash'" 2>/dev/null)
       [ -n "$pid" ] && as_root kill -9 "$pid" 2>/dev/null ;;
    1) pid=$(psql -X -q -At -d ff_crash -c "SELECT pid FROM pg_stat_activity WHERE datname = 'ff_crash' AND backend_type = 'client backend'
              AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1" 2>/dev/null)
       [ -n "$pid" ] && as_root kill -9 "$pid" 2>/dev/null ;;
    2) as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m immediate -w stop >/dev/null 2>&1
       up >/dev/null ;;
  esac
  kills=$((kills + 1))
  sleep 0.3
  wait_ready || up >/dev/null
done
touch "$work/stop"
wait

# settle: the engine worker dispatches what the crashes left; help it along
wait_ready
for _ in $(seq 1 50); do
  left=$(q "SELECT (SELECT count(*) FROM ff.completion_event WHERE processed_at IS NULL)")
  [ "$left" = 0 ] && break
  q "SELECT ff.dispatch_completions(10000)" >/dev/null
  sleep 0.2
done

cat "$work"/created.* 2>/dev/null | sort -u >"$work/created"
cat "$work"/completed.* 2>/dev/null | sort -u >"$work/completed"
cat "$work"/failed.* 2>/dev/null | sort -u >"$work/failed"
cat "$work"/cancelled.* 2>/dev/null | sort -u >"$work/cancelled"
cat "$work"/claimed.* 2>/dev/null | sort -u >"$work/claimed"
psql -X -q -v ON_ERROR_STOP=1 -d ff_crash >/dev/null <<SQL
CREATE TABLE ack_created (id text);
CREATE TABLE ack_completed (id text);
CREATE TABLE ack_failed (id text);
CREATE TABLE ack_cancelled (id text);
CREATE TABLE ack_claimed (id text, epoch bigint);
\copy ack_created FROM '$work/created'
\copy ack_completed FROM '$work/completed'
\copy ack_failed FROM '$work/failed'
\copy ack_cancelled FROM '$work/cancelled'
\copy ack_claimed FROM '$work/claimed' WITH (DELIMITER ' ')
SQL

counts=$(q "SELECT format('%s kills; %s executions (%s acknowledged creates), %s acknowledged claims, %s completes, %s terminal fails, %s cancels; %s flows',
  $kills, (SELECT count(*) FROM ff.execution), (SELECT count(*) FROM ack_created), (SELECT count(*) FROM ack_claimed),
  (SELECT count(*) FROM ack_completed), (SELECT count(*) FROM ack_failed), (SELECT count(*) FROM ack_cancelled),
  (SELECT count(*) FROM ff.flow))")
echo "# $counts"
[ "$kills" -ge 20 ] || [ "$CYCLES" -lt 20 ] && pass "at least 20 kill / restart cycles ($kills)" || fail "at least 20 kill / restart cycles ($kills)"
[ "$(q "SELECT count(*) FROM ack_created")" -gt 0 ] && [ "$(q "SELECT count(*) FROM ack_completed")" -gt 0 ] \
  && pass "the load made progress between the kills" || fail "the load made progress between the kills"
[ "$(q "SELECT count(*) FROM ack_created a WHERE NOT EXISTS (SELECT 1 FROM ff.executions e WHERE e.id = a.id)")" = 0 ] \
  && pass "every acknowledged create still exists" || fail "every acknowledged create still exists"
[ "$(q "SELECT count(*) FROM ack_completed a JOIN ff.executions e ON e.id = a.id WHERE e.terminal_outcome <> 'success'")/$(q "SELECT count(*) FROM ack_completed a WHERE NOT EXISTS (SELECT 1 FROM ff.executions e WHERE e.id = a.id)")" = 0/0 ] \
  && pass "every acknowledged complete is reflected (terminal success)" || fail "every acknowledged complete is reflected (terminal success)"
[ "$(q "SELECT count(*) FROM ack_failed a LEFT JOIN ff.executions e ON e.id = a.id WHERE e.terminal_outcome IS DISTINCT FROM 'failed'")" = 0 ] \
  && pass "every acknowledged terminal fail is reflected" || fail "every acknowledged terminal fail is reflected"
[ "$(q "SELECT count(*) FROM ack_cancelled a LEFT JOIN ff.executions e ON e.id = a.id WHERE e.terminal_outcome IS DISTINCT FROM 'cancelled'")" = 0 ] \
  && pass "every acknowledged cancel is reflected" || fail "every acknowledged cancel is reflected"
[ "$(q "SELECT count(*) FROM ack_claimed a JOIN ff.executions e ON e.id = a.id WHERE e.current_lease_epoch < a.epoch")" = 0 ] \
  && pass "no lease epoch went below one acknowledged to a worker" || fail "no lease epoch went below one acknowledged to a worker"
[ "$(q "SELECT count(*) FROM (SELECT partition, execution_id, lease_epoch FROM ff.lease_history WHERE event = 'acquired'
        GROUP BY 1, 2, 3 HAVING count(*) > 1) x")" = 0 ] \
  && pass "no lease epoch was granted twice (one valid lease at a time)" || fail "no lease epoch was granted twice (one valid lease at a time)"
[ "$(q "SELECT count(*) FROM (SELECT h.lease_epoch < lag(h.lease_epoch) OVER (PARTITION BY h.partition, h.execution_id ORDER BY h.seq) AS back
        FROM ff.lease_history h WHERE h.event = 'acquired') x WHERE back")" = 0 ] \
  && pass "lease epochs never went backwards" || fail "lease epochs never went backwards"
[ "$(q "SELECT count(*) FROM ff.completion_event WHERE processed_at IS NULL")" = 0 ] \
  && pass "every completion event was dispatched" || fail "every completion event was dispatched"
[ "$(q "SELECT count(*) FROM (SELECT partition, execution_id FROM ff.completion_event GROUP BY 1, 2 HAVING count(*) > 1) x
        JOIN ff.execution e USING (partition, execution_id) WHERE e.replay_count = 0")" = 0 ] \
  && pass "one completion event per terminal execution" || fail "one completion event per terminal execution"
[ "$(q "SELECT count(*) FROM ff.dependency d JOIN ff.execution u ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id
        WHERE u.lifecycle_phase = 'terminal' AND d.state = 'unsatisfied'")" = 0 ] \
  && pass "every edge of an ended upstream was resolved" || fail "every edge of an ended upstream was resolved"
[ "$(q "SELECT count(*) FROM ff.dependency_meta m WHERE m.unsatisfied_required_count <>
        (SELECT count(*) FROM ff.dependency d WHERE d.partition = m.partition AND d.downstream_execution_id = m.execution_id AND d.state = 'unsatisfied')")" = 0 ] \
  && pass "each downstream counted each resolution exactly once" || fail "each downstream counted each resolution exactly once"
[ "$(q "SELECT count(*) FROM ff.consistency_violations")" = 0 ] \
  && pass "the consistency check reports nothing (state-vector invariants hold for every row)" \
  || { fail "the consistency check reports nothing (state-vector invariants hold for every row)"; q "SELECT * FROM ff.consistency_violations LIMIT 10"; }
if [ "$(tail -n +"$log_from" "$FF_PGDATA/server.log" | grep -c PANIC || true)" != 0 ]; then
  fail "no PANIC in the server log"
else
  pass "no PANIC in the server log"
fi
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m fast -w stop >/dev/null 2>&1
rm -rf "$work"
echo "1..$n"
