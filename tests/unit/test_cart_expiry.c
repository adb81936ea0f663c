/*
 * Cart expiry with the default options (no ttl set): a guest's cart lives 30 idle days
 * and a user's 90, through the public API only. Time is the store's injected clock
 * (ecom_options.clock) for reads, and the `now` handed to ecom_store_purge for
 * deletion. Each cart is checked on both sides of its bound, on both paths: a read
 * (an expired cart reads as empty) and the purge (which deletes it for good).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ecom.h"
#include "support/support.h"

#define T0 INT64_C(1700000000000)
#define DAY (INT64_C(24) * 3600 * 1000)

static int64_t now_ms;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "cart_expiry");
    ecom_options opts = ECOM_OPTIONS_INIT; /* user_cart_ttl_ms, guest_cart_ttl_ms: 0 */
    opts.no_sync = 1;
    opts.clock = test_clock;
    now_ms = T0;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":1000}}]}";
    test_create_product(f.s, json);
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

/* The cart's line count, read at the store's clock. */
static size_t lines(ecom_store *s, const char *cart)
{
    ecom_cart *c = NULL;
    assert_int_equal(ecom_cart_get(&c, s, cart), ECOM_OK);
    size_t n = ecom_cart_line_count(c);
    ecom_cart_free(c);
    return n;
}

static uint64_t purge(ecom_store *s, int64_t now)
{
    uint64_t purged = 99;
    assert_int_equal(ecom_store_purge(&purged, s, now), ECOM_OK);
    return purged;
}

/*
 * A cart written at T0 and left idle: alive at T0 + alive_days (read, and a purge at
 * that time keeps it), gone at T0 + gone_days (read empty; a purge then deletes exactly
 * it, so that it reads empty even at the earlier time).
 */
static void expires_between(ecom_store *s, const char *cart, int64_t alive_days,
                            int64_t gone_days)
{
    now_ms = T0;
    assert_int_equal(ecom_cart_add(s, cart, "mug", 2, "USD"), ECOM_OK);
    now_ms = T0 + alive_days * DAY;
    assert_int_equal(lines(s, cart), 1);
    assert_int_equal(purge(s, now_ms), 0);
    assert_int_equal(lines(s, cart), 1);
    now_ms = T0 + gone_days * DAY;
    assert_int_equal(lines(s, cart), 0);
    now_ms = T0 + alive_days * DAY;
    assert_int_equal(lines(s, cart), 1); /* expired by the clock, still stored */
    assert_int_equal(purge(s, T0 + gone_days * DAY), 1);
    assert_int_equal(lines(s, cart), 0); /* deleted, not only out of date */
    assert_int_equal(purge(s, T0 + gone_days * DAY), 0);
}

static void test_cart_expiry__guest_default_is_30_days(void **state)
{
    fixture *f = *state;
    expires_between(f->s, "guest:tok1", 29, 31);
}

static void test_cart_expiry__user_default_is_90_days(void **state)
{
    fixture *f = *state;
    expires_between(f->s, "user:ann", 89, 91);
}

/* Idle means unwritten: a write on day 20 starts the guest's 30 days again, and reads
 * in between do not. */
static void test_cart_expiry__a_write_restarts_the_idle_time(void **state)
{
    fixture *f = *state;
    now_ms = T0;
    assert_int_equal(ecom_cart_add(f->s, "guest:tok2", "mug", 1, "USD"), ECOM_OK);
    now_ms = T0 + 20 * DAY;
    assert_int_equal(lines(f->s, "guest:tok2"), 1);
    assert_int_equal(ecom_cart_set(f->s, "guest:tok2", "mug", 3, "USD"), ECOM_OK);
    now_ms = T0 + 49 * DAY;
    assert_int_equal(lines(f->s, "guest:tok2"), 1);
    assert_int_equal(purge(f->s, now_ms), 0);
    now_ms = T0 + 51 * DAY;
    assert_int_equal(lines(f->s, "guest:tok2"), 0);
    assert_int_equal(purge(f->s, now_ms), 1);
}

/* Both kinds side by side: on day 31 the guest's cart is gone and the user's is not. */
static void test_cart_expiry__guest_and_user_differ(void **state)
{
    fixture *f = *state;
    now_ms = T0;
    assert_int_equal(ecom_cart_add(f->s, "guest:tok3", "mug", 1, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(f->s, "user:bob", "mug", 1, "USD"), ECOM_OK);
    now_ms = T0 + 31 * DAY;
    assert_int_equal(lines(f->s, "guest:tok3"), 0);
    assert_int_equal(lines(f->s, "user:bob"), 1);
    assert_int_equal(purge(f->s, now_ms), 1);
    assert_int_equal(lines(f->s, "user:bob"), 1);
    now_ms = T0 + 91 * DAY;
    assert_int_equal(purge(f->s, now_ms), 1);
    assert_int_equal(lines(f->s, "user:bob"), 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_cart_expiry__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(guest_default_is_30_days),
        T(user_default_is_90_days),
        T(a_write_restarts_the_idle_time),
        T(guest_and_user_differ),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
