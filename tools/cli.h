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
    CLI_INVALID = 5
};

/* Command options; each command accepts the ones in its mask. */
enum {
    OPT_EXPECT = 1u << 0,   /* --expect-version N */
    OPT_UPSERT = 1u << 1,   /* --upsert */
    OPT_CATEGORY = 1u << 2, /* --category PATH */
    OPT_STATUS = 1u << 3,   /* --status S */
    OPT_LIMIT = 1u << 4,    /* --limit N */
    OPT_CURSOR = 1u << 5,   /* --cursor C */
    OPT_AFTER = 1u << 6,    /* --after SEQ */
    OPT_MAX = 1u << 7,      /* --max N */
    OPT_FOLLOW = 1u << 8,   /* --follow */
    OPT_STRICT = 1u << 9,   /* --strict */
    OPT_JSON = 1u << 10,    /* --json: every command */
    OPT_STORE = 1u << 11,   /* --store URI: every command */
    OPT_HELP = 1u << 12     /* --help: every command */
};

#define CLI_MAX_POSITIONAL 4

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

#endif
