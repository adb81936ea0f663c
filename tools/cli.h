/*
 * What the files of the ecom CLI share: exit codes, parsed arguments, the
 * handler signature, and the helpers for errors and output (ecom.c).
 */
#ifndef ECOM_CLI_H
#define ECOM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "ecom.h"

/* Exit codes; documented in `ecom --help` and docs/cli.md. */
enum {
    CLI_OK = 0,
    CLI_FAILURE = 1,
    CLI_USAGE = 2,
    CLI_NOTFOUND = 3,
    CLI_CONFLICT = 4,
    CLI_INVALID = 5,
    CLI_INSUFFICIENT = 6, /* not enough stock; a flash claim sold out or over its limit */
    CLI_ENDED = 7,        /* already ended or expired; a flash sale outside its window */
    CLI_DECLINED = 8,     /* the payment was declined */
    CLI_PAYMENT = 9       /* the payment provider failed or timed out: retry, same key */
};

/* Command options, one bit each (more than 32 of them); each command accepts the
 * ones in its mask. */
typedef uint64_t cli_opts;
#define OPT_BIT(n) ((cli_opts)1 << (n))
#define OPT_EXPECT     OPT_BIT(0)  /* --expect-version N */
#define OPT_UPSERT     OPT_BIT(1)  /* --upsert */
#define OPT_CATEGORY   OPT_BIT(2)  /* --category PATH */
#define OPT_STATUS     OPT_BIT(3)  /* --status S */
#define OPT_LIMIT      OPT_BIT(4)  /* --limit N */
#define OPT_CURSOR     OPT_BIT(5)  /* --cursor C */
#define OPT_AFTER      OPT_BIT(6)  /* --after SEQ */
#define OPT_MAX        OPT_BIT(7)  /* --max N */
#define OPT_FOLLOW     OPT_BIT(8)  /* --follow */
#define OPT_STRICT     OPT_BIT(9)  /* --strict */
#define OPT_JSON       OPT_BIT(10) /* --json: every command */
#define OPT_STORE      OPT_BIT(11) /* --store URI: every command */
#define OPT_HELP       OPT_BIT(12) /* --help: every command */
#define OPT_LOCATION   OPT_BIT(13) /* --location L */
#define OPT_REASON     OPT_BIT(14) /* --reason R */
#define OPT_REFERENCE  OPT_BIT(15) /* --reference REF */
#define OPT_ID         OPT_BIT(16) /* --id ID */
#define OPT_TTL        OPT_BIT(17) /* --ttl SECONDS */
#define OPT_NOW        OPT_BIT(18) /* --now MS */
#define OPT_SKU        OPT_BIT(19) /* --sku SKU */
#define OPT_UNITS      OPT_BIT(20) /* --units N */
#define OPT_STARTS     OPT_BIT(21) /* --starts-at MS */
#define OPT_ENDS       OPT_BIT(22) /* --ends-at MS */
#define OPT_USER_LIMIT OPT_BIT(23) /* --per-user-limit N */
#define OPT_CLAIM_TTL  OPT_BIT(24) /* --claim-ttl SECONDS */
#define OPT_ADMIT      OPT_BIT(25) /* --admit-per-second N */
#define OPT_USER       OPT_BIT(26) /* --user U */
#define OPT_KEY        OPT_BIT(27) /* --key K */
#define OPT_QTY        OPT_BIT(28) /* --qty N */
#define OPT_CURRENCY   OPT_BIT(29) /* --currency C */
#define OPT_CART       OPT_BIT(30) /* --cart CART */
#define OPT_TOKEN      OPT_BIT(31) /* --token TOKEN */
#define OPT_CLAIM      OPT_BIT(32) /* --claim CLAIM_ID, repeatable */
#define OPT_WHO        OPT_BIT(33) /* --who W */
#define OPT_WHY        OPT_BIT(34) /* --why T */
#define OPT_STATE      OPT_BIT(35) /* --state S */
#define OPT_ORDER      OPT_BIT(36) /* --order ID */
#define OPT_CHARGE     OPT_BIT(37) /* --charge CHARGE_ID */
#define OPT_OLDER      OPT_BIT(38) /* --older-than SECONDS */
#define OPT_SHIPPING   OPT_BIT(39) /* --shipping-fee N: every command */
#define OPT_TAX        OPT_BIT(40) /* --tax-rate-bp N: every command */
#define OPT_FACET      OPT_BIT(41) /* --facet NAME, repeatable */
#define OPT_FILTER     OPT_BIT(42) /* --filter NAME=VALUE, repeatable */
#define OPT_SORT       OPT_BIT(43) /* --sort S */

