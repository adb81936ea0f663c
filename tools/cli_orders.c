/*
 * The ecom commands for checkout and what follows it: checkout; order get, list,
 * fulfil, ship, deliver, cancel and refund; payments list; notify, recover and
 * purge; consumer read, ack and position. Each prints text for people, or JSON
 * with --json (an order as ecom_order_to_json writes it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define ORDER_WHO_DEFAULT "cli"
#define RECOVER_OLDER_THAN_DEFAULT_S 300
#define CONSUMER_MAX_DEFAULT 100

/* ---- showing an order ---- */

static const char *state_name(ecom_order_state state)
{
    const char *name = ecom_order_state_name(state);
    return name ? name : "unknown";
}

/* The state named name ("paid", ...), from the library's own names. */
static int parse_state(const char *name, int *state)
{
    for (int s = 0; ecom_order_state_name((ecom_order_state)s) != NULL; s++) {
        if (strcmp(name, ecom_order_state_name((ecom_order_state)s)) == 0) {
            *state = s;
            return 0;
        }
    }
    return -1;
}

static int print_order_json(const ecom_order *o)
{
    char *json = NULL;
    int rc = ecom_order_to_json(&json, o);
    if (rc != ECOM_OK)
        return cli_fail_msg(rc, NULL);
    puts(json);
    ecom_free(json);
    return CLI_OK;
}

static void print_order_lines(const ecom_order *o)
{
    const char *currency = ecom_order_currency(o);
    printf("lines:\n  %-24s %6s %16s %8s\n", "SKU", "QTY", "UNIT PRICE", "SHIPPED");
    for (size_t i = 0; i < ecom_order_line_count(o); i++) {
        char price[48];
        cli_format_money(price, sizeof price, ecom_order_line_unit_price(o, i), currency);
        printf("  %-24s %6" PRId64 " %16s %8" PRId64 "\n", ecom_order_line_sku(o, i),
               ecom_order_line_quantity(o, i), price, ecom_order_line_shipped(o, i));
    }
}

static void print_order_totals(const ecom_order *o)
{
    static const struct {
        const char *label;
        int64_t (*get)(const ecom_order *);
    } totals[] = {{"subtotal:", ecom_order_subtotal}, {"shipping:", ecom_order_shipping},
                  {"tax:", ecom_order_tax},           {"total:", ecom_order_total},
                  {"refunded:", ecom_order_refunded}};
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        char money[48];
        cli_format_money(money, sizeof money, totals[i].get(o), ecom_order_currency(o));
        printf("%-11s %s\n", totals[i].label, money);
    }
}

static void print_order_history(const ecom_order *o)
{
    puts("history:");
    for (size_t i = 0; i < ecom_order_history_count(o); i++) {
        char when[40];
        cli_format_time(when, sizeof when, ecom_order_history_time(o, i));
        printf("  %s  %-18s %-12s %s\n", when, state_name(ecom_order_history_state(o, i)),
               ecom_order_history_who(o, i), ecom_order_history_why(o, i));
    }
}

static void print_order_text(const ecom_order *o)
{
    char created[40];
    cli_format_time(created, sizeof created, ecom_order_created_at(o));
    const char *charge = ecom_order_charge_id(o), *reason = ecom_order_reason(o);
    printf("id:         %s\n"
           "user:       %s\n"
           "state:      %s\n"
           "version:    %" PRIu64 "\n"
           "created:    %s\n",
           ecom_order_id(o), ecom_order_user(o), state_name(ecom_order_get_state(o)),
           ecom_order_version(o), created);
    if (reason && *reason)
        printf("reason:     %s\n", reason);
    print_order_lines(o);
    print_order_totals(o);
    printf("charge:     %s\n", charge && *charge ? charge : "(none)");
    print_order_history(o);
}

static int print_order(const cli *c, const ecom_order *o)
{
    if (c->args.json)
        return print_order_json(o);
    print_order_text(o);
    return CLI_OK;
}

