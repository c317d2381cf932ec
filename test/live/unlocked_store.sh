#!/usr/bin/env bash
# Claims and completes that write nothing before the execution row store it
# without locking it first (src/exec_claim.c, claim_unlocked; src/exec_ops.c,
# ff_complete_unlocked_many, also for a batch of completes): their update
# takes the lock.  Read in the WAL
# (pg_walinspect), per transaction, the records on ff.execution: such a
# claim or complete writes no row-lock record of its own; one that goes
# through the lock writes one (a concurrency key, an expired grant, a
# second attempt, ff_engine.test_store_by_key; in a claim of several, the
# rows from the first that must be locked on), and the outcome is the same
# either way.  The races are in the isolation specs claim_unlocked,
# claim_walk_again, complete_unlocked and complete_batch_unlocked.  Sourced by test/run.sh: no exit.  Prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
echo "1..21"
db=ff_unlocked_store
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
     -c "CREATE DATABASE $db" >/dev/null
psql -X -q -d $db -c "CREATE EXTENSION ff_engine" -c "CREATE EXTENSION pg_walinspect" >/dev/null

# us_job NAME LANE [MAX] [SETTING] [RECLAIM] [HOW]: claim MAX (1) executions of
# LANE and complete the first (HOW: all, every one in one complete_executions;
# stale, the same with each fence's epoch one too high), each in a transaction of
# its own; prints "NAME|ok|
# claim's locks|claim's updates|complete's locks|complete's updates", the
# Heap row-lock and update records each transaction wrote to ff.execution
us_job() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d $db 2>&1 <<SQL
SET synchronous_commit = on;
${4:-}
CREATE TEMP TABLE us_wal (what text, lsn pg_lsn, x xid);
BEGIN;
INSERT INTO us_wal SELECT 'claim', pg_current_wal_insert_lsn(), xid(pg_current_xact_id());
CREATE TEMP TABLE us_claims AS SELECT claim FROM ff.claim_next('$2', 'w', 'w-1', max_count => ${3:-1},
                                                               reclaim => ${5:-false});
COMMIT;
SELECT claim->>'execution_id' AS e, claim->>'lease_id' AS l, claim->>'lease_epoch' AS ep,
       claim->>'attempt_id' AS a FROM us_claims LIMIT 1 \gset
BEGIN;
INSERT INTO us_wal SELECT 'complete', pg_current_wal_insert_lsn(), xid(pg_current_xact_id());
SELECT CASE WHEN '${6:-one}' = 'one'
            THEN ff.complete_execution(:'e', :'l', :'ep', :'a', '\\x6f6b') ->> 'ok'
            ELSE (SELECT (r->>'succeeded')::int = jsonb_array_length(r->'results') FROM (SELECT ff.complete_executions(
                   array_agg(claim->>'execution_id'), array_agg((claim->>'lease_id')::uuid),
                   array_agg((claim->>'lease_epoch')::bigint + CASE '${6:-}' WHEN 'stale' THEN 1 ELSE 0 END),
                   array_agg((claim->>'attempt_id')::uuid), array_agg('\\x6f6b'::bytea)) r FROM us_claims) s)::text END AS ok \gset
COMMIT;
SELECT '$1|' || :'ok' || '|' || string_agg(n::text, '|' ORDER BY k) FROM (
  SELECT k, n FROM us_wal w, LATERAL (
    SELECT count(*) FILTER (WHERE record_type = 'LOCK') AS locks,
           count(*) FILTER (WHERE record_type IN ('UPDATE', 'HOT_UPDATE')) AS updates
    FROM pg_get_wal_records_info(w.lsn, pg_current_wal_flush_lsn())
    WHERE xid = w.x AND resource_manager = 'Heap'
      AND block_ref LIKE '%/' || pg_relation_filenode('ff.execution') || ' fork main %') r,
  LATERAL (VALUES (CASE w.what WHEN 'claim' THEN 1 ELSE 3 END, r.locks),
                  (CASE w.what WHEN 'claim' THEN 2 ELSE 4 END, r.updates)) v(k, n)) s;
SQL
}

