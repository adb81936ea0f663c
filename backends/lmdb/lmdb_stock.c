/* The LMDB backend's stock-keeping operations: locations, adjustments, counted
 * on-hand, safety stock, the backorder policy and the purchase limit of a SKU. */
#include <stdio.h>
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

int ecom__inv_location_add(inv_ctx *c, ecom_inventory_op *op)
{
    const char *code = op->id, *name = op->text ? op->text : "";
    size_t len = strlen(code);
    if (len == 0 || len > ECOM_ID_MAX) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: location code length %zu", len);
        return ECOM_OK;
    }
    MDB_val k = {len + 1, (void *)code}, v = {strlen(name) + 1, (void *)name};
    int rc = mdb_put(c->txn, c->be->locations, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EEXISTS, "location '%s' already exists", code);
        return ECOM_OK;
    }
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (locations)", rc);
    /* Not named by the contract; the event log records every change. */
    return ecom__inv_event(c, "location.created", code);
}

/* Judges the SKU and location of op; *ok says whether both exist. */
static int need_both(inv_ctx *c, ecom_inventory_op *op, int *ok)
{
    int fatal;
    *ok = 0;
    op->result = ecom__inv_need_sku(c, op->sku, &fatal);
    if (op->result == ECOM_OK)
        op->result = ecom__inv_need_location(c, op->location, &fatal);
    if (fatal != ECOM_OK)
        return fatal;
    *ok = op->result == ECOM_OK;
    return ECOM_OK;
}

/* Changes on_hand by delta, refusing (deny SKUs) below 0 or below reserved. */
static int move_on_hand(inv_ctx *c, ecom_inventory_op *op, int kind, int64_t delta)
{
    inv_stock s;
    int found, policy;
    int rc = ecom__inv_stock_load(c, op->sku, op->location, &s, &found);
    if (rc == ECOM_OK)
        rc = ecom__inv_backorder(c, op->sku, &policy);
    if (rc != ECOM_OK)
        return rc;
    int64_t next;
    if (__builtin_add_overflow(s.on_hand, delta, &next)) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "on_hand of '%s' at '%s' would "
                                     "overflow", op->sku, op->location);
        return ECOM_OK;
    }
    if (policy == ECOM_BACKORDER_DENY && (next < 0 || next < s.reserved)) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINSUFFICIENT,
                                     "'%s' at '%s': on_hand %lld would become %lld, below "
                                     "%lld reserved or 0", op->sku, op->location,
                                     (long long)s.on_hand, (long long)next,
                                     (long long)s.reserved);
        return ECOM_OK;
    }
    if (delta == 0)
        return ECOM_OK; /* no counter changes: nothing to record */
    return ecom__inv_stock_move(c, kind, op->sku, op->location, delta, 0, op->reference,
                                op->text);
}

int ecom__inv_adjust(inv_ctx *c, ecom_inventory_op *op)
{
    static const int kinds[] = {INV_K_RECEIVE, INV_K_CORRECT, INV_K_DAMAGE, INV_K_RETURN};
    int ok, rc = need_both(c, op, &ok);
    if (rc != ECOM_OK || !ok)
        return rc;
    if (op->adjust_kind < ECOM_ADJUST_RECEIVE || op->adjust_kind > ECOM_ADJUST_RETURN) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: unknown adjust kind %d",
                                     op->adjust_kind);
        return ECOM_OK;
    }
    return move_on_hand(c, op, kinds[op->adjust_kind], op->quantity);
}

int ecom__inv_set_on_hand(inv_ctx *c, ecom_inventory_op *op)
{
    int ok, rc = need_both(c, op, &ok);
    if (rc != ECOM_OK || !ok)
        return rc;
    inv_stock s;
    int found;
    if ((rc = ecom__inv_stock_load(c, op->sku, op->location, &s, &found)) != ECOM_OK)
        return rc;
    int64_t delta;
    if (op->quantity < 0 || __builtin_sub_overflow(op->quantity, s.on_hand, &delta)) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "counted on_hand %lld is out of range",
                                     (long long)op->quantity);
        return ECOM_OK;
    }
    return move_on_hand(c, op, INV_K_CORRECT, delta);
}

int ecom__inv_set_safety(inv_ctx *c, ecom_inventory_op *op)
{
    int ok, rc = need_both(c, op, &ok);
    if (rc != ECOM_OK || !ok)
        return rc;
    if (op->quantity < 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "safety stock %lld is negative",
                                     (long long)op->quantity);
        return ECOM_OK;
    }
    inv_stock s;
    int found;
    if ((rc = ecom__inv_stock_load(c, op->sku, op->location, &s, &found)) != ECOM_OK)
        return rc;
    if (found && s.safety == op->quantity)
        return ECOM_OK;
    char text[64];
    snprintf(text, sizeof text, "safety %lld -> %lld", (long long)s.safety,
             (long long)op->quantity);
    s.safety = op->quantity;
    rc = ecom__inv_stock_store(c, op->sku, op->location, &s);
    /* No counter of the ledger moves, but the change is recorded with the others. */
    if (rc == ECOM_OK)
        rc = ecom__inv_ledger_append(c, INV_K_SAFETY, op->sku, op->location, 0, 0, "", text);
    return rc ? rc : ecom__inv_stock_event(c, op->sku, op->location);
}

/* ---- backorder policy ---- */

