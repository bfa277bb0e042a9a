#!/usr/bin/env bash
# Write a town config of N residents (rNN, uids 3001…) into DIR, for crowd checks and benches:
#   bash tests/town/crowd.sh DIR N [AGENT_ARGV_JSON]      (default agent: /bin/cat)
# The host is the demo's town.toml without its town remote (whose push lists name the
# demo's residents); each resident's Matrix user is @rNN:town.test, registered by the harness.
set -euo pipefail
dir=$1 n=$2 argv=${3:-'["/bin/cat"]'}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir/residents"
sed '/^\[\[repo\]\]/,$d' "$here/town.toml" >"$dir/town.toml"
for i in $(seq 1 "$n"); do
  r=$(printf 'r%02d' "$i")
  cat >"$dir/residents/$r.toml" <<TOML
name = "$r"
uid = $((3000 + i))
description = "crowd resident $r"
rooms = []

[matrix]
user = "@$r:town.test"
password_file = "/run/secrets/townhall/$r-matrix-password"

[agent]
kind = "command"
argv = $argv

[git]
name = "$r"
email = "$r@town.test"
TOML
done
