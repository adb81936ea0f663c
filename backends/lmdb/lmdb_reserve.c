/* The LMDB backend's reservations: reserve all lines or none, end exactly once
 * (commit, release, expire), extend; each with its ledger entries, events and
 * expiry index entry in the same txn. */
#include <string.h>

#include "lmdb_inventory.h"

#define RESV_STACK_BYTES 4096
#define RESV_STACK_LINES 64

static const char *const end_events[] = {"reservation.created", "reservation.committed",
                                         "reservation.released", "reservation.expired"};
static const int end_kinds[] = {INV_K_RESERVE, INV_K_COMMIT, INV_K_RELEASE, INV_K_EXPIRE};

/* A reservation copied out of the map (the txn's own writes may move its page)
 * and decoded; small ones live on the stack. */
typedef struct loaded {
    int found;
    inv_resv r;
    MDB_val val; /* the copy */
    unsigned char *heap;
    const char **skus_heap;
    int64_t *qtys_heap;
    unsigned char stack[RESV_STACK_BYTES];
    const char *skus_stack[RESV_STACK_LINES];
    int64_t qtys_stack[RESV_STACK_LINES];
} loaded;

static void loaded_free(loaded *l)
{
    ecom__free(l->heap);
    ecom__free(l->skus_heap);
    ecom__free(l->qtys_heap);
    l->heap = NULL;
    l->skus_heap = NULL;
    l->qtys_heap = NULL;
}

static int decode_copy(inv_ctx *c, loaded *l, const char *id)
{
    size_t n;
    const char **skus = l->skus_stack;
    int64_t *qtys = l->qtys_stack;
    if (ecom__inv_resv_lines(&l->val, &n) != ECOM_OK)
        goto corrupt;
    if (n > RESV_STACK_LINES) {
        skus = l->skus_heap = ecom__calloc(n, sizeof *skus);
        qtys = l->qtys_heap = ecom__calloc(n, sizeof *qtys);
        if (skus == NULL || qtys == NULL)
            return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory for a reservation");
    }
    if (ecom__inv_resv_decode(&l->r, &l->val, skus, qtys) != ECOM_OK)
        goto corrupt;
    l->found = 1;
    return ECOM_OK;
corrupt:
    return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: reservation '%.64s' is malformed", id);
}

/* Loads reservation id into l (l->found 0 if there is none). Free with loaded_free. */
static int load(inv_ctx *c, const char *id, loaded *l)
{
    l->found = 0;
    l->heap = NULL;
    l->skus_heap = NULL;
    l->qtys_heap = NULL;
    size_t len = strlen(id);
    if (len > ECOM_ID_MAX)
        return ECOM_OK; /* too long to exist */
    MDB_val k = {len + 1, (void *)id}, v;
    int rc = mdb_get(c->txn, c->be->resv, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_get (resv)", rc);
    unsigned char *copy = l->stack;
    if (v.mv_size > sizeof l->stack && (copy = l->heap = ecom__malloc(v.mv_size)) == NULL)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory for a reservation");
    memcpy(copy, v.mv_data, v.mv_size);
    l->val = (MDB_val){v.mv_size, copy};
    return decode_copy(c, l, id);
}

/* Moves a held reservation to state: stock of every line, the value, the index. */
static int end_hold(inv_ctx *c, const char *id, loaded *l, int state)
{
    const inv_resv *r = &l->r;
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < r->line_count; i++) {
        int64_t q = r->qtys[i];
        rc = ecom__inv_stock_move(c, end_kinds[state], r->skus[i], r->location,
                                  state == ECOM_RESERVATION_COMMITTED ? -q : 0, -q, id, NULL);
    }
    if (rc == ECOM_OK)
        rc = ecom__inv_expiry_del(c, r->expires_at, INV_EXPIRY_RESV, id, 0);
    if (rc != ECOM_OK)
        return rc;
    ecom__inv_resv_patch(l->val.mv_data, state, r->expires_at, c->now);
    MDB_val k = {strlen(id) + 1, (void *)id}, v = l->val;
    if ((rc = mdb_put(c->txn, c->be->resv, &k, &v, 0)) != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (resv)", rc);
    return ecom__inv_event(c, end_events[state], id);
}

/* ---- reserve ---- */

/* Judges one line's quantity against the stock there. */
static int judge_line(inv_ctx *c, ecom_inventory_op *op, size_t i)
{
    inv_stock s;
    int found, policy;
    int rc = ecom__inv_stock_load(c, op->line_skus[i], op->location, &s, &found);
    if (rc == ECOM_OK)
        rc = ecom__inv_backorder(c, op->line_skus[i], &policy);
    if (rc != ECOM_OK)
        return rc;
    int64_t q = op->line_quantities[i], sum;
    if (q <= 0 || __builtin_add_overflow(s.reserved, q, &sum)) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "line %zu: quantity %lld out of "
                                     "range", i, (long long)q);
        return ECOM_OK;
    }
    /* Computed without overflow: on_hand and reserved are sane figures here. */
    int64_t sellable = s.on_hand - s.reserved - s.safety;
    sellable = sellable > 0 ? sellable : 0;
    if (policy == ECOM_BACKORDER_DENY && q > sellable)
        op->result = ecom__lmdb_fail(c->be, ECOM_EINSUFFICIENT, "'%s' at '%s': %lld wanted, "
                                     "%lld sellable", op->line_skus[i], op->location,
                                     (long long)q, (long long)sellable);
    return ECOM_OK;
}