# us_retry LANE: claim one execution of LANE and fail it into its retry, due now
us_retry() {
  psql -X -q -d $db >/dev/null <<SQL
SELECT claim->>'execution_id' AS e, claim->>'lease_id' AS l, claim->>'lease_epoch' AS ep,
       claim->>'attempt_id' AS a FROM ff.claim_next('$1', 'w', 'w-1') \gset
SELECT ff.fail_execution(:'e', :'l', :'ep', :'a', 'boom', 'transient') \g /dev/null
SELECT ff.promote_delayed(:'e', ff.now_ms() + 1000) \g /dev/null
SQL
}

retry='{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "delay_ms": 0}}}'
psql -X -q -d $db >/dev/null <<SQL
SELECT count(ff.create_execution(ff.execution_id('us'), lane_id => 'us', policy_json => '$retry'))
FROM generate_series(1, 3);
SELECT ff.create_execution(ff.execution_id('usk'), lane_id => 'usk',
                           policy_json => '{"concurrency": {"key": "k", "limit": 1}}');
SELECT count(ff.create_execution(ff.execution_id('usb'), lane_id => 'usb')) FROM generate_series(1, 2);
SELECT ff.create_execution(ff.execution_id('usm'), lane_id => 'usm');
SELECT ff.create_execution(ff.execution_id('usm'), lane_id => 'usm',
                           policy_json => '{"concurrency": {"key": "m", "limit": 1}}');
SELECT ff.create_execution(ff.execution_id('usm'), lane_id => 'usm');
SELECT ff.create_execution(ff.execution_id('usr'), lane_id => 'usr');
SELECT ff.create_execution(ff.execution_id('uss'), lane_id => 'uss');
SELECT ff.execution_id('usg') AS g \gset
SELECT ff.create_execution(:'g', lane_id => 'usg');
SELECT ff.issue_claim_grant(:'g', 'other', 'other-1', 'usg', grant_ttl_ms => 1);
SQL

check "a plain claim and its complete by the holder write no row lock, one update each" \
  "$(us_job first us)" "first|true|0|1|0|1"
check "the same stored by key go through the row lock" \
  "$(us_job by_key us 1 'SET ff_engine.test_store_by_key = on;')" "by_key|true|1|1|1|1"
check "a claim of an execution with a concurrency key takes the row lock" \
  "$(us_job keyed usk)" "keyed|true|1|1|0|1"
check "a claim of two writes no row lock, two updates" \
  "$(us_job batch usb 2)" "batch|true|0|2|0|1"
check "a claim of three whose second has a concurrency key: the first unlocked, the rest locked" \
  "$(us_job mixed usm 3)" "mixed|true|2|3|0|1"

check "under SERIALIZABLE a claim takes the row lock; the complete needs none" \
  "$(us_job serializable uss 1 "SET default_transaction_isolation = 'serializable';")" "serializable|true|1|1|0|1"
check "a reclaiming claim that finds no lost lease claims without a row lock" \
  "$(us_job reclaim usr 1 '' true)" "reclaim|true|0|1|0|1"
sleep 0.01
check "a claim of an execution with an expired grant takes the row lock" \
  "$(us_job granted usg)" "granted|true|1|1|0|1"
check "and deletes the expired grant" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FROM ff.claim_grant")" "0"

# a second attempt (its first failed into a retry) ends its attempt row too:
# its claim and complete go through the lock
us_retry us
check "a retried execution's claim and complete take the row lock" \
  "$(us_job retried us)" "retried|true|1|1|1|1"

check "the executions completed, each with its result" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FILTER (WHERE e.public_state = 'completed'),
       count(*) FILTER (WHERE d.result = '\\x6f6b'::bytea), count(*) FILTER (WHERE e.public_state = 'active')
       FROM ff.execution e JOIN ff.execution_data d ON d.partition = e.partition AND d.execution_id = e.execution_id")" "9|9|3"
check "the attempts read as they would under the lock" \
  "$(psql -X -q -At -d $db -c "SELECT string_agg(attempt_state::text, ',' ORDER BY attempt_state::text)
       FROM ff.attempt")" "ended_failure,ended_success,ended_success,ended_success,ended_success,ended_success,ended_success,ended_success,ended_success,ended_success,started,started,started"
