/*
 * Checkout: cart -> priced order -> stock held -> payment -> paid, in short atomic
 * steps with compensation, under an idempotency key. One completion path serves the
 * checkout, its retries, the provider's notification and the recovery sweep: the
 * order moves from pending_payment by compare-and-set, so only one of them wins, and
 * the provider is always called with the order's own idempotency key, so it charges
 * once.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "inventory.h"
#include "orders.h"

#define ECOM__IDEM_TTL (INT64_C(24) * 3600 * 1000)
#define ECOM__IDEM_STALE (INT64_C(2) * 60 * 1000)     /* a holder this old has crashed */
#define ECOM__CHECKOUT_HOLD (INT64_C(15) * 60 * 1000) /* stock held while paying */
#define ECOM__KEY_MAX 128
/* The longest charge id a provider can hand back (ecom_payment_result.charge_id). */
#define ECOM__CHARGE_ID_MAX (sizeof ((ecom_payment_result *)0)->charge_id - 1)

/* ---- small helpers ---- */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); ; p++) {
        h = (h ^ *p) * UINT64_C(0x100000001b3);
        if (*p == '\0')
            return h;
    }
}

/* The request's fingerprint: what the caller asked, not what the cart holds (the cart
 * is emptied once the order is paid, and a retry must still match). */
static uint64_t fingerprint(const ecom_checkout_request *r)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = fnv(fnv(fnv(fnv(h, r->cart), r->user), r->payment_token), r->location);
    for (size_t i = 0; i < r->claim_count; i++)
        h = fnv(h, r->claims[i]);
    return h;
}

static int check_key(ecom_store *store, const char *key, const char *field)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0)
        return ecom__fail(store, ECOM_EINVAL, "%s: %s; 1..%d bytes required", field,
                          key ? "empty" : "NULL", ECOM__KEY_MAX);
    if (len > ECOM__KEY_MAX)
        return ecom__fail(store, ECOM_ETOOLONG, "%s: %zu bytes, longer than %d", field, len,
                          ECOM__KEY_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] <= ' ' || (unsigned char)key[i] >= 0x7f)
            return ecom__fail(store, ECOM_EBADID, "%s: byte %zu is not printable ASCII", field,
                              i);
    return ECOM_OK;
}

/* Each claim listed once: one listed twice would cover its line twice, and be
 * committed once, after the charge. */
static int check_claims(ecom_store *store, const ecom_checkout_request *r)
{
    if (r->claim_count > ECOM__ORDER_CLAIMS_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "claims: %zu, more than %d", r->claim_count,
                          ECOM__ORDER_CLAIMS_MAX);
    if (r->claim_count && r->claims == NULL)
        return ecom__fail(store, ECOM_EINVAL, "claims: NULL");
    for (size_t i = 0; i < r->claim_count; i++) {
        if (r->claims[i] == NULL)
            return ecom__fail(store, ECOM_EINVAL, "claims[%zu]: NULL", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->claims[j], r->claims[i]) == 0)
                return ecom__fail(store, ECOM_EINVAL, "claim '%.100s' is listed twice",
                                  r->claims[i]);
    }
    return ECOM_OK;
}

static int check_request(ecom_store *store, const ecom_checkout_request *r, const char *key)
{
    if (r == NULL)
        return ecom__fail(store, ECOM_EINVAL, "request: NULL");
    if (r->version != ECOM_CHECKOUT_REQUEST_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "ecom_checkout_request version %d; expected %d",
                          r->version, ECOM_CHECKOUT_REQUEST_VERSION);
    int rc = check_key(store, key, "idempotency_key");
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, r->user, "user");
    if (rc == ECOM_OK)
        rc = check_key(store, r->payment_token, "payment_token");
    if (rc == ECOM_OK && r->location)
        rc = ecom__check_id_arg(store, r->location, "location");
    if (rc == ECOM_OK && (r->cart == NULL || (strncmp(r->cart, "user:", 5) != 0 &&
                                              strncmp(r->cart, "guest:", 6) != 0)))
        rc = ecom__fail(store, ECOM_EBADID, "cart: not a user:<id> or guest:<token> cart");
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, strchr(r->cart, ':') + 1, "cart");
    if (rc == ECOM_OK && (store->be->version < 3 || store->be->cart_get == NULL))
        rc = ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no checkout",
                        store->be->name);
    return rc == ECOM_OK ? check_claims(store, r) : rc;
}

static int idem(ecom_store *store, ecom_idem_op *op)
{
    int rc = ecom__commit(store, ECOM__WRITE_IDEM, op);
    if (rc == ECOM_EUNSUPPORTED)
        return ecom__fail(store, rc, "the %s backend has no checkout", store->be->name);
    return rc == ECOM_OK || ecom_errcode(store) == rc
               ? rc
               : ecom__fail(store, rc, "idempotency key '%s': %s", op->key, ecom_strerror(rc));
}

