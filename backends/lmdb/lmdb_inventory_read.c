/* The LMDB backend's inventory reads: stock, reservations, locations, sales,
 * claims and a sale's claim keys, each in one read snapshot. */
#include <string.h>

#include "lmdb_inventory.h"

#define STACK_LINES 64

/* Looks up a key; returns 1 found, 0 not, or a negative ECOM code. */
static int get(ecom__lmdb *be, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
               MDB_val *v, const char *what)
{
    MDB_val k = {len, (void *)key};
    if (len == 0)
        return 0; /* a key too long to build cannot exist */
    int rc = mdb_get(txn, dbi, &k, v);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return rc == 0;
    return ecom__lmdb_mdb(be, what, rc);
}

static size_t str_len1(const char *s)
{
    size_t len = strlen(s);
    return len <= ECOM_ID_MAX ? len + 1 : 0;
}

/* ---- stock ---- */

static int stock_read(ecom__lmdb *be, MDB_txn *txn, const char *sku, const char *location,
                      ecom_stock_rec *out)
{
    MDB_val v;
    int rc = get(be, txn, be->skus, sku, str_len1(sku), &v, "mdb_get (skus)");
    if (rc <= 0)
        return rc ? rc : ecom__lmdb_fail(be, ECOM_ESKU, "no product has sku '%.64s'", sku);
    rc = get(be, txn, be->locations, location, str_len1(location), &v, "mdb_get (locations)");
    if (rc <= 0)
        return rc ? rc : ecom__lmdb_fail(be, ECOM_ELOCATION, "no location '%.64s'", location);
    *out = (ecom_stock_rec){0, 0, 0, ECOM_BACKORDER_DENY};
    rc = get(be, txn, be->skuinv, sku, str_len1(sku), &v, "mdb_get (skuinv)");
    if (rc < 0)
        return rc;
    if (rc == 1)
        out->backorder = v.mv_size == 1 ? *(const unsigned char *)v.mv_data : 0;
    unsigned char key[INV_KEY_MAX];
    rc = get(be, txn, be->stock, key, ecom__inv_key2(key, sku, location), &v, "mdb_get (stock)");
    if (rc <= 0)
        return rc;
    inv_stock s;
    if (ecom__inv_stock_decode(&s, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: stock of '%s' at '%s' is malformed",
                               sku, location);
    out->on_hand = s.on_hand;
    out->reserved = s.reserved;
    out->safety = s.safety;
    return ECOM_OK;
}

int ecom__lmdb_stock_get(ecom_backend *base, const char *sku, const char *location,
                         ecom_stock_rec *out)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sku == NULL || location == NULL || out == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: stock_get needs sku, location, out");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = stock_read(be, r.txn, sku, location, out);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- reservations ---- */

static int resv_visit(ecom__lmdb *be, const char *id, const MDB_val *v, ecom_reservation_fn fn,
                      void *ctx)
{
    const char *skus_stack[STACK_LINES], **skus = skus_stack;
    int64_t qtys_stack[STACK_LINES], *qtys = qtys_stack;
    size_t n;
    int rc = ecom__inv_resv_lines(v, &n);
    if (rc == ECOM_OK && n > STACK_LINES) {
        skus = ecom__calloc(n, sizeof *skus);
        qtys = ecom__calloc(n, sizeof *qtys);
        if (skus == NULL || qtys == NULL) {
            rc = ecom__lmdb_fail(be, ECOM_ENOMEM, "lmdb: out of memory for a reservation");
            goto cleanup;
        }
    }
    inv_resv r;
    if (rc != ECOM_OK || ecom__inv_resv_decode(&r, v, skus, qtys) != ECOM_OK) {
        rc = ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: reservation '%.64s' is malformed", id);
        goto cleanup;
    }
    ecom_reservation_rec rec = {id,           r.location,   r.state,       r.created_at,
                                r.expires_at, r.ended_at,   r.line_count,  skus,
                                qtys};
    rc = fn(ctx, &rec);
    rc = rc > 0 ? ECOM_OK : rc;
cleanup:
    if (skus != skus_stack)
        ecom__free(skus);
    if (qtys != qtys_stack)
        ecom__free(qtys);
    return rc;
}

int ecom__lmdb_reservation_get(ecom_backend *base, const char *id, ecom_reservation_fn fn,
                               void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (id == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: reservation_get needs id and fn");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    MDB_val v;
    rc = get(be, r.txn, be->resv, id, str_len1(id), &v, "mdb_get (resv)");
    if (rc == 0)
        rc = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "reservation '%.64s' not found", id);
    else if (rc == 1)
        rc = resv_visit(be, id, &v, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- locations ---- */

static int locations_visit(ecom__lmdb *be, MDB_txn *txn, ecom_location_fn fn, void *ctx)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, be->locations, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (locations)", rc);
    int frc = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && frc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!ecom__lmdb_is_cstr(k.mv_data, k.mv_size) || !ecom__lmdb_is_cstr(v.mv_data, v.mv_size)) {
            frc = ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: malformed location entry");
            break;
        }
        frc = fn(ctx, k.mv_data, v.mv_data);
    }
    mdb_cursor_close(cur);
    if (frc != 0)
        return frc > 0 ? ECOM_OK : frc;
    return rc == MDB_NOTFOUND || rc == 0 ? ECOM_OK
                                         : ecom__lmdb_mdb(be, "mdb_cursor_get (locations)", rc);
}

