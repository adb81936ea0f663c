/* The catalog part of the backend contract, case by case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

static void assert_msg_has(ecom_store *s, const char *needle)
{
    const char *msg = ecom_errmsg(s);
    if (strstr(msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", msg, needle);
}

static ecom_product *get(ecom_store *s, const char *id)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get(&p, s, id);
    if (rc != ECOM_OK)
        fail_msg("get %s: %s", id, ecom_errmsg(s));
    return p;
}

static void test_catalog__create_then_get_round_trips(void **state)
{
    ecom_store *s = *state;
    const char *skus[] = {"tee-s", "tee-m", NULL};
    ecom_product *p = conf_product("tee", "apparel/tops", skus);
    assert_int_equal(ecom_product_set_description(p, "Soft cotton.\nMachine wash."), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_option(p, 0, "size", "S"), ECOM_OK);
    assert_int_equal(ecom_product_variant_set_price(p, 1, "EUR", 1850), ECOM_OK);
    assert_int_equal(ecom_catalog_create(s, p), ECOM_OK);
    assert_int_equal(ecom_product_version(p), 1);
    assert_true(ecom_product_created_at(p) >= INT64_C(1700000000000));
    assert_int_equal(ecom_product_created_at(p), ecom_product_updated_at(p));

    ecom_product *q = get(s, "tee");
    char *a = NULL, *b = NULL;
    assert_int_equal(ecom_product_to_json(&a, p), ECOM_OK);
    assert_int_equal(ecom_product_to_json(&b, q), ECOM_OK);
    assert_string_equal(a, b);
    int64_t eur = 0;
    assert_int_equal(ecom_product_variant_price(&eur, q, 1, "EUR"), ECOM_OK);
    assert_int_equal(eur, 1850);
    ecom_free(a);
    ecom_free(b);
    ecom_product_free(q);
    ecom_product_free(p);
    conf_assert_clean(s);
}

static void test_catalog__create_existing_is_eexists(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "p1", "a");
    const char *skus[] = {"other-sku", NULL};
    ecom_product *p = conf_product("p1", "a", skus);
    assert_int_equal(ecom_catalog_create(s, p), ECOM_EEXISTS);
    assert_int_equal(ecom_errcode(s), ECOM_EEXISTS);
    assert_msg_has(s, "p1");
    ecom_product_free(p);
    /* The refused write left nothing: its SKU is still free. */
    ecom_product *none = NULL;
    assert_int_equal(ecom_catalog_get_by_sku(&none, NULL, s, "other-sku"), ECOM_ENOTFOUND);
    conf_assert_clean(s);
}

static void test_catalog__update_compares_versions(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "p1", "a");
    ecom_product *p = get(s, "p1");
    assert_int_equal(ecom_product_set_title(p, "New title"), ECOM_OK);
    assert_int_equal(ecom_catalog_update(s, p, 1), ECOM_OK);
    assert_int_equal(ecom_product_version(p), 2);
    assert_true(ecom_product_updated_at(p) > ecom_product_created_at(p));
    /* A writer still holding version 1 loses. */
    assert_int_equal(ecom_catalog_update(s, p, 1), ECOM_ECONFLICT);
    assert_msg_has(s, "p1");
    assert_int_equal(ecom_catalog_update(s, p, ECOM_VERSION_ANY), ECOM_OK);
    assert_int_equal(ecom_product_version(p), 3);
    ecom_product_free(p);

    const char *skus[] = {"ghost-1", NULL};
    ecom_product *ghost = conf_product("ghost", "", skus);
    assert_int_equal(ecom_catalog_update(s, ghost, 1), ECOM_ENOTFOUND);
    assert_int_equal(ecom_catalog_upsert(s, ghost), ECOM_OK);
    assert_int_equal(ecom_product_version(ghost), 1);
    assert_int_equal(ecom_catalog_upsert(s, ghost), ECOM_OK);
    assert_int_equal(ecom_product_version(ghost), 2);
    ecom_product_free(ghost);
    conf_assert_clean(s);
}