/* Stores how the request ended, keeping the code and message the caller will see. */
static int finish(ecom_store *store, const char *key, int result, const ecom_order *o)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
    ecom_idem_op op = {.kind = ECOM_IDEM_FINISH, .key = key, .result = result};
    if (o)
        snprintf(op.order_id, sizeof op.order_id, "%s", o->id);
    idem(store, &op); /* on failure the key stays held and goes stale: retries resume */
    return result == ECOM_OK ? ECOM_OK : ecom__fail(store, result, "%s", msg);
}

/* ---- the order's life until paid ---- */

/* Cancels a pending order: its holds go back. A hold that already ended (expired) is
 * not a reason to keep the order open: then the order is cancelled alone. */
static int cancel_pending(ecom_store *store, ecom_order *o, const char *why)
{
    ecom_inventory_op ops[ECOM__ORDER_CLAIMS_MAX + 1];
    char sales[ECOM__ORDER_CLAIMS_MAX + 1][ECOM_ID_MAX + 1];
    size_t n = ecom__order_stock_ops(ops, sales, ECOM__ORDER_CLAIMS_MAX + 1, o, false);
    o->reason = ecom__order_strdup(o, why);
    if (o->reason == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    int rc = ecom__order_push(o, ECOM_ORDER_CANCELLED, ecom__now(store), "checkout", why);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "out of memory");
    rc = ecom__order_write(store, o, ECOM_ORDER_UPDATE, ops, n, NULL);
    /* A hold that already ended (expired, or a claim gone with its sale) needs no release. */
    if (rc == ECOM_EEXPIRED || rc == ECOM_EENDED || rc == ECOM_ENOTFOUND)
        rc = ecom__order_write(store, o, ECOM_ORDER_UPDATE, NULL, 0, NULL);
    return rc;
}

/* The order was cancelled (ecom_order_cancel, or the recovery sweep) while this
 * request paid it: what the payment took is voided, and the caller hears why. */
static int cancelled_meanwhile(ecom_store *store, const ecom_order *o)
{
    int rc = ecom__void_order_charge(store, o);
    if (rc != ECOM_OK)
        return rc;
    return ecom__fail(store, ECOM_ESTATE, "order '%s' was cancelled: %s", o->id, o->reason);
}

/* What a paid order bought leaves its cart: a TAKE of its lines, so that what the
 * buyer added while paying stays (a backend before version 5 can only clear it). */
typedef struct cart_take {
    ecom_cart_op op;
    const char *skus[ECOM__ORDER_LINES_MAX];
    int64_t quantities[ECOM__ORDER_LINES_MAX];
} cart_take;

static void cart_take_init(cart_take *t, ecom_store *store, const ecom_order *o)
{
    for (size_t i = 0; i < o->line_count; i++) {
        t->skus[i] = o->lines[i].sku;
        t->quantities[i] = o->lines[i].quantity;
    }
    t->op = (ecom_cart_op){.kind = store->be->version >= 5 ? ECOM_CART_TAKE : ECOM_CART_CLEAR,
                           .cart = o->cart, .ttl_ms = ecom__cart_ttl(store, o->cart),
                           .skus = t->skus, .quantities = t->quantities,
                           .line_count = o->line_count};
}

/*
 * The one completion path: pending_payment -> paid with the charge, committing the
 * stock and taking what it bought from its cart in the same unit, and then's writes
 * (the checkout's: finish the key) only if that is applied. Whoever completes it (the
 * checkout, its retry, a notification, the recovery sweep) does all of it once; who
 * loses the race finds the order already paid and reports success.
 */
static int complete_paid(ecom_store *store, ecom_order **order, const char *charge_id,
                         const ecom__order_then *then)
{
    ecom_order *o = *order;
    ecom_inventory_op ops[ECOM__ORDER_CLAIMS_MAX + 1];
    char sales[ECOM__ORDER_CLAIMS_MAX + 1][ECOM_ID_MAX + 1];
    size_t n = ecom__order_stock_ops(ops, sales, ECOM__ORDER_CLAIMS_MAX + 1, o, true);
    ecom__order_then all = {.n = 0};
    cart_take take;
    if (o->cart[0]) { /* "" for an order made before orders named their cart */
        cart_take_init(&take, store, o);
        all.kinds[all.n] = ECOM__WRITE_CART;
        all.ops[all.n++] = &take.op;
    }
    for (size_t i = 0; then && i < then->n; i++) {
        all.kinds[all.n] = then->kinds[i];
        all.ops[all.n++] = then->ops[i];
    }
    o->charge_id = ecom__order_strdup(o, charge_id);
    int rc = o->charge_id ? ecom__order_push(o, ECOM_ORDER_PAID, ecom__now(store), "checkout",
                                             "payment approved")
                          : ECOM_ENOMEM;
    if (rc == ECOM_OK)
        rc = ecom__order_write_then(store, o, ops, n, &all);
    if (rc != ECOM_ECONFLICT)
        return rc;
    /* Someone else moved it: read what they did. */
    ecom_order *now = NULL;
    rc = ecom__order_read(&now, store, o->id);
    if (rc != ECOM_OK)
        return rc;
    ecom_order_free(o);
    *order = now;
    if (now->state == ECOM_ORDER_PENDING_PAYMENT)
        return ecom__fail(store, ECOM_EBUSY, "order '%s' is being completed elsewhere", now->id);
    if (now->state == ECOM_ORDER_CANCELLED)
        return cancelled_meanwhile(store, now);
    return ECOM_OK;
}

