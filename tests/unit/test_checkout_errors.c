/*
 * The error answers of checkout, carts, orders and payments that no other test reached,
 * through the public API only: each refusal has its own code, a message naming its
 * cause, and leaves nothing changed (no order made, the cart, stock, claims and the
 * order's money as they were). Paths no public call reaches (a backend's failure, a
 * state the state machine never makes, arguments the core never hands the built-in
 * test provider) are not here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

/* ---- a host payment provider whose refunds can fail or be declined ---- */

typedef enum refund_mode { REFUND_APPROVE, REFUND_FAIL, REFUND_DECLINE } refund_mode;

typedef struct host_state {
    int empty_charge_id; /* authorizations come back approved without a charge id */
    int authorize_code;  /* what authorize returns (ECOM_OK unless a test breaks it) */
    refund_mode refund;
    int refund_calls;
    int refunds_approved;
    int64_t refunded; /* what approved refunds paid out */
} host_state;

static host_state hs;

static int host_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    *out = (ecom_payment_result){.approved = 1, .captured = 1, .amount = req->amount};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", hs.empty_charge_id ? "" : "ch-host");
    return hs.authorize_code;
}

static int host_settle(void *ctx, const char *charge, int64_t amount, const char *key,
                       ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    *out = (ecom_payment_result){.approved = 1, .amount = amount};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", charge);
    return ECOM_OK;
}

static int host_void(void *ctx, const char *charge, const char *key, ecom_payment_result *out)
{
    return host_settle(ctx, charge, 0, key, out);
}

static int host_refund(void *ctx, const char *charge, int64_t amount, const char *key,
                       ecom_payment_result *out)
{
    hs.refund_calls++;
    if (hs.refund == REFUND_FAIL) {
        *out = (ecom_payment_result){0};
        return ECOM_EPAYMENT;
    }
    host_settle(ctx, charge, amount, key, out);
    if (hs.refund == REFUND_DECLINE) {
        out->approved = 0;
        snprintf(out->reason, sizeof out->reason, "insufficient_balance");
        return ECOM_OK;
    }
    hs.refunds_approved++;
    hs.refunded += amount;
    return ECOM_OK;
}

static int host_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    *out = (ecom_payment_result){.approved = 1, .captured = 1};
    snprintf(out->charge_id, sizeof out->charge_id, "%s", hs.empty_charge_id ? "" : "ch-host");
    return ECOM_OK;
}

static ecom_payment_provider host = {
    .version = ECOM_PAYMENT_PROVIDER_VERSION,
    .name = "host-refunds",
    .authorize = host_authorize,
    .capture = host_settle,
    .void_charge = host_void,
    .refund = host_refund,
    .lookup = host_lookup,
};

/* ---- fixture: a catalog, stock, and a clock that moves only when told ---- */

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

#define GOLD_SKUS 10 /* lines of 999 units at ECOM_PRICE_MAX: together over INT64_MAX */

static int64_t clock_ms;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int open_store(void **state, const ecom_payment_provider *payments, int64_t shipping_fee,
                      int32_t tax_rate_bp)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "checkout_errors");
    clock_ms = INT64_C(1800000000000);
    hs = (host_state){0};
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    opts.payments = payments;
    opts.shipping_fee = shipping_fee;
    opts.tax_rate_bp = tax_rate_bp;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    test_create_product(f.s, "{\"id\":\"p-mug\",\"title\":\"Mug\",\"status\":\"active\","
                             "\"variants\":[{\"sku\":\"mug\","
                             "\"prices\":{\"USD\":100,\"EUR\":90}}]}");
    test_create_product(f.s, "{\"id\":\"p-tv\",\"title\":\"TV\",\"status\":\"active\","
                             "\"variants\":[{\"sku\":\"tv\",\"prices\":{\"USD\":500}}]}");
    char json[2048];
    size_t len = (size_t)snprintf(json, sizeof json,
                                  "{\"id\":\"p-gold\",\"title\":\"Gold\","
                                  "\"status\":\"active\",\"variants\":[");
    for (int i = 0; i < GOLD_SKUS; i++)
        len += (size_t)snprintf(json + len, sizeof json - len,
                                "%s{\"sku\":\"gold%d\",\"prices\":{\"USD\":%lld}}", i ? "," : "", i,
                                (long long)ECOM_PRICE_MAX);
    snprintf(json + len, sizeof json - len, "]}");
    test_create_product(f.s, json);
    test_receive(f.s, "mug", 50);
    test_receive(f.s, "tv", 20);
    test_receive(f.s, "gold0", 999);
    *state = &f;
    return 0;
}

static int setup(void **state)
{
    return open_store(state, NULL, 0, 0);
}

static int setup_host(void **state)
{
    return open_store(state, &host, 0, 0);
}

static int setup_shipping_max(void **state)
{
    return open_store(state, NULL, ECOM_PRICE_MAX, 0);
}

