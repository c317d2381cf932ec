#!/usr/bin/env bash
# The README's test command:  bash test/run.sh
# Installs what is missing, builds and installs ff_engine, starts a
# throwaway cluster, runs every suite (pg_regress, isolation, pgTAP) and
# ends with "N passed, N failed".  The cluster is stopped even on failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e
# the extension's Assert()s compiled in for every suite (Makefile,
# FF_ASSERTS); FF_ASSERTS=0 tests the release build
export FF_ASSERTS=${FF_ASSERTS:-1}
ensure_deps || exit 1
build_install || exit 1
start_cluster || exit 1

passed=0
failed=0
logdir=$(mktemp -d /tmp/ff_engine_tests.XXXXXX)

count_regress() {	# $1 = output of a pg_regress run
  local ok bad
  ok=$(grep -cE '\.\.\. ok' "$1")
  bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$1")
  passed=$((passed + ok)); failed=$((failed + bad))
  printf '    %d passed, %d failed\n' "$ok" "$bad"
}

say "pg_regress: the SQL surface"
make -C "$FF_ROOT" -s installcheck ISOLATION= PGTAP= PG_CONFIG=$PGBIN/pg_config >"$logdir/regress.log" 2>&1
count_regress "$logdir/regress.log"
[ -s "$FF_ROOT/regression.diffs" ] && cat "$FF_ROOT/regression.diffs"

say "isolation: races between sessions"
make -C "$FF_ROOT" -s installcheck REGRESS= PGTAP= PG_CONFIG=$PGBIN/pg_config >"$logdir/isolation.log" 2>&1
count_regress "$logdir/isolation.log"
[ -s "$FF_ROOT/output_iso/regression.diffs" ] && cat "$FF_ROOT/output_iso/regression.diffs"

say "pgTAP: behaviour suites"
psql -X -q -c "DROP DATABASE IF EXISTS ff_tap" -c "CREATE DATABASE ff_tap" >/dev/null
(cd "$FF_ROOT/test/tap" && pg_prove -v -d ff_tap [0-9]*.sql) >"$logdir/pgtap.log" 2>&1
ok=$(grep -cE '^ *ok [0-9]+' "$logdir/pgtap.log")
bad=$(grep -cE '^ *not ok [0-9]+' "$logdir/pgtap.log")
dubious=$(grep -cE 'Dubious|Parse errors' "$logdir/pgtap.log")
passed=$((passed + ok)); failed=$((failed + bad + dubious))
printf '    %d passed, %d failed\n' "$ok" "$((bad + dubious))"
if [ "$bad" -gt 0 ] || [ "$dubious" -gt 0 ]; then
  grep -E -B2 -A6 '^ *not ok|Dubious|ERROR' "$logdir/pgtap.log"
fi

# run_live <title> <script>: a TAP-printing script sourced against the
# cluster; its ok / not ok lines are counted, its "# " lines shown, and its
# plan line (1..N) must be there and match: a script that stopped early
# counts as one more failure
run_live() {
  local log="$logdir/$(echo "$2" | tr / _).log" ok bad plan
  say "$1"
  source "$FF_ROOT/$2" >"$log" 2>&1
  ok=$(grep -cE '^ok [0-9]+' "$log")
  bad=$(grep -cE '^not ok [0-9]+' "$log")
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$log" | tail -1)
  if [ "$plan" != "$((ok + bad))" ]; then
    echo "    the plan line says ${plan:-nothing}, $((ok + bad)) tests ran: the script stopped early"
    bad=$((bad + 1))
  fi
  passed=$((passed + ok)); failed=$((failed + bad))
  printf '    %d passed, %d failed\n' "$ok" "$bad"
  grep '^# ' "$log" | sed 's/^#/   /'
  [ "$bad" -gt 0 ] && cat "$log"
  return 0
}
run_live "the library's symbols are all defined by the server" test/live/symbols.sh
run_live "live: background workers and stream tails" test/live/worker.sh
run_live "crash under load: ${CYCLES:-20} kills and restarts" test/live/crash/run.sh
run_live "live: pg_cancel_backend stops long calls" test/live/cancel.sh
run_live "live: a backend keeps the memory its batches freed" test/live/memory.sh
run_live "live: lost leases announced on the lease channel" test/live/lease_channel.sh
run_live "live: claims and completes that write only the row take no row lock of their own" test/live/unlocked_store.sh
run_live "hostile input: the fuzz driver, then under valgrind" test/live/fuzz/run.sh
run_live "node: the client and worker runtime (clients/node, node --test)" clients/node/test/tap.sh
run_live "the reference covers every function, view and setting" test/live/docs.sh
run_live "dump and restore: every state through pg_dump / pg_restore" test/live/dump_restore.sh
# the Python client and worker runtime (pytest, one TAP line per test)
run_live "Python client and worker (pytest)" clients/python/tests/run.sh
run_live "dashboard: every page in headless Chromium, as a read-only role" test/live/dashboard.sh
run_live "README: the quick-start samples, run as written" test/live/readme_samples.sh
run_live "scale-out: a router and four shards (PL/Proxy)" test/live/scaleout.sh
run_live "schedules across crashes: no slot lost or doubled" test/live/schedule_crash.sh
# last: it installs the released 0.1.0 and restarts the cluster, then installs the current build again
run_live "upgrade 0.1.0 -> current: in-flight work and the catalogue" test/live/upgrade.sh

rm -rf "$logdir"
stop_cluster
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
