/* The LMDB backend's carts: cart_apply (add, set, remove, clear, merge, take, purge,
 * each judged alone in one write txn), cart_get, and purchase_limits_get (the
 * limits cart writes apply, for checkout to apply again). A cart that becomes
 * empty is deleted, so a stored cart has lines and a currency, except a guest cart
 * merged into a user's: it stays as a forward (no lines, the user's cart's name) until
 * it expires or is written again, so that an order checked out from it and paid after
 * the merge takes what it bought from where its lines went. An expired cart is treated
 * as empty by every operation (the next write replaces it). */
#include <stdio.h>
#include <string.h>

#include "lmdb_commerce.h"

typedef struct cart_apply_ctx {
    int64_t now;
    cm_cart a, b, out; /* per call, not per op: its ops reuse them */
} cart_apply_ctx;

/* ---- load and store ---- */

/* Loads cart id as it stands at now: missing or expired is empty. */
static int cart_load(ecom__lmdb *be, MDB_txn *txn, const char *id, int64_t now, cm_cart *c)
{
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    c->n = 0;
    c->currency[0] = c->into[0] = '\0';
    c->updated_at = c->expires_at = 0;
    int rc = mdb_get(txn, be->carts, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (carts)", rc);
    cm_cart_view view;
    if (ecom__cm_cart_decode(&view, &v) != ECOM_OK || ecom__cm_cart_copy(c, &view) != ECOM_OK)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: cart '%.80s' is malformed", id);
    if (c->expires_at <= now) {
        c->n = 0;
        c->currency[0] = c->into[0] = '\0';
    }
    return ECOM_OK;
}

/* Writes cart id as it is (times included), deleting it when it has neither lines nor
 * a forward. */
static int cart_put(ecom__lmdb *be, MDB_txn *txn, const char *id, cm_cart *c)
{
    MDB_val k = {strlen(id) + 1, (void *)id};
    int rc;
    if (c->n > 0)
        c->into[0] = '\0'; /* lines written to a forward end it */
    else if (c->into[0] == '\0') {
        rc = mdb_del(txn, be->carts, &k, NULL);
        return rc && rc != MDB_NOTFOUND ? ecom__lmdb_mdb(be, "mdb_del (carts)", rc) : ECOM_OK;
    }
    MDB_val v = {ecom__cm_cart_size(c), NULL};
    if ((rc = mdb_put(txn, be->carts, &k, &v, MDB_RESERVE)) != 0)
        return ecom__lmdb_mdb(be, "mdb_put (carts)", rc);
    ecom__cm_cart_encode(v.mv_data, c);
    return ECOM_OK;
}

/* Writes cart id (deleting it when empty) as touched now, living ttl_ms. */
static int cart_store(ecom__lmdb *be, MDB_txn *txn, const char *id, cm_cart *c, int64_t now,
                      int64_t ttl_ms)
{
    c->updated_at = now;
    c->expires_at = ecom__cm_add_sat(now, ttl_ms);
    return cart_put(be, txn, id, c);
}

/* Binary search by SKU: 1 and its index if found, else 0 and where it goes. */
static int line_find(const cm_cart *c, const char *sku, size_t *at)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->lines[mid].sku, sku);
        if (cmp == 0) {
            *at = mid;
            return 1;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

static void line_delete(cm_cart *c, size_t at)
{
    memmove(&c->lines[at], &c->lines[at + 1], (c->n - at - 1) * sizeof c->lines[0]);
    c->n--;
    if (c->n == 0)
        c->currency[0] = '\0';
}

/* ---- ADD and SET ---- */

/* Judges the arguments the stored state does not decide (op->result). */
static void judge_line_args(ecom__lmdb *be, ecom_cart_op *op, int64_t min_qty)
{
    if (!ecom__cm_len_ok(op->sku, ECOM_ID_MAX))
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: cart line needs a sku");
    else if (!ecom__cm_len_ok(op->currency, CM_CURRENCY_MAX))
        op->result = ecom__lmdb_fail(be, ECOM_ECURRENCY, "lmdb: cart line needs a currency");
    else if (op->quantity < min_qty)
        op->result = ecom__lmdb_fail(be, ECOM_EQUANTITY, "cart quantity %lld is out of range",
                                     (long long)op->quantity);
    else if (op->unit_price < 0)
        op->result = ecom__lmdb_fail(be, ECOM_EPRICE, "cart unit price %lld is negative",
                                     (long long)op->unit_price);
}

/* The most units of sku a line may hold: the bound, or the SKU's limit below it. */
static int line_cap(ecom__lmdb *be, MDB_txn *txn, const char *sku, int64_t *cap)
{
    int64_t limit;
    int rc = ecom__cm_purchase_limit(be, txn, sku, &limit);
    *cap = limit > 0 && limit < ECOM_CART_QUANTITY_MAX ? limit : ECOM_CART_QUANTITY_MAX;
    return rc;
}

/* Sets line sku to qty units at price (qty 0 deletes it), within the bounds. */
static int line_put(ecom__lmdb *be, MDB_txn *txn, ecom_cart_op *op, cm_cart *c, int64_t qty)
{
    size_t at;
    int found = line_find(c, op->sku, &at);
    if (qty == 0) {
        if (found)
            line_delete(c, at);
        return ECOM_OK;
    }
    int64_t cap;
    int rc = line_cap(be, txn, op->sku, &cap);
    if (rc != ECOM_OK)
        return rc;
    if (qty > cap) {
        op->result = ecom__lmdb_fail(be, ECOM_ELIMIT, "cart line '%s' would hold %lld units; "
                                     "at most %lld", op->sku, (long long)qty, (long long)cap);
        return ECOM_OK;
    }
    if (!found && c->n == ECOM_CART_LINES_MAX) {
        op->result = ecom__lmdb_fail(be, ECOM_ELIMIT, "cart already has %d lines",
                                     ECOM_CART_LINES_MAX);
        return ECOM_OK;
    }
    if (!found) {
        memmove(&c->lines[at + 1], &c->lines[at], (c->n - at) * sizeof c->lines[0]);
        c->n++;
        strcpy(c->lines[at].sku, op->sku);
    }
    c->lines[at].qty = qty;
    c->lines[at].price = op->unit_price;
    if (c->currency[0] == '\0')
        strcpy(c->currency, op->currency);
    return ECOM_OK;
}

/* ADD adds op->quantity to the line; SET replaces it. A SET to 0 is a removal
 * and ignores the currency: it can only shrink the cart. */
static int add_or_set(ecom__lmdb *be, MDB_txn *txn, ecom_cart_op *op, cm_cart *c)
{
    int add = op->kind == ECOM_CART_ADD;
    judge_line_args(be, op, add ? 1 : 0);
    if (op->result != ECOM_OK)
        return ECOM_OK;
    int removal = !add && op->quantity == 0;
    if (c->n > 0 && !removal && strcmp(c->currency, op->currency) != 0) {
        op->result = ecom__lmdb_fail(be, ECOM_EMIXEDCURRENCY, "the cart is in %s, not %s",
                                     c->currency, op->currency);
        return ECOM_OK;
    }
    int64_t qty = op->quantity;
    size_t at;
    if (add && line_find(c, op->sku, &at) && __builtin_add_overflow(qty, c->lines[at].qty, &qty))
        qty = INT64_MAX; /* over every bound: refused below */
    return line_put(be, txn, op, c, qty);
}

/* ---- TAKE ---- */

/* What an order bought leaves the cart; what was added or raised since it was built
 * stays (a checkout's payment can take long, and the buyer may go on shopping). */
static void take(ecom__lmdb *be, ecom_cart_op *op, cm_cart *c)
{
    if (op->line_count > 0 && (op->skus == NULL || op->quantities == NULL)) {
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: cart take needs its lines");
        return;
    }
    for (size_t i = 0; i < op->line_count; i++) {
        size_t at;
        if (op->skus[i] == NULL || op->quantities[i] <= 0 || !line_find(c, op->skus[i], &at))
            continue;
        if (c->lines[at].qty > op->quantities[i])
            c->lines[at].qty -= op->quantities[i];
        else
            line_delete(c, at);
    }
}

/* A TAKE of a cart merged away takes from the cart its lines went to (b, the work
 * space), leaving that cart's idle time as it was: the buyer did not touch it. */
static int take_forwarded(ecom__lmdb *be, MDB_txn *txn, cart_apply_ctx *a, ecom_cart_op *op,
                          const char *into)
{
    int rc = cart_load(be, txn, into, a->now, &a->b);
    if (rc != ECOM_OK || a->b.n == 0)
        return rc; /* nothing left there, or expired: nothing to take */
    take(be, op, &a->b);
    return op->result == ECOM_OK ? cart_put(be, txn, into, &a->b) : ECOM_OK;
}

/* ---- MERGE ---- */

/* Appends line to out capped at its bounds. */
static int merge_push(ecom__lmdb *be, MDB_txn *txn, cm_cart *out, const cm_line *line)
{
    int64_t cap;
    int rc = line_cap(be, txn, line->sku, &cap);
    if (rc != ECOM_OK)
        return rc;
    out->lines[out->n] = *line;
    if (out->lines[out->n].qty > cap)
        out->lines[out->n].qty = cap;
    out->n++;
    return ECOM_OK;
}

/* The guest's lines whose SKU the user's cart has no line of. */
static size_t guest_only(const cm_cart *u, const cm_cart *g)
{
    size_t n = 0, at;
    for (size_t j = 0; j < g->n; j++)
        n += !line_find(u, g->lines[j].sku, &at);
    return n;
}

/* Merges guest g into user u, in SKU order: every user line, summed with the
 * guest's line of its SKU (the user's price wins), and the guest-only lines (the
 * caller made sure they fit). */
static int merge_lines(ecom__lmdb *be, MDB_txn *txn, const cm_cart *u, const cm_cart *g,
                       cm_cart *out)
{
    size_t i = 0, j = 0;
    int rc = ECOM_OK;
    out->n = 0;
    strcpy(out->currency, u->n ? u->currency : g->currency);
    while (rc == ECOM_OK && (i < u->n || j < g->n)) {
        int cmp = i == u->n ? 1 : j == g->n ? -1 : strcmp(u->lines[i].sku, g->lines[j].sku);
        cm_line line;
        if (cmp < 0) {
            line = u->lines[i++];
        } else if (cmp > 0) {
            line = g->lines[j++];
        } else {
            line = u->lines[i++];
            line.qty = ecom__cm_add_sat(line.qty, g->lines[j++].qty);
        }
        rc = merge_push(be, txn, out, &line);
    }
    return rc;
}

/* Merging a cart into itself would double it and then delete it. */
static int merge(ecom__lmdb *be, MDB_txn *txn, cart_apply_ctx *a, ecom_cart_op *op)
{
    if (!ecom__cm_len_ok(op->into, CM_NAME_MAX) || strcmp(op->into, op->cart) == 0) {
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: merge needs two distinct carts");
        return ECOM_OK;
    }
    int rc = cart_load(be, txn, op->cart, a->now, &a->b);
    if (rc == ECOM_OK)
        rc = cart_load(be, txn, op->into, a->now, &a->a);
    if (rc != ECOM_OK || a->b.n == 0)
        return rc; /* an empty, missing or expired guest cart: nothing to do */
    if (a->a.n > 0 && strcmp(a->a.currency, a->b.currency) != 0) {
        op->result = ecom__lmdb_fail(be, ECOM_EMIXEDCURRENCY,
                                     "cannot merge a %s cart into a %s cart", a->b.currency,
                                     a->a.currency);
        return ECOM_OK;
    }
    size_t extra = guest_only(&a->a, &a->b);
    if (a->a.n + extra > ECOM_CART_LINES_MAX) { /* no line may be lost: refuse instead */
        op->result = ecom__lmdb_fail(be, ECOM_ELIMIT, "merging would make %zu lines; a cart "
                                     "holds %d", a->a.n + extra, ECOM_CART_LINES_MAX);
        return ECOM_OK;
    }
    if ((rc = merge_lines(be, txn, &a->a, &a->b, &a->out)) != ECOM_OK)
        return rc;
    if ((rc = cart_store(be, txn, op->into, &a->out, a->now, op->ttl_ms)) != ECOM_OK)
        return rc;
    /* The guest cart becomes a forward to the user's, expiring when it would have. */
    a->b.n = 0;
    a->b.currency[0] = '\0';
    snprintf(a->b.into, sizeof a->b.into, "%s", op->into);
    a->b.updated_at = a->now;
    return cart_put(be, txn, op->cart, &a->b);
}

/* ---- PURGE ---- */

/* Deletes every cart expired at now. A malformed value is left for check. */
static int purge(ecom__lmdb *be, MDB_txn *txn, int64_t now, uint64_t *count)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, be->carts, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (carts)", rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *expires_at = (const unsigned char *)v.mv_data + 8;
        if (v.mv_size < 16 || (int64_t)ecom__lmdb_get_u64(expires_at) > now)
            continue;
        /* After a delete the cursor's NEXT yields the entry that followed. */
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*count)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "purge (carts)", rc);
}

