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
    CLI_ENDED = 7         /* already ended or expired; a flash sale outside its window */
};

/* Command options; each command accepts the ones in its mask. */
enum {
    OPT_EXPECT = 1u << 0,      /* --expect-version N */
    OPT_UPSERT = 1u << 1,      /* --upsert */
    OPT_CATEGORY = 1u << 2,    /* --category PATH */
    OPT_STATUS = 1u << 3,      /* --status S */
    OPT_LIMIT = 1u << 4,       /* --limit N */
    OPT_CURSOR = 1u << 5,      /* --cursor C */
    OPT_AFTER = 1u << 6,       /* --after SEQ */
    OPT_MAX = 1u << 7,         /* --max N */
    OPT_FOLLOW = 1u << 8,      /* --follow */
    OPT_STRICT = 1u << 9,      /* --strict */
    OPT_JSON = 1u << 10,       /* --json: every command */
    OPT_STORE = 1u << 11,      /* --store URI: every command */
    OPT_HELP = 1u << 12,       /* --help: every command */
    OPT_LOCATION = 1u << 13,   /* --location L */
    OPT_REASON = 1u << 14,     /* --reason R */
    OPT_REFERENCE = 1u << 15,  /* --reference REF */
    OPT_ID = 1u << 16,         /* --id ID */
    OPT_TTL = 1u << 17,        /* --ttl SECONDS */
    OPT_NOW = 1u << 18,        /* --now MS */
    OPT_SKU = 1u << 19,        /* --sku SKU */
    OPT_UNITS = 1u << 20,      /* --units N */
    OPT_STARTS = 1u << 21,     /* --starts-at MS */
    OPT_ENDS = 1u << 22,       /* --ends-at MS */
    OPT_USER_LIMIT = 1u << 23, /* --per-user-limit N */
    OPT_CLAIM_TTL = 1u << 24,  /* --claim-ttl SECONDS */
    OPT_ADMIT = 1u << 25,      /* --admit-per-second N */
    OPT_USER = 1u << 26,       /* --user U */
    OPT_KEY = 1u << 27,        /* --key K */
    OPT_QTY = 1u << 28         /* --qty N */
};

/* reserve takes up to 256 SKU:QTY lines, the library's limit. */
#define CLI_MAX_POSITIONAL 256

typedef struct cli_args {
    const char *store_uri;
    int json;
    unsigned given; /* OPT_* bits seen on the command line */
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
/* Converts seconds given with option opt to ms; CLI_USAGE if it overflows. */
int cli_seconds_to_ms(int64_t seconds, const char *opt, int64_t *ms);

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

#endif
