/* The commerce part of the LMDB backend's check, in the check's snapshot: carts
 * within their bounds and in SKU order, idempotency keys naming existing orders,
 * every order handed to the core, against the holds and charge it names
 * (lmdb_order_links_check.c) and in each index exactly once, payments against
 * their orders and index with at most one live approved charge per order, the test
 * provider's refunds and voids against its orders' refunds and states, and
 * consumers not past the event log. */
#include <stdio.h>
#include <string.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"
/* The core's order codec: an order's refunds are in its opaque content, and only
 * this check holds the snapshot in which they and the ledger can be compared. */
#include "orders.h"

#define QUOTE 160

typedef struct cchk {
    ecom__lmdb *be;
    MDB_txn *txn;
    ecom_check_sink *sink;
    uint64_t last_seq;
    /* The payment ledger in one pass: charges by "order\0charge_id\0" and orders by
     * "order\0", their counters named below. */
    inv_tally charges, orders;
} cchk;

/* A charge id's approved charges, voids, refunds' sum and charges' amount. */
enum { CH_CHARGES, CH_VOIDS, CH_REFUNDED, CH_AMOUNT };
/* An order's approved refunds' sum; then (live_charges) its approved charges not
 * voided, and what those hold that their refunds did not give back. */
enum { OR_REFUNDED, OR_LIVE, OR_KEPT };

/* A violation, through the sink of checker c. */
#define report(c, ...) ecom__lmdb_report((c)->sink, __VA_ARGS__)

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

