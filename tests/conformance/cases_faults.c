/* Backend failures at every step of every operation become clean errors. */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "conformance.h"
#include "support/support.h"

/* One operation on a store seeded with products p0..p4; returns its code. */
typedef int (*operation)(ecom_store *s);

static int op_create(ecom_store *s)
{
    const char *skus[] = {"new-1", NULL};
    ecom_product *p = conf_product("new", "a", skus);
    int rc = ecom_catalog_create(s, p);
    ecom_product_free(p);
    return rc;
}

static int op_update(ecom_store *s)
{
    const char *skus[] = {"p1-1", NULL};
    ecom_product *p = conf_product("p1", "b", skus);
    int rc = ecom_catalog_update(s, p, 1);
    ecom_product_free(p);
    return rc;
}

static int op_archive(ecom_store *s)
{
    return ecom_catalog_archive(s, "p2", ECOM_VERSION_ANY);
}

static int op_delete(ecom_store *s)
{
    return ecom_catalog_delete(s, "p3", 1);
}

static int op_get(ecom_store *s)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get(&p, s, "p0");
    assert_true((rc == ECOM_OK) == (p != NULL));
    ecom_product_free(p);
    return rc;
}

static int op_get_by_sku(ecom_store *s)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get_by_sku(&p, NULL, s, "p4-1");
    ecom_product_free(p);
    return rc;
}

static int op_list(ecom_store *s)
{
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    opts.limit = 3;
    ecom_page *page = NULL;
    int rc = ecom_catalog_list(&page, s, &opts);
    assert_true((rc == ECOM_OK) == (page != NULL));
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

static int op_import(ecom_store *s)
{
    char path[512];
    const char *dir = getenv("ECOM_TEST_TMP");
    snprintf(path, sizeof path, "%s/faults-import.jsonl", dir && *dir ? dir : "/tmp");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 5; i++)
        fprintf(f, "{\"id\":\"imp%d\",\"title\":\"T\",\"variants\":[{\"sku\":\"imp%d-1\","
                   "\"prices\":{\"USD\":1}}]}\n", i, i);
    fclose(f);
    ecom_import_options opts = ECOM_IMPORT_OPTIONS_INIT;
    opts.batch_size = 2;
    ecom_import_stats stats;
    return ecom_catalog_import(&stats, s, path, &opts);
}

static int op_check(ecom_store *s)
{
    uint64_t violations = 0;
    int rc = ecom_check(&violations, s, NULL, NULL);
    assert_int_equal(violations, 0);
    return rc;
}

static int op_reserve(ecom_store *s)
{
    const char *skus[] = {"stocked"};
    int64_t qty[] = {2};
    return ecom_reserve(s, "fresh", skus, qty, 1, NULL, 60000);
}

static int op_commit(ecom_store *s)
{
    return ecom_reservation_commit(s, "held");
}

static int op_stock(ecom_store *s)
{
    ecom_stock *st = NULL;
    int rc = ecom_stock_adjust(s, "stocked", NULL, ECOM_ADJUST_RECEIVE, 1, NULL, NULL);
    if (rc == ECOM_OK)
        rc = ecom_stock_get(&st, s, "stocked", NULL);
    ecom_stock_free(st);
    return rc;
}

static int op_claim(ecom_store *s)
{
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    int rc = ecom_flash_claim(&r, s, "sale", "ann", 1, "k");
    if (rc == ECOM_OK)
        rc = ecom_flash_poll(&r, s, r.claim_id);
    return rc;
}

static int op_expire(ecom_store *s)
{
    return ecom_inventory_expire(NULL, s, ecom_store_now(s) + 3600000);
}

static int op_cart(ecom_store *s)
{
    int rc = ecom_cart_add(s, "guest:g", "stocked", 1, "USD");
    if (rc == ECOM_OK)
        rc = ecom_cart_merge(s, "guest:g", "user:ann");
    ecom_cart *c = NULL;
    if (rc == ECOM_OK)
        rc = ecom_cart_get(&c, s, "user:ann");
    ecom_cart_free(c);
    return rc;
}

static int op_checkout(ecom_store *s)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:bob";
    r.user = "bob";
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "fault-key");
    if (rc == ECOM_OK)
        rc = ecom_order_transition(s, ecom_order_id(o), ecom_order_version(o),
                                   ECOM_ORDER_FULFILLING, "worker", NULL);
    ecom_order_free(o);
    return rc;
}

