/* Flash sales: pools, claims, limits, queueing, sold-out answers from memory. */
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "conformance.h"

static void open_sale(ecom_store *s, const char *sale, const char *sku, int64_t units,
                      int64_t limit, int64_t rate)
{
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = sku;
    o.units = units;
    o.per_user_limit = limit;
    o.admit_per_second = rate;
    o.claim_ttl_ms = 60000;
    int rc = ecom_flash_open(s, sale, &o);
    if (rc != ECOM_OK)
        fail_msg("open %s: %s", sale, ecom_errmsg(s));
}

static ecom_claim_outcome claim(ecom_store *s, const char *sale, const char *user, int64_t qty,
                                const char *key, ecom_claim_result *out)
{
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    int rc = ecom_flash_claim(&r, s, sale, user, qty, key);
    if (rc != ECOM_OK)
        fail_msg("claim %s/%s: %s", sale, key, ecom_errmsg(s));
    if (out)
        *out = r;
    return r.outcome;
}

static ecom_flash_status status(ecom_store *s, const char *sale)
{
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    assert_int_equal(ecom_flash_status_get(&st, s, sale), ECOM_OK);
    return st;
}

static void test_flash__pool_limits_and_sold_out(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 10);
    open_sale(s, "bf", "tv", 4, 2, 0);
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "tv", &reserved), 10);
    assert_int_equal(reserved, 4); /* the pool is held stock */

    ecom_claim_result first;
    assert_int_equal(claim(s, "bf", "ann", 2, "k1", &first), ECOM_CLAIM_ADMITTED);
    assert_int_equal(first.quantity, 2);
    assert_non_null(strchr(first.claim_id, ':'));
    assert_int_equal(claim(s, "bf", "ann", 1, "k2", NULL), ECOM_CLAIM_LIMIT);
    assert_int_equal(claim(s, "bf", "bob", 1, "k3", NULL), ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim(s, "bf", "cy", 2, "k4", NULL), ECOM_CLAIM_SOLD_OUT); /* 1 left */
    assert_int_equal(claim(s, "bf", "cy", 1, "k5", NULL), ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim(s, "bf", "dee", 1, "k6", NULL), ECOM_CLAIM_SOLD_OUT);
    /* From here the answers come from memory, but a retry still finds its claim. */
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "late%d", i);
        assert_int_equal(claim(s, "bf", "eve", 1, key, NULL), ECOM_CLAIM_SOLD_OUT);
    }
    ecom_claim_result retry;
    assert_int_equal(claim(s, "bf", "ann", 2, "k1", &retry), ECOM_CLAIM_ADMITTED);
    assert_string_equal(retry.claim_id, first.claim_id);

    ecom_flash_status st = status(s, "bf");
    assert_string_equal(st.sku, "tv");
    assert_int_equal(st.units, 4);
    assert_int_equal(st.remaining, 0);
    assert_int_equal(st.held, 4);
    assert_int_equal(st.claims, 3);
    conf_assert_clean(s);
}

static void test_flash__released_units_are_offered_again(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 10);
    open_sale(s, "bf", "tv", 1, 0, 0);
    ecom_claim_result c;
    assert_int_equal(claim(s, "bf", "ann", 1, "a", &c), ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim(s, "bf", "bob", 1, "b", NULL), ECOM_CLAIM_SOLD_OUT);
    assert_int_equal(ecom_flash_release(s, c.claim_id), ECOM_OK);
    assert_int_equal(ecom_flash_release(s, c.claim_id), ECOM_EENDED);
    conf_clock_advance(1000); /* past the memory's recheck */
    assert_int_equal(claim(s, "bf", "cy", 1, "c", &c), ECOM_CLAIM_ADMITTED);
    ecom_claim_result polled = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_poll(&polled, s, c.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(ecom_flash_commit(s, c.claim_id), ECOM_OK);
    assert_int_equal(ecom_flash_poll(&polled, s, c.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_COMMITTED);
    assert_int_equal(ecom_flash_commit(s, c.claim_id), ECOM_EENDED);
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "tv", &reserved), 9);
    assert_int_equal(reserved, 0);
    conf_assert_clean(s);
}

static void test_flash__expired_claims_return_to_the_pool(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 10);
    open_sale(s, "bf", "tv", 2, 0, 0);
    ecom_claim_result c;
    assert_int_equal(claim(s, "bf", "ann", 2, "a", &c), ECOM_CLAIM_ADMITTED);
    conf_clock_advance(61000);
    assert_int_equal(ecom_flash_commit(s, c.claim_id), ECOM_EEXPIRED);
    ecom_claim_result polled = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_poll(&polled, s, c.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_EXPIRED);
    assert_int_equal(status(s, "bf").remaining, 2);
    assert_int_equal(claim(s, "bf", "bob", 2, "b", NULL), ECOM_CLAIM_ADMITTED);
    conf_assert_clean(s);
}

