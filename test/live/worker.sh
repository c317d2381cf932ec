#!/usr/bin/env bash
# Background-worker tests against the running throwaway cluster (started by
# test/run.sh with ff_engine preloaded).  Real time: every wait is a bounded
# poll.  Prints TAP lines ("ok N - ..." / "not ok N - ...").
set -u
source "$FF_ROOT/test/live/tap.sh"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "${DB:-ff_worker}" -c "$1" 2>&1; }

# wait_for "description" timeout_s "sql returning t"
wait_for() {
  local what=$1 secs=$2 sql=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    [ "$(q "$sql")" = "t" ] && { pass "$what"; return 0; }
    sleep 0.1
  done
  fail "$what (not within ${secs}s)"
  return 1
}

worker_pid() { q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = current_database()"; }

# Where the worker is off, pg_cron can run the same scanners.  pg_cron 1.4
# schedules by the minute, so the job is set up first and checked last.
psql -X -q -c "DROP DATABASE IF EXISTS ff_cron" -c "CREATE DATABASE ff_cron" >/dev/null
DB=ff_cron q "CREATE EXTENSION ff_engine" >/dev/null
psql -X -q -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
psql -X -q -At -d postgres -c "SELECT cron.schedule_in_database('ff-scanners', '* * * * *', 'SELECT ff.run_scanners()', 'ff_cron')" >/dev/null
cron_scheduled_at=$(date +%s)
DB=ff_cron q "SELECT ff.create_execution(ff.execution_id(), delay_until => ff.now_ms() + 200)" >/dev/null

psql -X -q -c "DROP DATABASE IF EXISTS ff_worker" -c "CREATE DATABASE ff_worker" \
     -c "ALTER DATABASE ff_worker SET ff_engine.enabled = on" >/dev/null
psql -X -q -d ff_worker -c "CREATE EXTENSION ff_engine" >/dev/null

wait_for "CREATE EXTENSION starts an engine worker in the database" 5 \
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_worker'"
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ff_engine launcher'")" = 1 ] \
  && pass "one launcher runs" || fail "one launcher runs"
[ "$(q "SELECT application_name FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_worker'")" = "ff_engine worker" ] \
  && pass "the worker reports itself in pg_stat_activity" || fail "the worker reports itself in pg_stat_activity"

# the roles, logged in for real (the pgTAP matrix uses SET ROLE)
psql -X -q -c "DROP ROLE IF EXISTS live_reader" -c "DROP ROLE IF EXISTS live_submitter" \
     -c "CREATE ROLE live_reader LOGIN IN ROLE ff_reader" -c "CREATE ROLE live_submitter LOGIN IN ROLE ff_submitter" >/dev/null 2>&1
[ "$(psql -X -q -At -U live_submitter -d ff_worker -c "SELECT ff.create_execution(ff.execution_id('roles'), lane_id => 'roles') ->> 'status'" 2>&1)" = OK ] \
  && pass "a login role in ff_submitter submits" || fail "a login role in ff_submitter submits"
denied=$(psql -X -q -At -U live_reader -d ff_worker -c "SELECT ff.create_execution(ff.execution_id('roles'))" 2>&1)
case "$denied" in *"permission denied for function create_execution"*) pass "a login role in ff_reader may not submit" ;;
  *) fail "a login role in ff_reader may not submit ($denied)" ;; esac
denied=$(psql -X -q -At -U live_reader -d ff_worker -c "SELECT count(*) FROM ff.execution" 2>&1)
case "$denied" in *"permission denied for table execution"*) pass "nor read a table" ;;
  *) fail "nor read a table ($denied)" ;; esac
[ "$(psql -X -q -At -U live_reader -d ff_worker -c "SELECT count(*) FROM ff.executions WHERE lane_id = 'roles'" 2>&1)" = 1 ] \
  && pass "but it reads the views" || fail "but it reads the views"
q "DELETE FROM ff.execution_data WHERE execution_id IN (SELECT execution_id FROM ff.execution WHERE lane_id = 'roles');
   DELETE FROM ff.execution WHERE lane_id = 'roles'" >/dev/null

# time-driven state moves with no client calling a scanner
q "SELECT ff.create_execution(ff.execution_id(), delay_until => ff.now_ms() + 300)" >/dev/null
wait_for "a delayed execution becomes eligible by itself" 5 \
  "SELECT bool_and(public_state = 'waiting') FROM ff.execution"
