/*
 * What a checkout does to its cart, through the public API only: once the order is
 * paid, the lines it bought leave the cart, and nothing else does. Lines added or
 * raised while the payment was in flight (the buyer shopping on after a timeout)
 * stay, whichever path completes the order: the checkout's retry, the provider's
 * notification or the recovery sweep; and a retry after the order was completed
 * elsewhere takes nothing more. A guest who logs in while paying (the guest cart merged
 * into the user's) has what the order bought taken from the user's cart. Also: a
 * declined notification the provider's record contradicts voids what was taken; a
 * guest cart too big to merge is refused whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

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
    test_must(s, ecom_checkout(&o, s, &r, key), "the retry");
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

static void test_checkout_cart__retry_keeps_what_was_added(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "user:ann";
    test_must(s, ecom_cart_add(s, cart, "s001", 2, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "ann", "k-retry", id, sizeof id);
    /* While the answer is lost, ann shops on. */
    test_must(s, ecom_cart_add(s, cart, "s001", 1, "USD"), "raise");
    test_must(s, ecom_cart_add(s, cart, "s002", 5, "USD"), "add another");
    assert_int_equal(retry(s, cart, "ann", "k-retry"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_quantity(s, cart, "s001"), 1); /* bought 2 of 3 */
    assert_int_equal(test_cart_quantity(s, cart, "s002"), 5);
    assert_int_equal(retry(s, cart, "ann", "k-retry"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_lines(s, cart), 2); /* a second retry takes nothing more */
    test_assert_clean(s);
}

static void test_checkout_cart__notify_takes_the_bought_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "guest:bea";
    test_must(s, ecom_cart_add(s, cart, "s003", 2, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "bea", "k-notify", id, sizeof id);
    test_must(s, ecom_cart_add(s, cart, "s004", 1, "USD"), "add another");
    ecom_payments *p = NULL;
    test_must(s, ecom_payments_list(&p, s, id), "payments");
    assert_true(ecom_payments_count(p) >= 1);
    char charge[80];
    snprintf(charge, sizeof charge, "%s", ecom_payments_charge_id(p, 0));
    ecom_payments_free(p);
    test_must(s, ecom_payment_notify(s, id, 1, charge, NULL), "notify");
    assert_int_equal(test_cart_quantity(s, cart, "s003"), 0);
    assert_int_equal(test_cart_quantity(s, cart, "s004"), 1);
    /* The client's retry finds the order paid: the answer, and nothing taken twice. */
    assert_int_equal(retry(s, cart, "bea", "k-notify"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_quantity(s, cart, "s004"), 1);
    test_assert_clean(s);
}

static void test_checkout_cart__recovery_takes_the_bought_lines(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const char *cart = "user:cy";
    test_must(s, ecom_cart_add(s, cart, "s005", 3, "USD"), "add");
    char id[80];
    checkout_lost(s, cart, "cy", "k-recover", id, sizeof id);
    test_must(s, ecom_cart_add(s, cart, "s006", 2, "USD"), "add another");
    uint64_t recovered = 0;
    test_must(s, ecom_checkout_recover(&recovered, s, 0), "recover");
    assert_int_equal(recovered, 1);
    ecom_order *o = NULL;
    test_must(s, ecom_order_get(&o, s, id), "order get");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(test_cart_quantity(s, cart, "s005"), 0);
    assert_int_equal(test_cart_quantity(s, cart, "s006"), 2);
    test_assert_clean(s);
}

static void test_checkout_cart__a_contradicted_decline_voids(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:eve", "s007", 1, "USD"), "add");
    char id[80];
    checkout_lost(s, "user:eve", "eve", "k-decline", id, sizeof id); /* charged */
    test_must(s, ecom_payment_notify(s, id, 0, NULL, "declined, says the message"), "notify");
    ecom_order *o = NULL;
    test_must(s, ecom_order_get(&o, s, id), "order get");
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    ecom_order_free(o);
    ecom_payments *p = NULL;
    test_must(s, ecom_payments_list(&p, s, id), "payments");
    int voids = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        voids += strcmp(ecom_payments_kind(p, i), "void") == 0 && ecom_payments_approved(p, i);
    ecom_payments_free(p);
    assert_int_equal(voids, 1);
    assert_int_equal(test_cart_quantity(s, "user:eve", "s007"), 1); /* nothing bought */
    test_assert_clean(s); /* which also holds the ledger to it: a cancelled order keeps no money */
}

static void test_checkout_cart__a_merge_too_big_is_refused_whole(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    char sku[16];
    for (int i = 0; i < ECOM_CART_LINES_MAX; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        test_must(s, ecom_cart_add(s, "user:dan", sku, 1, "USD"), "fill");
    }
    test_must(s, ecom_cart_add(s, "guest:dan", "s010", 2, "USD"), "guest line, shared SKU");
    snprintf(sku, sizeof sku, "s%03d", ECOM_CART_LINES_MAX);
    test_must(s, ecom_cart_add(s, "guest:dan", sku, 3, "USD"), "guest line, new SKU");
    assert_int_equal(ecom_cart_merge(s, "guest:dan", "user:dan"), ECOM_ELIMIT);
    assert_non_null(strstr(ecom_errmsg(s), "nothing was merged"));
    assert_int_equal(test_cart_lines(s, "guest:dan"), 2); /* both as they were */
    assert_int_equal(test_cart_quantity(s, "user:dan", "s010"), 1);
    test_must(s, ecom_cart_remove(s, "user:dan", "s099"), "make room");
    test_must(s, ecom_cart_merge(s, "guest:dan", "user:dan"), "merge");
    assert_int_equal(test_cart_quantity(s, "user:dan", "s010"), 3);
    assert_int_equal(test_cart_quantity(s, "user:dan", sku), 3);
    assert_int_equal(test_cart_lines(s, "guest:dan"), 0);
    test_assert_clean(s);
}

/* A guest checks out, the answer is lost, the guest logs in (the merge moves the lines
 * to the user's cart), the retry completes the order: what it bought leaves the user's
 * cart, and what the user had or added stays. */
static void test_checkout_cart__a_merge_while_paying_takes_from_the_user_cart(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "guest:g1", "s011", 2, "USD"), "guest line");
    test_must(s, ecom_cart_add(s, "user:gil", "s011", 1, "USD"), "the user's own line");
    test_must(s, ecom_cart_add(s, "user:gil", "s012", 4, "USD"), "the user's other line");
    char id[80];
    checkout_lost(s, "guest:g1", "gil", "k-login", id, sizeof id);
    test_must(s, ecom_cart_merge(s, "guest:g1", "user:gil"), "login");
    assert_int_equal(test_cart_quantity(s, "user:gil", "s011"), 3);
    assert_int_equal(test_cart_lines(s, "guest:g1"), 0); /* the forward reads as empty */
    ecom_cart *c = NULL;
    test_must(s, ecom_cart_get(&c, s, "guest:g1"), "cart get");
    assert_string_equal(ecom_cart_currency(c), "");
    assert_int_equal(ecom_cart_updated_at(c), 0);
    ecom_cart_free(c);
    test_assert_clean(s);
    assert_int_equal(retry(s, "guest:g1", "gil", "k-login"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_quantity(s, "user:gil", "s011"), 1); /* the 2 bought, not the user's */
    assert_int_equal(test_cart_quantity(s, "user:gil", "s012"), 4);
    assert_int_equal(retry(s, "guest:g1", "gil", "k-login"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_quantity(s, "user:gil", "s011"), 1); /* taken once */
    test_assert_clean(s);
}

/* A write to a merged guest cart ends its forward: the guest's new lines are the
 * guest's, and the paid order takes from the guest cart again. */
static void test_checkout_cart__a_write_ends_the_forward(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "guest:g2", "s013", 2, "USD"), "guest line");
    char id[80];
    checkout_lost(s, "guest:g2", "hal", "k-forward", id, sizeof id);
    test_must(s, ecom_cart_merge(s, "guest:g2", "user:hal"), "login");
    test_must(s, ecom_cart_add(s, "guest:g2", "s013", 5, "USD"), "shopping on as a guest");
    assert_int_equal(retry(s, "guest:g2", "hal", "k-forward"), ECOM_ORDER_PAID);
    assert_int_equal(test_cart_quantity(s, "guest:g2", "s013"), 3);
    assert_int_equal(test_cart_quantity(s, "user:hal", "s013"), 2); /* the forward had ended */
    /* Merging a forward is a no-op; clearing one removes it. */
    test_must(s, ecom_cart_merge(s, "guest:g2", "user:hal"), "merge again");
    test_must(s, ecom_cart_merge(s, "guest:g2", "user:ivy"), "a forward merges nothing");
    assert_int_equal(test_cart_lines(s, "user:ivy"), 0);
    test_must(s, ecom_cart_clear(s, "guest:g2"), "clear");
    test_assert_clean(s);
}

/* A forward expires when the guest cart would have, and the purge removes it. */
static void test_checkout_cart__a_forward_expires_with_the_guest_cart(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "guest:g3", "s014", 1, "USD"), "guest line");
    test_must(s, ecom_cart_merge(s, "guest:g3", "user:jo"), "login");
    uint64_t purged = 0;
    int64_t day = INT64_C(24) * 3600 * 1000, now = (int64_t)time(NULL) * 1000;
    test_must(s, ecom_store_purge(&purged, s, now + 29 * day), "purge before");
    assert_int_equal(purged, 0);
    test_must(s, ecom_store_purge(&purged, s, now + 31 * day), "purge after");
    assert_int_equal(purged, 1); /* the forward; the user's cart lives 90 days */
    assert_int_equal(test_cart_quantity(s, "user:jo", "s014"), 1);
    test_assert_clean(s);
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
        T(a_merge_while_paying_takes_from_the_user_cart),
        T(a_write_ends_the_forward),
        T(a_forward_expires_with_the_guest_cart),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
