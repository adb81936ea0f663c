/*
 * The ecom commands for stock and reservations: stock get, set, adjust, safety and
 * backorder; location add and list; reserve; reservation get, commit, release and
 * extend; expire. Each prints text for people, or JSON with --json.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define RESERVE_TTL_DEFAULT_S 900

static const char *location_name(const cli *c)
{
    return c->args.location ? c->args.location : ECOM_LOCATION_DEFAULT;
}

/* ---- stock ---- */

static const char *backorder_name(ecom_backorder_policy policy)
{
    return policy == ECOM_BACKORDER_ALLOW ? "allow" : "deny";
}

static cJSON *stock_json(const char *sku, const char *location, const ecom_stock *s)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "sku", sku) &&
        cJSON_AddStringToObject(o, "location", location) &&
        cli_json_add_i64(o, "on_hand", ecom_stock_on_hand(s)) == 0 &&
        cli_json_add_i64(o, "reserved", ecom_stock_reserved(s)) == 0 &&
        cli_json_add_i64(o, "available", ecom_stock_available(s)) == 0 &&
        cli_json_add_i64(o, "safety", ecom_stock_safety(s)) == 0 &&
        cli_json_add_i64(o, "sellable", ecom_stock_sellable(s)) == 0 &&
        cJSON_AddStringToObject(o, "backorder", backorder_name(ecom_stock_backorder(s))))
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void print_stock_text(const char *sku, const char *location, const ecom_stock *s)
{
    printf("sku:        %s\n"
           "location:   %s\n"
           "on hand:    %" PRId64 "\n"
           "reserved:   %" PRId64 "\n"
           "available:  %" PRId64 "\n"
           "safety:     %" PRId64 "\n"
           "sellable:   %" PRId64 "\n"
           "backorder:  %s\n",
           sku, location, ecom_stock_on_hand(s), ecom_stock_reserved(s),
           ecom_stock_available(s), ecom_stock_safety(s), ecom_stock_sellable(s),
           backorder_name(ecom_stock_backorder(s)));
}

/* Shows the stock of the command's SKU at its location. */
static int show_stock(cli *c)
{
    const char *sku = c->args.pos[0], *location = location_name(c);
    ecom_stock *s = NULL;
    int rc = ecom_stock_get(&s, c->store, sku, c->args.location);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = cli_print_json(stock_json(sku, location, s));
    else
        print_stock_text(sku, location, s);
    ecom_stock_free(s);
    return rc;
}

/* After a stock write: its error, or the stock as it now stands. */
static int stock_changed(cli *c, int rc)
{
    return rc == ECOM_OK ? show_stock(c) : cli_fail(c, rc);
}

int cmd_stock_get(cli *c)
{
    return show_stock(c);
}

int cmd_stock_set(cli *c)
{
    int64_t n;
    int rc = cli_parse_i64(c->args.pos[1], "N", &n);
    if (rc != CLI_OK)
        return rc;
    return stock_changed(c, ecom_stock_set(c->store, c->args.pos[0], c->args.location, n,
                                           c->args.reason));
}

static int parse_adjust_kind(const char *word, ecom_adjust_kind *kind)
{
    static const struct {
        const char *name;
        ecom_adjust_kind kind;
    } kinds[] = {{"receive", ECOM_ADJUST_RECEIVE},
                 {"correct", ECOM_ADJUST_CORRECT},
                 {"damage", ECOM_ADJUST_DAMAGE},
                 {"return", ECOM_ADJUST_RETURN}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(word, kinds[i].name) == 0) {
            *kind = kinds[i].kind;
            return CLI_OK;
        }
    }
    return cli_usage_error("the kind of adjustment must be receive, correct, damage or return");
}

int cmd_stock_adjust(cli *c)
{
    ecom_adjust_kind kind = ECOM_ADJUST_RECEIVE;
    int64_t qty = 0;
    int rc = parse_adjust_kind(c->args.pos[1], &kind);
    if (rc == CLI_OK)
        rc = cli_parse_i64(c->args.pos[2], "QTY", &qty);
    if (rc != CLI_OK)
        return rc;
    return stock_changed(c, ecom_stock_adjust(c->store, c->args.pos[0], c->args.location, kind,
                                              qty, c->args.reason, c->args.reference));
}

int cmd_stock_safety(cli *c)
{
    int64_t n;
    int rc = cli_parse_i64(c->args.pos[1], "N", &n);
    if (rc != CLI_OK)
        return rc;
    return stock_changed(c, ecom_stock_set_safety(c->store, c->args.pos[0], c->args.location, n));
}

int cmd_stock_backorder(cli *c)
{
    const char *word = c->args.pos[1];
    ecom_backorder_policy policy;
    if (strcmp(word, "allow") == 0)
        policy = ECOM_BACKORDER_ALLOW;
    else if (strcmp(word, "deny") == 0)
        policy = ECOM_BACKORDER_DENY;
    else
        return cli_usage_error("the backorder policy must be allow or deny");
    return stock_changed(c, ecom_stock_set_backorder(c->store, c->args.pos[0], policy));
}

/* ---- locations ---- */

int cmd_location_add(cli *c)
{
    const char *code = c->args.pos[0];
    int rc = ecom_location_add(c->store, code, c->args.npos > 1 ? c->args.pos[1] : NULL);
    return rc == ECOM_OK ? cli_print_result(c, code, "added") : cli_fail(c, rc);
}

