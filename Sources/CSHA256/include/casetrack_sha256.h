// SHA-256 from the system's libcrypto (OpenSSL 3, Debian's libssl3): the hash chain of the
// events and the checksum of a register moved into the shared store. Wrapped here so that
// Swift sees four plain functions, not OpenSSL's headers and macros.
#ifndef CASETRACK_SHA256_H
#define CASETRACK_SHA256_H

#include <stddef.h>

/// A new hashing context, or NULL when libcrypto cannot make one (out of memory).
void *ct_sha256_begin(void);

/// Hashes `count` more bytes; non-zero on success.
int ct_sha256_update(void *context, const void *bytes, size_t count);

/// Writes the 32-byte digest to `digest` and frees the context; non-zero on success.
int ct_sha256_finish(void *context, unsigned char *digest);

/// Frees a context that is not finished.
void ct_sha256_free(void *context);

#endif
