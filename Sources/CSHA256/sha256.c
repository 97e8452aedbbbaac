#include "casetrack_sha256.h"

#include <openssl/evp.h>

void *ct_sha256_begin(void) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) return NULL;
    if (EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(context);
        return NULL;
    }
    return context;
}

int ct_sha256_update(void *context, const void *bytes, size_t count) {
    return EVP_DigestUpdate((EVP_MD_CTX *)context, bytes, count) == 1;
}

int ct_sha256_finish(void *context, unsigned char *digest) {
    unsigned int length = 0;
    int done = EVP_DigestFinal_ex((EVP_MD_CTX *)context, digest, &length) == 1 && length == 32;
    EVP_MD_CTX_free((EVP_MD_CTX *)context);
    return done;
}

void ct_sha256_free(void *context) {
    EVP_MD_CTX_free((EVP_MD_CTX *)context);
}
