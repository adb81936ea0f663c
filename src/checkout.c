/*
 * Checkout: cart -> priced order -> stock held -> payment -> paid, in short atomic
 * steps with compensation, under an idempotency key: the request checked, the order
 * built from the cart (prices, limits, claims, the hold), the key claimed with the
 * order's creation, the answer a key already holds, and the purge of old keys and
 * carts. Paying and completing, shared with the notification and the recovery sweep,
 * is completion.c.
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
            return ecom__fail(store, ECOM_EBADID, "%s: byte %zu is %s", field, i,
                              key[i] == ' ' ? "a space" : "not printable ASCII");
    return ECOM_OK;
}

/* Each claim well formed and listed once: one listed twice would cover its line twice,
 * and be committed once, after the charge. Well formed by the rule the order's
 * completion reads claims with (ecom__claim_parse), and compared as (sale, ticket), so
 * no second spelling of a claim ("drop:01") gets past as another claim. Claims need
 * the claim's owner, which backends name from contract version 5. */
static int check_claims(ecom_store *store, const ecom_checkout_request *r)
{
    if (r->claim_count > ECOM__ORDER_CLAIMS_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "claims: %zu, more than %d", r->claim_count,
                          ECOM__ORDER_CLAIMS_MAX);
    if (r->claim_count && r->claims == NULL)
        return ecom__fail(store, ECOM_EINVAL, "claims: NULL");
    char sales[ECOM__ORDER_CLAIMS_MAX][ECOM_ID_MAX + 1];
    uint64_t tickets[ECOM__ORDER_CLAIMS_MAX];
    for (size_t i = 0; i < r->claim_count; i++) {
        if (r->claims[i] == NULL)
            return ecom__fail(store, ECOM_EINVAL, "claims[%zu]: NULL", i);
        if (!ecom__claim_parse(r->claims[i], sales[i], &tickets[i]))
            return ecom__fail(store, ECOM_EINVAL, "claim id '%.100s' is not of the form "
                              "SALE:TICKET (TICKET a number from 1, without sign or leading "
                              "zero)", r->claims[i]);
        for (size_t j = 0; j < i; j++)
            if (tickets[j] == tickets[i] && strcmp(sales[j], sales[i]) == 0)
                return ecom__fail(store, ECOM_EINVAL, "claim '%.100s' is listed twice",
                                  r->claims[i]);
    }
    if (r->claim_count && store->be->version < 5)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend (contract version %d) "
                          "cannot tell whose claim this is; claims need version 5",
                          store->be->name, store->be->version);
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

/* What the key records of a checkout that made its order and stopped with result. Only
 * the order's own ends are final: a decline, a cancel meanwhile (ESTATE), a hold that
 * ended while paying. Anything else (out of memory, a provider's unexpected answer)
 * left the order to be completed, so the key is released for a retry, which carries
 * on from the order (EBUSY is a result the contract releases on). */
static int key_result(int result, const char *order_id)
{
    bool ended = result == ECOM_OK || ecom__ended_cancelled(result);
    return order_id[0] == '\0' || ended ? result : ECOM_EBUSY;
}

/* Stores how the request ended, keeping the code and message the caller will see.
 * order_id: the order the key names ("" if none), whether or not it could be read.
 * holder: the request's nonce, so that one whose key was taken over meanwhile (it was
 * thought crashed) cannot overwrite what the taker records. */
static int finish(ecom_store *store, const char *key, uint64_t holder, int result,
                  const char *order_id)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
    ecom_idem_op op = {.kind = ECOM_IDEM_FINISH, .key = key, .holder = holder,
                       .result = key_result(result, order_id)};
    snprintf(op.order_id, sizeof op.order_id, "%s", order_id);
    idem(store, &op); /* on failure the key stays held and goes stale: retries resume */
    return result == ECOM_OK ? ECOM_OK : ecom__fail(store, result, "%s", msg);
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
    int64_t subtotal = 0, line, total;
    for (size_t i = 0; i < o->line_count; i++)
        if (__builtin_mul_overflow(o->lines[i].quantity, o->lines[i].unit_price, &line) ||
            __builtin_add_overflow(subtotal, line, &subtotal))
            return ecom__fail(store, ECOM_EPRICE, "order total overflows: its lines add up "
                              "past %lld", (long long)INT64_MAX);
    int64_t bp = store->opts.tax_rate_bp, shipping = store->opts.shipping_fee; /* checked */
    /* Tax rounds half up, per order: subtotal * bp / 10000 split at 10000 so that, with
     * bp <= 10000, no step overflows and the total is refused only when it does not fit. */
    int64_t tax = subtotal / 10000 * bp + (subtotal % 10000 * bp + 5000) / 10000;
    if (__builtin_add_overflow(subtotal, shipping, &total) ||
        __builtin_add_overflow(total, tax, &total))
        return ecom__fail(store, ECOM_EPRICE, "order total overflows: lines of %lld with "
                          "shipping %lld and tax at %lld bp", (long long)subtotal,
                          (long long)shipping, (long long)bp);
    o->subtotal = subtotal;
    o->shipping = shipping;
    o->tax = tax;
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

