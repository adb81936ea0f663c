/*
 * Orders after payment and the event log's consumers, through the public API:
 * shipments (several, refused ones, of orders that may not ship), the version
 * compare-and-set, history and events per move, cancels and refunds (and a shipment
 * racing a cancel's refund), paging while states change, bad cursors, consumer names
 * and acknowledgements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "support/support.h"

static _Atomic int64_t now_ms = INT64_C(1700000000000);

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return atomic_fetch_add(&now_ms, 1);
}

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static fixture fx;

/* ---- a host payment provider that approves everything, with a hook in refunds ---- */

static ecom_store *hook_store;
static char hook_order[ECOM_ID_MAX + 1];
static int hook_ship_rc = 1; /* 1: no hook ran */
static int hook_enabled;
static int host_refunds;
static int64_t host_refunded;

static void approve(ecom_payment_result *out, const char *charge, int64_t amount)
{
    memset(out, 0, sizeof *out);
    out->approved = 1;
    out->captured = 1;
    out->amount = amount;
    snprintf(out->charge_id, sizeof out->charge_id, "%s", charge);
}

static int h_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    char charge[72];
    snprintf(charge, sizeof charge, "ch_%.60s", req->order_id);
    approve(out, charge, req->amount);
    return ECOM_OK;
}

static int h_capture(void *ctx, const char *charge_id, int64_t amount, const char *key,
                     ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    approve(out, charge_id, amount);
    return ECOM_OK;
}

static int h_void(void *ctx, const char *charge_id, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    approve(out, charge_id, 0);
    return ECOM_OK;
}

/* While the provider pays a refund out, the warehouse ships the order (another
 * process, as far as the store can tell). */
static int h_refund(void *ctx, const char *charge_id, int64_t amount, const char *key,
                    ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    if (hook_enabled) {
        hook_enabled = 0;
        hook_ship_rc = ecom_order_ship(hook_store, hook_order, ECOM_VERSION_ANY, NULL, NULL, 0,
                                       "warehouse");
    }
    host_refunds++;
    host_refunded += amount;
    approve(out, charge_id, amount);
    return ECOM_OK;
}

static int h_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    (void)out;
    return ECOM_ENOTFOUND;
}

static ecom_payment_provider host_provider = {ECOM_PAYMENT_PROVIDER_VERSION, "after-payment-host",
                                              NULL, h_authorize, h_capture, h_void, h_refund,
                                              h_lookup};

/* ---- fixture ---- */

