#!/usr/bin/env bash
# Every test: unit tests (fakes, config corpus), then the town tests (real systemd, btrfs,
# Synapse, udev in a container). Needs root for the town.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/town/setup.sh
echo "== nixos/*.nix parse" >&2
# Syntax only: there is no nixpkgs here to evaluate or build the module against.
for f in nixos/*.nix; do nix-instantiate --parse "$f" >/dev/null || { echo "$f does not parse" >&2; exit 1; }; done
# No drift: the module takes the units from dist/ (through the package), never restates them.
if grep -n 'ExecStart' nixos/module.nix >&2; then echo "nixos/module.nix restates a unit: set it in dist/ instead" >&2; exit 1; fi
grep -q 'systemd.packages = \[ cfg.package \]' nixos/module.nix || { echo "nixos/module.nix does not use the package's units" >&2; exit 1; }
grep -q 'dist/\*.service' nixos/package.nix || { echo "nixos/package.nix does not ship dist/'s units" >&2; exit 1; }
echo "== format and lints" >&2
# rustfmt's default style (no rustfmt.toml) and clippy with every warning an error.
cargo fmt --all --check || { echo "the code is not in rustfmt's default style: run cargo fmt" >&2; exit 1; }
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== unit tests" >&2
cargo test --locked --workspace --lib --bins --test config_corpus --test boundary --test fakes
echo "== town tests" >&2
# The town installs both binaries; cargo test builds only the root package's.
cargo build --locked --workspace --bins
cargo test --locked --test town
