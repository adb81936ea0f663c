/* The LMDB backend's inventory_apply: one write txn for a batch of inventory
 * operations, the expiry sweep that runs before them, the per-txn cache of sale
 * figures, and the fencing of the claim indexes around the txn. The same context
 * and dispatch run the inventory operations of an order write (lmdb_orders.c).
 * The operations themselves live in lmdb_stock.c, lmdb_reserve.c and lmdb_flash.c. */
#include <string.h>

#include "lmdb_inventory.h"

/* ---- the sale cache ---- */

static int sale_write(inv_ctx *c, inv_sale_slot *slot)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_key2(key, slot->id, NULL), key};
    MDB_val v = {ecom__inv_sale_size(&slot->sale), NULL};
    int rc = mdb_put(c->txn, c->be->sales, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (sales)", rc);
    ecom__inv_sale_encode(v.mv_data, &slot->sale);
    slot->dirty = 0;
    return ECOM_OK;
}

static int sales_flush(inv_ctx *c)
{
    for (int i = 0; i < INV_SALE_CACHE; i++)
        if (c->sales[i].used && c->sales[i].dirty) {
            int rc = sale_write(c, &c->sales[i]);
            if (rc != ECOM_OK)
                return rc;
        }
    return ECOM_OK;
}

/* A free slot, or the next one round-robin after writing it back. */
static int sale_slot(inv_ctx *c, inv_sale_slot **out)
{
    for (int i = 0; i < INV_SALE_CACHE; i++)
        if (!c->sales[i].used) {
            *out = &c->sales[i];
            return ECOM_OK;
        }
    inv_sale_slot *slot = &c->sales[c->sale_clock++ % INV_SALE_CACHE];
    int rc = slot->dirty ? sale_write(c, slot) : ECOM_OK;
    slot->used = 0;
    *out = slot;
    return rc;
}

int ecom__inv_sale_get(inv_ctx *c, const char *id, inv_sale **out, int *found)
{
    *found = 0;
    for (int i = 0; i < INV_SALE_CACHE; i++)
        if (c->sales[i].used && strcmp(c->sales[i].id, id) == 0) {
            *out = &c->sales[i].sale;
            *found = 1;
            return ECOM_OK;
        }
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_key2(key, id, NULL), key}, v;
    if (k.mv_size == 0)
        return ECOM_OK; /* too long to exist */
    int rc = mdb_get(c->txn, c->be->sales, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_get (sales)", rc);
    inv_sale s;
    if (ecom__inv_sale_decode(&s, &v) != ECOM_OK)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: sale '%.64s' is malformed", id);
    if ((rc = ecom__inv_sale_add(c, id, &s, out)) != ECOM_OK)
        return rc;
    *found = 1;
    return ECOM_OK;
}

/* Caches s as sale id (*out: the cached copy); marked dirty, it is written at the
 * end like any changed sale. */
int ecom__inv_sale_add(inv_ctx *c, const char *id, const inv_sale *s, inv_sale **out)
{
    inv_sale_slot *slot;
    int rc = sale_slot(c, &slot);
    if (rc != ECOM_OK)
        return rc;
    if (strlen(id) > ECOM_ID_MAX)
        return ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: sale id too long");
    strcpy(slot->id, id);
    slot->sale = *s;
    slot->used = 1;
    slot->dirty = 0;
    *out = &slot->sale;
    return ECOM_OK;
}

void ecom__inv_sale_dirty(inv_ctx *c, inv_sale *s)
{
    for (int i = 0; i < INV_SALE_CACHE; i++)
        if (&c->sales[i].sale == s)
            c->sales[i].dirty = 1;
}

/* ---- the sweep ---- */

/* Ends the hold (or closes the sale) one due expiry entry names, then drops the
 * entry if ending did not (an entry whose hold is gone or ended can end nothing). */
static int sweep_one(inv_ctx *c, const MDB_val *key)
{
    unsigned char copy[INV_KEY_MAX];
    if (key->mv_size > sizeof copy)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: expiry index key too long");
    memcpy(copy, key->mv_data, key->mv_size);
    MDB_val k = {key->mv_size, copy};
    int64_t at;
    int kind;
    const char *id;
    uint64_t ticket;
    if (ecom__inv_expiry_split(&k, &at, &kind, &id, &ticket) != 0)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: malformed expiry index key");
    int rc = kind == INV_EXPIRY_RESV   ? ecom__inv_resv_expire(c, id)
             : kind == INV_EXPIRY_SALE ? ecom__inv_sale_end(c, id)
                                       : ecom__inv_claim_expire(c, id, ticket);
    if (rc != ECOM_OK)
        return rc;
    rc = mdb_del(c->txn, c->be->expiry, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? ecom__lmdb_mdb(c->be, "mdb_del (expiry)", rc) : ECOM_OK;
}

int ecom__inv_sweep(inv_ctx *c, uint64_t limit, uint64_t *count)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->be->expiry, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (expiry)", rc);
    uint64_t n = 0;
    while (n < limit) {
        MDB_val k, v;
        /* From the first entry each time: ending a hold changes the index. */
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = ECOM_OK;
            break;
        }
        if (rc != 0) {
            rc = ecom__lmdb_mdb(c->be, "mdb_cursor_get (expiry)", rc);
            break;
        }
        if (k.mv_size < 8 ||
            (int64_t)(ecom__lmdb_get_u64be(k.mv_data) ^ UINT64_C(0x8000000000000000)) > c->now)
            break;
        if ((rc = sweep_one(c, &k)) != ECOM_OK)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    *count += n;
    return rc;
}

/* ---- EXPIRE ---- */

/* Holds the lazy sweep ended count for the first EXPIRE of the batch, so the
 * sweeper's count says how many holds were due, whoever ended them. */
