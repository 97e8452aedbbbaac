#!/bin/bash
# Checks casetrack's Debian package (DEB, from make deb) as an operator meets it: lintian,
# then, under a real systemd booted as in boot-and-check.sh, apt install (user, state folder,
# catalog, socket enabled and listening), access by group, a case across a restart, a newer
# database schema refused, an upgrade to a newer version (dpkg asks about the edited
# configuration and keeps it; the daemon restarts on the new binary), apt remove (stopped,
# data kept), apt purge (the register kept when nobody answered the question; a warning, then
# the register and the user deleted when told), then an office moved onto a throw-away
# PostgreSQL with the package's own daemon (when it was built with PostgreSQL and Debian's
# postgresql is installed). The newer version is DEB itself with a higher version and a
# changed default configuration. Prints one PASS/FAIL line per check; exits 1 on any FAIL, 77
# when this machine cannot boot it. Needs root, cgroup2 and overlayfs, dpkg-deb, lintian,
# sqlite3.
set -euo pipefail
DEB=${DEB:?set DEB to a casetrack_VERSION_ARCH.deb made by make deb}
[ -f "$DEB" ] || { echo "no such package: $DEB"; exit 1; }
. "$(dirname "$0")/boot-lib.sh"
boot_preflight

# The packages, where the booted root sees them (/debs) and apt's sandbox user may read them.
export DEBS=$(mktemp -d); chmod 755 "$DEBS"
trap 'rm -rf "$DEBS"' EXIT
V1=$(dpkg-deb -f "$DEB" Version); ARCH=$(dpkg-deb -f "$DEB" Architecture); V2=$V1+test2
cp "$DEB" "$DEBS/casetrack_${V1}_$ARCH.deb"
dpkg-deb -R "$DEB" "$DEBS/tree"
printf '\n# A line the newer version adds to the default configuration.\n' >> "$DEBS/tree/etc/casetrack/casetrackd.conf"
sed -i "s/^Version: .*/Version: $V2/" "$DEBS/tree/DEBIAN/control"
dpkg-deb -Znone -b "$DEBS/tree" "$DEBS/casetrack_${V2}_$ARCH.deb" >/dev/null
rm -rf "$DEBS/tree"
NEW=/debs/casetrack_${V2}_$ARCH.deb OLD=/debs/casetrack_${V1}_$ARCH.deb

# lintian as a user: it warns against running as root. Overrides (debian/*.lintian-overrides)
# say why each tag that remains is right. Run from the packages' folder: lintian changes back
# to the folder it started in, and a checkout in a folder of mode 0700 (mktemp -d) is not
# nobody's to enter.
check lintian-clean "cd '$DEBS' && runuser -u nobody -- lintian --fail-on error,warning '$DEBS/casetrack_${V1}_$ARCH.deb' >&2"

# A root like an office server's: nothing of casetrack, a user who will be in its group and
# one who will not. This machine's policy-rc.d (Docker's) forbids maintainer scripts to start
# services; a server has none.
boot_systemd '
  rm -f $M/usr/sbin/policy-rc.d
  mkdir $M/debs; mount --bind $DEBS $M/debs; mount -o remount,bind,ro $M/debs
  chroot $M sh -ec "useradd -m alice; useradd -m mallory"
'
trap 'boot_abort; rm -rf "$DEBS"' EXIT
APT="$IN env DEBIAN_FRONTEND=noninteractive apt-get -y -q"
DB=/var/lib/casetrack/casetrack.sqlite
LOG=$(mktemp -p "$DEBS")
# TRANSCRIPT=FILE keeps what every apt-get said, in order (what an operator sees).
run() { local status=0; "$@" >"$LOG" 2>&1 || status=$?; [ -z "${TRANSCRIPT:-}" ] || { echo "### ${*: -2}"; cat "$LOG"; } >> "$TRANSCRIPT"; return $status; }
# grep -q would leave at the first match, and the writer, killed by SIGPIPE, fail the pipe
# (pipefail): has reads it all.
has() { grep -- "$1" >/dev/null; }
said() { tr -s ' \r\n' '   ' < "$LOG" | has "$1"; }   # as one line: a frontend may wrap
# USER's COMMAND prints PATTERN; else what it printed goes to stderr, to see why.
shows() { local out status=0; out=$(as "$1" "$2" 2>&1) || status=$?
          grep -q -- "$3" <<<"$out" || { echo "($1: $2: exit $status) $out" >&2; return 1; }; }
as_daemon_user() { $IN runuser -u casetrack -- sh -c "umask 077; $*"; }

check installs-with-apt      "run $APT install $OLD"
check user-and-group         "$IN getent passwd casetrack | has ':/var/lib/casetrack:/usr/sbin/nologin$' && $IN getent group casetrack >/dev/null"
check state-dir-private      "[ \"\$($IN stat -c '%a %U' /var/lib/casetrack)\" = '700 casetrack' ]"
check catalog-updated        "$IN journalctl --list-catalog | has 'eaa710db8c294a9d8468b80f33d58a43 .*casetrackd serves'"
check socket-enabled         "[ \"\$($IN systemctl is-enabled casetrackd.socket)\" = enabled ]"
check socket-active          "$IN systemctl status --no-pager casetrackd.socket | has 'Active: active (listening)'"
check socket-group-and-mode  "[ \"\$($IN stat -c '%a %G' /run/casetrack.sock)\" = '660 casetrack' ]"
check not-started-yet        "! $IN systemctl is-active -q casetrackd.service"