static void test_catalog__sku_codes_are_unique_across_the_store(void **state)
{
    ecom_store *s = *state;
    const char *a_skus[] = {"shared", "a-2", NULL};
    const char *b_skus[] = {"b-1", "shared", NULL};
    ecom_product *a = conf_product("a", "x", a_skus);
    ecom_product *b = conf_product("b", "x", b_skus);
    assert_int_equal(ecom_catalog_create(s, a), ECOM_OK);
    assert_int_equal(ecom_catalog_create(s, b), ECOM_EDUPSKU);
    assert_msg_has(s, "shared");
    assert_msg_has(s, "'a'");

    /* Once a gives the code up, b may take it. */
    ecom_product *a2 = NULL;
    const char *a2_skus[] = {"a-2", NULL};
    a2 = conf_product("a", "x", a2_skus);
    assert_int_equal(ecom_catalog_update(s, a2, 1), ECOM_OK);
    assert_int_equal(ecom_catalog_create(s, b), ECOM_OK);
    size_t v = 99;
    ecom_product *owner = NULL;
    assert_int_equal(ecom_catalog_get_by_sku(&owner, &v, s, "shared"), ECOM_OK);
    assert_string_equal(ecom_product_id(owner), "b");
    assert_int_equal(v, 1);
    ecom_product_free(owner);
    ecom_product_free(a);
    ecom_product_free(a2);
    ecom_product_free(b);
    conf_assert_clean(s);
}

static void test_catalog__archive_and_delete(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "p1", "a");
    assert_int_equal(ecom_catalog_archive(s, "p1", 2), ECOM_ECONFLICT);
    assert_int_equal(ecom_catalog_archive(s, "p1", 1), ECOM_OK);
    ecom_product *p = get(s, "p1");
    assert_int_equal(ecom_product_get_status(p), ECOM_STATUS_ARCHIVED);
    assert_int_equal(ecom_product_version(p), 2);
    ecom_product_free(p);
    assert_int_equal(ecom_catalog_archive(s, "nope", ECOM_VERSION_ANY), ECOM_ENOTFOUND);

    assert_int_equal(ecom_catalog_delete(s, "p1", 1), ECOM_ECONFLICT);
    assert_int_equal(ecom_catalog_delete(s, "p1", 2), ECOM_OK);
    assert_int_equal(ecom_catalog_get(&p, s, "p1"), ECOM_ENOTFOUND);
    assert_null(p);
    assert_msg_has(s, "p1");
    assert_int_equal(ecom_catalog_get_by_sku(&p, NULL, s, "p1-1"), ECOM_ENOTFOUND);
    assert_int_equal(ecom_catalog_delete(s, "p1", ECOM_VERSION_ANY), ECOM_ENOTFOUND);
    /* Its SKU code is free again. */
    conf_create(s, "p2", "a");
    const char *skus[] = {"p1-1", NULL};
    ecom_product *reuse = conf_product("p3", "a", skus);
    assert_int_equal(ecom_catalog_create(s, reuse), ECOM_OK);
    ecom_product_free(reuse);
    conf_assert_clean(s);
}

static void test_catalog__bad_ids_are_refused(void **state)
{
    ecom_store *s = *state;
    ecom_product *p = NULL;
    char long_id[100];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(ecom_catalog_get(&p, s, long_id), ECOM_ETOOLONG);
    assert_msg_has(s, "id");
    assert_int_equal(ecom_catalog_get(&p, s, "a b"), ECOM_EBADID);
    assert_int_equal(ecom_catalog_get(&p, s, "'; DROP TABLE products; --"), ECOM_EBADID);
    int rc = ecom_catalog_get(&p, s, "");
    assert_true(rc == ECOM_EBADID || rc == ECOM_EFIELD);
    assert_int_equal(ecom_catalog_get_by_sku(&p, NULL, s, "sku\n"), ECOM_EBADID);
    assert_int_equal(ecom_catalog_delete(s, "a/b", ECOM_VERSION_ANY), ECOM_EBADID);
    assert_int_equal(ecom_catalog_get(NULL, s, "x"), ECOM_EINVAL);
    /* An invalid product never reaches the backend. */
    const char *skus[] = {"ok-1", NULL};
    p = conf_product("ok", "Bad Category", skus);
    assert_int_equal(ecom_catalog_create(s, p), ECOM_ECATEGORY);
    assert_msg_has(s, "category");
    ecom_product_free(p);
    uint64_t last = 1;
    assert_int_equal(ecom_events_last_seq(&last, s), ECOM_OK);
    assert_int_equal(last, 0);
}