static int expire_op(inv_ctx *c, ecom_inventory_op *op)
{
    uint64_t limit = op->limit ? op->limit : UINT64_MAX;
    uint64_t credited = c->swept < limit ? c->swept : limit;
    c->swept -= credited;
    op->count = credited;
    int rc = ecom__inv_sweep(c, limit - credited, &op->count);
    if (rc == ECOM_OK && op->count - credited < limit - credited)
        c->due_left = 0; /* stopped short of its limit: nothing is due any more */
    return rc;
}

/* ---- apply ---- */

typedef struct apply_ctx {
    ecom_inventory_op *ops;
    size_t n;
    int64_t now;
} apply_ctx;

static int dispatch(inv_ctx *c, ecom_inventory_op *op)
{
    /* A switch over every kind without default: a new kind fails to compile. */
    switch (op->kind) {
    case ECOM_INV_LOCATION_ADD: return ecom__inv_location_add(c, op);
    case ECOM_INV_ADJUST: return ecom__inv_adjust(c, op);
    case ECOM_INV_SET_ON_HAND: return ecom__inv_set_on_hand(c, op);
    case ECOM_INV_SET_SAFETY: return ecom__inv_set_safety(c, op);
    case ECOM_INV_SET_BACKORDER: return ecom__inv_set_backorder(c, op);
    case ECOM_INV_RESERVE: return ecom__inv_reserve(c, op);
    case ECOM_INV_COMMIT:
    case ECOM_INV_RELEASE: return ecom__inv_resv_end_op(c, op);
    case ECOM_INV_EXTEND: return ecom__inv_extend(c, op);
    case ECOM_INV_EXPIRE: return expire_op(c, op);
    case ECOM_INV_FLASH_OPEN: return ecom__inv_flash_open(c, op);
    case ECOM_INV_FLASH_CLOSE: return ecom__inv_flash_close(c, op);
    case ECOM_INV_FLASH_CLAIM: return ecom__inv_flash_claim(c, op);
    case ECOM_INV_FLASH_RELEASE:
    case ECOM_INV_FLASH_COMMIT: return ecom__inv_claim_end_op(c, op);
    case ECOM_INV_SET_PURCHASE_LIMIT: return ecom__inv_set_purchase_limit(c, op);
    case ECOM_INV_FLASH_BIND: return ecom__inv_claim_bind_op(c, op);
    }
    op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: unknown inventory op %d",
                                 (int)op->kind);
    return ECOM_OK;
}

static void op_reset(ecom_inventory_op *op)
{
    op->result = ECOM_OK;
    op->existing = 0;
    op->failed_line = 0;
    op->count = 0;
    int version = op->claim.version;
    memset(&op->claim, 0, sizeof op->claim);
    op->claim.version = version;
    op->claim.outcome = ECOM_CLAIM_SOLD_OUT;
}

/* The bounded sweep, once per txn, before the first operation that judges state.
 * A batch of EXPIRE operations alone skips it, so their limits hold exactly. */
int ecom__inv_lazy_sweep(inv_ctx *c)
{
    c->lazy_done = 1;
    int rc = ecom__inv_sweep(c, INV_LAZY_SWEEP, &c->swept);
    c->due_left = c->swept >= INV_LAZY_SWEEP;
    return rc;
}

void ecom__inv_ctx_init(inv_ctx *c, ecom__lmdb *be, MDB_txn *txn, int64_t now)
{
    memset(c, 0, sizeof *c);
    c->be = be;
    c->txn = txn;
    c->now = now;
}

int ecom__inv_dispatch(inv_ctx *c, ecom_inventory_op *op)
{
    op_reset(op);
    return dispatch(c, op);
}

int ecom__inv_flush(inv_ctx *c)
{
    return sales_flush(c);
}

int ecom__lmdb_inventory_apply_txn(ecom__lmdb *be, MDB_txn *txn, inv_txn *t,
                                   ecom_inventory_op *ops, size_t n, int64_t now)
{
    inv_ctx c;
    ecom__inv_ctx_init(&c, be, txn, now);
    c.lazy_done = t->lazy_done;
    c.swept = t->swept;
    c.due_left = t->due_left;
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++) {
        op_reset(&ops[i]);
        if (!c.lazy_done && ops[i].kind != ECOM_INV_EXPIRE &&
            (rc = ecom__inv_lazy_sweep(&c)) != ECOM_OK)
            break;
        rc = dispatch(&c, &ops[i]);
    }
    if (rc == ECOM_OK)
        rc = sales_flush(&c); /* before anything else of the txn reads the sales */
    t->lazy_done = c.lazy_done;
    t->swept = c.swept;
    t->due_left = c.due_left;
    return rc;
}

static int apply_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    apply_ctx *a = ctx;
    /* Held until apply_done hears whether this txn committed. */
    ecom__inv_claims_begin(be);
    /* A rerun after growing the map starts from nothing. */
    inv_txn t = {0, 0, 0};
    return ecom__lmdb_inventory_apply_txn(be, txn, &t, a->ops, a->n, a->now);
}

/* A txn that did not commit (error, or a map full that reruns it) takes its
 * changes to the claim indexes with it. */
static void apply_done(ecom__lmdb *be, void *ctx, int committed)
{
    ECOM__UNUSED(ctx);
    ecom__inv_claims_end(be, committed);
}

int ecom__lmdb_inventory_apply(ecom_backend *base, ecom_inventory_op *ops, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (ops == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: inventory_apply needs ops");
    apply_ctx a = {ops, n, now};
    int rc = ecom__lmdb_write_then(be, apply_fn, apply_done, &a);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++)
            ops[i].result = rc; /* nothing was applied */
    return rc;
}