static int open_with(void **state, const ecom_payment_provider *pp)
{
    char uri[600];
    test_fresh_store_dir(fx.dir, sizeof fx.dir, uri, sizeof uri, "orders_after_payment");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    opts.shipping_fee = 500;
    opts.payments = pp;
    fx.s = NULL;
    assert_int_equal(ecom_store_open(&fx.s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":1000}},"
                       "{\"sku\":\"cup\",\"prices\":{\"USD\":300}},"
                       "{\"sku\":\"tea\",\"prices\":{\"USD\":50}}]}";
    test_create_product(fx.s, json);
    test_receive(fx.s, "mug", 100);
    test_receive(fx.s, "cup", 100);
    test_receive(fx.s, "tea", 100);
    *state = &fx;
    return 0;
}

static int setup(void **state)
{
    return open_with(state, NULL);
}

static int setup_host(void **state)
{
    hook_enabled = 0;
    hook_ship_rc = 1;
    host_refunds = 0;
    host_refunded = 0;
    return open_with(state, &host_provider);
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

/* ---- helpers ---- */

/* Buys 2 mugs and 3 cups as user (paid); copies the order's id into id. */
static void buy(ecom_store *s, const char *user, const char *key, char *id)
{
    char cart[80];
    snprintf(cart, sizeof cart, "user:%s", user);
    assert_int_equal(ecom_cart_add(s, cart, "mug", 2, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(s, cart, "cup", 3, "USD"), ECOM_OK);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, key);
    if (rc != ECOM_OK)
        fail_msg("checkout: %s (%s)", ecom_strerror(rc), ecom_errmsg(s));
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    snprintf(id, ECOM_ID_MAX + 1, "%s", ecom_order_id(o));
    ecom_order_free(o);
}

static ecom_order *get(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    return o;
}

static uint64_t version_of(ecom_store *s, const char *id)
{
    ecom_order *o = get(s, id);
    uint64_t v = ecom_order_version(o);
    ecom_order_free(o);
    return v;
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = get(s, id);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static int64_t on_hand(ecom_store *s, const char *sku)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, sku, NULL), ECOM_OK);
    int64_t n = ecom_stock_on_hand(st);
    ecom_stock_free(st);
    return n;
}

static int64_t shipped_of(const ecom_order *o, const char *sku)
{
    for (size_t i = 0; i < ecom_order_line_count(o); i++)
        if (strcmp(ecom_order_line_sku(o, i), sku) == 0)
            return ecom_order_line_shipped(o, i);
    fail_msg("no line %s", sku);
    return -1;
}

static void to_fulfilling(ecom_store *s, const char *id)
{
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", "picking"), ECOM_OK);
}

static uint64_t last_seq(ecom_store *s)
{
    uint64_t seq = 0;
    assert_int_equal(ecom_events_last_seq(&seq, s), ECOM_OK);
    return seq;
}

/* The newest event: its type is "order.<state>" (or want), its key the order, its
 * version the order's. */
static void assert_last_event(ecom_store *s, const char *id, const char *want)
{
    uint64_t seq = last_seq(s);
    ecom_events *e = NULL;
    assert_int_equal(ecom_events_read(&e, s, seq - 1, 1), ECOM_OK);
    assert_int_equal(ecom_events_count(e), 1);
    assert_string_equal(ecom_events_type(e, 0), want);
    assert_string_equal(ecom_events_key(e, 0), id);
    assert_int_equal(ecom_events_version(e, 0), version_of(s, id));
    ecom_events_free(e);
}

/* After a move to state st: history grew by one entry naming st, who and why, and the
 * newest event is order.<st> at the order's version. */
static void assert_moved(ecom_store *s, const char *id, size_t history_before,
                         ecom_order_state st, const char *who)
{
    ecom_order *o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), st);
    assert_int_equal(ecom_order_history_count(o), history_before + 1);
    assert_int_equal(ecom_order_history_state(o, history_before), st);
    if (who)
        assert_string_equal(ecom_order_history_who(o, history_before), who);
    assert_true(ecom_order_history_time(o, history_before) > 0);
    ecom_order_free(o);
    char type[64];
    snprintf(type, sizeof type, "order.%s", ecom_order_state_name(st));
    assert_last_event(s, id, type);
}

static size_t history_of(ecom_store *s, const char *id)
{
    ecom_order *o = get(s, id);
    size_t n = ecom_order_history_count(o);
    ecom_order_free(o);
    return n;
}

/* ======================================================================== */
/* Shipments                                                                */
/* ======================================================================== */

/* several shipments never add up to more than ordered, and a refused
 * shipment changes nothing (not even the version). */
static void test_orders_after_payment__ship_more_than_ordered_over_shipments(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "amy", "k1", id);
    to_fulfilling(s, id);
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"), ECOM_OK);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"), ECOM_OK);
    uint64_t v = version_of(s, id);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"),
                     ECOM_EQUANTITY);
    /* The same SKU twice in one shipment, together over what is left. */
    const char *cups[] = {"cup", "cup"};
    int64_t two_two[] = {2, 2};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, cups, two_two, 2, "wh"),
                     ECOM_EQUANTITY);
    /* A good line then a bad one: all or nothing. */
    const char *mixed[] = {"cup", "tea"};
    int64_t one_one[] = {1, 1};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mixed, one_one, 2, "wh"),
                     ECOM_EQUANTITY);
    ecom_order *o = get(s, id);
    assert_int_equal(ecom_order_version(o), v);
    assert_int_equal(shipped_of(o, "mug"), 2);
    assert_int_equal(shipped_of(o, "cup"), 0);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PARTIALLY_SHIPPED);
    ecom_order_free(o);
    const char *cup[] = {"cup"};
    int64_t three[] = {3};
    assert_int_equal(ecom_order_ship(s, id, v, cup, three, 1, "wh"), ECOM_OK);
    assert_int_equal(state_of(s, id), ECOM_ORDER_SHIPPED);
    /* Nothing left: shipping all that is left, or anything, is refused. */
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_ESTATE);
    test_assert_clean(s);
}