/* The stock could not be committed after the payment (the hold expired while the buyer
 * paid): the authorization is voided and the order cancelled. A void that fails leaves
 * the order pending, for a retry or the recovery sweep to undo. */
static int undo_payment(ecom_store *store, ecom_order *o, int why)
{
    int rc = ecom__void_order_charge(store, o);
    if (rc != ECOM_OK)
        return rc;
    rc = cancel_pending(store, o, "stock hold ended before payment completed");
    return rc == ECOM_OK ? ecom__fail(store, why, "order '%s': the stock hold ended while "
                                                  "paying; the charge was voided", o->id)
                         : rc;
}

/* Captures an approved authorization (with the order's own key) unless the provider
 * captured it already, and completes the order (with then, see complete_paid). */
static int capture_and_complete(ecom_store *store, ecom_order **order,
                                const ecom_payment_result *auth, const ecom__order_then *then)
{
    const ecom_payment_provider *pp = ecom__payments(store);
    char key[ECOM__KEY_MAX + 1];
    snprintf(key, sizeof key, "capture-%s", (*order)->id);
    ecom_payment_result cap = {0};
    int rc = auth->captured ? ECOM_OK
                            : pp->capture(pp->ctx, auth->charge_id, (*order)->total, key, &cap);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc == ECOM_ETIMEOUT ? rc : ECOM_EPAYMENT, "order '%s': capture "
                          "failed; retry with the same key", (*order)->id);
    rc = complete_paid(store, order, auth->charge_id, then);
    if (rc == ECOM_EEXPIRED || rc == ECOM_EENDED)
        return undo_payment(store, *order, rc);
    return rc;
}

/* Authorizes and captures the order's total with its own keys, then completes it;
 * then's writes ride on the completion (see complete_paid). */
static int pay(ecom_store *store, ecom_order **order, const char *token,
               const ecom__order_then *then)
{
    ecom_order *o = *order;
    const ecom_payment_provider *pp = ecom__payments(store);
    /* Automatic capture where the provider offers it: one call instead of two. */
    ecom_payment_request req = {o->id, token, o->total, o->currency, o->payment_key, 1};
    ecom_payment_result res = {0};
    int rc = pp->authorize(pp->ctx, &req, &res);
    if (rc == ECOM_ETIMEOUT || rc == ECOM_EPAYMENT)
        return ecom__fail(store, rc, "order '%s': the payment provider %s; retry with the same "
                          "key", o->id, rc == ECOM_ETIMEOUT ? "did not answer" : "failed");
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc ? rc : ecom__fail(store, rc, "order '%s': payment: %s",
                                                           o->id, ecom_strerror(rc));
    if (!res.approved) {
        rc = cancel_pending(store, o, res.reason[0] ? res.reason : "declined");
        return rc == ECOM_OK ? ecom__fail(store, ECOM_EDECLINED, "order '%s': payment declined "
                                          "(%s); the stock went back", o->id, o->reason)
                             : rc;
    }
    return capture_and_complete(store, order, &res, then);
}

/* ---- building the order from the cart ---- */

typedef struct cart_copy {
    ecom_order *order;
    char currency[4];
    int rc;
} cart_copy;

static int copy_cart(void *ctx, const ecom_cart_rec *rec)
{
    cart_copy *cc = ctx;
    snprintf(cc->currency, sizeof cc->currency, "%s", rec->currency);
    for (size_t i = 0; i < rec->line_count && cc->rc == ECOM_OK; i++)
        cc->rc = ecom__order_add_line(cc->order, rec->lines[i].sku, rec->lines[i].quantity,
                                      rec->lines[i].unit_price);
    return cc->rc;
}

/* Lines whose price changed or whose product is no longer active, listed in msg. */
static int check_prices(ecom_store *store, const ecom_order *o)
{
    char msg[400] = "";
    size_t len = 0, stale = 0;
    for (size_t i = 0; i < o->line_count; i++) {
        const ecom__order_line *l = &o->lines[i];
        ecom_product *p = NULL;
        size_t v = 0;
        int64_t now_price = -1;
        int rc = ecom_catalog_get_by_sku(&p, &v, store, l->sku);
        if (rc == ECOM_OK && p->status == ECOM_STATUS_ACTIVE)
            ecom_product_variant_price(&now_price, p, v, o->currency);
        ecom_product_free(p);
        if (rc != ECOM_OK && rc != ECOM_ENOTFOUND)
            return rc;
        if (now_price == l->unit_price)
            continue;
        stale++;
        if (len < sizeof msg - 80)
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s %s", stale > 1 ? "; " : "",
                                    l->sku, now_price < 0 ? "is no longer available"
                                                          : "changed price");
    }
    return stale ? ecom__fail(store, ECOM_ESTALE, "cart changed since it was filled: %s", msg)
                 : ECOM_OK;
}

