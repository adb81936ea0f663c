/* The LMDB backend's event consumers: each name's acknowledged seq, which only
 * ever grows. */
#include <string.h>

#include "lmdb_commerce.h"

typedef struct ack_ctx {
    const char *name;
    uint64_t seq;
} ack_ctx;

/* The stored seq of name in txn (0 when new). */
static int load(ecom__lmdb *be, MDB_txn *txn, const char *name, uint64_t *seq)
{
    MDB_val k = {strlen(name) + 1, (void *)name}, v;
    *seq = 0;
    int rc = mdb_get(txn, be->consumers, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (consumers)", rc);
    if (v.mv_size != 8)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: consumer '%.64s' is malformed", name);
    *seq = ecom__lmdb_get_u64(v.mv_data);
    return ECOM_OK;
}

static int name_ok(ecom__lmdb *be, const char *name)
{
    return ecom__cm_len_ok(name, CM_NAME_MAX)
               ? ECOM_OK
               : ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: consumer name empty or too long");
}

int ecom__lmdb_consumer_get(ecom_backend *base, const char *name, uint64_t *seq)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (seq == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: consumer_get needs seq");
    int rc = name_ok(be, name);
    if (rc != ECOM_OK)
        return rc;
    ecom__lmdb_read r;
    if ((rc = ecom__lmdb_read_begin(be, &r)) != ECOM_OK)
        return rc;
    rc = load(be, r.txn, name, seq);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* Acknowledging less than before changes nothing (and dirties no page). A seq
 * past the log's end is cut to it: acknowledging events not yet written would
 * make the consumer skip them once they are. */
static int ack_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    ack_ctx *a = ctx;
    uint64_t stored = 0, last = 0;
    int rc = load(be, txn, a->name, &stored);
    if (rc == ECOM_OK)
        rc = ecom__lmdb_last_seq(be, txn, &last);
    uint64_t seq = a->seq < last ? a->seq : last;
    if (rc != ECOM_OK || seq <= stored)
        return rc;
    unsigned char buf[8];
    ecom__lmdb_put_u64(buf, seq);
    MDB_val k = {strlen(a->name) + 1, (void *)a->name}, v = {sizeof buf, buf};
    rc = mdb_put(txn, be->consumers, &k, &v, 0);
    return rc ? ecom__lmdb_mdb(be, "mdb_put (consumers)", rc) : ECOM_OK;
}

int ecom__lmdb_consumer_ack(ecom_backend *base, const char *name, uint64_t seq)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    int rc = name_ok(be, name);
    if (rc != ECOM_OK)
        return rc;
    ack_ctx a = {name, seq};
    return ecom__lmdb_write(be, ack_fn, &a);
}
