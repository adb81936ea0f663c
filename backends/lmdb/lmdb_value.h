/*
 * The LMDB backend's value encoding primitives, shared by its codecs: little-endian
 * integers, and strings stored as a u16 length, the bytes and a NUL (so a reader can
 * hand out pointers into the map as C strings). Writers fill space the caller sized
 * with ecom__lv_str_size; every read is bounds-checked, and a short or malformed read
 * marks the reader bad (its values then read as 0 or "").
 */
#ifndef ECOM_LMDB_VALUE_H
#define ECOM_LMDB_VALUE_H

#include <string.h>

#include "lmdb_internal.h"

typedef struct ecom__lv_writer {
    unsigned char *p;
} ecom__lv_writer;

typedef struct ecom__lv_reader {
    const unsigned char *p, *end;
    int bad;
} ecom__lv_reader;

static inline void ecom__lv_w_i64(ecom__lv_writer *w, int64_t v)
{
    ecom__lmdb_put_u64(w->p, (uint64_t)v);
    w->p += 8;
}

static inline void ecom__lv_w_u8(ecom__lv_writer *w, int v)
{
    *w->p++ = (unsigned char)v;
}

static inline void ecom__lv_w_u16(ecom__lv_writer *w, size_t v)
{
    w->p[0] = (unsigned char)v;
    w->p[1] = (unsigned char)(v >> 8);
    w->p += 2;
}

/* The caller sized the value with ecom__lv_str_size, so the length fits a u16. */
static inline void ecom__lv_w_str(ecom__lv_writer *w, const char *s)
{
    size_t len = strlen(s);
    ecom__lv_w_u16(w, len);
    memcpy(w->p, s, len + 1);
    w->p += len + 1;
}

/* Adds a string's encoded size to *total; 0 if its length does not fit a u16. */
static inline int ecom__lv_str_size(const char *s, size_t *total)
{
    size_t len = strlen(s);
    if (len > UINT16_MAX)
        return 0;
    *total += len + 3;
    return 1;
}

static inline ecom__lv_reader ecom__lv_reader_of(const MDB_val *v)
{
    const unsigned char *p = v->mv_data;
    return (ecom__lv_reader){p, p + v->mv_size, 0};
}

static inline int ecom__lv_have(ecom__lv_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n)
        r->bad = 1;
    return !r->bad;
}

static inline int64_t ecom__lv_r_i64(ecom__lv_reader *r)
{
    if (!ecom__lv_have(r, 8))
        return 0;
    int64_t v = (int64_t)ecom__lmdb_get_u64(r->p);
    r->p += 8;
    return v;
}

static inline int ecom__lv_r_u8(ecom__lv_reader *r)
{
    return ecom__lv_have(r, 1) ? *r->p++ : 0;
}

static inline size_t ecom__lv_r_u16(ecom__lv_reader *r)
{
    if (!ecom__lv_have(r, 2))
        return 0;
    size_t v = (size_t)r->p[0] | (size_t)r->p[1] << 8;
    r->p += 2;
    return v;
}

static inline const char *ecom__lv_r_str(ecom__lv_reader *r)
{
    size_t len = ecom__lv_r_u16(r);
    if (!ecom__lv_have(r, len + 1) || !ecom__lmdb_is_cstr(r->p, len + 1)) {
        r->bad = 1;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += len + 1;
    return s;
}

#endif