q "SELECT ff.create_execution('{fp:1}:00000000-0000-4000-8000-0000000000aa', lane_id => 'lx')" >/dev/null
q "SELECT count(*) FROM ff.claim_next('lx', 'w', 'w-1', lease_ttl_ms => 200)" >/dev/null
wait_for "an expired lease is marked by itself" 5 \
  "SELECT ownership_state = 'lease_expired_reclaimable' FROM ff.executions WHERE id = '{fp:1}:00000000-0000-4000-8000-0000000000aa'"
# a lost lease is announced on the lane channel (issue 29): a worker that
# LISTENs takes it over (claim_next with reclaim) as soon as the scanner
# marks it expired - and again when an operator revokes the new holder's
# lease - with nothing else happening on the lane.  The listener is psql
# reading commands from a FIFO: it reports a notification after each
# command, so the loop sends a no-op every 50 ms and claims only when told.
rid='{fp:1}:00000000-0000-4000-8000-0000000000dd'
q "SELECT ff.create_execution('$rid', lane_id => 'lr')" >/dev/null
# the peer claims with a 2 s lease, then dies (SIGKILL) without renewing
bash -c "psql -X -q -d ff_worker -c \"SELECT count(*) FROM ff.claim_next('lr', 'w', 'peer-1', lease_ttl_ms => 2000)\" >/dev/null; exec sleep 60" &
peer=$!
for i in $(seq 1 50); do [ "$(q "SELECT ownership_state FROM ff.executions WHERE id = '$rid'")" = leased ] && break; sleep 0.1; done
kill -9 $peer 2>/dev/null; wait $peer 2>/dev/null
lr_in=$(mktemp -u); mkfifo "$lr_in"; lr_out=$(mktemp)
psql -X -q -At -d ff_worker <"$lr_in" >"$lr_out" 2>&1 &
listener=$!
exec 7>"$lr_in"
echo "LISTEN \"$(q "SELECT ff.lane_channel('lr')")\";" >&7
# listen_and_reclaim: wait (at most 10 s) for a notification, then claim
# with reclaim; prints the claimed attempt's type, or nothing
listen_and_reclaim() {
  local i seen=$(grep -c "Asynchronous notification" "$lr_out")
  for ((i = 0; i < 200; i++)); do
    echo "SELECT 1;" >&7
    sleep 0.05
    if [ "$(grep -c "Asynchronous notification" "$lr_out")" -gt "$seen" ]; then
      q "SELECT claim ->> 'attempt_type' FROM ff.claim_next('lr', 'w', 'w-2', lease_ttl_ms => 600000, reclaim => true)"
      return
    fi
  done
}
got=$(listen_and_reclaim)
lag=$(q "SELECT r.ts - x.ts FROM ff.lease_history x, ff.lease_history r WHERE x.execution_id = r.execution_id
         AND x.execution_id = (ff.parse_execution_id('$rid')).execution_uuid AND x.event = 'expired' AND r.event = 'reclaimed'")
[ "$got" = reclaim ] && [ -n "$lag" ] && [ "$lag" -lt 1000 ] \
  && pass "a listening worker reclaims a dead peer's lease when it is marked expired ($lag ms after the mark)" \
  || fail "a listening worker reclaims a dead peer's lease when it is marked expired (got '$got', $lag ms after the mark)"
q "SELECT ff.revoke_lease('$rid', revoke_reason => 'wedged')" >/dev/null
got=$(listen_and_reclaim)
lag=$(q "SELECT max(r.ts) - x.ts FROM ff.lease_history x, ff.lease_history r WHERE x.execution_id = r.execution_id
         AND x.execution_id = (ff.parse_execution_id('$rid')).execution_uuid AND x.event = 'revoked' AND r.event = 'reclaimed'
         GROUP BY x.ts")
[ "$got" = reclaim ] && [ -n "$lag" ] && [ "$lag" -lt 1000 ] \
  && pass "and a revoked lease the same way ($lag ms after the revoke)" \
  || fail "and a revoked lease the same way (got '$got', $lag ms after the revoke)"
exec 7>&-
wait $listener 2>/dev/null
rm -f "$lr_in" "$lr_out"
q "SELECT ff.complete_execution('$rid', source => 'operator_override')" >/dev/null

# a suspension whose timeout passes resumes with no client call (2 s scanner),
# and a pending waitpoint past its expiry closes (5 s scanner)
q "SELECT ff.create_execution('{fp:1}:00000000-0000-4000-8000-0000000000bb', lane_id => 'ls')" >/dev/null
q "SELECT count(*) FROM ff.claim_next('ls', 'w', 'w-1')" >/dev/null
q "SELECT ff.create_pending_waitpoint(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
          '00000000-0000-4000-a000-0000000000bc', NULL, ff.now_ms() + 300) FROM ff.executions e WHERE e.lane_id = 'ls'" >/dev/null
q "SELECT ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, gen_random_uuid(),
          '00000000-0000-4000-a000-0000000000bb', NULL, 'waiting_for_signal', '{}', timeout_at => ff.now_ms() + 300,
          timeout_behavior => 'auto_resume') FROM ff.executions e WHERE e.lane_id = 'ls'" >/dev/null