/* ---- apply ---- */

/* The operations on one cart: load, change, store unless refused. */
static int one_cart(ecom__lmdb *be, MDB_txn *txn, cart_apply_ctx *a, ecom_cart_op *op)
{
    cm_cart *c = &a->a;
    int rc = cart_load(be, txn, op->cart, a->now, c);
    if (rc != ECOM_OK)
        return rc;
    size_t at;
    if (op->kind == ECOM_CART_TAKE && c->n == 0 && c->into[0])
        return take_forwarded(be, txn, a, op, c->into);
    c->into[0] = '\0'; /* any other write to a forward ends it */
    switch (op->kind) {
    case ECOM_CART_ADD:
    case ECOM_CART_SET: rc = add_or_set(be, txn, op, c); break;
    case ECOM_CART_REMOVE:
        if (op->sku == NULL || !line_find(c, op->sku, &at))
            op->result = ecom__lmdb_fail(be, ECOM_ENOTFOUND, "the cart has no line '%.64s'",
                                         op->sku ? op->sku : "");
        else
            line_delete(c, at);
        break;
    case ECOM_CART_CLEAR: c->n = 0; break;
    case ECOM_CART_TAKE: take(be, op, c); break;
    default:
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: unknown cart op %d", (int)op->kind);
    }
    if (rc != ECOM_OK || op->result != ECOM_OK)
        return rc;
    return cart_store(be, txn, op->cart, c, a->now, op->ttl_ms);
}

