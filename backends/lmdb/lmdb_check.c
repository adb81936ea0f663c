/* The LMDB backend's consistency check: every record against every index, in
 * one snapshot, each violation reported with the key it concerns. */
#include <stdio.h>
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

#define KEY_BUF 512
#define QUOTE 200

typedef struct checker {
    ecom__lmdb *be;
    MDB_txn *txn;
    ecom_check_sink *sink;
} checker;

/* A violation, through the sink of checker c. */
#define report(c, ...) ecom__lmdb_report((c)->sink, __VA_ARGS__)

static void quote(char out[QUOTE], const void *s, size_t n)
{
    ecom__lmdb_quote(out, QUOTE, s, n);
}

/* A C-string key without its NUL, quoted. */
static void quote_key(char out[QUOTE], const MDB_val *k)
{
    quote(out, k->mv_data, k->mv_size && ((const char *)k->mv_data)[k->mv_size - 1] == '\0'
                               ? k->mv_size - 1
                               : k->mv_size);
}

typedef int (*entry_fn)(checker *c, const MDB_val *key, const MDB_val *val);

/* Runs each entry of dbi through fn (ecom__lmdb_each, with the checker typed). */
typedef struct each_ctx {
    checker *c;
    entry_fn fn;
} each_ctx;

static int each_entry(void *ctx, const MDB_val *key, const MDB_val *val)
{
    each_ctx *e = ctx;
    return e->fn(e->c, key, val);
}

static int each(checker *c, MDB_dbi dbi, const char *name, entry_fn fn)
{
    each_ctx e = {c, fn};
    return ecom__lmdb_each(c->be, c->txn, dbi, name, each_entry, &e);
}

/* Looks up a C-string key; *found is 0/1, and the return only a failure to look. */
static int lookup(checker *c, MDB_dbi dbi, const char *key, size_t len, MDB_val *val,
                  int *found)
{
    MDB_val k = {len, (void *)key};
    int rc = mdb_get(c->txn, dbi, &k, val);
    *found = rc == 0;
    if (rc == 0 || rc == MDB_NOTFOUND)
        return ECOM_OK;
    return ecom__lmdb_mdb(c->be, "mdb_get (check)", rc);
}

/* ---- products ---- */

static int product_sku(checker *c, const ecom_product_rec *rec, size_t i, const char *qid)
{
    const char *sku = rec->skus[i];
    char qs[QUOTE], qo[QUOTE];
    quote(qs, sku, strlen(sku));
    for (size_t j = 0; j < i; j++)
        if (strcmp(rec->skus[j], sku) == 0)
            report(c, "product %s lists sku %s twice", qid, qs);
    MDB_val v;
    int found, rc = lookup(c, c->be->skus, sku, strlen(sku) + 1, &v, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found)
        report(c, "product %s lists sku %s but the sku index has no entry for it", qid, qs);
    else if (!ecom__lmdb_is_cstr(v.mv_data, v.mv_size) || strcmp(v.mv_data, rec->id) != 0) {
        quote_key(qo, &v);
        report(c, "product %s lists sku %s but the sku index gives it to product %s", qid, qs,
               qo);
    }
    return ECOM_OK;
}

static int product_indexes(checker *c, const ecom_product_rec *rec, const char *qid)
{
    int rc;
    for (size_t i = 0; i < rec->sku_count; i++)
        if ((rc = product_sku(c, rec, i, qid)) != ECOM_OK)
            return rc;
    char key[KEY_BUF], qc[QUOTE];
    size_t len = ecom__lmdb_bycat_key(key, sizeof key, rec->category, rec->id);
    quote(qc, rec->category, strlen(rec->category));
    if (len == 0) {
        report(c, "product %s: category %s is too long for the category index", qid, qc);
        return ECOM_OK;
    }
    MDB_val v;
    int found;
    if ((rc = lookup(c, c->be->bycat, key, len, &v, &found)) != ECOM_OK)
        return rc;
    if (!found)
        report(c, "product %s (category %s) is missing from the category index", qid, qc);
    return ECOM_OK;
}

static int check_product(checker *c, const MDB_val *key, const MDB_val *val)
{
    char qid[QUOTE];
    quote_key(qid, key);
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) || key->mv_size < 2) {
        report(c, "products: malformed key %s", qid);
        return ECOM_OK;
    }
    ecom__lmdb_view view;
    int rc = ecom__lmdb_product_decode(&view, key->mv_data, val->mv_data, val->mv_size);
    if (rc == ECOM_ECORRUPT) {
        report(c, "product %s: stored value does not parse", qid);
        return ECOM_OK;
    }
    if (rc != ECOM_OK)
        return ecom__lmdb_fail(c->be, rc, "lmdb: out of memory in check");
    if (view.meta.version == 0 || view.meta.version == ECOM_VERSION_ANY)
        report(c, "product %s has impossible version %llu", qid,
               (unsigned long long)view.meta.version);
    rc = product_indexes(c, &view.rec, qid);
    if (rc == ECOM_OK && c->sink->product)
        c->sink->product(c->sink, &view.rec, &view.meta);
    ecom__lmdb_view_free(&view);
    return rc;
}

