/* The LMDB backend's product writes: batches of create/update/upsert, and delete,
 * each keeping the sku, category and count indexes and the event log in step. */
#include <string.h>

#include "lmdb_internal.h"

#define KEY_BUF 512
/* LMDB's largest value (MAXDATASIZE). */
#define MAX_VALUE 0xffffffffu

/* A product as stored before the write, copied out of the map: this txn's own
 * writes may reuse the dirty pages an earlier item of the batch left it on. */
typedef struct stored {
    int exists;
    int corrupt;
    unsigned char *header; /* heap copy of the value's header */
    ecom__lmdb_view view;  /* decoded from header */
} stored;

static void stored_free(stored *s)
{
    if (s->exists)
        ecom__lmdb_view_free(&s->view);
    ecom__free(s->header);
    s->header = NULL;
    s->exists = 0;
}

static MDB_val str_key(const char *s)
{
    return (MDB_val){strlen(s) + 1, (void *)s};
}

/* Loads product id; returns only fatal errors (a bad value sets s->corrupt). */
static int load_stored(ecom__lmdb *be, MDB_txn *txn, const char *id, stored *s)
{
    MDB_val k = str_key(id), v;
    int rc = mdb_get(txn, be->products, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (products)", rc);
    ecom__lmdb_view view;
    rc = ecom__lmdb_product_decode(&view, id, v.mv_data, v.mv_size);
    if (rc == ECOM_ECORRUPT) {
        s->corrupt = 1;
        return ECOM_OK;
    }
    if (rc != ECOM_OK)
        return ecom__lmdb_fail(be, rc, "lmdb: out of memory decoding product");
    size_t hlen = (size_t)((const unsigned char *)view.rec.data - (const unsigned char *)v.mv_data);
    ecom__lmdb_view_free(&view);
    if ((s->header = ecom__malloc(hlen)) == NULL)
        return ecom__lmdb_fail(be, ECOM_ENOMEM, "lmdb: out of memory copying product");
    memcpy(s->header, v.mv_data, hlen);
    rc = ecom__lmdb_product_decode(&s->view, id, s->header, hlen);
    if (rc != ECOM_OK)
        return ecom__lmdb_fail(be, rc, "lmdb: product header changed while copied");
    s->exists = 1;
    return ECOM_OK;
}

static int corrupt_product(ecom__lmdb *be, const char *id)
{
    char q[160];
    ecom__lmdb_quote(q, sizeof q, id, strlen(id));
    return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: product %s: stored value does not parse",
                           q);
}

/* ---- index maintenance ---- */