static int dispatch(ecom__lmdb *be, MDB_txn *txn, cart_apply_ctx *a, ecom_cart_op *op)
{
    op->result = ECOM_OK;
    op->count = 0;
    if (op->kind == ECOM_CART_PURGE)
        return purge(be, txn, a->now, &op->count);
    if (!ecom__cm_len_ok(op->cart, CM_NAME_MAX)) {
        op->result = ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: cart id empty or too long");
        return ECOM_OK;
    }
    if (op->kind == ECOM_CART_MERGE)
        return merge(be, txn, a, op);
    return one_cart(be, txn, a, op);
}

int ecom__lmdb_cart_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_cart_op *ops, size_t n,
                              int64_t now)
{
    cart_apply_ctx a; /* the carts' work space: not zeroed, each op loads first */
    a.now = now;
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = dispatch(be, txn, &a, &ops[i]);
    return rc;
}

typedef struct apply_args {
    ecom_cart_op *ops;
    size_t n;
    int64_t now;
} apply_args;

static int apply_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    apply_args *a = ctx;
    return ecom__lmdb_cart_apply_txn(be, txn, a->ops, a->n, a->now);
}

int ecom__lmdb_cart_apply(ecom_backend *base, ecom_cart_op *ops, size_t n, int64_t now)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n == 0)
        return ECOM_OK;
    if (ops == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: cart_apply needs ops");
    apply_args a = {ops, n, now};
    int rc = ecom__lmdb_write(be, apply_fn, &a);
    if (rc != ECOM_OK)
        for (size_t i = 0; i < n; i++)
            ops[i].result = rc; /* nothing was applied */
    return rc;
}

