#!/usr/bin/env bash
# Every test: unit tests (fakes, config corpus), then the town tests (real systemd, btrfs,
# Synapse, udev in a container). Needs root for the town.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/town/setup.sh
echo "== nixos/*.nix parse" >&2
# Syntax only: there is no nixpkgs here to evaluate or build the module against.
for f in nixos/*.nix; do nix-instantiate --parse "$f" >/dev/null || { echo "$f does not parse" >&2; exit 1; }; done
echo "== unit tests" >&2
cargo test --locked --lib --bins --test config_corpus
echo "== town tests" >&2
cargo test --locked --test town