wait_for "a suspension past its timeout resumes by itself (auto_resume)" 5 \
  "SELECT public_state = 'waiting' AND attempt_state = 'attempt_interrupted' FROM ff.executions WHERE lane_id = 'ls'"
wait_for "a pending waitpoint past its expiry closes by itself (never_committed)" 8 \
  "SELECT close_reason = 'never_committed' FROM ff.waitpoint WHERE waitpoint_id = '00000000-0000-4000-a000-0000000000bc'"
# a budget resets on its own schedule and the execution it blocked is
# released by the unblock scanner, with no client call
psql -X -q -c "ALTER SYSTEM SET ff_engine.budget_reset_interval = '200ms'" -c "ALTER SYSTEM SET ff_engine.unblock_interval = '200ms'" \
     -c "SELECT pg_reload_conf()" >/dev/null
q "SELECT ff.create_budget('00000000-0000-4000-b000-0000000000bb', '{tokens}', '{10}', '{0}', reset_interval_ms => 1500)" >/dev/null
q "SELECT ff.report_usage_and_check('00000000-0000-4000-b000-0000000000bb', '{tokens}', '{10}')" >/dev/null
q "SELECT ff.create_execution('{fp:1}:00000000-0000-4000-8000-0000000000cc', lane_id => 'lb',
          policy_json => '{\"budget_ids\": [\"00000000-0000-4000-b000-0000000000bb\"]}')" >/dev/null
q "SELECT count(*) FROM ff.claim_next('lb', 'w', 'w-1')" >/dev/null
[ "$(q "SELECT blocking_reason FROM ff.executions WHERE lane_id = 'lb'")" = waiting_for_budget ] \
  && pass "a claim blocks the execution of an exhausted budget" || fail "a claim blocks the execution of an exhausted budget"
wait_for "the budget resets by itself and the execution is released" 6 \
  "SELECT (SELECT reset_count > 0 FROM ff.budget WHERE budget_id = '00000000-0000-4000-b000-0000000000bb')
      AND public_state = 'waiting' FROM ff.executions WHERE lane_id = 'lb'"
psql -X -q -c "ALTER SYSTEM RESET ff_engine.budget_reset_interval" -c "ALTER SYSTEM RESET ff_engine.unblock_interval" \
     -c "SELECT pg_reload_conf()" >/dev/null
wait_for "scanner_status shows the worker's runs" 5 \
  "SELECT runs > 0 AND last_run IS NOT NULL AND next_run IS NOT NULL FROM ff.scanner_status WHERE scanner = 'delayed'"
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_worker' AND state = 'idle in transaction'")" = 0 ] \
  && pass "the worker holds no transaction open between batches" || fail "the worker holds no transaction open between batches"

# SIGHUP changes an interval: 750 ms -> 100 ms shows as many more runs
psql -X -q -c "ALTER SYSTEM SET ff_engine.delayed_interval = '100ms'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
before=$(q "SELECT runs FROM ff.scanner_status WHERE scanner = 'delayed'")
sleep 2
after=$(q "SELECT runs FROM ff.scanner_status WHERE scanner = 'delayed'")
[ $((after - before)) -ge 10 ] && pass "SIGHUP applies a new interval ($((after - before)) runs in 2 s at 100 ms)" \
  || fail "SIGHUP applies a new interval (only $((after - before)) runs in 2 s)"

# the worker survives errors: break the scanners, then mend them
pid=$(worker_pid)
q "ALTER TABLE ff.scanner_state RENAME TO scanner_state_broken" >/dev/null
sleep 1
q "ALTER TABLE ff.scanner_state_broken RENAME TO scanner_state" >/dev/null
q "SELECT ff.create_execution(ff.execution_id(), delay_until => ff.now_ms() + 100)" >/dev/null
wait_for "after failing batches the worker goes on scanning" 5 \
  "SELECT bool_and(public_state <> 'delayed') FROM ff.execution"
[ "$(worker_pid)" = "$pid" ] && pass "it is the same worker process (no restart)" || fail "it is the same worker process (no restart)"
grep -q "ff_engine scanner delayed failed" "$FF_PGDATA"/server.log \
  && pass "the failure was logged" || fail "the failure was logged"
