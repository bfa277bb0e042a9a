#!/usr/bin/env bash
# One resident reset alone while another's turn streams, in a real town (the demo config):
#   bash tests/town/bench-alone.sh [FILES] [RUNS]    (as root; prints figures, asserts nothing)
# ada's home holds FILES files (default 200000); vox runs the test stand-in as claude, which
# streams a line every 10 ms (`ticks fast`). Set PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-200000} RUNS=${2:-3} PROFILE=${PROFILE:-debug}
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
install -m 0755 tests/town/standin/standin "$TOWN_RUN/root/usr/local/bin/standin"
bash "$town" exec sh -c 'cd /etc/townhall/residents &&
  sed -i -e "s|^kind = \"gemini\"|kind = \"claude\"\nargv = [\"/usr/local/bin/standin\"]|" vox.toml &&
  chown vox /run/secrets/townhall/vox-gemini.env && townhall check >/dev/null && systemctl restart townhall'
echo "== ada reset alone at $FILES files while vox streams, $RUNS runs ($PROFILE build, $(nproc) CPUs)"
bash "$town" exec townhall bench reset-alone --resident ada --streamer vox --files "$FILES" --runs "$RUNS"
