#!/usr/bin/env bash
# The Node client's suite (node --test) against test/run.sh's running
# cluster, printed as TAP for run_live: installs pg into clients/node from
# its lock file when missing, makes the test database (engine worker on),
# and runs test/*.test.js.  Sourced by test/run.sh; runs in a subshell.
(
  cd "$FF_ROOT/clients/node" || exit 1
  if [ ! -f node_modules/pg/package.json ]; then
    npm ci --no-fund --no-audit --loglevel=error >/dev/null 2>&1 || { echo "not ok 1 - npm ci in clients/node failed"; echo "1..1"; exit 0; }
  fi
  psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ff_node WITH (FORCE)" >/dev/null
  FF_NODE_DB=ff_node timeout 180 node --test --test-reporter=tap test/*.test.js 2>&1 |
    grep -vE '^# (Subtest|tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)'
)