/* quantity 0 or negative, a SKU not in the order, a malformed SKU, NULL
 * arrays: refused, nothing changes. */
static void test_orders_after_payment__ship_bad_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "bob", "k1", id);
    to_fulfilling(s, id);
    uint64_t v = version_of(s, id);
    const char *mug[] = {"mug"};
    int64_t zero[] = {0}, neg[] = {-1};
    assert_int_equal(ecom_order_ship(s, id, v, mug, zero, 1, "wh"), ECOM_EQUANTITY);
    assert_int_equal(ecom_order_ship(s, id, v, mug, neg, 1, "wh"), ECOM_EQUANTITY);
    const char *tea[] = {"tea"}; /* a SKU of the store, not of the order */
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, v, tea, one, 1, "wh"), ECOM_EQUANTITY);
    const char *bad[] = {"no such sku!"};
    assert_int_equal(ecom_order_ship(s, id, v, bad, one, 1, "wh"), ECOM_EBADID);
    assert_int_equal(ecom_order_ship(s, id, v, NULL, one, 1, "wh"), ECOM_EINVAL);
    assert_int_equal(ecom_order_ship(s, id, v, mug, NULL, 1, "wh"), ECOM_EINVAL);
    assert_int_equal(version_of(s, id), v);
    assert_int_equal(state_of(s, id), ECOM_ORDER_FULFILLING);
}

/* a cancelled or refunded order does not ship; a paid one goes to
 * fulfilling first. */
static void test_orders_after_payment__ship_cancelled_or_refunded(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char a[ECOM_ID_MAX + 1], b[ECOM_ID_MAX + 1];
    buy(s, "cat", "k1", a);
    assert_int_equal(ecom_order_ship(s, a, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_ESTATE);
    to_fulfilling(s, a);
    assert_int_equal(ecom_order_cancel(s, a, ECOM_VERSION_ANY, "cs", "changed mind"), ECOM_OK);
    assert_int_equal(ecom_order_ship(s, a, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_ESTATE);

    buy(s, "cat", "k2", b);
    to_fulfilling(s, b);
    assert_int_equal(ecom_order_ship(s, b, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_OK);
    ecom_order *o = get(s, b);
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, b, ECOM_VERSION_ANY, total, "all", "cs", NULL),
                     ECOM_OK);
    assert_int_equal(state_of(s, b), ECOM_ORDER_REFUNDED);
    assert_int_equal(ecom_order_ship(s, b, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_ESTATE);
    assert_int_equal(ecom_order_transition(s, b, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED, "c",
                                           NULL), ECOM_ESTATE);
    test_assert_clean(s);
}

/* ======================================================================== */
/* The compare-and-set                                                      */
/* ======================================================================== */

/* every move from a stale version is ECOM_ECONFLICT and changes nothing. */
static void test_orders_after_payment__stale_versions_refused(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "dee", "k1", id);
    uint64_t v = version_of(s, id);
    assert_int_equal(ecom_order_transition(s, id, v - 1, ECOM_ORDER_FULFILLING, "x", NULL),
                     ECOM_ECONFLICT);
    assert_int_equal(ecom_order_transition(s, id, 0, ECOM_ORDER_FULFILLING, "x", NULL),
                     ECOM_ECONFLICT);
    assert_int_equal(ecom_order_refund(s, id, v - 1, 100, "r1", "x", NULL), ECOM_ECONFLICT);
    assert_int_equal(ecom_order_cancel(s, id, v - 1, "x", NULL), ECOM_ECONFLICT);
    assert_int_equal(version_of(s, id), v);
    assert_int_equal(state_of(s, id), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_transition(s, id, v, ECOM_ORDER_FULFILLING, "x", NULL), ECOM_OK);
    assert_int_equal(ecom_order_ship(s, id, v, NULL, NULL, 0, "wh"), ECOM_ECONFLICT);
    assert_int_equal(ecom_order_cancel(s, id, v, "x", NULL), ECOM_ECONFLICT);
    assert_int_equal(state_of(s, id), ECOM_ORDER_FULFILLING);
    assert_int_equal(ecom_order_ship(s, id, v + 1, NULL, NULL, 0, "wh"), ECOM_OK);
    assert_int_equal(ecom_order_transition(s, id, v + 1, ECOM_ORDER_DELIVERED, "x", NULL),
                     ECOM_ECONFLICT);
    test_assert_clean(s);
}

/* ======================================================================== */
/* History and events                                                       */
/* ======================================================================== */

/* each transition is in the history (who, when, why) and appended as
 * order.<state> at the order's new version; events stay gapless and in order. */
static void test_orders_after_payment__history_and_event_per_move(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    uint64_t start = last_seq(s);
    buy(s, "eve", "k1", id);
    size_t h = history_of(s, id);
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "picker", "go"), ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_FULFILLING, "picker");
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh1"), ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_PARTIALLY_SHIPPED, "wh1");
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh2"), ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_PARTIALLY_SHIPPED, "wh2");
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, NULL), ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_SHIPPED, "system");
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                           "carrier", "signed"), ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_DELIVERED, "carrier");
    ecom_order *o = get(s, id);
    assert_string_equal(ecom_order_history_why(o, h - 1), "signed");
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "r1", "cs", "dent"),
                     ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_PARTIALLY_REFUNDED, "cs");
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "r2", "cs", "dent"),
                     ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_PARTIALLY_REFUNDED, "cs");
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total - 200, "r3", "cs", NULL),
                     ECOM_OK);
    assert_moved(s, id, h++, ECOM_ORDER_REFUNDED, "cs");

    /* The log: seq 1, 2, 3, ... with no gap, times never going back. */
    ecom_events *e = NULL;
    assert_int_equal(ecom_events_read(&e, s, start, 1000), ECOM_OK);
    assert_true(ecom_events_count(e) > 0);
    for (size_t i = 0; i < ecom_events_count(e); i++) {
        assert_int_equal(ecom_events_seq(e, i), start + 1 + i);
        if (i)
            assert_true(ecom_events_time(e, i) >= ecom_events_time(e, i - 1));
    }
    ecom_events_free(e);
    test_assert_clean(s);
}

