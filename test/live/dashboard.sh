#!/usr/bin/env bash
# The dashboard (issue 27) in a real browser: a database holding work in
# several states (a failed execution whose payload, tags, failure reason
# and stream hold HTML and script), a flow with edges, a budget and a quota;
# a login role that can only read (a member of ff_reader); ff-dashboard
# started against it on a free port; then headless Chromium (Debian's, driven
# by puppeteer-core) loads every page and checks what it shows against SQL,
# that hostile values stay text, and that the server answers 404 / 405 and
# serves /metrics; screenshots land in test/live/screenshots/.  Sourced by
# test/run.sh (run_live) against its cluster; prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
db() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_dash -c "$1" 2>&1; }

dash_node="$FF_ROOT/clients/node"
dash_shots="$FF_ROOT/test/live/screenshots"
dash_pid=""
dash_log=$(mktemp /tmp/ff_dash.XXXXXX)

dash_cleanup() {
  if [ -n "$dash_pid" ]; then kill "$dash_pid" 2>/dev/null; wait "$dash_pid" 2>/dev/null; dash_pid=""; fi
  psql -X -q -c "DROP DATABASE IF EXISTS ff_dash WITH (FORCE)" >/dev/null 2>&1
  psql -X -q -c "DROP ROLE IF EXISTS dash_viewer" >/dev/null 2>&1
  rm -f "$dash_log"
}

# ---- what the test needs: Chromium (test/lib.sh ensure_deps) and puppeteer-core (a dev dependency) ----
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1
fi
if [ -x /usr/bin/chromium ]; then pass "Chromium is installed"; else fail "Chromium is installed (/usr/bin/chromium)"; fi
if [ ! -f "$dash_node/node_modules/puppeteer-core/package.json" ] || [ ! -f "$dash_node/node_modules/pg/package.json" ]; then
  # puppeteer-core never downloads a browser; it drives /usr/bin/chromium
  (cd "$dash_node" && npm ci --no-fund --no-audit --loglevel=error >/dev/null 2>&1)
fi
if [ -f "$dash_node/node_modules/puppeteer-core/package.json" ]; then pass "puppeteer-core is installed (clients/node dev dependency)"
else fail "puppeteer-core is installed (npm ci in clients/node failed)"; fi

# ---- a database with real data ----
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ff_dash WITH (FORCE)" -c "CREATE DATABASE ff_dash" >/dev/null
psql -X -q -c "DROP ROLE IF EXISTS dash_viewer" >/dev/null 2>&1
if psql -X -q -d ff_dash -v ON_ERROR_STOP=1 >"$dash_log" 2>&1 <<'SQL'
CREATE EXTENSION ff_engine;
CREATE ROLE dash_viewer LOGIN IN ROLE ff_reader;
CREATE FUNCTION dash_claim(lane text, n integer DEFAULT 1, ttl bigint DEFAULT 30000) RETURNS SETOF jsonb LANGUAGE sql AS $$
    SELECT c.claim FROM ff.claim_next(lane, 'dash-worker', 'dash-worker-1', lease_ttl_ms => ttl, max_count => n) c $$;
CREATE FUNCTION dash_complete(lane text, n integer) RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::integer FROM dash_claim(lane, n) c,
        ff.complete_execution(c ->> 'execution_id', (c ->> 'lease_id')::uuid, (c ->> 'lease_epoch')::bigint,
                              (c ->> 'attempt_id')::uuid, convert_to('done', 'UTF8')) r WHERE (r ->> 'ok')::boolean $$;
-- lane dash_main: 2 completed, 1 failed, 1 active (frames in its stream), 1 delayed, 3 waiting
SELECT ff.create_execution(ff.execution_id('dash_main'), lane_id => 'dash_main', input_payload => convert_to('{"n": ' || g || '}', 'UTF8'),
                           tags => jsonb_build_object('app.n', g::text)) FROM generate_series(1, 3) g;
SELECT dash_complete('dash_main', 2);
SELECT ff.fail_execution(c ->> 'execution_id', (c ->> 'lease_id')::uuid, (c ->> 'lease_epoch')::bigint, (c ->> 'attempt_id')::uuid,
                         'ordinary failure', 'permanent') FROM dash_claim('dash_main') c;
SELECT ff.create_execution(ff.execution_id('dash_main'), lane_id => 'dash_main', execution_kind => 'summarise');
SELECT ff.append_frame(c ->> 'execution_id', 0, (c ->> 'lease_id')::uuid, (c ->> 'lease_epoch')::bigint, 'stdout',
                       convert_to(f, 'UTF8'))
FROM dash_claim('dash_main', 1, 3600000) c,
     unnest(ARRAY['starting', 'step 1 of 3', '<script>alert("frame")</script>', 'step 2 of 3']) f;
SELECT ff.create_execution(ff.execution_id('dash_main'), lane_id => 'dash_main', delay_until => ff.now_ms() + 3600000);
SELECT ff.create_execution(ff.execution_id('dash_main'), lane_id => 'dash_main') FROM generate_series(1, 3);
-- a hostile execution: payload, tags and failure reason hold markup and script
CREATE TABLE dash_ids (name text PRIMARY KEY, id text);
INSERT INTO dash_ids VALUES ('evil', ff.execution_id('dash_evil'));
SELECT ff.create_execution(id, lane_id => 'dash_evil', execution_kind => '<i>kind</i>',
    input_payload => convert_to('<script>alert(1)</script>"><img src=x onerror=alert(2)>', 'UTF8'),
    tags => '{"app.note": "<script>alert(3)</script>", "app.q": "\"><img src=x onerror=alert(4)>"}') FROM dash_ids WHERE name = 'evil';
