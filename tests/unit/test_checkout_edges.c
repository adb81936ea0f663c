/*
 * The edges of what docs/checkout.md, docs/orders.md and include/ecom.h say, through
 * the public API: a key with a space, the recovery bound and the key TTL at their exact
 * millisecond, a pending order's cancel in its events, an unknown location.
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

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static int64_t clock_ms;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "checkout_edges");
    clock_ms = INT64_C(1800000000000);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    test_create_product(f.s, "{\"id\":\"p-mug\",\"title\":\"Mug\",\"status\":\"active\","
                             "\"variants\":[{\"sku\":\"mug\",\"prices\":{\"USD\":100}}]}");
    test_receive(f.s, "mug", 50);
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

static ecom_checkout_request request(const char *token)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:alice";
    r.user = "alice";
    r.payment_token = token;
    return r;
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    test_must(s, ecom_order_get(&o, s, id), "order get");
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

/* A key or token with a space is refused (ECOM_EBADID, "a space or not printable
 * ASCII"), and the message says which byte and why; nothing is kept. */
static void test_checkout_edges__a_key_with_a_space_is_refused(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:alice", "mug", 1, "USD"), "cart add");
    ecom_checkout_request r = request("tok_approve");
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, s, &r, "order 42"), ECOM_EBADID);
    assert_null(o);
    assert_non_null(strstr(ecom_errmsg(s), "byte 5 is a space"));
    assert_int_equal(ecom_checkout(&o, s, &r, "order\x7f"), ECOM_EBADID);
    assert_non_null(strstr(ecom_errmsg(s), "not printable ASCII"));
    test_must(s, ecom_checkout(&o, s, &r, "order-42"), "the key without a space");
    ecom_order_free(o);
}

/* ecom_checkout_recover takes orders at least older_than_ms old: 999 ms old is left,
 * exactly 1000 ms old is swept. */
static void test_checkout_edges__recover_takes_orders_at_least_the_bound_old(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:alice", "mug", 1, "USD"), "cart add");
    ecom_checkout_request r = request("tok_timeout");
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, s, &r, "k-timeout"), ECOM_ETIMEOUT);
    assert_non_null(o);
    char id[80];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    ecom_order_free(o);
    clock_ms += 999;
    uint64_t recovered = 9;
    test_must(s, ecom_checkout_recover(&recovered, s, 1000), "recover");
    assert_int_equal(recovered, 0);
    assert_int_equal(state_of(s, id), ECOM_ORDER_PENDING_PAYMENT);
    clock_ms += 1; /* exactly 1000 ms old */
    test_must(s, ecom_checkout_recover(&recovered, s, 1000), "recover");
    assert_int_equal(recovered, 1);
    assert_int_equal(state_of(s, id), ECOM_ORDER_PAID); /* tok_timeout charged it */
}

/* A key answers with its order until 24 h after its first use, and is new again from
 * that millisecond on (docs/checkout.md, "first used 24 h ago or more"). */
static void test_checkout_edges__a_key_is_new_again_at_its_ttl(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:alice", "mug", 1, "USD"), "cart add");
    ecom_checkout_request r = request("tok_approve");
    ecom_order *o = NULL;
    test_must(s, ecom_checkout(&o, s, &r, "k-ttl"), "checkout");
    char id[80];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    ecom_order_free(o);
    clock_ms += INT64_C(24) * 3600 * 1000 - 1;
    o = NULL;
    test_must(s, ecom_checkout(&o, s, &r, "k-ttl"), "a millisecond before the TTL");
    assert_string_equal(ecom_order_id(o), id);
    ecom_order_free(o);
    clock_ms += 1; /* the TTL: new again, so the emptied cart is what it finds */
    o = NULL;
    assert_int_equal(ecom_checkout(&o, s, &r, "k-ttl"), ECOM_EEMPTY);
    assert_null(o);
}

/* docs/orders.md: cancelling an order pending payment marks it first (event
 * "order.cancelling"), voids, then cancels it ("order.cancelled"); the history records
 * the move. Nothing else checks the event. */
static void test_checkout_edges__pending_cancel_emits_cancelling_then_cancelled(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:alice", "mug", 2, "USD"), "cart add");
    ecom_checkout_request r = request("tok_timeout");
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, s, &r, "k-cancel"), ECOM_ETIMEOUT);
    char id[80];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    uint64_t version = ecom_order_version(o);
    ecom_order_free(o);
    uint64_t start = 0;
    test_must(s, ecom_events_last_seq(&start, s), "last seq");
    test_must(s, ecom_order_cancel(s, id, version, "cs", "buyer asked"), "cancel");
    assert_int_equal(state_of(s, id), ECOM_ORDER_CANCELLED);
    ecom_events *e = NULL;
    test_must(s, ecom_events_read(&e, s, start, 100), "events");
    const char *want[] = {"order.cancelling", "order.cancelled"};
    size_t seen = 0;
    for (size_t i = 0; i < ecom_events_count(e) && seen < 2; i++)
        if (strcmp(ecom_events_key(e, i), id) == 0 &&
            strncmp(ecom_events_type(e, i), "order.", 6) == 0) {
            assert_string_equal(ecom_events_type(e, i), want[seen]);
            seen++;
        }
    ecom_events_free(e);
    assert_int_equal(seen, 2);
    /* Once finished, a repeat is ESTATE, ECONFLICT with the version it had before. */
    assert_int_equal(ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "again"), ECOM_ESTATE);
    assert_int_equal(ecom_order_cancel(s, id, version, "cs", "again"), ECOM_ECONFLICT);
    test_assert_clean(s);
}

/* A location that does not exist is ECOM_ELOCATION; the key stays free. */
static void test_checkout_edges__checkout_unknown_location_is_elocation(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    test_must(s, ecom_cart_add(s, "user:alice", "mug", 1, "USD"), "cart add");
    ecom_checkout_request r = request("tok_approve");
    r.location = "nowhere";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "k-loc");
    assert_null(o);
    assert_int_equal(rc, ECOM_ELOCATION);
    r.location = NULL; /* fixed: the key was not kept */
    test_must(s, ecom_checkout(&o, s, &r, "k-loc"), "checkout after the fix");
    ecom_order_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkout_edges__a_key_with_a_space_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkout_edges__recover_takes_orders_at_least_the_bound_old,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkout_edges__a_key_is_new_again_at_its_ttl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkout_edges__pending_cancel_emits_cancelling_then_cancelled,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkout_edges__checkout_unknown_location_is_elocation, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