/* Lines over their SKU's purchase limit: a limit lowered after a line was added is
 * not seen by the cart, which applies limits on its writes only. Refused as the cart
 * refuses a line (ECOM_ELIMIT), listed in msg, before anything is written. */
static int check_limits(ecom_store *store, const ecom_order *o, const char *cart)
{
    const char *skus[ECOM__ORDER_LINES_MAX];
    int64_t limits[ECOM__ORDER_LINES_MAX];
    for (size_t i = 0; i < o->line_count; i++)
        skus[i] = o->lines[i].sku;
    int rc = ecom__purchase_limits(store, skus, o->line_count, limits);
    if (rc == ECOM_EUNSUPPORTED)
        return ECOM_OK; /* a backend before version 5: the cart's writes enforce them alone */
    if (rc != ECOM_OK)
        return rc;
    char msg[400] = "";
    size_t len = 0, over = 0;
    for (size_t i = 0; i < o->line_count; i++) {
        if (limits[i] <= 0 || o->lines[i].quantity <= limits[i])
            continue;
        over++;
        if (len < sizeof msg - 100)
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%sSKU '%s' has a purchase "
                                    "limit of %lld, the line holds %lld", over > 1 ? "; " : "",
                                    skus[i], (long long)limits[i],
                                    (long long)o->lines[i].quantity);
    }
    return over ? ecom__fail(store, ECOM_ELIMIT, "cart '%s' is over a purchase limit (per cart "
                             "and order): %s; set the line again within it", cart, msg)
                : ECOM_OK;
}

/* Totals in minor units, every step checked for overflow. */
static int price_order(ecom_store *store, ecom_order *o)
{
    int64_t subtotal = 0, line, tax, total;
    for (size_t i = 0; i < o->line_count; i++)
        if (__builtin_mul_overflow(o->lines[i].quantity, o->lines[i].unit_price, &line) ||
            __builtin_add_overflow(subtotal, line, &subtotal))
            return ecom__fail(store, ECOM_EPRICE, "order total overflows");
    int64_t bp = store->opts.tax_rate_bp > 0 ? store->opts.tax_rate_bp : 0;
    int64_t shipping = store->opts.shipping_fee > 0 ? store->opts.shipping_fee : 0;
    /* Tax rounds half up, per order. */
    if (__builtin_mul_overflow(subtotal, bp, &tax) || __builtin_add_overflow(tax, 5000, &tax) ||
        __builtin_add_overflow(subtotal, shipping, &total) ||
        __builtin_add_overflow(total, tax / 10000, &total))
        return ecom__fail(store, ECOM_EPRICE, "order total overflows");
    o->subtotal = subtotal;
    o->shipping = shipping;
    o->tax = tax / 10000;
    o->total = total;
    return ECOM_OK;
}

/* Time-ordered ids, so new orders land side by side in the backend's B-trees: the
 * time in ms, then a bijective mix of (process id, counter), so two orders of one
 * process never share an id, and two processes differ by their ids. */
static void new_order_id(char *out, size_t size, int64_t now)
{
    static _Atomic uint32_t counter;
    uint64_t x = (uint64_t)getpid() << 32 | atomic_fetch_add(&counter, 1);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9); /* splitmix64's finalizer: */
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb); /* a bijection on 64 bits */
    x ^= x >> 31;
    snprintf(out, size, "o%012llx%016llx", (unsigned long long)now, (unsigned long long)x);
}

/* The claim as it stands, if it is the buyer's and admitted. Claim ids are sequential
 * per sale, so another user's claim is refused in the very words of one that does not
 * exist: checkout tells nobody which ids are taken. */
static int buyers_claim(ecom_store *store, ecom_claim_result *c, const char *claim_id,
                        const char *user)
{
    int rc = ecom_flash_poll(c, store, claim_id);
    if (rc == ECOM_ENOTFOUND || (rc == ECOM_OK && strcmp(c->user, user) != 0))
        return ecom__fail(store, ECOM_ENOTFOUND, "claim '%s' not found among the claims of "
                          "user '%s'", claim_id, user);
    if (rc != ECOM_OK)
        return rc;
    if (c->outcome != ECOM_CLAIM_ADMITTED)
        return ecom__fail(store, ECOM_EINVAL, "claim '%s' is not admitted", claim_id);
    return ECOM_OK;
}

/* The claim's sale, which must sell stock of the order's location: a paid order's
 * cancel returns every unit to the order's location. */
static int claim_sale(ecom_store *store, ecom_flash_status *st, const char *claim_id,
                      const char *location)
{
    char sale[ECOM_ID_MAX + 1]; /* the claim id is "sale:ticket": the poll checked it */
    snprintf(sale, sizeof sale, "%.*s", (int)(strrchr(claim_id, ':') - claim_id), claim_id);
    int rc = ecom_flash_status_get(st, store, sale);
    if (rc != ECOM_OK)
        return rc;
    if (strcmp(st->location, location) != 0)
        return ecom__fail(store, ECOM_EINVAL, "claim '%s' holds stock at location '%s', the "
                          "order takes its stock from '%s': check out at '%s'", claim_id,
                          st->location, location, st->location);
    return ECOM_OK;
}