# a failing batch is recorded with its SQLSTATE (the job registry, issue 22):
# the delayed promoter's function is missing for a while
q "ALTER FUNCTION ff.scan_delayed(integer, text, text) RENAME TO scan_delayed_gone" >/dev/null
wait_for "a failed batch is recorded in ff.scanner_state with its SQLSTATE and message" 5 \
  "SELECT last_error_sqlstate = '42883' AND last_error LIKE '%scan_delayed%' AND last_error_at IS NOT NULL
   FROM ff.scanner_status WHERE scanner = 'delayed'"
q "ALTER FUNCTION ff.scan_delayed_gone(integer, text, text) RENAME TO scan_delayed" >/dev/null
grep -q "ff_engine scanner delayed failed: SQLSTATE 42883: function ff.scan_delayed(integer) does not exist" "$FF_PGDATA"/server.log \
  && pass "the log line carries the SQLSTATE and the message" || fail "the log line carries the SQLSTATE and the message"
q "SELECT ff.create_execution(ff.execution_id(), delay_until => ff.now_ms() + 100)" >/dev/null
wait_for "and the scanner recovers once its function is back" 5 \
  "SELECT bool_and(public_state <> 'delayed') FROM ff.execution"
psql -X -q -c "ALTER SYSTEM RESET ff_engine.delayed_interval" -c "SELECT pg_reload_conf()" >/dev/null

[ "$(DB=ff_cron q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_cron'")" = 0 ] \
  && pass "no engine worker where ff_engine.enabled is off" || fail "no engine worker where ff_engine.enabled is off"

# DROP EXTENSION stops the worker; CREATE EXTENSION brings it back at once
q "DROP EXTENSION ff_engine" >/dev/null
wait_for "DROP EXTENSION stops the database's worker" 5 \
  "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_worker'"
q "CREATE EXTENSION ff_engine" >/dev/null
wait_for "CREATE EXTENSION again starts it without a restart" 3 \
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = 'ff_worker'"

# a three-level DAG runs to completion with workers only calling
# ff.claim_next and ff.complete_execution: completions reach the engine
# worker at commit and it releases each level
q "SELECT ff.create_flow('d0000000-0000-4000-8000-000000000001', 'dag')" >/dev/null
psql -X -q -d ff_worker -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE dag_node (name text PRIMARY KEY, id text);
INSERT INTO dag_node SELECT n, ff.flow_member_execution_id('d0000000-0000-4000-8000-000000000001')
FROM unnest(ARRAY['root', 'mid1', 'mid2', 'leaf']) n;
SELECT ff.create_execution(id, lane_id => 'dag'), ff.add_execution_to_flow('d0000000-0000-4000-8000-000000000001', id) FROM dag_node;
SELECT ff.add_dependency('d0000000-0000-4000-8000-000000000001', u.id, d.id)
FROM (VALUES ('root', 'mid1'), ('root', 'mid2'), ('mid1', 'leaf'), ('mid2', 'leaf')) e(up, down)
JOIN dag_node u ON u.name = e.up JOIN dag_node d ON d.name = e.down;
SQL
t0=$(date +%s%N)
for i in $(seq 1 200); do
  psql -X -q -At -d ff_worker -c "SELECT ff.complete_execution(c.claim->>'execution_id', (c.claim->>'lease_id')::uuid,
      (c.claim->>'lease_epoch')::bigint, (c.claim->>'attempt_id')::uuid) FROM ff.claim_next('dag', 'dagw', 'dagw-1', max_count => 10) c" >/dev/null
  [ "$(q "SELECT public_state FROM ff.executions e JOIN dag_node n ON n.id = e.id WHERE n.name = 'leaf'")" = completed ] && break
  sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(q "SELECT string_agg(e.public_state::text, ',' ORDER BY n.name) FROM ff.executions e JOIN dag_node n ON n.id = e.id")" = "completed,completed,completed,completed" ] \
  && pass "a three-level DAG runs to completion with workers alone ($ms ms)" \
  || fail "a three-level DAG runs to completion with workers alone (after $ms ms: $(q "SELECT string_agg(n.name || '=' || e.public_state, ',') FROM ff.executions e JOIN dag_node n ON n.id = e.id"))"
[ "$(q "SELECT count(*) FROM ff.completion_event WHERE flow_id IS NOT NULL AND processed_at IS NULL")" = 0 ] \
  && pass "every completion was dispatched by the engine worker" || fail "every completion was dispatched by the engine worker"