/* a cancel of a paid order returns its stock, refunds it in full, and is
 * in the history and the log (order.cancelled). */
static void test_orders_after_payment__cancel_paid_returns_stock(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    int64_t mugs = on_hand(s, "mug"), cups = on_hand(s, "cup");
    buy(s, "fin", "k1", id);
    assert_int_equal(on_hand(s, "mug"), mugs - 2);
    assert_int_equal(on_hand(s, "cup"), cups - 3);
    size_t h = history_of(s, id);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "r1", "cs", NULL), ECOM_OK);
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "no longer wanted"),
                     ECOM_OK);
    assert_moved(s, id, h, ECOM_ORDER_CANCELLED, "cs");
    assert_int_equal(on_hand(s, "mug"), mugs);
    assert_int_equal(on_hand(s, "cup"), cups);
    ecom_order *o = get(s, id);
    assert_int_equal(ecom_order_refunded(o), ecom_order_total(o));
    ecom_order_free(o);
    /* Cancelled twice: refused, stock not returned twice. */
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_ESTATE);
    assert_int_equal(on_hand(s, "mug"), mugs);
    test_assert_clean(s);
}

/* after a shipment an order can no longer be cancelled (no stock returned),
 * and a refund of it all leaves the stock as it is. */
static void test_orders_after_payment__refund_after_partial_shipment_keeps_stock(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "gus", "k1", id);
    to_fulfilling(s, id);
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"), ECOM_OK);
    int64_t mugs = on_hand(s, "mug"), cups = on_hand(s, "cup");
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_ESTATE);
    ecom_order *o = get(s, id);
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total, "all", "cs", NULL),
                     ECOM_OK);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 1, "more", "cs", NULL),
                     ECOM_EPRICE);
    assert_int_equal(on_hand(s, "mug"), mugs);
    assert_int_equal(on_hand(s, "cup"), cups);
    assert_int_equal(test_payments_of(s, id, "refund"), 1);
    test_assert_clean(s);
}

/* An order refunded in full while partially shipped keeps its place: it is still
 * fulfilled, and ends delivered with all its money back (ecom.h, docs/orders.md). */
