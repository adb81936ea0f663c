/* What every inventory operation uses inside its write txn: events, ledger
 * entries, stock rows, existence checks of SKUs and locations, the expiry index. */
#include <stdio.h>
#include <string.h>

#include "lmdb_inventory.h"

/* ---- events and ledger ---- */

int ecom__inv_event(inv_ctx *c, const char *type, const char *key)
{
    if (!c->event_known) {
        int rc = ecom__lmdb_last_seq(c->be, c->txn, &c->event_seq);
        if (rc != ECOM_OK)
            return rc;
        c->event_known = 1;
    }
    return ecom__lmdb_event_append(c->be, c->txn, &c->event_seq, c->now, type, key, 0);
}

int ecom__inv_stock_event(inv_ctx *c, const char *sku, const char *location)
{
    char key[2 * ECOM_ID_MAX + 2];
    snprintf(key, sizeof key, "%s@%s", sku, location);
    return ecom__inv_event(c, "stock.changed", key);
}

static int ledger_last(inv_ctx *c)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(c->txn, c->be->ledger, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (ledger)", rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        c->ledger_seq = 0;
    } else if (rc != 0) {
        return ecom__lmdb_mdb(c->be, "mdb_cursor_get (ledger)", rc);
    } else if (k.mv_size != 8) {
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: the last ledger key is not 8 bytes");
    } else {
        c->ledger_seq = ecom__lmdb_get_u64be(k.mv_data);
    }
    c->ledger_known = 1;
    return ECOM_OK;
}

int ecom__inv_ledger_append(inv_ctx *c, int kind, const char *sku, const char *location,
                            int64_t d_on_hand, int64_t d_reserved, const char *reference,
                            const char *text)
{
    int rc = c->ledger_known ? ECOM_OK : ledger_last(c);
    if (rc != ECOM_OK)
        return rc;
    inv_ledger e = {c->now, d_on_hand, d_reserved, kind, sku, location,
                    reference ? reference : "", text ? text : ""};
    size_t size = ecom__inv_ledger_size(&e);
    if (size == 0)
        return ecom__lmdb_fail(c->be, ECOM_ETOOLONG, "lmdb: ledger reference or text too long");
    unsigned char kbuf[8];
    ecom__lmdb_put_u64be(kbuf, c->ledger_seq + 1);
    MDB_val k = {sizeof kbuf, kbuf}, v = {size, NULL};
    /* Seq keys grow, so APPEND holds and skips the search. */
    rc = mdb_put(c->txn, c->be->ledger, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (ledger)", rc);
    ecom__inv_ledger_encode(v.mv_data, &e);
    c->ledger_seq++;
    return ECOM_OK;
}

/* ---- stock rows ---- */

static int stock_key(inv_ctx *c, unsigned char key[INV_KEY_MAX], size_t *len, const char *sku,
                     const char *location)
{
    if ((*len = ecom__inv_key2(key, sku, location)) == 0)
        return ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: sku or location longer than %d bytes",
                               ECOM_ID_MAX);
    return ECOM_OK;
}

int ecom__inv_stock_load(inv_ctx *c, const char *sku, const char *location, inv_stock *s,
                         int *found)
{
    unsigned char key[INV_KEY_MAX];
    size_t len;
    int rc = stock_key(c, key, &len, sku, location);
    if (rc != ECOM_OK)
        return rc;
    MDB_val k = {len, key}, v;
    *s = (inv_stock){0, 0, 0};
    *found = 0;
    rc = mdb_get(c->txn, c->be->stock, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_get (stock)", rc);
    if (ecom__inv_stock_decode(s, &v) != ECOM_OK)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: stock of '%s' at '%s' is malformed",
                               sku, location);
    *found = 1;
    return ECOM_OK;
}

