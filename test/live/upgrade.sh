#!/usr/bin/env bash
# The upgrade path 0.1.0 -> 0.2.0 (issue 27), as an operator runs it: the
# released 0.1.0 (built from its commit) holds work in every state; the
# current build is installed, the server restarted, ALTER EXTENSION ff_engine
# UPDATE run; then every execution finishes and the catalogue equals a fresh
# 0.2.0 install's, line by line (test/live/catalogue.sql).  Sourced by
# test/run.sh (run_live) against its cluster; restarts that cluster twice and
# leaves the current build installed.  Prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
up() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_up -c "$1" 2>&1; }
restart_cluster() { as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -m fast -w restart >/dev/null; }
FF_RELEASE_0_1_0=7c57ea8

# ---- 0.1.0, from its commit ----
up_old=$(mktemp -d /tmp/ff_engine_0.1.0.XXXXXX)
if git -C "$FF_ROOT" archive "$FF_RELEASE_0_1_0" | tar -x -C "$up_old" \
   && make -C "$up_old" -s with_llvm=no PG_CONFIG=$PGBIN/pg_config >/dev/null 2>&1 \
   && as_root make -C "$up_old" -s with_llvm=no install PG_CONFIG=$PGBIN/pg_config >/dev/null 2>&1; then
  pass "0.1.0 built from $FF_RELEASE_0_1_0 and installed"
else
  fail "0.1.0 built from $FF_RELEASE_0_1_0 and installed"
fi
check "the frozen sql/ff_engine--0.1.0.sql is 0.1.0's install script" \
  "$(md5sum < "$FF_ROOT/sql/ff_engine--0.1.0.sql")" "$(md5sum < "$up_old/sql/ff_engine--0.1.0.sql")"
restart_cluster
psql -X -q -c "DROP DATABASE IF EXISTS ff_up" -c "DROP DATABASE IF EXISTS ff_up_fresh" -c "CREATE DATABASE ff_up" >/dev/null
psql -X -q -c "DROP ROLE IF EXISTS up_tenant" -c "DROP ROLE IF EXISTS up_gone" >/dev/null 2>&1

psql -X -q -d ff_up -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION ff_engine;
CREATE ROLE up_tenant IN ROLE ff_reader;
CREATE ROLE up_gone;
CREATE TABLE up (name text PRIMARY KEY, id text NOT NULL, lease_id uuid, epoch bigint, attempt_id uuid, wp uuid, token text);
INSERT INTO up (name, id) VALUES ('waiting', ff.execution_id('up_w')), ('delayed', ff.execution_id('up_d')),
    ('active', ff.execution_id('up_a')), ('suspended', ff.execution_id('up_s')), ('budget', ff.execution_id('up_b')),
    ('done', ff.execution_id('up_c')), ('retry', ff.execution_id('up_r'));
SELECT ff.create_execution(id, lane_id => 'up_w', input_payload => 'payload') FROM up WHERE name = 'waiting';
SELECT ff.create_execution(id, lane_id => 'up_d', delay_until => ff.now_ms() + 4000) FROM up WHERE name = 'delayed';
SELECT ff.create_execution(id, lane_id => 'up_a') FROM up WHERE name = 'active';
UPDATE up SET lease_id = (c.claim ->> 'lease_id')::uuid, epoch = (c.claim ->> 'lease_epoch')::bigint,
              attempt_id = (c.claim ->> 'attempt_id')::uuid
FROM ff.claim_next('up_a', 'w', 'w-1', lease_ttl_ms => 3600000) c WHERE name = 'active';
SELECT ff.create_execution(id, lane_id => 'up_s') FROM up WHERE name = 'suspended';
SELECT count(*) FROM ff.claim_next('up_s', 'w', 'w-1', lease_ttl_ms => 3600000);
UPDATE up SET wp = '00000000-0000-4000-a000-00000000e0a2',
              token = ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
                  gen_random_uuid(), '00000000-0000-4000-a000-00000000e0a2', 'sk', 'waiting_for_signal',
                  '{"required_signal_names": ["go"]}') ->> 'waitpoint_token'
