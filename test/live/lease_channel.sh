#!/usr/bin/env bash
# ff.lease_channel (src/exec_lease.c, announce_lost): a live lease
# ended by anyone but its holder is announced on its namespace's lease
# channel, {"execution_id", "lease_epoch", "reason"}, once: revoked,
# cancelled, expired by a timeout, marked expired (by the scanner's step or
# by the reclaim that finds it past its expiry), finished by an operator's
# override.  The holder's own completion, and a lease already announced,
# send nothing.  Part 1 listens in the session that makes the changes
# (ff_engine.notify_in_transaction = on: psql prints its own notifications
# after each command, in order); part 2 checks that the engine worker relays
# those of another session, a rolled-back subtransaction's taken back and
# not its committed sibling's.  Sourced by test/run.sh: no exit.
# Prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
echo "1..14"
db=ff_lease_channel
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
     -c "CREATE DATABASE $db" -c "ALTER DATABASE $db SET ff_engine.enabled = on" >/dev/null
psql -X -q -d $db -c "CREATE EXTENSION ff_engine" -c "SELECT ff._wake_launcher()" >/dev/null

out=$(psql -X -q -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
SELECT ff.lease_channel() AS ch \gset
LISTEN :"ch";
SET ff_engine.notify_in_transaction = on;
SELECT count(ff.create_execution(ff.execution_id('lc'), lane_id => 'lc')) FROM generate_series(1, 6) \g /dev/null
-- a: revoked
SELECT claim->>'execution_id' AS a, claim->>'lease_id' AS a_lease FROM ff.claim_next('lc', 'w', 'w-1') \gset
\echo ID a :a :a_lease
SELECT ff.revoke_lease(:'a') \g /dev/null
-- b: cancelled while leased
SELECT claim->>'execution_id' AS b FROM ff.claim_next('lc', 'w', 'w-1') \gset
\echo ID b :b
SELECT ff.cancel_execution(:'b') \g /dev/null
-- c: ended by its deadline
SELECT claim->>'execution_id' AS c FROM ff.claim_next('lc', 'w', 'w-1') \gset
\echo ID c :c
SELECT ff.expire_execution(:'c', 'execution_deadline') \g /dev/null
-- d: marked expired by the scanner's step; e: reclaimed past its expiry, unmarked
SELECT claim->>'execution_id' AS d FROM ff.claim_next('lc', 'w', 'w-1', lease_ttl_ms => 1000) \gset
SELECT claim->>'execution_id' AS e FROM ff.claim_next('lc', 'w', 'w-1', lease_ttl_ms => 1000) \gset
\echo ID d :d
\echo ID e :e
SELECT set_config('ff_engine.test_clock_ms', (ff.now_ms() + 5000)::text, false) \g /dev/null
SELECT ff.mark_lease_expired_if_due(:'d') \g /dev/null
\echo MARKER reclaim
-- the three lost leases (a revoked, d marked, e past expiry) come before any fresh claim
SELECT count(*) AS reclaimed FROM ff.claim_next('lc', 'w2', 'w2-1', max_count => 3, reclaim => true) \gset
\echo RECLAIMED :reclaimed
-- f: completed by its holder; a: cancelled after its revoke (announced then)
SELECT claim->>'execution_id' AS f, claim->>'lease_id' AS f_lease, claim->>'lease_epoch' AS f_epoch,
       claim->>'attempt_id' AS f_att FROM ff.claim_next('lc', 'w', 'w-1') \gset
\echo ID f :f
\echo MARKER own
SELECT ff.complete_execution(:'f', :'f_lease', :'f_epoch', :'f_att') ->> 'ok';
SELECT ff.cancel_execution(:'a') ->> 'ok';
\echo MARKER end
SQL
)
lc_id() { echo "$out" | awk -v k="$1" '$1 == "ID" && $2 == k {print $3}'; }
payloads=$(echo "$out" | sed -n 's/^Asynchronous notification "ff_lease_[0-9a-f]*" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p')
lc_reason() { echo "$payloads" | grep -F "\"execution_id\": \"$1\"" | sed 's/.*"reason": "\([a-z_]*\)".*/\1/' | paste -sd,; }
a=$(lc_id a)
check "a revoke: the whole payload (no lease id), at once" \
  "$(echo "$payloads" | grep -F "\"execution_id\": \"$a\"" | head -1)" \
  "{\"execution_id\": \"$a\", \"lease_epoch\": 1, \"reason\": \"lease_revoked\"}"
check "a cancel of a leased execution" "$(lc_reason "$(lc_id b)")" "cancelled"
check "an end by its deadline" "$(lc_reason "$(lc_id c)")" "expired"
check "an expiry marked by the scanner's step" "$(lc_reason "$(lc_id d)")" "lease_expired"
check "a lease past its expiry, marked by the reclaim that takes it over" "$(lc_reason "$(lc_id e)")" "lease_expired"
check "the three lost leases reclaimed" "$(echo "$out" | awk '$1 == "RECLAIMED" {print $2}')" "3"
f=$(lc_id f)
[ -n "$f" ] && [ -z "$(lc_reason "$f")" ] && pass "the holder's own completion: none" || fail "the holder's own completion: none (f '$f': $(lc_reason "$f"))"
check "the revoked one, reclaimed by w2 and then cancelled: w2's lease (epoch 2) announced" \
  "$(echo "$payloads" | grep -F "\"execution_id\": \"$a\"" | sed -n 2p | grep -o '"lease_epoch": 2, "reason": "cancelled"')" \
  '"lease_epoch": 2, "reason": "cancelled"'
