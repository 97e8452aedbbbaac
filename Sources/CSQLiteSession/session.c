#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "casetrack_session.h"

static int keep_table(void *context, const char *table) {
    (void)context;
    return strcmp(table, "case_counts") != 0 && strcmp(table, "office_local") != 0;
}

void *ct_session_begin(void *db, int *rc) {
    sqlite3_session *session = NULL;
    *rc = sqlite3session_create((sqlite3 *)db, "main", &session);
    if (*rc != SQLITE_OK) return NULL;
    sqlite3session_table_filter(session, keep_table, NULL);
    *rc = sqlite3session_attach(session, NULL);
    if (*rc != SQLITE_OK) {
        sqlite3session_delete(session);
        return NULL;
    }
    return session;
}

int ct_session_changeset(void *session, int *size, void **bytes) {
    return sqlite3session_changeset((sqlite3_session *)session, size, bytes);
}

int ct_session_isempty(void *session) { return sqlite3session_isempty((sqlite3_session *)session); }

void ct_session_end(void *session) { sqlite3session_delete((sqlite3_session *)session); }

void ct_free(void *bytes) { sqlite3_free(bytes); }

struct conflict {
    char *message;
    size_t capacity;
};

static int on_conflict(void *context, int kind, sqlite3_changeset_iter *iterator) {
    struct conflict *conflict = context;
    const char *table = "?";
    int columns = 0, operation = 0, indirect = 0;
    sqlite3changeset_op(iterator, &table, &columns, &operation, &indirect);
    const char *what = kind == SQLITE_CHANGESET_DATA ? "a row holds other values than expected"
        : kind == SQLITE_CHANGESET_NOTFOUND ? "a row to change is missing"
        : kind == SQLITE_CHANGESET_CONFLICT ? "a row to insert is there already"
        : kind == SQLITE_CHANGESET_CONSTRAINT ? "a constraint failed"
        : "a foreign key failed";
    if (conflict->capacity > 0) snprintf(conflict->message, conflict->capacity, "table %s: %s", table, what);
    return SQLITE_CHANGESET_ABORT;
}

int ct_changeset_apply(void *db, int size, const void *bytes, char *message, size_t capacity) {
    struct conflict conflict = {message, capacity};
    if (capacity > 0) message[0] = 0;
    return sqlite3changeset_apply((sqlite3 *)db, size, (void *)bytes, NULL, on_conflict, &conflict);
}
