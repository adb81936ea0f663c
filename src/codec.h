/*
 * The primitives of libecom's compact binary records (products: record.c; orders:
 * order_codec.c): LEB128 varints (signed ones zigzag-encoded), length-prefixed
 * strings, and a two-pass reader that first checks and measures what a decode will
 * take (arena == NULL), then fills one arena block of exactly that size.
 * Inline: they are the inner loop of every read of a product or an order.
 */
#ifndef ECOM_CODEC_H
#define ECOM_CODEC_H

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define ECOM__MAX_ALIGN ((size_t)alignof(max_align_t))

/* A writer that counts bytes (out == NULL) or appends them into reserved room. */
typedef struct ecom__writer {
    ecom__buf *out;
    size_t n;
} ecom__writer;

static inline void ecom__put_bytes(ecom__writer *w, const void *data, size_t len)
{
    if (w->out && len) {
        memcpy(w->out->data + w->out->len, data, len);
        w->out->len += len;
    }
    w->n += len;
}

static inline void ecom__put_uvarint(ecom__writer *w, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    ecom__put_bytes(w, tmp, n);
}

static inline void ecom__put_svarint(ecom__writer *w, int64_t v)
{
    ecom__put_uvarint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline void ecom__put_str(ecom__writer *w, const char *s)
{
    size_t len = strlen(s);
    ecom__put_uvarint(w, len);
    ecom__put_bytes(w, s, len);
}

/*
 * The decoder's state. In the measuring pass arena is NULL and `need` sums the arena
 * bytes the decoded value will take (alignment slack included); in the filling pass
 * the same reads copy into the arena.
 */
typedef struct ecom__reader {
    const unsigned char *at, *end;
    ecom__arena *arena; /* NULL while measuring */
    size_t need;
} ecom__reader;


static inline int ecom__reader_need(ecom__reader *r, size_t n)
{
    if (n > SIZE_MAX - r->need)
        return ECOM_ECORRUPT;
    r->need += n;
    return ECOM_OK;
}

static inline size_t ecom__reader_left(const ecom__reader *r)
{
    return (size_t)(r->end - r->at);
}

static inline int ecom__get_uvarint(ecom__reader *r, uint64_t *out)
{
    /* Most varints (lengths, counts) are one byte. */
    if (r->at < r->end && *r->at < 0x80) {
        *out = *r->at++;
        return ECOM_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->at == r->end)
            return ECOM_ECORRUPT;
        unsigned char b = *r->at++;
        /* The tenth byte may hold only the top bit of a 64-bit value. */
        if (shift == 63 && b > 1)
            return ECOM_ECORRUPT;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return ECOM_OK;
        }
    }
    return ECOM_ECORRUPT;
}

static inline int ecom__get_svarint(ecom__reader *r, int64_t *out)
{
    uint64_t u;
    int rc = ecom__get_uvarint(r, &u);
    if (rc)
        return rc;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return ECOM_OK;
}

/* A count of items of at least min_size bytes each, which must fit what is left. */
static inline int ecom__get_count(ecom__reader *r, size_t min_size, size_t *out)
{
    uint64_t n;
    int rc = ecom__get_uvarint(r, &n);
    if (rc)
        return rc;
    if (n > ecom__reader_left(r) / min_size)
        return ECOM_ECORRUPT;
    *out = (size_t)n;
    return ECOM_OK;
}

static inline int ecom__get_str(ecom__reader *r, const char **out)
{
    uint64_t len;
    int rc = ecom__get_uvarint(r, &len);
    if (rc)
        return rc;
    if (len > ecom__reader_left(r))
        return ECOM_ECORRUPT;
    const char *s = (const char *)r->at;
    size_t n = (size_t)len;
    r->at += n;
    if (r->arena == NULL) {
        /* A NUL inside would cut the string short: the record is not ours. The
         * filling pass reads the same bytes, so only this pass looks. */
        if (memchr(s, '\0', n))
            return ECOM_ECORRUPT;
        return n ? ecom__reader_need(r, n + 1) : ECOM_OK;
    }
    if (n == 0) {
        *out = "";
        return ECOM_OK;
    }
    char *copy = ecom__arena_strndup(r->arena, s, n);
    if (copy == NULL)
        return ECOM_ENOMEM;
    *out = copy;
    return ECOM_OK;
}

/* An array of n elements: measured, or taken from the arena. */
static inline void *ecom__get_array(ecom__reader *r, size_t n, size_t elem, int *rc)
{
    *rc = ECOM_OK;
    if (n == 0)
        return NULL;
    if (n > (SIZE_MAX - ECOM__MAX_ALIGN) / elem) {
        *rc = ECOM_ECORRUPT;
        return NULL;
    }
    if (r->arena == NULL) {
        *rc = ecom__reader_need(r, n * elem + ECOM__MAX_ALIGN - 1);
        return NULL;
    }
    void *arr = ecom__arena_alloc(r->arena, n * elem);
    if (arr == NULL)
        *rc = ECOM_ENOMEM;
    return arr;
}

#endif
