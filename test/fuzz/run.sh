#!/usr/bin/env bash
# Hostile input (issue 10): the fuzz driver (fuzz.sql) calls ff.* functions
# with random and adversarial arguments — NULLs anywhere, wrong ids and
# partitions, huge strings and payloads, deep JSON, invalid UTF-8, SQL
# metacharacters, extreme numbers — each call in its own subtransaction.
# Findings: an internal error, a jsonb result that is not an envelope, a
# crashed backend, a row left inconsistent.  Then the same driver runs
# against a second cluster under valgrind, and any memory error whose stack
# passes through ff_engine.so is a finding.  Prints TAP lines.
#   FUZZ_CALLS=3000 (per run, 3 runs) FUZZ_VALGRIND_CALLS=300; FUZZ_LONG=1 for
#   a long manual run (30 000 calls, 3 000 under valgrind).
set -u
n=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; }
if [ "${FUZZ_LONG:-0}" = 1 ]; then CALLS=${FUZZ_CALLS:-10000}; VG_CALLS=${FUZZ_VALGRIND_CALLS:-3000}
else CALLS=${FUZZ_CALLS:-3000}; VG_CALLS=${FUZZ_VALGRIND_CALLS:-300}; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fuzz_db() {  # fuzz_db <port> <calls> <runs>: runs the driver, prints a summary row
  local port=$1 calls=$2 runs=$3 i
  PGPORT=$port psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ff_fuzz" -c "CREATE DATABASE ff_fuzz" >/dev/null 2>&1
  PGPORT=$port psql -X -q -d ff_fuzz -c "CREATE EXTENSION ff_engine" -f "$here/fuzz.sql" >/dev/null 2>&1 || return 1
  for i in $(seq 1 "$runs"); do
    PGPORT=$port psql -X -q -At -d ff_fuzz -c "SET client_min_messages = error" -c "SELECT fuzz.run($calls)" >/dev/null 2>&1 || return 1
  done
}

# 1. on the test cluster
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" status >/dev/null 2>&1 \
  || as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null 2>&1
log_from=$(($(wc -l < "$FF_PGDATA/server.log") + 1))
if fuzz_db "$PGPORT" "$CALLS" 3; then
  pass "$((CALLS * 3)) random calls ran to the end (no backend died)"
else
  fail "$((CALLS * 3)) random calls ran to the end (no backend died)"
fi
qf() { psql -X -q -At -d ff_fuzz -c "$1" 2>&1; }
echo "# outcomes: $(qf "SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC) FROM fuzz.tally")"
echo "# functions called: $(qf "SELECT count(*) FROM fuzz.called") of $(qf "SELECT count(DISTINCT proname) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = 'ff'") in the schema"
[ "$(qf "SELECT count(*) FROM fuzz.finding")" = 0 ] && pass "every call returned an envelope or raised a clean error" \
  || { fail "every call returned an envelope or raised a clean error"; qf "SELECT fn, problem FROM fuzz.finding LIMIT 20"; }
[ "$(qf "SELECT count(*) FROM ff.consistency_violations")" = 0 ] && pass "no execution left inconsistent" \
  || { fail "no execution left inconsistent"; qf "SELECT * FROM ff.consistency_violations LIMIT 10"; }
[ "$(qf "SELECT count(*) FROM ff.execution e WHERE NOT EXISTS (SELECT 1 FROM ff.execution_data d WHERE d.partition = e.partition AND d.execution_id = e.execution_id)")" = 0 ] \
  && pass "no execution half-written (every core row has its data row)" || fail "no execution half-written (every core row has its data row)"
if [ "$(tail -n +"$log_from" "$FF_PGDATA/server.log" | grep -cE "terminated by signal|PANIC" || true)" != 0 ]; then
  fail "no backend crashed"
else
  pass "no backend crashed"
fi

# 2. under valgrind, on a cluster of its own
vg_port=$((PGPORT + 2))
vg_data=$(mktemp -d /tmp/ff_valgrind.XXXXXX)
chown postgres "$vg_data" 2>/dev/null
as_postgres $PGBIN/initdb -D "$vg_data/data" -U postgres -A trust --no-sync >/dev/null
cat >> "$vg_data/data/postgresql.conf" <<CONF
port = $vg_port
unix_socket_directories = '$PGHOST'
listen_addresses = ''
fsync = off
max_connections = 10
shared_buffers = 32MB
ff_engine.enabled = off
CONF
as_postgres sh -c "cd '$vg_data' && valgrind --quiet --trace-children=yes --error-limit=no --num-callers=30 \
  --log-file='$vg_data/valgrind.%p.log' $PGBIN/postgres -D '$vg_data/data' >'$vg_data/server.log' 2>&1 &"
up=0
for _ in $(seq 1 600); do PGPORT=$vg_port psql -X -q -At -d postgres -c "SELECT 1" >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
if [ "$up" = 1 ] && fuzz_db "$vg_port" "$VG_CALLS" 1; then
  pass "$VG_CALLS random calls under valgrind ran to the end"
else
  fail "$VG_CALLS random calls under valgrind ran to the end"
fi
echo "# valgrind outcomes: $(PGPORT=$vg_port psql -X -q -At -d ff_fuzz -c "SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY n DESC) FROM fuzz.tally" 2>&1)"
PGPORT=$vg_port psql -X -q -d postgres -c "SELECT 1" >/dev/null 2>&1 && as_postgres $PGBIN/pg_ctl -D "$vg_data/data" -m fast -w -t 120 stop >/dev/null 2>&1
# a memory error report whose stack passes through the extension
ours=$(cat "$vg_data"/valgrind.*.log 2>/dev/null | awk '/^==[0-9]+== [A-Z]/ {blk=$0; next} /^==[0-9]+== *$/ {if (blk ~ /ff_engine/) print "x"; blk=""; next} {blk = blk "\n" $0}' | wc -l)
echo "# valgrind: $(ls "$vg_data"/valgrind.*.log 2>/dev/null | wc -l) process logs, $(cat "$vg_data"/valgrind.*.log 2>/dev/null | grep -cE '^==[0-9]+== [A-Z]') reports in all (the server's own included), $ours through ff_engine.so"
if [ "$ours" = 0 ]; then
  pass "valgrind reports no memory error in ff_engine.so"
else
  fail "valgrind reports no memory error in ff_engine.so ($ours)"
  cat "$vg_data"/valgrind.*.log | grep -B5 -A25 ff_engine | head -80
fi
rm -rf "$vg_data"
echo "1..$n"