static int setup_tax_full(void **state)
{
    return open_store(state, NULL, 0, 10000); /* 100% */
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

/* ---- helpers ---- */

/* rc is code, ecom_errcode agrees, and ecom_errmsg names the cause (holds cause). */
static void fails(ecom_store *s, int rc, int code, const char *cause)
{
    if (rc != code)
        fail_msg("expected %s, got %s (%s)", ecom_strerror(code), ecom_strerror(rc),
                 ecom_errmsg(s));
    assert_int_equal(ecom_errcode(s), code);
    if (strstr(ecom_errmsg(s), cause) == NULL)
        fail_msg("message '%s' does not say '%s'", ecom_errmsg(s), cause);
}

static size_t order_count(ecom_store *s)
{
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.limit = 1000;
    ecom_order_page *page = NULL;
    test_must(s, ecom_order_list(&page, s, &lo), "order list");
    size_t n = ecom_order_page_count(page);
    ecom_order_page_free(page);
    return n;
}

static int64_t stock_figure(ecom_store *s, const char *sku, int64_t (*figure)(const ecom_stock *))
{
    ecom_stock *st = NULL;
    test_must(s, ecom_stock_get(&st, s, sku, NULL), "stock get");
    int64_t n = figure(st);
    ecom_stock_free(st);
    return n;
}

static int64_t reserved(ecom_store *s, const char *sku)
{
    return stock_figure(s, sku, ecom_stock_reserved);
}

static int64_t on_hand(ecom_store *s, const char *sku)
{
    return stock_figure(s, sku, ecom_stock_on_hand);
}

/* A cart as text ("USD mug=2@100 tv=1@500"), to compare before and after. */
static void cart_text(ecom_store *s, const char *cart, char *out, size_t size)
{
    ecom_cart *c = NULL;
    test_must(s, ecom_cart_get(&c, s, cart), "cart get");
    size_t len = (size_t)snprintf(out, size, "%s", ecom_cart_currency(c));
    for (size_t i = 0; i < ecom_cart_line_count(c) && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, " %s=%lld@%lld", ecom_cart_line_sku(c, i),
                                (long long)ecom_cart_line_quantity(c, i),
                                (long long)ecom_cart_line_unit_price(c, i));
    ecom_cart_free(c);
}

static void assert_cart(ecom_store *s, const char *cart, const char *expected)
{
    char text[1024];
    cart_text(s, cart, text, sizeof text);
    assert_string_equal(text, expected);
}

static ecom_checkout_request request(const char *cart, const char *user, const char *token)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = token;
    return r;
}

/* Checks out cart for user with token; the answer, and the order's id in id. */
static int checkout(ecom_store *s, const char *cart, const char *user, const char *token,
                    const char *key, char *id, size_t size)
{
    ecom_checkout_request r = request(cart, user, token);
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, key);
    if (o == NULL)
        fail_msg("checkout made no order: %s (%s)", ecom_strerror(rc), ecom_errmsg(s));
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
    return rc;
}

static ecom_order *order(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    test_must(s, ecom_order_get(&o, s, id), "order get");
    return o;
}

static uint64_t version_of(ecom_store *s, const char *id)
{
    ecom_order *o = order(s, id);
    uint64_t v = ecom_order_version(o);
    ecom_order_free(o);
    return v;
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = order(s, id);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static int64_t refunded(ecom_store *s, const char *id)
{
    ecom_order *o = order(s, id);
    int64_t n = ecom_order_refunded(o);
    ecom_order_free(o);
    return n;
}

/* Does the order's JSON hold needle ("\"pending\":true": a refund still pending)? */
static int order_json_has(ecom_store *s, const char *id, const char *needle)
{
    ecom_order *o = order(s, id);
    char *json = NULL;
    test_must(s, ecom_order_to_json(&json, o), "order json");
    int has = strstr(json, needle) != NULL;
    ecom_free(json);
    ecom_order_free(o);
    return has;
}


/* A paid order of 2 mugs and 1 TV (total 700), moved to fulfilling. */
static void fulfilling_order(ecom_store *s, const char *key, char *id, size_t size)
{
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add mug");
    test_must(s, ecom_cart_add(s, "user:ann", "tv", 1, "USD"), "add tv");
    test_must(s, checkout(s, "user:ann", "ann", "tok_approve", key, id, size), "checkout");
    test_must(s, ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING, "wh", NULL),
         "to fulfilling");
}

/* ---- checkout's request ---- */

static void test_checkout_errors__request(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    ecom_checkout_request r = request("user:ann", "ann", "tok_approve");
    fails(s, ecom_checkout(NULL, s, &r, "k-out"), ECOM_EINVAL, "out: NULL");
    ecom_order *o = (ecom_order *)(uintptr_t)1; /* not NULL: the call must clear it */
    fails(s, ecom_checkout(&o, s, NULL, "k-req"), ECOM_EINVAL, "request: NULL");
    assert_null(o);
    assert_int_equal(order_count(s), 0);
    assert_cart(s, "user:ann", "USD mug=2@100");
    assert_int_equal(reserved(s, "mug"), 0);
    /* Neither key was taken: both buy the cart now. */
    char id[80];
    test_must(s, checkout(s, "user:ann", "ann", "tok_approve", "k-req", id, sizeof id), "k-req");
    assert_int_equal(order_count(s), 1);
    test_assert_clean(s);
}

