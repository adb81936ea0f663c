/*
 * The search handle over a real LMDB store: built from the catalog at open, caught up
 * from the event log (by refresh and by the follower thread), stock from live
 * inventory, the result cache (hits, write-through invalidation, TTL), snapshots,
 * and the errors of the public calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "support/support.h"

static int64_t now_ms = INT64_C(1700000000000);

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static void put(ecom_store *s, const char *json)
{
    ecom_product *p = NULL;
    char err[256] = "";
    assert_int_equal(ecom_product_from_json(&p, json, strlen(json), err, sizeof err), ECOM_OK);
    assert_int_equal(ecom_catalog_upsert(s, p), ECOM_OK);
    ecom_product_free(p);
}

static void receive(ecom_store *s, const char *sku, int64_t n)
{
    assert_int_equal(ecom_stock_adjust(s, sku, NULL, ECOM_ADJUST_RECEIVE, n, "in", ""), ECOM_OK);
}

static int setup(void **state)
{
    static fixture f;
    char uri[600];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "search");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = test_clock;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, uri, &opts), ECOM_OK);
    put(f.s, "{\"id\":\"hp1\",\"title\":\"Wireless Headphones\",\"brand\":\"Sony\","
             "\"category\":\"electronics/audio\",\"status\":\"active\",\"description\":"
             "\"Noise cancelling over-ear headphones\",\"variants\":[{\"sku\":\"hp1-b\","
             "\"prices\":{\"USD\":19900}}]}");
    put(f.s, "{\"id\":\"hp2\",\"title\":\"Studio Headphones\",\"brand\":\"Bose\","
             "\"category\":\"electronics/audio\",\"status\":\"active\",\"variants\":[{\"sku\":"
             "\"hp2-b\",\"prices\":{\"USD\":9900}}]}");
    put(f.s, "{\"id\":\"mug\",\"title\":\"Coffee Mug\",\"brand\":\"Acme\",\"category\":"
             "\"kitchen\",\"status\":\"active\",\"variants\":[{\"sku\":\"mug-w\",\"prices\":"
             "{\"USD\":1200}}]}");
    put(f.s, "{\"id\":\"draft\",\"title\":\"Secret Headphones\",\"brand\":\"Sony\","
             "\"status\":\"draft\",\"variants\":[{\"sku\":\"dr-1\",\"prices\":{\"USD\":100}}]}");
    receive(f.s, "hp1-b", 5);
    receive(f.s, "mug-w", 5);
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

/* A handle without a follower: the test decides when events are applied. */
static ecom_search *open_manual(ecom_store *s, int64_t ttl_ms)
{
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.manual = 1;
    o.cache_ttl_ms = ttl_ms;
    ecom_search *x = NULL;
    assert_int_equal(ecom_search_open(&x, s, &o), ECOM_OK);
    return x;
}

/* The ids a query finds, space-separated, in rank order. */
static const char *ids(ecom_search *x, const char *query, int *cached)
{
    static char out[1024];
    ecom_search_result *r = NULL;
    int rc = ecom_search_query(&r, x, query);
    if (rc != ECOM_OK)
        fail_msg("query '%s': %s", query, ecom_search_errmsg(x));
    out[0] = '\0';
    for (size_t i = 0; i < ecom_search_result_count(r); i++) {
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", ecom_search_result_id(r, i));
    }
    if (cached)
        *cached = ecom_search_result_cached(r);
    ecom_search_result_free(r);
    return out;
}

static void test_search__built_at_open(void **state)
{
    fixture *f = *state;
    ecom_search *x = open_manual(f->s, -1);
    assert_string_equal(ids(x, "headphones ", NULL), "hp1 hp2"); /* title, then brand */
    assert_string_equal(ids(x, "headphones brand:bose", NULL), "hp2");
    assert_string_equal(ids(x, "category:kitchen", NULL), "mug");
    assert_string_equal(ids(x, "secret ", NULL), ""); /* drafts are not found */
    ecom_search_status st;
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.products, 3);
    assert_int_equal(st.events_behind, 0);
    assert_true(st.applied_seq > 0 && st.applied_seq == st.head_seq);
    assert_true(st.memory_bytes > 0);
    ecom_search_close(x);
}

