/*
 * The ecom commands for carts: cart add, set, remove, get, clear and merge, and
 * stock limit (a SKU's purchase limit, which carts enforce). Each cart change then
 * shows the cart as 'cart get' does: text for people, or JSON with --json.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

#define CART_CURRENCY_DEFAULT "USD"

/* ---- showing a cart ---- */

/* The sum of the cart's lines; -1 if it overflows int64 (100 lines of 999 units at
 * the highest price can). */
static int cart_subtotal(const ecom_cart *cart, int64_t *subtotal)
{
    int64_t sum = 0, line;
    for (size_t i = 0; i < ecom_cart_line_count(cart); i++)
        if (__builtin_mul_overflow(ecom_cart_line_quantity(cart, i),
                                   ecom_cart_line_unit_price(cart, i), &line) ||
            __builtin_add_overflow(sum, line, &sum))
            return -1;
    *subtotal = sum;
    return 0;
}

static int add_cart_lines(cJSON *obj, const ecom_cart *cart)
{
    cJSON *lines = cJSON_AddArrayToObject(obj, "lines");
    int ok = lines != NULL;
    for (size_t i = 0; ok && i < ecom_cart_line_count(cart); i++) {
        int64_t qty = ecom_cart_line_quantity(cart, i), price = ecom_cart_line_unit_price(cart, i);
        int64_t total;
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(lines, e) &&
             cJSON_AddStringToObject(e, "sku", ecom_cart_line_sku(cart, i)) &&
             cli_json_add_i64(e, "quantity", qty) == 0 &&
             cli_json_add_i64(e, "unit_price", price) == 0 &&
             (__builtin_mul_overflow(qty, price, &total)
                  ? cJSON_AddNullToObject(e, "line_total") != NULL
                  : cli_json_add_i64(e, "line_total", total) == 0);
    }
    return ok ? 0 : -1;
}

static cJSON *cart_json(const char *id, const ecom_cart *cart)
{
    int64_t subtotal = 0;
    int overflow = cart_subtotal(cart, &subtotal) != 0;
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "cart", id) &&
        cJSON_AddStringToObject(o, "currency", ecom_cart_currency(cart)) &&
        cli_json_add_i64(o, "updated_at", ecom_cart_updated_at(cart)) == 0 &&
        add_cart_lines(o, cart) == 0 &&
        (overflow ? cJSON_AddNullToObject(o, "subtotal") != NULL
                  : cli_json_add_i64(o, "subtotal", subtotal) == 0))
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void print_cart_text(const char *id, const ecom_cart *cart)
{
    size_t n = ecom_cart_line_count(cart);
    printf("cart:       %s\n", id);
    if (n == 0) {
        puts("lines:      (empty)");
        return;
    }
    const char *currency = ecom_cart_currency(cart);
    char when[40], money[48], total[48];
    cli_format_time(when, sizeof when, ecom_cart_updated_at(cart));
    printf("currency:   %s\n"
           "updated:    %s\n"
           "lines:\n",
           currency, when);
    for (size_t i = 0; i < n; i++) {
        int64_t qty = ecom_cart_line_quantity(cart, i), price = ecom_cart_line_unit_price(cart, i);
        int64_t line = 0;
        cli_format_money(money, sizeof money, price, currency);
        if (__builtin_mul_overflow(qty, price, &line))
            snprintf(total, sizeof total, "(too large)");
        else
            cli_format_money(total, sizeof total, line, currency);
        printf("  %-24s %4" PRId64 " x %16s  %18s\n", ecom_cart_line_sku(cart, i), qty, money,
               total);
    }
    int64_t subtotal = 0;
    if (cart_subtotal(cart, &subtotal) == 0)
        cli_format_money(total, sizeof total, subtotal, currency);
    else
        snprintf(total, sizeof total, "(too large)");
    printf("subtotal:   %s\n", total);
}

static int show_cart(cli *c, const char *id)
{
    ecom_cart *cart = NULL;
    int rc = ecom_cart_get(&cart, c->store, id);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = cli_print_json(cart_json(id, cart));
    else
        print_cart_text(id, cart);
    ecom_cart_free(cart);
    return rc;
}

/* After a cart write: its error, or the cart as it now stands. */
static int cart_changed(cli *c, int rc, const char *id)
{
    return rc == ECOM_OK ? show_cart(c, id) : cli_fail(c, rc);
}

/* ---- the commands ---- */

/* One body for add and set: CART SKU QTY [--currency C]. */
static int put_line(cli *c, int (*put)(ecom_store *, const char *, const char *, int64_t,
                                       const char *))
{
    const char *cart = c->args.pos[0];
    int64_t qty;
    int rc = cli_parse_i64(c->args.pos[2], "QTY", &qty);
    if (rc != CLI_OK)
        return rc;
    const char *currency = c->args.currency ? c->args.currency : CART_CURRENCY_DEFAULT;
    return cart_changed(c, put(c->store, cart, c->args.pos[1], qty, currency), cart);
}

int cmd_cart_add(cli *c)
{
    return put_line(c, ecom_cart_add);
}

int cmd_cart_set(cli *c)
{
    return put_line(c, ecom_cart_set);
}

int cmd_cart_remove(cli *c)
{
    const char *cart = c->args.pos[0];
    return cart_changed(c, ecom_cart_remove(c->store, cart, c->args.pos[1]), cart);
}

int cmd_cart_get(cli *c)
{
    return show_cart(c, c->args.pos[0]);
}

int cmd_cart_clear(cli *c)
{
    const char *cart = c->args.pos[0];
    return cart_changed(c, ecom_cart_clear(c->store, cart), cart);
}

int cmd_cart_merge(cli *c)
{
    const char *user_cart = c->args.pos[1];
    return cart_changed(c, ecom_cart_merge(c->store, c->args.pos[0], user_cart), user_cart);
}

/* ---- stock limit ---- */

int cmd_stock_limit(cli *c)
{
    const char *sku = c->args.pos[0];
    int64_t limit;
    int rc = cli_parse_i64(c->args.pos[1], "N", &limit);
    if (rc != CLI_OK)
        return rc;
    rc = ecom_stock_set_purchase_limit(c->store, sku, limit);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (!c->args.json) {
        if (limit)
            printf("purchase limit of %s: %" PRId64 " per cart and order\n", sku, limit);
        else
            printf("purchase limit of %s: none\n", sku);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (!cJSON_AddStringToObject(obj, "sku", sku) ||
                cli_json_add_i64(obj, "purchase_limit", limit) != 0)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}