/* ---- the sku index ---- */

static int check_sku(checker *c, const MDB_val *key, const MDB_val *val)
{
    char qs[QUOTE], qid[QUOTE];
    quote_key(qs, key);
    quote_key(qid, val);
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) || key->mv_size < 2 ||
        !ecom__lmdb_is_cstr(val->mv_data, val->mv_size) || val->mv_size < 2) {
        report(c, "sku index: malformed entry %s -> %s", qs, qid);
        return ECOM_OK;
    }
    MDB_val v;
    int found, rc = lookup(c, c->be->products, val->mv_data, val->mv_size, &v, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found) {
        report(c, "sku %s points at missing product %s", qs, qid);
        return ECOM_OK;
    }
    ecom__lmdb_view view;
    if ((rc = ecom__lmdb_product_decode(&view, val->mv_data, v.mv_data, v.mv_size)) != 0)
        return rc == ECOM_ECORRUPT ? ECOM_OK /* reported with the product */
                                   : ecom__lmdb_fail(c->be, rc, "lmdb: out of memory in check");
    int listed = 0;
    for (size_t i = 0; !listed && i < view.rec.sku_count; i++)
        listed = strcmp(view.rec.skus[i], key->mv_data) == 0;
    if (!listed)
        report(c, "sku %s points at product %s, which does not list it", qs, qid);
    ecom__lmdb_view_free(&view);
    return ECOM_OK;
}

/* ---- the category index and counts ---- */

typedef struct run {
    char cat[KEY_BUF];
    size_t len;
    uint64_t count;
    int open;
} run;

/* A run of bycat entries of one category ended: its count must be in cats. */
static int run_flush(checker *c, run *r)
{
    if (!r->open || r->len == 0) /* uncategorised products have no count */
        return ECOM_OK;
    char qc[QUOTE];
    quote(qc, r->cat, r->len);
    r->cat[r->len] = '\0';
    MDB_val v;
    int found, rc = lookup(c, c->be->cats, r->cat, r->len + 1, &v, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found)
        report(c, "category %s has %llu products but no count", qc,
               (unsigned long long)r->count);
    else if (v.mv_size == 8 && ecom__lmdb_get_u64(v.mv_data) != r->count)
        report(c, "category %s counts %llu products but %llu are filed there", qc,
               (unsigned long long)ecom__lmdb_get_u64(v.mv_data), (unsigned long long)r->count);
    return ECOM_OK;
}

typedef struct bycat_checker {
    checker c; /* first: entry_fn gets this */
    run run;
} bycat_checker;

static int bycat_product(checker *c, const char *cat, size_t cat_len, const char *id)
{
    char qid[QUOTE], qc[QUOTE], qh[QUOTE];
    quote(qid, id, strlen(id));
    quote(qc, cat, cat_len);
    MDB_val v;
    int found, rc = lookup(c, c->be->products, id, strlen(id) + 1, &v, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found) {
        report(c, "category index files missing product %s under %s", qid, qc);
        return ECOM_OK;
    }
    ecom__lmdb_view view;
    if ((rc = ecom__lmdb_product_decode(&view, id, v.mv_data, v.mv_size)) != 0)
        return rc == ECOM_ECORRUPT ? ECOM_OK : ecom__lmdb_fail(c->be, rc, "lmdb: out of memory");
    if (strlen(view.rec.category) != cat_len || memcmp(view.rec.category, cat, cat_len) != 0) {
        quote(qh, view.rec.category, strlen(view.rec.category));
        report(c, "category index files product %s under %s but it is in %s", qid, qc, qh);
    }
    ecom__lmdb_view_free(&view);
    return ECOM_OK;
}