# completions committed while the engine worker is down are dispatched when
# it comes back (it drains on start), long before the 15 s reconciler
psql -X -q -d ff_worker -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO dag_node SELECT n, ff.flow_member_execution_id('d0000000-0000-4000-8000-000000000001') FROM unnest(ARRAY['r_up', 'r_down']) n;
SELECT ff.create_execution(id, lane_id => 'restart'), ff.add_execution_to_flow('d0000000-0000-4000-8000-000000000001', id)
FROM dag_node WHERE name LIKE 'r\_%';
SELECT ff.add_dependency('d0000000-0000-4000-8000-000000000001', (SELECT id FROM dag_node WHERE name = 'r_up'), (SELECT id FROM dag_node WHERE name = 'r_down'));
SELECT ff.issue_grant_and_claim((SELECT id FROM dag_node WHERE name = 'r_up'), 'w', 'w-1', 'restart');
SQL
old_pid=$(worker_pid)
q "SELECT pg_terminate_backend($old_pid)" >/dev/null
for i in $(seq 1 50); do [ -z "$(worker_pid)" ] && break; sleep 0.05; done
q "SELECT ff.complete_execution((SELECT id FROM dag_node WHERE name = 'r_up'), source => 'operator_override')" >/dev/null
wait_for "completions committed while the worker was down are dispatched when it restarts" 6 \
  "SELECT public_state = 'waiting' FROM ff.executions WHERE id = (SELECT id FROM dag_node WHERE name = 'r_down')"
new_pid=$(worker_pid)
[ -n "$new_pid" ] && [ "$new_pid" != "$old_pid" ] && pass "the launcher restarted the engine worker" || fail "the launcher restarted the engine worker ($old_pid -> $new_pid)"

# tailing a stream: a reader blocked in ff.tail_attempt_stream is woken by a
# writer's commit in another session (not by its timeout)
tail_id='{fp:1}:00000000-0000-4000-8000-0000000000bb'
q "SELECT ff.create_execution('$tail_id', lane_id => 'tail')" >/dev/null
lease=$(q "SELECT claim->>'lease_id' FROM ff.claim_next('tail', 'w', 'w-1', lease_ttl_ms => 600000)")
tail_out=$(mktemp)
t0=$(date +%s%N)
q "SELECT e->>'payload' FROM jsonb_array_elements((ff.tail_attempt_stream('$tail_id', 0, '0-0', block_ms => 10000))->'entries') e" >"$tail_out" &
reader=$!
sleep 0.5
q "SELECT ff.append_frame('$tail_id', 0, '$lease', 1, 'stdout', 'hello tail')" >/dev/null
wait $reader
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$(cat "$tail_out")" = "hello tail" ] && [ "$ms" -lt 3000 ]; then
  pass "a blocked tail wakes on the writer's commit ($ms ms, block 10 s)"
else
  fail "a blocked tail wakes on the writer's commit (got '$(cat "$tail_out")' after $ms ms)"
fi
t0=$(date +%s%N)
got=$(q "SELECT jsonb_array_length((ff.tail_attempt_stream('$tail_id', 0, (ff.read_stream_meta('$tail_id', 0))->>'last_sequence', block_ms => 300))->'entries')")
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$got" = 0 ] && [ "$ms" -ge 300 ] && [ "$ms" -lt 2000 ] \
  && pass "with nothing new the tail returns empty at its timeout ($ms ms, block 300 ms)" \
  || fail "with nothing new the tail returns empty at its timeout (got $got after $ms ms)"
q "SELECT ff.tail_attempt_stream('$tail_id', 0, (ff.read_stream_meta('$tail_id', 0))->>'last_sequence', block_ms => 1500)" >"$tail_out" &
reader=$!
sleep 0.3
psql -X -q -d ff_worker -c "BEGIN" -c "SELECT ff.append_frame('$tail_id', 0, '$lease', 1, 'stdout', 'never')" -c "ROLLBACK" >/dev/null
wait $reader
grep -q never "$tail_out" && fail "a rolled-back append is never seen by a tail" || pass "a rolled-back append is never seen by a tail"
rm -f "$tail_out"

# notifications are sent by the engine worker after the commit (ARCHITECTURE
# §6): a listener hears every completion of its namespace's channel and the
# lane's wake-up, with the same payloads, in commit order, from the engine
# worker's process; with ff_engine.notify_in_transaction on, from the
# committing session as before
chan=$(q "SELECT ff.completion_channel('relayns')")
lane_chan=$(q "SELECT ff.lane_channel('relay')")
listen_out=$(mktemp)
{ printf 'LISTEN "%s";\nLISTEN "%s";\n' "$chan" "$lane_chan"
  for ((i = 0; i < 60; i++)); do echo "SELECT pg_sleep(0.05);"; done; } \
  | psql -X -q -At -d ff_worker >"$listen_out" 2>&1 &
