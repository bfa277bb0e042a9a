#!/usr/bin/env bash
# A confirmed reset end to end in a real town (the demo config), as ada's home grows:
#   bash tests/town/bench-reset.sh [FILES] [RUNS]    (as root; prints figures, asserts nothing)
# FILES is a comma list (default 1000,200000); set PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-1000,200000} RUNS=${2:-3}
source tests/town/bench-demo.sh
echo "== townhall reset --yes, ada's home at $FILES files, $RUNS runs each ($PROFILE build, $(nproc) CPUs)"
bash "$town" exec townhall bench reset-town --resident ada --files "$FILES" --runs "$RUNS"
