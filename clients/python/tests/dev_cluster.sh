#!/usr/bin/env bash
# For development only: build and install ff_engine, start a throwaway
# cluster (holding the machine's install lock), run the Python suite
# (tests/run.sh) with pytest arguments from PYTEST_ARGS, stop the cluster.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
exec 9>/tmp/ff_engine_install.lock
flock 9
export FF_PGPORT=$((55000 + RANDOM % 900))
source "$root/test/lib.sh"
set +e
build_install || exit 1
start_cluster || exit 1
source "$root/clients/python/tests/run.sh"
stop_cluster
