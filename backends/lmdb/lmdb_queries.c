/* The LMDB backend's product reads: get, get by sku, scans, the category list.
 * Each runs in one read snapshot and hands out pointers into the map. */
#include <string.h>

#include "lmdb_internal.h"

#define KEY_BUF 512

static int corrupt(ecom__lmdb *be, const char *what, const void *key, size_t len)
{
    char q[200];
    ecom__lmdb_quote(q, sizeof q, key, len);
    return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: %s %s", what, q);
}

/* Decodes product id's value into view; ECOM_ECORRUPT is reported. */
static int decode(ecom__lmdb *be, ecom__lmdb_view *view, const char *id, const MDB_val *v)
{
    int rc = ecom__lmdb_product_decode(view, id, v->mv_data, v->mv_size);
    if (rc == ECOM_ECORRUPT)
        return corrupt(be, "stored value does not parse: product", id, strlen(id));
    if (rc != ECOM_OK)
        return ecom__lmdb_fail(be, rc, "lmdb: out of memory decoding product");
    return ECOM_OK;
}

/* fn's 1 (or any positive) stops a visit early and is no error. */
static int visit(ecom_product_fn fn, void *ctx, const ecom__lmdb_view *view, const void *key,
                 size_t key_len)
{
    int rc = fn(ctx, &view->rec, &view->meta, key, key_len);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

/* Looks up product id (a C string, maybe in the map) and hands it to fn. With
 * need_sku (a lookup through the sku index), the product must exist and list it. */
static int get_and_visit(ecom__lmdb *be, MDB_txn *txn, const char *id, const char *need_sku,
                         ecom_product_fn fn, void *ctx)
{
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    int rc = mdb_get(txn, be->products, &k, &v);
    if (rc == MDB_NOTFOUND && need_sku)
        return corrupt(be, "sku index points at a missing product: sku", need_sku,
                       strlen(need_sku));
    if (rc == MDB_NOTFOUND) {
        char q[160];
        ecom__lmdb_quote(q, sizeof q, id, strlen(id));
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "product %s not found", q);
    }
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (products)", rc);
    ecom__lmdb_view view;
    if ((rc = decode(be, &view, id, &v)) != ECOM_OK)
        return rc;
    int listed = need_sku == NULL;
    for (size_t i = 0; !listed && i < view.rec.sku_count; i++)
        listed = strcmp(view.rec.skus[i], need_sku) == 0;
    if (listed)
        rc = visit(fn, ctx, &view, id, strlen(id));
    else
        rc = corrupt(be, "sku index names a product that does not list the sku:", need_sku,
                     strlen(need_sku));
    ecom__lmdb_view_free(&view);
    return rc < 0 ? rc : ECOM_OK;
}

int ecom__lmdb_product_get(ecom_backend *base, const char *id, ecom_product_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (id == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product_get needs id and fn");
    if (*id == '\0' || strlen(id) + 1 > be->max_key)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "product id empty or too long to exist");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = get_and_visit(be, r.txn, id, NULL, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

static int get_by_sku(ecom__lmdb *be, MDB_txn *txn, const char *sku, ecom_product_fn fn,
                      void *ctx)
{
    MDB_val k = {strlen(sku) + 1, (void *)sku}, v;
    int rc = mdb_get(txn, be->skus, &k, &v);
    if (rc == MDB_NOTFOUND) {
        char q[160];
        ecom__lmdb_quote(q, sizeof q, sku, strlen(sku));
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "no product has sku %s", q);
    }
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (skus)", rc);
    if (!ecom__lmdb_is_cstr(v.mv_data, v.mv_size) || v.mv_size > be->max_key)
        return corrupt(be, "sku index entry is malformed:", sku, strlen(sku));
    return get_and_visit(be, txn, v.mv_data, sku, fn, ctx);
}

int ecom__lmdb_product_get_by_sku(ecom_backend *base, const char *sku, ecom_product_fn fn,
                                  void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sku == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product_get_by_sku needs sku and fn");
    if (*sku == '\0' || strlen(sku) + 1 > be->max_key)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "sku empty or too long to exist");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = get_by_sku(be, r.txn, sku, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- scans ---- */

static int bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : an < bn ? -1 : an > bn ? 1 : 0;
}

/*
 * Puts the cursor on the first key >= start, skipping start itself when
 * exclusive. Keys handed to callbacks lack their final NUL, so a resume key
 * gets it back before the search.
 */
static int seek(MDB_cursor *cur, MDB_val *key, MDB_val *val, const void *start, size_t len,
                int exclusive)
{
    MDB_val k = {len, (void *)start};
    int rc = mdb_cursor_get(cur, &k, val, MDB_SET_RANGE);
    if (rc == 0 && exclusive && bytes_cmp(k.mv_data, k.mv_size, start, len) == 0)
        rc = mdb_cursor_get(cur, &k, val, MDB_NEXT);
    *key = k;
    return rc;
}

typedef struct scan_state {
    ecom__lmdb *be;
    MDB_txn *txn;
    MDB_cursor *cur;
    ecom_product_fn fn;
    void *ctx;
} scan_state;

static int scan_ids(scan_state *s, const ecom_scan *scan)
{
    ecom__lmdb *be = s->be;
    char start[KEY_BUF];
    MDB_val key, val;
    int rc;
    if (scan->after) {
        if (scan->after_len + 1 > sizeof start)
            return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: scan resume key too long");
        memcpy(start, scan->after, scan->after_len);
        start[scan->after_len] = '\0';
        rc = seek(s->cur, &key, &val, start, scan->after_len + 1, 1);
    } else {
        rc = mdb_cursor_get(s->cur, &key, &val, MDB_FIRST);
    }
    for (; rc == 0; rc = mdb_cursor_get(s->cur, &key, &val, MDB_NEXT)) {
        if (!ecom__lmdb_is_cstr(key.mv_data, key.mv_size) || key.mv_size < 2)
            return corrupt(be, "malformed product key", key.mv_data, key.mv_size);
        ecom__lmdb_view view;
        if ((rc = decode(be, &view, key.mv_data, &val)) != ECOM_OK)
            return rc;
        rc = visit(s->fn, s->ctx, &view, key.mv_data, key.mv_size - 1);
        ecom__lmdb_view_free(&view);
        if (rc != 0)
            return rc < 0 ? rc : ECOM_OK;
    }
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "mdb_cursor_get (products)", rc);
}

