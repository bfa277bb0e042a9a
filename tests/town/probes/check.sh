#!/bin/sh
# Run as the resident after a reset (her manager started fresh by root): one line per probe,
# "safe NAME" or "UNSAFE NAME: what survived".
M=${PROBE_MARK:-7000}
set -u
say() { if [ "$2" = 0 ]; then echo "safe $1"; else echo "UNSAFE $1: $3"; fi; }
gone() { [ ! -e "$2" ] && [ ! -L "$2" ]; say "$1" $? "$2 is still there"; }
noproc() { p=$(pgrep -u 1100 -f "sleep $2" | tr '\n' ' '); [ -z "$p" ]; say "$1" $? "pid(s) $p"; }

noproc bg_process "${M}1"
noproc reparented_process "${M}2"
noproc ignores_term "${M}3"
noproc stopped_process "${M}4"
noproc respawner "${M}5"
noproc userns_process "${M}6"
noproc transient_service "${M}7"
! systemctl --user list-timers --all --no-legend 2>/dev/null | grep -q probe-timer; say timer $? "probe-timer is armed"
! systemctl --user show-environment | grep -q PROBE_ENV; say manager_environment $? "PROBE_ENV still set"
! systemctl --user show-environment | grep -q LD_PRELOAD; say manager_ld_preload $? "LD_PRELOAD still set"
noproc enabled_unit "${M}8"
p=$(pgrep -u 1100 -f 'kworker/0:9-probe' | tr '\n' ' '); [ -z "$p" ]; say disguised_process $? "pid(s) $p"
gone runtime_dropin /run/user/1100/systemd/user/townhall-turn-.service.d/probe.conf
gone home_dropin "$HOME/.config/systemd/user/service.d/probe.conf"
gone tmp_file /tmp/probe-ada
gone tmp_hidden_tree /tmp/.probe-dir
gone var_tmp_file /var/tmp/probe-ada
gone dev_shm_file /dev/shm/probe-ada
gone file_in_foreign_dir /tmp/probe-root-dir/ada-inside
gone tmp_symlink /tmp/probe-link
gone tmp_fifo /tmp/probe-fifo
gone run_user_file /run/user/1100/probe-ada
gone run_lock_file /run/lock/probe-ada
! journalctl -q --no-pager 2>/dev/null | grep -q "probe-journal-${M}"; say journal_line $? "her line of last round is in the journal she reads"
d=$(find /run -xdev -path "/run/user/$(id -u)" -prune -o -user "$(id -u)" -print 2>/dev/null | head -n 3 | tr '\n' ' ')
[ -z "$d" ]; say run_owned_dirs $? "she owns $d on /run"
gone posix_mqueue /dev/mqueue/probe-ada
gone tmp_socket /tmp/probe-sock
gone dev_shm_setuid /dev/shm/probe-suid
n=$(ipcs -m -c | awk '$3 == "ada"' | wc -l); [ "$n" = 0 ]; say sysv_shm $? "$n segment(s)"
n=$(ipcs -q -c | awk '$3 == "ada"' | wc -l); [ "$n" = 0 ]; say sysv_msg $? "$n queue(s)"
n=$(ipcs -s -c | awk '$3 == "ada"' | wc -l); [ "$n" = 0 ]; say sysv_sem $? "$n semaphore set(s)"
perl -e 'my ($t, $d) = ("user", "probe-user-key"); exit(syscall(250, 10, -4, $t, $d, 0) > 0 ? 1 : 0)'; say user_keyring $? "the key is still in @u"
perl -e 'my ($t, $d) = ("user", "probe-session-key"); exit(syscall(250, 10, -5, $t, $d, 0) > 0 ? 1 : 0)'; say user_session_keyring $? "the key is still in @us"
gone home_file "$HOME/probe-scratch"
gone nested_subvolume "$HOME/probe-sv"
gone readonly_subvolume "$HOME/probe-sv-ro"
gone home_config "$HOME/.config/autostart/probe"
gone shell_rc "$HOME/.bashrc.d-probe"
exit 0
