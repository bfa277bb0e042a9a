#!/usr/bin/env bash
# A town of N residents (default 50) from a generated config, booted with the harness:
# how long until every resident's bot is syncing (first boot, fresh logins of known accounts,
# then restored sessions),
# and the RSS, open descriptors and idle CPU of each townhall process.
#   bash tests/town/bench-town.sh [N]          (as root; prints figures, asserts nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-50}
town=tests/town/town.sh
export TOWN_RUN=${TOWN_RUN:-/var/tmp/townhall-bench} TOWN_MACHINE=${TOWN_MACHINE:-townhall-bench}
bash tests/town/setup.sh
cargo build --locked --release
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/townhall

cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
bash tests/town/crowd.sh "$cfg" "$N"

bash "$town" down >/dev/null 2>&1 || true
bash "$town" up --config "$cfg" --binary "$bin" --sysusers dist/townhall.sysusers \
  --unit dist/townhall.service --unit dist/townhall-reset.service --unit dist/townhall-chat.service
inside() { bash "$town" exec "$@"; }

online() { # [T0]: seconds from T0 (default: now) until every resident's bot reports "syncing"
  local t0=${1:-$(date +%s.%N)} s
  while :; do
    s=$(inside townhall status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["residents"]; print(sum(1 for x in r if x.get("chat") == "syncing"), len(r))')
    [[ ${s% *} == "${s#* }" ]] && break
    (($(date +%s) - ${t0%.*} < 300)) || { echo "only ${s% *} of ${s#* } online after 300 s" >&2; return 1; }
    sleep 0.2
  done
  python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')"
}

proc() { # UNIT: RSS MiB, open fds, idle CPU % over 30 s
  local pid a b
  pid=$(inside systemctl show -p MainPID --value "$1")
  a=$(inside awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep 30
  b=$(inside awk '{print $14 + $15}' "/proc/$pid/stat")
  printf '%-22s RSS %6.1f MiB  fds %5d  idle CPU %5.2f %%\n' "$1" \
    "$(inside awk '/VmRSS/ {print $2 / 1024}' "/proc/$pid/status")" \
    "$(inside sh -c "ls /proc/$pid/fd | wc -l")" \
    "$(python3 -c "print(($b - $a) / $(getconf CLK_TCK) / 30 * 100)")"
}

echo "== $N residents (release build, $(nproc) CPUs)"
# The first boot: accounts registered just now, no device yet, timed from the chat's start.
start=$(inside systemctl show -p ExecMainStartTimestamp --value --timestamp=unix townhall-chat)
echo "all online, first boot:        $(online "${start#@}") s"
# New devices for accounts that already have one (and cross-signing keys).
inside systemctl stop townhall-chat
inside sh -c 'rm -rf /var/lib/townhall-chat/*'
cpu() { awk '{print ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$(cat "$TOWN_RUN/synapse/synapse.pid")/stat"; }
chat_cpu() { inside sh -c 'awk "{print (\$14 + \$15) / $(getconf CLK_TCK)}" /proc/$(systemctl show -p MainPID --value townhall-chat)/stat'; }
lines=$(wc -l <"$TOWN_RUN/synapse/synapse.log") s0=$(cpu)
inside systemctl start townhall-chat
c0=$(chat_cpu)
echo "all online, fresh logins again: $(online) s"
# Whose CPU those logins took: Synapse's (all its threads), the chat's, and what Synapse
# spent per endpoint (its access log: wall time per request).
echo "  CPU meanwhile: Synapse $(python3 -c "print(f'{$(cpu) - $s0:.1f}')") s, townhall-chat $(python3 -c "print(f'{$(chat_cpu) - $c0:.1f}')") s"
tail -n +"$((lines + 1))" "$TOWN_RUN/synapse/synapse.log" | perl -ne '
  /Processed request: ([\d.]+)sec.*"(\w+) \/_matrix\/client\/v3\/([a-z_]+)(\/[a-z_]+)?/ or next;
  my ($wall, $method, $what, $sub) = ($1, $2, $3, $4 // "");
  next if $what eq "sync"; # long polls: their wall time is waiting
  my $k = "$method $what" . ($what =~ /^(keys|account)$/ ? $sub : ""); $n{$k}++; $w{$k} += $wall;
  END { printf "    %-30s %4d requests, %6.1f s in all\n", $_, $n{$_}, $w{$_} for grep { defined } (sort { $w{$b} <=> $w{$a} } keys %w)[0..4] }'
inside systemctl restart townhall-chat
echo "all online, restored sessions: $(online) s"
echo "townhall.service restarts: $(inside systemctl show -p NRestarts --value townhall)"
proc townhall.service
proc townhall-chat.service
bash "$town" down >/dev/null