check "six announcements in all (none for the reclaim of leases already announced)" "$(echo "$payloads" | grep -c .)" "6"
check "the holder's completion succeeded" "$(echo "$out" | sed -n '/^MARKER own$/,/^MARKER end$/p' | grep -c '^ true$')" "2"

# part 2: sent by other sessions, relayed by the engine worker after commit
ch=$(psql -X -q -At -d $db -c "SELECT ff.lease_channel()")
psql -X -q -d $db -c "SELECT count(ff.create_execution(ff.execution_id('lr'), lane_id => 'lr')) FROM generate_series(1, 4)" >/dev/null
g=($(psql -X -q -At -d $db -c "SELECT claim->>'execution_id' FROM ff.claim_next('lr', 'w', 'w-1', max_count => 4)"))
relay_out=$(mktemp)
# the listener says when it listens, then asks again every 0.1 s (psql
# prints notifications after a command) until it heard the last one, the
# operator's, at most 10 s
( echo "LISTEN \"$ch\";"; echo "SELECT 'listening';"
  for _ in $(seq 1 100); do sleep 0.1; echo "SELECT 1;"; grep -q operator_override "$relay_out" && break; done ) |
  psql -X -q -At -d $db >"$relay_out" 2>&1 &
lpid=$!
for _ in $(seq 1 100); do grep -q '^listening$' "$relay_out" && break; sleep 0.1; done
# g0 revoked in a subtransaction released, g1 in a sibling rolled back;
# g3 in a subtransaction released inside one rolled back
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
BEGIN;
SAVEPOINT s1; SELECT ff.revoke_lease('${g[0]}'); RELEASE s1;
SAVEPOINT s2; SELECT ff.revoke_lease('${g[1]}'); ROLLBACK TO s2;
SAVEPOINT s3; SAVEPOINT s4; SELECT ff.revoke_lease('${g[3]}'); RELEASE s4; ROLLBACK TO s3;
COMMIT;
SQL
# g2 completed by an operator, without its lease
psql -X -q -d $db -c "SELECT ff.complete_execution('${g[2]}', source => 'operator_override')" >/dev/null
wait $lpid
engine=$(psql -X -q -At -d $db -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = current_database()")
got=$(sed -n "s/^Asynchronous notification \"$ch\" with payload \"\(.*\)\" received from server process with PID \([0-9]*\)\.$/\2 \1/p" "$relay_out")
check "a revoke in a released subtransaction reaches a listener, sent by the engine worker after the commit" \
  "$(echo "$got" | grep -F "\"${g[0]}\"" | grep -c "^$engine .*\"reason\": \"lease_revoked\"")" "1"
check "the sibling subtransaction's, rolled back: none" "$(echo "$got" | grep -cF "\"${g[1]}\"")" "0"
check "one released inside a subtransaction rolled back: none" "$(echo "$got" | grep -cF "\"${g[3]}\"")" "0"
check "an operator's completion of a leased execution" \
  "$(echo "$got" | grep -F "\"${g[2]}\"" | grep -o '"reason": "[a-z_]*"')" '"reason": "operator_override"'
rm -f "$relay_out"
psql -X -q -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
unset -f lc_id lc_reason
