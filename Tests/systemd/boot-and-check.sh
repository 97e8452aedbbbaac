#!/bin/bash
# Boots the real systemd as PID 1 in private pid/mount/cgroup/net namespaces on a throw-away
# overlay of /, installs casetrack there the way `make install` does (STAGE: a DESTDIR tree),
# and checks what an operator would: socket activation, STATUS, group access, journal
# fields, reload, clean stop, watchdog restart. Prints one PASS/FAIL line per check; exits 1
# on any FAIL, 77 when this machine cannot boot it (no root, no cgroup2, no unshare).
# Needs root, cgroup2 and overlayfs; no Docker. The host's /run, /sys and /etc stay untouched.
set -euo pipefail
export STAGE=${STAGE:?set STAGE to a DESTDIR tree made by make install-files}
. "$(dirname "$0")/boot-lib.sh"
boot_preflight
# casetrack, installed as make install does, plus what only this test wants: a short
# watchdog, and a target that boots just enough.
boot_systemd '
  cp -a $STAGE/. $M/
  # The shipped configuration grants no one a role: the members of group casetrack write here.
  printf "writers = @casetrack\n" >> $M/etc/casetrack/casetrackd.conf
  mkdir -p $M/etc/systemd/system/casetrackd.service.d
  printf "[Service]\nWatchdogSec=3s\nTimeoutAbortSec=3s\n" > $M/etc/systemd/system/casetrackd.service.d/test.conf
  # make test-asan installs an ASan build: its leak check at exit cannot stop the world under
  # the seccomp filter of the unit, so it takes the same options as the tests.
  if [ -n "${ASAN_OPTIONS:-}" ]; then printf "Environment=ASAN_OPTIONS=%s\n" "$ASAN_OPTIONS" >> $M/etc/systemd/system/casetrackd.service.d/test.conf; fi
  printf "[Unit]\nDescription=casetrack test\nRequires=basic.target casetrackd.socket\nAfter=basic.target casetrackd.socket\nAllowIsolate=yes\n" \
    > $M/etc/systemd/system/casetrack-test.target
  chroot $M sh -ec "systemd-sysusers
                    useradd -m -G casetrack alice; useradd -m mallory"
'

CTL="env CASETRACK_SOCKET=/run/casetrack.sock /usr/local/bin/casectl"
ALICE=$($IN id -u alice)

check sysusers-made-the-user "$IN getent passwd casetrack | matches ':/var/lib/casetrack:/usr/sbin/nologin$'"
check socket-listening       "$IN systemctl is-active -q casetrackd.socket"
check socket-group-and-mode  "[ \"\$($IN stat -c '%a %G' /run/casetrack.sock)\" = '660 casetrack' ]"
check not-started-before-use "! $IN systemctl is-active -q casetrackd.service"
check first-connect-starts   "as alice '$CTL ping' | matches 'answers on /run/casetrack.sock'"
check service-active         "$IN systemctl is-active -q casetrackd.service"
check status-text            "$IN systemctl show -P StatusText casetrackd.service | grep -Eq '^serving [0-9]+ cases, [0-9]+ subscribers, last event [0-9]+, chain head [0-9a-f]{16}$'"
check outsider-refused       "as mallory '$CTL ping' >/dev/null 2>&1; [ \$? -eq 69 ]"
check group-member-writes    "as alice '$CTL add --name \"Мельник Тарас\" --category military --status captive' | matches '^C-000001 added'"
check actor-is-the-peer      "as alice '$CTL history C-000001 --json' | matches '\"actor_uid\":$ALICE'"
check status-follows         "eventually \"$IN systemctl status --no-pager casetrackd.service | matches 'Status: .serving 1 cases, 0 subscribers, last event 1.'\""
check state-dir-private      "[ \"\$($IN stat -c '%a %U' /var/lib/casetrack)\" = '700 casetrack' ] && [ \"\$($IN stat -c '%a %U' /var/lib/casetrack/casetrack.sqlite)\" = '600 casetrack' ]"
check journal-fields         "$IN journalctl -q --no-pager -u casetrackd.service MESSAGE_ID=a118ca677e75492aa1a979a12e5157a5 CASETRACK_CASE=C-000001 -o verbose | matches 'CASETRACK_PEER_UID=$ALICE'"
check journal-ready-id       "$IN journalctl -q --no-pager -u casetrackd.service MESSAGE_ID=eaa710db8c294a9d8468b80f33d58a43 -o cat | matches ready"
check no-name-in-journal     "! $IN journalctl -q --no-pager -u casetrackd.service -o verbose | matches 'Мельник'"
PID=$($IN systemctl show -P MainPID casetrackd.service)
check reload-keeps-process   "$IN systemctl reload casetrackd.service && [ \"\$($IN systemctl show -P MainPID casetrackd.service)\" = '$PID' ] && $IN systemctl is-active -q casetrackd.service"
check reload-logged          "eventually \"$IN journalctl -q --no-pager -u casetrackd.service MESSAGE_ID=68e26490ee8c41878e9db2cd54742265 -o cat | matches 'configuration reloaded'\""
check clean-stop             "$IN systemctl stop casetrackd.socket casetrackd.service && [ \"\$($IN systemctl show -P Result casetrackd.service)\" = success ] && [ \"\$($IN systemctl show -P ExecMainStatus casetrackd.service)\" = 0 ] && ! $IN test -e /run/casetrack.sock"
check stop-logged            "$IN journalctl -q --no-pager -u casetrackd.service MESSAGE_ID=19214a6a4cd24c098e8206a736a6c5eb -o cat | matches stopped"
$IN systemctl start casetrackd.socket
as alice "$CTL ping" >/dev/null
PID=$($IN systemctl show -P MainPID casetrackd.service)
# A hung daemon: stopped dead, it sends no keep-alive; systemd must kill and restart it.
$IN kill -STOP "$PID"
restarted() { for i in $(seq 300); do
                NEW=$($IN systemctl show -P MainPID casetrackd.service)
                [ "$NEW" != "$PID" ] && [ "$NEW" != 0 ] && $IN systemctl is-active -q casetrackd.service && return 0; sleep 0.1; done; return 1; }
check watchdog-restarts      "restarted && [ \"\$($IN systemctl show -P NRestarts casetrackd.service)\" -ge 1 ]"
check data-survives-restart  "as alice '$CTL get C-000001' | matches 'Мельник Тарас'"
[ -n "${SHOW:-}" ] && $IN sh -c "$SHOW"
boot_finish
exit $fail