static int print_locations_json(const ecom_locations *l)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "locations");
    int ok = list != NULL;
    for (size_t i = 0; ok && i < ecom_locations_count(l); i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(list, e) &&
             cJSON_AddStringToObject(e, "code", ecom_locations_code(l, i)) &&
             cJSON_AddStringToObject(e, "name", ecom_locations_name(l, i));
    }
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    return cli_print_json(root);
}

int cmd_location_list(cli *c)
{
    ecom_locations *l = NULL;
    int rc = ecom_location_list(&l, c->store);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json) {
        rc = print_locations_json(l);
    } else {
        printf("%-24s %s\n", "CODE", "NAME");
        for (size_t i = 0; i < ecom_locations_count(l); i++)
            printf("%-24s %s\n", ecom_locations_code(l, i), ecom_locations_name(l, i));
    }
    ecom_locations_free(l);
    return rc;
}

/* ---- reservations ---- */

static const char *reservation_state_name(ecom_reservation_state state)
{
    switch (state) {
    case ECOM_RESERVATION_HELD:
        return "held";
    case ECOM_RESERVATION_COMMITTED:
        return "committed";
    case ECOM_RESERVATION_RELEASED:
        return "released";
    case ECOM_RESERVATION_EXPIRED:
        return "expired";
    }
    return "unknown";
}

static int add_reservation_lines(cJSON *obj, const ecom_reservation *r)
{
    cJSON *lines = cJSON_AddArrayToObject(obj, "lines");
    int ok = lines != NULL;
    for (size_t i = 0; ok && i < ecom_reservation_line_count(r); i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(lines, e) &&
             cJSON_AddStringToObject(e, "sku", ecom_reservation_line_sku(r, i)) &&
             cli_json_add_i64(e, "quantity", ecom_reservation_line_quantity(r, i)) == 0;
    }
    return ok ? 0 : -1;
}

static cJSON *reservation_json(const ecom_reservation *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "id", ecom_reservation_id(r)) &&
        cJSON_AddStringToObject(o, "location", ecom_reservation_location(r)) &&
        cJSON_AddStringToObject(o, "state",
                                reservation_state_name(ecom_reservation_get_state(r))) &&
        cli_json_add_i64(o, "created_at", ecom_reservation_created_at(r)) == 0 &&
        cli_json_add_i64(o, "expires_at", ecom_reservation_expires_at(r)) == 0 &&
        add_reservation_lines(o, r) == 0)
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void print_reservation_text(const ecom_reservation *r)
{
    char created[40], expires[40];
    cli_format_time(created, sizeof created, ecom_reservation_created_at(r));
    cli_format_time(expires, sizeof expires, ecom_reservation_expires_at(r));
    printf("id:         %s\n"
           "state:      %s\n"
           "location:   %s\n"
           "created:    %s\n"
           "expires:    %s\n"
           "lines:\n",
           ecom_reservation_id(r), reservation_state_name(ecom_reservation_get_state(r)),
           ecom_reservation_location(r), created, expires);
    for (size_t i = 0; i < ecom_reservation_line_count(r); i++)
        printf("  %-24s %" PRId64 "\n", ecom_reservation_line_sku(r, i),
               ecom_reservation_line_quantity(r, i));
}

static int show_reservation(cli *c, const char *id)
{
    ecom_reservation *r = NULL;
    int rc = ecom_reservation_get(&r, c->store, id);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = cli_print_json(reservation_json(r));
    else
        print_reservation_text(r);
    ecom_reservation_free(r);
    return rc;
}

int cmd_reserve(cli *c)
{
    if (c->args.id == NULL)
        return cli_usage_error("reserve needs --id ID");
    int64_t ttl_s = (c->args.given & OPT_TTL) ? c->args.ttl : RESERVE_TTL_DEFAULT_S, ttl_ms;
    cli_lines lines = {0};
    int rc = cli_seconds_to_ms(ttl_s, "--ttl", &ttl_ms);
    if (rc == CLI_OK)
        rc = cli_parse_lines(&lines, c->args.pos, c->args.npos);
    if (rc == CLI_OK) {
        rc = ecom_reserve(c->store, c->args.id, lines.skus, lines.quantities, lines.n,
                          c->args.location, ttl_ms);
        rc = rc == ECOM_OK ? show_reservation(c, c->args.id) : cli_fail(c, rc);
    }
    cli_free_lines(&lines);
    return rc;
}

int cmd_reservation_get(cli *c)
{
    return show_reservation(c, c->args.pos[0]);
}

int cmd_reservation_commit(cli *c)
{
    return cli_apply(c, ecom_reservation_commit, "committed");
}

int cmd_reservation_release(cli *c)
{
    return cli_apply(c, ecom_reservation_release, "released");
}

int cmd_reservation_extend(cli *c)
{
    if (!(c->args.given & OPT_TTL))
        return cli_usage_error("reservation extend needs --ttl SECONDS");
    int64_t ttl_ms;
    int rc = cli_seconds_to_ms(c->args.ttl, "--ttl", &ttl_ms);
    if (rc != CLI_OK)
        return rc;
    rc = ecom_reservation_extend(c->store, c->args.pos[0], ttl_ms);
    return rc == ECOM_OK ? show_reservation(c, c->args.pos[0]) : cli_fail(c, rc);
}

/* ---- expire ---- */

int cmd_expire(cli *c)
{
    int64_t now = (c->args.given & OPT_NOW) ? c->args.now : ecom_store_now(c->store);
    uint64_t expired = 0;
    int rc = ecom_inventory_expire(&expired, c->store, now);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (!c->args.json) {
        printf("expired %" PRIu64 "\n", expired);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (cli_json_add_u64(obj, "expired", expired) != 0 ||
                cli_json_add_i64(obj, "now", now) != 0)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}