/* reserve takes up to 256 SKU:QTY lines, the library's limit. */
#define CLI_MAX_POSITIONAL 256
/* checkout takes a claim per cart line at most; the library has the final say. Also
 * bounds search's --facet and --filter, above the library's ECOM_SEARCH_FILTERS_MAX. */
#define CLI_MAX_CLAIMS ECOM_CART_LINES_MAX

/* The values of a repeatable option, in command-line order. */
typedef struct cli_list {
    const char *items[CLI_MAX_CLAIMS];
    size_t n;
} cli_list;

typedef struct cli_args {
    const char *store_uri;
    int json;
    cli_opts given; /* OPT_* bits seen on the command line */
    const char *pos[CLI_MAX_POSITIONAL];
    size_t npos;
    uint64_t expect_version;
    const char *category;
    const char *status;
    uint64_t limit;
    const char *cursor;
    uint64_t after;
    uint64_t max;
    /* inventory and flash sales; the integers are 0..INT64_MAX */
    const char *location;
    const char *reason;
    const char *reference;
    const char *id;
    int64_t ttl;
    int64_t now;
    const char *sku;
    int64_t units;
    int64_t starts_at;
    int64_t ends_at;
    int64_t per_user_limit;
    int64_t claim_ttl;
    int64_t admit_per_second;
    const char *user;
    const char *key;
    int64_t qty;
    /* carts, checkout, orders and payments */
    const char *currency;
    const char *cart;
    const char *token;
    cli_list claims;
    const char *who;
    const char *why;
    const char *state;
    const char *order;
    const char *charge;
    int64_t older_than;
    int64_t shipping_fee; /* store options, applied at open */
    int64_t tax_rate_bp;
    /* search */
    cli_list facets;
    cli_list filters;
    const char *sort;
} cli_args;

typedef struct cli {
    cli_args args;
    ecom_store *store; /* open when the command needs a store */
} cli;

/* A command's handler; returns the exit code. */
typedef int (*cli_handler)(cli *c);

/* ---- errors (ecom.c) ---- */

/* The exit code for a library error code. */
int cli_exit_code(int err);
/* Prints "ecom: <ecom_errmsg>" and returns the exit code for err. */
int cli_fail(cli *c, int err);
/* Prints "ecom: <message>" and returns the exit code for err. */
int cli_fail_msg(int err, const char *message);
/* Prints "ecom: <message>" and a pointer to --help; returns CLI_USAGE. */
int cli_usage_error(const char *message);

/* ---- parsing (ecom.c) ---- */

/* Parses a whole decimal integer, optionally negative (no '+', spaces or trailing
 * characters; overflow refused). On failure prints a usage error naming what and
 * returns CLI_USAGE. */
int cli_parse_i64(const char *s, const char *what, int64_t *v);
/* The same for a whole number that may not be negative. */
int cli_parse_u64(const char *s, const char *what, uint64_t *v);
/* Converts seconds given with option opt to ms; CLI_USAGE if it overflows. */
int cli_seconds_to_ms(int64_t seconds, const char *opt, int64_t *ms);
/* --expect-version's value, or ECOM_VERSION_ANY without it (given, it is never
   ECOM_VERSION_ANY: the parser refuses that value). */
uint64_t cli_expected_version(const cli_args *args);

/* SKU:QTY words split into parallel arrays, as ecom_reserve and ecom_order_ship take. */
typedef struct cli_lines {
    char *text; /* a copy of the words, cut at each colon */
    const char **skus;
    int64_t *quantities;
    size_t n;
} cli_lines;
/* Parses n SKU:QTY words into l (usage error on a malformed one); free it with
 * cli_free_lines whatever the result. */
int cli_parse_lines(cli_lines *l, const char *const *words, size_t n);
void cli_free_lines(cli_lines *l);

/* ---- output (ecom.c) ---- */