static void test_orders_after_payment__full_refund_before_shipping_keeps_fulfilment(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "hal", "k1", id);
    to_fulfilling(s, id);
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"), ECOM_OK);
    ecom_order *o = get(s, id);
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total, "all", "cs", NULL),
                     ECOM_OK);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_OK);
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED, "c",
                                           NULL), ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_refunded(o), total);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    assert_int_equal(st, ECOM_ORDER_DELIVERED);
    assert_int_equal(test_payments_of(s, id, "refund"), 1);
    test_assert_clean(s);
}

/* ======================================================================== */
/* Cancel racing a shipment                                                 */
/* ======================================================================== */

/* A cancel of a fulfilling order reserves its refund, pays it through the provider,
 * then cancels. A shipment while the refund is being paid is refused (ECOM_EBUSY):
 * else the buyer would keep the goods and the money. The cancel then completes. */
static void test_orders_after_payment__cancel_refund_races_shipment(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1];
    buy(s, "ivy", "k1", id);
    to_fulfilling(s, id);
    ecom_order *o = get(s, id);
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    hook_store = s;
    snprintf(hook_order, sizeof hook_order, "%s", id);
    hook_enabled = 1;
    int rc = ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "buyer cancelled");
    print_message("cancel: %s (%s); ship during the refund: %s\n", ecom_strerror(rc),
                  ecom_errmsg(s), hook_ship_rc == 1 ? "not tried" : ecom_strerror(hook_ship_rc));
    o = get(s, id);
    ecom_order_state st = ecom_order_get_state(o);
    int64_t refunded = ecom_order_refunded(o);
    ecom_order_free(o);
    print_message("order: %s, refunded %lld of %lld; provider paid out %lld\n",
                  ecom_order_state_name(st), (long long)refunded, (long long)total,
                  (long long)host_refunded);
    assert_int_equal(hook_ship_rc, ECOM_EBUSY);
    assert_int_equal(rc, ECOM_OK);
    assert_int_equal(st, ECOM_ORDER_CANCELLED);
    assert_int_equal(refunded, total);
    assert_int_equal(host_refunded, total);
    o = get(s, id);
    assert_int_equal(shipped_of(o, "mug") + shipped_of(o, "cup"), 0);
    ecom_order_free(o);
    assert_int_equal(on_hand(s, "mug"), 100);
    assert_int_equal(on_hand(s, "cup"), 100);
    /* Once the cancel has ended, the shipment's retry is refused for good. */
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "warehouse"),
                     ECOM_ESTATE);
    test_assert_clean(s);
}

/* ======================================================================== */
/* Listing                                                                  */
/* ======================================================================== */

static size_t collect(ecom_store *s, ecom_order_list_options *lo, char ids[][ECOM_ID_MAX + 1],
                      size_t cap, char *cursor, size_t cursor_size)
{
    ecom_order_page *page = NULL;
    int rc = ecom_order_list(&page, s, lo);
    if (rc != ECOM_OK)
        fail_msg("list: %s (%s)", ecom_strerror(rc), ecom_errmsg(s));
    size_t n = ecom_order_page_count(page);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        snprintf(ids[i], ECOM_ID_MAX + 1, "%s", ecom_order_id(ecom_order_page_order(page, i)));
    const char *next = ecom_order_page_next_cursor(page);
    snprintf(cursor, cursor_size, "%s", next ? next : "");
    ecom_order_page_free(page);
    return n;
}

/* paging through paid orders (and one user's paid orders) while orders
 * of the pages already read and not yet read change state: none that stays paid is
 * skipped, none is seen twice. */
