# Sourced by the reset benches: builds townhall (PROFILE=release for a release build) and
# brings up the demo town under its own run dir and machine name, torn down on exit.
town=tests/town/town.sh
export TOWN_RUN=${TOWN_RUN:-/var/tmp/townhall-bench} TOWN_MACHINE=${TOWN_MACHINE:-townhall-bench}
PROFILE=${PROFILE:-debug}
bash tests/town/setup.sh
if [[ $PROFILE == release ]]; then cargo build --locked --release; else cargo build --locked; fi
bin=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/townhall

bash "$town" down >/dev/null 2>&1 || true
bash "$town" up --config "$PWD" --binary "$bin" --sysusers dist/townhall.sysusers \
  --unit dist/townhall.service --unit dist/townhall-reset.service --unit dist/townhall-chat.service \
  --unit dist/townhall-git.slice --journald dist/townhall-journald.conf
trap 'bash "$town" down >/dev/null' EXIT
