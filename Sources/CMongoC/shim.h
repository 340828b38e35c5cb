#ifndef CMONGOC_SHIM_H
#define CMONGOC_SHIM_H

#include <stdlib.h>
#include <string.h>
#include <mongoc/mongoc.h>

/*
 * bson_t and bson_iter_t are declared 128-byte aligned, so Swift imports them as opaque
 * pointers and cannot place them itself. These helpers allocate them, aligned, on the heap.
 */

/* Storage for a reply document that a libmongoc call initialises. Free with cmongoc_reply_free. */
static inline bson_t *cmongoc_reply_new(void) {
    void *storage = NULL;
    if (posix_memalign(&storage, 128, sizeof(bson_t)) != 0) return NULL;
    memset(storage, 0, sizeof(bson_t));
    return (bson_t *) storage;
}

/* Destroys a reply that a libmongoc call initialised, then frees its storage. */
static inline void cmongoc_reply_free(bson_t *reply) {
    bson_destroy(reply);
    free(reply);
}

static inline bson_iter_t *cmongoc_iter_new(void) {
    void *storage = NULL;
    if (posix_memalign(&storage, 128, sizeof(bson_iter_t)) != 0) return NULL;
    memset(storage, 0, sizeof(bson_iter_t));
    return (bson_iter_t *) storage;
}

static inline void cmongoc_iter_free(bson_iter_t *iter) { free(iter); }

static inline bson_error_t cmongoc_error_make(void) {
    bson_error_t error;
    memset(&error, 0, sizeof error);
    return error;
}

#endif