static void test_orders_after_payment__list_by_state_while_states_change(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    enum { N = 7 };
    char ids[N][ECOM_ID_MAX + 1]; /* oldest first */
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        buy(s, i % 2 ? "jo" : "kim", key, ids[i]);
    }
    for (int by_user = 0; by_user < 2; by_user++) {
        ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
        lo.state = by_user ? ECOM_ORDER_FULFILLING : ECOM_ORDER_PAID;
        lo.user = by_user ? "kim" : NULL;
        lo.limit = 2;
        char cursor[512], got[2][ECOM_ID_MAX + 1], seen[N][ECOM_ID_MAX + 1];
        size_t nseen = 0;
        size_t n = collect(s, &lo, got, 2, cursor, sizeof cursor);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
            snprintf(seen[nseen++], ECOM_ID_MAX + 1, "%s", got[i]);
        /* Between pages: one seen and one not yet seen leave the listed state. */
        if (!by_user) {
            to_fulfilling(s, ids[N - 1]); /* the newest: seen */
            to_fulfilling(s, ids[2]);     /* not yet seen */
            to_fulfilling(s, ids[0]);
            to_fulfilling(s, ids[4]);
        } else {
            /* kim: 6, 4, 2, 0 fulfilling; page 1 had 6 and 4 */
            assert_int_equal(ecom_order_ship(s, ids[4], ECOM_VERSION_ANY, NULL, NULL, 0, "w"),
                             ECOM_OK);
            assert_int_equal(ecom_order_ship(s, ids[2], ECOM_VERSION_ANY, NULL, NULL, 0, "w"),
                             ECOM_OK);
        }
        while (cursor[0]) {
            lo.cursor = cursor;
            char next[512];
            n = collect(s, &lo, got, 2, next, sizeof next);
            for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < nseen; j++)
                    if (strcmp(seen[j], got[i]) == 0)
                        fail_msg("order %s listed twice", got[i]);
                assert_true(nseen < N);
                snprintf(seen[nseen++], ECOM_ID_MAX + 1, "%s", got[i]);
            }
            snprintf(cursor, sizeof cursor, "%s", next);
        }
        /* Every order still in the state, and not on the first page, was listed. */
        for (int i = 0; i < N; i++) {
            bool want = by_user ? (i % 2 == 0 && state_of(s, ids[i]) == ECOM_ORDER_FULFILLING)
                                : state_of(s, ids[i]) == ECOM_ORDER_PAID;
            bool found = false;
            for (size_t j = 0; j < nseen; j++)
                found |= strcmp(seen[j], ids[i]) == 0;
            if (want && !found)
                fail_msg("order %s (still listed state) skipped", ids[i]);
        }
    }
}

/* cursors malformed, or of another listing (another kind, user or state),
 * are ECOM_EINVAL, never a silently wrong page. */
static void test_orders_after_payment__list_bad_cursors(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char a[ECOM_ID_MAX + 1];
    buy(s, "lee", "k1", a);
    buy(s, "lee", "k2", a);
    buy(s, "mo", "k3", a);
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.user = "lee";
    lo.limit = 1;
    char cursor[512], got[1][ECOM_ID_MAX + 1];
    assert_int_equal(collect(s, &lo, got, 1, cursor, sizeof cursor), 1);
    assert_true(cursor[0] == 'u');
    ecom_order_page *page = NULL;
    lo.cursor = cursor;
    lo.user = "mo"; /* another user's cursor */
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);
    assert_null(page);
    lo.user = "le"; /* a prefix of the user */
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);
    lo.user = NULL; /* another kind */
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);

    lo = (ecom_order_list_options)ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.state = ECOM_ORDER_PAID;
    lo.limit = 1;
    assert_int_equal(collect(s, &lo, got, 1, cursor, sizeof cursor), 1);
    lo.cursor = cursor;
    lo.state = ECOM_ORDER_SHIPPED; /* same kind, another state */
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);

    const char *junk[] = {"", "a", "a0", "A00", "aZZ", "a0g", "x0000", "u00", "zz"};
    lo = (ecom_order_list_options)ECOM_ORDER_LIST_OPTIONS_INIT;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        lo.cursor = junk[i];
        int rc = ecom_order_list(&page, s, &lo);
        if (rc != ECOM_EINVAL)
            fail_msg("cursor \"%s\": %s, not ECOM_EINVAL", junk[i], ecom_strerror(rc));
        assert_null(page);
    }
    /* A very long cursor. */
    static char longc[4096];
    longc[0] = 'a';
    memset(longc + 1, '0', sizeof longc - 2);
    longc[sizeof longc - 1] = '\0';
    if (strlen(longc) % 2 == 0)
        longc[strlen(longc) - 1] = '\0';
    lo.cursor = longc;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);
}