/* Visits the stock rows of sku: fn sees each location and its counters. */
typedef int (*row_fn)(inv_ctx *c, const char *sku, const char *location, const inv_stock *s,
                      void *ctx);

static int each_row(inv_ctx *c, const char *sku, row_fn fn, void *ctx)
{
    unsigned char prefix[INV_KEY_MAX];
    size_t plen = ecom__inv_key2(prefix, sku, NULL);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->be->stock, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (stock)", rc);
    MDB_val k = {plen, prefix}, v;
    int frc = ECOM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && frc == ECOM_OK && k.mv_size > plen && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char location[ECOM_ID_MAX + 1];
        inv_stock s;
        size_t llen = k.mv_size - plen;
        if (llen > sizeof location || ecom__inv_stock_decode(&s, &v) != ECOM_OK) {
            frc = ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: stock row of '%s' malformed", sku);
            break;
        }
        /* A copy: fn may write, and the key points into the map. */
        memcpy(location, (const char *)k.mv_data + plen, llen);
        location[llen - 1] = '\0';
        frc = fn(c, sku, location, &s, ctx);
    }
    mdb_cursor_close(cur);
    if (frc != ECOM_OK)
        return frc;
    return rc == 0 || rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(c->be, "mdb_cursor_get (stock)", rc);
}

static int row_oversold(inv_ctx *c, const char *sku, const char *location, const inv_stock *s,
                        void *ctx)
{
    ecom_inventory_op *op = ctx;
    if (op->result == ECOM_OK && (s->on_hand < 0 || s->reserved > s->on_hand))
        op->result = ecom__lmdb_fail(c->be, ECOM_EINSUFFICIENT,
                                     "'%s' at '%s' holds %lld reserved of %lld on hand: "
                                     "backorders cannot be denied now", sku, location,
                                     (long long)s->reserved, (long long)s->on_hand);
    return ECOM_OK;
}

static int row_event(inv_ctx *c, const char *sku, const char *location, const inv_stock *s,
                     void *ctx)
{
    ECOM__UNUSED(s);
    ECOM__UNUSED(ctx);
    return ecom__inv_stock_event(c, sku, location);
}

/* Denying backorders while some location is already oversold would break the
 * invariant the policy promises, so that is refused (ECOM_EINSUFFICIENT). */
int ecom__inv_set_backorder(inv_ctx *c, ecom_inventory_op *op)
{
    int fatal, policy;
    if ((op->result = ecom__inv_need_sku(c, op->sku, &fatal)) != ECOM_OK)
        return fatal;
    if (op->quantity != ECOM_BACKORDER_DENY && op->quantity != ECOM_BACKORDER_ALLOW) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "unknown backorder policy %lld",
                                     (long long)op->quantity);
        return ECOM_OK;
    }
    int rc = ecom__inv_backorder(c, op->sku, &policy);
    if (rc != ECOM_OK || policy == op->quantity)
        return rc;
    if (op->quantity == ECOM_BACKORDER_DENY &&
        ((rc = each_row(c, op->sku, row_oversold, op)) != ECOM_OK || op->result != ECOM_OK))
        return rc;
    unsigned char byte = (unsigned char)op->quantity;
    MDB_val k = {strlen(op->sku) + 1, (void *)op->sku}, v = {1, &byte};
    rc = mdb_put(c->txn, c->be->skuinv, &k, &v, 0);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (skuinv)", rc);
    /* What is sellable changed at every location of the SKU. */
    return each_row(c, op->sku, row_event, NULL);
}

/* ---- purchase limits ---- */

/* No event: a limit changes what carts may hold, not any stock figure. */
int ecom__inv_set_purchase_limit(inv_ctx *c, ecom_inventory_op *op)
{
    int fatal;
    if ((op->result = ecom__inv_need_sku(c, op->sku, &fatal)) != ECOM_OK)
        return fatal;
    if (op->quantity < 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "purchase limit %lld is negative",
                                     (long long)op->quantity);
        return ECOM_OK;
    }
    MDB_val k = {strlen(op->sku) + 1, (void *)op->sku};
    int rc;
    if (op->quantity == 0) {
        rc = mdb_del(c->txn, c->be->plimits, &k, NULL);
        return rc && rc != MDB_NOTFOUND ? ecom__lmdb_mdb(c->be, "mdb_del (plimits)", rc) : ECOM_OK;
    }
    unsigned char buf[8];
    ecom__lmdb_put_u64(buf, (uint64_t)op->quantity);
    MDB_val v = {sizeof buf, buf};
    rc = mdb_put(c->txn, c->be->plimits, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(c->be, "mdb_put (plimits)", rc) : ECOM_OK;
}

int ecom__cm_purchase_limit(ecom__lmdb *be, MDB_txn *txn, const char *sku, int64_t *limit)
{
    MDB_val k = {strlen(sku) + 1, (void *)sku}, v;
    *limit = 0;
    if (k.mv_size > be->max_key)
        return ECOM_OK; /* too long to have one */
    int rc = mdb_get(txn, be->plimits, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (plimits)", rc);
    if (v.mv_size != 8 || (int64_t)ecom__lmdb_get_u64(v.mv_data) <= 0)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: purchase limit of '%.64s' is malformed",
                               sku);
    *limit = (int64_t)ecom__lmdb_get_u64(v.mv_data);
    return ECOM_OK;
}
