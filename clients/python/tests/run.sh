#!/usr/bin/env bash
# The Python client's pytest suite against the running throwaway cluster
# (test/run.sh sources this through run_live; PGHOST/PGPORT/PGUSER come from
# test/lib.sh).  Makes its own database with the engine worker on (delays,
# lease expiry and dependency dispatch are time-driven), runs pytest with
# Debian's python3 (python3-psycopg, python3-pytest) and prints one TAP line
# per test; a pytest run that fails without a failing test line (collection
# error, crash) prints a "not ok" of its own.
py_root=${FF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}/clients/python
py_db=ff_python
py_log=$(mktemp /tmp/ff_python_pytest.XXXXXX)
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $py_db WITH (FORCE)" -c "CREATE DATABASE $py_db" \
     -c "ALTER DATABASE $py_db SET ff_engine.enabled = on" >/dev/null
psql -X -q -d $py_db -c "CREATE EXTENSION ff_engine" -c "SELECT ff._wake_launcher()" >/dev/null
for _ in $(seq 1 100); do
  [ "$(psql -X -q -At -d $py_db -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ff_engine worker' AND datname = current_database()")" = 1 ] && break
  sleep 0.1
done
(cd "$py_root" && FF_PY_DB=$py_db PYTHONPATH="$py_root" PYTHONDONTWRITEBYTECODE=1 \
   timeout 300 /usr/bin/python3 -m pytest -v -p no:cacheprovider ${FF_PYTEST_ARGS:-tests}) >"$py_log" 2>&1
py_rc=$?
awk -v rc=$py_rc '
  /::[^ ]+ (PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED)/ {
    name = $1; sub(/^.*::/, "", name)
    n++
    if ($2 == "PASSED" || $2 == "XFAIL" || $2 == "SKIPPED") print "ok " n " - " name
    else { print "not ok " n " - " name " (" $2 ")"; bad++ }
  }
  END {
    if (rc != 0 && bad == 0) { n++; print "not ok " n " - pytest exited with " rc }
    print "1.." n
  }
' "$py_log"
if [ $py_rc -ne 0 ]; then sed 's/^/# /' "$py_log" | tail -150; fi
grep -E '^=+ .* in [0-9.]+s' "$py_log" | sed 's/^/# pytest: /'
rm -f "$py_log"