/* Claims standing in for lines: each must be the buyer's, admitted, and of the order's
 * location; its units cover its SKU's line. */
static int apply_claims(ecom_store *store, ecom_order *o, const ecom_checkout_request *r,
                        int64_t *to_reserve)
{
    for (size_t i = 0; i < r->claim_count; i++) {
        ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
        ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
        int rc = buyers_claim(store, &c, r->claims[i], r->user);
        if (rc == ECOM_OK)
            rc = claim_sale(store, &st, r->claims[i], o->location);
        if (rc != ECOM_OK)
            return rc;
        size_t l = 0;
        while (l < o->line_count && strcmp(o->lines[l].sku, st.sku) != 0)
            l++;
        if (l == o->line_count || to_reserve[l] < c.quantity)
            return ecom__fail(store, ECOM_EINVAL, "claim '%s' is for %lld of SKU '%s', more than "
                              "the cart holds", r->claims[i], (long long)c.quantity, st.sku);
        to_reserve[l] -= c.quantity;
        if ((rc = ecom__order_add_claim(o, r->claims[i])) != ECOM_OK)
            return ecom__fail(store, rc, "out of memory");
    }
    return ECOM_OK;
}

/* The stock hold of the lines not covered by claims: one RESERVE that the order's
 * creation carries, so the order and its hold are made in one atomic unit (no order
 * without its stock, no stock held for an order never made). Returns 1 if there is
 * a hold to make. The op points into skus, qty and o. */
typedef struct hold {
    ecom_inventory_op op;
    const char *skus[ECOM__ORDER_LINES_MAX];
    int64_t qty[ECOM__ORDER_LINES_MAX];
} hold;

static int build_hold(ecom_store *store, hold *h, ecom_order *o, const int64_t *to_reserve)
{
    size_t n = 0;
    uint64_t fp = fnv(UINT64_C(0xcbf29ce484222325), o->location);
    for (size_t i = 0; i < o->line_count; i++)
        if (to_reserve[i] > 0) { /* cart lines are distinct SKUs, in order */
            h->skus[n] = o->lines[i].sku;
            h->qty[n] = to_reserve[i];
            fp = fnv(fp, h->skus[n]) ^ (uint64_t)h->qty[n];
            n++;
        }
    o->reservation_id = "";
    if (n == 0)
        return 0;
    char id[ECOM_ID_MAX + 1];
    snprintf(id, sizeof id, "co-%s", o->id);
    o->reservation_id = ecom__order_strdup(o, id);
    if (o->reservation_id == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    h->op = (ecom_inventory_op){.kind = ECOM_INV_RESERVE, .id = o->reservation_id,
                                .location = o->location, .line_count = n,
                                .line_skus = h->skus, .line_quantities = h->qty,
                                .fingerprint = fp, .ttl_ms = ECOM__CHECKOUT_HOLD};
    return 1;
}

/* Cart -> a priced order (pending_payment) with its stock hold, in memory: nothing is
 * written, so it can be built before the idempotency key says whether it is wanted. */
static int build_order(ecom_store *store, ecom_order **out, hold *h, int *holds,
                       const ecom_checkout_request *r)
{
    int64_t now = ecom__now(store);
    char id[ECOM_ID_MAX + 1], pay_key[ECOM__KEY_MAX + 1];
    new_order_id(id, sizeof id, now);
    ecom_order *o = NULL;
    int rc = ecom__order_new(&o, id, r->user, "", ecom__location(r->location), now);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "out of memory");
    cart_copy cc = {o, "", ECOM_OK};
    rc = store->be->cart_get(store->be, r->cart, now, copy_cart, &cc);
    if (rc != ECOM_OK)
        goto fail;
    if (o->line_count == 0) {
        rc = ecom__fail(store, ECOM_EEMPTY, "cart '%s' is empty", r->cart);
        goto fail;
    }
    snprintf(pay_key, sizeof pay_key, "pay-%s", id);
    o->currency = ecom__order_strdup(o, cc.currency);
    o->payment_key = ecom__order_strdup(o, pay_key);
    o->cart = ecom__order_strdup(o, r->cart);
    if (o->currency == NULL || o->payment_key == NULL || o->cart == NULL) {
        rc = ecom__fail(store, ECOM_ENOMEM, "out of memory");
        goto fail;
    }
    int64_t to_reserve[ECOM__ORDER_LINES_MAX];
    for (size_t i = 0; i < o->line_count; i++)
        to_reserve[i] = o->lines[i].quantity;
    if ((rc = check_prices(store, o)) != ECOM_OK ||
        (rc = check_limits(store, o, r->cart)) != ECOM_OK ||
        (rc = price_order(store, o)) != ECOM_OK ||
        (rc = apply_claims(store, o, r, to_reserve)) != ECOM_OK ||
        (*holds = build_hold(store, h, o, to_reserve)) < 0) {
        rc = *holds < 0 ? *holds : rc;
        goto fail;
    }
    rc = ecom__order_push(o, ECOM_ORDER_PENDING_PAYMENT, now, r->user, "checkout");
    if (rc != ECOM_OK) {
        rc = ecom__fail(store, rc, "out of memory");
        goto fail;
    }
    *out = o;
    return ECOM_OK;
fail:
    ecom_order_free(o);
    return rc;
}

