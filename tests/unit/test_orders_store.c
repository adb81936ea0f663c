/*
 * Orders in an LMDB store, after a checkout: transitions, shipments, cancels (stock
 * back, money back), refunds (idempotent on their keys), listing, event consumers,
 * the test payment provider, and a clean ecom_check after each story.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "orders.h"
#include "support/support.h"

/* Atomic: the race tests call the store (and so the clock) from several threads. */
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

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "orders");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    opts.shipping_fee = 500;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":1000}},"
                       "{\"sku\":\"cup\",\"prices\":{\"USD\":300}}]}";
    test_create_product(f.s, json);
    test_receive(f.s, "mug", 100);
    test_receive(f.s, "cup", 100);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

/* Buys 2 mugs and 3 cups as user; returns the order (paid with tok_approve). */
static ecom_order *buy(ecom_store *s, const char *user, const char *token, const char *key,
                       int expect)
{
    char cart[80];
    snprintf(cart, sizeof cart, "user:%s", user);
    assert_int_equal(ecom_cart_add(s, cart, "mug", 2, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(s, cart, "cup", 3, "USD"), ECOM_OK);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = token;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, key);
    if (rc != expect)
        fail_msg("checkout: %s (%s)", ecom_strerror(rc), ecom_errmsg(s));
    assert_non_null(o);
    return o;
}

static int64_t on_hand(ecom_store *s, const char *sku)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, sku, NULL), ECOM_OK);
    int64_t n = ecom_stock_on_hand(st);
    ecom_stock_free(st);
    return n;
}

static ecom_order *get(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    return o;
}

/* What the provider refunded on an order, by its ledger. */
static int64_t ledger_refunded(ecom_store *s, const char *id)
{
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, id), ECOM_OK);
    int64_t sum = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        if (strcmp(ecom_payments_kind(p, i), "refund") == 0 && ecom_payments_approved(p, i))
            sum += ecom_payments_amount(p, i);
    ecom_payments_free(p);
    return sum;
}

static void test_orders_store__lifecycle(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    ecom_order *o = buy(s, "alice", "tok_approve", "k-life", ECOM_OK);
    char id[ECOM_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_total(o), 2 * 1000 + 3 * 300 + 500);
    uint64_t v = ecom_order_version(o);
    ecom_order_free(o);

    /* Paid orders go to fulfilling before they ship. */
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_ship(s, id, v, mug, one, 1, "wh"), ECOM_ESTATE);
    assert_non_null(strstr(ecom_errmsg(s), id));
    assert_int_equal(ecom_order_transition(s, id, v, ECOM_ORDER_SHIPPED, "x", NULL), ECOM_ESTATE);
    assert_int_equal(ecom_order_transition(s, id, v, ECOM_ORDER_DELIVERED, "x", NULL),
                     ECOM_ESTATE);
    assert_int_equal(ecom_order_transition(s, id, v + 5, ECOM_ORDER_FULFILLING, "x", NULL),
                     ECOM_ECONFLICT);
    assert_int_equal(ecom_order_transition(s, id, v, ECOM_ORDER_FULFILLING, "ops", "picking"),
                     ECOM_OK);
    assert_int_equal(ecom_order_transition(s, id, v, ECOM_ORDER_FULFILLING, "ops", NULL),
                     ECOM_ECONFLICT);

    /* Ship one mug, then refuse what is not there, then the rest. */
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, NULL), ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PARTIALLY_SHIPPED);
    assert_int_equal(ecom_order_line_shipped(o, 1), 1); /* lines in SKU order: cup, mug */
    assert_string_equal(ecom_order_history_who(o, 3), "system");
    ecom_order_free(o);
    const char *tea[] = {"tea"};
    int64_t two[] = {2};
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, tea, one, 1, "wh"),
                     ECOM_EQUANTITY);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, two, 1, "wh"),
                     ECOM_EQUANTITY);
    assert_non_null(strstr(ecom_errmsg(s), "1 left"));
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_OK);
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "x", NULL), ECOM_ESTATE);
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                           "carrier", NULL), ECOM_OK);

    /* Refunds: bounded, idempotent on their keys. */
    o = get(s, id);
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 0, "r1", NULL, NULL),
                     ECOM_EPRICE);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total + 1, "r1", NULL, NULL),
                     ECOM_EPRICE);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 400, "", NULL, NULL),
                     ECOM_EFIELD);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 400, "r1", "cs", "broken"),
                     ECOM_OK);
    o = get(s, id);
    uint64_t after_r1 = ecom_order_version(o);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PARTIALLY_REFUNDED);
    assert_int_equal(ecom_order_refunded(o), 400);
    ecom_order_free(o);
    /* The same refund again, even from the version before it: done, not counted twice. */
    assert_int_equal(ecom_order_refund(s, id, after_r1 - 1, 400, "r1", "cs", "broken"), ECOM_OK);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", NULL),
                     ECOM_EIDEMPOTENCY);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total - 399, "r2", NULL, NULL),
                     ECOM_EPRICE);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total - 400, "r2", NULL, NULL),
                     ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_REFUNDED);
    assert_int_equal(ecom_order_refunded(o), total);
    assert_int_equal(ecom_order_version(o), after_r1 + 2); /* reserved, then confirmed */
    char *json = NULL;
    assert_int_equal(ecom_order_to_json(&json, o), ECOM_OK);
    assert_non_null(strstr(json, "\"state\":\"refunded\""));
    ecom_free(json);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 1, "r3", NULL, NULL),
                     ECOM_ESTATE);

    /* The ledger: one charge, its capture, two refunds (the charge's index is not listed). */
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, id), ECOM_OK);
    int charges = 0, refunds = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++) {
        charges += strcmp(ecom_payments_kind(p, i), "charge") == 0;
        refunds += strcmp(ecom_payments_kind(p, i), "refund") == 0;
        assert_true(ecom_payments_approved(p, i));
    }
    assert_int_equal(charges, 1);
    assert_int_equal(refunds, 2);
    assert_null(ecom_payments_kind(p, 99));
    ecom_payments_free(p);
    test_assert_clean(s);
}