static ecom_store *seeded_store(void)
{
    ecom_store *s = conf_open(NULL);
    char id[8];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "p%d", i);
        conf_create(s, id, i % 2 ? "a" : "a/b");
    }
    conf_stock(s, "stocked", 20);
    const char *skus[] = {"stocked"};
    int64_t qty[] = {1};
    assert_int_equal(ecom_reserve(s, "held", skus, qty, 1, NULL, 60000), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "stocked";
    o.units = 5;
    assert_int_equal(ecom_flash_open(s, "sale", &o), ECOM_OK);
    assert_int_equal(ecom_cart_add(s, "user:bob", "stocked", 2, "USD"), ECOM_OK);
    return s;
}

/* Opens a search index over the store (built from the catalog, stock read for each
 * product, the log caught up) and runs a query with facets. */
static int op_search(ecom_store *s)
{
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.manual = 1;
    ecom_search *x = NULL;
    int rc = ecom_search_open(&x, s, &o);
    if (rc != ECOM_OK)
        return rc;
    /* p0..p4 and the product of the stocked SKU; only that one has stock */
    static const struct {
        const char *query;
        size_t total;
    } queries[] = {{"product facet:brand facet:category", 6}, {"product in:stock", 1}};
    for (size_t i = 0; rc == ECOM_OK && i < 2; i++) {
        ecom_search_result *r = NULL;
        rc = ecom_search_query(&r, x, queries[i].query);
        size_t total = rc == ECOM_OK ? ecom_search_result_total(r) : 0;
        ecom_search_result_free(r);
        if (rc == ECOM_OK && total != queries[i].total) {
            ecom_search_close(x);
            fail_msg("search '%s': %zu products found", queries[i].query, total);
        }
    }
    ecom_search_close(x);
    return rc;
}

/* Fails step 1, 2, 3, ... of op until it gets through; each failure must be clean. */
static void fail_every_step(operation op, const char *name)
{
    for (long step = 1;; step++) {
        ecom_store *s = seeded_store();
        conf_fault_arm(step);
        int rc = op(s);
        if (!conf_fault_disarm()) {
            if (rc != ECOM_OK)
                fail_msg("%s: step %ld was never reached, yet it answered %d '%s'", name,
                         step, rc, ecom_errmsg(s));
            conf_assert_clean(s);
            ecom_store_close(s);
            assert_true(step > 1); /* every operation touches the backend */
            return;
        }
        if (rc == ECOM_OK) { /* got past the failed step */
            conf_assert_clean(s);
            ecom_store_close(s);
            continue;
        }
        /* A fault under the payment provider's own ledger reaches checkout as the
         * provider's failure: retryable, with the same key. */
        bool provider = rc == ECOM_ETIMEOUT || rc == ECOM_EPAYMENT;
        bool injected = rc == ECOM_EBACKEND && strstr(ecom_errmsg(s), "injected") != NULL;
        if (!injected && !provider)
            fail_msg("%s, step %ld: %d '%s'", name, step, rc, ecom_errmsg(s));
        conf_assert_clean(s);
        /* Still usable after the failure. */
        assert_int_equal(op_get(s), ECOM_OK);
        ecom_store_close(s);
    }
}