/* ---- the entry points ---- */

/* Continues an order an earlier holder of the key (a crash, a timeout) left behind. */
static int resume(ecom_store *store, ecom_order **order, const char *token,
                  const ecom__order_then *then)
{
    switch ((*order)->state) {
    case ECOM_ORDER_PENDING_PAYMENT:
        return pay(store, order, token, then);
    case ECOM_ORDER_CANCELLED:
        return cancelled_meanwhile(store, *order);
    default:
        return ECOM_OK; /* paid, or further along */
    }
}

/* A nonce naming this request as the holder of its key: unique per process (a
 * counter) and across processes (the pid), through a bijective mix. Never 0. */
static uint64_t holder_nonce(void)
{
    static _Atomic uint32_t counter;
    uint64_t x = (uint64_t)getpid() << 32 | atomic_fetch_add(&counter, 1);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x ? x : 1;
}

/* How a paid checkout ends: the key finished. It rides on the order's completion
 * (then), with what the order bought leaving the cart; on its own when that was not
 * this request's write (a retry finding the order paid: the cart was taken from
 * then, and is not touched again). */
typedef struct ending {
    ecom_idem_op done;
    ecom__order_then then;
} ending;

static void ending_init(ending *e, const char *key, const char *order_id)
{
    *e = (ending){.done = {.kind = ECOM_IDEM_FINISH, .key = key, .result = ECOM_OK,
                           .op_result = ECOM_ERROR /* until it is applied */}};
    snprintf(e->done.order_id, sizeof e->done.order_id, "%s", order_id);
    e->then = (ecom__order_then){{ECOM__WRITE_IDEM}, {&e->done}, 1};
}

/* The end of a checkout: paid, the key finished (unless that rode on the completion
 * already); otherwise the key records the failure. */
static int conclude(ecom_store *store, ecom_order *o, int rc, ending *e, const char *key)
{
    if (rc != ECOM_OK)
        return finish(store, key, rc, o);
    if (e->done.op_result != ECOM_OK) /* on failure the key goes stale: a retry finds
                                         the order paid */
        ecom__commit_group(store, e->then.kinds, e->then.ops, 1);
    return ECOM_OK;
}

/* What the key says when it did not hand this request a fresh start. */
static int answer_key(ecom_store *store, ecom_order **out, const ecom_idem_op *begin,
                      const ecom_checkout_request *request, const char *key)
{
    switch (begin->state) {
    case ECOM_IDEM_MISMATCH:
        return ecom__fail(store, ECOM_EIDEMPOTENCY, "idempotency key '%s' was used with a "
                          "different request", key);
    case ECOM_IDEM_IN_FLIGHT:
        return ecom__fail(store, ECOM_EBUSY, "a checkout with key '%s' is still in flight; "
                          "retry later", key);
    case ECOM_IDEM_DONE:
        if (begin->order_id[0] && ecom__order_read(out, store, begin->order_id) != ECOM_OK)
            return ecom_errcode(store);
        return begin->result == ECOM_OK
                   ? ECOM_OK
                   : ecom__fail(store, begin->result, "checkout with key '%s' ended: %s", key,
                                ecom_strerror(begin->result));
    case ECOM_IDEM_NEW: /* held again, with the order an earlier holder made */
        break;
    }
    int rc = ecom__order_read(out, store, begin->order_id);
    ending e;
    ending_init(&e, key, begin->order_id);
    if (rc == ECOM_OK)
        rc = resume(store, out, request->payment_token, &e.then);
    return conclude(store, *out, rc, &e, key);
}

