#!/usr/bin/env bash
# Shared by the two README commands (test/run.sh, demo/run.sh): install what
# is missing, build and install the extension, start and stop a throwaway
# PostgreSQL 15 cluster with ff_engine preloaded.
set -euo pipefail

FF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${FF_PGBIN:-/usr/lib/postgresql/15/bin}
export PGPORT=${FF_PGPORT:-54329}
export PGHOST=${FF_PGHOST:-/tmp}
export PGUSER=postgres
export PGDATABASE=${PGDATABASE:-postgres}
FF_PGDATA=""

say() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the postgres OS user (initdb and the server refuse root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"; fi
}

ensure_deps() {
  local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron postgresql-15-plproxy libpq-dev libtap-parser-sourcehandler-pgtap-perl make gcc valgrind python3-psycopg python3-pytest"
  local missing=""
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  # the Node client's tests (clients/node) need node and npm: Debian's packages when absent
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
  # the dashboard's browser test (test/live/dashboard.sh) drives Debian's Chromium
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  if [ -n "$missing" ]; then
    say "installing:$missing"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $missing >/dev/null
  fi
  # The Debian package may start a default cluster; ours is separate.
}

build_install() {
  # FF_ASSERTS=1: the extension's Assert()s compiled in (Makefile); a failed
  # one aborts the backend (TRAP: in the server log)
  # (exported: later make calls of the run keep the same objects)
  export FF_ASSERTS=${FF_ASSERTS:-0}
  local asserts=$FF_ASSERTS
  say "building ff_engine$([ "$asserts" = 1 ] && echo ' with its assertions')"
  # with_llvm=no: no JIT bitcode, so clang is not needed
  make -C "$FF_ROOT" -s with_llvm=no FF_ASSERTS=$asserts PG_CONFIG=$PGBIN/pg_config >/dev/null
  as_root make -C "$FF_ROOT" -s with_llvm=no FF_ASSERTS=$asserts install PG_CONFIG=$PGBIN/pg_config >/dev/null
}

start_cluster() {
  FF_PGDATA=$(mktemp -d /tmp/ff_engine_cluster.XXXXXX)
  chown postgres:postgres "$FF_PGDATA" 2>/dev/null || true
  chmod 700 "$FF_PGDATA"
  say "starting a throwaway cluster in $FF_PGDATA on port $PGPORT"
  as_postgres $PGBIN/initdb -D "$FF_PGDATA" -U postgres -A trust --no-sync >/dev/null
  cat >> "$FF_PGDATA/postgresql.conf" <<CONF
port = $PGPORT
unix_socket_directories = '/tmp'
listen_addresses = '${FF_LISTEN:-}'
shared_preload_libraries = 'ff_engine,pg_cron'
cron.database_name = 'postgres'
max_worker_processes = 32
max_connections = 200
log_min_messages = warning
# The engine worker stays off except where a test database turns it on
# (ALTER DATABASE ... SET ff_engine.enabled = on): suites that pin the test
# clock must not race a worker running on the wall clock.
ff_engine.enabled = off
ff_engine.launcher_naptime = 1000
cron.use_background_workers = on
CONF
  if [ "${FF_DURABLE:-0}" = 1 ]; then
    # benchmarks: durable commits, as in production
    cat >> "$FF_PGDATA/postgresql.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 512MB
max_wal_size = 4GB
min_wal_size = 1GB
CONF
  else
    # tests: durability is not what they measure
    cat >> "$FF_PGDATA/postgresql.conf" <<CONF
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  # settings one benchmark needs (e.g. track_commit_timestamp), one per line
  if [ -n "${FF_EXTRA_CONF:-}" ]; then printf '%s\n' "$FF_EXTRA_CONF" >> "$FF_PGDATA/postgresql.conf"; fi
  as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null
  trap stop_cluster EXIT
  if [ "${FF_DURABLE:-0}" = 1 ]; then
    # A server that has been running reuses its WAL segments (renamed at
    # checkpoints); a fresh cluster zero-fills and fsyncs each new 16 MB
    # segment while every commit waits (~50 ms here).  Write ~250 MB of WAL
    # and checkpoint, so that the benchmarks run on recycled segments.
    psql -X -q -d postgres -c "CREATE TABLE ff_wal_warmup AS SELECT repeat('x', 1000) AS x FROM generate_series(1, 250000)" \
         -c "DROP TABLE ff_wal_warmup" -c "CHECKPOINT" >/dev/null
  fi
}

stop_cluster() {
  if [ -n "$FF_PGDATA" ] && [ -d "$FF_PGDATA" ]; then
    as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$FF_PGDATA"
    FF_PGDATA=""
  fi
}
