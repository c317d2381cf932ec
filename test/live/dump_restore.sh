#!/usr/bin/env bash
# Dump and restore (issue 27): a database holding work in every state is
# dumped with pg_dump and restored with pg_restore into a fresh database;
# the restored one must hold the same rows, keep its keys (waitpoint tokens
# verify, the completion channel is the same), continue its sequences, and
# run every execution to its end.  Sourced by test/run.sh (run_live) against
# its cluster; prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
src() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_dr_src -c "$1" 2>&1; }
dst() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_dr_dst -c "$1" 2>&1; }

psql -X -q -c "DROP DATABASE IF EXISTS ff_dr_src" -c "DROP DATABASE IF EXISTS ff_dr_dst" -c "CREATE DATABASE ff_dr_src" >/dev/null
psql -X -q -c "DROP ROLE IF EXISTS dr_tenant" >/dev/null 2>&1

# ---- work in every state ----
# dr: name -> execution id, and the fences and tokens the restored database
# must still accept (a user table: the dump carries it too)
psql -X -q -d ff_dr_src -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION ff_engine;
CREATE ROLE dr_tenant IN ROLE ff_reader;
-- partition counts other than the defaults (they place budgets and quotas)
SELECT ff.set_partition_config(256, 16, 8);
CREATE TABLE dr (name text PRIMARY KEY, id text NOT NULL, lease_id uuid, epoch bigint, attempt_id uuid, wp uuid, token text);
INSERT INTO dr (name, id) VALUES ('waiting', ff.execution_id('dr_w')), ('delayed', ff.execution_id('dr_d')),
    ('active', ff.execution_id('dr_a')), ('suspended', ff.execution_id('dr_s')), ('budget', ff.execution_id('dr_b')),
    ('done', ff.execution_id('dr_c'));
SELECT ff.create_execution(id, lane_id => 'dr_w', input_payload => 'payload') FROM dr WHERE name = 'waiting';
-- delayed until 4 s from now: due during the checks
SELECT ff.create_execution(id, lane_id => 'dr_d', delay_until => ff.now_ms() + 4000) FROM dr WHERE name = 'delayed';
-- active under a one-hour lease, with a pending waitpoint
SELECT ff.create_execution(id, lane_id => 'dr_a') FROM dr WHERE name = 'active';
UPDATE dr SET lease_id = (c.claim ->> 'lease_id')::uuid, epoch = (c.claim ->> 'lease_epoch')::bigint,
              attempt_id = (c.claim ->> 'attempt_id')::uuid
FROM ff.claim_next('dr_a', 'w', 'w-1', lease_ttl_ms => 3600000) c WHERE name = 'active';
SELECT ff.create_pending_waitpoint(id, 0, lease_id, epoch, attempt_id, '00000000-0000-4000-a000-00000000d0a1', 'pk',
                                   ff.now_ms() + 3600000) FROM dr WHERE name = 'active';
UPDATE dr SET wp = '00000000-0000-4000-a000-00000000d0a1', token = ff.read_waitpoint_token(id, '00000000-0000-4000-a000-00000000d0a1')
WHERE name = 'active';
-- that token is signed by the install's key k1; rotate to k2 (k1 verifies for a day more)
SELECT ff.rotate_waitpoint_hmac_secret('k2', repeat('5a', 32));
-- suspended on a waitpoint, its token kept
SELECT ff.create_execution(id, lane_id => 'dr_s') FROM dr WHERE name = 'suspended';
SELECT count(*) FROM ff.claim_next('dr_s', 'w', 'w-1', lease_ttl_ms => 3600000);
UPDATE dr SET wp = '00000000-0000-4000-a000-00000000d0a2',
              token = ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                  gen_random_uuid(), '00000000-0000-4000-a000-00000000d0a2', 'sk', 'waiting_for_signal',
                  '{"required_signal_names": ["go"]}') ->> 'waitpoint_token'