/* ---- claims ---- */

/* A sale of 5 TVs admitting one buyer a second: with the clock standing still, ann's
 * first claim (of qty) is admitted and her second (of 1) queued. */
static void tv_sale(ecom_store *s, int64_t qty, ecom_claim_result *admitted,
                    ecom_claim_result *queued)
{
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "tv";
    fo.units = 5;
    fo.admit_per_second = 1;
    test_must(s, ecom_flash_open(s, "drop", &fo), "flash open");
    *admitted = (ecom_claim_result)ECOM_CLAIM_RESULT_INIT;
    *queued = (ecom_claim_result)ECOM_CLAIM_RESULT_INIT;
    test_must(s, ecom_flash_claim(admitted, s, "drop", "ann", qty, "c1"), "claim 1");
    assert_int_equal(admitted->outcome, ECOM_CLAIM_ADMITTED);
    test_must(s, ecom_flash_claim(queued, s, "drop", "ann", 1, "c2"), "claim 2");
    assert_int_equal(queued->outcome, ECOM_CLAIM_QUEUED);
}

static ecom_claim_outcome outcome_of(ecom_store *s, const char *claim_id)
{
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    test_must(s, ecom_flash_poll(&c, s, claim_id), "poll");
    return c.outcome;
}

/* Nothing moved: no order, the cart, the TV's stock and both claims as they were. */
static void assert_claims_untouched(ecom_store *s, const char *admitted, const char *queued,
                                    int64_t held)
{
    assert_int_equal(order_count(s), 0);
    assert_cart(s, "user:ann", "USD mug=1@100 tv=1@500");
    assert_int_equal(reserved(s, "tv"), 5); /* the pool */
    assert_int_equal(reserved(s, "mug"), 0);
    assert_int_equal(on_hand(s, "tv"), 20);
    assert_int_equal(outcome_of(s, admitted), ECOM_CLAIM_ADMITTED);
    assert_int_equal(outcome_of(s, queued), ECOM_CLAIM_QUEUED);
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    test_must(s, ecom_flash_status_get(&st, s, "drop"), "flash status");
    assert_int_equal(st.held, held);
    assert_int_equal(st.sold, 0);
}

static void test_checkout_errors__claims(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    ecom_claim_result one, two;
    tv_sale(s, 2, &one, &two);
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 1, "USD"), "add mug");
    test_must(s, ecom_cart_add(s, "user:ann", "tv", 1, "USD"), "add tv");
    ecom_checkout_request r = request("user:ann", "ann", "tok_approve");
    ecom_order *o = NULL;

    /* More claims than an order holds (16), each well formed and distinct. */
    char ids[17][16];
    const char *many[17];
    for (int i = 0; i < 17; i++) {
        snprintf(ids[i], sizeof ids[i], "drop:%d", i + 1);
        many[i] = ids[i];
    }
    r.claims = many;
    r.claim_count = 17;
    fails(s, ecom_checkout(&o, s, &r, "k1"), ECOM_ELIMIT, "claims: 17, more than 16");
    assert_null(o);

    r.claims = NULL;
    r.claim_count = 1;
    fails(s, ecom_checkout(&o, s, &r, "k2"), ECOM_EINVAL, "claims: NULL");
    assert_null(o);

    /* A queued claim holds units but is not the buyer's to check out yet. */
    const char *queued[] = {two.claim_id};
    r.claims = queued;
    char cause[160];
    snprintf(cause, sizeof cause, "claim '%s' is not admitted", two.claim_id);
    fails(s, ecom_checkout(&o, s, &r, "k3"), ECOM_EINVAL, cause);
    assert_null(o);

    /* An admitted claim of 2 TVs against a cart line of 1. */
    const char *big[] = {one.claim_id};
    r.claims = big;
    snprintf(cause, sizeof cause, "claim '%s' is for 2 of SKU 'tv', more than the cart holds",
             one.claim_id);
    fails(s, ecom_checkout(&o, s, &r, "k4"), ECOM_EINVAL, cause);
    assert_null(o);

    /* ... or against a cart with no line of its SKU at all. */
    test_must(s, ecom_cart_remove(s, "user:ann", "tv"), "remove tv");
    fails(s, ecom_checkout(&o, s, &r, "k5"), ECOM_EINVAL, "more than the cart holds");
    assert_null(o);
    test_must(s, ecom_cart_add(s, "user:ann", "tv", 1, "USD"), "add tv back");

    assert_claims_untouched(s, one.claim_id, two.claim_id, 3);
    /* A claim the buyer let go is not admitted either (the message does not say it was
     * released: the same words as a queued one). */
    test_must(s, ecom_flash_release(s, one.claim_id), "release");
    snprintf(cause, sizeof cause, "claim '%s' is not admitted", one.claim_id);
    fails(s, ecom_checkout(&o, s, &r, "k6"), ECOM_EINVAL, cause);
    assert_null(o);
    assert_int_equal(order_count(s), 0);
    assert_int_equal(outcome_of(s, one.claim_id), ECOM_CLAIM_RELEASED);
    test_assert_clean(s);
}

