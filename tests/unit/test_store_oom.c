/*
 * Out of memory at every allocation of every store operation: each failure is a
 * clean ECOM_ENOMEM, the store stays consistent, and nothing leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecom.h"
#include "support/support.h"


static char dir[256];
static unsigned counter;

static const char *fresh_uri(void)
{
    static char uri[400];
    snprintf(uri, sizeof uri, "lmdb://%s/oom-%u", dir, ++counter);
    return uri;
}

static ecom_store *open_seeded(const char *uri)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    ecom_store *s = NULL;
    assert_int_equal(ecom_store_open(&s, uri, &opts), ECOM_OK);
    for (int i = 0; i < 3; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"id\":\"p%d\",\"title\":\"Mug %d\",\"status\":\"active\",\"category\":\"home/kitchen\","
                 "\"attributes\":{\"color\":[\"red\"]},\"variants\":[{\"sku\":\"p%d-1\","
                 "\"options\":{\"size\":\"L\"},\"prices\":{\"USD\":500,\"EUR\":450}}]}",
                 i, i, i);
        test_create_product(s, json);
    }
    assert_int_equal(ecom_stock_adjust(s, "p0-1", NULL, ECOM_ADJUST_RECEIVE, 100, "in", "po"),
                     ECOM_OK);
    const char *skus[] = {"p0-1"};
    int64_t qty[] = {2};
    assert_int_equal(ecom_reserve(s, "held", skus, qty, 1, NULL, 60000), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "p0-1";
    o.units = 1;
    assert_int_equal(ecom_flash_open(s, "sale", &o), ECOM_OK);
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    assert_int_equal(ecom_flash_claim(&r, s, "sale", "ann", 1, "k1"), ECOM_OK);
    return s;
}

typedef int (*operation)(ecom_store *s);

static int op_create(ecom_store *s)
{
    const char *json = "{\"id\":\"new\",\"title\":\"New\",\"variants\":[{\"sku\":\"new-1\","
                       "\"prices\":{\"USD\":1}}]}";
    ecom_product *p = NULL;
    int rc = ecom_product_from_json(&p, json, strlen(json), NULL, 0);
    if (rc == ECOM_OK)
        rc = ecom_catalog_create(s, p);
    ecom_product_free(p);
    return rc;
}

static int op_dup_sku(ecom_store *s)
{
    const char *json = "{\"id\":\"dup\",\"title\":\"Dup\",\"variants\":[{\"sku\":\"p1-1\","
                       "\"prices\":{\"USD\":1}}]}";
    ecom_product *p = NULL;
    int rc = ecom_product_from_json(&p, json, strlen(json), NULL, 0);
    if (rc == ECOM_OK)
        rc = ecom_catalog_create(s, p);
    ecom_product_free(p);
    return rc == ECOM_EDUPSKU ? ECOM_OK : rc;
}

static int op_archive(ecom_store *s)
{
    return ecom_catalog_archive(s, "p1", ECOM_VERSION_ANY);
}

static int op_get(ecom_store *s)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get(&p, s, "p0");
    ecom_product_free(p);
    return rc;
}

static int op_list(ecom_store *s)
{
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    opts.limit = 2;
    opts.category = "home";
    ecom_page *page = NULL;
    int rc = ecom_catalog_list(&page, s, &opts);
    ecom_page_free(page);
    return rc;
}

static int op_categories(ecom_store *s)
{
    ecom_categories *c = NULL;
    int rc = ecom_catalog_categories(&c, s);
    ecom_categories_free(c);
    return rc;
}

static int op_events(ecom_store *s)
{
    ecom_events *e = NULL;
    int rc = ecom_events_read(&e, s, 0, 10);
    ecom_events_free(e);
    return rc;
}

static int discard(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return 0;
}

static int op_export(ecom_store *s)
{
    return ecom_catalog_export(NULL, s, discard, NULL);
}

static int op_reserve(ecom_store *s)
{
    const char *skus[] = {"p0-1", "p0-1"};
    int64_t qty[] = {1, 2};
    return ecom_reserve(s, "r-oom", skus, qty, 2, NULL, 60000);
}

static int op_commit(ecom_store *s)
{
    return ecom_reservation_commit(s, "held");
}

static int op_reservation_get(ecom_store *s)
{
    ecom_reservation *r = NULL;
    int rc = ecom_reservation_get(&r, s, "held");
    ecom_reservation_free(r);
    return rc;
}

static int op_stock_get(ecom_store *s)
{
    ecom_stock *st = NULL;
    int rc = ecom_stock_get(&st, s, "p0-1", NULL);
    ecom_stock_free(st);
    return rc;
}

static int op_locations(ecom_store *s)
{
    ecom_locations *l = NULL;
    int rc = ecom_location_add(s, "second", "Second");
    if (rc == ECOM_OK)
        rc = ecom_location_list(&l, s);
    ecom_locations_free(l);
    return rc;
}

static int op_claims(ecom_store *s)
{
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    /* Sold out: the first answer comes from storage and teaches the memory. */
    int rc = ecom_flash_claim(&r, s, "sale", "bob", 1, "k2");
    for (int i = 0; rc == ECOM_OK && i < 3; i++)
        rc = ecom_flash_claim(&r, s, "sale", "cy", 1, "k3");
    if (rc == ECOM_OK)
        rc = ecom_flash_poll(&r, s, "sale:1");
    return rc;
}