/* Prints item compactly on one line and frees it. NULL (out of memory) fails. */
int cli_print_json(cJSON *item);
/* Adds an exact integer member (cJSON numbers are doubles). Returns 0 or -1. */
int cli_json_add_u64(cJSON *obj, const char *name, uint64_t value);
int cli_json_add_i64(cJSON *obj, const char *name, int64_t value);
/* Formats ms since the epoch as "2024-05-01T12:00:00.123Z". */
void cli_format_time(char *buf, size_t size, int64_t ms);
/* Formats minor units in the currency's own decimals ("19.99 USD", "1999 JPY"). */
void cli_format_money(char *buf, size_t size, int64_t amount, const char *currency);
/* Prints "<result> <id>", or {"id":ID,"result":RESULT} with --json. */
int cli_print_result(const cli *c, const char *id, const char *result);
/* Runs fn on the command's first argument and prints the result as above. */
int cli_apply(cli *c, int (*fn)(ecom_store *, const char *), const char *result);
/* "draft", "active" or "archived". */
const char *cli_status_name(ecom_product_status status);

/* ---- events (cli_store.c; events tail and consumer read print them alike) ---- */

/* Event i as {"seq","time","type","key","version"}; NULL when memory ran out. */
cJSON *cli_event_json(const ecom_events *ev, size_t i);
/* Prints event i as one line of text: seq, time, type, key, version. */
void cli_print_event_text(const ecom_events *ev, size_t i);

/* ---- handlers ---- */

/* cli_product.c */
int cmd_product_get(cli *c);
int cmd_product_put(cli *c);
int cmd_product_delete(cli *c);
int cmd_product_archive(cli *c);
int cmd_product_list(cli *c);
int cmd_sku_get(cli *c);

/* cli_store.c */
int cmd_import(cli *c);
int cmd_export(cli *c);
int cmd_category_tree(cli *c);
int cmd_events_tail(cli *c);
int cmd_check(cli *c);
int cmd_version(cli *c);

/* cli_inventory.c */
int cmd_stock_get(cli *c);
int cmd_stock_set(cli *c);
int cmd_stock_adjust(cli *c);
int cmd_stock_safety(cli *c);
int cmd_stock_backorder(cli *c);
int cmd_location_add(cli *c);
int cmd_location_list(cli *c);
int cmd_reserve(cli *c);
int cmd_reservation_get(cli *c);
int cmd_reservation_commit(cli *c);
int cmd_reservation_release(cli *c);
int cmd_reservation_extend(cli *c);
int cmd_expire(cli *c);

/* cli_flash.c */
int cmd_flash_open(cli *c);
int cmd_flash_claim(cli *c);
int cmd_flash_poll(cli *c);
int cmd_flash_release(cli *c);
int cmd_flash_commit(cli *c);
int cmd_flash_status(cli *c);
int cmd_flash_close(cli *c);

/* cli_cart.c */
int cmd_cart_add(cli *c);
int cmd_cart_set(cli *c);
int cmd_cart_remove(cli *c);
int cmd_cart_get(cli *c);
int cmd_cart_clear(cli *c);
int cmd_cart_merge(cli *c);
int cmd_stock_limit(cli *c);

/* cli_orders.c */
int cmd_checkout(cli *c);
int cmd_order_get(cli *c);
int cmd_order_list(cli *c);
int cmd_order_fulfil(cli *c);
int cmd_order_ship(cli *c);
int cmd_order_deliver(cli *c);
int cmd_order_cancel(cli *c);
int cmd_order_refund(cli *c);
int cmd_payments_list(cli *c);
int cmd_notify(cli *c);
int cmd_recover(cli *c);
int cmd_purge(cli *c);
int cmd_consumer_read(cli *c);
int cmd_consumer_ack(cli *c);
int cmd_consumer_position(cli *c);

/* cli_search.c */
int cmd_search(cli *c);

/* Item i of a list as JSON text (the caller frees it with ecom_free). */
typedef int (*cli_item_json_fn)(char **out, const void *list, size_t i);

/* Prints {"<name>": [the count items], "next_cursor": next or null}: a page of a list. */
int cli_print_list_json(const char *name, size_t count, const char *next,
                        cli_item_json_fn item_json, const void *list);

#endif