/* ---- totals ---- */

static void test_checkout_errors__totals_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char sku[16];
    for (int i = 0; i < GOLD_SKUS; i++) {
        snprintf(sku, sizeof sku, "gold%d", i);
        test_must(s, ecom_cart_add(s, "user:rich", sku, ECOM_CART_QUANTITY_MAX, "USD"), "add gold");
    }
    char before[1024];
    cart_text(s, "user:rich", before, sizeof before);
    ecom_checkout_request r = request("user:rich", "rich", "tok_approve");
    ecom_order *o = NULL;
    fails(s, ecom_checkout(&o, s, &r, "k-gold"), ECOM_EPRICE, "order total overflows");
    assert_null(o);
    assert_int_equal(order_count(s), 0);
    assert_cart(s, "user:rich", before);
    assert_int_equal(reserved(s, "gold0"), 0);
    /* Refused before an order was made: the key keeps nothing, and buys the cart once
     * the cause is gone (a price that fits: 999 x 10^15). */
    test_must(s, ecom_cart_clear(s, "user:rich"), "clear");
    test_must(s, ecom_cart_add(s, "user:rich", "gold0", ECOM_CART_QUANTITY_MAX, "USD"), "one line");
    char id[80];
    test_must(s, checkout(s, "user:rich", "rich", "tok_approve", "k-gold", id, sizeof id), "again");
    ecom_order *paid = order(s, id);
    assert_int_equal(ecom_order_get_state(paid), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_total(paid), ECOM_CART_QUANTITY_MAX * ECOM_PRICE_MAX);
    ecom_order_free(paid);
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
    test_assert_clean(s);
}

/* Fills user:rich's cart with `full` lines of 999 gold units, then `more` of the next. */
static void add_gold(ecom_store *s, int full, int64_t more)
{
    char sku[16];
    for (int i = 0; i <= full && i < GOLD_SKUS; i++) {
        int64_t qty = i < full ? ECOM_CART_QUANTITY_MAX : more;
        snprintf(sku, sizeof sku, "gold%d", i);
        if (qty > 0)
            test_must(s, ecom_cart_add(s, "user:rich", sku, qty, "USD"), "add gold");
    }
}

/* The lines fit (9,223 * 10^15, just under INT64_MAX); the store's shipping fee, at its
 * bound ECOM_PRICE_MAX, pushes the total over. */
static void test_checkout_errors__totals_shipping(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    add_gold(s, 9, 232);
    ecom_checkout_request r = request("user:rich", "rich", "tok_approve");
    ecom_order *o = NULL;
    fails(s, ecom_checkout(&o, s, &r, "k-ship"), ECOM_EPRICE,
          "order total overflows: lines of 9223000000000000000 with shipping "
          "1000000000000000 and tax at 0 bp");
    assert_null(o);
    assert_int_equal(order_count(s), 0);
    assert_int_equal(reserved(s, "gold0"), 0);
    test_assert_clean(s);
}

/* At 100% tax, 999 units at ECOM_PRICE_MAX and as much again in tax fit (the subtotal
 * times the rate would not: no overflow is made up on the way); five such lines and
 * their tax do not. */
static void test_checkout_errors__totals_tax(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    add_gold(s, 1, 0);
    char id[80];
    test_must(s, checkout(s, "user:rich", "rich", "tok_approve", "k-tax-fits", id, sizeof id),
         "checkout");
    ecom_order *paid = order(s, id);
    assert_int_equal(ecom_order_tax(paid), ECOM_CART_QUANTITY_MAX * ECOM_PRICE_MAX);
    assert_int_equal(ecom_order_total(paid), 2 * ECOM_CART_QUANTITY_MAX * ECOM_PRICE_MAX);
    ecom_order_free(paid);
    add_gold(s, 5, 0);
    ecom_checkout_request r = request("user:rich", "rich", "tok_approve");
    ecom_order *o = NULL;
    fails(s, ecom_checkout(&o, s, &r, "k-tax"), ECOM_EPRICE, "and tax at 10000 bp");
    assert_null(o);
    assert_int_equal(order_count(s), 1);
    assert_int_equal(reserved(s, "gold0"), 0);
    test_assert_clean(s);
}

