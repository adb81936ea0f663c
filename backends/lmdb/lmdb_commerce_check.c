/* The commerce part of the LMDB backend's check, in the check's snapshot: carts
 * within their bounds and in SKU order, idempotency keys naming existing orders,
 * every order handed to the core and in each index exactly once, payments against
 * their orders and index with at most one live approved charge per order, and
 * consumers not past the event log. */
#include <stdio.h>
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

#define QUOTE 160

typedef struct cchk {
    ecom__lmdb *be;
    MDB_txn *txn;
    ecom_check_sink *sink;
    uint64_t last_seq;
    /* "order\0charge_id\0": [0] approved charges, [1] approved voids; then
     * "order\0": [0] approved charges not voided. */
    inv_tally charges, orders;
} cchk;

__attribute__((format(printf, 2, 3))) static void report(cchk *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->sink->report(c->sink, msg);
}

/* A key quoted for messages, without its final NUL. */
static const char *qk(char buf[QUOTE], const MDB_val *k)
{
    size_t n = k->mv_size;
    if (n && ((const char *)k->mv_data)[n - 1] == '\0')
        n--;
    ecom__lmdb_quote(buf, QUOTE, k->mv_data, n);
    return buf;
}

static const char *q(char buf[QUOTE], const char *s)
{
    ecom__lmdb_quote(buf, QUOTE, s, strlen(s));
    return buf;
}

typedef int (*entry_fn)(cchk *c, const MDB_val *key, const MDB_val *val);

/* Runs each entry of dbi through fn (ecom__lmdb_each, with the checker typed). */
typedef struct each_ctx {
    cchk *c;
    entry_fn fn;
} each_ctx;

static int each_entry(void *ctx, const MDB_val *key, const MDB_val *val)
{
    each_ctx *e = ctx;
    return e->fn(e->c, key, val);
}

static int each(cchk *c, MDB_dbi dbi, entry_fn fn)
{
    each_ctx e = {c, fn};
    return ecom__lmdb_each(c->be, c->txn, dbi, "mdb_cursor_get (check)", each_entry, &e);
}

/* Looks a key up: 1 found, 0 not, or a negative error. */
static int lookup(cchk *c, MDB_dbi dbi, const void *key, size_t len, MDB_val *v)
{
    MDB_val k = {len, (void *)key};
    if (len == 0 || len > c->be->max_key)
        return 0;
    int rc = mdb_get(c->txn, dbi, &k, v);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return rc == 0;
    return ecom__lmdb_mdb(c->be, "mdb_get (check)", rc);
}

static int order_exists(cchk *c, const char *id)
{
    MDB_val v;
    return lookup(c, c->be->orders, id, strlen(id) + 1, &v);
}

/* ---- carts and purchase limits ---- */

static int cart_line(cchk *c, const char *cart, const cm_cart_view *v, size_t i)
{
    const ecom_cart_line_rec *l = &v->lines[i];
    char qs[QUOTE];
    if (i > 0 && strcmp(v->lines[i - 1].sku, l->sku) >= 0)
        report(c, "cart %s: line %s is out of SKU order or repeated", cart, q(qs, l->sku));
    if (l->quantity < 1 || l->quantity > ECOM_CART_QUANTITY_MAX)
        report(c, "cart %s: line %s holds %lld units, outside 1..%d", cart, q(qs, l->sku),
               (long long)l->quantity, ECOM_CART_QUANTITY_MAX);
    if (l->unit_price < 0)
        report(c, "cart %s: line %s has a negative price", cart, q(qs, l->sku));
    /* A line may name a SKU whose product was deleted since: that is the buyer's cart
     * as it was, not damage; checkout reports it (ECOM_ESTALE). */
    return ECOM_OK;
}

static int check_cart(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qc[QUOTE];
    cm_cart_view v;
    qk(qc, key);
    int rc = ecom__cm_cart_decode(&v, val);
    if (rc == ECOM_ELIMIT) {
        report(c, "cart %s has %zu lines, over %d", qc, v.n, ECOM_CART_LINES_MAX);
        return ECOM_OK;
    }
    if (rc != ECOM_OK || !ecom__lmdb_is_cstr(key->mv_data, key->mv_size)) {
        report(c, "cart %s is malformed", qc);
        return ECOM_OK;
    }
    if ((v.currency[0] != '\0') != (v.n > 0))
        report(c, "cart %s: currency '%.16s' with %zu lines (set iff it has lines)", qc,
               v.currency, v.n);
    for (size_t i = 0; rc == ECOM_OK && i < v.n; i++)
        rc = cart_line(c, qc, &v, i);
    return rc;
}

static int check_limit(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qs[QUOTE];
    if (val->mv_size != 8 || (int64_t)ecom__lmdb_get_u64(val->mv_data) <= 0)
        report(c, "purchase limit of %s is malformed", qk(qs, key));
    return ECOM_OK;
}

