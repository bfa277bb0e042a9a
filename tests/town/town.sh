#!/usr/bin/env bash
# town.sh — the town harness: boots a real test town (systemd in an nspawn container on an
# overlay of a cached Debian rootfs, a btrfs volume, a Synapse on loopback) for
# townhall's integration tests and demo. Run as root. Usage: town.sh SUBCOMMAND [ARGS]
#   prepare | up --config DIR --binary PATH [--unit FILE]... [--sysusers FILE]... [--journald FILE]... [--device /dev/NODE]...
#   exec CMD... | as USER CMD... | journal [ARGS] | reboot | restart-synapse | down | leftovers | status
# State lives in $TOWN_RUN (one town at a time); progress goes to stderr as "town: …".
# Env: TOWNHALL_CACHE, TOWN_RUN, TOWN_MACHINE, TOWN_MAYOR_PASSWORD, TOWN_SYNAPSE_PIP,
# TOWN_NO_OVERLAY=1 (test the cp -a fallback). `exec`/`as` run with a clean environment.
# After `up`: RUN/mayor.json, RUN/passwords.json (residents' Matrix passwords), RUN/state.
set -euo pipefail

CACHE=${TOWNHALL_CACHE:-/var/cache/townhall}
AGENTS=$(bash "$(dirname "$0")/agents.sh" dir)
RUN=${TOWN_RUN:-/var/tmp/townhall-town}
MACHINE=${TOWN_MACHINE:-townhall-test}
VENV=$CACHE/synapse-venv
STAMP=.townhall-complete
INCLUDE=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,udev,acl,btrfs-progs,git,ca-certificates,iproute2,passwd,procps,openssh-client,openssh-server,nftables,curl
# The cache is named after what it holds, so a changed package list builds a new one.
ROOTFS=$CACHE/rootfs-bookworm-$(printf %s "$INCLUDE" | sha256sum | cut -c1-8)
SYNAPSE_PIP=${TOWN_SYNAPSE_PIP:-matrix-synapse==1.163.2}
SHARED_SECRET=townhall-test-registration-secret
INSIDE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SELF=$(readlink -f "$0")

log() { printf 'town: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
since() { echo "$((SECONDS - $1))s"; }

# --- state: RUN/state is shell-sourceable and written step by step, so `down` can undo a
# half-finished `up`.
state_set() { touch "$RUN/state"; sed -i "/^$1=/d" "$RUN/state"; printf '%s=%q\n' "$1" "$2" >>"$RUN/state"; }
load_state() { if [[ -f $RUN/state ]]; then source "$RUN/state"; fi; }

# alive PID [PATTERN]: running (not a zombie) and, if given, its command line matches.
alive() {
  [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
  [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) != Z ]] || return 1
  [[ -z ${2:-} ]] || tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}
# wait_gone PID SECONDS: poll, since the process is usually not our child.
wait_gone() { local t=$SECONDS; while alive "$1"; do ((SECONDS - t < $2)) || return 1; sleep 0.5; done; }