/* ======================================================================== */
/* Consumers                                                                */
/* ======================================================================== */

/* Consumer names are ids: 1..64 bytes of [A-Za-z0-9._-], starting with a letter or
 * digit (ecom.h). */
static void test_orders_after_payment__consumer_name_charset(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    uint64_t pos = 9;
    char name64[65];
    memset(name64, 'n', 64);
    name64[64] = '\0';
    assert_int_equal(ecom_consumer_position(&pos, s, name64), ECOM_OK);
    char name65[66];
    memset(name65, 'n', 65);
    name65[65] = '\0';
    assert_int_equal(ecom_consumer_position(&pos, s, name65), ECOM_ETOOLONG);
    assert_int_equal(ecom_consumer_position(&pos, s, "a b"), ECOM_EBADID);
    assert_int_equal(ecom_consumer_position(&pos, s, "mailer.v2_x-y"), ECOM_OK);
    const char *names[] = {"_mailer", ".hidden", "-dash"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ecom_consumer_position(&pos, s, names[i]), ECOM_EBADID);
}

/* acknowledging past the log's end is refused; backwards is a no-op;
 * 0 on a new consumer is fine; max 0 is ECOM_EINVAL; two consumers keep apart. */
static void test_orders_after_payment__consumer_ack_bounds(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    uint64_t last = last_seq(s), pos = 0;
    assert_true(last > 0);
    assert_int_equal(ecom_consumer_ack(s, "c1", 0), ECOM_OK);
    assert_int_equal(ecom_consumer_ack(s, "c1", last + 1), ECOM_EINVAL);
    assert_int_equal(ecom_consumer_ack(s, "c1", UINT64_MAX), ECOM_EINVAL);
    assert_int_equal(ecom_consumer_position(&pos, s, "c1"), ECOM_OK);
    assert_int_equal(pos, 0);
    assert_int_equal(ecom_consumer_ack(s, "c1", last), ECOM_OK);
    assert_int_equal(ecom_consumer_ack(s, "c1", 1), ECOM_OK);
    assert_int_equal(ecom_consumer_position(&pos, s, "c1"), ECOM_OK);
    assert_int_equal(pos, last);
    ecom_events *e = NULL;
    assert_int_equal(ecom_consumer_read(&e, s, "c1", 10), ECOM_OK);
    assert_int_equal(ecom_events_count(e), 0);
    ecom_events_free(e);
    e = NULL;
    assert_int_equal(ecom_consumer_read(&e, s, "c1", 0), ECOM_EINVAL);
    assert_null(e);
    /* c2 is apart from c1; it reads from the start, in seq order. */
    assert_int_equal(ecom_consumer_read(&e, s, "c2", 3), ECOM_OK);
    assert_int_equal(ecom_events_count(e), last < 3 ? last : 3);
    for (size_t i = 0; i < ecom_events_count(e); i++)
        assert_int_equal(ecom_events_seq(e, i), i + 1);
    ecom_events_free(e);
    /* Events after the ack are read; the ack of one is read no more. */
    char id[ECOM_ID_MAX + 1];
    buy(s, "ned", "k1", id);
    assert_int_equal(ecom_consumer_read(&e, s, "c1", 100), ECOM_OK);
    size_t n = ecom_events_count(e);
    assert_true(n > 0);
    assert_int_equal(ecom_events_seq(e, 0), last + 1);
    uint64_t first = ecom_events_seq(e, 0);
    ecom_events_free(e);
    assert_int_equal(ecom_consumer_ack(s, "c1", first), ECOM_OK);
    assert_int_equal(ecom_consumer_read(&e, s, "c1", 100), ECOM_OK);
    assert_int_equal(ecom_events_count(e), n - 1);
    ecom_events_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orders_after_payment__ship_more_than_ordered_over_shipments,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__ship_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__ship_cancelled_or_refunded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__stale_versions_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__history_and_event_per_move, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__cancel_paid_returns_stock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__refund_after_partial_shipment_keeps_stock,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_orders_after_payment__full_refund_before_shipping_keeps_fulfilment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__cancel_refund_races_shipment, setup_host,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__list_by_state_while_states_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__list_bad_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__consumer_name_charset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orders_after_payment__consumer_ack_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
