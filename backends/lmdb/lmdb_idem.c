/* The LMDB backend's idempotency keys: idem_apply (BEGIN, FINISH, PURGE, each
 * judged alone in one write txn), and the load and store order_apply uses to
 * record a checkout's order in its key.
 *
 * Times: a key is expired once created_at + ttl_ms <= now and its holder stale
 * once holder_started_at + stale_ms <= now, the same "due at the instant" rule as
 * every expiry of this backend (the contract says "more than ... ago", which
 * differs only at that exact millisecond). A ttl_ms or stale_ms <= 0 means never:
 * 0 must not make every key free or every holder stale. */
#include <string.h>

#include "lmdb_commerce.h"

typedef struct idem_ctx {
    ecom_idem_op *ops;
    size_t n;
    int64_t now;
} idem_ctx;

int ecom__cm_idem_load(ecom__lmdb *be, MDB_txn *txn, const char *key, cm_idem *k, int *found)
{
    MDB_val kv = {strlen(key) + 1, (void *)key}, v;
    *found = 0;
    int rc = mdb_get(txn, be->idem, &kv, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (idem)", rc);
    if (ecom__cm_idem_decode(k, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: idempotency key '%.128s' is malformed",
                               key);
    *found = 1;
    return ECOM_OK;
}

int ecom__cm_idem_store(ecom__lmdb *be, MDB_txn *txn, const char *key, const cm_idem *k)
{
    MDB_val kv = {strlen(key) + 1, (void *)key};
    MDB_val v = {CM_IDEM_SIZE(strlen(k->order_id)), NULL};
    int rc = mdb_put(txn, be->idem, &kv, &v, MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_put (idem)", rc);
    ecom__cm_idem_encode(v.mv_data, k);
    return ECOM_OK;
}

static int due(int64_t since, int64_t span, int64_t now)
{
    return span > 0 && ecom__cm_add_sat(since, span) <= now;
}

/* The results a retry may resume from: the key is released, not finished. */
static int retryable(int result)
{
    return result == ECOM_ETIMEOUT || result == ECOM_EPAYMENT || result == ECOM_EBACKEND ||
           result == ECOM_EBUSY;
}

/* ---- BEGIN ---- */

/* Holds k for the caller from now: NEW, with the order id an earlier holder made. */
static int take(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *op, cm_idem *k, int64_t now)
{
    k->state = CM_IDEM_HELD;
    k->started_at = now;
    k->holder = op->holder;
    op->state = ECOM_IDEM_NEW;
    strcpy(op->order_id, k->order_id);
    return ecom__cm_idem_store(be, txn, op->key, k);
}

static int begin(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *op, int64_t now)
{
    cm_idem k;
    int found, rc = ecom__cm_idem_load(be, txn, op->key, &k, &found);
    if (rc != ECOM_OK)
        return rc;
    /* A key expires ttl_ms after it was made, but not under a request holding it: a
     * retry that took it over late, or a TTL shorter than a checkout, would otherwise
     * hand it to another request mid-flight (a second order and charge). */
    int live = found && k.state == CM_IDEM_HELD && !due(k.started_at, op->stale_ms, now);
    if (!found || (!live && due(k.created_at, op->ttl_ms, now))) {
        k = (cm_idem){.state = CM_IDEM_HELD, .result = ECOM_OK, .fingerprint = op->fingerprint,
                      .created_at = now, .started_at = now};
        return take(be, txn, op, &k, now);
    }
    if (k.fingerprint != op->fingerprint) {
        op->state = ECOM_IDEM_MISMATCH;
        return ECOM_OK;
    }
    if (k.state == CM_IDEM_DONE) {
        op->state = ECOM_IDEM_DONE;
        op->result = k.result;
        strcpy(op->order_id, k.order_id);
        return ECOM_OK;
    }
    if (k.state == CM_IDEM_RELEASED || due(k.started_at, op->stale_ms, now))
        return take(be, txn, op, &k, now); /* released, or a crashed holder's */
    op->state = ECOM_IDEM_IN_FLIGHT;
    strcpy(op->order_id, k.order_id);
    return ECOM_OK;
}

/* ---- FINISH ---- */

/* Deletes a key, as if it had never been used (Stripe keeps no result for a request
 * refused before it did anything: its retry, once the cause is fixed, runs afresh). */
static int forget(ecom__lmdb *be, MDB_txn *txn, const char *key)
{
    MDB_val k = {strlen(key) + 1, (void *)key};
    int rc = mdb_del(txn, be->idem, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? ecom__lmdb_mdb(be, "mdb_del (idem)", rc) : ECOM_OK;
}

/* An empty order_id keeps the one stored (order_apply may have recorded it). */
static int finish(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *op)
{
    if (strnlen(op->order_id, sizeof op->order_id) == sizeof op->order_id || op->result > 0) {
        op->op_result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: FINISH needs a terminated "
                                        "order_id and an ECOM result code");
        return ECOM_OK;
    }
    cm_idem k;
    int found, rc = ecom__cm_idem_load(be, txn, op->key, &k, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found || k.state != CM_IDEM_HELD) {
        op->op_result = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "idempotency key '%.128s' is not held",
                                        op->key);
        return ECOM_OK;
    }
    if (op->holder && k.holder != op->holder) { /* taken over since: the taker's to end */
        op->op_result = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "idempotency key '%.128s' is held "
                                        "by another request now", op->key);
        return ECOM_OK;
    }
    if (op->order_id[0])
        strcpy(k.order_id, op->order_id);
    if (op->result != ECOM_OK && k.order_id[0] == '\0')
        return forget(be, txn, op->key); /* refused before doing anything: nothing to keep */
    k.state = retryable(op->result) ? CM_IDEM_RELEASED : CM_IDEM_DONE;
    k.result = k.state == CM_IDEM_DONE ? op->result : ECOM_OK;
    return ecom__cm_idem_store(be, txn, op->key, &k);
}

/* ---- PURGE ---- */

/* Deletes keys created ttl_ms or longer before now, but not one a request holds (its
 * holder began less than stale_ms ago, when stale_ms > 0). Malformed values are left
 * for check to report. */
static int purge(ecom__lmdb *be, MDB_txn *txn, int64_t ttl_ms, int64_t stale_ms, int64_t now,
                 uint64_t *count)
{
    if (ttl_ms <= 0)
        return ECOM_OK;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, be->idem, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (idem)", rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cm_idem rec;
        if (ecom__cm_idem_decode(&rec, &v) != ECOM_OK || !due(rec.created_at, ttl_ms, now))
            continue;
        if (stale_ms > 0 && rec.state == CM_IDEM_HELD && !due(rec.started_at, stale_ms, now))
            continue;
        /* After a delete the cursor's NEXT yields the entry that followed. */
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*count)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "purge (idem)", rc);
}