/* Changes reach the index through the event log: not before refresh, all after. */
static void test_search__catches_up(void **state)
{
    fixture *f = *state;
    ecom_search *x = open_manual(f->s, -1);
    put(f->s, "{\"id\":\"hp3\",\"title\":\"Bluetooth Headphones\",\"brand\":\"JBL\","
              "\"status\":\"active\",\"variants\":[{\"sku\":\"hp3-b\",\"prices\":{\"USD\":5000}}]}");
    put(f->s, "{\"id\":\"mug\",\"title\":\"Tea Mug\",\"brand\":\"Acme\",\"category\":"
              "\"kitchen\",\"status\":\"active\",\"variants\":[{\"sku\":\"mug-w\",\"prices\":"
              "{\"USD\":1200}}]}");
    assert_int_equal(ecom_catalog_delete(f->s, "hp2", ECOM_VERSION_ANY), ECOM_OK);
    now_ms += 1500;
    ecom_search_status st;
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.events_behind, 3);
    assert_true(st.ms_behind >= 1500);
    assert_string_equal(ids(x, "bluetooth ", NULL), "");
    assert_string_equal(ids(x, "coffee ", NULL), "mug");

    uint64_t applied = 0;
    assert_int_equal(ecom_search_refresh(x, &applied), ECOM_OK);
    assert_int_equal(applied, st.head_seq);
    assert_string_equal(ids(x, "bluetooth ", NULL), "hp3");
    assert_string_equal(ids(x, "coffee ", NULL), "");
    assert_string_equal(ids(x, "tea ", NULL), "mug");
    assert_string_equal(ids(x, "headphones brand:bose", NULL), "");
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.events_behind, 0);
    assert_int_equal(st.ms_behind, 0);
    assert_int_equal(st.products, 3);
    ecom_search_close(x);
}

/* With a follower thread, a change shows up without anyone asking. */
static void test_search__follower(void **state)
{
    fixture *f = *state;
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.poll_ms = 5;
    ecom_search *x = NULL;
    assert_int_equal(ecom_search_open(&x, f->s, &o), ECOM_OK);
    put(f->s, "{\"id\":\"kettle\",\"title\":\"Electric Kettle\",\"status\":\"active\","
              "\"variants\":[{\"sku\":\"ket-1\",\"prices\":{\"USD\":3000}}]}");
    uint64_t head;
    assert_int_equal(ecom_events_last_seq(&head, f->s), ECOM_OK);
    ecom_search_status st = {0};
    for (int i = 0; i < 2000 && st.applied_seq < head; i++) { /* up to 20 s */
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        nanosleep(&ten_ms, NULL);
        assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    }
    assert_int_equal(st.applied_seq, head);
    /* The cache is on: the hit must not hide the kettle either. */
    assert_string_equal(ids(x, "kettle", NULL), "kettle");
    ecom_search_close(x);
}

/* in:stock follows live inventory: a product sold out leaves, restocked comes back,
 * and a cached in:stock result goes with the change (the others stay). */
static void test_search__in_stock(void **state)
{
    fixture *f = *state;
    ecom_search *x = open_manual(f->s, 0);
    int cached;
    assert_string_equal(ids(x, "headphones in:stock", NULL), "hp1");
    assert_string_equal(ids(x, "headphones ", NULL), "hp1 hp2");
    const char *sku[] = {"hp1-b"};
    int64_t qty[] = {5};
    assert_int_equal(ecom_reserve(f->s, "r1", sku, qty, 1, NULL, 60000), ECOM_OK);
    receive(f->s, "hp2-b", 1);
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    assert_string_equal(ids(x, "headphones in:stock", &cached), "hp2");
    assert_int_equal(cached, 0);
    assert_string_equal(ids(x, "headphones ", &cached), "hp1 hp2"); /* still listed */
    assert_int_equal(cached, 1);
    ecom_search_close(x);
}

/* The same request twice: the second from the cache, equal; a change to a product the
 * request matches drops it; a change elsewhere does not. */
