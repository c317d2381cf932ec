#!/usr/bin/env bash
# ff_engine.keep_freed_memory (src/core_memory.c): a backend that ran the
# engine's batch calls keeps the memory they freed, so the next batch takes
# few new pages from the kernel.  Measured by the backend's own minor page
# faults (/proc/self/stat, read by the backend) over a second round of
# claim 500 + complete 500: malloc left as it is (0) against kept (the
# default).  glibc on Linux only (elsewhere the setting does nothing: the
# rounds are skipped).  Sourced by test/run.sh: no exit.
# Prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
echo "1..5"
psql -X -q -c "DROP DATABASE IF EXISTS ff_memory" -c "CREATE DATABASE ff_memory" >/dev/null
psql -X -q -d ff_memory -c "CREATE EXTENSION ff_engine" >/dev/null

# mem_faults <setting or DEFAULT>: minor faults of the second of two rounds, one session
mem_faults() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d ff_memory 2>&1 <<SQL
SET ff_engine.keep_freed_memory = $1;
SELECT count(ff.create_execution(ff.execution_id('mem'), lane_id => 'mem')) FROM generate_series(1, 1000) \\g /dev/null
CREATE TEMP TABLE f (at bigint);
CREATE FUNCTION pg_temp.round() RETURNS void LANGUAGE sql AS \$\$
  SELECT ff.complete_executions(array_agg(claim->>'execution_id'), array_agg((claim->>'lease_id')::uuid),
                                array_agg((claim->>'lease_epoch')::bigint), array_agg((claim->>'attempt_id')::uuid))
  FROM ff.claim_next('mem', 'w', 'w-1', max_count => 500) \$\$;
SELECT pg_temp.round() \\g /dev/null
INSERT INTO f SELECT split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 8)::bigint;
SELECT pg_temp.round() \\g /dev/null
SELECT split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 8)::bigint - at FROM f;
SQL
}
if [ "$(uname -s)" != Linux ] || ! getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
  for t in "the rounds ran" "malloc as it is" "kept"; do pass "$t # SKIP not glibc on Linux"; done
else
  plain=$(mem_faults 0)
  kept=$(mem_faults DEFAULT)
  echo "# minor page faults of a second claim 500 + complete 500: malloc as it is $plain, kept $kept"
  case "$plain$kept" in
    *[!0-9]*|'') fail "the rounds ran ($plain / $kept)"; fail "malloc as it is (not run)"; fail "kept (not run)" ;;
    *)
      pass "the rounds ran in one backend each"
      [ "$plain" -gt 200 ] && pass "malloc as it is (0): the second round takes pages again ($plain faults)" \
        || fail "malloc as it is (0): the second round takes pages again ($plain faults)"
      # what is left, about a quarter: shared buffers and WAL pages this backend touches first
      [ $((kept * 2)) -lt "$plain" ] && pass "kept (the default): under half as many ($kept)" \
        || fail "kept (the default): under half as many ($kept against $plain)" ;;
  esac
fi
check "the default is 8 MB" "$(psql -X -q -At -d ff_memory -c "SHOW ff_engine.keep_freed_memory")" "8MB"
psql -X -q -c "DROP ROLE IF EXISTS live_mem" -c "CREATE ROLE live_mem LOGIN" >/dev/null 2>&1
out=$(psql -X -q -At -U live_mem -d ff_memory -c "SET ff_engine.keep_freed_memory = 0" 2>&1)
case "$out" in *"permission denied to set parameter"*) pass "a role without superuser cannot change it" ;;
  *) fail "a role without superuser cannot change it ($out)" ;; esac
psql -X -q -c "DROP DATABASE ff_memory" -c "DROP ROLE live_mem" >/dev/null