/* One bycat entry: its product, which must be filed under the entry's category. */
static int visit_filed(scan_state *s, const MDB_val *key)
{
    const char *cat, *id;
    size_t cat_len;
    if (ecom__lmdb_bycat_split(key, &cat, &cat_len, &id) != 0)
        return corrupt(s->be, "malformed category index key", key->mv_data, key->mv_size);
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    int rc = mdb_get(s->txn, s->be->products, &k, &v);
    if (rc == MDB_NOTFOUND)
        return corrupt(s->be, "category index names a missing product:", id, strlen(id));
    if (rc != 0)
        return ecom__lmdb_mdb(s->be, "mdb_get (products)", rc);
    ecom__lmdb_view view;
    if ((rc = decode(s->be, &view, id, &v)) != ECOM_OK)
        return rc;
    if (strlen(view.rec.category) != cat_len || memcmp(view.rec.category, cat, cat_len) != 0)
        rc = corrupt(s->be, "category index files a product elsewhere:", id, strlen(id));
    else
        rc = visit(s->fn, s->ctx, &view, key->mv_data, key->mv_size - 1);
    ecom__lmdb_view_free(&view);
    return rc;
}

static int scan_category(scan_state *s, const ecom_scan *scan)
{
    ecom__lmdb *be = s->be;
    char prefix[KEY_BUF], start[KEY_BUF];
    size_t plen = strlen(scan->category) + 1;
    if (plen > sizeof prefix || (scan->after && scan->after_len + 1 > sizeof start))
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: scan category or resume key too long");
    memcpy(prefix, scan->category, plen - 1);
    prefix[plen - 1] = '/';
    /* The subtree of "a/b" is exactly the keys starting "a/b/". */
    const char *from = prefix;
    size_t from_len = plen;
    if (scan->after) {
        memcpy(start, scan->after, scan->after_len);
        start[scan->after_len] = '\0';
        if (bytes_cmp(start, scan->after_len + 1, prefix, plen) > 0) {
            from = start;
            from_len = scan->after_len + 1;
        }
    }
    MDB_val key, val;
    int rc = seek(s->cur, &key, &val, from, from_len, from == start);
    for (; rc == 0; rc = mdb_cursor_get(s->cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < plen || memcmp(key.mv_data, prefix, plen) != 0)
            return ECOM_OK;
        if ((rc = visit_filed(s, &key)) != 0)
            return rc < 0 ? rc : ECOM_OK;
    }
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "mdb_cursor_get (bycat)", rc);
}

int ecom__lmdb_product_scan(ecom_backend *base, const ecom_scan *scan, ecom_product_fn fn,
                            void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (scan == NULL || fn == NULL || (scan->after == NULL && scan->after_len != 0))
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product_scan needs scan and fn");
    int by_cat = scan->category && *scan->category;
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    scan_state s = {be, r.txn, NULL, fn, ctx};
    rc = mdb_cursor_open(r.txn, by_cat ? be->bycat : be->products, &s.cur);
    if (rc != 0) {
        rc = ecom__lmdb_mdb(be, "mdb_cursor_open", rc);
    } else {
        rc = by_cat ? scan_category(&s, scan) : scan_ids(&s, scan);
        mdb_cursor_close(s.cur);
    }
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- categories ---- */

static int list_categories(ecom__lmdb *be, MDB_cursor *cur, ecom_category_fn fn, void *ctx)
{
    MDB_val key, val;
    int rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (!ecom__lmdb_is_cstr(key.mv_data, key.mv_size) || val.mv_size != 8)
            return corrupt(be, "malformed category count", key.mv_data, key.mv_size);
        if ((rc = fn(ctx, key.mv_data, ecom__lmdb_get_u64(val.mv_data))) != 0)
            return rc < 0 ? rc : ECOM_OK;
    }
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "mdb_cursor_get (cats)", rc);
}

int ecom__lmdb_category_list(ecom_backend *base, ecom_category_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: category_list needs fn");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(r.txn, be->cats, &cur)) != 0) {
        rc = ecom__lmdb_mdb(be, "mdb_cursor_open (cats)", rc);
    } else {
        rc = list_categories(be, cur, fn, ctx);
        mdb_cursor_close(cur);
    }
    ecom__lmdb_read_end(be, &r);
    return rc;
}