static void test_orders_store__cancel(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    int64_t mugs = on_hand(s, "mug");
    ecom_order *o = buy(s, "bob", "tok_approve", "k-cancel", ECOM_OK);
    char id[ECOM_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    ecom_order_free(o);
    assert_int_equal(on_hand(s, "mug"), mugs - 2); /* sold */
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", NULL), ECOM_OK);
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "customer asked"),
                     ECOM_OK);
    assert_int_equal(on_hand(s, "mug"), mugs); /* returned */
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    assert_int_equal(ecom_order_refunded(o), ecom_order_total(o));
    assert_string_equal(ecom_order_reason(o), "customer asked");
    ecom_order_free(o);
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_ESTATE);
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, id), ECOM_OK);
    assert_string_equal(ecom_payments_kind(p, ecom_payments_count(p) - 1), "refund");
    ecom_payments_free(p);

    /* A checkout whose answer was lost leaves an order pending payment, charged: its
     * cancel releases the stock and voids the charge. */
    int64_t reserved_before = 0;
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, "mug", NULL), ECOM_OK);
    reserved_before = ecom_stock_reserved(st);
    ecom_stock_free(st);
    o = buy(s, "gus", "tok_timeout", "k-timeout", ECOM_ETIMEOUT);
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PENDING_PAYMENT);
    ecom_order_free(o);
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, NULL, NULL), ECOM_OK);
    assert_int_equal(ecom_stock_get(&st, s, "mug", NULL), ECOM_OK);
    assert_int_equal(ecom_stock_reserved(st), reserved_before);
    ecom_stock_free(st);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    assert_string_equal(ecom_order_reason(o), "cancelled");
    ecom_order_free(o);
    assert_int_equal(ecom_payments_list(&p, s, id), ECOM_OK);
    assert_string_equal(ecom_payments_kind(p, ecom_payments_count(p) - 1), "void");
    ecom_payments_free(p);

    /* A declined checkout leaves a cancelled order: nothing more to cancel. */
    o = buy(s, "carol", "tok_decline", "k-decline", ECOM_EDECLINED);
    assert_int_equal(ecom_order_cancel(s, ecom_order_id(o), ECOM_VERSION_ANY, NULL, NULL),
                     ECOM_ESTATE);
    ecom_order_free(o);
    assert_int_equal(ecom_order_get(&o, s, "no-such-order"), ECOM_ENOTFOUND);
    assert_non_null(strstr(ecom_errmsg(s), "no-such-order"));
    assert_int_equal(ecom_order_get(&o, s, "bad id!"), ECOM_EBADID);
    test_assert_clean(s);
}