static void test_flash__claims_beyond_capacity_queue_in_order(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 10);
    open_sale(s, "bf", "tv", 10, 0, 10); /* checkout takes 10 a second */
    ecom_claim_result a, b, c;
    assert_int_equal(claim(s, "bf", "u1", 1, "a", &a), ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim(s, "bf", "u2", 1, "b", &b), ECOM_CLAIM_QUEUED);
    assert_int_equal(claim(s, "bf", "u3", 1, "c", &c), ECOM_CLAIM_QUEUED);
    assert_true(b.wait_ms > 0 && b.wait_ms <= 100);
    assert_true(c.wait_ms > b.wait_ms && c.wait_ms <= 200);
    assert_true(c.position > b.position);
    assert_int_equal(ecom_flash_commit(s, c.claim_id), ECOM_EBUSY);
    conf_clock_advance(150);
    ecom_claim_result polled = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_poll(&polled, s, b.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(ecom_flash_poll(&polled, s, c.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_QUEUED);
    conf_clock_advance(100);
    assert_int_equal(ecom_flash_poll(&polled, s, c.claim_id), ECOM_OK);
    assert_int_equal(polled.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(ecom_flash_commit(s, c.claim_id), ECOM_OK);
    conf_assert_clean(s);
}

static void test_flash__sale_window_and_close(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 10);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "tv";
    o.units = 5;
    o.starts_at = conf_clock_peek() + 10000;
    o.ends_at = conf_clock_peek() + 20000;
    assert_int_equal(ecom_flash_open(s, "later", &o), ECOM_OK);
    assert_int_equal(ecom_flash_open(s, "later", &o), ECOM_EEXISTS);
    assert_int_equal(claim(s, "later", "ann", 1, "a", NULL), ECOM_CLAIM_NOT_STARTED);
    conf_clock_advance(10000);
    ecom_claim_result held;
    assert_int_equal(claim(s, "later", "ann", 1, "b", &held), ECOM_CLAIM_ADMITTED);
    conf_clock_advance(10000);
    assert_int_equal(claim(s, "later", "ann", 1, "c", NULL), ECOM_CLAIM_ENDED);

    /* at its end the sale closes by itself: the sweeper (or any inventory write) */
    uint64_t ended = 0;
    assert_int_equal(ecom_inventory_expire(&ended, s, conf_clock_peek()), ECOM_OK);
    assert_int_equal(ecom_flash_close(s, "later"), ECOM_EENDED);
    int64_t reserved;
    conf_on_hand(s, "tv", &reserved);
    assert_int_equal(reserved, 1); /* only the live claim still holds a unit */
    assert_int_equal(ecom_flash_release(s, held.claim_id), ECOM_OK);
    conf_on_hand(s, "tv", &reserved);
    assert_int_equal(reserved, 0);
    ecom_flash_status st = status(s, "later");
    assert_int_equal(st.open, 0);

    /* a sale without an end closes when the host says so */
    o.starts_at = 0;
    o.ends_at = 0;
    assert_int_equal(ecom_flash_open(s, "open-ended", &o), ECOM_OK);
    conf_on_hand(s, "tv", &reserved);
    assert_int_equal(reserved, 5);
    assert_int_equal(ecom_flash_close(s, "open-ended"), ECOM_OK);
    assert_int_equal(ecom_flash_close(s, "open-ended"), ECOM_EENDED);
    conf_on_hand(s, "tv", &reserved);
    assert_int_equal(reserved, 0);
    conf_assert_clean(s);
}

static void test_flash__bad_requests(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 3);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "tv";
    o.units = 4;
    assert_int_equal(ecom_flash_open(s, "big", &o), ECOM_EINSUFFICIENT);
    o.units = 0;
    assert_int_equal(ecom_flash_open(s, "big", &o), ECOM_EQUANTITY);
    o.units = 1;
    o.sku = "nope";
    assert_int_equal(ecom_flash_open(s, "big", &o), ECOM_ESKU);
    o.sku = "tv";
    o.version = 7;
    assert_int_equal(ecom_flash_open(s, "big", &o), ECOM_EVERSION);
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_claim(&r, s, "none", "ann", 1, "k"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_flash_claim(&r, s, "none", "ann", 0, "k"), ECOM_EQUANTITY);
    assert_int_equal(ecom_flash_claim(&r, s, "none", "a n", 1, "k"), ECOM_EBADID);
    r.version = 0;
    assert_int_equal(ecom_flash_claim(&r, s, "none", "ann", 1, "k"), ECOM_EVERSION);
    r.version = ECOM_CLAIM_RESULT_VERSION;
    assert_int_equal(ecom_flash_poll(&r, s, "no-colon"), ECOM_EINVAL);
    assert_int_equal(ecom_flash_poll(&r, s, "none:1"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_flash_release(s, "none:x"), ECOM_EINVAL);
    assert_int_equal(ecom_flash_close(s, "none"), ECOM_ENOTFOUND);
}

typedef struct tally {
    _Atomic int done, admitted, sold_out, not_found;
} tally;

static void count_done(ecom_claim_request *req)
{
    tally *t = req->data;
    if (req->status == ECOM_ENOTFOUND)
        atomic_fetch_add(&t->not_found, 1);
    else if (req->result.outcome == ECOM_CLAIM_ADMITTED)
        atomic_fetch_add(&t->admitted, 1);
    else if (req->result.outcome == ECOM_CLAIM_SOLD_OUT)
        atomic_fetch_add(&t->sold_out, 1);
    atomic_fetch_add(&t->done, 1);
}

static void wait_for(tally *t, int n)
{
    struct timespec nap = {0, 1000000};
    for (int i = 0; i < 10000 && atomic_load(&t->done) < n; i++)
        nanosleep(&nap, NULL);
    nanosleep(&nap, NULL); /* and no callback comes twice */
    assert_int_equal(atomic_load(&t->done), n);
}

#define REQUESTS 200

static void test_flash__submitted_claims_complete_exactly_once(void **state)
{
    ecom_store *s = *state;
    conf_stock(s, "tv", 100);
    open_sale(s, "bf", "tv", 50, 0, 0);
    static ecom_claim_request req[REQUESTS];
    static char users[REQUESTS][16];
    tally t = {0};
    for (int i = 0; i < REQUESTS; i++) {
        snprintf(users[i], sizeof users[i], "u%03d", i);
        req[i] = (ecom_claim_request){.version = ECOM_CLAIM_REQUEST_VERSION, .sale = "bf",
                                      .user = users[i], .key = users[i], .quantity = 1,
                                      .done = count_done, .data = &t};
        assert_int_equal(ecom_flash_claim_submit(s, &req[i]), ECOM_OK);
    }
    wait_for(&t, REQUESTS);
    assert_int_equal(atomic_load(&t.admitted), 50);
    assert_int_equal(atomic_load(&t.sold_out), REQUESTS - 50);

    /* A retry of an admitted claim finds it, though the sale is sold out. */
    int first = 0;
    while (req[first].result.outcome != ECOM_CLAIM_ADMITTED)
        first++;
    char claim_id[96];
    snprintf(claim_id, sizeof claim_id, "%s", req[first].result.claim_id);
    ecom_claim_request retry = req[first];
    retry.result = (ecom_claim_result)ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_claim_submit(s, &retry), ECOM_OK);
    wait_for(&t, REQUESTS + 1);
    assert_string_equal(retry.result.claim_id, claim_id);

    /* Malformed requests are refused at once; unknown sales answer in the callback. */
    ecom_claim_request bad = req[0];
    bad.quantity = 0;
    assert_int_equal(ecom_flash_claim_submit(s, &bad), ECOM_EQUANTITY);
    bad.quantity = 1;
    bad.version = 9;
    assert_int_equal(ecom_flash_claim_submit(s, &bad), ECOM_EVERSION);
    bad.version = ECOM_CLAIM_REQUEST_VERSION;
    bad.done = NULL;
    assert_int_equal(ecom_flash_claim_submit(s, &bad), ECOM_EINVAL);
    bad.done = count_done;
    bad.sale = "nope";
    assert_int_equal(ecom_flash_claim_submit(s, &bad), ECOM_OK);
    wait_for(&t, REQUESTS + 2);
    assert_int_equal(atomic_load(&t.not_found), 1);
    conf_assert_clean(s);
}

