// libsystemd, as casetrackd uses it: sd-daemon (notify, socket activation, watchdog) and
// sd-journal (structured logging). No _GNU_SOURCE here: it clashes with SwiftGlibc.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