/* A refund before shipment records the money and keeps the order's place: it still
 * goes to fulfilling, ships, or is cancelled (its stock back, the rest refunded). Only
 * a shipped or delivered order moves to (partially) refunded. */
static void test_orders_store__refund_before_shipping(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    int64_t mugs = on_hand(s, "mug");
    ecom_order *o = buy(s, "dora", "tok_approve", "k-early", ECOM_OK);
    char id[ECOM_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "early1", "cs", NULL),
                     ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    assert_int_equal(ecom_order_refunded(o), 300);
    ecom_order_free(o);
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", NULL), ECOM_OK);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 200, "early2", "cs", NULL),
                     ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_FULFILLING);
    assert_int_equal(ecom_order_refunded(o), 500);
    ecom_order_free(o);
    test_assert_clean(s);
    /* The cancel returns the stock and refunds what is left: all of it, in three parts. */
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_OK);
    assert_int_equal(on_hand(s, "mug"), mugs);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    assert_int_equal(ecom_order_refunded(o), total);
    ecom_order_free(o);
    assert_int_equal(ledger_refunded(s, id), total);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 1, "late", NULL, NULL),
                     ECOM_ESTATE);

    /* Refunded while partly shipped and while in transit: still ships the rest and is
     * delivered, then is refunded in full. */
    o = buy(s, "dora", "tok_approve", "k-early-2", ECOM_OK);
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    total = ecom_order_total(o);
    ecom_order_free(o);
    const char *mug[] = {"mug"};
    int64_t one[] = {1};
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", NULL), ECOM_OK);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, mug, one, 1, "wh"), ECOM_OK);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "dent", "cs", NULL),
                     ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PARTIALLY_SHIPPED);
    ecom_order_free(o);
    assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "wh"), ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_SHIPPED);
    assert_int_equal(ecom_order_refunded(o), 100);
    ecom_order_free(o);
    /* Part of it back while in transit: still shipped, and it is delivered. */
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 50, "transit", "cs", NULL),
                     ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_SHIPPED);
    ecom_order_free(o);
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED,
                                           "carrier", NULL), ECOM_OK);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total - 150, "rest", "cs",
                                       NULL), ECOM_OK);
    o = get(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_REFUNDED);
    ecom_order_free(o);
    assert_int_equal(ledger_refunded(s, id), total);
    test_assert_clean(s);
}

static void test_orders_store__list(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char ids[3][ECOM_ID_MAX + 1];
    const char *users[] = {"dan", "erin", "dan"};
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k-list-%d", i);
        ecom_order *o = buy(s, users[i], "tok_approve", key, ECOM_OK);
        snprintf(ids[i], sizeof ids[i], "%s", ecom_order_id(o));
        ecom_order_free(o);
    }
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.user = "dan";
    lo.limit = 1;
    ecom_order_page *page = NULL;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_OK);
    assert_int_equal(ecom_order_page_count(page), 1);
    assert_string_equal(ecom_order_id(ecom_order_page_order(page, 0)), ids[2]); /* newest */
    assert_non_null(ecom_order_page_next_cursor(page));
    char cursor[512];
    snprintf(cursor, sizeof cursor, "%s", ecom_order_page_next_cursor(page));
    ecom_order_page_free(page);
    lo.cursor = cursor;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_OK);
    assert_int_equal(ecom_order_page_count(page), 1);
    assert_string_equal(ecom_order_id(ecom_order_page_order(page, 0)), ids[0]);
    assert_null(ecom_order_page_next_cursor(page));
    ecom_order_page_free(page);
    /* A cursor of another listing is refused. */
    lo.user = NULL;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);
    lo.cursor = NULL;
    lo.state = ECOM_ORDER_PAID;
    lo.limit = 0;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_OK);
    assert_true(ecom_order_page_count(page) >= 3);
    for (size_t i = 0; i < ecom_order_page_count(page); i++)
        assert_int_equal(ecom_order_get_state(ecom_order_page_order(page, i)), ECOM_ORDER_PAID);
    ecom_order_page_free(page);
    lo.state = 42;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_ESTATE);
    lo.state = -1;
    lo.limit = 1001;
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EINVAL);
    assert_null(ecom_order_page_order(NULL, 0));
    assert_int_equal(ecom_order_page_count(NULL), 0);
}

/* Lists one page with lo; copies its order ids into ids (at most cap) and its next
 * cursor into cursor ("" on the last page). */
static size_t list_page(ecom_store *s, const ecom_order_list_options *lo,
                        char ids[][ECOM_ID_MAX + 1], size_t cap, char *cursor,
                        size_t cursor_size)
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