listener=$!
sleep 0.5
# outside a flow no event row is kept (ff_engine.completion_events = flows):
# the announcements take their ids from the rows' sequence, one each in order
s0=$(q "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ff.completion_event_event_id_seq")
q "SELECT ff.create_execution(format('{fp:2}:00000000-0000-4000-8000-%s', lpad(i::text, 12, '0')), namespace => 'relayns',
          lane_id => 'relay') FROM generate_series(1, 5) i" >/dev/null
q "SELECT count(*) FROM ff.claim_next('relay', 'w', 'w-1', max_count => 5)" >/dev/null
for i in 1 2 3 4 5; do
  q "SELECT ff.complete_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id)
     FROM ff.executions e WHERE e.id = format('{fp:2}:00000000-0000-4000-8000-%s', lpad('$i', 12, '0'))" >/dev/null
done
q "SET ff_engine.notify_in_transaction = on;
   SELECT ff.create_execution('{fp:2}:00000000-0000-4000-8000-000000000006', namespace => 'relayns', lane_id => 'relay');
   SELECT count(*) FROM ff.claim_next('relay', 'w', 'w-1');
   SELECT ff.complete_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id)
   FROM ff.executions e WHERE e.id = '{fp:2}:00000000-0000-4000-8000-000000000006'" >/dev/null
wait $listener
engine=$(worker_pid)
want=$(q "SELECT string_agg(format('{\"event_id\": %s, \"execution_id\": \"{fp:2}:00000000-0000-4000-8000-%s\", \"flow_id\": null, \"outcome\": \"success\"}',
          $s0 + i, lpad(i::text, 12, '0')), '|' ORDER BY i) FROM generate_series(1, 6) i")
got=$(sed -n "s/^Asynchronous notification \"$chan\" with payload \"\(.*\)\" received from server process with PID \([0-9]*\)\.$/\1/p" "$listen_out" | paste -sd'|')
[ -n "$want" ] && [ "$got" = "$want" ] && pass "a listener hears every completion of its namespace, payloads as before, in commit order" \
  || { fail "a listener hears every completion of its namespace, payloads as before, in commit order"; echo "# want $want"; echo "# got  $got"; cat "$listen_out"; }
senders=$(sed -n "s/^Asynchronous notification \"$chan\" with payload .* received from server process with PID \([0-9]*\)\.$/\1/p" "$listen_out" | paste -sd' ')
first5=$(echo "$senders" | cut -d' ' -f1-5 | tr ' ' '\n' | sort -u | paste -sd' ')
[ "$first5" = "$engine" ] && pass "the engine worker sent them, not the committing sessions" \
  || fail "the engine worker sent them, not the committing sessions (senders $senders, engine $engine)"
sixth=$(echo "$senders" | cut -d' ' -f6)
[ -n "$sixth" ] && [ "$sixth" != "$engine" ] && pass "with notify_in_transaction on, the committing session sends its own" \
  || fail "with notify_in_transaction on, the committing session sends its own (senders $senders)"
grep -q "^Asynchronous notification \"$lane_chan\" received from server process with PID $engine\.$" "$listen_out" \
  && pass "the lane's wake-up is relayed too" || { fail "the lane's wake-up is relayed too"; cat "$listen_out"; }
rm -f "$listen_out"

# a flow cancelled without waiting (issue 28): its members are cancelled by
# the engine worker as the cancel commits, not at the reconciler's next pass
# (15 s) once the 10-minute grace has passed
q "SELECT ff.create_flow('fc200000-0000-4000-8000-000000000001')" >/dev/null
q "SELECT ff.add_execution_to_flow('fc200000-0000-4000-8000-000000000001',
          ff.create_execution(ff.flow_member_execution_id('fc200000-0000-4000-8000-000000000001'), lane_id => 'fcx',
                              delay_until => ff.now_ms() + 3600000) ->> 'execution_id') FROM generate_series(1, 2)" >/dev/null
start=$(date +%s%N)
q "SELECT ff.cancel_flow('fc200000-0000-4000-8000-000000000001', 'x', 'cancel_all', grace_ms => 600000, wait => false)" >/dev/null
wait_for "cancel_flow(wait => false): its delayed members are cancelled within 1 s of the commit" 1 \
  "SELECT bool_and(public_state = 'cancelled') FROM ff.executions WHERE flow_id = 'fc200000-0000-4000-8000-000000000001'"
