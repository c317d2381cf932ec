#!/usr/bin/env bash
# The README's quick-start samples, run as written (sourced by test/run.sh's
# run_live; prints TAP). Each sample is the fenced block after a
# "<!-- sample: NAME -->" line of README.md, extracted to a file NAME and run
# against the throwaway cluster in a database "app" (the samples' own
# connection strings; host, port and user come from the harness's PG*
# variables) holding the user's "orders" table. The clients stand installed
# as `pip install ./clients/python` / `npm install ./clients/node` would
# leave them: PYTHONPATH, and node_modules links to clients/node and its pg.
(
  set +e
  tmp=$(mktemp -d /tmp/ff_readme.XXXXXX)
  n=0
  t() {   # t <description> <command...>: one TAP line; the command's output shown on failure
    local out
    n=$((n + 1))
    if out=$("${@:2}" 2>&1); then echo "ok $n - $1"; else echo "not ok $n - $1"; printf '%s\n' "$out" | tail -20 | sed 's/^/# /'; fi
  }
  awk -v dir="$tmp" '
    /^<!-- sample: [^ ]+ -->$/ { name = $3; next }
    name != "" && !inside && /^```/ { inside = 1; file = dir "/" name; printf "" > file; next }
    inside && /^```$/ { inside = 0; close(file); name = ""; next }
    inside { print >> file }
    !inside { name = "" }
  ' "$FF_ROOT/README.md"
  samples="install.sql enqueue.py enqueue.mjs worker.py worker.mjs loop.sql"
  t "the README has the samples: $samples" bash -c "for f in $samples; do [ -s '$tmp/'\$f ] || { echo \"missing \$f\"; exit 1; }; done"
  t "every python and js block of the README is a run sample" bash -c '
    blocks=$(grep -cE "^\`\`\`(python|js)$" "$1"); marked=$(grep -cE "^<!-- sample: [^ ]+\.(py|mjs) -->$" "$1")
    [ "$blocks" = "$marked" ] || { echo "$blocks python/js blocks, $marked marked as samples"; exit 1; }' _ "$FF_ROOT/README.md"

  if [ ! -f "$FF_ROOT/clients/node/node_modules/pg/package.json" ]; then
    (cd "$FF_ROOT/clients/node" && npm ci --no-fund --no-audit --loglevel=error >/dev/null 2>&1)
  fi
  mkdir -p "$tmp/node_modules"
  ln -s "$FF_ROOT/clients/node" "$tmp/node_modules/ff-engine"
  ln -s "$FF_ROOT/clients/node/node_modules/pg" "$tmp/node_modules/pg"
  export PYTHONPATH="$FF_ROOT/clients/python" PYTHONDONTWRITEBYTECODE=1
  cd "$tmp" || exit 1

  psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS app WITH (FORCE)" \
       -c "CREATE DATABASE app" -c "ALTER DATABASE app SET ff_engine.enabled = on" >/dev/null
  t "install.sql: CREATE EXTENSION" psql -X -q -v ON_ERROR_STOP=1 -d app -f install.sql
  psql -X -q -d app -c "SELECT ff._wake_launcher()" -c "CREATE TABLE orders (id bigint PRIMARY KEY, email text)" >/dev/null

  # Python: the worker runs, the enqueue commits its order and job, waits for the result
  timeout -k 5 60 /usr/bin/python3 worker.py >"$tmp/worker.py.log" 2>&1 &
  pyw=$!
  t "enqueue.py: the order and its job commit; the worker's result comes back" bash -c '
    out=$(timeout 60 /usr/bin/python3 enqueue.py) || exit 1; echo "$out"; [ "$out" = "{'"'"'sent'"'"': 42}" ]'
  kill -TERM $pyw; wait $pyw; rc=$?
  t "worker.py stops gracefully on SIGTERM (exit $rc)" test "$rc" = 0

  # Node: the same with the Node samples
  timeout -k 5 60 node worker.mjs >"$tmp/worker.mjs.log" 2>&1 &
  nw=$!
  t "enqueue.mjs: the order and its job commit; the worker's result comes back" bash -c '
    out=$(timeout 60 node enqueue.mjs) || exit 1; echo "$out"; [ "$out" = "{ sent: 43 }" ]'
  kill -TERM $nw; wait $nw; rc=$?
  t "worker.mjs stops gracefully on SIGTERM (exit $rc)" test "$rc" = 0

  t "both orders are there, each job completed once" bash -c '
    r=$(psql -X -At -d app -c "SELECT (SELECT count(*) FROM orders), count(*) FILTER (WHERE public_state = '"'"'completed'"'"'), count(*) FROM ff.executions WHERE lane_id = '"'"'emails'"'"'")
    echo "$r"; [ "$r" = "2|2|2" ]'

  # the SQL loop, with no worker running
  t "loop.sql: create, claim, renew, progress, complete under the claim as the fence" bash -c '
    psql -X -v ON_ERROR_STOP=1 -d app -f loop.sql || exit 1
    r=$(psql -X -At -d app -c "SELECT convert_from(ff.get_execution_result(id), '"'"'UTF8'"'"') FROM ff.executions WHERE lane_id = '"'"'emails'"'"' AND public_state = '"'"'completed'"'"' ORDER BY created_at DESC LIMIT 1")
    echo "$r"; [ "$r" = "{\"sent\": 44}" ]'

  [ -s "$tmp/worker.py.log" ] && grep -iE "error|traceback" "$tmp/worker.py.log" | head -5 | sed 's/^/# worker.py: /'
  cd / && rm -rf "$tmp"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS app WITH (FORCE)" >/dev/null
  echo "1..$n"
)