static int show_order(cli *c, const char *id)
{
    ecom_order *o = NULL;
    int rc = ecom_order_get(&o, c->store, id);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    rc = print_order(c, o);
    ecom_order_free(o);
    return rc;
}

/* After an order write: its error, or the order as it now stands. */
static int order_changed(cli *c, int rc)
{
    return rc == ECOM_OK ? show_order(c, c->args.pos[0]) : cli_fail(c, rc);
}

static const char *who(const cli *c)
{
    return c->args.who ? c->args.who : ORDER_WHO_DEFAULT;
}

/* ---- checkout ---- */

int cmd_checkout(cli *c)
{
    const cli_args *a = &c->args;
    if (a->user == NULL || a->token == NULL || a->key == NULL)
        return cli_usage_error("checkout needs --user U, --token TOKEN and --key KEY");
    /* The buyer's own cart unless told otherwise (a guest's: --cart guest:TOKEN). */
    char user_cart[80];
    snprintf(user_cart, sizeof user_cart, "user:%.64s", a->user);
    ecom_checkout_request req = ECOM_CHECKOUT_REQUEST_INIT;
    req.cart = a->cart ? a->cart : user_cart;
    req.user = a->user;
    req.payment_token = a->token;
    req.location = a->location;
    req.claims = a->claims.items;
    req.claim_count = a->claims.n;
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, c->store, &req, a->key);
    /* A declined or timed-out payment still made an order: show it, and say why. */
    int exit_code = rc == ECOM_OK ? CLI_OK : cli_fail(c, rc);
    if (o) {
        int printed = print_order(c, o);
        if (exit_code == CLI_OK)
            exit_code = printed;
    }
    ecom_order_free(o);
    return exit_code;
}

/* ---- order get, list ---- */

int cmd_order_get(cli *c)
{
    return show_order(c, c->args.pos[0]);
}

static int order_json_at(char **out, const void *page, size_t i)
{
    return ecom_order_to_json(out, ecom_order_page_order(page, i));
}

static int print_order_page_json(const ecom_order_page *page)
{
    return cli_print_list_json("orders", ecom_order_page_count(page),
                               ecom_order_page_next_cursor(page), order_json_at, page);
}

static void print_order_page_text(const ecom_order_page *page)
{
    for (size_t i = 0; i < ecom_order_page_count(page); i++) {
        const ecom_order *o = ecom_order_page_order(page, i);
        char created[40], total[48];
        cli_format_time(created, sizeof created, ecom_order_created_at(o));
        cli_format_money(total, sizeof total, ecom_order_total(o), ecom_order_currency(o));
        printf("%-24s %-18s %18s  %-16s %s\n", ecom_order_id(o),
               state_name(ecom_order_get_state(o)), total, ecom_order_user(o), created);
    }
    const char *next = ecom_order_page_next_cursor(page);
    if (next)
        printf("next cursor: %s\n", next);
    else
        puts("(last page)");
}

int cmd_order_list(cli *c)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    if ((c->args.given & OPT_STATE) && parse_state(c->args.state, &opts.state) != 0)
        return cli_usage_error("--state must be pending_payment, paid, fulfilling, "
                               "partially_shipped, shipped, delivered, cancelled, refunded "
                               "or partially_refunded");
    if (c->args.given & OPT_LIMIT) {
        if (c->args.limit < 1 || c->args.limit > 1000)
            return cli_usage_error("--limit must be between 1 and 1000");
        opts.limit = (size_t)c->args.limit;
    }
    opts.user = c->args.user;
    opts.cursor = c->args.cursor;
    ecom_order_page *page = NULL;
    int rc = ecom_order_list(&page, c->store, &opts);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = print_order_page_json(page);
    else
        print_order_page_text(page);
    ecom_order_page_free(page);
    return rc;
}

/* ---- moving an order ---- */

/* The moves that need nothing else: fulfilling and delivered. */
static int transition(cli *c, ecom_order_state to)
{
    return order_changed(c, ecom_order_transition(c->store, c->args.pos[0],
                                                  cli_expected_version(&c->args), to, who(c),
                                                  c->args.why));
}

