// SQLite's session extension, which records the rows a transaction changes as a changeset
// and applies one to another copy of the database: how an office's database follows the
// shared register (the rounds kept in PostgreSQL, see SharedLog.swift).
// Debian's libsqlite3 is built with SQLITE_ENABLE_SESSION; its header declares the session
// API only under that macro, which GRDB's own module does not set, so the calls are wrapped
// here behind plain pointers.
#ifndef CASETRACK_SESSION_H
#define CASETRACK_SESSION_H

#include <stddef.h>
#include <stdint.h>

/// Starts recording the changes made through `db` (a sqlite3 *) to every table but
/// `case_counts` (kept by triggers, which fire again when a changeset is applied) and
/// `office_local` (what belongs to one office's copy alone). NULL, with
/// SQLite's result code in `*rc`, when it cannot.
void *ct_session_begin(void *db, int *rc);

/// The changes recorded so far, as a changeset in `*bytes` (free it with ct_free) of `*size`
/// bytes; an SQLite result code.
int ct_session_changeset(void *session, int *size, void **bytes);

/// Non-zero when nothing was recorded yet.
int ct_session_isempty(void *session);

void ct_session_end(void *session);

void ct_free(void *bytes);

/// Applies a changeset to `db`; any conflict (a row not as the changeset expects it) aborts
/// and changes nothing. An SQLite result code; SQLITE_ABORT after a conflict, with a message
/// naming the table in `message` (of `capacity` bytes).
int ct_changeset_apply(void *db, int size, const void *bytes, char *message, size_t capacity);

/// How many bytes of a statement journal (and a savepoint's sub-journal) SQLite keeps in
/// memory before it spills to a temporary file (SQLITE_CONFIG_STMTJRNL_SPILL). Only before
/// SQLite's first use in the process: SQLITE_MISUSE after.
int ct_sqlite_statement_journal_spill(int bytes);

/// SQLITE_CONFIG_MEMSTATUS, before the first connection: with it on, every allocation of every
/// connection takes one process-wide mutex.
int ct_sqlite_memory_statistics(int on);

#endif