/* ecom_order_list with lo is refused with ECOM_EINVAL and no page. */
static void assert_list_refused(ecom_store *s, const ecom_order_list_options *lo,
                                const char *what)
{
    ecom_order_page *page = (ecom_order_page *)&page; /* not NULL: the call must clear it */
    int rc = ecom_order_list(&page, s, lo);
    size_t n = rc == ECOM_OK ? ecom_order_page_count(page) : 0;
    if (rc == ECOM_OK)
        ecom_order_page_free(page);
    if (rc != ECOM_EINVAL)
        fail_msg("%s: %s with %zu orders, not ECOM_EINVAL", what, ecom_strerror(rc), n);
    assert_null(page);
}

/* A cursor of a listing by user and state resumes only that listing: with another
 * state, or no state, it is ECOM_EINVAL (as a state-only cursor with another state
 * is), never a page that silently starts at its position in the user's orders; a
 * cursor of the user without a state is refused with a state. The right listing pages
 * on with it, also while orders leave the state between pages. */
static void test_orders_store__list_user_state_cursor(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    enum { N = 4 };
    char ids[N][ECOM_ID_MAX + 1]; /* oldest first */
    for (int i = 0; i < N; i++) {
        char key[24];
        snprintf(key, sizeof key, "k-pat-%d", i);
        ecom_order *o = buy(s, "pat", "tok_approve", key, ECOM_OK);
        snprintf(ids[i], sizeof ids[i], "%s", ecom_order_id(o));
        ecom_order_free(o);
    }
    /* The newest fulfilling; 2, 1, 0 paid. */
    assert_int_equal(ecom_order_transition(s, ids[3], ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", NULL), ECOM_OK);
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.user = "pat";
    lo.state = ECOM_ORDER_PAID;
    lo.limit = 1;
    char cursor[512], got[2][ECOM_ID_MAX + 1];
    assert_int_equal(list_page(s, &lo, got, 1, cursor, sizeof cursor), 1);
    assert_string_equal(got[0], ids[2]);
    assert_true(cursor[0] != '\0');

    /* (pat, paid)'s cursor with another state would skip the fulfilling order 3. */
    lo.cursor = cursor;
    lo.state = ECOM_ORDER_FULFILLING;
    assert_list_refused(s, &lo, "a (user, paid) cursor used for (user, fulfilling)");
    lo.state = ECOM_ORDER_SHIPPED;
    assert_list_refused(s, &lo, "a (user, paid) cursor used for (user, shipped)");
    lo.state = -1;
    assert_list_refused(s, &lo, "a (user, paid) cursor used for (user, any state)");
    lo.state = ECOM_ORDER_PAID;
    lo.user = "fay"; /* another user, same state */
    assert_list_refused(s, &lo, "a (pat, paid) cursor used for (fay, paid)");
    lo.user = NULL; /* the state alone */
    assert_list_refused(s, &lo, "a (user, paid) cursor used for (paid)");

    /* The same position in the form handed out before cursors carried their state (the
     * key alone, under the letter 'b') is refused too, not trusted to be of this state
     * (src/order_list.c). */
    char old[512];
    assert_true(strlen(cursor) > 3);
    snprintf(old, sizeof old, "b%s", cursor + 3);
    lo.user = "pat";
    lo.cursor = old;
    assert_list_refused(s, &lo, "a (user, state) cursor without its state");

    /* (pat, any state)'s cursor with a state. */
    lo.state = -1;
    lo.cursor = NULL;
    char any_cursor[512];
    assert_int_equal(list_page(s, &lo, got, 1, any_cursor, sizeof any_cursor), 1);
    assert_string_equal(got[0], ids[3]);
    lo.cursor = any_cursor;
    lo.state = ECOM_ORDER_PAID;
    assert_list_refused(s, &lo, "a (user) cursor used for (user, paid)");

    /* The listing it came from pages on: order 1 left paid between the pages, 0 did
     * not. */
    assert_int_equal(ecom_order_transition(s, ids[1], ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "ops", NULL), ECOM_OK);
    lo.cursor = cursor;
    lo.limit = 2;
    char next[512];
    assert_int_equal(list_page(s, &lo, got, 2, next, sizeof next), 1);
    assert_string_equal(got[0], ids[0]);
    assert_string_equal(next, "");
    /* And (pat, fulfilling) from its own first page: 3 then 1. */
    lo.state = ECOM_ORDER_FULFILLING;
    lo.cursor = NULL;
    lo.limit = 1;
    assert_int_equal(list_page(s, &lo, got, 1, cursor, sizeof cursor), 1);
    assert_string_equal(got[0], ids[3]);
    lo.cursor = cursor;
    lo.limit = 2;
    assert_int_equal(list_page(s, &lo, got, 2, next, sizeof next), 1);
    assert_string_equal(got[0], ids[1]);
    assert_string_equal(next, "");
    test_assert_clean(s);
}

/* The user filter is an id, as checkout takes it: 1..64 bytes of [A-Za-z0-9._-],
 * starting with a letter or digit. Longer or malformed users are refused with the id
 * errors, the same on either side of the storage layer's 255 bytes, not listed as
 * nothing (255) or refused by the storage layer (256). */
static void test_orders_store__list_user_is_an_id(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    static char user[300];
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.user = user;
    ecom_order_page *page = NULL;
    /* 64 bytes: an id no order has, an empty page. */
    memset(user, 'u', 64);
    user[64] = '\0';
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_OK);
    assert_int_equal(ecom_order_page_count(page), 0);
    assert_null(ecom_order_page_next_cursor(page));
    ecom_order_page_free(page);
    const size_t lens[] = {65, 254, 255, 256, 257, 299};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memset(user, 'u', lens[i]);
        user[lens[i]] = '\0';
        page = NULL;
        int rc = ecom_order_list(&page, s, &lo);
        if (rc == ECOM_OK)
            ecom_order_page_free(page);
        if (rc != ECOM_ETOOLONG)
            fail_msg("user of %zu bytes: %s (%s), not ECOM_ETOOLONG", lens[i],
                     ecom_strerror(rc), ecom_errmsg(s));
        assert_null(page);
        assert_non_null(strstr(ecom_errmsg(s), "user"));
    }
    const struct {
        const char *user;
        int rc;
    } cases[] = {{"", ECOM_EFIELD},        {"a b", ECOM_EBADID}, {"_pat", ECOM_EBADID},
                 {".pat", ECOM_EBADID},    {"pat/x", ECOM_EBADID}, {"p\xc3\xa1t", ECOM_EBADID},
                 {"pat.x_y-z", ECOM_OK}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lo.user = cases[i].user;
        page = NULL;
        int rc = ecom_order_list(&page, s, &lo);
        ecom_order_page_free(page);
        if (rc != cases[i].rc)
            fail_msg("user \"%s\": %s (%s), not %s", cases[i].user, ecom_strerror(rc),
                     ecom_errmsg(s), ecom_strerror(cases[i].rc));
        if (rc != ECOM_OK)
            assert_non_null(strstr(ecom_errmsg(s), "user"));
    }
    /* With a state and a cursor too: the user is checked all the same. */
    lo.user = "a b";
    lo.state = ECOM_ORDER_PAID;
    lo.cursor = "c00";
    assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_EBADID);
}