int cmd_order_fulfil(cli *c)
{
    return transition(c, ECOM_ORDER_FULFILLING);
}

int cmd_order_deliver(cli *c)
{
    return transition(c, ECOM_ORDER_DELIVERED);
}

int cmd_order_ship(cli *c)
{
    cli_lines lines = {0};
    int rc = cli_parse_lines(&lines, c->args.pos + 1, c->args.npos - 1);
    if (rc == CLI_OK)
        rc = order_changed(c, ecom_order_ship(c->store, c->args.pos[0],
                                              cli_expected_version(&c->args), lines.skus,
                                              lines.quantities, lines.n, who(c)));
    cli_free_lines(&lines);
    return rc;
}

int cmd_order_cancel(cli *c)
{
    return order_changed(c, ecom_order_cancel(c->store, c->args.pos[0],
                                              cli_expected_version(&c->args), who(c),
                                              c->args.why));
}

int cmd_order_refund(cli *c)
{
    if (c->args.key == NULL)
        return cli_usage_error("order refund needs --key KEY");
    int64_t amount;
    int rc = cli_parse_i64(c->args.pos[1], "AMOUNT", &amount);
    if (rc != CLI_OK)
        return rc;
    return order_changed(c, ecom_order_refund(c->store, c->args.pos[0],
                                              cli_expected_version(&c->args), amount,
                                              c->args.key, who(c), c->args.why));
}

/* ---- payments list ---- */

static cJSON *payments_json(const char *order, const ecom_payments *p)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root && cJSON_AddStringToObject(root, "order", order)
                      ? cJSON_AddArrayToObject(root, "payments")
                      : NULL;
    int ok = list != NULL;
    for (size_t i = 0; ok && i < ecom_payments_count(p); i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(list, e) &&
             cJSON_AddStringToObject(e, "charge_id", ecom_payments_charge_id(p, i)) &&
             cJSON_AddStringToObject(e, "kind", ecom_payments_kind(p, i)) &&
             cli_json_add_i64(e, "amount", ecom_payments_amount(p, i)) == 0 &&
             cJSON_AddBoolToObject(e, "approved", ecom_payments_approved(p, i) != 0);
    }
    if (ok)
        return root;
    cJSON_Delete(root);
    return NULL;
}

int cmd_payments_list(cli *c)
{
    if (c->args.order == NULL)
        return cli_usage_error("payments list needs --order ID");
    ecom_payments *p = NULL;
    int rc = ecom_payments_list(&p, c->store, c->args.order);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json) {
        rc = cli_print_json(payments_json(c->args.order, p));
    } else {
        int width = 6; /* the charge column: as wide as its widest id */
        for (size_t i = 0; i < ecom_payments_count(p); i++) {
            size_t len = strlen(ecom_payments_charge_id(p, i));
            width = len > (size_t)width ? (int)len : width;
        }
        printf("%-*s %-8s %20s  %s\n", width, "CHARGE", "KIND", "AMOUNT", "APPROVED");
        for (size_t i = 0; i < ecom_payments_count(p); i++)
            printf("%-*s %-8s %20" PRId64 "  %s\n", width, ecom_payments_charge_id(p, i),
                   ecom_payments_kind(p, i), ecom_payments_amount(p, i),
                   ecom_payments_approved(p, i) ? "yes" : "no");
    }
    ecom_payments_free(p);
    return rc;
}

/* ---- notify, recover, purge ---- */

int cmd_notify(cli *c)
{
    const char *outcome = c->args.pos[1];
    int approved;
    if (strcmp(outcome, "approved") == 0)
        approved = 1;
    else if (strcmp(outcome, "declined") == 0)
        approved = 0;
    else
        return cli_usage_error("the outcome must be approved or declined");
    return order_changed(c, ecom_payment_notify(c->store, c->args.pos[0], approved,
                                                c->args.charge, c->args.reason));
}

