/*
 * The rules of carts, through the public API only: merges (summed, capped, refused
 * whole, no-ops), expiry and purge, ids and tokens, bounds and purchase limits, a
 * checkout total that would overflow, a read-only store, and merges racing edits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ecom.h"
#include "support/support.h"

#define T0 INT64_C(1700000000000)
#define DAY (INT64_C(24) * 3600 * 1000)

static _Atomic int64_t now_ms;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

typedef struct fixture {
    char dir[512];
    char uri[600];
    ecom_store *s;
} fixture;

static ecom_store *open_store(fixture *f, int64_t guest_ttl, int64_t user_ttl)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    opts.guest_cart_ttl_ms = guest_ttl;
    opts.user_cart_ttl_ms = user_ttl;
    ecom_store *s = NULL;
    int rc = ecom_store_open(&s, f->uri, &opts);
    if (rc != ECOM_OK)
        fail_msg("open: %s", s ? ecom_errmsg(s) : ecom_strerror(rc));
    return s;
}

static void product(ecom_store *s, const char *sku, int64_t usd)
{
    char json[300];
    snprintf(json, sizeof json,
             "{\"id\":\"p-%s\",\"title\":\"Item %s\",\"status\":\"active\",\"variants\":["
             "{\"sku\":\"%s\",\"prices\":{\"USD\":%lld,\"EUR\":%lld}}]}",
             sku, sku, sku, (long long)usd, (long long)usd);
    test_create_product(s, json);
    test_receive(s, sku, 10000);
}

static int setup(void **state)
{
    static fixture f;
    test_fresh_store_dir(f.dir, sizeof f.dir, f.uri, sizeof f.uri, "cart_rules");
    now_ms = T0;
    f.s = open_store(&f, 0, 0);
    product(f.s, "mug", 1000);
    product(f.s, "tee", 2500);
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

static void fails(ecom_store *s, int rc, int code, const char *needle)
{
    if (rc != code)
        fail_msg("got %d %s (%s), wanted %d %s", rc, ecom_strerror(rc), ecom_errmsg(s), code,
                 ecom_strerror(code));
    if (needle && strstr(ecom_errmsg(s), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", ecom_errmsg(s), needle);
}

/* ---- merge ---- */

static void test_cart_rules__merge_sum_capped_at_line_bound(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 600, "USD"), "user");
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 600, "USD"), "guest");
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:ann"), "merge");
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), ECOM_CART_QUANTITY_MAX);
    assert_int_equal(test_cart_lines(f->s, "guest:g1"), 0);
}

static void test_cart_rules__merge_sum_capped_at_purchase_limit(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 3, "USD"), "user");
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 4, "USD"), "guest");
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "tee", 9, "USD"), "guest");
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "mug", 5), "limit");
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "tee", 2), "limit");
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:ann"), "merge");
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), 5);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "tee"), 2); /* guest-only line capped too */
}

static void test_cart_rules__merge_of_expired_guest_is_noop(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 2, "USD"), "guest");
    now_ms = T0 + 31 * DAY;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "tee", 1, "USD"), "user");
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:ann"), "merge");
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), 0);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "tee"), 1);
    test_must(f->s, ecom_cart_merge(f->s, "guest:none", "user:ann"), "merge missing");
    assert_int_equal(test_cart_lines(f->s, "user:ann"), 1);
}

static void test_cart_rules__merge_into_expired_user_cart(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "tee", 1, "EUR"), "user");
    now_ms = T0 + 91 * DAY;
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 2, "USD"), "guest");
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:ann"), "merge");
    ecom_cart *c = NULL;
    test_must(f->s, ecom_cart_get(&c, f->s, "user:ann"), "get");
    assert_string_equal(ecom_cart_currency(c), "USD");
    assert_int_equal(ecom_cart_line_count(c), 1);
    ecom_cart_free(c);
}

static void test_cart_rules__merge_wrong_kinds_keep_carts(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 2, "USD"), "guest");
    fails(f->s, ecom_cart_merge(f->s, "guest:g1", "guest:g1"), ECOM_EINVAL, "guest");
    fails(f->s, ecom_cart_merge(f->s, "user:g1", "user:g1"), ECOM_EINVAL, "guest");
    fails(f->s, ecom_cart_merge(f->s, "user:ann", "guest:g1"), ECOM_EINVAL, "guest");
    assert_int_equal(test_cart_quantity(f->s, "guest:g1", "mug"), 2);
}

