/* The LMDB backend's order reads: order_get, and order_scan, which walks one of
 * the newest-first indexes (by user, by state, or all) in one snapshot.
 *
 * A scan's resume key is the full key of the index it walks (binary: it holds
 * the inverted creation time), handed to the callback as it is stored; a later
 * scan of the same kind restarts strictly after it, so no order is seen twice or
 * skipped even when orders were created in between. A key is checked to lie in the
 * scan's part of its index (the user's, the state's); a scan by user and state walks
 * the user's index, whose keys do not name the state, so whoever resumes one keeps
 * the state with the key (the core's cursors carry it, src/order_list.c). */
#include <string.h>

#include "lmdb_commerce.h"

static int visit(ecom_order_fn fn, void *ctx, const ecom_order_rec *rec, uint64_t version,
                 const void *key, size_t key_len)
{
    int rc = fn(ctx, rec, version, key, key_len);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

/* Looks up order id in txn; *found 0 when missing. */
static int order_load(ecom__lmdb *be, MDB_txn *txn, const char *id, ecom_order_rec *rec,
                      uint64_t *version, int *found)
{
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    *found = 0;
    int rc = mdb_get(txn, be->orders, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (orders)", rc);
    if (ecom__cm_order_decode(rec, version, id, &v) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: order '%.64s' is malformed", id);
    *found = 1;
    return ECOM_OK;
}

int ecom__lmdb_order_get(ecom_backend *base, const char *id, ecom_order_fn fn, void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (id == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: order_get needs id and fn");
    if (!ecom__cm_len_ok(id, ECOM_ID_MAX))
        return ecom__lmdb_fail(be, ECOM_ENOTFOUND, "order id empty or too long to exist");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    ecom_order_rec rec;
    uint64_t version;
    int found;
    rc = order_load(be, r.txn, id, &rec, &version, &found);
    if (rc == ECOM_OK && !found)
        rc = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "order '%.64s' not found", id);
    if (rc == ECOM_OK)
        rc = visit(fn, ctx, &rec, version, id, strlen(id));
    ecom__lmdb_read_end(be, &r);
    return rc < 0 ? rc : ECOM_OK;
}

/* ---- scans ---- */

typedef struct scan_ctx {
    ecom__lmdb *be;
    const ecom_order_scan *scan;
    int which;               /* the index walked */
    unsigned char prefix[CM_KEY_MAX];
    size_t plen;
    ecom_order_fn fn;
    void *ctx;
} scan_ctx;

static int scan_prepare(scan_ctx *s)
{
    const ecom_order_scan *scan = s->scan;
    if (scan->state < -1 || scan->state > UINT8_MAX)
        return ecom__lmdb_fail(s->be, ECOM_EINVAL, "lmdb: order scan state %d", scan->state);
    s->which = scan->user ? CM_BY_USER : scan->state >= 0 ? CM_BY_STATE : CM_BY_TIME;
    s->plen = 0;
    if (s->which == CM_BY_USER) {
        size_t len = strlen(scan->user);
        if (len > CM_NAME_MAX)
            return ecom__lmdb_fail(s->be, ECOM_EINVAL, "lmdb: order scan user too long");
        memcpy(s->prefix, scan->user, len + 1);
        s->plen = len + 1;
    } else if (s->which == CM_BY_STATE) {
        s->prefix[s->plen++] = (unsigned char)scan->state;
    }
    if (scan->after_len && (scan->after == NULL || scan->after_len > CM_KEY_MAX ||
                            scan->after_len < s->plen ||
                            memcmp(scan->after, s->prefix, s->plen) != 0))
        return ecom__lmdb_fail(s->be, ECOM_EINVAL,
                               "lmdb: the resume key is not one of this kind of order scan");
    return ECOM_OK;
}

/* Puts the cursor on the first entry to visit: right after the resume key, or at
 * the first order created before older_than, or at the start of the prefix. */
static int scan_seek(scan_ctx *s, MDB_cursor *cur, MDB_val *k)
{
    unsigned char start[CM_KEY_MAX];
    MDB_val v, at;
    const ecom_order_scan *scan = s->scan;
    if (scan->after_len) {
        at = (MDB_val){scan->after_len, (void *)scan->after};
    } else {
        memcpy(start, s->prefix, s->plen);
        at = (MDB_val){s->plen, start};
        if (scan->older_than) {
            ecom__cm_put_time(start + s->plen, scan->older_than, 1);
            at.mv_size += 8;
        }
    }
    *k = at;
    int rc = at.mv_size ? mdb_cursor_get(cur, k, &v, MDB_SET_RANGE)
                        : mdb_cursor_get(cur, k, &v, MDB_FIRST);
    if (rc == 0 && scan->after_len && k->mv_size == at.mv_size &&
        memcmp(k->mv_data, at.mv_data, at.mv_size) == 0)
        rc = mdb_cursor_get(cur, k, &v, MDB_NEXT);
    return rc;
}

/* Hands the order of one index entry to fn, if the scan's filters keep it:
 * 0 to go on, 1 to stop, or an error. */
static int scan_entry(scan_ctx *s, MDB_txn *txn, const MDB_val *k)
{
    cm_order_ikey ik;
    if (ecom__cm_order_key_split(&ik, s->which, k) != 0)
        return ecom__lmdb_fail(s->be, ECOM_ECORRUPT, "lmdb: malformed order index key");
    if (s->scan->older_than && ik.created_at >= s->scan->older_than)
        return 0;
    ecom_order_rec rec;
    uint64_t version;
    int found, rc = order_load(s->be, txn, ik.id, &rec, &version, &found);
    if (rc != ECOM_OK)
        return rc;
    if (!found)
        return ecom__lmdb_fail(s->be, ECOM_ECORRUPT,
                               "lmdb: order index names a missing order '%.64s'", ik.id);
    if (s->which == CM_BY_USER && s->scan->state >= 0 && rec.state != s->scan->state)
        return 0;
    return visit(s->fn, s->ctx, &rec, version, k->mv_data, k->mv_size);
}

static int scan_run(scan_ctx *s, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, ecom__cm_order_dbi(s->be, s->which), &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(s->be, "mdb_cursor_open (order index)", rc);
    int frc = 0;
    for (rc = scan_seek(s, cur, &k); rc == 0 && frc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < s->plen || memcmp(k.mv_data, s->prefix, s->plen) != 0)
            break; /* past the prefix */
        frc = scan_entry(s, txn, &k);
    }
    mdb_cursor_close(cur);
    if (frc != 0)
        return frc < 0 ? frc : ECOM_OK;
    if (rc == 0 || rc == MDB_NOTFOUND)
        return ECOM_OK;
    return ecom__lmdb_mdb(s->be, "mdb_cursor_get (order index)", rc);
}

int ecom__lmdb_order_scan(ecom_backend *base, const ecom_order_scan *scan, ecom_order_fn fn,
                          void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (scan == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: order_scan needs scan and fn");
    scan_ctx s;
    s.be = be;
    s.scan = scan;
    s.fn = fn;
    s.ctx = ctx;
    int rc = scan_prepare(&s);
    if (rc != ECOM_OK)
        return rc;
    ecom__lmdb_read r;
    if ((rc = ecom__lmdb_read_begin(be, &r)) != ECOM_OK)
        return rc;
    rc = scan_run(&s, r.txn);
    ecom__lmdb_read_end(be, &r);
    return rc;
}