static void test_search__cache(void **state)
{
    fixture *f = *state;
    ecom_search *x = open_manual(f->s, 0);
    int cached = -1;
    assert_string_equal(ids(x, "headphones ", &cached), "hp1 hp2");
    assert_int_equal(cached, 0);
    /* case, accents and spacing do not make another request */
    assert_string_equal(ids(x, "  HEADPHÖNES  ", &cached), "hp1 hp2");
    assert_int_equal(cached, 1);
    /* but a trailing space does: "headphones" is also a prefix there */
    assert_string_equal(ids(x, "headphones", &cached), "hp1 hp2");
    assert_int_equal(cached, 0);
    assert_string_equal(ids(x, "mug", &cached), "mug");

    /* a change to the mug: the headphones entry stays, the mug entry goes */
    put(f->s, "{\"id\":\"mug\",\"title\":\"Big Coffee Mug\",\"brand\":\"Acme\",\"category\":"
              "\"kitchen\",\"status\":\"active\",\"variants\":[{\"sku\":\"mug-w\",\"prices\":"
              "{\"USD\":1200}}]}");
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    assert_string_equal(ids(x, "headphones ", &cached), "hp1 hp2");
    assert_int_equal(cached, 1);
    assert_string_equal(ids(x, "mug", &cached), "mug");
    assert_int_equal(cached, 0);

    /* a product that comes to match an entry drops it too */
    put(f->s, "{\"id\":\"hp0\",\"title\":\"Cheap Headphones\",\"status\":\"active\","
              "\"variants\":[{\"sku\":\"hp0-b\",\"prices\":{\"USD\":500}}]}");
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    assert_string_equal(ids(x, "headphones sort:price", &cached), "hp0 hp2 hp1");
    assert_int_equal(cached, 0);
    ecom_search_status st;
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_true(st.cache_hits >= 2);
    assert_true(st.cache_entries >= 2);

    /* an import (many changes in one round) empties the cache instead of judging
     * every entry against every product */
    for (int i = 0; i < 40; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"id\":\"bulk%d\",\"title\":\"Bulk Item\","
                 "\"status\":\"active\",\"variants\":[{\"sku\":\"bulk%d-1\","
                 "\"prices\":{\"USD\":100}}]}", i, i);
        put(f->s, json);
    }
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    assert_int_equal(ecom_search_status_get(&st, x), ECOM_OK);
    assert_int_equal(st.cache_entries, 0);
    assert_string_equal(ids(x, "headphones sort:price", &cached), "hp0 hp2 hp1");
    assert_int_equal(cached, 0);
    ecom_search_close(x);
}

/* Entries live for the TTL on the store's clock. */
static void test_search__cache_ttl(void **state)
{
    fixture *f = *state;
    ecom_search *x = open_manual(f->s, 1000);
    int cached;
    ids(x, "headphones", &cached);
    ids(x, "headphones", &cached);
    assert_int_equal(cached, 1);
    now_ms += 1001;
    ids(x, "headphones", &cached);
    assert_int_equal(cached, 0);
    ecom_search_close(x);
}

/* A snapshot reopens to the same index, and events after it are applied at open; a
 * file that is not a snapshot is ignored and the index built. */
static void test_search__snapshot(void **state)
{
    fixture *f = *state;
    char path[600], bad[620];
    snprintf(path, sizeof path, "%s/search.snap", f->dir);
    snprintf(bad, sizeof bad, "%s/bad.snap", f->dir);
    ecom_search *x = open_manual(f->s, -1);
    assert_int_equal(ecom_search_save(x, path), ECOM_OK);
    ecom_search_close(x);
    put(f->s, "{\"id\":\"hp4\",\"title\":\"Gaming Headphones\",\"status\":\"active\","
              "\"variants\":[{\"sku\":\"hp4-b\",\"prices\":{\"USD\":7000}}]}");

    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.manual = 1;
    o.snapshot = path;
    assert_int_equal(ecom_search_open(&x, f->s, &o), ECOM_OK);
    assert_string_equal(ids(x, "gaming ", NULL), "hp4");
    assert_string_equal(ids(x, "headphones brand:sony", NULL), "hp1");
    ecom_search_close(x);

    FILE *fp = fopen(bad, "wb");
    assert_non_null(fp);
    fputs("not a snapshot", fp);
    fclose(fp);
    o.snapshot = bad;
    assert_int_equal(ecom_search_open(&x, f->s, &o), ECOM_OK);
    assert_string_equal(ids(x, "gaming ", NULL), "hp4");
    ecom_search_close(x);
    remove(path);
    remove(bad);
}

