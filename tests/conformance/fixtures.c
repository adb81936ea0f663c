/* Fixtures of the conformance cases: stores, products, the clean check. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "conformance.h"

static _Atomic int64_t clock_now = INT64_C(1700000000000);

int64_t conf_clock(void *ctx)
{
    (void)ctx;
    return atomic_fetch_add(&clock_now, 1);
}

void conf_clock_advance(int64_t ms)
{
    atomic_fetch_add(&clock_now, ms);
}

int64_t conf_clock_peek(void)
{
    return atomic_load(&clock_now);
}

ecom_options conf_options(void)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.clock = conf_clock;
    opts.no_sync = 1; /* durability is not what these cases measure */
    return opts;
}

ecom_store *conf_open(const char *uri)
{
    ecom_options opts = conf_options();
    return conf_open_with(uri, &opts);
}

ecom_store *conf_open_with(const char *uri, const ecom_options *opts)
{
    ecom_store *s = NULL;
    int rc = ecom_store_open(&s, uri ? uri : conf_fresh_uri(), opts);
    if (rc != ECOM_OK)
        fail_msg("open: %s", ecom_errmsg(s));
    assert_string_equal(ecom_store_backend(s), "lmdb");
    return s;
}

int conf_setup(void **state)
{
    *state = conf_open(NULL);
    return 0;
}

int conf_teardown(void **state)
{
    ecom_store_close(*state);
    return 0;
}

ecom_product *conf_product(const char *id, const char *category, const char *const *skus)
{
    ecom_product *p = NULL;
    char title[128];
    snprintf(title, sizeof title, "Product %s", id);
    assert_int_equal(ecom_product_new(&p, id), ECOM_OK);
    assert_int_equal(ecom_product_set_title(p, title), ECOM_OK);
    assert_int_equal(ecom_product_set_brand(p, "Acme"), ECOM_OK);
    assert_int_equal(ecom_product_set_category(p, category), ECOM_OK);
    assert_int_equal(ecom_product_set_status(p, ECOM_STATUS_ACTIVE), ECOM_OK);
    assert_int_equal(ecom_product_add_attribute(p, "color", "red"), ECOM_OK);
    for (size_t i = 0; skus[i]; i++) {
        size_t v;
        assert_int_equal(ecom_product_add_variant(p, skus[i], 100, &v), ECOM_OK);
        assert_int_equal(ecom_product_variant_set_price(p, v, "USD", 1999 + (int64_t)i), ECOM_OK);
    }
    return p;
}

void conf_stock(ecom_store *s, const char *sku, int64_t units)
{
    char id[80];
    snprintf(id, sizeof id, "prod-%s", sku);
    const char *skus[] = {sku, NULL};
    ecom_product *p = conf_product(id, "stocked", skus);
    int rc = ecom_catalog_create(s, p);
    ecom_product_free(p);
    if (rc != ECOM_OK)
        fail_msg("create %s: %s", id, ecom_errmsg(s));
    rc = ecom_stock_adjust(s, sku, NULL, ECOM_ADJUST_RECEIVE, units, "initial", "po-1");
    if (rc != ECOM_OK)
        fail_msg("receive %s: %s", sku, ecom_errmsg(s));
}

int64_t conf_on_hand(ecom_store *s, const char *sku, int64_t *reserved)
{
    ecom_stock *st = NULL;
    int rc = ecom_stock_get(&st, s, sku, NULL);
    if (rc != ECOM_OK)
        fail_msg("stock %s: %s", sku, ecom_errmsg(s));
    int64_t on_hand = ecom_stock_on_hand(st);
    if (reserved)
        *reserved = ecom_stock_reserved(st);
    ecom_stock_free(st);
    return on_hand;
}

void conf_create(ecom_store *s, const char *id, const char *category)
{
    char sku[80];
    snprintf(sku, sizeof sku, "%s-1", id);
    const char *skus[] = {sku, NULL};
    ecom_product *p = conf_product(id, category, skus);
    int rc = ecom_catalog_create(s, p);
    if (rc != ECOM_OK)
        fail_msg("create %s: %s", id, ecom_errmsg(s));
    ecom_product_free(p);
}

static void print_violation(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "violation: %s\n", message);
}

void conf_assert_clean(ecom_store *s)
{
    uint64_t violations = 99;
    int rc = ecom_check(&violations, s, print_violation, NULL);
    if (rc != ECOM_OK)
        fail_msg("check: %s", ecom_errmsg(s));
    assert_int_equal(violations, 0);
}
