/*
 * What a checkout does to its cart, through the public API only: once the order is
 * paid, the lines it bought leave the cart, and nothing else does. Lines added or
 * raised while the payment was in flight (the buyer shopping on after a timeout)
 * stay, whichever path completes the order: the checkout's retry, the provider's
 * notification or the recovery sweep; and a retry after the order was completed
 * elsewhere takes nothing more. Also: a declined notification the provider's record
 * contradicts voids what was taken; a guest cart too big to merge is refused whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

#define PRODUCTS 101 /* one more than a cart holds lines */

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "checkout_cart");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    for (int i = 0; i < PRODUCTS; i++) {
        char json[200], sku[16];
        snprintf(json, sizeof json, "{\"id\":\"p%03d\",\"title\":\"Item %d\",\"status\":"
                 "\"active\",\"variants\":[{\"sku\":\"s%03d\",\"prices\":{\"USD\":100}}]}",
                 i, i, i);
        test_create_product(f.s, json);
        snprintf(sku, sizeof sku, "s%03d", i);
        assert_int_equal(ecom_stock_adjust(f.s, sku, NULL, ECOM_ADJUST_RECEIVE, 100, "in", ""),
                         ECOM_OK);
    }
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

static void must(ecom_store *s, int rc, const char *what)
{
    if (rc != ECOM_OK)
        fail_msg("%s: %s (%s)", what, ecom_strerror(rc), ecom_errmsg(s));
}

/* The quantity of sku in cart (0: no line). */
static int64_t in_cart(ecom_store *s, const char *cart, const char *sku)
{
    ecom_cart *c = NULL;
    must(s, ecom_cart_get(&c, s, cart), "cart get");
    int64_t q = 0;
    for (size_t i = 0; i < ecom_cart_line_count(c); i++)
        if (strcmp(ecom_cart_line_sku(c, i), sku) == 0)
            q = ecom_cart_line_quantity(c, i);
    ecom_cart_free(c);
    return q;
}

static size_t cart_lines(ecom_store *s, const char *cart)
{
    ecom_cart *c = NULL;
    must(s, ecom_cart_get(&c, s, cart), "cart get");
    size_t n = ecom_cart_line_count(c);
    ecom_cart_free(c);
    return n;
}

/* A checkout of cart whose provider charges and loses the answer: the order stays
 * pending payment. Its id goes to id. */
static void checkout_lost(ecom_store *s, const char *cart, const char *user, const char *key,
                          char *id, size_t size)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = "tok_timeout";
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, s, &r, key), ECOM_ETIMEOUT);
    assert_non_null(o);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PENDING_PAYMENT);
    snprintf(id, size, "%s", ecom_order_id(o));
    ecom_order_free(o);
}

/* The same request again (token and all): the retry a client makes after a timeout. */
static ecom_order_state retry(ecom_store *s, const char *cart, const char *user,
                              const char *key)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = "tok_timeout";
    ecom_order *o = NULL;
    must(s, ecom_checkout(&o, s, &r, key), "the retry");
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static void assert_clean(ecom_store *s)
{
    uint64_t n = 99;
    assert_int_equal(ecom_check(&n, s, NULL, NULL), ECOM_OK);
    assert_int_equal(n, 0);
}