static void test_faults__every_step_of_every_operation(void **state)
{
    (void)state;
    struct {
        operation op;
        const char *name;
    } ops[] = {{op_create, "create"}, {op_update, "update"}, {op_archive, "archive"},
               {op_delete, "delete"}, {op_get, "get"}, {op_get_by_sku, "get_by_sku"},
               {op_list, "list"}, {op_categories, "categories"}, {op_events, "events"},
               {op_export, "export"}, {op_import, "import"}, {op_check, "check"},
               {op_reserve, "reserve"}, {op_commit, "commit"}, {op_stock, "stock"},
               {op_claim, "claim"}, {op_expire, "expire"}, {op_cart, "cart"},
               {op_checkout, "checkout"}, {op_search, "search"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        fail_every_step(ops[i].op, ops[i].name);
}

/* What an operation run with a fault armed may answer: ECOM_OK, the injected
 * ECOM_EBACKEND, or a retryable code (a fault under the payment provider's own ledger
 * reaches the caller as the provider's failure; a sweep may leave its order, EBUSY in
 * test_step_recover). Any failure when the armed step was never reached is a finding. */
static void judge_fault(ecom_store *s, const char *name, long n, int rc, bool reached)
{
    if (rc == ECOM_OK)
        return;
    if (!reached)
        fail_msg("%s: step %ld was never reached, yet it answered %d '%s'", name, n, rc,
                 ecom_errmsg(s));
    bool injected = rc == ECOM_EBACKEND && strstr(ecom_errmsg(s), "injected") != NULL;
    bool retryable = rc == ECOM_ETIMEOUT || rc == ECOM_EPAYMENT || rc == ECOM_EBUSY;
    if (!injected && !retryable)
        fail_msg("%s, step %ld: %d '%s'", name, n, rc, ecom_errmsg(s));
}

/* A checkout stopped by a backend fault at any step is carried on by the same key once
 * the backend is healthy: the order paid (and moved on), charged once. */
static void test_faults__a_checkout_is_retried_past_every_fault(void **state)
{
    (void)state;
    for (long step = 1;; step++) {
        ecom_store *s = seeded_store();
        conf_fault_arm(step);
        int rc = op_checkout(s);
        bool reached = conf_fault_disarm();
        judge_fault(s, "checkout", step, rc, reached);
        if (rc != ECOM_OK && (rc = op_checkout(s)) != ECOM_OK)
            fail_msg("step %ld: the retry answered %d '%s'", step, rc, ecom_errmsg(s));
        ecom_order_page *page = NULL;
        ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
        lo.user = "bob";
        assert_int_equal(ecom_order_list(&page, s, &lo), ECOM_OK);
        assert_int_equal(ecom_order_page_count(page), 1);
        const ecom_order *o = ecom_order_page_order(page, 0);
        assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_FULFILLING);
        assert_int_equal(test_payments_of(s, ecom_order_id(o), "charge"), 1);
        ecom_order_page_free(page);
        conf_assert_clean(s);
        ecom_store_close(s);
        if (!reached)
            break;
    }
}

/* ---- an order's steps, retried past a fault at each of their steps ---- */

typedef int (*order_step)(ecom_store *s, const char *id);
typedef void (*order_check)(ecom_store *s, const char *id);

/* user:bob's cart bought with token under key "fault-step"; its order's id in id. */
static void buy(ecom_store *s, const char *token, char *id)
{
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:bob";
    r.user = "bob";
    r.payment_token = token;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "fault-step");
    assert_non_null(o);
    assert_int_equal(rc, strcmp(token, "tok_timeout") == 0 ? ECOM_ETIMEOUT : ECOM_OK);
    snprintf(id, ECOM_ID_MAX + 1, "%s", ecom_order_id(o));
    ecom_order_free(o);
}

/* For n = 1, 2, ...: an order bought with token, then step with the backend's nth step
 * failing; the failure must be clean, the step retried on a healthy backend must
 * complete (its keys make the retry carry on, never act twice), and verify must hold. */
static void step_past_every_fault(const char *token, order_step step, order_check verify,
                                  const char *name)
{
    for (long n = 1;; n++) {
        ecom_store *s = seeded_store();
        char id[ECOM_ID_MAX + 1];
        buy(s, token, id);
        conf_fault_arm(n);
        int rc = step(s, id);
        bool reached = conf_fault_disarm();
        judge_fault(s, name, n, rc, reached);
        if (rc != ECOM_OK && (rc = step(s, id)) != ECOM_OK)
            fail_msg("%s, step %ld: the retry answered %d '%s'", name, n, rc, ecom_errmsg(s));
        verify(s, id);
        conf_assert_clean(s);
        ecom_store_close(s);
        if (!reached)
            break;
    }
}

/* Cancelled with one `kind`, and the stock back: only the seeded holds remain. */
static void cancelled_with(ecom_store *s, const char *id, const char *kind)
{
    test_cancelled_with(s, id, kind);
    int64_t reserved;
    assert_int_equal(conf_on_hand(s, "stocked", &reserved), 20);
    assert_int_equal(reserved, 6); /* the seeded hold (1) and the flash sale (5) */
}

static void cancelled_refunded(ecom_store *s, const char *id)
{
    cancelled_with(s, id, "refund");
}

static void cancelled_voided(ecom_store *s, const char *id)
{
    cancelled_with(s, id, "void");
}

