/* The LMDB backend's payment ledger of the built-in test provider: payment_apply
 * (idempotent puts on the call's key), payment_get, and payment_list of an
 * order's records oldest first through the pay_order index. */
#include <string.h>

#include "lmdb_commerce.h"

#define SEQ_KEY "payment_seq"

typedef struct pay_ctx {
    ecom_payment_op *ops;
    size_t n;
    int64_t now;
    uint64_t seq; /* the last payment seq, as this txn wrote it */
    int seq_known, seq_dirty;
} pay_ctx;

/* ---- the seq counter in meta ---- */

static int seq_load(ecom__lmdb *be, MDB_txn *txn, pay_ctx *a)
{
    MDB_val k = {sizeof SEQ_KEY, (void *)SEQ_KEY}, v;
    int rc = mdb_get(txn, be->meta, &k, &v);
    a->seq = 0;
    a->seq_known = 1;
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (meta)", rc);
    if (v.mv_size != 8)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: meta payment_seq is malformed");
    a->seq = ecom__lmdb_get_u64(v.mv_data);
    return ECOM_OK;
}

static int seq_store(ecom__lmdb *be, MDB_txn *txn, const pay_ctx *a)
{
    unsigned char buf[8];
    ecom__lmdb_put_u64(buf, a->seq);
    MDB_val k = {sizeof SEQ_KEY, (void *)SEQ_KEY}, v = {sizeof buf, buf};
    int rc = mdb_put(txn, be->meta, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(be, "mdb_put (meta)", rc) : ECOM_OK;
}

/* ---- apply ---- */

/* Copies s into out, cut to fit (stored strings fit: put refuses longer ones). */
static void copy_str(char *out, size_t size, const char *s)
{
    size_t len = strnlen(s, size - 1);
    memcpy(out, s, len);
    out[len] = '\0';
}

static void out_fields(ecom_payment_op *op, const ecom_payment_rec *rec)
{
    op->approved = rec->approved != 0;
    op->amount = rec->amount;
    copy_str(op->charge_id, sizeof op->charge_id, rec->charge_id);
    copy_str(op->reason, sizeof op->reason, rec->reason);
}

static int rec_ok(const ecom_payment_rec *r)
{
    return ecom__cm_len_ok(r->key, CM_NAME_MAX) && ecom__cm_len_ok(r->order_id, ECOM_ID_MAX) &&
           r->charge_id && strnlen(r->charge_id, CM_CHARGE_ID_MAX + 1) <= CM_CHARGE_ID_MAX &&
           ecom__cm_len_ok(r->kind, CM_NAME_MAX) && r->reason &&
           strnlen(r->reason, CM_REASON_MAX + 1) <= CM_REASON_MAX;
}

/* Stores a new record under its key and in the order index. */
static int put_new(ecom__lmdb *be, MDB_txn *txn, pay_ctx *a, ecom_payment_rec *rec)
{
    int rc = a->seq_known ? ECOM_OK : seq_load(be, txn, a);
    if (rc != ECOM_OK)
        return rc;
    uint64_t seq = a->seq + 1;
    unsigned char ikey[CM_KEY_MAX];
    MDB_val ik = {ecom__cm_payment_key(ikey, rec->order_id, rec->time, seq, rec->key), ikey};
    MDB_val k = {strlen(rec->key) + 1, (void *)rec->key};
    MDB_val v = {ecom__cm_payment_size(rec), NULL}, empty = {0, NULL};
    if (ik.mv_size == 0 || v.mv_size == 0)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: payment key too long");
    if ((rc = mdb_put(txn, be->payments, &k, &v, MDB_RESERVE)) != 0)
        return ecom__lmdb_mdb(be, "mdb_put (payments)", rc);
    ecom__cm_payment_encode(v.mv_data, rec, seq);
    if ((rc = mdb_put(txn, be->pay_order, &ik, &empty, 0)) != 0)
        return ecom__lmdb_mdb(be, "mdb_put (pay_order)", rc);
    a->seq = seq;
    a->seq_dirty = 1;
    return ECOM_OK;
}

/* A record's time is the caller's, or now when it gives none (0). */
static int one_payment(ecom__lmdb *be, MDB_txn *txn, pay_ctx *a, ecom_payment_op *op)
{
    op->result = ECOM_OK;
    op->existing = 0;
    if (!rec_ok(&op->rec)) {
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: malformed payment record");
        return ECOM_OK;
    }
    MDB_val k = {strlen(op->rec.key) + 1, (void *)op->rec.key}, v;
    int rc = mdb_get(txn, be->payments, &k, &v);
    if (rc == 0) {
        ecom_payment_rec stored;
        uint64_t seq;
        if (ecom__cm_payment_decode(&stored, &seq, op->rec.key, &v) != ECOM_OK)
            return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: payment '%.128s' is malformed",
                                   op->rec.key);
        op->existing = 1;
        out_fields(op, &stored);
        return ECOM_OK;
    }
    if (rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(be, "mdb_get (payments)", rc);
    ecom_payment_rec rec = op->rec;
    if (rec.time == 0)
        rec.time = a->now;
    if ((rc = put_new(be, txn, a, &rec)) == ECOM_OK)
        out_fields(op, &rec);
    return rc;
}

/* The seq counter is read on first use and written once at the end, so each call
 * starts from what the txn holds (a rerun after growing the map, or a later run of
 * payments in the same write_batch txn). */
int ecom__lmdb_payment_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_payment_op *ops, size_t n,
                                 int64_t now)
{
    pay_ctx a;
    memset(&a, 0, sizeof a);
    a.ops = ops;
    a.n = n;
    a.now = now;
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = one_payment(be, txn, &a, &ops[i]);
    if (rc == ECOM_OK && a.seq_dirty)
        rc = seq_store(be, txn, &a);
    return rc;
}