/* Prints "<word> N", or {"<word>":N[,"now":MS]} with --json. */
static int print_count(const cli *c, const char *word, uint64_t n, const int64_t *now)
{
    if (!c->args.json) {
        printf("%s %" PRIu64 "\n", word, n);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (cli_json_add_u64(obj, word, n) != 0 ||
                (now && cli_json_add_i64(obj, "now", *now) != 0))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}

int cmd_recover(cli *c)
{
    int64_t older_than_s = (c->args.given & OPT_OLDER) ? c->args.older_than
                                                       : RECOVER_OLDER_THAN_DEFAULT_S;
    int64_t older_than_ms;
    int rc = cli_seconds_to_ms(older_than_s, "--older-than", &older_than_ms);
    if (rc != CLI_OK)
        return rc;
    uint64_t recovered = 0;
    rc = ecom_checkout_recover(&recovered, c->store, older_than_ms);
    return rc == ECOM_OK ? print_count(c, "recovered", recovered, NULL) : cli_fail(c, rc);
}

int cmd_purge(cli *c)
{
    int64_t now = (c->args.given & OPT_NOW) ? c->args.now : ecom_store_now(c->store);
    uint64_t purged = 0;
    int rc = ecom_store_purge(&purged, c->store, now);
    return rc == ECOM_OK ? print_count(c, "purged", purged, &now) : cli_fail(c, rc);
}

/* ---- consumers ---- */

static int print_position(const cli *c, const char *name, uint64_t seq)
{
    if (!c->args.json) {
        printf("%s acknowledged up to %" PRIu64 "\n", name, seq);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (!cJSON_AddStringToObject(obj, "consumer", name) ||
                cli_json_add_u64(obj, "position", seq) != 0)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}

static int show_position(cli *c, const char *name)
{
    uint64_t seq = 0;
    int rc = ecom_consumer_position(&seq, c->store, name);
    return rc == ECOM_OK ? print_position(c, name, seq) : cli_fail(c, rc);
}

int cmd_consumer_position(cli *c)
{
    return show_position(c, c->args.pos[0]);
}

int cmd_consumer_ack(cli *c)
{
    uint64_t seq;
    int rc = cli_parse_u64(c->args.pos[1], "SEQ", &seq);
    if (rc != CLI_OK)
        return rc;
    rc = ecom_consumer_ack(c->store, c->args.pos[0], seq);
    return rc == ECOM_OK ? show_position(c, c->args.pos[0]) : cli_fail(c, rc);
}

/* {"consumer","events":[...],"last_seq"}: last_seq is the last event read, or the
 * consumer's position when there was none, so it can always be passed to ack. */
static int print_consumer_json(cli *c, const char *name, const ecom_events *ev)
{
    size_t n = ecom_events_count(ev);
    uint64_t last = n ? ecom_events_seq(ev, n - 1) : 0;
    int rc = n ? ECOM_OK : ecom_consumer_position(&last, c->store, name);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root && cJSON_AddStringToObject(root, "consumer", name)
                      ? cJSON_AddArrayToObject(root, "events")
                      : NULL;
    int ok = list != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = cJSON_AddItemToArray(list, cli_event_json(ev, i));
    if (!ok || cli_json_add_u64(root, "last_seq", last) != 0) {
        cJSON_Delete(root);
        root = NULL;
    }
    return cli_print_json(root);
}

int cmd_consumer_read(cli *c)
{
    const char *name = c->args.pos[0];
    uint64_t max = (c->args.given & OPT_MAX) ? c->args.max : CONSUMER_MAX_DEFAULT;
    ecom_events *ev = NULL;
    int rc = ecom_consumer_read(&ev, c->store, name, max > SIZE_MAX ? SIZE_MAX : (size_t)max);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json) {
        rc = print_consumer_json(c, name, ev);
    } else if (ecom_events_count(ev) == 0) {
        puts("(no unacknowledged events)");
    } else {
        for (size_t i = 0; i < ecom_events_count(ev); i++)
            cli_print_event_text(ev, i);
    }
    ecom_events_free(ev);
    return rc;
}
