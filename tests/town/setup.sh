#!/usr/bin/env bash
# Install what townhall's build, tests and demo need on a Debian/Ubuntu machine (as root):
# Debian packages, then the town's rootfs and Synapse (cached under $TOWNHALL_CACHE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

say() { echo "setup: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "run me as root (the town boots containers and mounts btrfs)"; exit 1; }

packages=(
  debootstrap systemd-container btrfs-progs acl udev iproute2 util-linux   # the town
  python3-venv curl                                                        # Synapse
  openssh-client                                                           # the mayor's side of SSH fetches
  nix-bin                                                                  # parse-checking nixos/*.nix
  pkg-config libudev-dev libacl1-dev gcc git                               # building townhall (SQLite is bundled)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  say "no Rust toolchain: install Rust 1.95 or newer with rustup (https://rustup.rs), then run me again"
  exit 1
fi

bash "$here/town.sh" prepare
# The real agent CLIs, pinned: npm from the machine (Debian's if it has none).
if ! command -v npm >/dev/null; then
  say "installing npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends npm
fi
bash "$here/agents.sh"