/* Options out of range are refused at open, each naming itself; the bounds are taken. */
static void test_checkout_errors__store_options(void **state)
{
    (void)state;
    char dir[512], uri[600];
    test_fresh_store_dir(dir, sizeof dir, uri, sizeof uri, "checkout_errors_options");
    static const struct {
        int64_t shipping;
        int32_t tax;
        int64_t idem_ttl, user_ttl, guest_ttl;
        const char *cause; /* NULL: opens */
    } cases[] = {
        {-1, 0, 0, 0, 0, "shipping_fee -1 is not in 0..1000000000000000"},
        {ECOM_PRICE_MAX + 1, 0, 0, 0, 0, "shipping_fee 1000000000000001 is not in"},
        {0, -1, 0, 0, 0, "tax_rate_bp -1 is not in 0..10000"},
        {0, ECOM_TAX_RATE_BP_MAX + 1, 0, 0, 0, "tax_rate_bp 10001 is not in 0..10000"},
        {0, 0, -1, 0, 0, "idempotency_ttl_ms -1 is negative"},
        {0, 0, 0, -5, 0, "user_cart_ttl_ms -5 is negative"},
        {0, 0, 0, 0, INT64_MIN, "guest_cart_ttl_ms"},
        {ECOM_PRICE_MAX, ECOM_TAX_RATE_BP_MAX, 1, 1, 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ecom_options opts = ECOM_OPTIONS_INIT;
        opts.no_sync = 1;
        opts.shipping_fee = cases[i].shipping;
        opts.tax_rate_bp = cases[i].tax;
        opts.idempotency_ttl_ms = cases[i].idem_ttl;
        opts.user_cart_ttl_ms = cases[i].user_ttl;
        opts.guest_cart_ttl_ms = cases[i].guest_ttl;
        ecom_store *s = NULL;
        int rc = ecom_store_open(&s, uri, &opts);
        if (cases[i].cause == NULL)
            test_must(s, rc, "open at the bounds");
        else
            fails(s, rc, ECOM_EINVAL, cases[i].cause);
        ecom_store_close(s);
    }
    test_remove_store_dir(dir);
}

/* ---- carts ---- */

static void test_checkout_errors__cart_args(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    fails(s, ecom_cart_add(s, NULL, "mug", 1, "USD"), ECOM_EINVAL, "cart: NULL");
    fails(s, ecom_cart_set(s, NULL, "mug", 1, "USD"), ECOM_EINVAL, "cart: NULL");
    fails(s, ecom_cart_remove(s, NULL, "mug"), ECOM_EINVAL, "cart: NULL");
    fails(s, ecom_cart_clear(s, NULL), ECOM_EINVAL, "cart: NULL");
    fails(s, ecom_cart_merge(s, NULL, "user:ann"), ECOM_EINVAL, "guest_cart: NULL");
    fails(s, ecom_cart_merge(s, "guest:g1", NULL), ECOM_EINVAL, "user_cart: NULL");
    ecom_cart *c = (ecom_cart *)(uintptr_t)1; /* not NULL: the call must clear it */
    fails(s, ecom_cart_get(&c, s, NULL), ECOM_EINVAL, "cart: NULL");
    assert_null(c);
    fails(s, ecom_cart_get(NULL, s, "user:ann"), ECOM_EINVAL, "out: NULL");
    assert_cart(s, "user:ann", "USD mug=2@100");
    test_assert_clean(s);
}

static void test_checkout_errors__cart_merge(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "user line");
    test_must(s, ecom_cart_add(s, "user:ann", "tv", 1, "USD"), "user line");
    test_must(s, ecom_cart_add(s, "guest:g1", "mug", 3, "EUR"), "guest line");
    fails(s, ecom_cart_merge(s, "guest:g1", "user:ann"), ECOM_EMIXEDCURRENCY,
          "cannot merge cart 'guest:g1' (EUR) into cart 'user:ann' (USD)");
    assert_cart(s, "user:ann", "USD mug=2@100 tv=1@500");
    assert_cart(s, "guest:g1", "EUR mug=3@90");
    /* The other way round names the currencies the other way round. */
    test_must(s, ecom_cart_clear(s, "user:ann"), "clear");
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 1, "EUR"), "user line in EUR");
    test_must(s, ecom_cart_clear(s, "guest:g1"), "clear guest");
    test_must(s, ecom_cart_add(s, "guest:g1", "tv", 1, "USD"), "guest line in USD");
    fails(s, ecom_cart_merge(s, "guest:g1", "user:ann"), ECOM_EMIXEDCURRENCY,
          "cannot merge cart 'guest:g1' (USD) into cart 'user:ann' (EUR)");
    assert_cart(s, "user:ann", "EUR mug=1@90");
    assert_cart(s, "guest:g1", "USD tv=1@500");
    test_assert_clean(s);
}