/* 1 found (into v), 0 not, or a negative error. */
static int lookup(cchk *c, MDB_dbi dbi, const void *key, size_t len, MDB_val *v)
{
    return ecom__lmdb_check_get(c->be, c->txn, dbi, key, len, v);
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
    /* A forward is what a merge leaves of a guest cart: it names a user's cart. */
    if (v.into[0] && (strncmp(key->mv_data, "guest:", 6) != 0 ||
                      strncmp(v.into, "user:", 5) != 0 || v.into[5] == '\0')) {
        char qi[QUOTE];
        report(c, "cart %s: forwards to %s (only a guest cart forwards, to a user cart)", qc,
               q(qi, v.into));
    }
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
    int rc = ecom__lmdb_check_order_links(c->be, c->txn, c->sink, &rec, version);
    if (rc != ECOM_OK)
        return rc;
    for (int which = 0; which < CM_INDEXES; which++) {
        unsigned char ikey[CM_KEY_MAX];
        MDB_val v;
        rc = lookup(c, ecom__cm_order_dbi(c->be, which), ikey,
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

/* Money summed without wrapping: a damaged ledger may hold any amount. */
static int64_t money_add(int64_t a, int64_t b)
{
    int64_t sum;
    if (__builtin_add_overflow(a, b, &sum))
        return b < 0 ? INT64_MIN : INT64_MAX;
    return sum;
}

/* Tallies one record: approved charges, voids and refunds per (order, charge id), and
 * refunds per order. */
static int tally_payment(cchk *c, const ecom_payment_rec *rec)
{
    bool charge = strcmp(rec->kind, "charge") == 0, voided = strcmp(rec->kind, "void") == 0,
         refund = strcmp(rec->kind, "refund") == 0;
    if (!rec->approved || (!charge && !voided && !refund))
        return ECOM_OK;
    unsigned char key[CM_KEY_MAX];
    size_t olen = strlen(rec->order_id) + 1, clen = strlen(rec->charge_id) + 1;
    if (olen + clen > sizeof key)
        return ECOM_OK; /* put refuses such records; the order check reports it */
    memcpy(key, rec->order_id, olen);
    memcpy(key + olen, rec->charge_id, clen);
    inv_tally_entry *e = ecom__inv_tally_get(&c->charges, key, olen + clen);
    inv_tally_entry *o = refund ? ecom__inv_tally_get(&c->orders, key, olen) : NULL;
    if (e == NULL || (refund && o == NULL))
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    if (charge) {
        e->v[CH_CHARGES]++;
        e->v[CH_AMOUNT] = money_add(e->v[CH_AMOUNT], rec->amount);
    } else if (voided) {
        e->v[CH_VOIDS]++;
    } else {
        e->v[CH_REFUNDED] = money_add(e->v[CH_REFUNDED], rec->amount);
        o->v[OR_REFUNDED] = money_add(o->v[OR_REFUNDED], rec->amount);
    }
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
    return rc < 0 ? rc : tally_payment(c, &rec);
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

/* Gives each order with an approved charge its entry; a charge id approved and not
 * voided counts once per approval for its order, with what its refunds did not give
 * back. */
static int live_charges(void *ctx, inv_tally_entry *e)
{
    cchk *c = ctx;
    if (e->v[CH_CHARGES] == 0)
        return 0;
    const char *order = (const char *)e->key, *charge = order + strlen(order) + 1;
    char qo[QUOTE], qc[QUOTE];
    if (e->v[CH_REFUNDED] > e->v[CH_AMOUNT])
        report(c, "charge %s of order %s: the test provider refunded %lld of %lld charged",
               q(qc, charge), q(qo, order), (long long)e->v[CH_REFUNDED],
               (long long)e->v[CH_AMOUNT]);
    inv_tally_entry *o = ecom__inv_tally_get(&c->orders, e->key, strlen(order) + 1);
    if (o == NULL)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    if (e->v[CH_VOIDS] > 0)
        return 0;
    o->v[OR_LIVE] += e->v[CH_CHARGES];
    int64_t kept;
    if (__builtin_sub_overflow(e->v[CH_AMOUNT], e->v[CH_REFUNDED], &kept))
        kept = e->v[CH_REFUNDED] < 0 ? INT64_MAX : 0;
    if (kept > 0)
        o->v[OR_KEPT] = money_add(o->v[OR_KEPT], kept);
    return 0;
}

/* The ledger's refunds of an order paid through it must lie between its confirmed
 * refunds (each was paid before it was confirmed) and those plus its pending ones
 * (reserved on the order before the provider is asked: paid or not yet). An order
 * whose charge the ledger does not hold was paid through another provider (or not at
 * all), and this ledger knows nothing of its money. */
static int check_refunds(cchk *c, const inv_tally_entry *e, const ecom_order_rec *rec,
                         uint64_t version)
{
    ecom_order *o = NULL;
    int rc = ecom__order_decode(&o, rec, version);
    if (rc == ECOM_ENOMEM)
        return ecom__lmdb_fail(c->be, rc, "lmdb: out of memory in check");
    if (rc != ECOM_OK)
        return ECOM_OK; /* the core's check of the order reports it */
    unsigned char key[CM_KEY_MAX];
    size_t olen = e->len, clen = strlen(o->charge_id) + 1;
    const inv_tally_entry *charge = NULL;
    if (clen > 1 && olen + clen <= sizeof key) {
        memcpy(key, e->key, olen);
        memcpy(key + olen, o->charge_id, clen);
        charge = ecom__inv_tally_find(&c->charges, key, olen + clen);
    }
    int64_t low = o->refunded, pending = ecom__order_pending_refunds(o);
    int64_t high = money_add(low, pending);
    char qo[QUOTE];
    int64_t ledger = e->v[OR_REFUNDED];
    if (charge && charge->v[CH_CHARGES] > 0 && (ledger < low || ledger > high))
        report(c, "order %s: the test provider refunded %lld, outside %lld..%lld (the "
               "order's %lld refunded, plus %lld pending)", q(qo, o->id), (long long)ledger,
               (long long)low, (long long)high, (long long)low, (long long)pending);
    /* Paid (and not cancelled since) on a charge given back: goods for no money. */
    if (charge && charge->v[CH_VOIDS] > 0 && o->state != ECOM_ORDER_PENDING_PAYMENT &&
        o->state != ECOM_ORDER_CANCELLED)
        report(c, "order %s is %s but the test provider voided its charge %s", q(qo, o->id),
               ecom_order_state_name(o->state), o->charge_id);
    ecom_order_free(o);
    return ECOM_OK;
}

/* Per order with an approved charge or a refund in the ledger: at most one live
 * approved charge; the refunds (check_refunds); and, cancelled, every approved charge
 * voided or refunded in full in the ledger: the money taken is given back. The cancel
 * of a paid order has its refund paid before the move to cancelled and confirmed in
 * the same unit, so a refund still unpaid then is one reserved before the cancel:
 * money not given back (which the core's check reports too, as a cancelled order not
 * refunded in full). */
static int ledger_order(void *ctx, inv_tally_entry *e)
{
    cchk *c = ctx;
    char qo[QUOTE];
    const char *id = (const char *)e->key;
    if (e->v[OR_LIVE] > 1)
        report(c, "order %s has %lld approved charges that were not voided", q(qo, id),
               (long long)e->v[OR_LIVE]);
    MDB_val v;
    int rc = lookup(c, c->be->orders, id, e->len, &v);
    if (rc <= 0)
        return rc; /* a missing order: reported with its payments */
    ecom_order_rec rec;
    uint64_t version;
    if (ecom__cm_order_decode(&rec, &version, id, &v) != ECOM_OK)
        return ECOM_OK; /* reported with the order */
    if (rec.state == ECOM_ORDER_CANCELLED && e->v[OR_KEPT] > 0)
        report(c, "order %s is cancelled but %lld that the test provider charged it was "
               "neither voided nor refunded", q(qo, id), (long long)e->v[OR_KEPT]);
    return check_refunds(c, e, &rec, version);
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
        rc = ecom__inv_tally_each(&c->orders, ledger_order, c);
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
