// sqlite3_config is variadic, which Swift cannot call; this target already wraps the parts of
// SQLite that GRDB's module does not offer.
#include <sqlite3.h>

#include "casetrack_session.h"

int ct_sqlite_statement_journal_spill(int bytes) {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes);
}

int ct_sqlite_memory_statistics(int on) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, on);
}