/* Deletes sku's index entry if it names id (a wrong entry is not ours to drop). */
static int sku_del_owned(ecom__lmdb *be, MDB_txn *txn, const char *sku, const char *id)
{
    MDB_val k = str_key(sku), v;
    int rc = mdb_get(txn, be->skus, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (skus)", rc);
    if (!ecom__lmdb_is_cstr(v.mv_data, v.mv_size) || strcmp(v.mv_data, id) != 0)
        return ECOM_OK;
    rc = mdb_del(txn, be->skus, &k, NULL);
    return rc ? ecom__lmdb_mdb(be, "mdb_del (skus)", rc) : ECOM_OK;
}

static int has_sku(const ecom_product_rec *rec, const char *sku)
{
    for (size_t i = 0; i < rec->sku_count; i++)
        if (strcmp(rec->skus[i], sku) == 0)
            return 1;
    return 0;
}

/* Drops the old skus the new record no longer lists, then adds the new ones. */
static int skus_update(ecom__lmdb *be, MDB_txn *txn, const ecom_product_rec *rec,
                       const ecom_product_rec *old)
{
    int rc;
    for (size_t i = 0; old && i < old->sku_count; i++)
        if (!has_sku(rec, old->skus[i]) &&
            (rc = sku_del_owned(be, txn, old->skus[i], rec->id)) != ECOM_OK)
            return rc;
    MDB_val v = str_key(rec->id);
    for (size_t i = 0; i < rec->sku_count; i++) {
        MDB_val k = str_key(rec->skus[i]), d = v;
        /* Entries already ours stay untouched: NOOVERWRITE stops before dirtying a page. */
        rc = mdb_put(txn, be->skus, &k, &d, MDB_NOOVERWRITE);
        if (rc != 0 && rc != MDB_KEYEXIST)
            return ecom__lmdb_mdb(be, "mdb_put (skus)", rc);
    }
    return ECOM_OK;
}

/* Adds delta (+1 or -1) to category cat's count; a count of 0 is deleted. */
static int cats_add(ecom__lmdb *be, MDB_txn *txn, const char *cat, int delta)
{
    if (*cat == '\0')
        return ECOM_OK; /* uncategorised products are not a category */
    MDB_val k = str_key(cat), v;
    uint64_t n = 0;
    int rc = mdb_get(txn, be->cats, &k, &v);
    if (rc == 0 && v.mv_size != 8)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: count of category '%.256s' is malformed",
                               cat);
    if (rc == 0)
        n = ecom__lmdb_get_u64(v.mv_data);
    else if (rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(be, "mdb_get (cats)", rc);
    if (delta > 0 && n == UINT64_MAX)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: count of category '%.256s' overflows",
                               cat);
    n = delta > 0 ? n + 1 : n ? n - 1 : 0;
    if (n == 0) {
        rc = rc == 0 ? mdb_del(txn, be->cats, &k, NULL) : 0;
        return rc ? ecom__lmdb_mdb(be, "mdb_del (cats)", rc) : ECOM_OK;
    }
    unsigned char buf[8];
    ecom__lmdb_put_u64(buf, n);
    v = (MDB_val){sizeof buf, buf};
    rc = mdb_put(txn, be->cats, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(be, "mdb_put (cats)", rc) : ECOM_OK;
}

/* Files id under cat (add) or takes it out (remove), count included. */
static int bycat_file(ecom__lmdb *be, MDB_txn *txn, const char *cat, const char *id, int add)
{
    char buf[KEY_BUF];
    MDB_val k = {ecom__lmdb_bycat_key(buf, sizeof buf, cat, id), buf}, v = {0, NULL};
    int rc = add ? mdb_put(txn, be->bycat, &k, &v, 0) : mdb_del(txn, be->bycat, &k, NULL);
    if (rc == MDB_NOTFOUND && !add)
        return ECOM_OK; /* already gone: nothing to undo, and the count is check's to judge */
    if (rc != 0)
        return ecom__lmdb_mdb(be, add ? "mdb_put (bycat)" : "mdb_del (bycat)", rc);
    return cats_add(be, txn, cat, add ? 1 : -1);
}

static int category_update(ecom__lmdb *be, MDB_txn *txn, const ecom_product_rec *rec,
                           const ecom_product_rec *old)
{
    if (old && strcmp(old->category, rec->category) == 0)
        return ECOM_OK;
    int rc = old ? bycat_file(be, txn, old->category, rec->id, 0) : ECOM_OK;
    return rc ? rc : bycat_file(be, txn, rec->category, rec->id, 1);
}

static int product_put(ecom__lmdb *be, MDB_txn *txn, const ecom_product_rec *rec,
                       const ecom_product_meta *meta)
{
    size_t hsize = ecom__lmdb_product_header_size(rec);
    MDB_val k = str_key(rec->id), v = {hsize + rec->data_len, NULL};
    int rc = mdb_put(txn, be->products, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_put (products)", rc);
    ecom__lmdb_product_encode(v.mv_data, rec, meta);
    return ECOM_OK;
}

/* ---- product_write ---- */

typedef struct write_ctx {
    ecom_product_write *writes;
    size_t n;
    int64_t now;
    uint64_t seq;
    int seq_known;
} write_ctx;

/* Shapes LMDB cannot store (or the format cannot encode); ECOM_OK if none. */
static int item_shape(ecom__lmdb *be, const ecom_product_rec *r)
{
    if (r->id == NULL || *r->id == '\0' || r->category == NULL ||
        (r->sku_count && r->skus == NULL) || (r->data_len && r->data == NULL))
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product write lacks id, category, "
                                                "skus or data");
    if (r->status < 0 || r->status > 255)
        return ecom__lmdb_fail(be, ECOM_ESTATUS, "lmdb: status %d does not fit", r->status);
    size_t idl = strlen(r->id), cl = strlen(r->category);
    if (idl + 1 > be->max_key || cl + idl + 3 > be->max_key || cl + idl + 3 > KEY_BUF)
        return ecom__lmdb_fail(be, ECOM_ETOOLONG, "lmdb: id or category too long for a key");
    for (size_t i = 0; i < r->sku_count; i++) {
        if (r->skus[i] == NULL || *r->skus[i] == '\0')
            return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: sku %zu is empty", i);
        if (strlen(r->skus[i]) + 1 > be->max_key)
            return ecom__lmdb_fail(be, ECOM_ETOOLONG, "lmdb: sku %zu too long for a key", i);
    }
    size_t hsize = ecom__lmdb_product_header_size(r);
    if (hsize == 0 || r->data_len > MAX_VALUE || hsize > MAX_VALUE - r->data_len)
        return ecom__lmdb_fail(be, ECOM_ETOOLONG, "lmdb: product value too large");
    return ECOM_OK;
}

static int item_mode(ecom__lmdb *be, const ecom_product_write *w, const stored *old)
{
    char q[160];
    ecom__lmdb_quote(q, sizeof q, w->rec.id, strlen(w->rec.id));
    if (old->corrupt)
        return corrupt_product(be, w->rec.id);
    if (w->mode != ECOM_WRITE_CREATE && w->mode != ECOM_WRITE_UPDATE &&
        w->mode != ECOM_WRITE_UPSERT)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: unknown write mode %d", (int)w->mode);
    if (w->mode == ECOM_WRITE_CREATE && old->exists)
        return ecom__lmdb_fail(be, ECOM_EEXISTS, "product %s already exists", q);
    if (w->mode == ECOM_WRITE_UPDATE && !old->exists)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "product %s not found", q);
    if (w->mode == ECOM_WRITE_UPDATE && w->expected_version != ECOM_VERSION_ANY &&
        w->expected_version != old->view.meta.version)
        return ecom__lmdb_fail(be, ECOM_ECONFLICT, "product %s is at version %llu, not %llu", q,
                               (unsigned long long)old->view.meta.version,
                               (unsigned long long)w->expected_version);
    /* The next version must not reach ECOM_VERSION_ANY. */
    if (old->exists && old->view.meta.version >= UINT64_MAX - 1)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "product %s: version cannot grow", q);
    return ECOM_OK;
}

