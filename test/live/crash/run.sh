#!/usr/bin/env bash
# Crash under load, Jepsen style (issues 10, 23).  A cluster of its own with
# durable settings (fsync, full_page_writes, synchronous_commit on) and the
# engine worker on; test/live/crash/harness.py runs a mixed load from several
# psycopg connections, records a client-side history of every call (invoke,
# then ok / fail / unknown), kills the postmaster (immediate stop, SIGKILL),
# a client backend or the engine worker CYCLES times and restarts it; then
# the engine worker — not the test — dispatches what the crashes left, and
# test/live/crash/checker.py checks the history against the database (what it
# checks: the checker's opening comment).  Prints TAP lines.
#   CYCLES=20 (CI, about a minute and a half); CYCLES=200 for a nightly run.
#   CRASH_LOAD_MIN / CRASH_LOAD_MAX: seconds of load between kills (1 / 2.5);
#   CRASH_WORKERS: client threads (6); CRASH_SEED: replay a run's choices.
# Sourced by test/run.sh (run_live) or /work/tools/live.sh; leaves the test
# cluster as it found it.
set -u
crash_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
crash_port=$((PGPORT + 3))
crash_dir=$(mktemp -d /tmp/ff_crash.XXXXXX)
chown postgres:postgres "$crash_dir" 2>/dev/null
chmod 700 "$crash_dir"
crash_data=$crash_dir/data
if ! as_postgres $PGBIN/initdb -D "$crash_data" -U postgres -A trust >/dev/null 2>&1; then
  echo "not ok 1 - initdb for the crash cluster"; echo "1..1"
else
  cat >> "$crash_data/postgresql.conf" <<CONF
port = $crash_port
unix_socket_directories = '$PGHOST'
listen_addresses = ''
shared_preload_libraries = 'ff_engine'
max_connections = 40
log_min_messages = warning
# durable, as in production: what a commit promises is what is tested
fsync = on
full_page_writes = on
synchronous_commit = on
restart_after_crash = on
# the engine worker runs only in the test database (ALTER DATABASE below)
ff_engine.enabled = off
ff_engine.launcher_naptime = 500
CONF
  as_postgres $PGBIN/pg_ctl -D "$crash_data" -l "$crash_dir/server.log" -w start >/dev/null 2>&1
  PGPORT=$crash_port psql -X -q -d postgres -c "CREATE DATABASE ff_crash" \
    -c "ALTER DATABASE ff_crash SET ff_engine.enabled = on" >/dev/null
  PGPORT=$crash_port psql -X -q -d ff_crash -c "CREATE EXTENSION ff_engine" -c "SELECT ff._wake_launcher()" >/dev/null
  echo "# settings: $(PGPORT=$crash_port psql -X -q -At -d ff_crash -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name)
     FROM pg_settings WHERE name IN ('fsync', 'full_page_writes', 'synchronous_commit', 'ff_engine.enabled')")"
  CRASH_DSN="host=$PGHOST port=$crash_port user=postgres dbname=ff_crash" CRASH_PGDATA=$crash_data \
    CRASH_PGBIN=$PGBIN CRASH_LOG=$crash_dir/server.log CRASH_HISTORY=$crash_dir/history.jsonl \
    PYTHONDONTWRITEBYTECODE=1 timeout 900 /usr/bin/python3 "$crash_here/harness.py"
  crash_rc=$?
  # a harness that died prints no plan line: run_live counts that as a failure
  [ $crash_rc = 0 ] || echo "# the harness exited with $crash_rc"
  [ -n "${CRASH_KEEP:-}" ] && cp "$crash_dir/history.jsonl" "$crash_dir/server.log" "$CRASH_KEEP"/ 2>/dev/null
  as_postgres $PGBIN/pg_ctl -D "$crash_data" -m immediate -w stop >/dev/null 2>&1
fi
rm -rf "$crash_dir"
