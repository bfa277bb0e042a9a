#!/bin/sh
# Run as the resident (ada) before a reset: plant everything a hostile resident would leave
# behind to outlive the round. check.sh, after the reset, says whether any of it survived.
# Every plant prints "planted NAME" so the test knows it really was planted.
M=${PROBE_MARK:-7000}   # sleep durations carry the mark, so the processes can be found
set -u
ok() { echo "planted $1"; }
# Background processes must not hold the caller's stdout open.
exec </dev/null 2>/dev/null
bg() { "$@" >/dev/null 2>&1 & }

# Processes, every way a child can leave its parent behind.
bg setsid nohup sleep "${M}1"; ok bg_process
( setsid sh -c "sleep ${M}2 &" >/dev/null 2>&1 & ) ; ok reparented_process
bg setsid sh -c "trap '' TERM HUP INT; sleep ${M}3"; ok ignores_term
bg sleep "${M}4"; p=$!; sleep 0.3; kill -STOP $p && ok stopped_process
bg setsid sh -c "while :; do sleep ${M}5 & wait; done"; ok respawner
bg setsid perl -e '$0 = "[kworker/0:9-probe]"; sleep 100000'; ok disguised_process
if unshare -Ur true; then bg setsid unshare -Ur sleep "${M}6"; else bg setsid sleep "${M}6"; fi; ok userns_process

# Her user manager: units, timers, environment, an enabled unit from the old home.
systemd-run --user --quiet --unit=probe-svc sleep "${M}7" && ok transient_service
systemd-run --user --quiet --unit=probe-timer --on-calendar='*:0/1' /bin/true && ok timer
systemctl --user set-environment PROBE_ENV=planted LD_PRELOAD=/tmp/probe-preload.so && ok manager_environment
mkdir -p ~/.config/systemd/user
printf '[Service]\nExecStart=/bin/sleep %s8\n[Install]\nWantedBy=default.target\n' "$M" > ~/.config/systemd/user/probe-enabled.service
systemctl --user daemon-reload && systemctl --user enable --now --quiet probe-enabled.service && ok enabled_unit
mkdir -p /run/user/1100/systemd/user/townhall-turn-.service.d
printf '[Service]\nExecStart=\nExecStart=/bin/sh -c "echo hijacked"\n' > /run/user/1100/systemd/user/townhall-turn-.service.d/probe.conf && ok runtime_dropin
mkdir -p ~/.config/systemd/user/service.d
printf '[Service]\nMemoryMax=infinity\n' > ~/.config/systemd/user/service.d/probe.conf && ok home_dropin

# Files in the shared writable places.
echo x > /tmp/probe-ada && ok tmp_file
mkdir -p /tmp/.probe-dir/deep && echo x > /tmp/.probe-dir/deep/file && ok tmp_hidden_tree
echo x > /var/tmp/probe-ada && ok var_tmp_file
echo x > /dev/shm/probe-ada && ok dev_shm_file
[ -d /tmp/probe-root-dir ] && echo x > /tmp/probe-root-dir/ada-inside && ok file_in_foreign_dir
ln -s /etc/shadow /tmp/probe-link && ok tmp_symlink
mkfifo /tmp/probe-fifo && ok tmp_fifo
echo x > /run/user/1100/probe-ada && ok run_user_file
echo x > /run/lock/probe-ada && ok run_lock_file
logger -t townhall-probe "probe-journal-${M}" && ok journal_line
touch /dev/mqueue/probe-ada 2>/dev/null && ok posix_mqueue
perl -e 'use Socket; socket(S, PF_UNIX, SOCK_STREAM, 0) && bind(S, pack_sockaddr_un("/tmp/probe-sock")) || exit 1' && ok tmp_socket
echo x > /dev/shm/probe-suid && chmod 4755 /dev/shm/probe-suid && ok dev_shm_setuid

# SysV IPC (perl-base's built-ins) and keyrings (add_key(2) by number).
perl -e 'use IPC::SysV qw(IPC_PRIVATE IPC_CREAT S_IRWXU); shmget(IPC_PRIVATE, 4096, IPC_CREAT|S_IRWXU) // exit 1' && ok sysv_shm
perl -e 'use IPC::SysV qw(IPC_PRIVATE IPC_CREAT S_IRWXU); msgget(IPC_PRIVATE, IPC_CREAT|S_IRWXU) // exit 1' && ok sysv_msg
perl -e 'use IPC::SysV qw(IPC_PRIVATE IPC_CREAT S_IRWXU); semget(IPC_PRIVATE, 1, IPC_CREAT|S_IRWXU) // exit 1' && ok sysv_sem
# Keys only where the reset that follows can clear them: inside systemd-nspawn the daemon
# and the boot reset run under its seccomp filter, which refuses keyctl to every process in
# the container (a resident's turns included), so only the CLI reset (entered from
# outside, as ada's plant is) can reach them there. PROBE_KEYRINGS=1 plants them.
if [ "${PROBE_KEYRINGS:-0}" = 1 ]; then
  perl -e 'my ($t, $d, $p) = ("user", "probe-user-key", "secret"); exit(syscall(248, $t, $d, $p, 6, -4) > 0 ? 0 : 1)' && ok user_keyring
  perl -e 'my ($t, $d, $p) = ("user", "probe-session-key", "secret"); exit(syscall(248, $t, $d, $p, 6, -5) > 0 ? 0 : 1)' && ok user_session_keyring
fi

# Her home and persisted tree.
echo x > ~/probe-scratch && ok home_file
btrfs subvolume create ~/probe-sv >/dev/null && echo x > ~/probe-sv/f && ok nested_subvolume
btrfs subvolume snapshot -r ~/probe-sv ~/probe-sv-ro >/dev/null && ok readonly_subvolume
mkdir -p ~/.config/autostart && echo x > ~/.config/autostart/probe && ok home_config
echo x > ~/.bashrc.d-probe && ok shell_rc
exit 0