FROM ff.executions e WHERE e.id = up.id AND up.name = 'suspended';
SELECT ff.create_flow('f0000000-0000-4000-8000-00000000e0f1', 'dag');
INSERT INTO up (name, id) SELECT x, ff.flow_member_execution_id('f0000000-0000-4000-8000-00000000e0f1') FROM unnest(ARRAY['up', 'down']) x;
SELECT ff.create_execution(id, lane_id => 'up_f'), ff.add_execution_to_flow('f0000000-0000-4000-8000-00000000e0f1', id)
FROM up WHERE name IN ('up', 'down') ORDER BY name DESC;
SELECT ff.add_dependency('f0000000-0000-4000-8000-00000000e0f1', (SELECT id FROM up WHERE name = 'up'), (SELECT id FROM up WHERE name = 'down'));
SELECT ff.create_budget('00000000-0000-4000-b000-00000000e0b1', '{tokens}', '{1000}', '{800}');
SELECT ff.report_usage_and_check('00000000-0000-4000-b000-00000000e0b1', '{tokens}', '{10}');
SELECT ff.create_execution(id, lane_id => 'up_b', policy_json => '{"budget_ids": ["00000000-0000-4000-b000-00000000e0b1"]}')
FROM up WHERE name = 'budget';
SELECT ff.create_execution(id, lane_id => 'up_c') FROM up WHERE name = 'done';
SELECT ff.complete_execution(c.claim ->> 'execution_id', (c.claim ->> 'lease_id')::uuid, (c.claim ->> 'lease_epoch')::bigint,
                             (c.claim ->> 'attempt_id')::uuid) FROM ff.claim_next('up_c', 'w', 'w-1') c;
-- failed once, waiting out its retry backoff (2 s)
SELECT ff.create_execution(id, lane_id => 'up_r', policy_json => '{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "delay_ms": 2000}}}')
FROM up WHERE name = 'retry';
SELECT ff.fail_execution(c.claim ->> 'execution_id', (c.claim ->> 'lease_id')::uuid, (c.claim ->> 'lease_epoch')::bigint,
                         (c.claim ->> 'attempt_id')::uuid, 'boom', 'transient') FROM ff.claim_next('up_r', 'w', 'w-1') c;
SELECT ff.register_worker('up-w-1', 'up-w', ARRAY['up_w'], ttl_ms => 3600000);
SELECT ff.grant_namespace('up_tenant', 't1');
SELECT ff.grant_namespace('up_tenant', 't2');
SELECT ff.grant_namespace('up_gone', 't3');
DROP ROLE up_gone;
SQL
psql -X -q -d ff_up -v ON_ERROR_STOP=1 -f "$FF_ROOT/test/live/finish_lane.sql" >/dev/null
check "0.1.0 holds work in every state" \
  "$(up "SELECT extversion FROM pg_extension WHERE extname = 'ff_engine'")/$(up "SELECT string_agg(DISTINCT public_state::text, ',' ORDER BY public_state::text) FROM ff.execution")" \
  "0.1.0/active,completed,delayed,suspended,waiting,waiting_children"
old_event=$(up "SELECT max(event_id) FROM ff.completion_event")

# ---- the current build, a restart, ALTER EXTENSION UPDATE ----
build_install >/dev/null
restart_cluster
res=$(up "ALTER EXTENSION ff_engine UPDATE")
check "ALTER EXTENSION ff_engine UPDATE runs" "$res" ""
check "the extension is at the new default version" "$(up "SELECT extversion FROM pg_extension WHERE extname = 'ff_engine'")" \
  "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$FF_ROOT/ff_engine.control")"
check "namespace grants became bindings (the dropped role's grant is gone)" \
  "$(up "SELECT string_agg(role_name || ':' || array_to_string(namespaces, ','), ' ') FROM ff.namespace_bindings")" "up_tenant:t1,t2"