# The operator's part: staff into the group, a role for it in the configuration file.
$IN usermod -aG casetrack alice
$IN sh -c 'printf "\n# office staff\nwriters = @casetrack\n" >> /etc/casetrack/casetrackd.conf'
check member-pings           "shows alice 'casectl ping' 'answers on /run/casetrack.sock (protocol 1, role writer)'"
check database-private       "$IN systemctl is-active -q casetrackd.service && [ \"\$($IN stat -c '%a %U' $DB)\" = '600 casetrack' ]"
check stranger-refused       "as mallory 'casectl ping' >/dev/null 2>&1; [ \$? -eq 69 ]"
check member-adds-case       "shows alice 'casectl add --name \"Мельник Тарас\" --category military --status captive' '^C-000001 added'"
check case-survives-restart  "$IN systemctl restart casetrackd.service && shows alice 'casectl get C-000001' 'Мельник Тарас'"

# A downgrade: the running daemon (a newer casetrack's) has migrated the database, then the
# older package goes in and restarts it. It must refuse the database, say why, and leave it
# as it is; the package must say the daemon did not start.
as_daemon_user "sqlite3 $DB \"INSERT INTO grdb_migrations VALUES ('v99: a newer casetrack')\""
check newer-schema-refused   "run $APT --reinstall install $OLD; ! $IN systemctl is-active -q casetrackd.service"
check refusal-says-why       "eventually \"$IN journalctl -q --no-pager -u casetrackd.service -p err -o cat | has 'written by a newer casetrackd'\""
check postinst-says-so       "said 'casetrackd did not start'"
v99_rows() { as_daemon_user "sqlite3 $DB \"SELECT count(*) FROM grdb_migrations WHERE identifier LIKE 'v99%'\""; }
check newer-schema-untouched '[ "$(v99_rows)" = 1 ]'
$IN systemctl stop casetrackd.service casetrackd.socket
as_daemon_user "sqlite3 $DB \"DELETE FROM grdb_migrations WHERE identifier LIKE 'v99%'\""
$IN systemctl reset-failed casetrackd.service casetrackd.socket 2>/dev/null || true
$IN systemctl start casetrackd.socket
as alice 'casectl ping' >/dev/null

# The newer version ships a changed default configuration: dpkg asks (the operator answers
# N, keep mine; unattended: -o Dpkg::Options::=--force-confold) and puts the new default
# beside it as casetrackd.conf.dpkg-dist.
PID=$($IN systemctl show -P MainPID casetrackd.service)
upgrade() { printf 'N\n' | run $IN env DEBIAN_FRONTEND=noninteractive apt-get -y -q install $NEW; }
check upgrade-with-apt       "upgrade && [ \"\$($IN dpkg-query -W -f '\${Version}' casetrack)\" = '$V2' ]"
check dpkg-asked             "said 'Package distributor has shipped an updated version'"
check conffile-edit-kept     "$IN grep -q '^writers = @casetrack$' /etc/casetrack/casetrackd.conf && $IN grep -q 'newer version adds' /etc/casetrack/casetrackd.conf.dpkg-dist"
restarted_on_new_binary() { local now; now=$($IN systemctl show -P MainPID casetrackd.service)
    [ "$now" != "$PID" ] && [ "$now" != 0 ] && [ "$($IN readlink /proc/$now/exe)" = /usr/bin/casetrackd ]; }
check upgrade-restarts       "$IN systemctl is-active -q casetrackd.service && restarted_on_new_binary"
check data-survives-upgrade  "shows alice 'casectl get C-000001' 'Мельник Тарас'"

check remove-with-apt        "run $APT remove casetrack && said 'the register stays in /var/lib/casetrack'"
check remove-stops-it        "! $IN systemctl is-active -q casetrackd.service && ! $IN systemctl is-active -q casetrackd.socket && ! $IN test -e /run/casetrack.sock && ! $IN pgrep -u casetrack >/dev/null"
check remove-keeps-data      "$IN test -s $DB && $IN getent passwd casetrack >/dev/null && $IN grep -q '^writers' /etc/casetrack/casetrackd.conf"