check "the lease history: thirteen leases acquired, ten released (three still held)" \
  "$(psql -X -q -At -d $db -c "SELECT count(*) FILTER (WHERE event = 'acquired'), count(*) FILTER (WHERE event = 'released')
       FROM ff.lease_history")" "13|10"
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

# batches of completes (complete_executions): stored unlocked when every item
# writes only its row; otherwise every row goes through the lock
psql -X -q -d $db >/dev/null <<SQL
SELECT count(ff.create_execution(ff.execution_id('usa'), lane_id => 'usa')) FROM generate_series(1, 2);
SELECT count(ff.create_execution(ff.execution_id('ust'), lane_id => 'ust')) FROM generate_series(1, 2);
SELECT count(ff.create_execution(ff.execution_id('usx'), lane_id => 'usx', policy_json => '$retry'))
FROM generate_series(1, 2);
SQL
us_retry usx
check "a batch complete of two by their holder writes no row lock, two updates" \
  "$(us_job batch_all usa 2 '' false all)" "batch_all|true|0|2|0|2"
check "a batch complete of two stale fences locks both rows and writes nothing" \
  "$(us_job stale ust 2 '' false stale)" "stale|false|0|2|2|0"
check "a batch complete whose other item is a second attempt locks both rows" \
  "$(us_job mixed_all usx 2 '' false all)" "mixed_all|true|2|2|2|2"
check "the batches' executions: completed with their results, the stale ones still active" \
  "$(psql -X -q -At -d $db -c "SELECT string_agg(lane_id || ':' || public_state || ':' || coalesce(encode(d.result, 'escape'), '-'),
       ',' ORDER BY lane_id, public_state) FROM ff.execution e JOIN ff.execution_data d USING (partition, execution_id)
       WHERE lane_id IN ('usa', 'ust', 'usx')")" \
  "usa:completed:ok,usa:completed:ok,ust:active:-,ust:active:-,usx:completed:ok,usx:completed:ok"

# us_race LANE CLIENTS TRANSACTIONS DESCRIPTION < PGBENCH_SCRIPT: 2 000
# executions of LANE drained by pgbench's clients racing for its head; each
# must be completed once, under one lease, at its first attempt
us_race() {
  local script out got
  script=$(mktemp)
  cat >"$script"
  psql -X -q -d $db -c "SELECT count(ff.create_execution(ff.execution_id('$1'), lane_id => '$1'))
      FROM generate_series(1, 2000)" >/dev/null
  out=$(pgbench -n -c "$2" -j "$2" -t "$3" -f "$script" $db 2>&1)
  rm -f "$script"
  got=$(psql -X -q -At -d $db -c "SELECT count(*) FILTER (WHERE public_state = 'completed'),
         count(*) FILTER (WHERE current_lease_epoch = 1 AND total_attempt_count = 1),
         (SELECT count(*) FROM ff.consistency_violations) FROM ff.execution WHERE lane_id = '$1'")
  check "$4: 2000 executions completed once each, one lease and one attempt each" "$got" "2000|2000|0"
  [ "$got" = "2000|2000|0" ] || echo "$out" | grep -iE "error|abort" | head -5 | sed 's/^/# pgbench: /'
}
us_race race 8 250 "8 racing claimers, claim and complete per item" <<'SQL'
SELECT claim->>'execution_id' AS eid, claim->>'lease_id' AS lid, claim->>'lease_epoch' AS ep, claim->>'attempt_id' AS aid
FROM ff.claim_next('race', 'bench', 'bench-' || :client_id) \gset
SELECT ff.complete_execution(':eid', ':lid'::uuid, :ep, ':aid'::uuid) ->> 'ok' AS ok \gset
SQL
us_race race10 4 50 "4 racing claimers of 10 at a time, completes in batches" <<'SQL'
SELECT array_agg(claim->>'execution_id') AS ids, array_agg((claim->>'lease_id')::uuid) AS lids,
       array_agg((claim->>'lease_epoch')::bigint) AS eps, array_agg((claim->>'attempt_id')::uuid) AS aids
FROM ff.claim_next('race10', 'bench', 'bench-' || :client_id, max_count => 10) \gset
SELECT ff.complete_executions(':ids'::text[], ':lids'::uuid[], ':eps'::bigint[], ':aids'::uuid[]) \gset c_
SQL
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
unset -f us_job us_race us_retry
unset retry
