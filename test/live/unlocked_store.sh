#!/usr/bin/env bash
# A complete by the lease's holder whose transition writes nothing before
# the execution row stores the row without locking it first
# (src/exec_ops.c, complete_unlocked): its update takes the lock.  Read in
# the WAL (pg_walinspect): such a complete writes no row-lock record of its
# own, one where it goes through the lock (the by-key store of
# ff_engine.test_store_by_key, a second attempt), and the outcome is the
# same either way.  The races (a transaction holding or changing the row
# meanwhile) are in test/isolation/specs/complete_unlocked.spec.  Sourced
# by test/run.sh: no exit.  Prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
echo "1..8"
db=ff_unlocked_store
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
     -c "CREATE DATABASE $db" >/dev/null
psql -X -q -d $db -c "CREATE EXTENSION ff_engine" -c "CREATE EXTENSION pg_walinspect" >/dev/null

# us_complete NAME [SETTING]: claim one execution of lane us and complete
# it in a transaction of its own; prints "NAME ok locks updates", the Heap
# row-lock and update records that transaction wrote to ff.execution
us_complete() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d $db 2>&1 <<SQL
SET synchronous_commit = on;
${2:-}
SELECT claim->>'execution_id' AS e, claim->>'lease_id' AS l, claim->>'lease_epoch' AS ep,
       claim->>'attempt_id' AS a FROM ff.claim_next('us', 'w', 'w-1') \gset
SELECT pg_current_wal_insert_lsn() AS lsn \gset
BEGIN;
SELECT ff.complete_execution(:'e', :'l', :'ep', :'a', '\\x6f6b') ->> 'ok' AS ok \gset
SELECT xid(pg_current_xact_id()) AS x \gset
COMMIT;
SELECT '$1', :'ok',
       count(*) FILTER (WHERE record_type = 'LOCK'),
       count(*) FILTER (WHERE record_type IN ('UPDATE', 'HOT_UPDATE'))
FROM pg_get_wal_records_info(:'lsn', pg_current_wal_flush_lsn())
WHERE xid = :'x'::xid AND resource_manager = 'Heap'
  AND block_ref LIKE '%/' || pg_relation_filenode('ff.execution') || ' fork main %';
SQL
}

psql -X -q -d $db -c "SELECT count(ff.create_execution(ff.execution_id('us'), lane_id => 'us',
    policy_json => '{\"retry_policy\": {\"max_retries\": 1, \"backoff\": {\"type\": \"fixed\", \"delay_ms\": 0}}}'))
    FROM generate_series(1, 3)" >/dev/null

check "a first attempt's complete by its holder writes no row lock, one update" \
  "$(us_complete first)" "first|true|0|1"
check "the same complete stored by key goes through the row lock" \
  "$(us_complete by_key 'SET ff_engine.test_store_by_key = on;')" "by_key|true|1|1"

# a second attempt (its first failed into a retry) ends its attempt row too:
# under the lock
psql -X -q -d $db >/dev/null <<'SQL'
SELECT claim->>'execution_id' AS e, claim->>'lease_id' AS l, claim->>'lease_epoch' AS ep,
       claim->>'attempt_id' AS a FROM ff.claim_next('us', 'w', 'w-1') \gset
SELECT ff.fail_execution(:'e', :'l', :'ep', :'a', 'boom', 'transient') \g /dev/null
SELECT ff.promote_delayed(:'e', ff.now_ms() + 1000) \g /dev/null
SQL
check "a retried execution's complete takes the row lock" \
  "$(us_complete retried)" "retried|true|1|1"

check "every execution completed, with its result" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FILTER (WHERE e.public_state = 'completed'),
       count(*) FILTER (WHERE d.result = '\\x6f6b'::bytea) FROM ff.execution e
       JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id")" "3|3"
check "the attempts read as they would under the lock" \
  "$(psql -X -q -At -d $db -c "SELECT string_agg(attempt_state::text, ',' ORDER BY attempt_state::text)
       FROM ff.attempt")" "ended_failure,ended_success,ended_success,ended_success"
check "one lease history per lease, each released or failed" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FROM ff.lease_history WHERE event = 'released'")" "4"
check "the invariants hold" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FROM ff.consistency_violations")" "0"

# a stale fence after the unlocked complete: refused, as under the lock
check "a second complete of a completed execution is refused" \
  "$(psql -X -q -At -d $db <<'SQL'
SELECT ff.create_execution(ff.execution_id('us2'), lane_id => 'us2') \g /dev/null
SELECT claim->>'execution_id' AS e, claim->>'lease_id' AS l, claim->>'lease_epoch' AS ep,
       claim->>'attempt_id' AS a FROM ff.claim_next('us2', 'w', 'w-1') \gset
SELECT ff.complete_execution(:'e', :'l', :'ep', :'a') ->> 'ok' \g /dev/null
SELECT ff.complete_execution(:'e', :'l', :'ep', :'a') ->> 'error';
SQL
)" "execution_not_active"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
unset -f us_complete