/* ---- idempotency keys ---- */

static int check_idem(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qi[QUOTE], qo[QUOTE];
    cm_idem k;
    qk(qi, key);
    if (ecom__cm_idem_decode(&k, val) != ECOM_OK) {
        report(c, "idempotency key %s is malformed", qi);
        return ECOM_OK;
    }
    if (k.order_id[0] == '\0')
        return ECOM_OK;
    int rc = order_exists(c, k.order_id);
    if (rc == 0)
        report(c, "idempotency key %s names a missing order %s", qi, q(qo, k.order_id));
    return rc < 0 ? rc : ECOM_OK;
}

/* ---- orders and their indexes ---- */

static const char *const index_names[CM_INDEXES] = {"ord_user", "ord_state", "ord_time"};

static int check_order(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qo[QUOTE];
    ecom_order_rec rec;
    uint64_t version;
    qk(qo, key);
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) ||
        ecom__cm_order_decode(&rec, &version, key->mv_data, val) != ECOM_OK) {
        report(c, "order %s is malformed", qo);
        return ECOM_OK;
    }
    if (version == 0)
        report(c, "order %s has version 0", qo);
    if (c->sink->order)
        c->sink->order(c->sink, &rec, version);
    for (int which = 0; which < CM_INDEXES; which++) {
        unsigned char ikey[CM_KEY_MAX];
        MDB_val v;
        int rc = lookup(c, ecom__cm_order_dbi(c->be, which), ikey,
                        ecom__cm_order_key(ikey, which, &rec), &v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            report(c, "order %s is missing from %s", qo, index_names[which]);
    }
    return ECOM_OK;
}

/* An index entry must name an order whose own key in that index is this one:
 * with the order's check above, each order is in each index exactly once. */
static int check_index(cchk *c, int which, const MDB_val *key)
{
    char qo[QUOTE];
    cm_order_ikey ik;
    if (ecom__cm_order_key_split(&ik, which, key) != 0) {
        report(c, "%s: malformed key %s", index_names[which], qk(qo, key));
        return ECOM_OK;
    }
    MDB_val v;
    int rc = lookup(c, c->be->orders, ik.id, strlen(ik.id) + 1, &v);
    if (rc <= 0) {
        if (rc == 0)
            report(c, "%s: entry names a missing order %s", index_names[which], q(qo, ik.id));
        return rc;
    }
    ecom_order_rec rec;
    uint64_t version;
    unsigned char want[CM_KEY_MAX];
    if (ecom__cm_order_decode(&rec, &version, ik.id, &v) != ECOM_OK)
        return ECOM_OK; /* reported with the order */
    size_t len = ecom__cm_order_key(want, which, &rec);
    if (len != key->mv_size || memcmp(want, key->mv_data, len) != 0)
        report(c, "%s: entry of order %s does not match its user, state or creation time",
               index_names[which], q(qo, ik.id));
    return ECOM_OK;
}

static int check_by_user(cchk *c, const MDB_val *key, const MDB_val *val)
{
    (void)val;
    return check_index(c, CM_BY_USER, key);
}

static int check_by_state(cchk *c, const MDB_val *key, const MDB_val *val)
{
    (void)val;
    return check_index(c, CM_BY_STATE, key);
}

static int check_by_time(cchk *c, const MDB_val *key, const MDB_val *val)
{
    (void)val;
    return check_index(c, CM_BY_TIME, key);
}

/* ---- payments ---- */

/* Counts approved charges and voids per (order, charge id). */
static int tally_charge(cchk *c, const ecom_payment_rec *rec)
{
    int charge = strcmp(rec->kind, "charge") == 0, voided = strcmp(rec->kind, "void") == 0;
    if (!rec->approved || (!charge && !voided))
        return ECOM_OK;
    unsigned char key[CM_KEY_MAX];
    size_t olen = strlen(rec->order_id) + 1, clen = strlen(rec->charge_id) + 1;
    if (olen + clen > sizeof key)
        return ECOM_OK; /* put refuses such records; the order check reports it */
    memcpy(key, rec->order_id, olen);
    memcpy(key + olen, rec->charge_id, clen);
    inv_tally_entry *e = ecom__inv_tally_get(&c->charges, key, olen + clen);
    if (e == NULL)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    e->v[charge ? 0 : 1]++;
    return ECOM_OK;
}

static int check_payment(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qp[QUOTE], qo[QUOTE];
    ecom_payment_rec rec;
    uint64_t seq;
    qk(qp, key);
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) ||
        ecom__cm_payment_decode(&rec, &seq, key->mv_data, val) != ECOM_OK) {
        report(c, "payment %s is malformed", qp);
        return ECOM_OK;
    }
    int rc = order_exists(c, rec.order_id);
    if (rc == 0)
        report(c, "payment %s names a missing order %s", qp, q(qo, rec.order_id));
    unsigned char ikey[CM_KEY_MAX];
    MDB_val v;
    if (rc >= 0)
        rc = lookup(c, c->be->pay_order, ikey,
                    ecom__cm_payment_key(ikey, rec.order_id, rec.time, seq, rec.key), &v);
    if (rc == 0)
        report(c, "payment %s is missing from pay_order", qp);
    return rc < 0 ? rc : tally_charge(c, &rec);
}