check "completion events took their execution's namespace" "$(up "SELECT string_agg(DISTINCT namespace, ',') FROM ff.completion_event")" "default"
check "budgets made under 0.1.0 are global" "$(up "SELECT count(*) FROM ff.budget WHERE namespace IS NULL")" "1"
check "a completion channel exists" "$(up "SELECT ff.completion_channel('default') LIKE 'ff_completion_%'")" "t"

# ---- every execution finishes ----
check "the suspended execution's token verifies: the signal resumes it" \
  "$(up "SELECT ff.deliver_signal(id, wp, gen_random_uuid(), 'go', token) ->> 'effect' FROM up WHERE name = 'suspended'")" \
  "resume_condition_satisfied"
check "the live lease's holder completes" \
  "$(up "SELECT ff.complete_execution(id, lease_id, epoch, attempt_id) ->> 'result' FROM up WHERE name = 'active'")" "completed"
check "new completion events go on above the old ids" "$(up "SELECT last_value > $old_event FROM ff.completion_event_event_id_seq")" "t"
check "the waiting, resumed and budgeted executions complete" "$(up "SELECT finish_lane('up_w') + finish_lane('up_s') + finish_lane('up_b')")" "3"
check "the flow's upstream completes and its edge resolves" \
  "$(up "SELECT finish_lane('up_f')")/$(up "SELECT (ff.dispatch_completions(100)) ->> 'processed'")/$(up "SELECT finish_lane('up_f')")" "1/1/1"
for i in $(seq 1 60); do [ "$(up "SELECT (ff.scan_delayed()) ->> 'processed'")" -ge 2 ] 2>/dev/null && break
  [ "$(up "SELECT count(*) FROM ff.execution WHERE public_state = 'delayed'")" = 0 ] && break; sleep 0.1; done
check "the delayed execution and the retry come due and complete" "$(up "SELECT finish_lane('up_d') + finish_lane('up_r')")" "2"
check "every execution ended completed" "$(up "SELECT string_agg(DISTINCT public_state::text, ',') FROM ff.execution")" "completed"
check "ff.consistency_violations is empty" "$(up "SELECT count(*) FROM ff.consistency_violations")" "0"
check "the registered worker is still registered" "$(up "SELECT ff.heartbeat_worker('up-w-1') ->> 'ok'")" "true"

# ---- the same catalogue as a fresh install ----
psql -X -q -c "CREATE DATABASE ff_up_fresh" >/dev/null
psql -X -q -d ff_up_fresh -c "CREATE EXTENSION ff_engine" >/dev/null
cat_up=$(mktemp); cat_fresh=$(mktemp)
psql -X -q -At -d ff_up -f "$FF_ROOT/test/live/catalogue.sql" > "$cat_up" 2>&1
psql -X -q -At -d ff_up_fresh -f "$FF_ROOT/test/live/catalogue.sql" > "$cat_fresh" 2>&1
cat_diff=$( (comm -23 "$cat_fresh" "$cat_up" | sed 's/^/only in a fresh install: /'; comm -13 "$cat_fresh" "$cat_up" | sed 's/^/only after the upgrade: /') )
if grep -q ERROR "$cat_up" "$cat_fresh"; then
  fail "the catalogue query runs: $(grep -h ERROR "$cat_up" "$cat_fresh" | head -3)"
elif [ -z "$cat_diff" ] && [ -s "$cat_fresh" ]; then
  pass "the upgraded catalogue equals a fresh install's ($(wc -l < "$cat_fresh") facts: functions, tables, columns, constraints, indexes, triggers, views, types, grants, comments, dump marks)"
else
  fail "the upgraded catalogue equals a fresh install's ($(printf '%s\n' "$cat_diff" | grep -c .) differences)"
  printf '%s\n' "$cat_diff" | sed 's/^/#   /'
fi

rm -rf "$up_old" "$cat_up" "$cat_fresh"
psql -X -q -c "DROP DATABASE IF EXISTS ff_up" -c "DROP DATABASE IF EXISTS ff_up_fresh" >/dev/null
psql -X -q -c "DROP ROLE IF EXISTS up_tenant" >/dev/null 2>&1
echo "1..$n"