static void test_cart_rules__merge_line_bound_exact(void **state)
{
    fixture *f = *state;
    char sku[16];
    for (int i = 0; i < ECOM_CART_LINES_MAX + 1; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        product(f->s, sku, 100);
    }
    for (int i = 0; i < 60; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        test_must(f->s, ecom_cart_add(f->s, "user:ann", sku, 1, "USD"), "user");
    }
    for (int i = 50; i < 100; i++) { /* 10 shared, 40 new: exactly 100 */
        snprintf(sku, sizeof sku, "s%03d", i);
        test_must(f->s, ecom_cart_add(f->s, "guest:g1", sku, 1, "USD"), "guest");
    }
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:ann"), "merge at the bound");
    assert_int_equal(test_cart_lines(f->s, "user:ann"), 100);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "s055"), 2);
    test_must(f->s, ecom_cart_add(f->s, "guest:g2", "s100", 1, "USD"), "guest");
    fails(f->s, ecom_cart_merge(f->s, "guest:g2", "user:ann"), ECOM_ELIMIT, "nothing");
    assert_int_equal(test_cart_lines(f->s, "guest:g2"), 1);
}

/* ---- expiry ---- */

/* A cart's expiry is set when it is written, from the idle time in force then
 * (ecom.h): reopening with another TTL changes carts written from then on. */
static void test_cart_rules__ttl_is_set_when_written(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "mug", 2, "USD"), "guest"); /* 30 days */
    ecom_store_close(f->s);
    f->s = open_store(f, DAY, 0); /* guests now expire after one idle day */
    now_ms = T0 + 2 * DAY;
    assert_int_equal(test_cart_lines(f->s, "guest:g1"), 1); /* written under 30 days */
    test_must(f->s, ecom_cart_add(f->s, "guest:g2", "mug", 2, "USD"), "guest"); /* 1 day */
    test_must(f->s, ecom_cart_add(f->s, "guest:g1", "tee", 1, "USD"), "a write: 1 day now");
    now_ms = T0 + 3 * DAY + 1;
    assert_int_equal(test_cart_lines(f->s, "guest:g1"), 0);
    assert_int_equal(test_cart_lines(f->s, "guest:g2"), 0);
    ecom_store_close(f->s);
    f->s = open_store(f, 0, 0); /* back to 30 days: what expired stays expired */
    assert_int_equal(test_cart_lines(f->s, "guest:g2"), 0);
}

static void test_cart_rules__purge_many_interleaved(void **state)
{
    fixture *f = *state;
    char cart[32];
    for (int i = 0; i < 800; i++) {
        snprintf(cart, sizeof cart, "%s:c%04d", i % 2 ? "user" : "guest", i);
        test_must(f->s, ecom_cart_add(f->s, cart, "mug", 1, "USD"), "fill");
    }
    uint64_t purged = 0;
    test_must(f->s, ecom_store_purge(&purged, f->s, T0 + 31 * DAY), "purge");
    assert_int_equal(purged, 400);
    now_ms = T0;
    for (int i = 0; i < 800; i++) {
        snprintf(cart, sizeof cart, "%s:c%04d", i % 2 ? "user" : "guest", i);
        assert_int_equal(test_cart_lines(f->s, cart), i % 2 ? 1 : 0);
    }
}

/* ---- validation ---- */

