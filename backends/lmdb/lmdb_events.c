/* The LMDB backend's event log: append inside a write txn, read, last seq. */
#include <string.h>

#include "lmdb_internal.h"

int ecom__lmdb_last_seq(ecom__lmdb *be, MDB_txn *txn, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, be->events, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (events)", rc);
    rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        return ECOM_OK;
    }
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_get (events)", rc);
    if (key.mv_size != 8)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: the last event key is not 8 bytes");
    *seq = ecom__lmdb_get_u64be(key.mv_data);
    return ECOM_OK;
}

int ecom__lmdb_event_append(ecom__lmdb *be, MDB_txn *txn, uint64_t *seq, int64_t time,
                            const char *type, const char *key, uint64_t version)
{
    if (*seq == UINT64_MAX)
        return ecom__lmdb_fail(be, ECOM_EBACKEND, "lmdb: the event log is full");
    ecom_event_rec ev = {*seq + 1, time, type, key, version};
    size_t size = ecom__lmdb_event_size(type, key);
    if (size == 0)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: event type or key too long");
    unsigned char kbuf[8];
    ecom__lmdb_put_u64be(kbuf, ev.seq);
    MDB_val k = {sizeof kbuf, kbuf}, v = {size, NULL};
    /* Big-endian keys grow with seq, so APPEND holds and skips the search. */
    int rc = mdb_put(txn, be->events, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_put (events)", rc);
    ecom__lmdb_event_encode(v.mv_data, &ev);
    *seq = ev.seq;
    return ECOM_OK;
}

static int read_events(ecom__lmdb *be, MDB_txn *txn, uint64_t after, size_t max,
                       ecom_event_fn fn, void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, be->events, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (events)", rc);
    unsigned char kbuf[8];
    ecom__lmdb_put_u64be(kbuf, after + 1);
    MDB_val key = {sizeof kbuf, kbuf}, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    for (size_t n = 0; n < max && rc == 0; n++) {
        ecom_event_rec ev;
        if (key.mv_size != 8 || ecom__lmdb_event_decode(&ev, val.mv_data, val.mv_size) != 0) {
            rc = ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: event after seq %llu does not parse",
                                 (unsigned long long)after);
            goto cleanup;
        }
        ev.seq = after = ecom__lmdb_get_u64be(key.mv_data);
        if ((rc = fn(ctx, &ev)) != 0)
            goto cleanup;
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    else if (rc != 0)
        rc = ecom__lmdb_mdb(be, "mdb_cursor_get (events)", rc);
cleanup:
    mdb_cursor_close(cur);
    return rc > 0 ? ECOM_OK : rc; /* fn's 1 stops early, not an error */
}

int ecom__lmdb_events_read(ecom_backend *base, uint64_t after, size_t max, ecom_event_fn fn,
                           void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: events_read needs fn");
    if (max == 0 || after == UINT64_MAX)
        return ECOM_OK;
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = read_events(be, r.txn, after, max, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

int ecom__lmdb_events_last_seq(ecom_backend *base, uint64_t *seq)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (seq == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: events_last_seq needs seq");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = ecom__lmdb_last_seq(be, r.txn, seq);
    ecom__lmdb_read_end(be, &r);
    return rc;
}