static int op_expire(ecom_store *s)
{
    uint64_t n = 0;
    return ecom_inventory_expire(&n, s, ecom_store_now(s) + 3600000);
}

static int op_checkout(ecom_store *s)
{
    int rc = ecom_cart_add(s, "user:ann", "p0-1", 2, "USD");
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    if (rc == ECOM_OK)
        rc = ecom_checkout(&o, s, &r, "oom-key");
    if (rc == ECOM_OK) {
        /* A paid order must go to fulfilling before it ships. */
        rc = ecom_order_ship(s, ecom_order_id(o), ECOM_VERSION_ANY, NULL, NULL, 0, "w");
        rc = rc == ECOM_ESTATE ? ECOM_OK : rc == ECOM_ENOMEM ? rc : ECOM_ERROR;
    }
    ecom_order_free(o);
    return rc;
}

/* Checks out user's cart with token under key; ECOM_ETIMEOUT (an answer lost) counts as
 * done: the order is pending, its id in id. */
static int buy(ecom_store *s, const char *user, const char *token, const char *key, char *id)
{
    char cart[64];
    snprintf(cart, sizeof cart, "user:%s", user);
    int rc = ecom_cart_add(s, cart, "p0-1", 1, "USD");
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = token;
    ecom_order *o = NULL;
    if (rc == ECOM_OK)
        rc = ecom_checkout(&o, s, &r, key);
    if (o)
        snprintf(id, ECOM_ID_MAX + 1, "%s", ecom_order_id(o));
    ecom_order_free(o);
    return rc == ECOM_ETIMEOUT && strcmp(token, "tok_timeout") == 0 ? ECOM_OK : rc;
}

/* An order's life after checkout: read, listed, its payments, fulfilled, shipped,
 * delivered, partly refunded; events consumed; a guest cart merged. */
static int op_order_life(ecom_store *s)
{
    char id[ECOM_ID_MAX + 1];
    int rc = buy(s, "bo", "tok_approve", "oom-life", id);
    ecom_order *o = NULL;
    if (rc == ECOM_OK)
        rc = ecom_order_get(&o, s, id);
    char *json = NULL;
    if (rc == ECOM_OK)
        rc = ecom_order_to_json(&json, o);
    ecom_free(json);
    ecom_order_free(o);
    ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
    lo.user = "bo";
    ecom_order_page *page = NULL;
    if (rc == ECOM_OK)
        rc = ecom_order_list(&page, s, &lo);
    ecom_order_page_free(page);
    ecom_payments *p = NULL;
    if (rc == ECOM_OK)
        rc = ecom_payments_list(&p, s, id);
    ecom_payments_free(p);
    if (rc == ECOM_OK)
        rc = ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING, "w", NULL);
    if (rc == ECOM_OK)
        rc = ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "w");
    if (rc == ECOM_OK)
        rc = ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_DELIVERED, "w", NULL);
    if (rc == ECOM_OK)
        rc = ecom_order_refund(s, id, ECOM_VERSION_ANY, 100, "r1", "cs", "scratched");
    ecom_events *ev = NULL;
    if (rc == ECOM_OK)
        rc = ecom_consumer_read(&ev, s, "oom", 1000);
    uint64_t last = ev && ecom_events_count(ev) ? ecom_events_seq(ev, ecom_events_count(ev) - 1)
                                                 : 0;
    ecom_events_free(ev);
    if (rc == ECOM_OK)
        rc = ecom_consumer_ack(s, "oom", last);
    if (rc == ECOM_OK)
        rc = ecom_cart_add(s, "guest:g1", "p0-1", 1, "USD");
    if (rc == ECOM_OK)
        rc = ecom_cart_merge(s, "guest:g1", "user:bo");
    ecom_cart *c = NULL;
    if (rc == ECOM_OK)
        rc = ecom_cart_get(&c, s, "user:bo");
    ecom_cart_free(c);
    return rc;
}