/* What the order's creation writes with it: the reservation of the lines claims do not
 * cover (ops[0], if any), then a bind of each claim to the order (backend version 6).
 * The ops point into skus, qty, sales and the order. */
typedef struct hold {
    ecom_inventory_op ops[1 + ECOM__ORDER_CLAIMS_MAX];
    size_t n;
    const char *skus[ECOM__ORDER_LINES_MAX];
    int64_t qty[ECOM__ORDER_LINES_MAX];
    char sales[ECOM__ORDER_CLAIMS_MAX][ECOM_ID_MAX + 1];
} hold;

/* The stock hold of the lines not covered by claims: one RESERVE that the order's
 * creation carries, so the order and its hold are made in one atomic unit (no order
 * without its stock, no stock held for an order never made); none when claims cover
 * every line. */
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
    h->n = 0;
    if (n == 0)
        return ECOM_OK;
    char id[ECOM_ID_MAX + 1];
    snprintf(id, sizeof id, "co-%s", o->id);
    o->reservation_id = ecom__order_strdup(o, id);
    if (o->reservation_id == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    h->ops[h->n++] = (ecom_inventory_op){.kind = ECOM_INV_RESERVE, .id = o->reservation_id,
                                         .location = o->location, .line_count = n,
                                         .line_skus = h->skus, .line_quantities = h->qty,
                                         .fingerprint = fp, .ttl_ms = ECOM__CHECKOUT_HOLD};
    return ECOM_OK;
}

/* Ties each claim to the order in its creation's unit, so that no second order can
 * stand on a claim the first is paying with (a double submit under two keys): the
 * second is refused (ECOM_EBUSY) before anything is charged. A backend before
 * version 6 cannot: its claims stay untied, as they were. */
static void bind_claims(ecom_store *store, hold *h, const ecom_order *o)
{
    if (store->be->version < 6)
        return;
    for (size_t i = 0; i < o->claim_count; i++) {
        uint64_t ticket;
        if (!ecom__claim_parse(o->claims[i], h->sales[i], &ticket))
            continue; /* checked at the request: cannot happen */
        h->ops[h->n++] = (ecom_inventory_op){.kind = ECOM_INV_FLASH_BIND, .id = h->sales[i],
                                             .ticket = ticket, .key = o->id};
    }
}

/* Cart -> a priced order (pending_payment) with its stock hold, in memory: nothing is
 * written, so it can be built before the idempotency key says whether it is wanted. */
static int build_order(ecom_store *store, ecom_order **out, hold *h,
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
        (rc = build_hold(store, h, o, to_reserve)) != ECOM_OK)
        goto fail;
    bind_claims(store, h, o);
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
        return ecom__pay(store, order, token, then);
    case ECOM_ORDER_CANCELLED:
        return ecom__cancelled_meanwhile(store, *order);
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

static void ending_init(ending *e, const char *key, uint64_t holder, const char *order_id)
{
    *e = (ending){.done = {.kind = ECOM_IDEM_FINISH, .key = key, .holder = holder,
                           .result = ECOM_OK,
                           .op_result = ECOM_ERROR /* until it is applied */}};
    snprintf(e->done.order_id, sizeof e->done.order_id, "%s", order_id);
    e->then = (ecom__order_then){{ECOM__WRITE_IDEM}, {&e->done}, 1};
}

/* The end of a checkout: paid, the key finished (unless that rode on the completion
 * already); otherwise the key records the failure. */
static int conclude(ecom_store *store, int rc, ending *e, const char *key)
{
    if (rc != ECOM_OK)
        return finish(store, key, e->done.holder, rc, e->done.order_id);
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
    ending_init(&e, key, begin->holder, begin->order_id);
    if (rc == ECOM_OK)
        rc = resume(store, out, request->payment_token, &e.then);
    return conclude(store, rc, &e, key);
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
    int built = build_order(store, &o, &h, request);
    if (built == ECOM_OK) {
        rc = ecom__order_create_claimed(store, o, h.n ? h.ops : NULL, h.n, idempotency_key,
                                        &begin);
        if (rc == ECOM_OK) {
            *out = o;
            ending e;
            ending_init(&e, idempotency_key, begin.holder, o->id);
            rc = ecom__pay(store, out, request->payment_token, &e.then);
            return conclude(store, rc, &e, idempotency_key);
        }
        ecom_order_free(o);
        if (begin.op_result != ECOM_OK) /* the batch failed: the backend said why */
            return ecom_errcode(store) == begin.op_result
                       ? begin.op_result
                       : ecom__fail(store, begin.op_result, "idempotency key '%s': %s",
                                    idempotency_key, ecom_strerror(begin.op_result));
        if (begin.state == ECOM_IDEM_NEW && begin.order_id[0] == '\0')
            return finish(store, idempotency_key, begin.holder, rc, ""); /* refused */
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
    return finish(store, idempotency_key, begin.holder, built, "");
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
    ecom_idem_op keys = {.kind = ECOM_IDEM_PURGE, .ttl_ms = ttl, .stale_ms = ECOM__IDEM_STALE,
                         .key = ""};
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