int ecom__inv_stock_store(inv_ctx *c, const char *sku, const char *location, const inv_stock *s)
{
    unsigned char key[INV_KEY_MAX], val[24];
    size_t len;
    int rc = stock_key(c, key, &len, sku, location);
    if (rc != ECOM_OK)
        return rc;
    ecom__inv_stock_encode(val, s);
    MDB_val k = {len, key}, v = {sizeof val, val};
    rc = mdb_put(c->txn, c->be->stock, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(c->be, "mdb_put (stock)", rc) : ECOM_OK;
}

/* Overflow here means the store already holds impossible figures. */
static int add_checked(ecom__lmdb *be, int64_t *v, int64_t d, const char *what)
{
    if (__builtin_add_overflow(*v, d, v))
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: %s overflows", what);
    return ECOM_OK;
}

int ecom__inv_stock_move(inv_ctx *c, int kind, const char *sku, const char *location,
                         int64_t d_on_hand, int64_t d_reserved, const char *reference,
                         const char *text)
{
    inv_stock s;
    int found;
    int rc = ecom__inv_stock_load(c, sku, location, &s, &found);
    if (rc == ECOM_OK)
        rc = add_checked(c->be, &s.on_hand, d_on_hand, "on_hand");
    if (rc == ECOM_OK)
        rc = add_checked(c->be, &s.reserved, d_reserved, "reserved");
    if (rc == ECOM_OK)
        rc = ecom__inv_stock_store(c, sku, location, &s);
    if (rc == ECOM_OK)
        rc = ecom__inv_ledger_append(c, kind, sku, location, d_on_hand, d_reserved, reference,
                                     text);
    if (rc == ECOM_OK)
        rc = ecom__inv_stock_event(c, sku, location);
    return rc;
}

/* ---- lookups ---- */

int ecom__inv_exists(inv_ctx *c, MDB_dbi dbi, const void *key, size_t len, const char *what)
{
    MDB_val k = {len, (void *)key}, v;
    int rc = mdb_get(c->txn, dbi, &k, &v);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return rc == 0;
    return ecom__lmdb_mdb(c->be, what, rc);
}

int ecom__inv_backorder(inv_ctx *c, const char *sku, int *policy)
{
    MDB_val k = {strlen(sku) + 1, (void *)sku}, v;
    int rc = mdb_get(c->txn, c->be->skuinv, &k, &v);
    *policy = ECOM_BACKORDER_DENY;
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_get (skuinv)", rc);
    if (v.mv_size != 1)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: backorder policy of '%s' is malformed",
                               sku);
    *policy = *(const unsigned char *)v.mv_data;
    return ECOM_OK;
}

int ecom__inv_need_sku(inv_ctx *c, const char *sku, int *fatal)
{
    *fatal = ECOM_OK;
    size_t len = strlen(sku);
    int rc = len <= ECOM_ID_MAX ? ecom__inv_exists(c, c->be->skus, sku, len + 1, "mdb_get (skus)")
                                : 0;
    if (rc < 0) {
        *fatal = rc;
        return rc;
    }
    return rc ? ECOM_OK : ecom__lmdb_fail(c->be, ECOM_ESKU, "no product has sku '%.64s'", sku);
}

int ecom__inv_need_location(inv_ctx *c, const char *location, int *fatal)
{
    *fatal = ECOM_OK;
    size_t len = strlen(location);
    int rc = len <= ECOM_ID_MAX ? ecom__inv_exists(c, c->be->locations, location, len + 1,
                                                   "mdb_get (locations)")
                                : 0;
    if (rc < 0) {
        *fatal = rc;
        return rc;
    }
    return rc ? ECOM_OK
              : ecom__lmdb_fail(c->be, ECOM_ELOCATION, "no location '%.64s'", location);
}

/* ---- the expiry index ---- */

int ecom__inv_expiry_put(inv_ctx *c, int64_t at, int kind, const char *id, uint64_t ticket)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_expiry_key(key, at, kind, id, ticket), key}, v = {0, NULL};
    if (k.mv_size == 0)
        return ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: hold id too long");
    /* New holds mostly expire after every other: try the cheap append first. */
    int rc = mdb_put(c->txn, c->be->expiry, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        v = (MDB_val){0, NULL};
        rc = mdb_put(c->txn, c->be->expiry, &k, &v, 0);
    }
    return rc ? ecom__lmdb_mdb(c->be, "mdb_put (expiry)", rc) : ECOM_OK;
}

int ecom__inv_expiry_del(inv_ctx *c, int64_t at, int kind, const char *id, uint64_t ticket)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_expiry_key(key, at, kind, id, ticket), key};
    if (k.mv_size == 0)
        return ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: hold id too long");
    int rc = mdb_del(c->txn, c->be->expiry, &k, NULL);
    /* A missing entry is check's to report; the hold still ends. */
    return rc && rc != MDB_NOTFOUND ? ecom__lmdb_mdb(c->be, "mdb_del (expiry)", rc) : ECOM_OK;
}
