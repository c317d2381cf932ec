#!/usr/bin/env bash
# The README's demo command:  bash demo/run.sh
# Installs what is missing, builds ff_engine, starts a throwaway cluster and
# runs a real workflow: submit executions, claim them as a worker, complete
# one, fail one into a retry, cancel one, and print what happened.
source "$(dirname "${BASH_SOURCE[0]}")/../test/lib.sh"
ensure_deps
build_install
start_cluster
psql -X -q -v ON_ERROR_STOP=1 -f "$FF_ROOT/demo/demo.sql"
stop_cluster