/* ---- get ---- */

static int cart_visit(ecom__lmdb *be, MDB_txn *txn, const char *id, int64_t now,
                      ecom_cart_fn fn, void *ctx)
{
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    cm_cart_view view;
    ecom_cart_rec rec = {id, "", 0, 0, 0, view.lines};
    int rc = k.mv_size <= be->max_key ? mdb_get(txn, be->carts, &k, &v) : MDB_NOTFOUND;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(be, "mdb_get (carts)", rc);
    if (rc == 0) {
        if (ecom__cm_cart_decode(&view, &v) != ECOM_OK)
            return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: cart '%.80s' is malformed", id);
        if (view.expires_at > now && view.n > 0) { /* a forward reads as missing */
            rec.currency = view.currency;
            rec.updated_at = view.updated_at;
            rec.expires_at = view.expires_at;
            rec.line_count = view.n;
        }
    }
    rc = fn(ctx, &rec);
    return rc < 0 ? rc : ECOM_OK;
}

int ecom__lmdb_cart_get(ecom_backend *base, const char *cart, int64_t now, ecom_cart_fn fn,
                        void *ctx)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (cart == NULL || fn == NULL)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: cart_get needs cart and fn");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    rc = cart_visit(be, r.txn, cart, now, fn, ctx);
    ecom__lmdb_read_end(be, &r);
    return rc;
}

/* ---- purchase limits ---- */

int ecom__lmdb_purchase_limits_get(ecom_backend *base, const char *const *skus, size_t n,
                                   int64_t *limits)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (n > 0 && (skus == NULL || limits == NULL))
        return ecom__lmdb_fail(be, ECOM_EINVAL,
                               "lmdb: purchase_limits_get needs skus and limits");
    ecom__lmdb_read r;
    int rc = ecom__lmdb_read_begin(be, &r);
    if (rc != ECOM_OK)
        return rc;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        rc = skus[i] ? ecom__cm_purchase_limit(be, r.txn, skus[i], &limits[i])
                     : ecom__lmdb_fail(be, ECOM_EINVAL, "lmdb: purchase_limits_get: NULL sku");
    ecom__lmdb_read_end(be, &r);
    return rc;
}