static void test_flash__closing_completes_claims_in_flight(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_stock(s, "tv", 100);
    open_sale(s, "bf", "tv", 100, 0, 0);
    static ecom_claim_request req[REQUESTS];
    static char users[REQUESTS][16];
    tally t = {0};
    for (int i = 0; i < REQUESTS; i++) {
        snprintf(users[i], sizeof users[i], "c%03d", i);
        req[i] = (ecom_claim_request){.version = ECOM_CLAIM_REQUEST_VERSION, .sale = "bf",
                                      .user = users[i], .key = users[i], .quantity = 1,
                                      .done = count_done, .data = &t};
        assert_int_equal(ecom_flash_claim_submit(s, &req[i]), ECOM_OK);
    }
    ecom_store_close(s); /* returns only once every request is done */
    assert_int_equal(atomic_load(&t.done), REQUESTS);
    assert_int_equal(atomic_load(&t.admitted), 100);
    s = conf_open(uri);
    ecom_flash_status st = status(s, "bf");
    assert_int_equal(st.held, 100);
    conf_assert_clean(s);
    ecom_store_close(s);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, conf_setup, conf_teardown)

int conf_run_flash(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_flash__pool_limits_and_sold_out),
        CASE(test_flash__released_units_are_offered_again),
        CASE(test_flash__expired_claims_return_to_the_pool),
        CASE(test_flash__claims_beyond_capacity_queue_in_order),
        CASE(test_flash__sale_window_and_close),
        CASE(test_flash__bad_requests),
        CASE(test_flash__submitted_claims_complete_exactly_once),
        cmocka_unit_test(test_flash__closing_completes_claims_in_flight),
    };
    return cmocka_run_group_tests_name("flash", tests, NULL, NULL);
}