static void test_orders_store__consumers(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    uint64_t pos = 7;
    assert_int_equal(ecom_consumer_position(&pos, s, "worker"), ECOM_OK);
    assert_int_equal(pos, 0);
    ecom_order *o = buy(s, "fay", "tok_approve", "k-consume", ECOM_OK);
    ecom_order_free(o);
    ecom_events *e = NULL;
    assert_int_equal(ecom_consumer_read(&e, s, "worker", 1000), ECOM_OK);
    size_t n = ecom_events_count(e);
    assert_true(n > 0);
    bool created = false, paid = false;
    for (size_t i = 0; i < n; i++) {
        created |= strcmp(ecom_events_type(e, i), "order.created") == 0;
        paid |= strcmp(ecom_events_type(e, i), "order.paid") == 0;
    }
    assert_true(created && paid);
    uint64_t last = ecom_events_seq(e, n - 1);
    ecom_events_free(e);
    /* Unacknowledged: read again. */
    assert_int_equal(ecom_consumer_read(&e, s, "worker", 1000), ECOM_OK);
    assert_int_equal(ecom_events_count(e), n);
    ecom_events_free(e);
    assert_int_equal(ecom_consumer_ack(s, "worker", last - 1), ECOM_OK);
    assert_int_equal(ecom_consumer_ack(s, "worker", last - 2), ECOM_OK); /* no-op */
    assert_int_equal(ecom_consumer_position(&pos, s, "worker"), ECOM_OK);
    assert_int_equal(pos, last - 1);
    assert_int_equal(ecom_consumer_read(&e, s, "worker", 1000), ECOM_OK);
    assert_int_equal(ecom_events_count(e), 1);
    ecom_events_free(e);
    assert_int_equal(ecom_consumer_ack(s, "worker", last + 1), ECOM_EINVAL);
    assert_int_equal(ecom_consumer_ack(s, "bad name", 1), ECOM_EBADID);
    assert_int_equal(ecom_consumer_read(&e, s, "", 10), ECOM_EFIELD);
    assert_int_equal(ecom_consumer_read(&e, s, "worker", 0), ECOM_EINVAL);
}