static int step_resume(ecom_store *s, const char *id)
{
    char again[ECOM_ID_MAX + 1];
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:bob";
    r.user = "bob";
    r.payment_token = "tok_timeout";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, "fault-step");
    snprintf(again, sizeof again, "%s", o ? ecom_order_id(o) : id);
    ecom_order_free(o);
    assert_string_equal(again, id);
    return rc;
}

static void test_faults__order_steps_are_retried_past_every_fault(void **state)
{
    (void)state;
    step_past_every_fault("tok_approve", test_step_refund, test_refunded_once, "refund");
    step_past_every_fault("tok_approve", test_step_cancel, cancelled_refunded, "cancel paid");
    step_past_every_fault("tok_timeout", test_step_cancel, cancelled_voided, "cancel pending");
    step_past_every_fault("tok_timeout", test_step_notify, test_paid_once, "notify");
    step_past_every_fault("tok_timeout", test_step_recover, test_paid_once, "recover");
    step_past_every_fault("tok_timeout", step_resume, test_paid_once, "checkout resumed");
}

static void test_faults__a_failed_write_leaves_no_trace(void **state)
{
    (void)state;
    ecom_store *s = seeded_store();
    uint64_t last = 0, before = 0;
    assert_int_equal(ecom_events_last_seq(&before, s), ECOM_OK);
    conf_fault_arm(1);
    assert_int_equal(op_create(s), ECOM_EBACKEND);
    ecom_product *p = NULL;
    assert_int_equal(ecom_catalog_get(&p, s, "new"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_catalog_get_by_sku(&p, NULL, s, "new-1"), ECOM_ENOTFOUND);
    conf_fault_arm(1);
    assert_int_equal(op_reserve(s), ECOM_EBACKEND);
    ecom_reservation *r = NULL;
    assert_int_equal(ecom_reservation_get(&r, s, "fresh"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_events_last_seq(&last, s), ECOM_OK);
    assert_int_equal(last, before);
    ecom_store_close(s);
}

static void test_faults__corrupt_records_are_reported_not_trusted(void **state)
{
    (void)state;
    ecom_store *s = seeded_store();
    conf_fault_corrupt(1);
    assert_int_equal(op_get(s), ECOM_ECORRUPT);
    assert_non_null(strstr(ecom_errmsg(s), "p0"));
    assert_int_equal(op_get_by_sku(s), ECOM_ECORRUPT);
    assert_int_equal(op_list(s), ECOM_ECORRUPT);
    assert_int_equal(op_export(s), ECOM_ECORRUPT);
    assert_int_equal(op_search(s), ECOM_ECORRUPT); /* no index built on damaged data */
    conf_fault_corrupt(0);
    assert_int_equal(op_get(s), ECOM_OK);
    ecom_store_close(s);
}

/* A change to a record that then reads back damaged does not hold the search follower
 * back: the product leaves the index, and comes back once it reads whole again. */
static void test_faults__search_follows_past_a_damaged_record(void **state)
{
    (void)state;
    ecom_store *s = seeded_store();
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.manual = 1;
    ecom_search *x = NULL;
    assert_int_equal(ecom_search_open(&x, s, &o), ECOM_OK);
    ecom_search_status st;
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    size_t all = st.products;
    assert_int_equal(op_update(s), ECOM_OK);
    conf_fault_corrupt(1);
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    conf_fault_corrupt(0);
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.products, all - 1);
    assert_int_equal(st.events_behind, 0);
    assert_int_equal(ecom_catalog_archive(s, "p1", ECOM_VERSION_ANY), ECOM_OK);
    assert_int_equal(op_get(s), ECOM_OK);
    const char *skus[] = {"p1-1", NULL};
    ecom_product *p = conf_product("p1", "b", skus);
    assert_int_equal(ecom_catalog_upsert(s, p), ECOM_OK);
    ecom_product_free(p);
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.products, all);
    ecom_search_close(x);
    ecom_store_close(s);
}

int conf_run_faults(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults__every_step_of_every_operation),
        cmocka_unit_test(test_faults__a_checkout_is_retried_past_every_fault),
        cmocka_unit_test(test_faults__order_steps_are_retried_past_every_fault),
        cmocka_unit_test(test_faults__a_failed_write_leaves_no_trace),
        cmocka_unit_test(test_faults__corrupt_records_are_reported_not_trusted),
        cmocka_unit_test(test_faults__search_follows_past_a_damaged_record),
    };
    return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