static int apply_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    pay_ctx *a = ctx;
    return ecom__lmdb_payment_apply_txn(be, txn, a->ops, a->n, a->now);
}

int ecom__lmdb_payment_apply(ecom_backend *base, ecom_payment_op *ops, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (ops == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: payment_apply needs ops");
    pay_ctx a;
    memset(&a, 0, sizeof a);
    a.ops = ops;
    a.n = n;
    a.now = now;
    int rc = ecom__lmdb_write(be, apply_fn, &a);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++)
            ops[i].result = rc; /* nothing was applied */
    return rc;
}

/* ---- reads ---- */

/* Hands the record of key to fn; *found 0 when missing. */
static int visit_key(ecom__lmdb *be, MDB_txn *txn, const char *key, ecom_payment_fn fn,
                     void *ctx, int *found)
{
    MDB_val k = {strlen(key) + 1, (void *)key}, v;
    *found = 0;
    int rc = mdb_get(txn, be->payments, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (payments)", rc);
    ecom_payment_rec rec;
    uint64_t seq;
    if (ecom__cm_payment_decode(&rec, &seq, key, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: payment '%.128s' is malformed", key);
    *found = 1;
    rc = fn(ctx, &rec);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

int ecom__lmdb_payment_get(ecom_backend *base, const char *key, ecom_payment_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (key == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: payment_get needs key and fn");
    if (!ecom__cm_len_ok(key, CM_NAME_MAX))
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "payment key empty or too long to exist");
    ecom__lmdb_read r;
    int found, rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = visit_key(be, r.txn, key, fn, ctx, &found);
    if (rc == ECOM_OK && !found)
        rc = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "payment '%.128s' not found", key);
    ecom__lmdb_read_end(be, &r);
    return rc < 0 ? rc : ECOM_OK;
}

static int list_run(ecom__lmdb *be, MDB_txn *txn, const char *order_id, ecom_payment_fn fn,
                    void *ctx)
{
    size_t plen = strlen(order_id) + 1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, be->pay_order, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (pay_order)", rc);
    MDB_val k = {plen, (void *)order_id}, v;
    int frc = 0, found;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && frc == 0 && k.mv_size > plen + 16 && memcmp(k.mv_data, order_id, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *key = (const char *)k.mv_data + plen + 16;
        if (!ecom__lmdb_is_cstr(key, k.mv_size - plen - 16))
            frc = ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: malformed pay_order key");
        else if ((frc = visit_key(be, txn, key, fn, ctx, &found)) == 0 && !found)
            frc = ecom__lmdb_fail(be, ECOM_ECORRUPT,
                                  "lmdb: pay_order names a missing payment '%.128s'", key);
    }
    mdb_cursor_close(cur);
    if (frc != 0)
        return frc < 0 ? frc : ECOM_OK;
    return rc == 0 || rc == MDB_NOTFOUND ? ECOM_OK
                                         : ecom__lmdb_mdb(be, "mdb_cursor_get (pay_order)", rc);
}

int ecom__lmdb_payment_list(ecom_backend *base, const char *order_id, ecom_payment_fn fn,
                            void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (order_id == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: payment_list needs order_id and fn");
    if (!ecom__cm_len_ok(order_id, ECOM_ID_MAX))
        return ECOM_OK; /* no order by that id: no records */
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = list_run(be, r.txn, order_id, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}