FROM ff.executions e WHERE e.id = dr.id AND dr.name = 'suspended';
-- a flow with an unresolved edge: up -> down
SELECT ff.create_flow('f0000000-0000-4000-8000-00000000d0f1', 'dag');
INSERT INTO dr (name, id) SELECT x, ff.flow_member_execution_id('f0000000-0000-4000-8000-00000000d0f1') FROM unnest(ARRAY['up', 'down']) x;
SELECT ff.create_execution(id, lane_id => 'dr_f'), ff.add_execution_to_flow('f0000000-0000-4000-8000-00000000d0f1', id)
FROM dr WHERE name IN ('up', 'down') ORDER BY name DESC;
SELECT ff.add_dependency('f0000000-0000-4000-8000-00000000d0f1', (SELECT id FROM dr WHERE name = 'up'), (SELECT id FROM dr WHERE name = 'down'));
-- under a budget that has spent some
SELECT ff.create_budget('00000000-0000-4000-b000-00000000d0b1', '{tokens}', '{1000}', '{800}');
SELECT ff.report_usage_and_check('00000000-0000-4000-b000-00000000d0b1', '{tokens}', '{10}');
SELECT ff.create_execution(id, lane_id => 'dr_b', policy_json => '{"budget_ids": ["00000000-0000-4000-b000-00000000d0b1"]}')
FROM dr WHERE name = 'budget';
-- a completed one (a completion event) and a registered worker
SELECT ff.create_execution(id, lane_id => 'dr_c') FROM dr WHERE name = 'done';
SELECT ff.complete_execution(c.claim ->> 'execution_id', (c.claim ->> 'lease_id')::uuid, (c.claim ->> 'lease_epoch')::bigint,
                             (c.claim ->> 'attempt_id')::uuid) FROM ff.claim_next('dr_c', 'w', 'w-1') c;
SELECT ff.register_worker('dr-w-1', 'dr-w', ARRAY['dr_w'], ttl_ms => 3600000);
-- a tenant binding
SELECT ff.grant_namespace('dr_tenant', 't1');
SQL
psql -X -q -d ff_dr_src -v ON_ERROR_STOP=1 -f "$FF_ROOT/test/live/finish_lane.sql" >/dev/null
check "the source holds every state" \
  "$(src "SELECT string_agg(DISTINCT public_state::text, ',' ORDER BY public_state::text) FROM ff.execution")" \
  "active,completed,delayed,suspended,waiting,waiting_children"

# ---- dump, restore into a fresh database ----
dr_dump=$(mktemp /tmp/ff_dr.XXXXXX)
if $PGBIN/pg_dump -Fc -d ff_dr_src -f "$dr_dump" 2>"$dr_dump.err"; then pass "pg_dump"; else fail "pg_dump ($(cat "$dr_dump.err"))"; fi
psql -X -q -c "CREATE DATABASE ff_dr_dst" >/dev/null
if $PGBIN/pg_restore -d ff_dr_dst "$dr_dump" 2>"$dr_dump.err"; then pass "pg_restore reports no error"
else fail "pg_restore reports no error: $(head -c 600 "$dr_dump.err" | tr '\n' ' ')"; fi