/* ---- apply ---- */

static int dispatch(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *op, int64_t now)
{
    op->op_result = ECOM_OK;
    op->state = ECOM_IDEM_NEW;
    op->count = 0;
    if (op->kind == ECOM_IDEM_PURGE)
        return purge(be, txn, op->ttl_ms, op->stale_ms, now, &op->count);
    if (!ecom__cm_len_ok(op->key, CM_NAME_MAX)) {
        op->op_result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: idempotency key empty or too long");
        return ECOM_OK;
    }
    if (op->kind == ECOM_IDEM_BEGIN) {
        op->result = ECOM_OK;
        op->order_id[0] = '\0';
        return begin(be, txn, op, now);
    }
    if (op->kind == ECOM_IDEM_FINISH)
        return finish(be, txn, op);
    op->op_result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: unknown idempotency op %d",
                                    (int)op->kind);
    return ECOM_OK;
}

int ecom__lmdb_idem_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *ops, size_t n,
                              int64_t now)
{
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = dispatch(be, txn, &ops[i], now);
    return rc;
}

static int apply_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    idem_ctx *a = ctx;
    return ecom__lmdb_idem_apply_txn(be, txn, a->ops, a->n, a->now);
}

int ecom__lmdb_idem_apply(ecom_backend *base, ecom_idem_op *ops, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (ops == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: idem_apply needs ops");
    idem_ctx a = {ops, n, now};
    int rc = ecom__lmdb_write(be, apply_fn, &a);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++)
            ops[i].op_result = rc; /* nothing was applied */
    return rc;
}