/* Walks every page of a listing; returns the ids seen, comma-joined (caller frees). */
static char *walk(ecom_store *s, ecom_list_options opts, size_t *pages)
{
    size_t cap = 1 << 16, len = 0;
    char *ids = calloc(1, cap);
    char *cursor = NULL;
    *pages = 0;
    for (;;) {
        ecom_page *page = NULL;
        opts.cursor = cursor;
        int rc = ecom_catalog_list(&page, s, &opts);
        if (rc != ECOM_OK)
            fail_msg("list: %s", ecom_errmsg(s));
        (*pages)++;
        for (size_t i = 0; i < ecom_page_count(page); i++)
            len += (size_t)snprintf(ids + len, cap - len, "%s,",
                                    ecom_product_id(ecom_page_product(page, i)));
        free(cursor);
        cursor = ecom_page_next_cursor(page) ? strdup(ecom_page_next_cursor(page)) : NULL;
        ecom_page_free(page);
        if (cursor == NULL)
            return ids;
    }
}

static void test_catalog__list_pages_cover_everything_once(void **state)
{
    ecom_store *s = *state;
    char id[16], expected[4096] = "";
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "p%03d", i);
        conf_create(s, id, i % 2 ? "a/b" : "a/bc");
        strcat(expected, id);
        strcat(expected, ",");
    }
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    opts.limit = 7;
    size_t pages;
    char *ids = walk(s, opts, &pages);
    assert_string_equal(ids, expected);
    assert_int_equal(pages, 8);
    free(ids);

    /* Exactly 7 per page over 49 gives no empty trailing page. */
    assert_int_equal(ecom_catalog_delete(s, "p049", ECOM_VERSION_ANY), ECOM_OK);
    ids = walk(s, opts, &pages);
    assert_int_equal(pages, 7);
    free(ids);

    /* "a/b" is a/b and its subtree, never its sibling "a/bc". */
    opts.category = "a/b";
    ids = walk(s, opts, &pages);
    assert_string_equal(ids, "p001,p003,p005,p007,p009,p011,p013,p015,p017,p019,p021,p023,"
                             "p025,p027,p029,p031,p033,p035,p037,p039,p041,p043,p045,p047,");
    free(ids);
    opts.category = "a";
    ids = walk(s, opts, &pages);
    assert_int_equal(strlen(ids), 49 * 5);
    free(ids);
}

static void test_catalog__list_filters_by_status_and_subtree(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "a1", "home/kitchen");
    conf_create(s, "a2", "home/kitchen/knives");
    conf_create(s, "a3", "home");
    conf_create(s, "a4", "garden");
    assert_int_equal(ecom_catalog_archive(s, "a2", ECOM_VERSION_ANY), ECOM_OK);
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    size_t pages;
    opts.category = "home/kitchen";
    char *ids = walk(s, opts, &pages);
    assert_string_equal(ids, "a1,a2,");
    free(ids);
    opts.status = ECOM_STATUS_ACTIVE;
    opts.limit = 1;
    ids = walk(s, opts, &pages);
    assert_string_equal(ids, "a1,");
    free(ids);
    opts.category = NULL;
    opts.status = ECOM_STATUS_ARCHIVED;
    ids = walk(s, opts, &pages);
    assert_string_equal(ids, "a2,");
    free(ids);
}

static void test_catalog__cursor_is_stable_while_products_change(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "b", "");
    conf_create(s, "d", "");
    conf_create(s, "f", "");
    conf_create(s, "h", "");
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    opts.limit = 2;
    ecom_page *page = NULL;
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_OK);
    assert_int_equal(ecom_page_count(page), 2);
    char *cursor = strdup(ecom_page_next_cursor(page));
    ecom_page_free(page);

    /* Between pages: one seen item goes, one lands before the cursor, one after. */
    assert_int_equal(ecom_catalog_delete(s, "b", ECOM_VERSION_ANY), ECOM_OK);
    conf_create(s, "a", "");
    conf_create(s, "e", "");
    opts.cursor = cursor;
    opts.limit = 10;
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_OK);
    assert_int_equal(ecom_page_count(page), 3);
    assert_string_equal(ecom_product_id(ecom_page_product(page, 0)), "e");
    assert_string_equal(ecom_product_id(ecom_page_product(page, 1)), "f");
    assert_string_equal(ecom_product_id(ecom_page_product(page, 2)), "h");
    assert_null(ecom_page_next_cursor(page));
    ecom_page_free(page);

    /* A cursor of another kind of listing, or garbage, is refused. */
    opts.category = "x";
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_EINVAL);
    assert_msg_has(s, "cursor");
    opts.category = NULL;
    opts.cursor = "i0g";
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_EINVAL);
    opts.cursor = NULL;
    opts.limit = 5000;
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_EINVAL);
    opts.limit = 0;
    opts.status = 7;
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_ESTATUS);
    opts.status = -1;
    opts.version = 99;
    assert_int_equal(ecom_catalog_list(&page, s, &opts), ECOM_EVERSION);
    free(cursor);
}