int ecom__lmdb_location_list(ecom_backend *base, ecom_location_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: location_list needs fn");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = locations_visit(be, r.txn, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- sales and claims ---- */

static int sale_read(ecom__lmdb *be, MDB_txn *txn, const char *sale, inv_sale *s)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val v;
    int rc = get(be, txn, be->sales, key, ecom__inv_key2(key, sale, NULL), &v, "mdb_get (sales)");
    if (rc == 0)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "no flash sale '%.64s'", sale);
    if (rc < 0)
        return rc;
    if (ecom__inv_sale_decode(s, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: sale '%.64s' is malformed", sale);
    return ECOM_OK;
}

int ecom__lmdb_flash_get(ecom_backend *base, const char *sale, ecom_flash_status *out)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sale == NULL || out == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: flash_get needs sale and out");
    ecom__lmdb_read r;
    inv_sale s;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = sale_read(be, r.txn, sale, &s);
    ecom__lmdb_read_end(be, &r);
    if (rc != ECOM_OK)
        return rc;
    memcpy(out->sku, s.sku, sizeof out->sku);
    memcpy(out->location, s.location, sizeof out->location);
    out->open = s.open;
    out->units = s.units;
    out->remaining = s.remaining;
    out->held = s.held;
    out->sold = s.sold;
    out->claims = s.tickets;
    out->starts_at = s.starts_at;
    out->ends_at = s.ends_at;
    out->per_user_limit = s.per_user_limit;
    out->claim_ttl_ms = s.claim_ttl_ms;
    out->admit_per_second = s.admit_per_second;
    return ECOM_OK;
}

static int claim_read(ecom__lmdb *be, MDB_txn *txn, const char *sale, uint64_t ticket,
                      int64_t now, ecom_claim_result *out)
{
    inv_sale s;
    inv_claim cl;
    int rc = sale_read(be, txn, sale, &s);
    if (rc != ECOM_OK)
        return rc;
    unsigned char key[INV_KEY_MAX];
    MDB_val v;
    rc = get(be, txn, be->claims, key, ecom__inv_claim_key(key, sale, ticket), &v,
             "mdb_get (claims)");
    if (rc == 0)
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "no claim %.64s:%llu", sale,
                               (unsigned long long)ticket);
    if (rc < 0)
        return rc;
    if (ecom__inv_claim_decode(&cl, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: claim %.64s:%llu is malformed", sale,
                               (unsigned long long)ticket);
    ecom__inv_claim_view(out, sale, ticket, &cl, &s, now);
    return ECOM_OK;
}

int ecom__lmdb_claim_get(ecom_backend *base, const char *sale, uint64_t ticket, int64_t now,
                         ecom_claim_result *out)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sale == NULL || out == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: claim_get needs sale and out");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = claim_read(be, r.txn, sale, ticket, now, out);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- a sale's claim keys ---- */

static int keys_visit(ecom__lmdb *be, MDB_txn *txn, const char *sale, ecom_key_fn fn, void *ctx)
{
    inv_sale s;
    int rc = sale_read(be, txn, sale, &s);
    if (rc != ECOM_OK)
        return rc;
    unsigned char prefix[INV_KEY_MAX];
    size_t plen = ecom__inv_key2(prefix, sale, NULL);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, be->claims, &cur)) != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (claims)", rc);
    MDB_val k = {plen, prefix}, v;
    int frc = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && frc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        inv_claim cl;
        if (ecom__inv_claim_decode(&cl, &v) != ECOM_OK) {
            frc = ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: a claim of sale '%s' is malformed",
                                  sale);
            break;
        }
        frc = fn(ctx, cl.key);
    }
    mdb_cursor_close(cur);
    if (frc != 0)
        return frc > 0 ? ECOM_OK : frc;
    return rc == 0 || rc == MDB_NOTFOUND ? ECOM_OK
                                         : ecom__lmdb_mdb(be, "mdb_cursor_get (claims)", rc);
}

int ecom__lmdb_flash_keys(ecom_backend *base, const char *sale, ecom_key_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (sale == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: flash_keys needs sale and fn");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = keys_visit(be, r.txn, sale, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}
