#!/usr/bin/env bash
# pg_cancel_backend stops a long call of the extension (issue 20): each
# probe starts a long-running ff call in a background psql, cancels it from
# another session once it is well under way, and expects the call to end
# with 57014 within 1.5 s and to leave nothing written.  Sourced by
# test/run.sh (run_live) against its running cluster; prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
qc() { psql -X -q -At -d ff_cancel -c "$1" 2>&1; }

# the script before this one may have stopped the cluster
as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" status >/dev/null 2>&1 \
  || as_postgres $PGBIN/pg_ctl -D "$FF_PGDATA" -l "$FF_PGDATA/server.log" -w start >/dev/null 2>&1

psql -X -q -c "DROP DATABASE IF EXISTS ff_cancel" -c "CREATE DATABASE ff_cancel" >/dev/null 2>&1
qc "CREATE EXTENSION ff_engine" >/dev/null

# cancel_probe <what> <warm seconds> <setup sql> <sql>: runs setup then sql
# in one background session, cancels sql <warm> s after it became active,
# checks how it ended
cancel_probe() {
  local what=$1 warm=$2 setup=$3 sql=$4 out bg i t0 ms
  out=$(mktemp)
  PGAPPNAME=ff_cancel_probe psql -X -q -At -d ff_cancel -c '\set VERBOSITY verbose' -c "$setup" -c "$sql" >"$out" 2>&1 &
  bg=$!
  for ((i = 0; i < 400; i++)); do
    [ "$(qc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ff_cancel_probe' AND state = 'active'
                AND left(query, 100) = left(\$q\$$sql\$q\$, 100)")" = 1 ] && break
    sleep 0.05
  done
  [ "$i" -lt 400 ] || echo "# $what: the call was not seen running"
  sleep "$warm"
  if ! kill -0 "$bg" 2>/dev/null; then
    fail "$what: still running after ${warm} s, when it is cancelled (it ended first: $(head -c 200 "$out"))"
    rm -f "$out"
    return
  fi
  t0=$(date +%s%N)
  qc "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ff_cancel_probe'" >/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
  done
  ms=$((($(date +%s%N) - t0) / 1000000))
  if kill -0 "$bg" 2>/dev/null; then
    fail "$what: still running 5 s after pg_cancel_backend"
    qc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ff_cancel_probe'" >/dev/null
  elif ! grep -q 'ERROR:  57014' "$out"; then
    fail "$what: ended with 57014 after the cancel (got: $(head -c 200 "$out"))"
  elif [ "$ms" -gt 1500 ]; then
    fail "$what: ended within 1.5 s of pg_cancel_backend (took ${ms} ms)"
  else
    pass "$what: pg_cancel_backend ended it with 57014 within 1.5 s"
    echo "# $what: ended ${ms} ms after the cancel"
  fi
  wait "$bg" 2>/dev/null
  rm -f "$out"
}

# A single call spending seconds in one C loop: ff.crc16 over 400 MB (built
# beforehand; lz4 unpacks it in a fraction of a second, so the call is
# mostly the crc loop, ~3 s).  The loop checks for interrupts; before, a
# cancel waited for its end (~2 s more).
cancel_probe "ff.crc16 over 400 MB" 1.2 \
  "CREATE TEMP TABLE big (b bytea COMPRESSION lz4);
   INSERT INTO big SELECT convert_to(repeat('x', 400000000), 'UTF8')" \
  "SELECT ff.crc16(b) FROM big"

# Big batches: create_executions of 10 000 executions (a capability
# policy each), 30 in one statement; cancelled inside one of them.
policy="{\"routing_requirements\": {\"required_capabilities\": [$(seq -s, -f '"c%g"' 1 200)]}}"
cancel_probe "create_executions, 30 batches of 10 000" 2 "SELECT 1" \
  "SELECT count(*) FROM generate_series(1, 30) g, LATERAL (SELECT ff.create_executions(
     (SELECT array_agg(ff.execution_id('cancel')) FROM generate_series(1, 10000) WHERE g > 0), 'cancel',
     policy_json => '$policy')) c"
[ "$(qc "SELECT count(*) FROM ff.execution WHERE lane_id = 'cancel'")" = 0 ] \
  && pass "the cancelled batches wrote nothing" || fail "the cancelled batches wrote nothing"

psql -X -q -c "DROP DATABASE IF EXISTS ff_cancel" >/dev/null 2>&1
echo "1..$n"
