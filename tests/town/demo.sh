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
bash "$town" up --config "$PWD" --binary "$bin" --sysusers dist/townhall.sysusers --unit dist/townhall.service --unit dist/townhall-reset.service --unit dist/townhall-chat.service --unit dist/townhall-git.slice --journald dist/townhall-journald.conf

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "systemd runs the town (PID 1 inside the container)"
bash "$town" exec systemctl is-system-running
step "the supervisor answers on its root-only control socket"
bash "$town" exec townhall status
step "two processes: the root supervisor (no network), and the Matrix bots as their own user"
bash "$town" exec ps -o user:14,pid,args -C townhall
step "the residents, as declared in residents/*.toml"
bash "$town" exec townhall resident list
step "the agents volume: live and blank subvolumes on btrfs"
bash "$town" exec btrfs subvolume list /town
# ada is declared as a Claude Code resident (residents/ada.toml). With ANTHROPIC_API_KEY in
# your environment she runs the real claude (installed by setup.sh at the pinned version)
# with that key; without it, the test stand-in answers "you said: …" line by line.
# The key goes to her environment file on stdin, never on a command line.
if [[ -n ${ANTHROPIC_API_KEY:-} ]]; then
  cli=real used="the real claude, with your key"
  step "ada answers a turn from the command line: the real claude, with your ANTHROPIC_API_KEY"
  { printf 'ANTHROPIC_API_KEY=%s\n' "$ANTHROPIC_API_KEY"; [[ -z ${ANTHROPIC_BASE_URL:-} ]] || printf 'ANTHROPIC_BASE_URL=%s\n' "$ANTHROPIC_BASE_URL"; } |
    bash "$town" exec sh -c 'set -e; f=/run/secrets/townhall/ada-anthropic.env; umask 077; cat > "$f"; chown ada "$f"; chmod 0400 "$f"'
  bash "$town" exec townhall turn ada "In one sentence: who are you and which directory are you in?"
else
  cli=stand-in used="a stand-in CLI (set ANTHROPIC_API_KEY to run the real claude)"
  step "ada answers a turn from the command line: a stand-in CLI (no ANTHROPIC_API_KEY set; see docs/agent-clis.md)"
  install -m 0755 tests/town/standin/standin "$TOWN_RUN/root/usr/local/bin/standin"
  bash "$town" exec sh -c 'set -e
    chown ada /run/secrets/townhall/ada-anthropic.env
    sed -i -e "s|^kind = \"claude\"|kind = \"command\"|" -e "s|^argv = .*|argv = [\"/usr/local/bin/standin\"]|" /etc/townhall/residents/ada.toml
    systemctl restart townhall'
  bash "$town" exec townhall turn ada "slow"
fi

step "the mayor talks to ada over Matrix (as Element would)"
python3 - "$TOWN_RUN/mayor.json" "$cli" <<'PY'
import json, sys, time, urllib.request, urllib.parse
m = json.load(open(sys.argv[1])); hs = m["homeserver"]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(hs + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
login = call("POST", "/_matrix/client/v3/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": m["user"]}, "password": m["password"]})
tok = login["access_token"]
print(f"logged in as {login['user_id']}")
room = call("POST", "/_matrix/client/v3/createRoom", {"is_direct": True, "invite": ["@ada:town.test"], "preset": "trusted_private_chat", "name": "demo: mayor and ada"}, tok)["room_id"]
q = lambda r: urllib.parse.quote(r, safe="")
for _ in range(60):
    members = call("GET", f"/_matrix/client/v3/rooms/{q(room)}/joined_members", token=tok)["joined"]
    if "@ada:town.test" in members: break
    time.sleep(0.5)
print("ada joined the DM")
def say(text):
    print(f"mayor> {text}")
    call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{time.time_ns()}", {"msgtype": "m.text", "body": text}, tok)
def seen():
    evs = call("GET", f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=50", token=tok)["chunk"]
    return {e["event_id"] for e in evs}
def answer(before, want):
    # ada's newest message or edit since `before` that holds `want` (any finished one when
    # None: a streamed answer ends in " …" until its last edit).
    for _ in range(240):
        evs = call("GET", f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=50", token=tok)["chunk"]
        for e in evs:
            c = e.get("content", {})
            body = c.get("m.new_content", c).get("body", "")
            if e.get("sender") != "@ada:town.test" or e["event_id"] in before:
                continue
            if (want is None and not body.endswith("…")) or (want is not None and want in body):
                return body
        time.sleep(0.5)
    return "(no answer)"
if sys.argv[2] == "real":
    asks = [("Hello ada! In one sentence, what can you do here?", None), ("!status", "round")]
else:
    asks = [("hello ada, what are you?", "you said"), ("!status", "round"), ("slow", "line 3")]
for text, want in asks:
    before = seen()
    say(text)
    for line in answer(before, want).splitlines():
        print(f"  ada> {line}")
PY

mayor=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user"])' "$TOWN_RUN/mayor.json")
pass=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["password"])' "$TOWN_RUN/mayor.json")
cat <<MSG

The demo town is up. ada answered with $used.
  enter it:        bash $town exec bash        (TOWN_RUN=$TOWN_RUN)
  its journal:     bash $town journal -u townhall
  Element:         homeserver http://127.0.0.1:8008, user $mayor, password $pass
                   (from another machine: ssh -L 8008:127.0.0.1:8008 this-host)
  stop it:         TOWN_RUN=$TOWN_RUN TOWN_MACHINE=$TOWN_MACHINE bash $town down
MSG