/* Judges every line: first that each SKU exists (an unknown SKU is named wherever
 * it stands), then the stock. Sets op->result and failed_line. */
static int judge_lines(inv_ctx *c, ecom_inventory_op *op)
{
    int fatal;
    for (size_t i = 0; i < op->line_count; i++) {
        op->failed_line = i;
        if ((op->result = ecom__inv_need_sku(c, op->line_skus[i], &fatal)) != ECOM_OK)
            return fatal;
    }
    for (size_t i = 0; i < op->line_count; i++) {
        op->failed_line = i;
        int rc = judge_line(c, op, i);
        if (rc != ECOM_OK || op->result != ECOM_OK)
            return rc;
    }
    op->failed_line = 0;
    return ECOM_OK;
}

static int reserve_apply(inv_ctx *c, ecom_inventory_op *op)
{
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < op->line_count; i++)
        rc = ecom__inv_stock_move(c, INV_K_RESERVE, op->line_skus[i], op->location, 0,
                                  op->line_quantities[i], op->id, NULL);
    if (rc != ECOM_OK)
        return rc;
    int64_t expires_at = c->now + op->ttl_ms;
    inv_resv r = {ECOM_RESERVATION_HELD, c->now, expires_at, 0, op->fingerprint,
                  op->location, 0, NULL, NULL, NULL};
    size_t size = ecom__inv_resv_size(op->location, op->line_count, op->line_skus);
    if (size == 0)
        return ecom__lmdb_fail(c->be, ECOM_ETOOLONG, "lmdb: reservation too large");
    MDB_val k = {strlen(op->id) + 1, (void *)op->id}, v = {size, NULL};
    if ((rc = mdb_put(c->txn, c->be->resv, &k, &v, MDB_RESERVE)) != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (resv)", rc);
    ecom__inv_resv_encode(v.mv_data, &r, op->line_count, op->line_skus, op->line_quantities);
    rc = ecom__inv_expiry_put(c, expires_at, INV_EXPIRY_RESV, op->id, 0);
    return rc ? rc : ecom__inv_event(c, "reservation.created", op->id);
}

/* An existing id: the same request is answered again, another one conflicts. */
static int reserve_existing(inv_ctx *c, ecom_inventory_op *op, const loaded *l)
{
    if (l->r.fingerprint == op->fingerprint) {
        op->existing = 1;
        return ECOM_OK;
    }
    op->result = ecom__lmdb_fail(c->be, ECOM_ECONFLICT, "reservation '%s' exists with other "
                                 "lines", op->id);
    return ECOM_OK;
}

int ecom__inv_reserve(inv_ctx *c, ecom_inventory_op *op)
{
    loaded l;
    int fatal, rc = load(c, op->id, &l);
    if (rc != ECOM_OK)
        goto cleanup;
    if (l.found) {
        rc = reserve_existing(c, op, &l);
        goto cleanup;
    }
    if (strlen(op->id) > ECOM_ID_MAX || op->line_count == 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: reservation id or lines");
        goto cleanup;
    }
    if ((op->result = ecom__inv_need_location(c, op->location, &fatal)) != ECOM_OK) {
        rc = fatal;
        goto cleanup;
    }
    rc = judge_lines(c, op);
    /* Short of stock while due holds are left: end them all, then judge again,
     * so an expired hold never blocks a buyer. */
    if (rc == ECOM_OK && op->result == ECOM_EINSUFFICIENT && c->due_left) {
        c->due_left = 0;
        if ((rc = ecom__inv_sweep(c, UINT64_MAX, &c->swept)) == ECOM_OK)
            rc = judge_lines(c, op);
    }
    if (rc == ECOM_OK && op->result == ECOM_OK)
        rc = reserve_apply(c, op);
cleanup:
    loaded_free(&l);
    return rc;
}