/* Queries from two threads while the follower applies a stream of changes: every
 * answer is a whole one (never a half-applied product), and at the end the index and
 * the cache agree with the store. */
typedef struct reader_arg {
    ecom_search *x;
    int failures;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *a = arg;
    for (int i = 0; i < 300; i++) {
        ecom_search_result *r = NULL;
        if (ecom_search_query(&r, a->x, i % 2 ? "lamp facet:brand" : "lamp sort:price") !=
            ECOM_OK) {
            a->failures++;
            continue;
        }
        /* each lamp is in the index whole: its brand counted once per hit */
        size_t total = ecom_search_result_total(r);
        uint64_t counted = 0;
        for (size_t f = 0; f < ecom_search_result_facet_count(r); f++)
            for (size_t j = 0; j < ecom_search_result_facet_size(r, f); j++)
                counted += ecom_search_result_facet_hits(r, f, j);
        if (i % 2 && counted != total)
            a->failures++;
        ecom_search_result_free(r);
    }
    return NULL;
}

static void test_search__queries_while_following(void **state)
{
    fixture *f = *state;
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.poll_ms = 1;
    ecom_search *x = NULL;
    assert_int_equal(ecom_search_open(&x, f->s, &o), ECOM_OK);
    reader_arg args[2] = {{x, 0}, {x, 0}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, reader, &args[t]), 0);
    for (int i = 0; i < 200; i++) {
        char json[300];
        snprintf(json, sizeof json,
                 "{\"id\":\"lamp%d\",\"title\":\"Desk Lamp %d\",\"brand\":\"B%d\","
                 "\"status\":\"%s\",\"variants\":[{\"sku\":\"lamp%d-1\",\"prices\":"
                 "{\"USD\":%d}}]}",
                 i % 50, i, i % 7, i % 9 ? "active" : "archived", i % 50, 1000 + i);
        put(f->s, json);
    }
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    assert_int_equal(args[0].failures + args[1].failures, 0);
    assert_int_equal(ecom_search_refresh(x, NULL), ECOM_OK);
    /* the last write of each lamp decides: lamps whose last i is a multiple of 9 are
     * archived */
    size_t active = 0;
    for (int id = 0; id < 50; id++)
        active += (150 + id) % 9 != 0;
    ecom_search_result *r = NULL;
    assert_int_equal(ecom_search_query(&r, x, "lamp limit:100"), ECOM_OK);
    assert_int_equal(ecom_search_result_total(r), active);
    ecom_search_result_free(r);
    ecom_search_close(x);
}

static void test_search__errors(void **state)
{
    fixture *f = *state;
    ecom_search *x = NULL;
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.version = 99;
    assert_int_equal(ecom_search_open(&x, f->s, &o), ECOM_EVERSION);
    assert_null(x);
    assert_int_equal(ecom_search_open(NULL, f->s, NULL), ECOM_EINVAL);
    x = open_manual(f->s, -1);
    ecom_search_result *r = NULL;
    assert_int_equal(ecom_search_query(&r, x, "brand:\"sony"), ECOM_EQUERY);
    assert_null(r);
    assert_non_null(strstr(ecom_search_errmsg(x), "at 6"));
    assert_int_equal(ecom_search_query(&r, x, NULL), ECOM_EINVAL);
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.price_min = 500;
    req.price_max = 100;
    assert_int_equal(ecom_search_run(&r, x, &req), ECOM_EQUERY);
    assert_true(strlen(ecom_search_errmsg(x)) > 0);
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.version = 7;
    assert_int_equal(ecom_search_run(&r, x, &req), ECOM_EVERSION);
    assert_int_equal(ecom_search_save(x, "/nonexistent-dir/x.snap"), ECOM_EIO);
    assert_int_equal(ecom_search_refresh(NULL, NULL), ECOM_EINVAL);
    ecom_search_close(x);
    ecom_search_close(NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_search__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(built_at_open), T(catches_up), T(follower), T(in_stock),
        T(cache),         T(cache_ttl),  T(snapshot), T(queries_while_following),
        T(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