int ecom_checkout(ecom_order **out, ecom_store *store, const ecom_checkout_request *request,
                  const char *idempotency_key)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_request(store, request, idempotency_key);
    if (rc != ECOM_OK)
        return rc;
    int64_t ttl = store->opts.idempotency_ttl_ms > 0 ? store->opts.idempotency_ttl_ms
                                                     : ECOM__IDEM_TTL;
    ecom_idem_op begin = {.kind = ECOM_IDEM_BEGIN, .key = idempotency_key,
                          .fingerprint = fingerprint(request), .ttl_ms = ttl,
                          .stale_ms = ECOM__IDEM_STALE, .holder = holder_nonce()};
    /* The order is built first, then the key is claimed and the order created in one
     * batch: one wait instead of two. If the key turns out not to be new (a retry),
     * the order built is thrown away unwritten. */
    ecom_order *o = NULL;
    hold h;
    int holds = 0;
    int built = build_order(store, &o, &h, &holds, request);
    if (built == ECOM_OK) {
        rc = ecom__order_create_claimed(store, o, holds ? &h.op : NULL, (size_t)holds,
                                        idempotency_key, &begin);
        if (rc == ECOM_OK) {
            *out = o;
            ending e;
            ending_init(&e, idempotency_key, o->id);
            rc = pay(store, out, request->payment_token, &e.then);
            return conclude(store, *out, rc, &e, idempotency_key);
        }
        ecom_order_free(o);
        if (begin.op_result != ECOM_OK) /* the batch failed: the backend said why */
            return ecom_errcode(store) == begin.op_result
                       ? begin.op_result
                       : ecom__fail(store, begin.op_result, "idempotency key '%s': %s",
                                    idempotency_key, ecom_strerror(begin.op_result));
        if (begin.state == ECOM_IDEM_NEW && begin.order_id[0] == '\0')
            return finish(store, idempotency_key, rc, NULL); /* refused: stock, ... */
        return answer_key(store, out, &begin, request, idempotency_key);
    }
    /* The cart cannot be bought as it is, but the key may hold an answer (a retry after
     * the order was paid and the cart emptied). */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
    if ((rc = idem(store, &begin)) != ECOM_OK)
        return rc;
    if (begin.state != ECOM_IDEM_NEW || begin.order_id[0])
        return answer_key(store, out, &begin, request, idempotency_key);
    ecom__fail(store, built, "%s", msg);
    return finish(store, idempotency_key, built, NULL);
}

/* An approval completes the order as recovery does, from the provider's own record of
 * the order's authorize (found by its payment key), captured unless the provider did:
 * the notification alone never marks an order paid. One the record does not bear out
 * leaves the order pending, for a later notification, retry or recovery. */
static int notified_approved(ecom_store *store, ecom_order **order)
{
    const ecom_payment_provider *pp = ecom__payments(store);
    const char *id = (*order)->id;
    ecom_payment_result res = {0};
    int rc = pp->lookup(pp->ctx, (*order)->payment_key, &res);
    if (rc == ECOM_ETIMEOUT)
        return ecom__fail(store, rc, "order '%s': the payment provider did not answer the "
                          "lookup of its payment; the order stays pending: retry", id);
    if (rc != ECOM_OK && rc != ECOM_ENOTFOUND)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the payment provider failed to "
                          "look up its payment (%s); the order stays pending: retry", id,
                          ecom_strerror(rc));
    if (rc == ECOM_ENOTFOUND || !res.approved)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the notification says approved, "
                          "the payment provider %s; the order stays pending: retry", id,
                          rc == ECOM_ENOTFOUND ? "has no record of its payment"
                                               : "says it was not");
    return capture_and_complete(store, order, &res, NULL);
}

int ecom_payment_notify(ecom_store *store, const char *order_id, int approved,
                        const char *charge_id, const char *reason)
{
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, order_id, "order_id");
    if (rc == ECOM_OK && approved && (charge_id == NULL || *charge_id == '\0'))
        rc = ecom__fail(store, ECOM_EINVAL, "charge_id: required when approved");
    if (rc == ECOM_OK && approved && strlen(charge_id) > ECOM__CHARGE_ID_MAX)
        rc = ecom__fail(store, ECOM_ETOOLONG, "charge_id: %zu bytes, longer than %zu",
                        strlen(charge_id), ECOM__CHARGE_ID_MAX);
    if (rc == ECOM_OK && !approved)
        rc = ecom__check_note(store, reason, "reason"); /* kept as the order's reason */
    if (rc != ECOM_OK)
        return rc;
    ecom_order *o = NULL;
    if ((rc = ecom__order_read(&o, store, order_id)) != ECOM_OK)
        return rc;
    if (o->state == ECOM_ORDER_CANCELLED && approved) {
        rc = cancelled_meanwhile(store, o);
    } else if (o->state != ECOM_ORDER_PENDING_PAYMENT) {
        rc = approved ? ECOM_OK
                      : ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: the notification "
                                   "is stale", order_id, ecom_order_state_name(o->state));
    } else if (approved) {
        rc = notified_approved(store, &o);
    } else if ((rc = ecom__void_order_charge(store, o)) == ECOM_OK) {
        /* A decline the provider's record contradicts (out of order, or forged) must not
         * leave money with a cancelled order: whatever was taken is voided first. */
        rc = cancel_pending(store, o, reason && *reason ? reason : "declined");
    }
    ecom_order_free(o);
    return rc;
}

/* Finishes one abandoned order from what the provider knows of its payment. */
static int recover_one(ecom_store *store, ecom_order **order)
{
    const ecom_payment_provider *pp = ecom__payments(store);
    ecom_payment_result res = {0};
    int rc = pp->lookup(pp->ctx, (*order)->payment_key, &res);
    if (rc == ECOM_ENOTFOUND)
        return cancel_pending(store, *order, "abandoned before payment");
    if (rc != ECOM_OK)
        return rc;
    if (!res.approved)
        return cancel_pending(store, *order, res.reason[0] ? res.reason : "declined");
    return capture_and_complete(store, order, &res, NULL);
}