/* ---- commit, release, extend, expire ---- */

/* The refusal for a reservation that is not held (or is due, and expired now). */
static int not_held(inv_ctx *c, ecom_inventory_op *op, loaded *l, int *refused)
{
    *refused = 1;
    if (!l->found) {
        op->result = ecom__lmdb_fail(c->be, ECOM_ENOTFOUND, "reservation '%.64s' not found",
                                     op->id);
        return ECOM_OK;
    }
    int state = l->r.state;
    if (state == ECOM_RESERVATION_HELD && l->r.expires_at <= c->now) {
        /* Due but not swept yet: it expires now, and that change stays even though
         * this operation fails. */
        int rc = end_hold(c, op->id, l, ECOM_RESERVATION_EXPIRED);
        if (rc != ECOM_OK)
            return rc;
        state = ECOM_RESERVATION_EXPIRED;
    }
    if (state == ECOM_RESERVATION_EXPIRED)
        op->result = ecom__lmdb_fail(c->be, ECOM_EEXPIRED, "reservation '%s' expired", op->id);
    else if (state != ECOM_RESERVATION_HELD)
        op->result = ecom__lmdb_fail(c->be, ECOM_EENDED, "reservation '%s' has already ended",
                                     op->id);
    else
        *refused = 0;
    return ECOM_OK;
}

int ecom__inv_resv_end_op(inv_ctx *c, ecom_inventory_op *op)
{
    loaded l;
    int refused, rc = load(c, op->id, &l);
    if (rc == ECOM_OK)
        rc = not_held(c, op, &l, &refused);
    if (rc == ECOM_OK && !refused)
        rc = end_hold(c, op->id, &l,
                      op->kind == ECOM_INV_COMMIT ? ECOM_RESERVATION_COMMITTED
                                                  : ECOM_RESERVATION_RELEASED);
    loaded_free(&l);
    return rc;
}

static int extend_apply(inv_ctx *c, ecom_inventory_op *op, loaded *l)
{
    int rc = ecom__inv_expiry_del(c, l->r.expires_at, INV_EXPIRY_RESV, op->id, 0);
    if (rc == ECOM_OK)
        rc = ecom__inv_expiry_put(c, c->now + op->ttl_ms, INV_EXPIRY_RESV, op->id, 0);
    if (rc != ECOM_OK)
        return rc;
    ecom__inv_resv_patch(l->val.mv_data, ECOM_RESERVATION_HELD, c->now + op->ttl_ms, 0);
    MDB_val k = {strlen(op->id) + 1, (void *)op->id}, v = l->val;
    if ((rc = mdb_put(c->txn, c->be->resv, &k, &v, 0)) != 0)
        return ecom__lmdb_mdb(c->be, "mdb_put (resv)", rc);
    /* Not named by the contract; the event log records every change. */
    return ecom__inv_event(c, "reservation.extended", op->id);
}

int ecom__inv_extend(inv_ctx *c, ecom_inventory_op *op)
{
    loaded l;
    int refused, rc = load(c, op->id, &l);
    if (rc == ECOM_OK)
        rc = not_held(c, op, &l, &refused);
    if (rc == ECOM_OK && !refused)
        rc = extend_apply(c, op, &l);
    loaded_free(&l);
    return rc;
}

int ecom__inv_resv_expire(inv_ctx *c, const char *id)
{
    loaded l;
    int rc = load(c, id, &l);
    /* An entry that names no due hold (corruption, or a stale time) ends nothing. */
    if (rc == ECOM_OK && l.found && l.r.state == ECOM_RESERVATION_HELD &&
        l.r.expires_at <= c->now)
        rc = end_hold(c, id, &l, ECOM_RESERVATION_EXPIRED);
    loaded_free(&l);
    return rc;
}