/* Refuses (via *result) a sku owned by another product; returns fatal errors. */
static int item_skus(ecom__lmdb *be, MDB_txn *txn, const ecom_product_rec *r, int *result)
{
    for (size_t i = 0; i < r->sku_count; i++) {
        MDB_val k = str_key(r->skus[i]), v;
        int rc = mdb_get(txn, be->skus, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return ecom__lmdb_mdb(be, "mdb_get (skus)", rc);
        if (ecom__lmdb_is_cstr(v.mv_data, v.mv_size) && strcmp(v.mv_data, r->id) == 0)
            continue;
        char qs[160], qo[160];
        ecom__lmdb_quote(qs, sizeof qs, r->skus[i], strlen(r->skus[i]));
        ecom__lmdb_quote(qo, sizeof qo, v.mv_data, v.mv_size ? v.mv_size - 1 : 0);
        *result = ecom__lmdb_fail(be, ECOM_EDUPSKU, "sku %s belongs to product %s", qs, qo);
        return ECOM_OK;
    }
    return ECOM_OK;
}

static int item_apply(ecom__lmdb *be, MDB_txn *txn, write_ctx *c, ecom_product_write *w,
                      const stored *old)
{
    const ecom_product_rec *prev = old->exists ? &old->view.rec : NULL;
    ecom_product_meta meta = {1, c->now, c->now};
    if (prev) {
        meta.version = old->view.meta.version + 1;
        meta.created_at = old->view.meta.created_at;
    }
    int rc = skus_update(be, txn, &w->rec, prev);
    if (rc == ECOM_OK)
        rc = category_update(be, txn, &w->rec, prev);
    if (rc == ECOM_OK)
        rc = product_put(be, txn, &w->rec, &meta);
    if (rc == ECOM_OK && !c->seq_known && (rc = ecom__lmdb_last_seq(be, txn, &c->seq)) == 0)
        c->seq_known = 1;
    if (rc == ECOM_OK)
        rc = ecom__lmdb_event_append(be, txn, &c->seq, c->now,
                                     prev ? "product.updated" : "product.created", w->rec.id,
                                     meta.version);
    if (rc == ECOM_OK) {
        w->created = prev == NULL;
        w->meta = meta;
    }
    return rc;
}

/* Judges one item, then applies it if it passed; returns only fatal errors. */
static int write_item(ecom__lmdb *be, MDB_txn *txn, write_ctx *c, ecom_product_write *w)
{
    stored old = {0};
    w->created = 0;
    w->meta = (ecom_product_meta){0};
    if ((w->result = item_shape(be, &w->rec)) != ECOM_OK)
        return ECOM_OK;
    int rc = load_stored(be, txn, w->rec.id, &old);
    if (rc != ECOM_OK)
        goto cleanup;
    if (old.exists)
        w->meta = old.view.meta; /* a refused item still says what is stored */
    if ((w->result = item_mode(be, w, &old)) == ECOM_OK)
        rc = item_skus(be, txn, &w->rec, &w->result);
    if (rc == ECOM_OK && w->result == ECOM_OK)
        rc = item_apply(be, txn, c, w, &old);
cleanup:
    stored_free(&old);
    return rc;
}

static int write_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    write_ctx *c = ctx;
    c->seq_known = 0; /* a rerun after growing the map starts over */
    for (size_t i = 0; i < c->n; i++) {
        int rc = write_item(be, txn, c, &c->writes[i]);
        if (rc != ECOM_OK)
            return rc;
    }
    return ECOM_OK;
}

