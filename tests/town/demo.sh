#!/usr/bin/env bash
# Bring up the demo town (the shipped town.toml + residents/) and show it working.
# It stays up afterwards so you can look around and connect Element; stop it with
#   bash tests/town/town.sh down
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/town/setup.sh
cargo build --locked
bin=$PWD/target/debug/townhall
[ -n "${CARGO_TARGET_DIR:-}" ] && bin=$CARGO_TARGET_DIR/debug/townhall
town=tests/town/town.sh
export TOWN_RUN=${TOWN_RUN:-/var/tmp/townhall-demo} TOWN_MACHINE=${TOWN_MACHINE:-townhall-demo}

bash "$town" down >/dev/null 2>&1 || true
bash "$town" up --config "$PWD" --binary "$bin" --unit dist/townhall.service

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "systemd runs the town (PID 1 inside the container)"
bash "$town" exec systemctl is-system-running
step "the supervisor answers on its root-only control socket"
bash "$town" exec townhall status
step "the residents, as declared in residents/*.toml"
bash "$town" exec townhall resident list
step "the agents volume: live and blank subvolumes on btrfs"
bash "$town" exec btrfs subvolume list /town
step "the mayor logs in to the demo homeserver"
mayor=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user"])' "$TOWN_RUN/mayor.json")
pass=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["password"])' "$TOWN_RUN/mayor.json")
curl -fsS -X POST http://127.0.0.1:8008/_matrix/client/v3/login \
  -d "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$mayor\"},\"password\":\"$pass\"}" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("logged in as", r["user_id"], "device", r["device_id"])'

cat <<MSG

The demo town is up.
  enter it:        bash $town exec bash        (TOWN_RUN=$TOWN_RUN)
  its journal:     bash $town journal -u townhall
  Element:         homeserver http://127.0.0.1:8008, user $mayor, password $pass
                   (from another machine: ssh -L 8008:127.0.0.1:8008 this-host)
  stop it:         TOWN_RUN=$TOWN_RUN TOWN_MACHINE=$TOWN_MACHINE bash $town down
MSG