static int check_pay_index(cchk *c, const MDB_val *key, const MDB_val *val)
{
    (void)val;
    char qp[QUOTE];
    const char *order = key->mv_data;
    const char *nul = memchr(order, '\0', key->mv_size);
    size_t at = nul ? (size_t)(nul - order) + 17 : key->mv_size; /* order\0, time, seq */
    const char *pkey = order + (at < key->mv_size ? at : 0);
    if (at >= key->mv_size || !ecom__lmdb_is_cstr(pkey, key->mv_size - at)) {
        report(c, "pay_order: malformed key %s", qk(qp, key));
        return ECOM_OK;
    }
    MDB_val v;
    int rc = lookup(c, c->be->payments, pkey, key->mv_size - at, &v);
    if (rc <= 0) {
        if (rc == 0)
            report(c, "pay_order: entry names a missing payment %s", q(qp, pkey));
        return rc;
    }
    ecom_payment_rec rec;
    uint64_t seq;
    unsigned char want[CM_KEY_MAX];
    if (ecom__cm_payment_decode(&rec, &seq, pkey, &v) != ECOM_OK)
        return ECOM_OK; /* reported with the payment */
    size_t len = ecom__cm_payment_key(want, rec.order_id, rec.time, seq, rec.key);
    if (len != key->mv_size || memcmp(want, key->mv_data, len) != 0)
        report(c, "pay_order: entry of payment %s does not match its order, time or seq",
               q(qp, pkey));
    return ECOM_OK;
}

/* A charge id approved and not voided counts once per approval for its order. */
static int live_charges(void *ctx, inv_tally_entry *e)
{
    cchk *c = ctx;
    if (e->v[0] == 0 || e->v[1] > 0)
        return 0;
    inv_tally_entry *o = ecom__inv_tally_get(&c->orders, e->key, strlen((const char *)e->key) + 1);
    if (o == NULL)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    o->v[0] += e->v[0];
    return 0;
}

static int double_charges(void *ctx, inv_tally_entry *e)
{
    cchk *c = ctx;
    char qo[QUOTE];
    if (e->v[0] > 1)
        report(c, "order %s has %lld approved charges that were not voided",
               q(qo, (const char *)e->key), (long long)e->v[0]);
    return 0;
}

/* ---- consumers ---- */

static int check_consumer(cchk *c, const MDB_val *key, const MDB_val *val)
{
    char qn[QUOTE];
    qk(qn, key);
    if (val->mv_size != 8)
        report(c, "consumer %s is malformed", qn);
    else if (ecom__lmdb_get_u64(val->mv_data) > c->last_seq)
        report(c, "consumer %s acknowledged seq %llu, past the last event %llu", qn,
               (unsigned long long)ecom__lmdb_get_u64(val->mv_data),
               (unsigned long long)c->last_seq);
    return ECOM_OK;
}

/* ---- the run ---- */

static int run(cchk *c)
{
    ecom__lmdb *be = c->be;
    int rc = ecom__lmdb_last_seq(be, c->txn, &c->last_seq);
    if (rc == ECOM_OK)
        rc = each(c, be->carts, check_cart);
    if (rc == ECOM_OK)
        rc = each(c, be->plimits, check_limit);
    if (rc == ECOM_OK)
        rc = each(c, be->idem, check_idem);
    if (rc == ECOM_OK)
        rc = each(c, be->orders, check_order);
    if (rc == ECOM_OK)
        rc = each(c, be->ord_user, check_by_user);
    if (rc == ECOM_OK)
        rc = each(c, be->ord_state, check_by_state);
    if (rc == ECOM_OK)
        rc = each(c, be->ord_time, check_by_time);
    if (rc == ECOM_OK)
        rc = each(c, be->payments, check_payment);
    if (rc == ECOM_OK)
        rc = each(c, be->pay_order, check_pay_index);
    if (rc == ECOM_OK)
        rc = ecom__inv_tally_each(&c->charges, live_charges, c);
    if (rc == ECOM_OK)
        rc = ecom__inv_tally_each(&c->orders, double_charges, c);
    if (rc == ECOM_OK)
        rc = each(c, be->consumers, check_consumer);
    return rc;
}

int ecom__lmdb_commerce_check(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink)
{
    cchk c;
    memset(&c, 0, sizeof c);
    c.be = be;
    c.txn = txn;
    c.sink = sink;
    int rc = run(&c);
    ecom__inv_tally_free(&c.charges);
    ecom__inv_tally_free(&c.orders);
    return rc;
}
