/* The LMDB backend's order writes: order_apply, each op judged alone in one write
 * txn with its three index entries, its event, the checkout's idempotency key and
 * the inventory operations that go with it.
 *
 * When one of an op's inventory operations is refused, neither the order nor any
 * stock change of that op stays, while the txn keeps what came before (earlier ops,
 * and the lazy expiry sweep). One inventory operation is atomic by itself, as in a
 * batch of inventory operations: refused, it leaves only what stays whatever
 * happens (a due hold it found expired). So a single one runs in the txn itself,
 * and only several (the first may succeed, the next be refused) need a nested txn
 * to abort. A nested txn copies every page it touches that its parent had made
 * dirty already: in a large batch, most of what it writes. */
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

typedef struct order_ctx {
    int64_t now;
    /* The event log's and the ledger's last seq as this txn wrote them. */
    uint64_t event_seq, ledger_seq;
    int event_known, ledger_known;
} order_ctx;

/* What an update needs of the stored order, copied: the nested txn of the
 * inventory operations may move the pages the stored value was read from. */
typedef struct order_old {
    int found;
    uint64_t version;
    int state;
    int64_t created_at;
    char user[CM_NAME_MAX + 1];
} order_old;

/* ---- judging ---- */

static int refuse(ecom__lmdb *be, ecom_order_op *op, int code, const char *why)
{
    op->result = ecom__lmdb_fail(be, code, "order '%.64s': %s", op->rec.id ? op->rec.id : "", why);
    return ECOM_OK;
}

static int rec_ok(const ecom_order_rec *rec)
{
    return ecom__cm_len_ok(rec->id, ECOM_ID_MAX) && rec->user != NULL &&
           strnlen(rec->user, CM_NAME_MAX + 1) <= CM_NAME_MAX && rec->state >= 0 &&
           rec->state <= UINT8_MAX && (rec->data != NULL || rec->data_len == 0);
}

