/* The LMDB backend's write_batch: writes of every kind (inventory, carts, orders,
 * idempotency keys, payments) in ONE write txn, so the core's group commit pays
 * one commit and one fsync per batch instead of one per kind it mixes.
 *
 * Each run of consecutive items of one kind whose ops lie one after another in
 * memory (the core's batches are made so) goes to that kind's txn-level body
 * (*_apply_txn), the very code its *_apply runs in a txn of its own; so an item
 * is judged exactly as its kind's call would judge it. What spans the kinds is
 * kept here for the whole txn: the claim indexes, held from the start of the txn
 * to the hook that hears whether it committed, and the inventory state of the
 * txn (inv_txn: one lazy expiry sweep per txn). A map-full rerun starts over.
 * A dependent item (ECOM_WRITE_DEPENDENT) runs only if its anchor, the last item
 * of the run before it, was applied. */
#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

typedef struct batch_ctx {
    ecom_write_item *items;
    size_t n;
    int64_t now;
    int claims; /* some item touches inventory: the claim indexes are held */
} batch_ctx;

/* The size of the op type of kind, 0 for an unknown kind. */
static size_t op_size(int kind)
{
    switch (kind & ~ECOM_WRITE_DEPENDENT) {
    case ECOM_WRITE_INVENTORY: return sizeof(ecom_inventory_op);
    case ECOM_WRITE_CART: return sizeof(ecom_cart_op);
    case ECOM_WRITE_ORDER: return sizeof(ecom_order_op);
    case ECOM_WRITE_IDEM: return sizeof(ecom_idem_op);
    case ECOM_WRITE_PAYMENT: return sizeof(ecom_payment_op);
    default: return 0;
    }
}

/* Known kinds, each with an op, and a dependent item never first (no anchor). */
static int items_ok(const ecom_write_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (op_size(items[i].kind) == 0 || items[i].op == NULL ||
            (i == 0 && (items[i].kind & ECOM_WRITE_DEPENDENT)))
            return 0;
    return 1;
}

/* Inventory ops, or order writes carrying some, touch the claim indexes. */
static int needs_claims(const ecom_write_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((items[i].kind & ~ECOM_WRITE_DEPENDENT) == ECOM_WRITE_INVENTORY ||
            ((items[i].kind & ~ECOM_WRITE_DEPENDENT) == ECOM_WRITE_ORDER &&
             ecom__lmdb_order_needs_claims(items[i].op, 1)))
            return 1;
    return 0;
}

/* Where an item keeps its result (NULL for an unknown kind). */
static int *result_of(const ecom_write_item *item)
{
    if (item->op == NULL)
        return NULL;
    switch (item->kind & ~ECOM_WRITE_DEPENDENT) {
    case ECOM_WRITE_INVENTORY: return &((ecom_inventory_op *)item->op)->result;
    case ECOM_WRITE_CART: return &((ecom_cart_op *)item->op)->result;
    case ECOM_WRITE_ORDER: return &((ecom_order_op *)item->op)->result;
    case ECOM_WRITE_IDEM: return &((ecom_idem_op *)item->op)->op_result;
    case ECOM_WRITE_PAYMENT: return &((ecom_payment_op *)item->op)->result;
    default: return NULL;
    }
}

/* The unit failed: every item says why (items of an unknown kind cannot). */
static void fail_all(ecom_write_item *items, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++) {
        int *result = result_of(&items[i]);
        if (result)
            *result = rc;
    }
}

/* How many items from `at` on one call of a kind's body takes: the same kind, and
 * each op right after the previous one (the bodies take arrays). */
static size_t run_length(const ecom_write_item *items, size_t at, size_t n)
{
    size_t size = op_size(items[at].kind), len = 1;
    const char *first = items[at].op;
    while (at + len < n && items[at + len].kind == items[at].kind &&
           (const char *)items[at + len].op == first + size * len)
        len++;
    return len;
}

/* Runs len items of one kind, ops contiguous from item->op, in txn. */
static int run(ecom__lmdb *be, MDB_txn *txn, inv_txn *t, const ecom_write_item *item,
               size_t len, int64_t now)
{
    void *ops = item->op;
    switch (item->kind & ~ECOM_WRITE_DEPENDENT) {
    case ECOM_WRITE_INVENTORY: return ecom__lmdb_inventory_apply_txn(be, txn, t, ops, len, now);
    case ECOM_WRITE_CART: return ecom__lmdb_cart_apply_txn(be, txn, ops, len, now);
    case ECOM_WRITE_ORDER: return ecom__lmdb_order_apply_txn(be, txn, t, ops, len, now);
    case ECOM_WRITE_IDEM: return ecom__lmdb_idem_apply_txn(be, txn, ops, len, now);
    case ECOM_WRITE_PAYMENT: return ecom__lmdb_payment_apply_txn(be, txn, ops, len, now);
    default: return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: unknown write kind %d", item->kind);
    }
}

static int batch_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    batch_ctx *b = ctx;
    if (b->claims)
        ecom__inv_claims_begin(be); /* held until batch_done */
    /* Every run of the txn starts from nothing: each body resets its ops' out
     * fields as it reaches them, and the inventory state starts afresh. */
    inv_txn t = {0, 0, 0};
    int rc = ECOM_OK, anchor = ECOM_OK;
    for (size_t at = 0, len; rc == ECOM_OK && at < b->n; at += len) {
        ecom_write_item *item = &b->items[at];
        len = run_length(b->items, at, b->n);
        if ((item->kind & ECOM_WRITE_DEPENDENT) && anchor != ECOM_OK) {
            for (size_t i = 0; i < len; i++)
                *result_of(&item[i]) = anchor; /* skipped, as its anchor was */
            continue;
        }
        rc = run(be, txn, &t, item, len, b->now);
        if (!(item->kind & ECOM_WRITE_DEPENDENT))
            anchor = *result_of(&item[len - 1]);
    }
    return rc;
}

/* A txn that did not commit (error, or a map full that reruns it) takes its
 * changes to the claim indexes with it. */
static void batch_done(ecom__lmdb *be, void *ctx, int committed)
{
    const batch_ctx *b = ctx;
    if (b->claims)
        ecom__inv_claims_end(be, committed);
}

int ecom__lmdb_write_batch(ecom_backend *base, ecom_write_item *items, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (items == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: write_batch needs items");
    int rc;
    if (!items_ok(items, n)) {
        rc = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: write_batch item of unknown kind or "
                                              "without op");
    } else {
        batch_ctx b = {items, n, now, needs_claims(items, n)};
        rc = ecom__lmdb_write_then(be, batch_fn, batch_done, &b);
    }
    if (rc != ECOM_OK)
        fail_all(items, n, rc); /* nothing was applied */
    return rc;
}