/* The pending orders of one scan, collected to be recovered once the scan is over (a
 * scan reads one snapshot; recovery writes). */
#define ECOM__RECOVER_BATCH 100

typedef struct pending_batch {
    int64_t older_than;
    char ids[ECOM__RECOVER_BATCH][ECOM_ID_MAX + 1];
    size_t count;
    ecom__buf last_key; /* of the last order collected: the next scan resumes after it */
    bool more;
} pending_batch;

static int collect_pending(void *ctx, const ecom_order_rec *rec, uint64_t version,
                           const void *key, size_t key_len)
{
    pending_batch *b = ctx;
    (void)version;
    /* The backend filters; this only guards against one that does not. */
    if (rec->state != ECOM_ORDER_PENDING_PAYMENT || rec->created_at >= b->older_than)
        return 0;
    if (b->count == ECOM__RECOVER_BATCH) {
        b->more = true;
        return 1;
    }
    snprintf(b->ids[b->count++], sizeof b->ids[0], "%s", rec->id);
    b->last_key.len = 0;
    return ecom__buf_put(&b->last_key, key, key_len);
}

/* Recovers the orders of one batch (those still pending when their turn comes).
 * Returns how many were finished; one that could not be (the provider did not
 * answer) stays pending for the next sweep. */
static uint64_t recover_batch(ecom_store *store, const pending_batch *b)
{
    uint64_t done = 0;
    for (size_t i = 0; i < b->count; i++) {
        ecom_order *o = NULL;
        int rc = ecom__order_read(&o, store, b->ids[i]);
        if (rc == ECOM_OK && o->state == ECOM_ORDER_PENDING_PAYMENT)
            rc = recover_one(store, &o);
        ecom_order_free(o);
        done += rc == ECOM_OK;
    }
    return done;
}

/* Walks the pending orders created before older_than, newest first, a batch at a
 * time: each scan resumes after the last key of the one before, so every order is
 * visited once, however many younger ones were created meanwhile or old ones stay
 * pending. */
static int recover_older_than(uint64_t *recovered, ecom_store *store, int64_t older_than)
{
    pending_batch b = {.older_than = older_than};
    ecom__buf after = {0};
    int rc;
    do {
        ecom_order_scan scan = {.state = ECOM_ORDER_PENDING_PAYMENT, .older_than = older_than,
                                .after = after.data, .after_len = after.len};
        b.count = 0;
        b.more = false;
        if ((rc = store->be->order_scan(store->be, &scan, collect_pending, &b)) != ECOM_OK)
            break;
        ecom__buf resume = b.last_key; /* the next scan starts after this batch */
        b.last_key = after;
        after = resume;
        uint64_t done = recover_batch(store, &b);
        if (recovered)
            *recovered += done;
    } while (b.more);
    ecom__buf_free(&after);
    ecom__buf_free(&b.last_key);
    if (rc == ECOM_ENOMEM)
        return ecom__fail(store, rc, "out of memory");
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "recovery: listing pending orders: %s", ecom_strerror(rc));
    return rc;
}

int ecom_checkout_recover(uint64_t *recovered, ecom_store *store, int64_t older_than_ms)
{
    if (recovered)
        *recovered = 0;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (older_than_ms < 0)
        return ecom__fail(store, ECOM_EINVAL, "older_than_ms: negative");
    if (store->be->version < 3 || store->be->order_scan == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no checkout",
                          store->be->name);
    /* Orders created at or before now - older_than_ms: the scan's bound is exclusive,
     * and a bound of 0 would mean none. Order times are the store's clock, in ms since
     * the epoch: a cutoff outside them has no orders. */
    int64_t cutoff;
    if (__builtin_sub_overflow(ecom__now(store), older_than_ms, &cutoff) || cutoff < 0 ||
        cutoff == INT64_MAX)
        return ECOM_OK;
    return recover_older_than(recovered, store, cutoff + 1);
}

int ecom_store_purge(uint64_t *purged, ecom_store *store, int64_t now)
{
    if (purged)
        *purged = 0;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    ecom_backend *be = store->be;
    if (be->version < 3 || be->idem_apply == NULL || be->cart_apply == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no checkout", be->name);
    int64_t ttl = store->opts.idempotency_ttl_ms > 0 ? store->opts.idempotency_ttl_ms
                                                     : ECOM__IDEM_TTL;
    ecom_idem_op keys = {.kind = ECOM_IDEM_PURGE, .ttl_ms = ttl, .key = ""};
    ecom_cart_op carts = {.kind = ECOM_CART_PURGE, .cart = ""};
    /* Not through group commit: the caller's `now` is what decides, as for the sweeper. */
    rc = be->idem_apply(be, &keys, 1, now);
    if (rc == ECOM_OK && (rc = keys.op_result) == ECOM_OK)
        rc = be->cart_apply(be, &carts, 1, now);
    if (rc == ECOM_OK)
        rc = carts.result;
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc ? rc
                                         : ecom__fail(store, rc, "purge: %s", ecom_strerror(rc));
    if (purged)
        *purged = keys.count + carts.count;
    return ECOM_OK;
}