ms=$((($(date +%s%N) - start) / 1000000))
# 5 000 members: cancelled in batches (of 500: each member's row is last
# written by the transaction of its batch), never in one long transaction
q "SELECT ff.create_flow('fc200000-0000-4000-8000-000000000002')" >/dev/null
q "SELECT count(ff.add_execution_to_flow('fc200000-0000-4000-8000-000000000002',
          ff.create_execution(ff.flow_member_execution_id('fc200000-0000-4000-8000-000000000002'), lane_id => 'fcy',
                              delay_until => ff.now_ms() + 3600000) ->> 'execution_id')) FROM generate_series(1, 5000)" >/dev/null
q "SELECT ff.cancel_flow('fc200000-0000-4000-8000-000000000002', 'x', 'cancel_all', grace_ms => 600000, wait => false)" >/dev/null
# watch the engine worker's transactions while it works (one per batch)
xacts=$(mktemp)
for ((i = 0; i < 300; i++)); do
  q "SELECT backend_xact_start FROM pg_stat_activity WHERE backend_type = 'ff_engine worker'
     AND datname = current_database() AND query = 'ff_engine dispatcher flow_cancel_dispatch' AND backend_xact_start IS NOT NULL" >> "$xacts"
  [ "$(q "SELECT count(*) FROM ff.execution WHERE flow_id = 'fc200000-0000-4000-8000-000000000002' AND public_state = 'cancelled'")" = 5000 ] && break
  sleep 0.05
done
[ "$(q "SELECT count(*) FROM ff.execution WHERE flow_id = 'fc200000-0000-4000-8000-000000000002' AND public_state = 'cancelled'")" = 5000 ] \
  && pass "a 5 000-member flow cancelled without waiting is cancelled by the engine worker" \
  || fail "a 5 000-member flow cancelled without waiting is cancelled by the engine worker"
batches=$(grep -c . "$xacts" | tr -d ' '); batches=$(sort -u "$xacts" | grep -c .)
rm -f "$xacts"
[ "$batches" -ge 2 ] && pass "in batches, not one long transaction ($batches of its transactions seen at work)" \
  || fail "in batches, not one long transaction ($batches of its transactions seen at work)"
# with the background pass off, the reconciler still cancels them after grace_ms
psql -X -q -c "ALTER SYSTEM SET ff_engine.push_dispatch = off" -c "ALTER SYSTEM SET ff_engine.flow_cancel_interval = '200ms'" \
     -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5   # the engine worker reads the reload between batches
q "SELECT ff.create_flow('fc200000-0000-4000-8000-000000000003')" >/dev/null
q "SELECT ff.add_execution_to_flow('fc200000-0000-4000-8000-000000000003',
          ff.create_execution(ff.flow_member_execution_id('fc200000-0000-4000-8000-000000000003'), lane_id => 'fcz',
                              delay_until => ff.now_ms() + 3600000) ->> 'execution_id') FROM generate_series(1, 2)" >/dev/null
q "SELECT ff.cancel_flow('fc200000-0000-4000-8000-000000000003', 'x', 'cancel_all', grace_ms => 2000, wait => false)" >/dev/null
sleep 1
[ "$(q "SELECT count(*) FROM ff.executions WHERE flow_id = 'fc200000-0000-4000-8000-000000000003' AND public_state = 'cancelled'")" = 0 ] \
  && pass "without the background pass nothing is cancelled within the grace" \
  || fail "without the background pass nothing is cancelled within the grace"
wait_for "the reconciler cancels them once grace_ms has passed" 5 \
  "SELECT bool_and(public_state = 'cancelled') FROM ff.executions WHERE flow_id = 'fc200000-0000-4000-8000-000000000003'"
psql -X -q -c "ALTER SYSTEM RESET ff_engine.push_dispatch" -c "ALTER SYSTEM RESET ff_engine.flow_cancel_interval" \
     -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5

# sibling cancellation survives a crash (Invariant Q6): the group is decided
# and its request committed, the server dies before the dispatcher runs; after
# restart the engine worker cancels every sibling exactly once and drains.
psql -X -q -c "ALTER SYSTEM SET ff_engine.push_dispatch = off" -c "ALTER SYSTEM SET ff_engine.edge_cancel_dispatch_interval = '1h'" \
     -c "ALTER SYSTEM SET ff_engine.edge_cancel_reconcile_interval = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5   # the engine worker reads the reload between batches; a loaded machine needs more than a moment