# --- prepare: the caches are built in NAME.tmp and renamed once complete (stamp inside).
need_tools() {
  local missing=() c
  for c in debootstrap:debootstrap systemd-nspawn:systemd-container mkfs.btrfs:btrfs-progs \
    setfacl:acl /lib/systemd/systemd-udevd:udev ip:iproute2 curl:curl nsenter:util-linux; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
  done
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  ((${#missing[@]} == 0)) && return
  log "installing missing host packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Another builder (e.g. machine provisioning) may be filling the cache right now: wait for it.
wait_for_builder() { # DIR PATTERN
  local t=$SECONDS
  while [[ ! -e $1/$STAMP ]] && pgrep -f -- "$2" >/dev/null; do
    ((SECONDS - t < 1800)) || die "timed out waiting for a running '$2'"
    log "waiting for a running build of $1 ($(since "$t"))"; sleep 10
  done
}

ensure_rootfs() {
  wait_for_builder "$ROOTFS" "debootstrap .*$ROOTFS"
  [[ -e $ROOTFS/$STAMP ]] && return
  local t=$SECONDS tmp=$ROOTFS.tmp
  log "building rootfs cache $ROOTFS (debootstrap bookworm, ~1-2 min)…"
  rm -rf --one-file-system "$tmp" "$ROOTFS"
  debootstrap --variant=minbase --include="$INCLUDE" bookworm "$tmp" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  touch "$tmp/$STAMP" && mv "$tmp" "$ROOTFS"
  log "rootfs cache ready ($(since "$t"))"
}

# The venv is renamed after install, which breaks its scripts' #! lines: always run
# "$VENV/bin/python -m …" (the interpreter finds pyvenv.cfg next to itself).
ensure_venv() {
  wait_for_builder "$VENV" "$VENV.*pip.* install"
  [[ -e $VENV/$STAMP ]] && return
  local t=$SECONDS tmp=$VENV.tmp
  log "building synapse venv $VENV ($SYNAPSE_PIP, ~1 min)…"
  rm -rf "$tmp" "$VENV"
  { python3 -m venv "$tmp" && "$tmp/bin/python" -m pip install -q "$SYNAPSE_PIP"; } >"$CACHE/synapse-pip.log" 2>&1 ||
    { tail -n 20 "$CACHE/synapse-pip.log" >&2; die "synapse install failed (log: $CACHE/synapse-pip.log)"; }
  touch "$tmp/$STAMP" && mv "$tmp" "$VENV"
  log "synapse venv ready ($(since "$t"))"
}

cmd_prepare() {
  ((EUID == 0)) || die "run as root"
  need_tools
  mkdir -p "$CACHE"
  local lock; exec {lock}>"$CACHE/.prepare.lock"
  flock -n "$lock" || { log "waiting for another prepare…"; flock -w 1800 "$lock" || die "timed out waiting for another prepare"; }
  ensure_rootfs
  ensure_venv
  exec {lock}>&-
}

# --- up, step by step
read_town() { # sets T_* from `townhall check --json`
  "$BINARY" check --config "$CONFIG" --json >"$RUN/town.json" || die "'$BINARY check --config $CONFIG --json' failed"
  local vars
  vars=$(python3 - "$RUN/town.json" <<'EOF'
import json, sys, shlex, urllib.parse
t = json.load(open(sys.argv[1])); b, m = t["btrfs"], t["matrix"]
res = [r for r in t.get("residents", []) if r.get("matrix")]
ids = m.get("mayors", []) + [r["matrix"]["user"] for r in res]
if not ids: sys.exit("town.json: no matrix ids (mayors or residents)")
url = urllib.parse.urlsplit(m["homeserver"])
v = dict(T_NAME=t["name"], T_AGENTS=t["agents"], T_PERSIST=t["persist"], T_VOLUME=b["volume"], T_LIVE=b["live"],
         T_BLANK=b["blank"], T_HOMESERVER=m["homeserver"], T_PORT=url.port or 80,
         T_SERVER=ids[0].split(":", 1)[1], T_MAYOR=(m.get("mayors") or [""])[0])
for k, x in v.items(): print(f"{k}={shlex.quote(str(x))}")
print("T_RES_USERS=(" + " ".join(shlex.quote(r["matrix"]["user"]) for r in res) + ")")
print("T_RES_FILES=(" + " ".join(shlex.quote(r["matrix"]["password_file"]) for r in res) + ")")
# Declared secrets and API-key env files get test values, as sops-nix would deploy real ones.
sec = [s["source"] for r in t.get("residents", []) for s in r.get("secrets", [])]
env = [f for r in t.get("residents", []) for f in r.get("agent", {}).get("environment_files", [])]
print("T_SECRETS=(" + " ".join(shlex.quote(x) for x in sec) + ")")
print("T_ENV_FILES=(" + " ".join(shlex.quote(x) for x in env) + ")")
EOF
  ) || die "cannot parse $RUN/town.json"
  eval "$vars"
  log "town '$T_NAME': ${#T_RES_USERS[@]} resident(s), server $T_SERVER, port $T_PORT"
}

mount_root() { # overlay keeps the cache pristine; copying is the slow fallback
  mkdir -p "$RUN/upper" "$RUN/work" "$RUN/root"
  # TOWN_NO_OVERLAY=1 forces the fallback (to test it).
  if [[ -z ${TOWN_NO_OVERLAY:-} ]] && mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/root"; then
    state_set ROOT_MODE overlay
  else
    local t=$SECONDS; log "no overlay (mount failed or TOWN_NO_OVERLAY): copying the rootfs into $RUN/root (cp -a)…"
    cp -a "$ROOTFS/." "$RUN/root/"; state_set ROOT_MODE copy; log "copied ($(since "$t"))"
  fi
  rm -f "$RUN/root/$STAMP"
  # A machine id of its own, stable across `reboot`, so `journalctl -b -1` finds the old boot.
  python3 -c 'import uuid;print(uuid.uuid4().hex)' >"$RUN/root/etc/machine-id"
}

make_btrfs() {
  truncate -s 2G "$RUN/town.img"
  mkfs.btrfs -q "$RUN/town.img" >/dev/null
  mkdir -p "$RUN/btrfs"
  mount -o loop "$RUN/town.img" "$RUN/btrfs"
  state_set LOOP "$(losetup -j "$RUN/town.img" | cut -d: -f1 | head -n1)"
  btrfs subvolume create "$RUN/btrfs/$T_LIVE" >/dev/null
  btrfs subvolume snapshot -r "$RUN/btrfs/$T_LIVE" "$RUN/btrfs/$T_BLANK" >/dev/null
  btrfs subvolume create "$RUN/btrfs/@persist" >/dev/null
  # /agents is a symlink into the bound volume: a subvolume that is a mount point cannot be deleted.
  mkdir -p "$RUN/root$(dirname "$T_AGENTS")"
  ln -sfn "$T_VOLUME/$T_LIVE" "$RUN/root$T_AGENTS"
}

# Live host processes only: the container's processes are visible from here too, and this
# host's PID 1 reaps orphans only lazily, so zombies of earlier towns linger a while.
host_pids() {
  local p; for p in $(pgrep -x "$1"); do
    alive "$p" && [[ $(readlink "/proc/$p/ns/pid") == "$(readlink /proc/self/ns/pid)" ]] && echo "$p"
  done; return 0
}

start_udevd() {
  local p; p=$(host_pids systemd-udevd | head -n1)
  if [[ -n $p ]]; then
    # udevd's broadcasts stay in its network namespace: the town's libudev would hear nothing.
    [[ $(readlink "/proc/$p/ns/net") == "$(readlink /proc/self/ns/net)" ]] ||
      die "udevd (pid $p) runs in another network namespace, so the town would hear no device events: stop it (systemctl stop systemd-udevd systemd-udevd-control.socket systemd-udevd-kernel.socket) and run again"
    log "host udevd already running"; return
  fi
  /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
  state_set UDEVD_PID "$(host_pids systemd-udevd | head -n1)"; state_set STARTED_UDEVD 1
  log "started host udevd"
}

py() { "$VENV/bin/python" "$@"; }
start_synapse() {
  local d=$RUN/synapse t=$SECONDS url=http://127.0.0.1:$T_PORT
  [[ -z $(ss -Hltn "sport = :$T_PORT") ]] || die "port $T_PORT is already in use (a leftover Synapse?)"
  mkdir -p "$d"
  (cd "$d" && py -m synapse.app.homeserver --server-name "$T_SERVER" --config-path hs.yaml \
    --generate-config --report-stats=no) >"$d/generate.log" 2>&1 || { cat "$d/generate.log" >&2; die "synapse --generate-config failed"; }
  py - "$d" "$T_PORT" "$SHARED_SECRET" <<'EOF'
import sys, yaml
d, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = yaml.safe_load(open(f"{d}/hs.yaml"))
lim = {"per_second": 1000, "burst_count": 10000}
c.update(
  listeners=[{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
              "x_forwarded": False, "resources": [{"names": ["client", "federation"], "compress": False}]}],
  database={"name": "sqlite3", "args": {"database": f"{d}/homeserver.db"}},
  log_config=f"{d}/log.yaml", enable_registration=True, enable_registration_without_verification=True,
  registration_shared_secret=secret, report_stats=False, trusted_key_servers=[],
  suppress_key_server_warning=True,
  rc_message=lim, rc_registration=lim, rc_registration_token_validity=lim,
  rc_login={"address": lim, "account": lim, "failed_attempts": lim},
  rc_joins={"local": lim, "remote": lim}, rc_joins_per_room=lim,
  rc_invites={"per_room": lim, "per_user": lim, "per_issuer": lim}, rc_third_party_invite=lim,
  rc_admin_redaction=lim, rc_3pid_validation=lim, rc_presence={"per_user": lim},
  rc_media_create=lim, rc_room_creation=lim, rc_delayed_event_mgmt=lim, rc_reports=lim,
  rc_user_directory=lim, rc_profile=lim, rc_key_requests=lim)
yaml.safe_dump(c, open(f"{d}/hs.yaml", "w"))
# Log to stderr only, which we send to synapse.log.
yaml.safe_dump({"version": 1, "disable_existing_loggers": False,
  "formatters": {"p": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
  "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "p"}},
  "root": {"level": "INFO", "handlers": ["console"]}}, open(f"{d}/log.yaml", "w"))
EOF
  state_set T_PORT "$T_PORT"
  launch_synapse
}

launch_synapse() { # with the config start_synapse wrote; also used by restart-synapse
  local d=$RUN/synapse t=$SECONDS url=http://127.0.0.1:$T_PORT
  # setsid without fork (we are not a group leader): $! is Synapse itself.
  setsid "$VENV/bin/python" -m synapse.app.homeserver -c "$d/hs.yaml" >>"$d/synapse.log" 2>&1 </dev/null &
  SYNAPSE_PID=$!; state_set SYNAPSE_PID "$SYNAPSE_PID"; echo "$SYNAPSE_PID" >"$d/synapse.pid"
  log "starting synapse on $url…"
  until curl -fsS -o /dev/null "$url/_matrix/client/versions" 2>/dev/null; do
    if ! alive "$SYNAPSE_PID" || ((SECONDS - t > 60)); then
      tail -n 40 "$d/synapse.log" >&2; die "synapse did not come up (log: $d/synapse.log)"
    fi
    sleep 0.5
  done
  log "synapse up ($(since "$t"))"
}

register() { # MXID PASSWORD
  local lp=${1#@}; lp=${lp%%:*}
  py -m synapse._scripts.register_new_matrix_user -c "$RUN/synapse/hs.yaml" -u "$lp" --password="$2" \
    --no-admin "http://127.0.0.1:$T_PORT" >/dev/null || die "registering $1 failed"
}

# /run and /tmp get fresh tmpfs mounts at boot, so secrets there are staged in RUN/secrets
# and their directory is bound in (also survives `reboot`); elsewhere they go in the rootfs.
write_secret() { # PATH CONTENT
  local base=$RUN/root dir p
  case $1 in /run/* | /tmp/*) base=$RUN/secrets; SECRET_DIRS+=("$(dirname "$1")") ;; esac
  dir=$base; IFS=/ read -ra parts <<<"$(dirname "$1")"
  for p in "${parts[@]}"; do [[ -z $p ]] && continue; dir=$dir/$p; [[ -d $dir ]] || install -d -m 0711 -o root -g root "$dir"; done
  (umask 077 && printf '%s' "$2" >"$base$1") && chmod 0400 "$base$1" && chown root:root "$base$1"
}
SECRET_DIRS=()

register_users() {
  local t=$SECONDS i pw mayor_pw=${TOWN_MAYOR_PASSWORD:-mayor-password} pws=()
  [[ -z $T_MAYOR ]] || register "$T_MAYOR" "$mayor_pw"
  for i in "${!T_RES_USERS[@]}"; do
    pw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_'); pws+=("${T_RES_USERS[$i]}" "$pw")
    register "${T_RES_USERS[$i]}" "$pw"
    write_secret "${T_RES_FILES[$i]}" "$pw"
  done
  for i in "${T_SECRETS[@]}"; do write_secret "$i" "test secret from the town harness: $i"$'\n'; done
  for i in "${T_ENV_FILES[@]}"; do write_secret "$i" "TOWNHALL_TEST_KEY=not-a-real-key"$'\n'; done
  # RUN/mayor.json for the tests' mayor client; RUN/passwords.json: residents', for tests.
  (umask 077 && python3 - "$RUN" "$T_HOMESERVER" "$T_MAYOR" "$mayor_pw" "${pws[@]}" <<'EOF'
import json, sys
run, hs, mayor, mpw, *p = sys.argv[1:]
if mayor: json.dump(dict(homeserver=hs, user=mayor, password=mpw), open(f"{run}/mayor.json", "w"))
json.dump(dict(zip(p[::2], p[1::2])), open(f"{run}/passwords.json", "w"))
EOF
  )
  log "registered ${T_MAYOR:+mayor and }${#T_RES_USERS[@]} resident(s) ($(since "$t"))"
}

install_town() {
  local r=$RUN/root u out
  install -D -m 0755 "$BINARY" "$r/usr/local/bin/townhall"
  # The chat's own binary (crates/chat) is built beside root's.
  [[ -x $(dirname "$BINARY")/townhall-chat ]] || die "no townhall-chat beside $BINARY: cargo build -p townhall-chat"
  install -D -m 0755 "$(dirname "$BINARY")/townhall-chat" "$r/usr/local/bin/townhall-chat"
  # And the gate's (crates/gate).
  [[ -x $(dirname "$BINARY")/townhall-gate ]] || die "no townhall-gate beside $BINARY: cargo build -p townhall-gate"
  install -D -m 0755 "$(dirname "$BINARY")/townhall-gate" "$r/usr/local/bin/townhall-gate"
  rm -rf "$r/etc/townhall" && mkdir -p "$r/etc/townhall"
  # Only the config itself: CONFIG may be a whole checkout.
  install -m 0644 "$CONFIG/town.toml" "$r/etc/townhall/town.toml"
  install -d -m 0755 "$r/etc/townhall/residents"
  install -m 0644 "$CONFIG"/residents/*.toml "$r/etc/townhall/residents/"
  for u in "${SYSUSERS[@]}"; do
    install -D -m 0644 "$u" "$r/usr/lib/sysusers.d/$(basename "${u%.sysusers}").conf"
    systemd-sysusers --root="$r" "$r/usr/lib/sysusers.d/$(basename "${u%.sysusers}").conf" || die "systemd-sysusers $u failed"
  done
  for u in "${UNITS[@]}"; do
    install -m 0644 "$u" "$r/etc/systemd/system/"
    out=$(systemctl --root="$r" enable "$(basename "$u")" 2>&1) || { echo "$out" >&2; die "enabling $u failed"; }
  done
  for u in "${JOURNALD[@]}"; do
    install -D -m 0644 "$u" "$r/etc/systemd/journald.conf.d/$(basename "${u%.conf}" | sed 's/-journald$//').conf"
  done
  echo "$MACHINE" >"$r/etc/hostname"
  # The real agent CLIs (tests/town/agents.sh), when installed: on every resident's PATH.
  if [[ -n $AGENTS ]]; then
    install -d -m 0755 "$r/opt/townhall-agents"
    for u in node claude codex gemini; do ln -sfn "/opt/townhall-agents/node_modules/.bin/$u" "$r/usr/local/bin/$u"; done
  fi
  # The town host's sshd, for the mayor fetching from another machine: loopback port 2222
  # (the container shares the network namespace town.sh runs in: the town tests' own, or the
  # host's for the demo), keys only, and nobody but the mayor.
  install -d -m 0755 "$r/etc/ssh/sshd_config.d"
  printf 'Port 2222\nListenAddress 127.0.0.1\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nAllowUsers mayor\n' >"$r/etc/ssh/sshd_config.d/town.conf"
}

write_boot_args() {
  local a=(--register=no --keep-unit --link-journal=no -D "$RUN/root" -b --console=passive
    --machine="$MACHINE" --bind="$RUN/btrfs:$T_VOLUME" --bind="$RUN/btrfs/@persist:$T_PERSIST") x
  # Root in the town loads its egress table; nspawn keeps CAP_NET_ADMIN only when asked. The
  # namespace is the town tests' own (tests/support/network.rs), never the host's.
  a+=(--capability=CAP_NET_ADMIN)
  for x in "${DEVICES[@]}"; do a+=(--bind="$x"); done
  [[ -z $AGENTS ]] || a+=(--bind-ro="$AGENTS:/opt/townhall-agents")
  # The host's udevd is the town's: its database and control socket tell libudev inside
  # that udev runs (without them it disables its monitor in a container) and what it knows.
  ((${#DEVICES[@]} == 0)) || [[ ! -d /run/udev ]] || a+=(--bind-ro=/run/udev)
  # The container shares these inodes with the host: keep their owner, mode and ACL for `down`.
  ((${#DEVICES[@]} == 0)) || getfacl -pn "${DEVICES[@]}" >"$RUN/devices.acl" 2>/dev/null
  for x in $(printf '%s\n' "${SECRET_DIRS[@]}" | sort -u); do a+=(--bind="$RUN/secrets$x:$x"); done
  a+=(-- systemd.firstboot=off)
  printf '%s\0' "${a[@]}" >"$RUN/nspawn.args"
  state_set BOOT_ARGS "$RUN/nspawn.args"
}

in_container() { # as root, clean environment
  nsenter -t "$LEADER" -a env -i PATH="$INSIDE_PATH" HOME=/root LANG=C.UTF-8 ${TERM:+TERM="$TERM"} "$@"
}

find_leader() { # the container's PID 1 is nspawn's child, once it has exec'd systemd
  local c; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [[ $(cat "/proc/$c/comm" 2>/dev/null) == systemd ]] && { echo "$c"; return 0; }
  done; return 1
}

boot() {
  local t=$SECONDS pid s args
  mapfile -d '' args <"$RUN/nspawn.args"
  log "booting container $MACHINE…"
  echo "=== boot $(date -Is)" >>"$RUN/nspawn.log"
  setsid systemd-nspawn "${args[@]}" >>"$RUN/nspawn.log" 2>&1 </dev/null &
  pid=$!; state_set NSPAWN_PID "$pid"
  until LEADER=$(find_leader "$pid"); do
    alive "$pid" || { tail -n 30 "$RUN/nspawn.log" >&2; die "systemd-nspawn exited (log: $RUN/nspawn.log)"; }
    ((SECONDS - t < 30)) || die "no systemd under nspawn $pid after 30s"
    sleep 0.2
  done
  state_set LEADER "$LEADER"
  while :; do
    s=$(timeout 10 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>/dev/null) || true
    case $s in
    running) break ;;
    degraded | maintenance)
      log "container is $s; failed units:"
      in_container systemctl --failed --no-pager >&2 || true
      for u in $(in_container systemctl --failed --plain --no-legend | awk '{print $1}'); do
        in_container journalctl -b --no-pager -n 30 -u "$u" >&2 || true
      done
      die "container boot ended $s" ;;
    esac
    alive "$pid" || { tail -n 30 "$RUN/nspawn.log" >&2; die "systemd-nspawn exited during boot"; }
    ((SECONDS - t < 90)) || die "container not running after 90s (state: ${s:-unknown})"
    sleep 1
  done
  log "container running (leader pid $LEADER, $(since "$t"))"
}

cmd_up() {
  CONFIG='' BINARY='' UNITS=() DEVICES=() SYSUSERS=() JOURNALD=()
  while (($#)); do
    case $1 in
    --config) CONFIG=$(readlink -f "$2"); shift 2 ;;
    --binary) BINARY=$(readlink -f "$2"); shift 2 ;;
    --unit) [[ -f $2 ]] || die "no unit file $2"; UNITS+=("$(readlink -f "$2")"); shift 2 ;;
    --sysusers) [[ -f $2 ]] || die "no sysusers file $2"; SYSUSERS+=("$(readlink -f "$2")"); shift 2 ;;
    --journald) [[ -f $2 ]] || die "no journald drop-in $2"; JOURNALD+=("$(readlink -f "$2")"); shift 2 ;;
    --device) [[ -e $2 ]] || die "no device $2"; DEVICES+=("$2"); shift 2 ;;
    *) die "up: unknown argument $1" ;;
    esac
  done
  [[ -d $CONFIG && -x $BINARY ]] || die "usage: up --config DIR --binary PATH [--unit FILE]... [--sysusers FILE]... [--journald FILE]... [--device /dev/NODE]..."
  clear_stale_run
  local t0=$SECONDS
  cmd_prepare
  mkdir -p "$RUN"; chmod 0700 "$RUN"; state_set MACHINE "$MACHINE"; state_set UP_PID "$$"
  trap 'rc=$?; ((rc == 0)) || log "up failed (exit $rc); state kept in $RUN; run: $SELF down"' EXIT
  read_town
  local t=$SECONDS; mount_root; make_btrfs; log "rootfs and btrfs volume ready ($(since "$t"))"
  start_udevd
  start_synapse
  register_users
  install_town
  write_boot_args
  boot
  state_set UP_COMPLETE 1
  log "town up in $(since "$t0")"
}

# --- teardown
run_mounts() { findmnt -rn -o TARGET | awk -v r="$RUN" '$0 == r || index($0, r "/") == 1' | sort -r; } # deepest first
run_loops() { losetup -nl -O NAME,BACK-FILE 2>/dev/null | awk -v f="$RUN/town.img" '$2 == f {print $1}'; }
nspawn_pids() { pgrep -f -- "systemd-nspawn .*--machine=$MACHINE( |$)" || true; }
synapse_pids() { pgrep -af synapse | grep -F -- "$RUN/" | cut -d' ' -f1 || true; }

stop_container() {
  local p l t=$SECONDS
  for p in $(printf '%s\n' ${NSPAWN_PID:-} $(nspawn_pids) | sort -u); do
    alive "$p" systemd-nspawn || continue
    l=$(find_leader "$p") || l=
    log "powering off container (nspawn pid $p)…"
    [[ -n $l ]] && { timeout 10 nsenter -t "$l" -a systemctl poweroff >/dev/null 2>&1 || true; }
    if ! wait_gone "$p" 30; then
      log "nspawn still there after 30s: SIGKILL"
      [[ -n $l ]] && kill -KILL "$l" 2>/dev/null # killing PID 1 kills its whole pid namespace
      kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
      wait_gone "$p" 10 || log "warning: nspawn $p survives SIGKILL"
    fi
    log "container stopped ($(since "$t"))"
  done
}

stop_synapse() {
  local p
  for p in $(printf '%s\n' ${SYNAPSE_PID:-} $(synapse_pids) | sort -u); do
    alive "$p" synapse || continue
    kill -TERM "$p" 2>/dev/null || true
    wait_gone "$p" 10 || { log "synapse $p ignores SIGTERM: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; wait_gone "$p" 5 || true; }
    log "synapse stopped"
  done
}

stop_udevd() {
  [[ ${STARTED_UDEVD:-} == 1 ]] && alive "${UDEVD_PID:-}" systemd-udevd || return 0
  kill -TERM "$UDEVD_PID"; wait_gone "$UDEVD_PID" 10 || kill -KILL "$UDEVD_PID" 2>/dev/null || true
  log "stopped the host udevd we started"
}

unmount_all() {
  local m
  for m in $(run_mounts); do
    umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || { log "lazy unmount of $m"; umount -l "$m"; } || true
  done
  for m in $(run_loops); do losetup -d "$m" 2>/dev/null || log "warning: cannot detach $m"; done
}

# A run killed mid-check (a session or CI job ended) leaves $RUN behind with nothing alive in
# it; that is torn down and the town comes up. A town that is up, or still coming up, is not.
clear_stale_run() {
  [[ -e $RUN ]] || return 0
  load_state
  if alive "${UP_PID:-}" town.sh || [[ -n $(nspawn_pids)$(synapse_pids) ]]; then
    die "$RUN exists and its town is up or coming up: run '$SELF down' first"
  fi
  log "$RUN is left from a run that was killed: tearing it down first"
  (cmd_down) || die "could not tear down the stale $RUN: run '$SELF down' and see why"
  unset NSPAWN_PID SYNAPSE_PID UDEVD_PID STARTED_UDEVD LEADER UP_PID UP_COMPLETE
}

cmd_down() {
  ((EUID == 0)) || die "run as root"
  local t=$SECONDS
  load_state
  stop_container
  stop_synapse
  stop_udevd
  [[ ! -s $RUN/devices.acl ]] || setfacl --restore="$RUN/devices.acl" || log "warning: could not restore device ACLs"
  # A killed nspawn leaves these behind (the host's /run is not a tmpfs here).
  if [[ -z $(nspawn_pids) ]]; then
    rm -rf "/run/systemd/nspawn/propagate/$MACHINE"
    [[ ! -d $RUN/root ]] || rm -f "/run/systemd/nspawn/locks/inode-$(stat -c %d:%i "$RUN/root")"
  fi
  unmount_all
  [[ -z $(run_mounts) ]] || die "mounts remain under $RUN: $(run_mounts | tr '\n' ' ')"
  rm -rf --one-file-system "$RUN"
  log "down ($(since "$t"))"
}

cmd_leftovers() {
  local out
  out=$(
    run_mounts | sed 's/^/mount /'
    run_loops | sed 's/^/loop /'
    for p in $(nspawn_pids); do echo "nspawn $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
    for p in $(synapse_pids); do echo "synapse $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
    [[ ! -e $RUN ]] || echo "dir $RUN"
  )
  [[ -z $out ]] && return 0
  echo "$out"; return 1
}

need_town() {
  load_state
  alive "${LEADER:-}" systemd || die "no running town in $RUN (try '$SELF status')"
}

cmd_as() {
  (($# >= 2)) || die "usage: as USER CMD..."
  need_town
  # Resolve uid/gid inside; setpriv --reset-env sets HOME/USER/SHELL/PATH from passwd.
  nsenter -t "$LEADER" -a env -i PATH="$INSIDE_PATH" sh -c '
    u=$(id -u "$1") && g=$(id -g "$1") || exit 125; shift; cd /
    exec setpriv --reuid="$u" --regid="$g" --init-groups --reset-env env XDG_RUNTIME_DIR=/run/user/$u "$@"' sh "$@"
}

cmd_reboot() {
  need_town
  local t=$SECONDS
  log "rebooting container…"
  in_container systemctl reboot >/dev/null 2>&1 || true
  wait_gone "$NSPAWN_PID" 60 || die "systemd-nspawn $NSPAWN_PID did not exit within 60s of reboot"
  boot
  log "rebooted ($(since "$t"))"
}

main() {
  local cmd=${1:-}; shift || true
  case $cmd in
  prepare) cmd_prepare ;;
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  exec) (($#)) || die "usage: exec CMD..."; need_town; in_container "$@" ;;
  as) cmd_as "$@" ;;
  journal) need_town; in_container journalctl --no-pager "$@" ;;
  reboot) cmd_reboot ;;
  restart-synapse) need_town; stop_synapse; launch_synapse ;;
  leftovers) cmd_leftovers ;;
  status) [[ -f $RUN/state ]] || { echo "no town"; exit 1; }; cat "$RUN/state" ;;
  *) sed -n '2,10p' "$SELF" >&2; exit 2 ;;
  esac
}
main "$@"