static void test_orders_store__provider(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const ecom_payment_provider *pp = ecom__payments(s);
    assert_string_equal(pp->name, "test");
    ecom_payment_result r;
    ecom_payment_request req = {"o-x", "tok_timeout", 700, "USD", "auth-x", 0};
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_ETIMEOUT);
    assert_int_equal(pp->lookup(pp->ctx, "auth-x", &r), ECOM_OK);
    assert_true(r.approved);
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_OK);
    assert_true(r.approved);
    assert_int_equal(r.amount, 700);
    assert_string_equal(r.charge_id, "ch_auth-x"); /* derived from the key: retries agree */
    char charge[72];
    snprintf(charge, sizeof charge, "%s", r.charge_id);
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, "o-x"), ECOM_OK);
    assert_int_equal(ecom_payments_count(p), 1); /* charged once */
    assert_string_equal(ecom_payments_charge_id(p, 0), charge);
    ecom_payments_free(p);

    req.order_id = "o-y";
    req.idempotency_key = "auth-y";
    req.token = "tok_decline";
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_OK);
    assert_false(r.approved);
    assert_string_equal(r.reason, "card_declined");
    req.token = "tok_approve"; /* the same key: the first outcome */
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_OK);
    assert_false(r.approved);
    assert_int_equal(pp->refund(pp->ctx, r.charge_id, 1, "rf-y", &r), ECOM_EPAYMENT);
    req.idempotency_key = "auth-z";
    req.token = "nonsense";
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_OK);
    assert_string_equal(r.reason, "invalid_token");
    req.idempotency_key = "auth-e";
    req.token = "tok_error";
    assert_int_equal(pp->authorize(pp->ctx, &req, &r), ECOM_EPAYMENT);
    assert_int_equal(pp->lookup(pp->ctx, "auth-e", &r), ECOM_ENOTFOUND);

    assert_int_equal(pp->refund(pp->ctx, charge, 200, "rf-1", &r), ECOM_OK);
    assert_true(r.approved);
    assert_int_equal(pp->refund(pp->ctx, charge, 200, "rf-1", &r), ECOM_OK); /* once */
    assert_int_equal(pp->void_charge(pp->ctx, charge, "void-1", &r), ECOM_OK);
    assert_int_equal(r.amount, 700);
    assert_int_equal(pp->capture(pp->ctx, "ch_unknown", 1, "cap-1", &r), ECOM_EPAYMENT);
    assert_int_equal(ecom_payments_list(&p, s, "o-x"), ECOM_OK);
    assert_int_equal(ecom_payments_count(p), 3); /* charge, refund, void */
    assert_string_equal(ecom_payments_kind(p, 1), "refund");
    assert_int_equal(ecom_payments_amount(p, 1), 200);
    ecom_payments_free(p);
}

typedef struct racer {
    ecom_store *s;
    const char *id;
    int64_t amount; /* 0: cancel instead */
    char key[16];
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    r->rc = r->amount ? ecom_order_refund(r->s, r->id, ECOM_VERSION_ANY, r->amount, r->key,
                                          "cs", NULL)
                      : ecom_order_cancel(r->s, r->id, ECOM_VERSION_ANY, "cs", NULL);
    return NULL;
}

/* Refunds (and a cancel) at once on one order: whatever wins, the provider never pays
 * out more than was paid, and the order records exactly what it paid out. The refund
 * is reserved on the order before the provider is asked. */
