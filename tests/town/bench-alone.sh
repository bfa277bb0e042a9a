#!/usr/bin/env bash
# One resident reset alone while another's turn streams, in a real town (the demo config):
#   bash tests/town/bench-alone.sh [FILES] [RUNS]    (as root; prints figures, asserts nothing)
# ada's home holds FILES files (default 200000); vox runs the test stand-in as claude, which
# streams a line every 10 ms (`ticks fast`). Set PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-200000} RUNS=${2:-3}
source tests/town/bench-demo.sh
install -m 0755 tests/town/standin/standin "$TOWN_RUN/root/usr/local/bin/standin"
bash "$town" exec sh -c 'cd /etc/townhall/residents &&
  sed -i -e "s|^kind = \"gemini\"|kind = \"claude\"\nargv = [\"/usr/local/bin/standin\"]|" vox.toml &&
  chown vox /run/secrets/townhall/vox-gemini.env && townhall check >/dev/null && systemctl restart townhall'
echo "== ada reset alone at $FILES files while vox streams, $RUNS runs ($PROFILE build, $(nproc) CPUs)"
bash "$town" exec townhall bench reset-alone --resident ada --streamer vox --files "$FILES" --runs "$RUNS"
