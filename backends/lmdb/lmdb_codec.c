/* The LMDB backend's value encoding: product headers, bycat keys, events. */
#include <string.h>

#include "lmdb_internal.h"

/*
 * A product value:
 *   u64 version, i64 created_at, i64 updated_at, u8 status,
 *   u16 category length, category bytes, NUL,
 *   u32 sku count, then per sku: u16 length, bytes, NUL,
 *   then the opaque content up to the end of the value.
 * An event value:
 *   i64 time, u64 version, u16 type length, type, NUL, u16 key length, key, NUL.
 * Strings keep their NUL in the map so decoding can point at them.
 */
#define PRODUCT_FIXED 25u /* version, created, updated, status */
#define EVENT_FIXED 16u   /* time, version */

void ecom__lmdb_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t ecom__lmdb_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void ecom__lmdb_put_u64be(unsigned char p[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

uint64_t ecom__lmdb_get_u64be(const unsigned char p[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_u16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static size_t get_u16(const unsigned char *p)
{
    return (size_t)p[0] | (size_t)p[1] << 8;
}

static void put_u32(unsigned char *p, size_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t get_u32(const unsigned char *p)
{
    return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

int ecom__lmdb_is_cstr(const void *v, size_t n)
{
    return n > 0 && memchr(v, '\0', n) == (const char *)v + n - 1;
}

/* Adds a length-prefixed string's size to *total; 0 if it does not fit. */
static int add_str(size_t *total, const char *s)
{
    size_t len = strlen(s);
    if (len > UINT16_MAX || *total > SIZE_MAX - (len + 3))
        return 0;
    *total += len + 3;
    return 1;
}

size_t ecom__lmdb_product_header_size(const ecom_product_rec *rec)
{
    size_t total = PRODUCT_FIXED + 4;
    if (rec->sku_count > UINT32_MAX || !add_str(&total, rec->category))
        return 0;
    for (size_t i = 0; i < rec->sku_count; i++)
        if (!add_str(&total, rec->skus[i]))
            return 0;
    return total;
}

static unsigned char *put_str(unsigned char *p, const char *s)
{
    size_t len = strlen(s);
    put_u16(p, len);
    memcpy(p + 2, s, len + 1);
    return p + 2 + len + 1;
}

void ecom__lmdb_product_encode(unsigned char *out, const ecom_product_rec *rec,
                               const ecom_product_meta *meta)
{
    ecom__lmdb_put_u64(out, meta->version);
    ecom__lmdb_put_u64(out + 8, (uint64_t)meta->created_at);
    ecom__lmdb_put_u64(out + 16, (uint64_t)meta->updated_at);
    out[24] = (unsigned char)rec->status;
    unsigned char *p = put_str(out + PRODUCT_FIXED, rec->category);
    put_u32(p, rec->sku_count);
    p += 4;
    for (size_t i = 0; i < rec->sku_count; i++)
        p = put_str(p, rec->skus[i]);
    if (rec->data_len)
        memcpy(p, rec->data, rec->data_len);
}

/* A cursor over a value being decoded: every read is bounds-checked. */
typedef struct reader {
    const unsigned char *p, *end;
} reader;

static const char *get_str(reader *r)
{
    if (r->end - r->p < 2)
        return NULL;
    size_t len = get_u16(r->p);
    if ((size_t)(r->end - r->p - 2) < len + 1)
        return NULL;
    const char *s = (const char *)r->p + 2;
    if (!ecom__lmdb_is_cstr(s, len + 1))
        return NULL;
    r->p += 2 + len + 1;
    return s;
}

static int decode_skus(ecom__lmdb_view *view, reader *r)
{
    if (r->end - r->p < 4)
        return ECOM_ECORRUPT;
    size_t count = get_u32(r->p);
    r->p += 4;
    /* Each sku takes at least 3 bytes: a count the value cannot hold is corrupt,
     * which also bounds the allocation below. */
    if (count > (size_t)(r->end - r->p) / 3)
        return ECOM_ECORRUPT;
    const char **skus = view->skus_stack;
    if (count > ECOM__LMDB_STACK_SKUS) {
        skus = view->skus_heap = ecom__calloc(count, sizeof *skus);
        if (skus == NULL)
            return ECOM_ENOMEM;
    }
    for (size_t i = 0; i < count; i++)
        if ((skus[i] = get_str(r)) == NULL)
            return ECOM_ECORRUPT;
    view->rec.skus = skus;
    view->rec.sku_count = count;
    return ECOM_OK;
}

int ecom__lmdb_product_decode(ecom__lmdb_view *view, const char *id, const void *v, size_t n)
{
    view->skus_heap = NULL;
    if (n < PRODUCT_FIXED)
        return ECOM_ECORRUPT;
    const unsigned char *b = v;
    view->meta.version = ecom__lmdb_get_u64(b);
    view->meta.created_at = (int64_t)ecom__lmdb_get_u64(b + 8);
    view->meta.updated_at = (int64_t)ecom__lmdb_get_u64(b + 16);
    view->rec.id = id;
    view->rec.status = b[24];
    reader r = {b + PRODUCT_FIXED, b + n};
    if ((view->rec.category = get_str(&r)) == NULL)
        return ECOM_ECORRUPT;
    int rc = decode_skus(view, &r);
    if (rc != ECOM_OK) {
        ecom__lmdb_view_free(view);
        return rc;
    }
    view->rec.data = r.p;
    view->rec.data_len = (size_t)(r.end - r.p);
    return ECOM_OK;
}

void ecom__lmdb_view_free(ecom__lmdb_view *view)
{
    ecom__free(view->skus_heap);
    view->skus_heap = NULL;
}

size_t ecom__lmdb_bycat_key(char *out, size_t out_size, const char *category, const char *id)
{
    size_t cl = strlen(category), il = strlen(id);
    if (cl > out_size || il > out_size || cl + il + 3 > out_size)
        return 0;
    memcpy(out, category, cl);
    out[cl] = '/';
    out[cl + 1] = '\0';
    memcpy(out + cl + 2, id, il + 1);
    return cl + il + 3;
}

int ecom__lmdb_bycat_split(const MDB_val *key, const char **cat, size_t *cat_len,
                           const char **id)
{
    const char *k = key->mv_data;
    const char *nul = memchr(k, '\0', key->mv_size);
    if (nul == NULL || nul == k || nul[-1] != '/')
        return -1;
    size_t rest = key->mv_size - (size_t)(nul + 1 - k);
    /* The id is non-empty and ends the key with its own NUL. */
    if (rest < 2 || !ecom__lmdb_is_cstr(nul + 1, rest))
        return -1;
    *cat = k;
    *cat_len = (size_t)(nul - 1 - k);
    *id = nul + 1;
    return 0;
}

size_t ecom__lmdb_event_size(const char *type, const char *key)
{
    size_t total = EVENT_FIXED;
    if (!add_str(&total, type) || !add_str(&total, key))
        return 0;
    return total;
}

void ecom__lmdb_event_encode(unsigned char *out, const ecom_event_rec *ev)
{
    ecom__lmdb_put_u64(out, (uint64_t)ev->time);
    ecom__lmdb_put_u64(out + 8, ev->version);
    put_str(put_str(out + EVENT_FIXED, ev->type), ev->key);
}

int ecom__lmdb_event_decode(ecom_event_rec *ev, const void *v, size_t n)
{
    if (n < EVENT_FIXED)
        return ECOM_ECORRUPT;
    const unsigned char *b = v;
    ev->time = (int64_t)ecom__lmdb_get_u64(b);
    ev->version = ecom__lmdb_get_u64(b + 8);
    reader r = {b + EVENT_FIXED, b + n};
    if ((ev->type = get_str(&r)) == NULL || (ev->key = get_str(&r)) == NULL || r.p != r.end)
        return ECOM_ECORRUPT;
    return ECOM_OK;
}