psql -X -q -d ff_worker -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET synchronous_commit = on;
CREATE TABLE sib (k int PRIMARY KEY, id text);
SELECT ff.create_flow('d0000000-0000-4000-8000-000000000002');
INSERT INTO sib SELECT k, ff.flow_member_execution_id('d0000000-0000-4000-8000-000000000002') FROM generate_series(0, 20) k;
SELECT ff.create_execution(id, lane_id => 'crash'), ff.add_execution_to_flow('d0000000-0000-4000-8000-000000000002', id) FROM sib;
SELECT ff.set_edge_group_policy('d0000000-0000-4000-8000-000000000002', (SELECT id FROM sib WHERE k = 0), 'any_of', 'cancel_remaining');
SELECT ff.add_dependency('d0000000-0000-4000-8000-000000000002', id, (SELECT id FROM sib WHERE k = 0)) FROM sib WHERE k > 0;
SELECT ff.issue_grant_and_claim(id, 'w', 'w-1', 'crash', lease_ttl_ms => 3600000) FROM sib WHERE k > 0;
SELECT ff.complete_execution((SELECT id FROM sib WHERE k = 1), source => 'operator_override');
SELECT ff.dispatch_completions(100);
SQL
got24="$(q "SELECT count(*) FROM ff.pending_cancel_group")/$(q "SELECT count(*) FROM ff.executions e JOIN sib s ON s.id = e.id WHERE s.k > 1 AND e.public_state = 'active'")"; [ "$got24" = "1/19" ] \
  && pass "before the crash: the request is committed and 19 siblings still run" || fail "before the crash: the request is committed and 19 siblings still run"
psql -X -q -c "ALTER SYSTEM RESET ff_engine.push_dispatch" -c "ALTER SYSTEM RESET ff_engine.edge_cancel_dispatch_interval" \
     -c "ALTER SYSTEM RESET ff_engine.edge_cancel_reconcile_interval" >/dev/null   # applies at the restart
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m immediate -w stop >/dev/null 2>&1
log_from=$(($(wc -l < "$FF_PGDATA/server.log") + 1))   # the final crash check reads only what follows
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null 2>&1
wait_for "after pg_ctl stop -m immediate and a restart, every sibling is cancelled and the request drained" 10 \
  "SELECT count(*) = 19 AND (SELECT count(*) FROM ff.pending_cancel_group) = 0 FROM ff.executions e JOIN sib s ON s.id = e.id
   WHERE s.k > 1 AND e.public_state = 'cancelled' AND e.cancelled_by = 'sibling_quorum'"
[ "$(q "SELECT count(*) FROM ff.completion_event c JOIN ff.executions e ON e.partition = c.partition AND e.execution_id = c.execution_id
        JOIN sib s ON s.id = e.id WHERE s.k > 1")" = 19 ] \
  && pass "each sibling was cancelled exactly once (one completion each)" || fail "each sibling was cancelled exactly once (one completion each)"
[ "$(q "SELECT public_state FROM ff.executions WHERE id = (SELECT id FROM sib WHERE k = 1)")" = completed ] \
  && pass "the winner is untouched" || fail "the winner is untouched"

# pg_cron (scheduled at the start, minute granularity in pg_cron 1.4; a job
# scheduled just before a minute boundary may first run at the one after,
# so up to two boundaries are allowed)
DB=ff_cron wait_for "pg_cron running ff.run_scanners() promotes the execution" $((130 - ($(date +%s) - cron_scheduled_at))) \
  "SELECT bool_and(public_state = 'waiting') FROM ff.execution"
psql -X -q -At -d postgres -c "SELECT cron.unschedule('ff-scanners')" >/dev/null

# a fast shutdown stops the launcher and the workers cleanly
start=$(date +%s%N)
if as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m fast -w -t 20 stop >/dev/null 2>&1; then
  ms=$((($(date +%s%N) - start) / 1000000))
  pass "pg_ctl stop -m fast returns ($ms ms)"
else
  fail "pg_ctl stop -m fast returns"
fi
if [ "$(tail -n +"${log_from:-1}" "$FF_PGDATA"/server.log | grep -cE "terminated by signal|PANIC|was terminated" || true)" != 0 ]; then
  fail "no worker crashed during the run or the shutdown"
  tail -n +"${log_from:-1}" "$FF_PGDATA"/server.log | grep -E "terminated by signal|PANIC|was terminated"
else
  pass "no worker crashed during the run or the shutdown"
fi
echo "1..$n"