static void test_orders_store__refund_race(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    for (int round = 0; round < 12; round++) {
        char key[32], id[ECOM_ID_MAX + 1];
        snprintf(key, sizeof key, "k-race-%d", round);
        ecom_order *o = buy(s, "racer", "tok_approve", key, ECOM_OK);
        snprintf(id, sizeof id, "%s", ecom_order_id(o));
        int64_t total = ecom_order_total(o);
        ecom_order_free(o);
        racer r[3] = {{s, id, total, "a", 0}, {s, id, total - 1, "b", 0},
                      {s, id, round % 2 ? 0 : 1, "c", 0}};
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
        int ok = 0;
        for (int i = 0; i < 3; i++) {
            pthread_join(t[i], NULL);
            ok += r[i].rc == ECOM_OK;
            if (r[i].rc != ECOM_OK && r[i].rc != ECOM_EPRICE && r[i].rc != ECOM_ESTATE &&
                r[i].rc != ECOM_ECONFLICT)
                fail_msg("racer %s: %s", r[i].key, ecom_strerror(r[i].rc));
        }
        assert_true(ok >= 1);
        o = get(s, id);
        assert_true(ecom_order_refunded(o) <= total);
        assert_int_equal(ledger_refunded(s, id), ecom_order_refunded(o));
        ecom_order_free(o);
    }
    test_assert_clean(s);

    /* One refund key on two orders: two refunds at the provider, not one answered twice. */
    char ids[2][ECOM_ID_MAX + 1];
    for (int i = 0; i < 2; i++) {
        char key[32];
        snprintf(key, sizeof key, "k-twin-%d", i);
        ecom_order *o = buy(s, "twin", "tok_approve", key, ECOM_OK);
        snprintf(ids[i], sizeof ids[i], "%s", ecom_order_id(o));
        ecom_order_free(o);
        assert_int_equal(ecom_order_refund(s, ids[i], ECOM_VERSION_ANY, 500, "rf1", NULL, NULL),
                         ECOM_OK);
        assert_int_equal(ledger_refunded(s, ids[i]), 500);
    }
    test_assert_clean(s);
}

/* ---- ecom_check: the test provider's ledger against the orders ---- */

typedef struct seen {
    int n;
    char all[2048];
} seen;

static void collect(void *ctx, const char *message)
{
    seen *v = ctx;
    v->n++;
    size_t used = strlen(v->all);
    snprintf(v->all + used, sizeof v->all - used, "%s\n", message);
}

/* The check reports exactly one violation, and it says text. */
static void assert_only_violation(ecom_store *s, const char *text)
{
    seen v = {0, ""};
    uint64_t n = 0;
    assert_int_equal(ecom_check(&n, s, collect, &v), ECOM_OK);
    if (n != 1 || strstr(v.all, text) == NULL)
        fail_msg("the check was to say only \"%s\"; it said:\n%s", text, v.all);
}

/* A paid order's id and charge id, bought as user. */
static int64_t buy_paid(ecom_store *s, const char *user, const char *key,
                        char id[ECOM_ID_MAX + 1], char charge[72])
{
    ecom_order *o = buy(s, user, "tok_approve", key, ECOM_OK);
    snprintf(id, ECOM_ID_MAX + 1, "%s", ecom_order_id(o));
    snprintf(charge, 72, "%s", ecom_order_charge_id(o));
    int64_t total = ecom_order_total(o);
    ecom_order_free(o);
    return total;
}

/* A refund the provider paid that the order does not record is reported, with what the
 * ledger paid and what the order allows; the order's own retry of it settles it. */
static void test_orders_store__check_ledger_refunds(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1], charge[72], key[128], want[256];
    buy_paid(s, "hal", "k-check-refunds", id, charge);
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 300, "r1", "cs", NULL),
                     ECOM_OK);
    test_assert_clean(s);

    snprintf(key, sizeof key, "refund-%s:unknown", id);
    ecom_payment_op op = {.rec = {key, id, charge, "refund", 200, 1, "", 0}};
    assert_int_equal(s->be->payment_apply(s->be, &op, 1, ecom_store_now(s)), ECOM_OK);
    assert_int_equal(op.result, ECOM_OK);
    snprintf(want, sizeof want, "order '%s': the test provider refunded 500, outside "
             "300..300 (the order's 300 refunded, plus 0 pending)", id);
    assert_only_violation(s, want);

    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 200, "unknown", "cs", NULL),
                     ECOM_OK);
    assert_int_equal(ledger_refunded(s, id), 500); /* the same refund, not a second */
    test_assert_clean(s);
}

/* An order cancelled with its charge neither voided nor refunded is reported; voided,
 * it is clean. */
