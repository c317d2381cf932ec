#!/usr/bin/env bash
# Every symbol the installed library needs is defined by the server or the
# libraries it loads: a function declared in a header but defined nowhere
# (a definition lost in an edit) links and installs cleanly, and fails only
# when the server loads the library (at start, as it is preloaded).
# (nm and ldd come with the compiler that built it.)  Sourced by test/run.sh
# (run_live); prints TAP lines.
set -u
source "$FF_ROOT/test/live/tap.sh"
lib=$("$PGBIN/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)/ff_engine.so
server=$PGBIN/postgres
# unresolved <library> [extra needed names]: the library's strong undefined,
# unversioned symbols (versioned ones name their own library) that neither
# the server nor a library it links defines, one per line
unresolved() {
  local defined
  defined=$({ nm -D --defined-only "$server"
              for l in $(ldd "$server" | awk '/=> \// {print $3}'); do nm -D --defined-only "$l"; done
            } | awk '{print $3}' | sed 's/@.*//' | sort -u)
  { nm -D --undefined-only "$1" | awk '$1 == "U" && $2 !~ /@/ {print $2}'; shift; printf '%s\n' "$@"; } |
    sed '/^$/d' | sort -u | comm -23 - <(echo "$defined")
}
echo "1..2"
missing=$(unresolved "$lib" | tr '\n' ' ')
check "every symbol ff_engine.so needs is defined by the server or its libraries" "$missing" ""
# the check itself finds a name defined nowhere
check "a name defined nowhere is reported" "$(unresolved "$lib" ff_no_such_symbol | tr '\n' ' ')" "ff_no_such_symbol "