static void test_cart_rules__ids_are_validated(void **state)
{
    fixture *f = *state;
    char cart[128];
    memset(cart, 'a', sizeof cart);
    memcpy(cart, "guest:", 6);
    cart[6 + ECOM_ID_MAX] = '\0';
    test_must(f->s, ecom_cart_add(f->s, cart, "mug", 1, "USD"), "64-byte token");
    cart[6 + ECOM_ID_MAX] = 'a';
    cart[6 + ECOM_ID_MAX + 1] = '\0';
    fails(f->s, ecom_cart_add(f->s, cart, "mug", 1, "USD"), ECOM_ETOOLONG, NULL);
    fails(f->s, ecom_cart_add(f->s, "guest:", "mug", 1, "USD"), ECOM_EFIELD, NULL);
    fails(f->s, ecom_cart_add(f->s, "user:", "mug", 1, "USD"), ECOM_EFIELD, NULL);
    fails(f->s, ecom_cart_add(f->s, "user:a:b", "mug", 1, "USD"), ECOM_EBADID, NULL);
    fails(f->s, ecom_cart_add(f->s, "user:guest:x", "mug", 1, "USD"), ECOM_EBADID, NULL);
    fails(f->s, ecom_cart_add(f->s, "guest:user:x", "mug", 1, "USD"), ECOM_EBADID, NULL);
    fails(f->s, ecom_cart_add(f->s, "User:x", "mug", 1, "USD"), ECOM_EBADID, NULL);
    fails(f->s, ecom_cart_add(f->s, NULL, "mug", 1, "USD"), ECOM_EINVAL, NULL);
    fails(f->s, ecom_cart_add(f->s, "user:x", NULL, 1, "USD"), ECOM_EINVAL, NULL);
    fails(f->s, ecom_cart_add(f->s, "user:x", "mug", 1, NULL), ECOM_ECURRENCY, NULL);
    fails(f->s, ecom_cart_remove(f->s, "user:x", "mug"), ECOM_ENOTFOUND, NULL);
    ecom_cart *c = (ecom_cart *)1;
    fails(f->s, ecom_cart_get(&c, f->s, "user:"), ECOM_EFIELD, NULL);
    assert_null(c);
    /* a user and a guest of the same name have two carts */
    test_must(f->s, ecom_cart_add(f->s, "user:same", "mug", 1, "USD"), "user");
    test_must(f->s, ecom_cart_add(f->s, "guest:same", "tee", 2, "USD"), "guest");
    assert_int_equal(test_cart_quantity(f->s, "user:same", "tee"), 0);
    assert_int_equal(test_cart_quantity(f->s, "guest:same", "mug"), 0);
}


/* A token is an id: it starts with a letter or digit (ecom.h), like every other id. */
static void test_cart_rules__token_starts_with_a_letter_or_digit(void **state)
{
    fixture *f = *state;
    fails(f->s, ecom_cart_add(f->s, "guest:_x7Yk2", "mug", 1, "USD"), ECOM_EBADID,
          "must start with a letter or digit");
    fails(f->s, ecom_cart_add(f->s, "guest:-x7Yk2", "mug", 1, "USD"), ECOM_EBADID, NULL);
    test_must(f->s, ecom_cart_add(f->s, "guest:x_7Yk-2.", "mug", 1, "USD"), "the rest may be any");
}

/* More units in one call than a line holds is the quantity's fault (ECOM_EQUANTITY);
 * a line that the units would take past the bound is ECOM_ELIMIT (bounds_exact). */
static void test_cart_rules__one_call_over_the_line_bound(void **state)
{
    fixture *f = *state;
    fails(f->s, ecom_cart_add(f->s, "user:ann", "mug", ECOM_CART_QUANTITY_MAX + 1, "USD"),
          ECOM_EQUANTITY, "1..999");
    fails(f->s, ecom_cart_set(f->s, "user:ann", "mug", ECOM_CART_QUANTITY_MAX + 1, "USD"),
          ECOM_EQUANTITY, "0..999");
    assert_int_equal(test_cart_lines(f->s, "user:ann"), 0);
}

static void test_cart_rules__set_zero_and_limits(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 5, "USD"), "add");
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "mug", 2), "limit");
    fails(f->s, ecom_cart_set(f->s, "user:ann", "mug", 4, "USD"), ECOM_ELIMIT,
          "purchase limit of 2");
    test_must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 2, "USD"), "set within");
    test_must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 0, "USD"), "set 0");
    assert_int_equal(test_cart_lines(f->s, "user:ann"), 0);
    test_must(f->s, ecom_cart_set(f->s, "user:ann", "tee", 0, "USD"), "set 0 of no line");
    fails(f->s, ecom_cart_set(f->s, "user:ann", "tee", -1, "USD"), ECOM_EQUANTITY, NULL);
    fails(f->s, ecom_stock_set_purchase_limit(f->s, "nope", 2), ECOM_ESKU, NULL);
}

/* ---- checkout ---- */

/* 10 lines of 999 units at ECOM_PRICE_MAX overflow int64: refused, not wrapped. */
static void test_cart_rules__checkout_total_overflow_refused(void **state)
{
    fixture *f = *state;
    char sku[16];
    for (int i = 0; i < 10; i++) {
        snprintf(sku, sizeof sku, "big%d", i);
        product(f->s, sku, ECOM_PRICE_MAX);
        test_must(f->s, ecom_cart_add(f->s, "user:ann", sku, ECOM_CART_QUANTITY_MAX, "USD"), "add");
    }
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    fails(f->s, ecom_checkout(&o, f->s, &r, "k1"), ECOM_EPRICE, "overflow");
}

