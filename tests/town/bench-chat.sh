#!/usr/bin/env bash
# Chat latency in a real town (the demo config, ada on the stand-in CLI):
#   bash tests/town/bench-chat.sh [RUNS]      (as root; prints figures, asserts nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-30}
town=tests/town/town.sh
export TOWN_RUN=${TOWN_RUN:-/var/tmp/townhall-bench} TOWN_MACHINE=${TOWN_MACHINE:-townhall-bench}
CACHE=${TOWNHALL_CACHE:-/var/cache/townhall}
bash tests/town/setup.sh
cargo build --locked --release
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/townhall

bash "$town" down >/dev/null 2>&1 || true
bash "$town" up --config "$PWD" --binary "$bin" --sysusers dist/townhall.sysusers \
  --unit dist/townhall.service --unit dist/townhall-reset.service --unit dist/townhall-chat.service
trap 'bash "$town" down >/dev/null' EXIT
install -m 0755 tests/town/standin/standin "$TOWN_RUN/root/usr/local/bin/standin"
bash "$town" exec sh -c 'set -e
  chown ada /run/secrets/townhall/ada-anthropic.env
  sed -i -e "s|^kind = \"claude\"|kind = \"command\"|" -e "s|^argv = .*|argv = [\"/usr/local/bin/standin\"]|" /etc/townhall/residents/ada.toml
  systemctl restart townhall'
# Warm ada's user manager, so the first run measures a turn, not its start.
bash "$town" exec townhall turn ada warm-up >/dev/null
"$CACHE/synapse-venv/bin/python" -m synapse._scripts.register_new_matrix_user -c "$TOWN_RUN/synapse/hs.yaml" \
  -u bench-other --password=bench-other-password --no-admin http://127.0.0.1:8008 >/dev/null
other=$(mktemp)
printf '{"homeserver":"http://127.0.0.1:8008","user":"@bench-other:town.test","password":"bench-other-password"}' >"$other"
echo "== chat latency, $RUNS runs (release build, $(nproc) CPUs)"
"$bin" bench chat --mayor "$TOWN_RUN/mayor.json" --other "$other" --runs "$RUNS"
rm -f "$other"