static void test_orders_store__check_cancelled_charge(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1], charge[72], want[256];
    int64_t total = buy_paid(s, "ida", "k-check-cancelled", id, charge);
    test_assert_clean(s);

    ecom_order *o = NULL;
    assert_int_equal(ecom__order_read(&o, s, id), ECOM_OK);
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_CANCELLED, ecom_store_now(s), "test",
                                      "cancelled without its refund"), ECOM_OK);
    assert_int_equal(ecom__order_write(s, o, ECOM_ORDER_UPDATE, NULL, 0, NULL), ECOM_OK);
    ecom_order_free(o);
    snprintf(want, sizeof want, "order '%s' is cancelled but %lld that the test provider "
             "charged it was neither voided nor refunded", id, (long long)total);
    assert_only_violation(s, want);

    const ecom_payment_provider *pp = ecom__payments(s);
    ecom_payment_result r;
    assert_int_equal(pp->void_charge(pp->ctx, charge, "void-check-test", &r), ECOM_OK);
    test_assert_clean(s);
}

/* A paid order whose charge the provider voided: shipped for no money. */
static void test_orders_store__check_voided_paid_order(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1], charge[72], want[256];
    buy_paid(s, "jon", "k-check-voided", id, charge);
    test_assert_clean(s);
    const ecom_payment_provider *pp = ecom__payments(s);
    ecom_payment_result r;
    assert_int_equal(pp->void_charge(pp->ctx, charge, "void-paid-test", &r), ECOM_OK);
    snprintf(want, sizeof want, "order '%s' is paid but the test provider voided its charge %s",
             id, charge);
    assert_only_violation(s, want);
    /* Cancelled (its stock back, nothing to refund: the void gave the money back). */
    ecom_order *o = NULL;
    assert_int_equal(ecom__order_read(&o, s, id), ECOM_OK);
    assert_int_equal(ecom__order_push(o, ECOM_ORDER_CANCELLED, ecom_store_now(s), "test",
                                      "voided"), ECOM_OK);
    assert_int_equal(ecom__order_write(s, o, ECOM_ORDER_UPDATE, NULL, 0, NULL), ECOM_OK);
    ecom_order_free(o);
    test_assert_clean(s);
}

/* An order paid without a charge id (a provider's fault an older library let through)
 * cannot be refunded, and its refused refund leaves nothing reserved: the same key, or
 * another, is refused the same way, never for money held back by a refund that cannot
 * end. */
static void test_orders_store__refund_without_charge(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char id[ECOM_ID_MAX + 1], charge[72];
    int64_t total = buy_paid(s, "ida", "k-nocharge", id, charge);
    ecom_order *o = get(s, id);
    o->charge_id = ecom__order_strdup(o, "");
    assert_non_null(o->charge_id);
    assert_int_equal(ecom__order_write(s, o, ECOM_ORDER_UPDATE, NULL, 0, NULL), ECOM_OK);
    ecom_order_free(o);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "r1", "cs", NULL),
                         ECOM_EPAYMENT);
        assert_non_null(strstr(ecom_errmsg(s), "has no charge to refund"));
        o = get(s, id);
        assert_null(ecom__order_find_refund(o, "r1"));
        assert_int_equal(ecom_order_refunded(o), 0);
        ecom_order_free(o);
    }
    assert_int_equal(ecom_order_refund(s, id, ECOM_VERSION_ANY, total, "r2", "cs", NULL),
                     ECOM_EPAYMENT);
    assert_non_null(strstr(ecom_errmsg(s), "has no charge to refund"));
    assert_only_violation(s, "no charge id");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_store__lifecycle),
        cmocka_unit_test(test_orders_store__cancel),
        cmocka_unit_test(test_orders_store__refund_race),
        cmocka_unit_test(test_orders_store__refund_before_shipping),
        cmocka_unit_test(test_orders_store__list),
        cmocka_unit_test(test_orders_store__list_user_state_cursor),
        cmocka_unit_test(test_orders_store__list_user_is_an_id),
        cmocka_unit_test(test_orders_store__consumers),
        cmocka_unit_test(test_orders_store__check_ledger_refunds),
        cmocka_unit_test(test_orders_store__check_cancelled_charge),
        cmocka_unit_test(test_orders_store__check_voided_paid_order),
        cmocka_unit_test(test_orders_store__refund_without_charge), /* leaves a violation */
        cmocka_unit_test(test_orders_store__provider), /* leaves orphan charges: last */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