static void test_cart_rules__read_only_store_refuses_cart_writes(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), "add");
    ecom_store_close(f->s);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.read_only = 1;
    opts.clock = test_clock;
    f->s = NULL;
    assert_int_equal(ecom_store_open(&f->s, f->uri, &opts), ECOM_OK);
    fails(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), ECOM_EREADONLY, NULL);
    fails(f->s, ecom_cart_merge(f->s, "guest:x", "user:ann"), ECOM_EREADONLY, NULL);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), 1);
}


static void test_cart_rules__bounds_exact(void **state)
{
    fixture *f = *state;
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 998, "USD"), "998");
    test_must(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), "999");
    fails(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), ECOM_ELIMIT, "quantity bound");
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "mug", 999), "limit 999");
    fails(f->s, ecom_cart_add(f->s, "user:ann", "mug", 1, "USD"), ECOM_ELIMIT, NULL);
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "mug", 998), "limit 998");
    fails(f->s, ecom_cart_set(f->s, "user:ann", "mug", 999, "USD"), ECOM_ELIMIT,
          "purchase limit of 998");
    test_must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 998, "USD"), "998");
    test_must(f->s, ecom_stock_set_purchase_limit(f->s, "mug", 0), "no limit");
    test_must(f->s, ecom_cart_set(f->s, "user:ann", "mug", 999, "USD"), "999");
    char sku[16];
    for (int i = 0; i < ECOM_CART_LINES_MAX + 1; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        product(f->s, sku, 100);
    }
    for (int i = 0; i < ECOM_CART_LINES_MAX; i++) {
        snprintf(sku, sizeof sku, "s%03d", i);
        test_must(f->s, ecom_cart_add(f->s, "guest:g1", sku, 1, "USD"), "fill");
    }
    fails(f->s, ecom_cart_set(f->s, "guest:g1", "s100", 1, "USD"), ECOM_ELIMIT, "100 lines");
    test_must(f->s, ecom_cart_set(f->s, "guest:g1", "s100", 0, "USD"), "set 0 of no line");
    test_must(f->s, ecom_cart_set(f->s, "guest:g1", "s000", 5, "USD"), "set a line it has");
    test_must(f->s, ecom_cart_merge(f->s, "guest:g1", "user:bob"), "100 lines into empty");
    assert_int_equal(test_cart_lines(f->s, "user:bob"), 100);
    assert_int_equal(test_cart_quantity(f->s, "user:bob", "s000"), 5);
}

/* ---- concurrency ---- */

typedef struct worker {
    ecom_store *s;
    int index, failed;
} worker;

#define WORKERS 4
#define ROUNDS 25

static void *worker_main(void *arg)
{
    worker *w = arg;
    char guest[32];
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(guest, sizeof guest, "guest:w%d-%d", w->index, r);
        w->failed |= ecom_cart_add(w->s, guest, "mug", 2, "USD") != ECOM_OK;
        w->failed |= ecom_cart_add(w->s, guest, "tee", 1, "USD") != ECOM_OK;
        w->failed |= ecom_cart_merge(w->s, guest, "user:ann") != ECOM_OK;
        w->failed |= ecom_cart_add(w->s, "user:ann", "tee", 1, "USD") != ECOM_OK;
    }
    return NULL;
}

static void test_cart_rules__concurrent_merges_and_edits(void **state)
{
    fixture *f = *state;
    worker w[WORKERS];
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker){f->s, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failed, 0);
    }
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "mug"), 2 * WORKERS * ROUNDS);
    assert_int_equal(test_cart_quantity(f->s, "user:ann", "tee"), 2 * WORKERS * ROUNDS);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_cart_rules__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(merge_sum_capped_at_line_bound),
        T(merge_sum_capped_at_purchase_limit),
        T(merge_of_expired_guest_is_noop),
        T(merge_into_expired_user_cart),
        T(merge_wrong_kinds_keep_carts),
        T(merge_line_bound_exact),
        T(ttl_is_set_when_written),
        T(purge_many_interleaved),
        T(ids_are_validated),
        T(one_call_over_the_line_bound),
        T(token_starts_with_a_letter_or_digit),
        T(set_zero_and_limits),
        T(concurrent_merges_and_edits),
        T(bounds_exact),
        T(checkout_total_overflow_refused),
        T(read_only_store_refuses_cart_writes),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