# ---- the same rows, keys and sequences ----
counts() {
  psql -X -q -At -d "$1" -c "SELECT string_agg(format('SELECT %L || ''='' || count(*) FROM %s', c.relname, c.oid::regclass), ' UNION ALL ' ORDER BY c.relname)
                            FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'r'" \
  | psql -X -q -At -d "$1" | sort | tr '\n' ' '
}
src_counts=$(counts ff_dr_src)
dst_counts=$(counts ff_dr_dst)
check "every ff table has as many rows after the restore" "$dst_counts" "$src_counts"
# the rows themselves, table by table (scanner bookkeeping excepted: it restarts)
dr_diff=""
for tbl in $(src "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'r'
                  AND c.relname NOT IN ('scanner_state', 'scanner_item_failure') ORDER BY 1"); do
  a=$(src "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ff.$tbl x")
  b=$(dst "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ff.$tbl x")
  [ "$a" = "$b" ] || dr_diff="$dr_diff $tbl"
done
check "every ff table holds the same rows after the restore" "$dr_diff" ""
check "the completion channel is the same" "$(dst "SELECT ff.completion_channel('default')")" "$(src "SELECT ff.completion_channel('default')")"
check "the tenant binding is kept" "$(dst "SELECT role_name || ':' || array_to_string(namespaces, ',') FROM ff.namespace_bindings")" "dr_tenant:t1"
check "the partition configuration is kept" "$(dst "SELECT row(p.*)::text FROM ff.partition_config p")" "$(src "SELECT row(p.*)::text FROM ff.partition_config p")"
old_event=$(src "SELECT last_value FROM ff.completion_event_event_id_seq")
old_signal=$(src "SELECT coalesce(max(event_id), 0) FROM ff.signal_event")

# ---- every execution finishes in the restored database ----
res=$(dst "SELECT ff.deliver_signal(id, wp, gen_random_uuid(), 'go', token) ->> 'effect' FROM dr WHERE name = 'suspended'")
check "the waitpoint token made before the dump still verifies: the signal resumes the execution" \
  "$res/$(dst "SELECT public_state FROM ff.executions e JOIN dr USING (id) WHERE dr.name = 'suspended'")" "resume_condition_satisfied/waiting"
check "a token of the previous key (k1, in its grace) still verifies: an early signal is buffered" \
  "$(dst "SELECT ff.buffer_signal_for_pending_waitpoint(id, wp, gen_random_uuid(), 'early', token) ->> 'ok' FROM dr WHERE name = 'active'")" "true"
check "the keystore is the dumped one (k1 in grace, k2 current)" \
  "$(dst "SELECT string_agg(kid || ':' || is_current, ',' ORDER BY kid) FROM ff.waitpoint_hmac_key")" "k1:false,k2:true"
check "a new signal event id is above the old maximum" "$(dst "SELECT max(event_id) > $old_signal FROM ff.signal_event")" "t"
check "the live lease still fences: its holder completes" \
  "$(dst "SELECT ff.complete_execution(id, lease_id, epoch, attempt_id) ->> 'result' FROM dr WHERE name = 'active'")" "completed"
check "a new completion event id is above the old maximum" "$(dst "SELECT last_value > $old_event AND is_called FROM ff.completion_event_event_id_seq")" "t"
check "the waiting, suspended-then-resumed and budgeted executions are claimed and completed" \
  "$(dst "SELECT finish_lane('dr_w') + finish_lane('dr_s') + finish_lane('dr_b')")" "3"
check "the budget kept its spend and counted on" \
  "$(dst "SELECT ff.report_usage_and_check('00000000-0000-4000-b000-00000000d0b1', '{tokens}', '{5}') ->> 'status'")/$(dst "SELECT string_agg(b::text, ',') FROM ff.budget_usage b")" \
  "OK/$(src "SELECT string_agg(b::text, ',') FROM ff.budget_usage b" | sed 's/,10)$/,15)/')"
check "the flow's upstream completes and its edge resolves" \
  "$(dst "SELECT finish_lane('dr_f')")/$(dst "SELECT (ff.dispatch_completions(100)) ->> 'processed'")/$(dst "SELECT public_state FROM ff.executions e JOIN dr USING (id) WHERE dr.name = 'down'")" \
  "1/1/waiting"
check "then the downstream member completes" "$(dst "SELECT finish_lane('dr_f')")" "1"
for i in $(seq 1 60); do [ "$(dst "SELECT (ff.scan_delayed()) ->> 'processed'")" = 1 ] && break; sleep 0.1; done
check "the delayed execution comes due and completes" "$(dst "SELECT finish_lane('dr_d')")" "1"
check "every execution ended completed" "$(dst "SELECT string_agg(DISTINCT public_state::text, ',') FROM ff.execution")" "completed"
check "ff.consistency_violations is empty" "$(dst "SELECT count(*) FROM ff.consistency_violations")" "0"
check "the registered worker is still registered" "$(dst "SELECT ff.heartbeat_worker('dr-w-1') ->> 'ok'")" "true"

rm -f "$dr_dump" "$dr_dump.err"
psql -X -q -c "DROP DATABASE IF EXISTS ff_dr_src" -c "DROP DATABASE IF EXISTS ff_dr_dst" >/dev/null
psql -X -q -c "DROP ROLE IF EXISTS dr_tenant" >/dev/null 2>&1
echo "1..$n"