SELECT ff.fail_execution(c ->> 'execution_id', (c ->> 'lease_id')::uuid, (c ->> 'lease_epoch')::bigint, (c ->> 'attempt_id')::uuid,
                         '"><img src=x onerror=alert(5)><script>alert(6)</script>', 'permanent') FROM dash_claim('dash_evil') c;
-- a lane whose name is markup
SELECT ff.create_execution(ff.execution_id('<b>lane</b>'), lane_id => '<b>lane</b>');
-- a flow: up -> left, up -> right (satisfied once up completes), left -> last (unsatisfied)
SELECT ff.create_flow('f0000000-0000-4000-8000-00000000da51', 'dag');
INSERT INTO dash_ids SELECT x, ff.flow_member_execution_id('f0000000-0000-4000-8000-00000000da51') FROM unnest(ARRAY['up', 'left', 'right', 'last']) x;
SELECT ff.create_execution(id, lane_id => 'dash_flow'), ff.add_execution_to_flow('f0000000-0000-4000-8000-00000000da51', id)
FROM dash_ids WHERE name IN ('up', 'left', 'right', 'last') ORDER BY name = 'up' DESC, name;
SELECT ff.add_dependency('f0000000-0000-4000-8000-00000000da51', (SELECT id FROM dash_ids WHERE name = u), (SELECT id FROM dash_ids WHERE name = d))
FROM (VALUES ('up', 'left'), ('up', 'right'), ('left', 'last')) e(u, d);
SELECT dash_complete('dash_flow', 1);
SELECT ff.dispatch_completions(100);
-- a budget that has spent some, a quota policy, a registered worker
SELECT ff.create_budget('00000000-0000-4000-b000-00000000da5b', '{tokens,requests}', '{1000,0}', '{800,0}');
SELECT ff.report_usage_and_check('00000000-0000-4000-b000-00000000da5b', '{tokens,requests}', '{850,3}');
SELECT ff.create_quota_policy('00000000-0000-4000-c000-00000000da5c', 60, 100, 10);
SELECT ff.register_worker('dash-worker-1', 'dash-worker', ARRAY['dash_main'], ttl_ms => 3600000);
SELECT ff.run_scanners();
-- a scanner whose last batch failed in the engine worker (what the worker records)
UPDATE ff.scanner_state SET last_error_sqlstate = '42883', last_error = 'function ff.scan_delayed(integer) does not exist',
    last_error_at = ff.now_ms() WHERE scanner = 'delayed';
SQL
then pass "a database with work in several states, a flow, a budget and a read-only role"
else fail "a database with work in several states, a flow, a budget and a read-only role: $(tail -5 "$dash_log" | tr '\n' ' ')"; fi

# ---- the dashboard, as the read-only role, on a free port ----
dash_url="postgres://dash_viewer@/ff_dash?host=$(printf %s "$PGHOST" | sed 's|/|%2F|g')&port=$PGPORT"
node "$dash_node/bin/ff-dashboard.js" --database-url "$dash_url" --port 0 >"$dash_log" 2>&1 &
dash_pid=$!
dash_base=""
for i in $(seq 1 100); do
  dash_base=$(sed -n 's|^ff-dashboard listening on \(http://[^ ]*\)/$|\1|p' "$dash_log")
  [ -n "$dash_base" ] && break
  kill -0 "$dash_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$dash_base" ]; then pass "ff-dashboard starts and listens ($dash_base)"
else fail "ff-dashboard starts and listens: $(head -c 400 "$dash_log" | tr '\n' ' ')"; fi

# ---- the browser checks (their own TAP lines, renumbered here) ----
rm -rf "$dash_shots"; mkdir -p "$dash_shots"
if [ -n "$dash_base" ]; then
  while IFS= read -r line; do
    case "$line" in
      "ok - "*) pass "${line#ok - }" ;;
      "not ok - "*) fail "${line#not ok - }" ;;
      "# "*) echo "$line" ;;
      *) [ -n "$line" ] && echo "#   $line" ;;
    esac
  done < <(cd "$dash_node" && DASH_BASE="$dash_base" DASH_SHOTS="$dash_shots" PGDATABASE=ff_dash \
           timeout 300 node test/dashboard_browser.mjs 2>&1; echo "exit $?" | grep -v '^exit 0$' | sed 's/^/not ok - the browser driver ended: /')
fi
if [ -n "$dash_pid" ] && kill -0 "$dash_pid" 2>/dev/null; then pass "ff-dashboard is still running after every page"
else fail "ff-dashboard is still running after every page: $(tail -c 400 "$dash_log" | tr '\n' ' ')"; fi
if grep -q 'ff-dashboard: ' "$dash_log"; then echo "# server log: $(grep 'ff-dashboard: ' "$dash_log" | head -3 | tr '\n' ' ')"; fi
shots=$(ls "$dash_shots"/*.png 2>/dev/null | wc -l)
if [ "$shots" -ge 7 ]; then pass "screenshots saved ($shots in test/live/screenshots/)"; else fail "screenshots saved (got $shots)"; fi

dash_cleanup
echo "1..$n"