/* The ways an order ends besides a purchase: a paid order cancelled (refunded), an
 * answer lost then completed by a notification, a pending order cancelled (marked,
 * voided, cancelled), an abandoned one recovered by the sweep. */
static int op_order_endings(ecom_store *s)
{
    char paid[ECOM_ID_MAX + 1], noted[ECOM_ID_MAX + 1], pending[ECOM_ID_MAX + 1];
    int rc = buy(s, "cy", "tok_approve", "oom-c1", paid);
    if (rc == ECOM_OK)
        rc = ecom_order_cancel(s, paid, ECOM_VERSION_ANY, "cs", "asked");
    if (rc == ECOM_OK)
        rc = buy(s, "cy", "tok_timeout", "oom-c2", noted);
    if (rc == ECOM_OK)
        rc = ecom_payment_notify(s, noted, 1, "ch", NULL);
    if (rc == ECOM_OK)
        rc = buy(s, "cy", "tok_timeout", "oom-c3", pending);
    if (rc == ECOM_OK)
        rc = ecom_order_cancel(s, pending, ECOM_VERSION_ANY, "cs", "asked");
    if (rc == ECOM_OK)
        rc = buy(s, "cy", "tok_timeout", "oom-c4", pending);
    uint64_t recovered = 0;
    if (rc == ECOM_OK)
        rc = ecom_checkout_recover(&recovered, s, 0);
    /* An order the sweep could not finish (out of memory) is left for the next one. */
    return rc == ECOM_OK && recovered != 1 ? ECOM_ENOMEM : rc;
}

/* Search: the index built at open, a query, the same from the cache, and a change
 * followed (the cache entry it touches dropped). */
static int op_search(ecom_store *s)
{
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.manual = 1;
    ecom_search *x = NULL;
    int rc = ecom_search_open(&x, s, &o);
    if (rc != ECOM_OK && ecom_errmsg(s)[0] == '\0')
        fail_msg("search open: %d without a message", rc);
    for (int i = 0; rc == ECOM_OK && i < 2; i++) {
        ecom_search_result *r = NULL;
        rc = ecom_search_query(&r, x, "mug color:red facet:color facet:price in:stock");
        if (rc == ECOM_OK && ecom_search_result_total(r) != 1)
            rc = ECOM_ERROR;
        ecom_search_result_free(r);
    }
    if (rc == ECOM_OK)
        rc = ecom_catalog_archive(s, "p0", ECOM_VERSION_ANY);
    if (rc == ECOM_OK)
        rc = ecom_search_refresh(x, NULL);
    ecom_search_result *r = NULL;
    if (rc == ECOM_OK)
        rc = ecom_search_query(&r, x, "mug in:stock");
    if (rc == ECOM_OK && ecom_search_result_total(r) != 0)
        rc = ECOM_ERROR;
    ecom_search_result_free(r);
    ecom_search_close(x);
    return rc;
}

static char import_path[300];

static int op_import(ecom_store *s)
{
    ecom_import_options opts = ECOM_IMPORT_OPTIONS_INIT;
    opts.batch_size = 2;
    ecom_import_stats stats;
    int rc = ecom_catalog_import(&stats, s, import_path, &opts);
    return rc == ECOM_OK && stats.rejected != 1 ? ECOM_ERROR : rc;
}

static int op_check(ecom_store *s)
{
    uint64_t violations = 0;
    int rc = ecom_check(&violations, s, NULL, NULL);
    return rc == ECOM_OK && violations ? ECOM_ERROR : rc;
}