static int check_bycat(checker *c, const MDB_val *key, const MDB_val *val)
{
    bycat_checker *b = (bycat_checker *)c;
    const char *cat, *id;
    size_t cat_len;
    char qk[QUOTE];
    if (ecom__lmdb_bycat_split(key, &cat, &cat_len, &id) != 0 || cat_len >= KEY_BUF) {
        quote(qk, key->mv_data, key->mv_size);
        report(c, "category index: malformed key %s", qk);
        return ECOM_OK;
    }
    if (val->mv_size != 0) {
        quote(qk, key->mv_data, key->mv_size);
        report(c, "category index: entry %s has a value", qk);
    }
    run *r = &b->run;
    if (!r->open || r->len != cat_len || memcmp(r->cat, cat, cat_len) != 0) {
        int rc = run_flush(c, r);
        if (rc != ECOM_OK)
            return rc;
        memcpy(r->cat, cat, cat_len);
        r->len = cat_len;
        r->count = 0;
        r->open = 1;
    }
    r->count++;
    return bycat_product(c, cat, cat_len, id);
}

static int check_cat(checker *c, const MDB_val *key, const MDB_val *val)
{
    char qc[QUOTE];
    quote_key(qc, key);
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) || key->mv_size < 2 ||
        key->mv_size + 1 > KEY_BUF) {
        report(c, "category counts: malformed key %s", qc);
        return ECOM_OK;
    }
    if (val->mv_size != 8) {
        report(c, "category %s: count is malformed", qc);
        return ECOM_OK;
    }
    uint64_t n = ecom__lmdb_get_u64(val->mv_data);
    if (n == 0)
        report(c, "category %s keeps a count of 0 (it should be deleted)", qc);
    /* Counts of categories that have entries were compared with the index; here
     * only a count with no entry at all is left to find. */
    char prefix[KEY_BUF];
    size_t len = key->mv_size + 1; /* "cat" + "/\0" */
    memcpy(prefix, key->mv_data, key->mv_size - 1);
    memcpy(prefix + key->mv_size - 1, "/", 2);
    MDB_cursor *cur;
    MDB_val k = {len, prefix}, v;
    int rc = mdb_cursor_open(c->txn, c->be->bycat, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (check)", rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_get (check)", rc);
    if (n != 0 && (rc == MDB_NOTFOUND || k.mv_size < len || memcmp(k.mv_data, prefix, len) != 0))
        report(c, "category %s counts %llu products but none is filed there", qc,
               (unsigned long long)n);
    return ECOM_OK;
}

/* ---- events and meta ---- */

typedef struct events_checker {
    checker c; /* first: entry_fn gets this */
    uint64_t expected;
} events_checker;

static int check_event(checker *c, const MDB_val *key, const MDB_val *val)
{
    events_checker *e = (events_checker *)c;
    char qk[QUOTE];
    if (key->mv_size != 8) {
        quote(qk, key->mv_data, key->mv_size);
        report(c, "events: malformed key %s", qk);
        return ECOM_OK;
    }
    uint64_t seq = ecom__lmdb_get_u64be(key->mv_data);
    if (seq != e->expected)
        report(c, "events: seq %llu where %llu was expected (gap in the log)",
               (unsigned long long)seq, (unsigned long long)e->expected);
    e->expected = seq + 1;
    ecom_event_rec ev;
    if (ecom__lmdb_event_decode(&ev, val->mv_data, val->mv_size) != ECOM_OK)
        report(c, "event %llu does not parse", (unsigned long long)seq);
    return ECOM_OK;
}

static int check_meta(checker *c)
{
    MDB_val v;
    int found, rc = lookup(c, c->be->meta, "format", sizeof "format", &v, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found)
        report(c, "meta: no format version");
    else if (v.mv_size != 4)
        report(c, "meta: malformed format version");
    return ECOM_OK;
}

static int check_all(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink)
{
    checker c = {be, txn, sink};
    int rc = check_meta(&c);
    if (rc == ECOM_OK)
        rc = each(&c, be->products, "products", check_product);
    if (rc == ECOM_OK)
        rc = each(&c, be->skus, "skus", check_sku);
    bycat_checker b = {c, {.open = 0}};
    if (rc == ECOM_OK)
        rc = each(&b.c, be->bycat, "bycat", check_bycat);
    if (rc == ECOM_OK)
        rc = run_flush(&b.c, &b.run);
    if (rc == ECOM_OK)
        rc = each(&c, be->cats, "cats", check_cat);
    events_checker e = {c, 1};
    if (rc == ECOM_OK)
        rc = each(&e.c, be->events, "events", check_event);
    if (rc == ECOM_OK)
        rc = ecom__lmdb_inventory_check(be, txn, sink);
    if (rc == ECOM_OK)
        rc = ecom__lmdb_commerce_check(be, txn, sink);
    return rc;
}

int ecom__lmdb_check(ecom_backend *base, ecom_check_sink *sink)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sink == NULL || sink->report == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: check needs a sink with report");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = check_all(be, r.txn, sink);
    ecom__lmdb_read_end(be, &r);
    return rc;
}
