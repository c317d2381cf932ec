#!/usr/bin/env bash
# The reference is complete (issue 22): every function and view of the
# installed ff schema (internal ones, named _*, aside) has a COMMENT and is
# named in the reference (doc/reference.md, doc/operations.md), every setting the library defines is in the
# README's Settings table, and every behaviour citation resolves in doc/behaviour/.  Sourced by test/run.sh (run_live) against its
# cluster; prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
docq() { psql -X -q -At -v ON_ERROR_STOP=1 -d ff_docs -c "$1" 2>&1; }
psql -X -q -c "DROP DATABASE IF EXISTS ff_docs" -c "CREATE DATABASE ff_docs" >/dev/null
docq "CREATE EXTENSION ff_engine" >/dev/null
ref="$FF_ROOT/doc/reference.md $FF_ROOT/doc/operations.md"

# functions (by name: overloads share their entry) and views
missing_comment=$(docq "SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
                        WHERE p.pronamespace = 'ff'::regnamespace AND p.proname !~ '^_'
                          AND obj_description(p.oid, 'pg_proc') IS NULL")
[ -z "$missing_comment" ] && pass "every ff function has a COMMENT" || fail "ff functions without a COMMENT: $missing_comment"
missing_view_comment=$(docq "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
                             WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL")
[ -z "$missing_view_comment" ] && pass "every ff view has a COMMENT" || fail "ff views without a COMMENT: $missing_view_comment"

undocumented=""
for f in $(docq "SELECT DISTINCT p.proname FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace AND p.proname !~ '^_' ORDER BY 1"); do
  grep -q "ff\.$f\b" $ref || undocumented="$undocumented $f"
done
[ -z "$undocumented" ] && pass "every ff function is named in doc/reference.md or doc/operations.md" || fail "functions missing from doc/reference.md and doc/operations.md:$undocumented"
undocumented=""
for v in $(docq "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'v' ORDER BY 1"); do
  grep -q "ff\.$v\b" $ref || undocumented="$undocumented $v"
done
[ -z "$undocumented" ] && pass "every ff view is named in doc/reference.md or doc/operations.md" || fail "views missing from doc/reference.md and doc/operations.md:$undocumented"

# settings: every ff_engine.* the library defines (it is preloaded here) is in the README
unlisted=""
for s in $(docq "SELECT name FROM pg_settings WHERE name LIKE 'ff\_engine.%' ORDER BY 1"); do
  # a row may name several settings: the first in full, the others as .suffix
  grep -qE "\`($s|\.${s#ff_engine.})\`" "$FF_ROOT/README.md" || unlisted="$unlisted $s"
done
[ -n "$(docq "SELECT 1 FROM pg_settings WHERE name = 'ff_engine.enabled'")" ] \
  && pass "the library's settings are visible (it is loaded)" || fail "the library's settings are not visible"
[ -z "$unlisted" ] && pass "every ff_engine setting is in the README's Settings table" || fail "settings missing from the README:$unlisted"

# the job registry (src/bgw_jobs.c): every job's setting is in the README,
# and every job's SQL function exists
unlisted=""
for s in $(docq "SELECT setting FROM ff._jobs() WHERE setting IS NOT NULL ORDER BY 1"); do
  grep -qE "\`($s|\.${s#ff_engine.})\`" "$FF_ROOT/README.md" || unlisted="$unlisted $s"
done
[ -n "$(docq "SELECT 1 FROM ff._jobs() WHERE setting IS NOT NULL LIMIT 1")" ] && [ -z "$unlisted" ] \
  && pass "every job's setting (ff._jobs()) is in the README's Settings table" || fail "job settings missing from the README:$unlisted"
nofn=$(docq "SELECT string_agg(j.name, ' ') FROM ff._jobs() j WHERE NOT EXISTS (SELECT 1 FROM pg_proc p
               WHERE p.pronamespace = 'ff'::regnamespace AND 'ff.' || p.proname = j.sql_function)")
[ -z "$nofn" ] && pass "every job's SQL function exists" || fail "jobs without their SQL function: $nofn"

# behaviour citations (issue 22): every citation in src/, sql/install/ and
# the pgTAP and isolation suites names a section heading of doc/behaviour/,
# and README.md, src/README.md and doc/ cite no section it lacks
# (test/live/doc_citations.py; 4 lines)
cites=$(python3 "$FF_ROOT/test/live/doc_citations.py" "$FF_ROOT" 2>&1)
[ "$(printf '%s\n' "$cites" | grep -cE $'^(ok|not ok)\t')" = 4 ] \
  && pass "doc_citations.py ran its four checks" || fail "doc_citations.py failed: $(printf '%s' "$cites" | tail -3)"
while IFS=$'\t' read -r status desc; do
  case "$status" in ok) pass "$desc" ;; "not ok") fail "$desc" ;; esac
done <<< "$cites"

psql -X -q -c "DROP DATABASE ff_docs" >/dev/null
echo "1..$n"
