#!/usr/bin/env bash
# A confirmed reset end to end in a real town (the demo config), as ada's home grows:
#   bash tests/town/bench-reset.sh [FILES] [RUNS]    (as root; prints figures, asserts nothing)
# FILES is a comma list (default 1000,200000); set PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-1000,200000} RUNS=${2:-3} PROFILE=${PROFILE:-debug}
town=tests/town/town.sh
export TOWN_RUN=${TOWN_RUN:-/var/tmp/townhall-bench} TOWN_MACHINE=${TOWN_MACHINE:-townhall-bench}
bash tests/town/setup.sh
if [[ $PROFILE == release ]]; then cargo build --locked --release; else cargo build --locked; fi
bin=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/townhall

bash "$town" down >/dev/null 2>&1 || true
bash "$town" up --config "$PWD" --binary "$bin" --sysusers dist/townhall.sysusers \
  --unit dist/townhall.service --unit dist/townhall-reset.service --unit dist/townhall-chat.service \
  --unit dist/townhall-git.slice --journald dist/townhall-journald.conf
trap 'bash "$town" down >/dev/null' EXIT
echo "== townhall reset --yes, ada's home at $FILES files, $RUNS runs each ($PROFILE build, $(nproc) CPUs)"
bash "$town" exec townhall bench reset-town --resident ada --files "$FILES" --runs "$RUNS"