static int load_old(ecom__lmdb *be, MDB_txn *txn, const char *id, order_old *old)
{
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    old->found = 0;
    int rc = mdb_get(txn, be->orders, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (orders)", rc);
    ecom_order_rec rec;
    if (ecom__cm_order_decode(&rec, &old->version, id, &v) != ECOM_OK ||
        strlen(rec.user) > CM_NAME_MAX)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: order '%.64s' is malformed", id);
    old->found = 1;
    old->state = rec.state;
    old->created_at = rec.created_at;
    strcpy(old->user, rec.user);
    return ECOM_OK;
}

/* The stored state allows op: its result says why not. */
static int judge(ecom__lmdb *be, MDB_txn *txn, ecom_order_op *op, const order_old *old,
                 cm_idem *idem)
{
    if (op->kind == ECOM_ORDER_CREATE) {
        if (old->found)
            return refuse(be, op, ECOM_EEXISTS, "already exists");
        if (op->idem_key == NULL)
            return ECOM_OK;
        if (!ecom__cm_len_ok(op->idem_key, CM_NAME_MAX))
            return refuse(be, op, ECOM_ENOTFOUND, "its idempotency key cannot exist");
        int found, rc = ecom__cm_idem_load(be, txn, op->idem_key, idem, &found);
        if (rc == ECOM_OK && (!found || idem->state != CM_IDEM_HELD))
            return refuse(be, op, ECOM_ENOTFOUND, "its idempotency key is not held");
        /* Claimed in the same batch by this request, or by another one (or already
         * naming an order of an earlier holder): only the first may create. */
        if (rc == ECOM_OK && op->idem_holder &&
            (idem->holder != op->idem_holder || idem->order_id[0]))
            return refuse(be, op, ECOM_EBUSY, "its idempotency key is held for another order");
        return rc;
    }
    if (!old->found)
        return refuse(be, op, ECOM_ENOTFOUND, "not found");
    if (op->expected_version != ECOM_VERSION_ANY && op->expected_version != old->version)
        return refuse(be, op, ECOM_ECONFLICT, "stale version");
    return ECOM_OK;
}

/* ---- inventory in a nested txn ---- */

static int is_flash(ecom_inventory_op_kind kind)
{
    return kind == ECOM_INV_FLASH_OPEN || kind == ECOM_INV_FLASH_CLOSE ||
           kind == ECOM_INV_FLASH_CLAIM || kind == ECOM_INV_FLASH_RELEASE ||
           kind == ECOM_INV_FLASH_COMMIT || kind == ECOM_INV_FLASH_BIND;
}

/* Runs op's inventory operations until one is refused (op->result = its
 * result). The other operations' results are not meaningful then: nothing of
 * them stays. */
static int inventory_run(inv_ctx *c, ecom_order_op *op, int *flash)
{
    for (size_t i = 0; i < op->inventory_count; i++) {
        ecom_inventory_op *iop = &op->inventory[i];
        *flash |= is_flash(iop->kind);
        int rc = ecom__inv_dispatch(c, iop);
        if (rc != ECOM_OK)
            return rc;
        if (iop->result != ECOM_OK) {
            op->result = iop->result;
            return ECOM_OK;
        }
    }
    return ecom__inv_flush(c);
}

/* A context for op's inventory operations in txn, carrying on the txn's seqs. */
static void inventory_ctx(inv_ctx *c, ecom__lmdb *be, MDB_txn *txn, const order_ctx *a)
{
    ecom__inv_ctx_init(c, be, txn, a->now);
    c->lazy_done = 1; /* the txn swept */
    c->event_seq = a->event_seq;
    c->event_known = a->event_known;
    c->ledger_seq = a->ledger_seq;
    c->ledger_known = a->ledger_known;
}

/* The seqs as c left them, for the rest of the txn. */
static void inventory_seqs(order_ctx *a, const inv_ctx *c)
{
    a->event_seq = c->event_seq;
    a->event_known = c->event_known;
    a->ledger_seq = c->ledger_seq;
    a->ledger_known = c->ledger_known;
}

/* The one inventory operation of op, in the txn itself. What a refusal leaves
 * stays, so its seqs and sale figures are kept either way. */
static int inventory_single(ecom__lmdb *be, MDB_txn *txn, order_ctx *a, ecom_order_op *op)
{
    inv_ctx c;
    inventory_ctx(&c, be, txn, a);
    int rc = ecom__inv_dispatch(&c, &op->inventory[0]);
    if (rc == ECOM_OK)
        rc = ecom__inv_flush(&c);
    if (rc == ECOM_OK && op->inventory[0].result != ECOM_OK)
        op->result = op->inventory[0].result;
    inventory_seqs(a, &c);
    return rc;
}

static int inventory(ecom__lmdb *be, MDB_txn *txn, order_ctx *a, ecom_order_op *op)
{
    if (op->inventory_count == 1)
        return inventory_single(be, txn, a, op);
    MDB_txn *child;
    int rc = mdb_txn_begin(be->env, txn, 0, &child);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_txn_begin (nested)", rc);
    inv_ctx c;
    inventory_ctx(&c, be, child, a);
    int flash = 0;
    rc = inventory_run(&c, op, &flash);
    if (rc != ECOM_OK || op->result != ECOM_OK) {
        mdb_txn_abort(child);
        /* The claim indexes may hold changes the abort undid while the parent
         * commits: drop them all (each is rebuilt from the store on next use). */
        if (flash)
            ecom__inv_claims_free(be);
        return rc;
    }
    if ((rc = mdb_txn_commit(child)) != 0)
        return ecom__lmdb_mdb(be, "mdb_txn_commit (nested)", rc);
    inventory_seqs(a, &c);
    return ECOM_OK;
}

/* ---- writing ---- */

static int index_put(ecom__lmdb *be, MDB_txn *txn, int which, const ecom_order_rec *rec,
                     const ecom_order_rec *was)
{
    unsigned char key[CM_KEY_MAX], old[CM_KEY_MAX];
    MDB_dbi dbi = ecom__cm_order_dbi(be, which);
    size_t len = ecom__cm_order_key(key, which, rec), olen = 0;
    if (len == 0)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: order '%.64s' index key too long", rec->id);
    if (was != NULL && (olen = ecom__cm_order_key(old, which, was)) != 0) {
        if (olen == len && memcmp(old, key, len) == 0)
            return ECOM_OK; /* the index fields did not change */
        MDB_val ok = {olen, old};
        int rc = mdb_del(txn, dbi, &ok, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return ecom__lmdb_mdb(be, "mdb_del (order index)", rc);
    }
    MDB_val k = {len, key}, v = {0, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(be, "mdb_put (order index)", rc) : ECOM_OK;
}

static int event(ecom__lmdb *be, MDB_txn *txn, order_ctx *a, const ecom_order_op *op,
                 uint64_t version)
{
    if (!a->event_known) {
        int rc = ecom__lmdb_last_seq(be, txn, &a->event_seq);
        if (rc != ECOM_OK)
            return rc;
        a->event_known = 1;
    }
    const char *type = op->event ? op->event
                       : op->kind == ECOM_ORDER_CREATE ? "order.created" : "order.updated";
    return ecom__lmdb_event_append(be, txn, &a->event_seq, a->now, type, op->rec.id, version);
}

/* Stores rec at version, moves its index entries from `was` (NULL: new). */
static int order_store(ecom__lmdb *be, MDB_txn *txn, const ecom_order_rec *rec,
                       const ecom_order_rec *was, uint64_t version)
{
    size_t size = ecom__cm_order_size(rec);
    if (size == 0)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: order '%.64s' too large", rec->id);
    MDB_val k = {strlen(rec->id) + 1, (void *)rec->id}, v = {size, NULL};
    int rc = mdb_put(txn, be->orders, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_put (orders)", rc);
    ecom__cm_order_encode(v.mv_data, rec, version);
    for (int which = 0; rc == ECOM_OK && which < CM_INDEXES; which++)
        rc = index_put(be, txn, which, rec, was);
    return rc;
}

/* An order's created_at is fixed when it is created: an update keeps it, so the
 * newest-first indexes never reorder an order. */
static int one_order(ecom__lmdb *be, MDB_txn *txn, order_ctx *a, ecom_order_op *op)
{
    op->result = ECOM_OK;
    op->version = 0;
    if (op->kind != ECOM_ORDER_CREATE && op->kind != ECOM_ORDER_UPDATE)
        return refuse(be, op, ECOM_EINVAL, "unknown order op");
    if (!rec_ok(&op->rec) || (op->inventory_count && op->inventory == NULL))
        return refuse(be, op, ECOM_EINVAL, "malformed order write");
    order_old old;
    cm_idem idem;
    int rc = load_old(be, txn, op->rec.id, &old);
    if (rc == ECOM_OK)
        rc = judge(be, txn, op, &old, &idem);
    if (rc == ECOM_OK && op->result == ECOM_OK && op->inventory_count)
        rc = inventory(be, txn, a, op);
    if (rc != ECOM_OK || op->result != ECOM_OK)
        return rc;
    ecom_order_rec rec = op->rec, was = {rec.id, old.user, old.state, old.created_at, NULL, 0};
    if (old.found)
        rec.created_at = old.created_at;
    uint64_t version = old.found ? old.version + 1 : 1;
    rc = order_store(be, txn, &rec, old.found ? &was : NULL, version);
    if (rc == ECOM_OK && op->kind == ECOM_ORDER_CREATE && op->idem_key) {
        strcpy(idem.order_id, rec.id);
        rc = ecom__cm_idem_store(be, txn, op->idem_key, &idem);
    }
    if (rc == ECOM_OK)
        rc = event(be, txn, a, op, version);
    if (rc == ECOM_OK)
        op->version = version;
    return rc;
}

/* ---- apply ---- */

/* The sweep runs in the parent, once per txn (t says whether some inventory work
 * of the txn ran it already), so the holds it ends stay ended whatever happens to
 * the nested txns; its cached sale figures are written back before any nested txn
 * reads them. */
static int sweep(ecom__lmdb *be, MDB_txn *txn, order_ctx *a, inv_txn *t)
{
    if (t->lazy_done)
        return ECOM_OK;
    inv_ctx c;
    ecom__inv_ctx_init(&c, be, txn, a->now);
    int rc = ecom__inv_lazy_sweep(&c);
    if (rc == ECOM_OK)
        rc = ecom__inv_flush(&c);
    a->event_seq = c.event_seq;
    a->event_known = c.event_known;
    a->ledger_seq = c.ledger_seq;
    a->ledger_known = c.ledger_known;
    t->lazy_done = 1;
    t->swept += c.swept;
    t->due_left = c.due_left;
    return rc;
}

int ecom__lmdb_order_needs_claims(const ecom_order_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i].inventory_count > 0)
            return 1;
    return 0;
}

int ecom__lmdb_order_apply_txn(ecom__lmdb *be, MDB_txn *txn, inv_txn *t, ecom_order_op *ops,
                               size_t n, int64_t now)
{
    order_ctx a;
    memset(&a, 0, sizeof a); /* the seqs are read afresh: the txn's other work moves them */
    a.now = now;
    int rc = ECOM_OK;
    if (ecom__lmdb_order_needs_claims(ops, n))
        rc = sweep(be, txn, &a, t);
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = one_order(be, txn, &a, &ops[i]);
    return rc;
}

typedef struct apply_args {
    ecom_order_op *ops;
    size_t n;
    int64_t now;
    int inventory; /* some op carries inventory operations: claims are fenced */
} apply_args;

static int apply_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    apply_args *a = ctx;
    if (a->inventory)
        ecom__inv_claims_begin(be); /* held until apply_done */
    inv_txn t = {0, 0, 0}; /* a rerun after growing the map starts from nothing */
    return ecom__lmdb_order_apply_txn(be, txn, &t, a->ops, a->n, a->now);
}

static void apply_done(ecom__lmdb *be, void *ctx, int committed)
{
    apply_args *a = ctx;
    if (a->inventory)
        ecom__inv_claims_end(be, committed);
}

int ecom__lmdb_order_apply(ecom_backend *base, ecom_order_op *ops, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (ops == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: order_apply needs ops");
    apply_args a = {ops, n, now, ecom__lmdb_order_needs_claims(ops, n)};
    int rc = ecom__lmdb_write_then(be, apply_fn, apply_done, &a);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++)
            ops[i].result = rc; /* nothing was applied */
    return rc;
}
