# Sourced by boot-and-check.sh and deb-check.sh: boots the real systemd as PID 1 in private
# pid/mount/cgroup/net namespaces on a throw-away overlay of /, and gives the checks that run
# against it. Needs root, cgroup2 and overlayfs; no Docker. The host's /run, /sys and /etc
# stay untouched.
#
#   boot_preflight            exit 77 (with a SKIP line) when this machine cannot boot it
#   boot_systemd SETUP        SETUP: shell text run as root in the new mount namespace before
#                             systemd starts, with M the root to be and W a scratch folder;
#                             it may write M/etc/systemd/system/casetrack-test.target (the
#                             unit booted; by default basic.target and nothing else).
#                             Then PID1, IN (a prefix that runs a command inside).
#   boot_finish               powers it off and removes the scratch folder (boot_abort, the
#                             EXIT trap, does the same when a script stops early)
#   check NAME TEST, eventually TEST, as USER CMD

boot_preflight() {
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
    command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "SKIP: needs unshare and nsenter"; exit 77; }
    CG2=$(findmnt -n -t cgroup2 -o TARGET | head -1 || true)
    [ -n "$CG2" ] || { echo "SKIP: no cgroup2 mounted"; exit 77; }
}

boot_systemd() {
    W=$(mktemp -d)
    CG=$CG2/casetrack-test-$$; mkdir -p "$CG" "$W/merged" "$W/ovl"
    ( echo $BASHPID > "$CG/cgroup.procs"
      exec unshare --pid --fork --mount --cgroup --uts --ipc --net --propagation private \
        env W="$W" SETUP="$1" container=casetrack-test /bin/bash -euc '
      mount -t tmpfs -o mode=755 tmpfs $W/ovl; mkdir $W/ovl/up $W/ovl/work
      mount -t overlay overlay -o lowerdir=/,upperdir=$W/ovl/up,workdir=$W/ovl/work $W/merged
      M=$W/merged
      mount -t proc proc $M/proc
      # Read-only /proc/sys and /sys: the booted systemd must not change the host kernel settings.
      for p in sys sysrq-trigger; do [ -e $M/proc/$p ] || continue; mount --bind $M/proc/$p $M/proc/$p; mount -o remount,bind,ro $M/proc/$p; done
      mount -t sysfs -o ro,nosuid,nodev,noexec sysfs $M/sys
      mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 $M/sys/fs/cgroup
      for d in run tmp; do mount -t tmpfs -o mode=755,nosuid,nodev tmpfs $M/$d; done; chmod 1777 $M/tmp
      mount -t tmpfs -o mode=755,nosuid tmpfs $M/dev
      for d in null zero full random urandom tty; do touch $M/dev/$d; mount --bind /dev/$d $M/dev/$d; done
      mkdir $M/dev/pts $M/dev/shm; mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $M/dev/pts
      ln -s pts/ptmx $M/dev/ptmx; mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $M/dev/shm; touch $M/dev/console
      printf "[Unit]\nDescription=casetrack test\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n" \
        > $M/etc/systemd/system/casetrack-test.target
      eval "$SETUP"
      chroot $M sh -ec "rm -f /etc/machine-id; systemd-machine-id-setup >/dev/null 2>&1 || true"
      cd $M; mkdir .oldroot; pivot_root . .oldroot; umount -l /.oldroot
      exec /lib/systemd/systemd --unit=casetrack-test.target --log-target=journal --show-status=no </dev/null >/dev/null 2>&1
    ' ) &
    BOOT=$!
    PID1=""
    for i in $(seq 100); do PID1=$(pgrep -P $BOOT -x systemd || true); [ -n "$PID1" ] && break; sleep 0.1; done
    if [ -z "$PID1" ]; then echo "SKIP: systemd did not start as PID 1 here"; kill $BOOT 2>/dev/null || true; exit 77; fi
    IN="timeout ${BOOT_TIMEOUT:-60} nsenter -t $PID1 -a"
    trap boot_abort EXIT
    for i in $(seq 100); do $IN test -S /run/systemd/private && break; sleep 0.1; done
    $IN systemctl is-system-running --wait >/dev/null 2>&1 || true
}

cleanup() { $IN systemctl poweroff >/dev/null 2>&1 || kill -TERM $PID1 2>/dev/null || true; wait $BOOT 2>/dev/null || true
            find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null || true; }

boot_finish() { trap - EXIT; boot_abort; }
boot_abort() { cleanup; rm -rf "$W" 2>/dev/null || true; }

fail=0
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }
# `grep -q` leaves at the first match: under pipefail the writer then dies of SIGPIPE, and the
# check fails (or, negated, passes) by the timing of the two. This one reads to the end.
matches() { grep "$@" >/dev/null; }
eventually() { for i in $(seq 100); do eval "$1" && return 0; sleep 0.1; done; return 1; }
as() { local user=$1; shift; $IN su -s /bin/sh "$user" -c "$*"; }
