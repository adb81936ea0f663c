/*
 * The ecom commands that read or write single products: product get, put,
 * delete, archive and list, and sku get. Each prints text for people, or JSON
 * with --json.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A product document larger than this is refused before parsing. */
#define PUT_MAX_BYTES (16u << 20)

/* ---- printing a product ---- */

static int print_product_json(const ecom_product *p)
{
    char *json = NULL;
    int rc = ecom_product_to_json(&json, p);
    if (rc != ECOM_OK)
        return cli_fail_msg(rc, NULL);
    puts(json);
    ecom_free(json);
    return CLI_OK;
}

static void print_options(const ecom_product *p, size_t v)
{
    size_t n = ecom_product_variant_option_count(p, v);
    for (size_t i = 0; i < n; i++)
        printf("%s%s=%s", i ? " " : "", ecom_product_variant_option_name(p, v, i),
               ecom_product_variant_option_value(p, v, i));
}

static void print_prices(const ecom_product *p, size_t v)
{
    size_t n = ecom_product_variant_price_count(p, v);
    for (size_t i = 0; i < n; i++) {
        char currency[4], money[48];
        int64_t amount = ecom_product_variant_price_at(p, v, i, currency);
        cli_format_money(money, sizeof money, amount, currency);
        printf("%s%s", i ? ", " : "", money);
    }
}

static void print_attributes(const ecom_product *p)
{
    size_t n = ecom_product_attribute_count(p);
    printf("attributes:%s\n", n ? "" : "  (none)");
    for (size_t i = 0; i < n; i++) {
        printf("  %-16s", ecom_product_attribute_name(p, i));
        size_t values = ecom_product_attribute_value_count(p, i);
        for (size_t j = 0; j < values; j++)
            printf("%s%s", j ? ", " : " ", ecom_product_attribute_value(p, i, j));
        putchar('\n');
    }
}

static void print_variants(const ecom_product *p)
{
    size_t n = ecom_product_variant_count(p);
    puts("variants:");
    for (size_t v = 0; v < n; v++) {
        printf("  %-20s ", ecom_product_variant_sku(p, v));
        print_options(p, v);
        fputs("  ", stdout);
        print_prices(p, v);
        printf("  %" PRId64 " g\n", ecom_product_variant_weight(p, v));
    }
}

static void print_product_text(const ecom_product *p)
{
    char created[40], updated[40];
    cli_format_time(created, sizeof created, ecom_product_created_at(p));
    cli_format_time(updated, sizeof updated, ecom_product_updated_at(p));
    printf("id:           %s\n"
           "title:        %s\n"
           "brand:        %s\n"
           "category:     %s\n"
           "status:       %s\n"
           "version:      %" PRIu64 "\n"
           "created:      %s\n"
           "updated:      %s\n",
           ecom_product_id(p), ecom_product_title(p), ecom_product_brand(p),
           ecom_product_category(p), cli_status_name(ecom_product_get_status(p)),
           ecom_product_version(p), created, updated);
    print_attributes(p);
    print_variants(p);
    printf("description:  %s\n", ecom_product_description(p));
}

/* ---- product get ---- */

int cmd_product_get(cli *c)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get(&p, c->store, c->args.pos[0]);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = print_product_json(p);
    else
        print_product_text(p);
    ecom_product_free(p);
    return rc;
}

/* ---- product put ---- */