int ecom__lmdb_product_write(ecom_backend *base, ecom_product_write *writes, size_t n,
                             int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (writes == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product_write needs writes");
    write_ctx c = {writes, n, now, 0, 0};
    int rc = ecom__lmdb_write(be, write_fn, &c);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++) {
            writes[i].result = rc; /* nothing was applied */
            writes[i].created = 0;
        }
    return rc;
}

/* ---- product_delete ---- */

typedef struct delete_ctx {
    const char *id;
    uint64_t expected;
    int64_t now;
} delete_ctx;

static int product_remove(ecom__lmdb *be, MDB_txn *txn, const ecom_product_rec *rec)
{
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < rec->sku_count; i++)
        rc = sku_del_owned(be, txn, rec->skus[i], rec->id);
    if (rc == ECOM_OK)
        rc = bycat_file(be, txn, rec->category, rec->id, 0);
    if (rc != ECOM_OK)
        return rc;
    MDB_val k = str_key(rec->id);
    rc = mdb_del(txn, be->products, &k, NULL);
    return rc ? ecom__lmdb_mdb(be, "mdb_del (products)", rc) : ECOM_OK;
}

static int delete_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    delete_ctx *c = ctx;
    stored old = {0};
    char q[160];
    ecom__lmdb_quote(q, sizeof q, c->id, strlen(c->id));
    int rc = load_stored(be, txn, c->id, &old);
    if (rc != ECOM_OK)
        goto cleanup;
    if (old.corrupt)
        rc = corrupt_product(be, c->id);
    else if (!old.exists)
        rc = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "product %s not found", q);
    else if (c->expected != ECOM_VERSION_ANY && c->expected != old.view.meta.version)
        rc = ecom__lmdb_fail(be, ECOM_ECONFLICT, "product %s is at version %llu, not %llu", q,
                             (unsigned long long)old.view.meta.version,
                             (unsigned long long)c->expected);
    else
        rc = product_remove(be, txn, &old.view.rec);
    uint64_t seq = 0;
    if (rc == ECOM_OK)
        rc = ecom__lmdb_last_seq(be, txn, &seq);
    if (rc == ECOM_OK)
        rc = ecom__lmdb_event_append(be, txn, &seq, c->now, "product.deleted", c->id, 0);
cleanup:
    stored_free(&old);
    return rc;
}

int ecom__lmdb_product_delete(ecom_backend *base, const char *id, uint64_t expected_version,
                              int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (id == NULL || *id == '\0')
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: product_delete needs an id");
    if (strlen(id) + 1 > be->max_key)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "product id too long to exist");
    delete_ctx c = {id, expected_version, now};
    return ecom__lmdb_write(be, delete_fn, &c);
}