# Purge asks before deleting the register (debconf, casetrack/purge-register, default no).
# Unattended and unanswered, it keeps it; installed again, casetrack finds it. Asked (here on
# debconf's plain-text frontend), it warns, says how to keep a copy, and deletes when told.
check purge-unanswered-keeps "run $APT purge casetrack && said 'kept the register' && $IN test -s $DB && $IN getent passwd casetrack >/dev/null && ! $IN test -e /etc/casetrack/casetrackd.conf"
check reinstall-finds-it     "run $APT install $NEW && shows root 'casectl get C-000001' 'Мельник Тарас'"
purge_answering() { printf '%s\n' "$1" | run $IN env DEBIAN_FRONTEND=teletype apt-get -y -q purge casetrack; }
line_of() { grep -n -m1 -- "$1" "$LOG" | cut -d: -f1; }
warned_first() { said 'Deleting it cannot be undone' && said 'casectl backup' &&
                 [ "$(line_of 'Delete the casetrack register')" -lt "$(line_of 'deleted the register')" ]; }
check purge-warns-first      "purge_answering yes && warned_first"
check purge-deletes-it       "! $IN test -e /var/lib/casetrack && ! $IN getent passwd casetrack >/dev/null && ! $IN getent group casetrack >/dev/null"
check purge-leaves-nothing   "! $IN test -e /etc/casetrack && ! $IN test -e /lib/systemd/system/casetrackd.socket && ! $IN test -e /etc/systemd/system/sockets.target.wants/casetrackd.socket && [ -z \"\$($IN debconf-show casetrack)\" ]"
# An office that joins others on PostgreSQL, as README "Several offices" sets it up, with the
# package's own casetrackd under its hardened unit: a throw-away cluster in the root on the
# local socket (peer authentication), the register moved in, the daemon started on it.
# Last, on a fresh install: an office's copy stays one (a reinstall keeps it so).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
run $APT install $NEW
# A package built without the trait (make deb's default) says so, and these checks are skipped.
$IN sh -c 'printf "store = postgresql\npostgresql = \"host=/nonexistent dbname=x user=x\"\n" > /tmp/pg-probe.conf'
probe=$($IN casetrackd --config /tmp/pg-probe.conf --check-config 2>&1 || true)
if has 'built without PostgreSQL' <<<"$probe"; then
  echo "SKIP pg-*: this package's casetrackd was built without PostgreSQL (make test-deb PACKAGE_TRAITS=Postgres checks one built with it)"
elif [ -x "$PGBIN/initdb" ] && getent passwd postgres >/dev/null; then
  # No tmpfs on the root's /dev/shm: PostgreSQL's dynamic shared memory goes to files.
  $IN sh -ec "install -d -o postgres -g postgres /run/postgresql /var/tmp/pg
    cd /var/tmp/pg
    runuser -u postgres -- $PGBIN/initdb -D /var/tmp/pg/data -A peer >/dev/null
    runuser -u postgres -- $PGBIN/pg_ctl -D /var/tmp/pg/data -w -l /var/tmp/pg/log start \
      -o \"-k /run/postgresql -c listen_addresses= -c dynamic_shared_memory_type=mmap\" >/dev/null
    runuser -u postgres -- $PGBIN/createuser -h /run/postgresql casetrack
    runuser -u postgres -- $PGBIN/createdb -h /run/postgresql -O casetrack casetrack"
  $IN usermod -aG casetrack alice
  $IN sh -c 'printf "writers = @casetrack\n" >> /etc/casetrack/casetrackd.conf'
  check pg-office-before       "shows alice 'casectl add --name \"Кравець Андрій\" --category military --status captive' '^C-000001 added'"
  CONNINFO="host=/run/postgresql dbname=casetrack user=casetrack"
  psql() { $IN runuser -u postgres -- $PGBIN/psql -h /run/postgresql -d casetrack -At -c "$1"; }
  $IN systemctl stop casetrackd.socket casetrackd.service
  check pg-register-moved-in   "run $IN runuser -u casetrack -- casetrackd --config /etc/casetrack/casetrackd.conf --migrate-to-postgresql '$CONNINFO' && said 'into the shared register' && [ \"\$(psql 'SELECT count(*) FROM casetrack_register')\" = 1 ]"
  $IN sh -c "printf 'store = postgresql\npostgresql = \"%s\"\noffice = kyiv\n' '$CONNINFO' >> /etc/casetrack/casetrackd.conf"
  check pg-check-config        "run $IN runuser -u casetrack -- casetrackd --config /etc/casetrack/casetrackd.conf --check-config && said 'the shared store answers'"
  $IN systemctl start casetrackd.socket
  check pg-serves-register     "shows alice 'casectl get C-000001' 'Кравець Андрій'"
  rounds() { psql 'SELECT count(*) FROM casetrack_rounds'; }
  R0=$(rounds)
  check pg-records-write       "shows alice 'casectl add --name \"Бондар Олена\" --category civilian --status missing' '^C-000002 added' && [ \"\$(rounds)\" -gt '$R0' ] && shows alice 'casectl history C-000002' 'kyiv'"
else
  echo "SKIP pg-*: no PostgreSQL server here (make deps installs Debian's postgresql)"
fi

[ -n "${SHOW:-}" ] && $IN sh -c "$SHOW"
[ "$fail" -eq 0 ] || { echo "--- output of the last apt-get:"; cat "$LOG"; } >&2
boot_finish
rm -rf "$DEBS"; trap - EXIT
exit $fail