static void test_catalog__category_tree_counts(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "k1", "home/kitchen");
    conf_create(s, "k2", "home/kitchen");
    conf_create(s, "k3", "home/kitchen/knives");
    conf_create(s, "g1", "home-garden");
    conf_create(s, "u1", "");
    ecom_categories *c = NULL;
    assert_int_equal(ecom_catalog_categories(&c, s), ECOM_OK);
    const char *paths[] = {"home", "home/kitchen", "home/kitchen/knives", "home-garden"};
    uint64_t direct[] = {0, 2, 1, 1}, total[] = {3, 3, 1, 1};
    size_t depth[] = {0, 1, 2, 0};
    assert_int_equal(ecom_categories_count(c), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(ecom_categories_path(c, i), paths[i]);
        assert_int_equal(ecom_categories_direct(c, i), direct[i]);
        assert_int_equal(ecom_categories_total(c, i), total[i]);
        assert_int_equal(ecom_categories_depth(c, i), depth[i]);
    }
    assert_null(ecom_categories_path(c, 4));
    ecom_categories_free(c);

    /* Moving and deleting products moves the counts. */
    assert_int_equal(ecom_catalog_delete(s, "k3", ECOM_VERSION_ANY), ECOM_OK);
    ecom_product *p = get(s, "g1");
    assert_int_equal(ecom_product_set_category(p, "home/kitchen"), ECOM_OK);
    assert_int_equal(ecom_catalog_update(s, p, 1), ECOM_OK);
    ecom_product_free(p);
    assert_int_equal(ecom_catalog_categories(&c, s), ECOM_OK);
    assert_int_equal(ecom_categories_count(c), 2);
    assert_int_equal(ecom_categories_direct(c, 1), 3);
    ecom_categories_free(c);
    conf_assert_clean(s);
}

static void test_catalog__events_follow_every_change(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "p1", "a");
    conf_create(s, "p2", "a");
    assert_int_equal(ecom_catalog_archive(s, "p1", 1), ECOM_OK);
    assert_int_equal(ecom_catalog_delete(s, "p2", 1), ECOM_OK);
    /* Refused writes append nothing. */
    assert_int_equal(ecom_catalog_delete(s, "p2", 1), ECOM_ENOTFOUND);

    ecom_events *e = NULL;
    assert_int_equal(ecom_events_read(&e, s, 0, 100), ECOM_OK);
    const char *types[] = {"product.created", "product.created", "product.updated",
                           "product.deleted"};
    const char *keys[] = {"p1", "p2", "p1", "p2"};
    uint64_t versions[] = {1, 1, 2, 0};
    assert_int_equal(ecom_events_count(e), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ecom_events_seq(e, i), i + 1);
        assert_string_equal(ecom_events_type(e, i), types[i]);
        assert_string_equal(ecom_events_key(e, i), keys[i]);
        assert_int_equal(ecom_events_version(e, i), versions[i]);
        assert_true(ecom_events_time(e, i) >= INT64_C(1700000000000));
        if (i)
            assert_true(ecom_events_time(e, i) > ecom_events_time(e, i - 1));
    }
    ecom_events_free(e);
    assert_int_equal(ecom_events_read(&e, s, 2, 1), ECOM_OK);
    assert_int_equal(ecom_events_count(e), 1);
    assert_int_equal(ecom_events_seq(e, 0), 3);
    ecom_events_free(e);
    assert_int_equal(ecom_events_read(&e, s, 4, 10), ECOM_OK);
    assert_int_equal(ecom_events_count(e), 0);
    ecom_events_free(e);
    assert_int_equal(ecom_events_read(&e, s, 0, 0), ECOM_EINVAL);
    uint64_t last = 0;
    assert_int_equal(ecom_events_last_seq(&last, s), ECOM_OK);
    assert_int_equal(last, 4);
}

typedef struct rejects {
    uint64_t lines[16];
    int codes[16];
    size_t count;
} rejects;

static int on_reject(void *ctx, uint64_t line, int code, const char *message)
{
    rejects *r = ctx;
    assert_non_null(message);
    assert_true(strlen(message) > 0);
    if (r->count < 16) {
        r->lines[r->count] = line;
        r->codes[r->count++] = code;
    }
    return 0;
}