static void test_checkout_cart__retry_keeps_what_was_added(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "user:ann";
    must(s, ecom_cart_add(s, cart, "s001", 2, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "ann", "k-retry", id, sizeof id);
    /* While the answer is lost, ann shops on. */
    must(s, ecom_cart_add(s, cart, "s001", 1, "USD"), "raise");
    must(s, ecom_cart_add(s, cart, "s002", 5, "USD"), "add another");
    assert_int_equal(retry(s, cart, "ann", "k-retry"), ECOM_ORDER_PAID);
    assert_int_equal(in_cart(s, cart, "s001"), 1); /* bought 2 of 3 */
    assert_int_equal(in_cart(s, cart, "s002"), 5);
    assert_int_equal(retry(s, cart, "ann", "k-retry"), ECOM_ORDER_PAID);
    assert_int_equal(cart_lines(s, cart), 2); /* a second retry takes nothing more */
    assert_clean(s);
}

static void test_checkout_cart__notify_takes_the_bought_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "guest:bea";
    must(s, ecom_cart_add(s, cart, "s003", 2, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "bea", "k-notify", id, sizeof id);
    must(s, ecom_cart_add(s, cart, "s004", 1, "USD"), "add another");
    ecom_payments *p = NULL;
    must(s, ecom_payments_list(&p, s, id), "payments");
    assert_true(ecom_payments_count(p) >= 1);
    char charge[80];
    snprintf(charge, sizeof charge, "%s", ecom_payments_charge_id(p, 0));
    ecom_payments_free(p);
    must(s, ecom_payment_notify(s, id, 1, charge, NULL), "notify");
    assert_int_equal(in_cart(s, cart, "s003"), 0);
    assert_int_equal(in_cart(s, cart, "s004"), 1);
    /* The client's retry finds the order paid: the answer, and nothing taken twice. */
    assert_int_equal(retry(s, cart, "bea", "k-notify"), ECOM_ORDER_PAID);
    assert_int_equal(in_cart(s, cart, "s004"), 1);
    assert_clean(s);
}

static void test_checkout_cart__recovery_takes_the_bought_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "user:cy";
    must(s, ecom_cart_add(s, cart, "s005", 3, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "cy", "k-recover", id, sizeof id);
    must(s, ecom_cart_add(s, cart, "s006", 2, "USD"), "add another");
    uint64_t recovered = 0;
    must(s, ecom_checkout_recover(&recovered, s, 0), "recover");
    assert_int_equal(recovered, 1);
    ecom_order *o = NULL;
    must(s, ecom_order_get(&o, s, id), "order get");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(in_cart(s, cart, "s005"), 0);
    assert_int_equal(in_cart(s, cart, "s006"), 2);
    assert_clean(s);
}

static void test_checkout_cart__a_contradicted_decline_voids(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    must(s, ecom_cart_add(s, "user:eve", "s007", 1, "USD"), "add");
    char id[80];
    checkout_lost(s, "user:eve", "eve", "k-decline", id, sizeof id); /* charged */
    must(s, ecom_payment_notify(s, id, 0, NULL, "declined, says the message"), "notify");
    ecom_order *o = NULL;
    must(s, ecom_order_get(&o, s, id), "order get");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    ecom_order_free(o);
    ecom_payments *p = NULL;
    must(s, ecom_payments_list(&p, s, id), "payments");
    int voids = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        voids += strcmp(ecom_payments_kind(p, i), "void") == 0 && ecom_payments_approved(p, i);
    ecom_payments_free(p);
    assert_int_equal(voids, 1);
    assert_int_equal(in_cart(s, "user:eve", "s007"), 1); /* nothing bought */
    assert_clean(s); /* which also holds the ledger to it: a cancelled order keeps no money */
}

static void test_checkout_cart__a_merge_too_big_is_refused_whole(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char sku[16];
    for (int i = 0; i < ECOM_CART_LINES_MAX; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        must(s, ecom_cart_add(s, "user:dan", sku, 1, "USD"), "fill");
    }
    must(s, ecom_cart_add(s, "guest:dan", "s010", 2, "USD"), "guest line, shared SKU");
    snprintf(sku, sizeof sku, "s%03d", ECOM_CART_LINES_MAX);
    must(s, ecom_cart_add(s, "guest:dan", sku, 3, "USD"), "guest line, new SKU");
    assert_int_equal(ecom_cart_merge(s, "guest:dan", "user:dan"), ECOM_ELIMIT);
    assert_non_null(strstr(ecom_errmsg(s), "nothing was merged"));
    assert_int_equal(cart_lines(s, "guest:dan"), 2); /* both as they were */
    assert_int_equal(in_cart(s, "user:dan", "s010"), 1);
    must(s, ecom_cart_remove(s, "user:dan", "s099"), "make room");
    must(s, ecom_cart_merge(s, "guest:dan", "user:dan"), "merge");
    assert_int_equal(in_cart(s, "user:dan", "s010"), 3);
    assert_int_equal(in_cart(s, "user:dan", sku), 3);
    assert_int_equal(cart_lines(s, "guest:dan"), 0);
    assert_clean(s);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_checkout_cart__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(retry_keeps_what_was_added),
        T(notify_takes_the_bought_lines),
        T(recovery_takes_the_bought_lines),
        T(a_contradicted_decline_voids),
        T(a_merge_too_big_is_refused_whole),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