/* Reads all of path ("-" or NULL: stdin) into *out (NUL-terminated). */
static int read_input(char **out, size_t *len, const char *path)
{
    int from_stdin = path == NULL || strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t used = 0, cap = 0;
    int rc = ECOM_OK;
    if (f == NULL) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        return cli_fail_msg(ECOM_EIO, msg);
    }
    for (;;) {
        if (cap - used < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *grown = cap <= PUT_MAX_BYTES + 65536 ? realloc(buf, cap) : NULL;
            if (grown == NULL) {
                rc = cli_fail_msg(ECOM_EINVAL, "the product document is too large");
                goto cleanup;
            }
            buf = grown;
        }
        size_t n = fread(buf + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = cli_fail_msg(ECOM_EIO, "reading the input failed");
        goto cleanup;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    buf = NULL;
cleanup:
    free(buf);
    if (!from_stdin)
        fclose(f);
    return rc;
}

/* Stores p the way the options ask: create, update at a version, or upsert. */
static int store_product(cli *c, ecom_product *p)
{
    if (c->args.given & OPT_UPSERT)
        return ecom_catalog_upsert(c->store, p);
    if (c->args.given & OPT_EXPECT)
        return ecom_catalog_update(c->store, p, c->args.expect_version);
    return ecom_catalog_create(c->store, p);
}

int cmd_product_put(cli *c)
{
    if ((c->args.given & OPT_EXPECT) && (c->args.given & OPT_UPSERT))
        return cli_usage_error("--expect-version and --upsert exclude each other");
    char *text = NULL, errmsg[256] = "";
    size_t len = 0;
    ecom_product *p = NULL;
    int rc = read_input(&text, &len, c->args.npos ? c->args.pos[0] : NULL);
    if (rc != CLI_OK)
        return rc;
    rc = ecom_product_from_json(&p, text, len, errmsg, sizeof errmsg);
    if (rc != ECOM_OK) {
        rc = cli_fail_msg(rc, errmsg);
        goto cleanup;
    }
    rc = store_product(c, p);
    if (rc != ECOM_OK) {
        rc = cli_fail(c, rc);
        goto cleanup;
    }
    if (c->args.json) {
        rc = print_product_json(p);
    } else {
        printf("%s %s (version %" PRIu64 ")\n",
               ecom_product_version(p) == 1 ? "created" : "updated", ecom_product_id(p),
               ecom_product_version(p));
    }
cleanup:
    ecom_product_free(p);
    free(text);
    return rc;
}

/* ---- product delete / archive ---- */

/* One body for delete and archive: they differ only in the call and the word. */
static int change_product(cli *c, int (*change)(ecom_store *, const char *, uint64_t),
                          const char *done)
{
    const char *id = c->args.pos[0];
    int rc = change(c->store, id, cli_expected_version(&c->args));
    return rc == ECOM_OK ? cli_print_result(c, id, done) : cli_fail(c, rc);
}

int cmd_product_delete(cli *c)
{
    return change_product(c, ecom_catalog_delete, "deleted");
}

int cmd_product_archive(cli *c)
{
    return change_product(c, ecom_catalog_archive, "archived");
}

/* ---- product list ---- */

static int parse_status(const char *name, int *status)
{
    static const ecom_product_status all[] = {ECOM_STATUS_DRAFT, ECOM_STATUS_ACTIVE,
                                              ECOM_STATUS_ARCHIVED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, cli_status_name(all[i])) == 0) {
            *status = (int)all[i];
            return 0;
        }
    }
    return -1;
}

static int product_json_at(char **out, const void *page, size_t i)
{
    return ecom_product_to_json(out, ecom_page_product(page, i));
}

static int print_page_json(const ecom_page *page)
{
    return cli_print_list_json("products", ecom_page_count(page), ecom_page_next_cursor(page),
                               product_json_at, page);
}

static void print_page_text(const ecom_page *page)
{
    for (size_t i = 0; i < ecom_page_count(page); i++) {
        const ecom_product *p = ecom_page_product(page, i);
        printf("%-12s %-8s %-40s %s\n", ecom_product_id(p),
               cli_status_name(ecom_product_get_status(p)), ecom_product_category(p),
               ecom_product_title(p));
    }
    const char *next = ecom_page_next_cursor(page);
    if (next)
        printf("next cursor: %s\n", next);
    else
        puts("(last page)");
}

int cmd_product_list(cli *c)
{
    ecom_list_options opts = ECOM_LIST_OPTIONS_INIT;
    if ((c->args.given & OPT_STATUS) && parse_status(c->args.status, &opts.status) != 0)
        return cli_usage_error("--status must be draft, active or archived");
    if (c->args.given & OPT_LIMIT) {
        if (c->args.limit < 1 || c->args.limit > 1000)
            return cli_usage_error("--limit must be between 1 and 1000");
        opts.limit = (size_t)c->args.limit;
    }
    opts.category = c->args.category;
    opts.cursor = c->args.cursor;
    ecom_page *page = NULL;
    int rc = ecom_catalog_list(&page, c->store, &opts);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = print_page_json(page);
    else
        print_page_text(page);
    ecom_page_free(page);
    return rc;
}

/* ---- sku get ---- */

static int print_sku_json(const char *sku, size_t v, const ecom_product *p)
{
    char *json = NULL;
    int rc = ecom_product_to_json(&json, p);
    if (rc != ECOM_OK)
        return cli_fail_msg(rc, NULL);
    cJSON *obj = cJSON_CreateObject();
    if (obj && (!cJSON_AddStringToObject(obj, "sku", sku) ||
                cli_json_add_u64(obj, "variant", v) != 0 ||
                !cJSON_AddRawToObject(obj, "product", json))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    ecom_free(json);
    return cli_print_json(obj);
}

static void print_sku_text(size_t v, const ecom_product *p)
{
    printf("sku:       %s\n"
           "product:   %s  %s\n"
           "status:    %s (version %" PRIu64 ")\n"
           "options:   ",
           ecom_product_variant_sku(p, v), ecom_product_id(p), ecom_product_title(p),
           cli_status_name(ecom_product_get_status(p)), ecom_product_version(p));
    print_options(p, v);
    fputs("\nprices:    ", stdout);
    print_prices(p, v);
    printf("\nweight:    %" PRId64 " g\n", ecom_product_variant_weight(p, v));
}

int cmd_sku_get(cli *c)
{
    ecom_product *p = NULL;
    size_t v = 0;
    int rc = ecom_catalog_get_by_sku(&p, &v, c->store, c->args.pos[0]);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = print_sku_json(c->args.pos[0], v, p);
    else
        print_sku_text(v, p);
    ecom_product_free(p);
    return rc;
}