static const char *write_file(const char *name, const char *text)
{
    static char path[600];
    const char *dir = getenv("ECOM_TEST_TMP");
    snprintf(path, sizeof path, "%s/%s-%ld", dir && *dir ? dir : "/tmp", name, (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

#define GOOD(id, sku) \
    "{\"id\":\"" id "\",\"title\":\"T\",\"status\":\"active\",\"category\":\"c\"," \
    "\"variants\":[{\"sku\":\"" sku "\",\"prices\":{\"USD\":100}}]}\n"

static void test_catalog__import_keeps_good_lines_and_reports_bad_ones(void **state)
{
    ecom_store *s = *state;
    const char *path = write_file(
        "import.jsonl",
        GOOD("i1", "i1-a")                                        /* 1 */
        "{\"id\":\"i2\",\"title\":\n"                             /* 2: malformed */
        GOOD("i3", "i3-a")                                        /* 3 */
        "\n"                                                      /* 4: blank */
        GOOD("i4", "i1-a")                                        /* 5: SKU of i1 */
        "{\"id\":\"i5\",\"title\":\"T\",\"variants\":[{\"sku\":\"i5-a\","
        "\"prices\":{\"USD\":-1}}]}\n"                            /* 6: negative */
        "{\"id\":\"i6\",\"title\":\"T\",\"variants\":[{\"sku\":\"i6-a\","
        "\"prices\":{\"XXX\":1}}]}\n"                             /* 7: currency */
        GOOD("i3", "i3-a")                                        /* 8: update */
        "{\"id\":\"i7\",\"title\":\"\xff\",\"variants\":[{\"sku\":\"i7-a\","
        "\"prices\":{\"USD\":1}}]}\n"                             /* 9: UTF-8 */
        GOOD("i8", "i8-a"));                                      /* 10 */
    ecom_import_options opts = ECOM_IMPORT_OPTIONS_INIT;
    rejects r = {0};
    opts.on_reject = on_reject;
    opts.ctx = &r;
    opts.batch_size = 3;
    ecom_import_stats stats;
    assert_int_equal(ecom_catalog_import(&stats, s, path, &opts), ECOM_OK);
    assert_int_equal(stats.lines, 10);
    assert_int_equal(stats.imported, 3);
    assert_int_equal(stats.updated, 1);
    assert_int_equal(stats.rejected, 5);
    uint64_t lines[] = {2, 5, 6, 7, 9};
    int codes[] = {ECOM_EJSON, ECOM_EDUPSKU, ECOM_EPRICE, ECOM_ECURRENCY, ECOM_EUTF8};
    /* Parse errors are found while reading; SKU clashes when the batch commits. */
    assert_int_equal(r.count, 5);
    for (size_t i = 0; i < 5; i++) {
        size_t j = 0;
        while (j < r.count && r.lines[j] != lines[i])
            j++;
        assert_true(j < r.count);
        assert_int_equal(r.codes[j], codes[i]);
    }
    ecom_product *p = get(s, "i3");
    assert_int_equal(ecom_product_version(p), 2);
    ecom_product_free(p);
    conf_assert_clean(s);

    assert_int_equal(ecom_catalog_import(&stats, s, "/nonexistent/file.jsonl", NULL), ECOM_EIO);
    assert_msg_has(s, "/nonexistent/file.jsonl");
}

typedef struct sink {
    char buf[8192];
    size_t len;
    int fail_after;
} sink;

static int sink_write(void *ctx, const char *data, size_t len)
{
    sink *k = ctx;
    if (k->fail_after-- == 0)
        return -1;
    assert_true(k->len + len < sizeof k->buf);
    memcpy(k->buf + k->len, data, len);
    k->len += len;
    return 0;
}

static void test_catalog__export_then_import_elsewhere_is_identity(void **state)
{
    ecom_store *s = *state;
    conf_create(s, "e1", "x/y");
    conf_create(s, "e2", "x");
    conf_create(s, "e3", "");
    sink k = {.fail_after = -1};
    uint64_t count = 0;
    assert_int_equal(ecom_catalog_export(&count, s, sink_write, &k), ECOM_OK);
    assert_int_equal(count, 3);
    k.buf[k.len] = '\0';
    const char *path = write_file("export.jsonl", k.buf);

    ecom_store *t = conf_open(NULL);
    ecom_import_stats stats;
    assert_int_equal(ecom_catalog_import(&stats, t, path, NULL), ECOM_OK);
    assert_int_equal(stats.imported, 3);
    assert_int_equal(stats.rejected, 0);
    sink k2 = {.fail_after = -1};
    assert_int_equal(ecom_catalog_export(&count, t, sink_write, &k2), ECOM_OK);
    /* Versions and timestamps are the store's own; the rest is identical. */
    assert_int_equal(count, 3);
    ecom_product *a = get(s, "e1"), *b = get(t, "e1");
    assert_string_equal(ecom_product_title(a), ecom_product_title(b));
    assert_string_equal(ecom_product_category(a), ecom_product_category(b));
    ecom_product_free(a);
    ecom_product_free(b);
    ecom_store_close(t);

    sink k3 = {.fail_after = 1};
    assert_int_equal(ecom_catalog_export(&count, s, sink_write, &k3), ECOM_EIO);
    assert_int_equal(count, 1);
}

static void test_catalog__reopen_keeps_everything(void **state)
{
    (void)state;
    char uri[512];
    snprintf(uri, sizeof uri, "%s", conf_fresh_uri());
    ecom_store *s = conf_open(uri);
    conf_create(s, "keep", "a");
    ecom_store_close(s);
    s = conf_open(uri);
    ecom_product *p = get(s, "keep");
    assert_int_equal(ecom_product_version(p), 1);
    ecom_product_free(p);
    uint64_t last = 0;
    assert_int_equal(ecom_events_last_seq(&last, s), ECOM_OK);
    assert_int_equal(last, 1);
    conf_assert_clean(s);
    ecom_store_close(s);
}

static void test_catalog__open_errors_are_clear(void **state)
{
    (void)state;
    struct {
        const char *uri;
        int code;
        const char *needle;
    } cases[] = {
        {"", ECOM_EURI, "empty"},
        {"/no/scheme", ECOM_EURI, "scheme"},
        {"1lmdb:/x", ECOM_EURI, "scheme"},
        {"ftp://x", ECOM_EUNSUPPORTED, "ftp"},
        {"postgresql://user@localhost/db", ECOM_EUNSUPPORTED, "not compiled"},
        {"lmdb://host/path", ECOM_EURI, ""},
        {"lmdb:", ECOM_EURI, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ecom_store *s = NULL;
        int rc = ecom_store_open(&s, cases[i].uri, NULL);
        if (rc != cases[i].code)
            fail_msg("%s: got %d, wanted %d (%s)", cases[i].uri, rc, cases[i].code,
                     ecom_errmsg(s));
        assert_non_null(s);
        assert_int_equal(ecom_errcode(s), cases[i].code);
        assert_non_null(strstr(ecom_errmsg(s), cases[i].needle));
        /* A store whose open failed refuses work, clearly. */
        ecom_product *p = NULL;
        assert_int_equal(ecom_catalog_get(&p, s, "x"), ECOM_EINVAL);
        assert_non_null(strstr(ecom_errmsg(s), "not open"));
        ecom_store_close(s);
    }
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.version = 42;
    ecom_store *s = NULL;
    assert_int_equal(ecom_store_open(&s, conf_fresh_uri(), &opts), ECOM_EVERSION);
    ecom_store_close(s);
    opts = (ecom_options)ECOM_OPTIONS_INIT;
    opts.create = 0;
    assert_int_equal(ecom_store_open(&s, conf_fresh_uri(), &opts), ECOM_ENOTFOUND);
    ecom_store_close(s);
    assert_int_equal(ecom_store_open(NULL, "lmdb:x", NULL), ECOM_EINVAL);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, conf_setup, conf_teardown)

int conf_run_catalog(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_catalog__create_then_get_round_trips),
        CASE(test_catalog__create_existing_is_eexists),
        CASE(test_catalog__update_compares_versions),
        CASE(test_catalog__sku_codes_are_unique_across_the_store),
        CASE(test_catalog__archive_and_delete),
        CASE(test_catalog__bad_ids_are_refused),
        CASE(test_catalog__list_pages_cover_everything_once),
        CASE(test_catalog__list_filters_by_status_and_subtree),
        CASE(test_catalog__cursor_is_stable_while_products_change),
        CASE(test_catalog__category_tree_counts),
        CASE(test_catalog__events_follow_every_change),
        CASE(test_catalog__import_keeps_good_lines_and_reports_bad_ones),
        CASE(test_catalog__export_then_import_elsewhere_is_identity),
        cmocka_unit_test(test_catalog__reopen_keeps_everything),
        cmocka_unit_test(test_catalog__open_errors_are_clear),
    };
    return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