static void test_checkout_errors__limits(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_stock_set_purchase_limit(s, "mug", 3), "limit 3");
    fails(s, ecom_stock_set_purchase_limit(s, "mug", -1), ECOM_EQUANTITY,
          "limit: -1 is not in 0..1000000000");
    fails(s, ecom_stock_set_purchase_limit(s, "mug", ECOM_QUANTITY_MAX + 1), ECOM_EQUANTITY,
          "limit: 1000000001 is not in 0..1000000000");
    /* The limit of 3 stands. */
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 3, "USD"), "up to the limit");
    fails(s, ecom_cart_add(s, "user:ann", "mug", 1, "USD"), ECOM_ELIMIT,
          "has a purchase limit of 3");
    assert_cart(s, "user:ann", "USD mug=3@100");
    /* Both ends of the range are limits. */
    test_must(s, ecom_stock_set_purchase_limit(s, "mug", ECOM_QUANTITY_MAX), "the largest");
    test_must(s, ecom_stock_set_purchase_limit(s, "mug", 0), "none");
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 4, "USD"), "no limit now");
    test_assert_clean(s);
}

/* ---- orders: shipping and cancelling ---- */

static void test_checkout_errors__shipping(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[80];
    fulfilling_order(s, "k-ship", id, sizeof id);
    uint64_t v = version_of(s, id);
    const char *skus[] = {"mug"};
    const int64_t qty[] = {1};
    fails(s, ecom_order_ship(s, id, v, NULL, qty, 1, "wh"), ECOM_EINVAL, "skus: NULL with n = 1");
    fails(s, ecom_order_ship(s, id, v, skus, NULL, 1, "wh"), ECOM_EINVAL,
          "quantities: NULL with n = 1");
    /* More entries than 100 lines of 999 units could ever need. */
    size_t n = (size_t)ECOM_CART_LINES_MAX * ECOM_CART_QUANTITY_MAX + 1;
    const char **many_skus = calloc(n, sizeof *many_skus);
    int64_t *many_qty = calloc(n, sizeof *many_qty);
    assert_non_null(many_skus);
    assert_non_null(many_qty);
    for (size_t i = 0; i < n; i++) {
        many_skus[i] = "mug";
        many_qty[i] = 1;
    }
    char cause[80];
    snprintf(cause, sizeof cause, "n: %zu entries is more than an order holds", n);
    fails(s, ecom_order_ship(s, id, v, many_skus, many_qty, n, "wh"), ECOM_ELIMIT, cause);
    free(many_skus);
    free(many_qty);
    ecom_order *o = order(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_FULFILLING);
    assert_int_equal(ecom_order_version(o), v);
    for (size_t i = 0; i < ecom_order_line_count(o); i++)
        assert_int_equal(ecom_order_line_shipped(o, i), 0);
    ecom_order_free(o);
    /* Everything shipped, nothing is left: a shipped order ships no more. (The "nothing
     * left to ship" answer itself needs a fulfilling order with every unit shipped,
     * which the state machine never makes.) */
    test_must(s, ecom_order_ship(s, id, v, NULL, NULL, 0, "wh"), "ship all");
    v = version_of(s, id);
    fails(s, ecom_order_ship(s, id, v, NULL, NULL, 0, "wh"), ECOM_ESTATE,
          "is shipped: only a fulfilling or partially shipped order ships");
    assert_int_equal(version_of(s, id), v);
    assert_int_equal(state_of(s, id), ECOM_ORDER_SHIPPED);
    test_assert_clean(s);
}

static void test_checkout_errors__cancel(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[80];
    fulfilling_order(s, "k-cancel", id, sizeof id);
    const char *skus[] = {"mug"};
    const int64_t qty[] = {1};
    test_must(s, ecom_order_ship(s, id, ECOM_VERSION_ANY, skus, qty, 1, "wh"), "ship one mug");
    uint64_t v = version_of(s, id);
    int64_t mugs = on_hand(s, "mug"), tvs = on_hand(s, "tv");
    /* Shipped units cannot come back by a cancel: the order's state says so first (a
     * fulfilling order, the only cancellable one that could, has shipped nothing). */
    fails(s, ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "changed mind"), ECOM_ESTATE,
          "is partially_shipped: only an order pending payment, paid or fulfilling");
    ecom_order *o = order(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PARTIALLY_SHIPPED);
    assert_int_equal(ecom_order_version(o), v);
    assert_int_equal(ecom_order_refunded(o), 0);
    ecom_order_free(o);
    assert_int_equal(on_hand(s, "mug"), mugs);
    assert_int_equal(on_hand(s, "tv"), tvs);
    assert_int_equal(test_payments_of(s, id, "refund"), 0);
    assert_int_equal(test_payments_of(s, id, "void"), 0);
    test_assert_clean(s);
}

/* ---- refunds ---- */

static void test_checkout_errors__refund_args(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[80];
    fulfilling_order(s, "k-rk", id, sizeof id);
    uint64_t v = version_of(s, id);
    fails(s, ecom_order_refund(s, id, v, 100, NULL, "cs", "broken"), ECOM_EINVAL,
          "refund_key: NULL");
    assert_int_equal(version_of(s, id), v);
    assert_int_equal(refunded(s, id), 0);
    assert_false(order_json_has(s, id, "\"pending\":true"));
    assert_int_equal(test_payments_of(s, id, "refund"), 0);
    test_assert_clean(s);
}

