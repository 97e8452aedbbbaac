#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "casetrack_session.h"

static int keep_table(void *context, const char *table) {
    (void)context;
    return strcmp(table, "case_counts") != 0;
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

// CRC32C: the SSE4.2 instruction where the processor has it, else a table.
static uint32_t table[256];
static int table_ready;

static uint32_t crc32c_table(uint32_t crc, const unsigned char *p, size_t n) {
    if (!table_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        table_ready = 1;
    }
    crc = ~crc;
    while (n--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t ct_crc32c(uint32_t crc, const void *data, size_t size) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return crc32c_sse42(crc, data, size);
#endif
    return crc32c_table(crc, data, size);
}