static void assert_clean(ecom_store *s)
{
    uint64_t violations = 1;
    assert_int_equal(ecom_check(&violations, s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

/* Ends an nth-allocation failure run: whether the nth allocation was made (and failed).
 * An operation may get past a failed allocation and succeed (a speculative step
 * abandoned for another way), so success does not mean the last allocation was met. */
static bool reached(long n, int rc)
{
    bool met = atomic_exchange(&test_alloc_countdown, 0) <= 0;
    if (!met && rc != ECOM_OK)
        fail_msg("allocation %ld was never made, yet the operation answered %d", n, rc);
    return met;
}

static void fail_every_allocation(operation op, const char *name)
{
    for (long n = 1;; n++) {
        ecom_store *s = open_seeded(fresh_uri());
        atomic_store(&test_alloc_countdown, n);
        int rc = op(s);
        bool met = reached(n, rc);
        if (rc != ECOM_OK && rc != ECOM_ENOMEM)
            fail_msg("%s, allocation %ld: %d (%s)", name, n, rc, ecom_errmsg(s));
        assert_clean(s);
        ecom_store_close(s);
        if (!met) {
            printf("    %s: allocations 1..%ld failed cleanly\n", name, n - 1);
            break;
        }
    }
    assert_int_equal(atomic_load(&test_alloc_live), 0);
}

static void test_store_oom__every_operation(void **state)
{
    (void)state;
    struct {
        operation op;
        const char *name;
    } ops[] = {{op_create, "create"}, {op_dup_sku, "dup_sku"}, {op_archive, "archive"},
               {op_get, "get"}, {op_list, "list"}, {op_categories, "categories"},
               {op_events, "events"}, {op_export, "export"}, {op_import, "import"},
               {op_check, "check"}, {op_reserve, "reserve"}, {op_commit, "commit"},
               {op_reservation_get, "reservation_get"}, {op_stock_get, "stock_get"},
               {op_locations, "locations"}, {op_claims, "claims"}, {op_expire, "expire"},
               {op_checkout, "checkout"}, {op_order_life, "order_life"},
               {op_order_endings, "order_endings"}, {op_search, "search"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        fail_every_allocation(ops[i].op, ops[i].name);
}

/* A checkout that ran out of memory, once its order exists, has not ended: the same key,
 * with memory back, completes it (paid, charged once), never answers "out of memory"
 * again. */
static void test_store_oom__checkout_retry(void **state)
{
    (void)state;
    for (long n = 1;; n++) {
        ecom_store *s = open_seeded(fresh_uri());
        char id[ECOM_ID_MAX + 1] = "";
        atomic_store(&test_alloc_countdown, n);
        int rc = buy(s, "dee", "tok_approve", "oom-retry", id);
        bool met = reached(n, rc);
        if (rc != ECOM_OK && rc != ECOM_ENOMEM)
            fail_msg("allocation %ld: %d (%s)", n, rc, ecom_errmsg(s));
        if (rc == ECOM_ENOMEM) {
            ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
            r.cart = "user:dee";
            r.user = "dee";
            r.payment_token = "tok_approve";
            ecom_order *o = NULL;
            rc = ecom_checkout(&o, s, &r, "oom-retry");
            if (rc != ECOM_OK && !(id[0] == '\0' && rc == ECOM_EEMPTY))
                fail_msg("allocation %ld: the retry answered %d (%s)", n, rc, ecom_errmsg(s));
            if (rc == ECOM_OK) {
                if (id[0] && strcmp(ecom_order_id(o), id) != 0)
                    fail_msg("allocation %ld: the retry made order '%s', not '%s'", n,
                             ecom_order_id(o), id);
                assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
                assert_int_equal(test_payments_of(s, ecom_order_id(o), "charge"), 1);
            }
            ecom_order_free(o);
        }
        assert_clean(s);
        ecom_store_close(s);
        if (!met)
            break;
    }
    assert_int_equal(atomic_load(&test_alloc_live), 0);
}

/* ---- an order's steps, retried after each allocation failure ---- */

typedef int (*order_step)(ecom_store *s, const char *id);
typedef void (*order_check)(ecom_store *s, const char *id);

/* For n = 1, 2, ...: an order bought with token, then step with the nth allocation
 * failing; a step that ran out of memory, retried with memory back, must complete (its
 * keys make the retry carry on, never act twice), and verify then holds. */
static void retry_after_every_failure(const char *token, order_step step, order_check verify,
                                      const char *name)
{
    for (long n = 1;; n++) {
        ecom_store *s = open_seeded(fresh_uri());
        char id[ECOM_ID_MAX + 1] = "";
        assert_int_equal(buy(s, "eve", token, "oom-step", id), ECOM_OK);
        atomic_store(&test_alloc_countdown, n);
        int rc = step(s, id);
        bool met = reached(n, rc);
        if (rc != ECOM_OK && rc != ECOM_ENOMEM && rc != ECOM_EBUSY)
            fail_msg("%s, allocation %ld: %d (%s)", name, n, rc, ecom_errmsg(s));
        if (rc != ECOM_OK && (rc = step(s, id)) != ECOM_OK)
            fail_msg("%s, allocation %ld: the retry answered %d (%s)", name, n, rc,
                     ecom_errmsg(s));
        verify(s, id);
        assert_clean(s);
        ecom_store_close(s);
        if (!met) {
            printf("    %s: retried after allocations 1..%ld failed\n", name, n - 1);
            break;
        }
    }
    assert_int_equal(atomic_load(&test_alloc_live), 0);
}

static void cancelled_refunded(ecom_store *s, const char *id)
{
    test_cancelled_with(s, id, "refund");
}

static void cancelled_voided(ecom_store *s, const char *id)
{
    test_cancelled_with(s, id, "void");
}

/* The retry of a checkout whose answer was lost (the key released, the order pending,
 * the money taken) carries the order on from the key. */
static int step_resume(ecom_store *s, const char *id)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:eve";
    r.user = "eve";
    r.payment_token = "tok_timeout";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "oom-step");
    if (o && strcmp(ecom_order_id(o), id) != 0)
        fail_msg("the retry answered order '%s', not '%s'", ecom_order_id(o), id);
    ecom_order_free(o);
    return rc;
}

static void test_store_oom__order_steps_retry(void **state)
{
    (void)state;
    retry_after_every_failure("tok_approve", test_step_refund, test_refunded_once, "refund");
    retry_after_every_failure("tok_approve", test_step_cancel, cancelled_refunded, "cancel paid");
    retry_after_every_failure("tok_timeout", test_step_cancel, cancelled_voided, "cancel pending");
    retry_after_every_failure("tok_timeout", test_step_notify, test_paid_once, "notify");
    retry_after_every_failure("tok_timeout", test_step_recover, test_paid_once, "recover");
    retry_after_every_failure("tok_timeout", step_resume, test_paid_once, "checkout resumed");
}

static void test_store_oom__open(void **state)
{
    (void)state;
    for (long n = 1;; n++) {
        ecom_store *s = NULL;
        atomic_store(&test_alloc_countdown, n);
        int rc = ecom_store_open(&s, fresh_uri(), NULL);
        atomic_store(&test_alloc_countdown, 0);
        if (rc != ECOM_OK && rc != ECOM_ENOMEM)
            fail_msg("open, allocation %ld: %d (%s)", n, rc, ecom_errmsg(s));
        assert_non_null(ecom_errmsg(s));
        ecom_store_close(s);
        if (rc == ECOM_OK)
            break;
    }
    assert_int_equal(atomic_load(&test_alloc_live), 0);
}

static void test_store_oom__allocator_versions(void **state)
{
    (void)state;
    ecom_allocator bad = {99, NULL, NULL, NULL, NULL};
    assert_int_equal(ecom_set_allocator(&bad), ECOM_EVERSION);
    ecom_allocator missing = {ECOM_ALLOCATOR_VERSION, NULL, NULL, NULL, NULL};
    assert_int_equal(ecom_set_allocator(&missing), ECOM_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("ECOM_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/oom-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(import_path, sizeof import_path, "%s/import.jsonl", dir);
    FILE *f = fopen(import_path, "w");
    if (f == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        fprintf(f, "{\"id\":\"i%d\",\"title\":\"T\",\"variants\":[{\"sku\":\"i%d-1\","
                   "\"prices\":{\"USD\":1}}]}\n", i, i);
    fputs("{\"id\":\"bad\"\n", f);
    fclose(f);
    return test_oom_setup(state) == ECOM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    test_oom_teardown(state);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_oom__allocator_versions),
        cmocka_unit_test(test_store_oom__checkout_retry),
        cmocka_unit_test(test_store_oom__order_steps_retry),
        cmocka_unit_test(test_store_oom__open),
        cmocka_unit_test(test_store_oom__every_operation),
    };
    return cmocka_run_group_tests_name("store_oom", tests, setup, teardown);
}