static void test_checkout_errors__refund_declined(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[80];
    fulfilling_order(s, "k-decl", id, sizeof id);
    hs.refund = REFUND_DECLINE;
    fails(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", "broken"), ECOM_EPAYMENT,
          "the refund of 300 was declined (insufficient_balance)");
    assert_int_equal(hs.refund_calls, 1);
    assert_int_equal(hs.refunded, 0);
    assert_int_equal(refunded(s, id), 0);
    assert_false(order_json_has(s, id, "\"pending\":true")); /* the reservation dropped */
    assert_int_equal(state_of(s, id), ECOM_ORDER_FULFILLING);
    /* Nothing is held back: all 700 may be refunded still. */
    hs.refund = REFUND_APPROVE;
    test_must(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 700, "r2", "cs", "broken"), "refund");
    assert_int_equal(refunded(s, id), 700);
    assert_int_equal(hs.refunded, 700);
    test_assert_clean(s);
}

static void test_checkout_errors__refund_failed(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[80];
    fulfilling_order(s, "k-fail", id, sizeof id);
    hs.refund = REFUND_FAIL;
    fails(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", "broken"), ECOM_EPAYMENT,
          "the refund of 300 failed (");
    assert_non_null(strstr(ecom_errmsg(s), "retry with the same refund key"));
    assert_int_equal(refunded(s, id), 0);
    assert_true(order_json_has(s, id, "\"pending\":true")); /* kept for the retry */
    /* While it is pending, what it reserved cannot be refunded twice. */
    fails(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 700, "r2", "cs", "broken"), ECOM_EPRICE,
          "some refunds are pending");
    /* The retry with the same key finishes it, once. */
    hs.refund = REFUND_APPROVE;
    test_must(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", "broken"), "retry");
    assert_int_equal(hs.refund_calls, 2);
    assert_int_equal(hs.refunds_approved, 1);
    assert_int_equal(refunded(s, id), 300);
    assert_false(order_json_has(s, id, "\"pending\":true"));
    test_must(s, ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", "broken"), "again");
    assert_int_equal(hs.refund_calls, 2); /* done: the provider is not asked again */
    assert_int_equal(refunded(s, id), 300);
    assert_int_equal(hs.refunded, 300);
    test_assert_clean(s);
}

/* A provider's approval without a charge id cannot pay the order (nothing could refund
 * it): the checkout fails retryably, the order stays pending with its stock held, and the
 * retry, once the provider answers properly, pays it. */
static void test_checkout_errors__approval_without_charge_id(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    hs.empty_charge_id = 1;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    char id[80];
    assert_int_equal(checkout(s, "user:ann", "ann", "tok_approve", "k-nocharge", id, sizeof id),
                     ECOM_EPAYMENT);
    assert_non_null(strstr(ecom_errmsg(s), "approved it without a charge id"));
    assert_int_equal(state_of(s, id), ECOM_ORDER_PENDING_PAYMENT);
    assert_int_equal(reserved(s, "mug"), 2);
    assert_cart(s, "user:ann", "USD mug=2@100");
    test_assert_clean(s);
    hs.empty_charge_id = 0;
    test_must(s, checkout(s, "user:ann", "ann", "tok_approve", "k-nocharge", id, sizeof id), "retry");
    ecom_order *o = order(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    assert_string_equal(ecom_order_charge_id(o), "ch-host");
    ecom_order_free(o);
    assert_int_equal(reserved(s, "mug"), 0);
    test_assert_clean(s);
}

/* A provider answering a code its contract does not allow (here ECOM_EDECLINED as a
 * return code, not as a declined result) has failed: the order stays pending with its
 * key open, not ended as if declined, and the retry pays it. */
static void test_checkout_errors__provider_code_outside_its_contract(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    hs.authorize_code = ECOM_EDECLINED;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    char id[80];
    assert_int_equal(checkout(s, "user:ann", "ann", "tok_approve", "k-odd", id, sizeof id),
                     ECOM_EPAYMENT);
    assert_non_null(strstr(ecom_errmsg(s), "which its contract does not allow"));
    assert_int_equal(state_of(s, id), ECOM_ORDER_PENDING_PAYMENT);
    assert_int_equal(reserved(s, "mug"), 2);
    hs.authorize_code = ECOM_OK;
    test_must(s, checkout(s, "user:ann", "ann", "tok_approve", "k-odd", id, sizeof id), "retry");
    assert_int_equal(state_of(s, id), ECOM_ORDER_PAID);
    assert_int_equal(reserved(s, "mug"), 0);
    test_assert_clean(s);
}

/* ---- notification and recovery ---- */

static void test_checkout_errors__notify_and_recover(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    char id[80];
    assert_int_equal(checkout(s, "user:ann", "ann", "tok_timeout", "k-lost", id, sizeof id),
                     ECOM_ETIMEOUT);
    uint64_t v = version_of(s, id);
    fails(s, ecom_payment_notify(s, id, 1, NULL, NULL), ECOM_EINVAL,
          "charge_id: required when approved");
    fails(s, ecom_payment_notify(s, id, 1, "", NULL), ECOM_EINVAL,
          "charge_id: required when approved");
    uint64_t recovered = 99;
    fails(s, ecom_checkout_recover(&recovered, s, -1), ECOM_EINVAL, "older_than_ms: negative");
    assert_int_equal(recovered, 0);
    fails(s, ecom_checkout_recover(&recovered, s, INT64_MIN), ECOM_EINVAL,
          "older_than_ms: negative");
    ecom_order *o = order(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PENDING_PAYMENT);
    assert_int_equal(ecom_order_version(o), v);
    assert_string_equal(ecom_order_reason(o), "");
    ecom_order_free(o);
    assert_int_equal(reserved(s, "mug"), 2);
    assert_cart(s, "user:ann", "USD mug=2@100");
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
    assert_int_equal(test_payments_of(s, id, "capture"), 1);
    /* The sweep, asked properly, still finishes it: charged once. */
    test_must(s, ecom_checkout_recover(&recovered, s, 0), "recover");
    assert_int_equal(recovered, 1);
    assert_int_equal(state_of(s, id), ECOM_ORDER_PAID);
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
    assert_int_equal(reserved(s, "mug"), 0);
    test_assert_clean(s);
}

/* An abandoned checkout whose stock hold ended before the sweep: cancelled with its
 * charge voided, and counted as recovered (finished, as a paid one is). */
static void test_checkout_errors__sweep_after_the_hold_ended(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    char id[80];
    assert_int_equal(checkout(s, "user:ann", "ann", "tok_timeout", "k-late", id, sizeof id),
                     ECOM_ETIMEOUT);
    clock_ms += 16 * 60 * 1000; /* the checkout's hold lasts 15 minutes */
    uint64_t recovered = 0;
    test_must(s, ecom_checkout_recover(&recovered, s, 0), "recover");
    assert_int_equal(recovered, 1);
    assert_int_equal(state_of(s, id), ECOM_ORDER_CANCELLED);
    assert_int_equal(test_payments_of(s, id, "void"), 1);
    assert_int_equal(reserved(s, "mug"), 0);
    test_assert_clean(s);
}

/* ---- the built-in test provider ---- */

/* An idempotency key at the 128-byte bound charges once, and its retry (after a lost
 * answer, and after the order is paid) charges nothing more. */
static void test_checkout_errors__test_provider(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char key[129];
    memset(key, 'k', 128);
    key[128] = '\0';
    test_must(s, ecom_cart_add(s, "user:ann", "mug", 2, "USD"), "add");
    char id[80], again[80];
    assert_int_equal(checkout(s, "user:ann", "ann", "tok_timeout", key, id, sizeof id),
                     ECOM_ETIMEOUT);
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
    test_must(s, checkout(s, "user:ann", "ann", "tok_timeout", key, again, sizeof again), "retry");
    assert_string_equal(again, id);
    test_must(s, checkout(s, "user:ann", "ann", "tok_timeout", key, again, sizeof again), "again");
    assert_string_equal(again, id);
    assert_int_equal(state_of(s, id), ECOM_ORDER_PAID);
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
    ecom_payments *p = NULL;
    test_must(s, ecom_payments_list(&p, s, id), "payments");
    assert_true(ecom_payments_count(p) >= 1);
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        assert_int_equal(ecom_payments_amount(p, i), 200);
    ecom_payments_free(p);

    /* One byte more is refused before anything is charged or held. */
    char longer[130];
    memset(longer, 'k', 129);
    longer[129] = '\0';
    test_must(s, ecom_cart_add(s, "user:bob", "mug", 1, "USD"), "add");
    ecom_checkout_request r = request("user:bob", "bob", "tok_approve");
    ecom_order *o = NULL;
    fails(s, ecom_checkout(&o, s, &r, longer), ECOM_ETOOLONG,
          "idempotency_key: 129 bytes, longer than 128");
    assert_null(o);
    assert_int_equal(order_count(s), 1);
    assert_int_equal(reserved(s, "mug"), 0);
    test_assert_clean(s);
}

int main(void)
{
#define T(name, setup) \
    cmocka_unit_test_setup_teardown(test_checkout_errors__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(request, setup),
        T(claims, setup),
        T(totals_lines, setup),
        T(totals_shipping, setup_shipping_max),
        T(totals_tax, setup_tax_full),
        cmocka_unit_test(test_checkout_errors__store_options),
        T(cart_args, setup),
        T(cart_merge, setup),
        T(limits, setup),
        T(shipping, setup),
        T(cancel, setup),
        T(refund_args, setup),
        T(refund_declined, setup_host),
        T(refund_failed, setup_host),
        T(approval_without_charge_id, setup_host),
        T(provider_code_outside_its_contract, setup_host),
        T(notify_and_recover, setup),
        T(sweep_after_the_hold_ended, setup),
        T(test_provider, setup),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
