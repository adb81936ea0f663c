/*
 * The ecom command-line tool: the command table, argument parsing, help, opening
 * the store, and the error and output helpers every command shares. The commands
 * themselves live in cli_product.c and cli_store.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EXIT_CODES_HELP                                                              \
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found,\n"                     \
    "            4 conflict (stale version, id exists, SKU taken), 5 invalid input.\n"

enum store_mode { STORE_NONE, STORE_READ, STORE_WRITE };

typedef struct cli_command {
    const char *group; /* "product" for `ecom product get`; NULL for `ecom import` */
    const char *name;
    cli_handler run;
    enum store_mode store;
    unsigned opts; /* OPT_* it accepts besides the global ones */
    size_t min_pos, max_pos;
    const char *synopsis; /* arguments, as in the usage line */
    const char *summary;
    const char *help; /* options and examples */
} cli_command;

static const cli_command commands[] = {
    {NULL, "import", cmd_import, STORE_WRITE, OPT_STRICT, 1, 1, "FILE.jsonl [--strict]",
     "import products from JSON Lines (\"-\": stdin)",
     "Upserts each line's product in atomic batches. A bad line is rejected alone and\n"
     "reported on stderr as \"line N: <reason>\"; the good lines are kept. Progress\n"
     "goes to stderr when it is a terminal. Ends with \"imported N, updated N,\n"
     "rejected N\" on stdout.\n\n"
     "  --strict   exit 5 if any line was rejected (the good lines are still kept)\n"
     "  --json     print the summary as JSON, with the first 1000 rejections\n\n"
     "Example: ecom --store lmdb:./var/store import catalog.jsonl\n"},
    {NULL, "export", cmd_export, STORE_READ, 0, 0, 0, "",
     "write every product as JSON Lines to stdout",
     "Reads one consistent snapshot; the output imports back unchanged.\n\n"
     "Example: ecom export > backup.jsonl\n"},
    {"product", "get", cmd_product_get, STORE_READ, 0, 1, 1, "ID",
     "show a product",
     "  --json   print the product as JSON (with version and timestamps)\n\n"
     "Example: ecom product get p0000042 --json\n"},
    {"product", "put", cmd_product_put, STORE_WRITE, OPT_EXPECT | OPT_UPSERT, 0, 1,
     "[FILE|-] [--expect-version N | --upsert]",
     "create or update a product from JSON",
     "Without options the product is created and must not exist yet (exit 4 if it\n"
     "does).\n\n"
     "  --expect-version N   update the product only if its stored version is N\n"
     "                       (exit 4 if it changed since, 3 if it does not exist)\n"
     "  --upsert             create or replace, whatever the stored version\n"
     "  --json               print the stored product as JSON\n\n"
     "Example: ecom product get p1 --json | sed 's/Old/New/' |\n"
     "         ecom product put --expect-version 3\n"},
    {"product", "delete", cmd_product_delete, STORE_WRITE, OPT_EXPECT, 1, 1,
     "ID [--expect-version N]", "delete a product and free its SKU codes",
     "  --expect-version N   delete only if the stored version is N (else exit 4)\n\n"
     "Example: ecom product delete p0000042 --expect-version 2\n"},
    {"product", "archive", cmd_product_archive, STORE_WRITE, OPT_EXPECT, 1, 1,
     "ID [--expect-version N]", "set a product's status to archived",
     "  --expect-version N   archive only if the stored version is N (else exit 4)\n\n"
     "Example: ecom product archive p0000042\n"},
    {"product", "list", cmd_product_list, STORE_READ,
     OPT_CATEGORY | OPT_STATUS | OPT_LIMIT | OPT_CURSOR, 0, 0,
     "[--category PATH] [--status S] [--limit N] [--cursor C]",
     "list products one page at a time",
     "Lists in id order, or by category then id with --category. Prints the cursor\n"
     "of the next page last; pass it back with --cursor.\n\n"
     "  --category PATH   this category and everything under it\n"
     "  --status S        draft, active or archived\n"
     "  --limit N         products per page, 1..1000 (default 100)\n"
     "  --cursor C        the next page after a previous listing\n"
     "  --json            print {\"products\":[...],\"next_cursor\":\"...\"|null}\n\n"
     "Example: ecom product list --category electronics/audio --limit 20\n"},
    {"sku", "get", cmd_sku_get, STORE_READ, 0, 1, 1, "SKU",
     "show a SKU's variant and its product",
     "  --json   print {\"sku\":...,\"variant\":N,\"product\":{...}}\n\n"
     "Example: ecom sku get p0000042-2\n"},
    {"category", "tree", cmd_category_tree, STORE_READ, 0, 0, 0, "",
     "show categories with direct and total counts",
     "  --json   print {\"categories\":[{\"path\",\"depth\",\"direct\",\"total\"}...]}\n\n"
     "Example: ecom category tree | head -20\n"},
    {"events", "tail", cmd_events_tail, STORE_READ, OPT_AFTER | OPT_MAX | OPT_FOLLOW, 0, 0,
     "[--after SEQ] [--max N] [--follow]", "show the event log",
     "Without --after, shows the newest N events; with it, the first N after SEQ.\n\n"
     "  --after SEQ   start after this sequence number\n"
     "  --max N       how many events to show first (default 10)\n"
     "  --follow      then keep printing new events (polls every 200 ms) until\n"
     "                interrupted (SIGINT or SIGTERM ends it cleanly, exit 0)\n"
     "  --json        print {\"events\":[...],\"last_seq\":N}; with --follow, one\n"
     "                JSON object per event and line\n\n"
     "Example: ecom events tail --after 1200 --follow\n"},
    {NULL, "check", cmd_check, STORE_READ, 0, 0, 0, "",
     "check consistency; exit 1 on any violation",
     "Prints each violation found, one per line.\n\n"
     "  --json   print {\"violations\":N,\"messages\":[...]}\n"},
    {NULL, "version", cmd_version, STORE_NONE, 0, 0, 0, "",
     "print the tool's and the library's versions", ""},
};

typedef enum opt_kind { KIND_FLAG, KIND_U64, KIND_STR } opt_kind;

typedef struct cli_option {
    const char *name;
    unsigned bit;
    opt_kind kind;
    size_t offset; /* where a value goes in cli_args */
} cli_option;

static const cli_option options[] = {
    {"--store", OPT_STORE, KIND_STR, offsetof(cli_args, store_uri)},
    {"--json", OPT_JSON, KIND_FLAG, 0},
    {"--help", OPT_HELP, KIND_FLAG, 0},
    {"--expect-version", OPT_EXPECT, KIND_U64, offsetof(cli_args, expect_version)},
    {"--upsert", OPT_UPSERT, KIND_FLAG, 0},
    {"--category", OPT_CATEGORY, KIND_STR, offsetof(cli_args, category)},
    {"--status", OPT_STATUS, KIND_STR, offsetof(cli_args, status)},
    {"--limit", OPT_LIMIT, KIND_U64, offsetof(cli_args, limit)},
    {"--cursor", OPT_CURSOR, KIND_STR, offsetof(cli_args, cursor)},
    {"--after", OPT_AFTER, KIND_U64, offsetof(cli_args, after)},
    {"--max", OPT_MAX, KIND_U64, offsetof(cli_args, max)},
    {"--follow", OPT_FOLLOW, KIND_FLAG, 0},
    {"--strict", OPT_STRICT, KIND_FLAG, 0},
};

#define GLOBAL_OPTS (OPT_JSON | OPT_STORE | OPT_HELP)
#define MAX_WORDS (2 + CLI_MAX_POSITIONAL)

/* The command line, split into words (command, subcommand, arguments) and options. */
typedef struct parsed {
    cli_args args;
    const char *words[MAX_WORDS];
    size_t nwords;
} parsed;

/* ---- errors ---- */

int cli_exit_code(int err)
{
    switch (err) {
    case ECOM_OK:
        return CLI_OK;
    case ECOM_ENOTFOUND:
        return CLI_NOTFOUND;
    case ECOM_EEXISTS:
    case ECOM_ECONFLICT:
    case ECOM_EDUPSKU:
        return CLI_CONFLICT;
    case ECOM_EURI:
    case ECOM_EUNSUPPORTED:
        return CLI_USAGE;
    case ECOM_EINVAL:
    case ECOM_EJSON:
    case ECOM_EUTF8:
    case ECOM_EPRICE:
    case ECOM_ECURRENCY:
    case ECOM_ETOOLONG:
    case ECOM_EBADID:
    case ECOM_EFIELD:
    case ECOM_ELIMIT:
    case ECOM_ECATEGORY:
    case ECOM_ESTATUS:
        return CLI_INVALID;
    default:
        return CLI_FAILURE;
    }
}

int cli_fail_msg(int err, const char *message)
{
    fprintf(stderr, "ecom: %s\n", message && *message ? message : ecom_strerror(err));
    return cli_exit_code(err);
}

int cli_fail(cli *c, int err)
{
    return cli_fail_msg(err, c->store ? ecom_errmsg(c->store) : NULL);
}

int cli_usage_error(const char *message)
{
    fprintf(stderr, "ecom: %s\nTry 'ecom --help'.\n", message);
    return CLI_USAGE;
}

/* ---- output ---- */

int cli_print_json(cJSON *item)
{
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (text == NULL)
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    puts(text);
    cJSON_free(text);
    return CLI_OK;
}

int cli_json_add_u64(cJSON *obj, const char *name, uint64_t value)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, value);
    return cJSON_AddRawToObject(obj, name, buf) ? 0 : -1;
}

int cli_json_add_i64(cJSON *obj, const char *name, int64_t value)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, value);
    return cJSON_AddRawToObject(obj, name, buf) ? 0 : -1;
}

void cli_format_time(char *buf, size_t size, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" PRId64 " ms", ms);
        return;
    }
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(ms % 1000));
}

/* ISO 4217 minor-unit exponents other than 2. */
static int currency_decimals(const char *currency)
{
    static const char zero[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF "
                               "XOF XPF";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    static const char four[] = "CLF UYW";
    if (strlen(currency) != 3)
        return 2;
    if (strstr(zero, currency))
        return 0;
    if (strstr(three, currency))
        return 3;
    return strstr(four, currency) ? 4 : 2;
}

void cli_format_money(char *buf, size_t size, int64_t amount, const char *currency)
{
    int decimals = currency_decimals(currency);
    int64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals == 0)
        snprintf(buf, size, "%" PRId64 " %s", amount, currency);
    else
        snprintf(buf, size, "%" PRId64 ".%0*" PRId64 " %s", amount / scale, decimals,
                 amount % scale, currency);
}

const char *cli_status_name(ecom_product_status status)
{
    switch (status) {
    case ECOM_STATUS_DRAFT:
        return "draft";
    case ECOM_STATUS_ACTIVE:
        return "active";
    case ECOM_STATUS_ARCHIVED:
        return "archived";
    }
    return "unknown";
}

/* ---- help ---- */

static void print_command_line(FILE *f, const cli_command *cmd)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s%s %s", cmd->group ? cmd->group : "",
             cmd->group ? " " : "", cmd->name, cmd->synopsis);
    /* A long synopsis gets a line of its own rather than pushing the summary off. */
    if (strlen(name) > 30)
        fprintf(f, "  %s\n  %-30s %s\n", name, "", cmd->summary);
    else
        fprintf(f, "  %-30s %s\n", name, cmd->summary);
}

static void print_tool_help(FILE *f)
{
    fputs("usage: ecom [--store URI] [--json] COMMAND [ARGS]\n\n"
          "The command-line tool of libecom: import, export, inspect and edit a store.\n\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        print_command_line(f, &commands[i]);
    fputs("\nOptions for every command:\n"
          "  --store URI   the store, e.g. lmdb:./var/store or lmdb:///srv/store\n"
          "                (default: the ECOM_STORE environment variable)\n"
          "  --json        machine-readable output\n"
          "  --help        help for the tool or for a command (ecom product --help)\n\n" EXIT_CODES_HELP,
          f);
}

static void print_group_help(FILE *f, const char *group)
{
    fprintf(f, "usage: ecom [--store URI] %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (commands[i].group && strcmp(commands[i].group, group) == 0)
            print_command_line(f, &commands[i]);
    }
    fprintf(f, "\nRun 'ecom %s SUBCOMMAND --help' for details.\n" EXIT_CODES_HELP, group);
}

static void print_command_help(FILE *f, const cli_command *cmd)
{
    fprintf(f, "usage: ecom [--store URI] [--json] %s%s%s %s\n\n%s.\n", cmd->group ? cmd->group : "",
            cmd->group ? " " : "", cmd->name, cmd->synopsis, cmd->summary);
    if (*cmd->help)
        fprintf(f, "\n%s", cmd->help);
    fputs("\n" EXIT_CODES_HELP, f);
}

/* ---- parsing ---- */

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+')
        return -1;
    *v = x;
    return 0;
}

static const cli_option *find_option(const char *arg, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(options); i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, arg, len) == 0)
            return &options[i];
    }
    return NULL;
}

/* Handles argv[*i], an option; consumes its value. Returns CLI_OK or CLI_USAGE. */
static int parse_option(parsed *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    if (strcmp(arg, "-h") == 0)
        arg = "--help";
    const cli_option *opt = find_option(arg, eq ? (size_t)(eq - arg) : strlen(arg));
    char msg[160];
    if (opt == NULL) {
        snprintf(msg, sizeof msg, "unknown option '%s'", argv[*i]);
        return cli_usage_error(msg);
    }
    p->args.given |= opt->bit;
    if (opt->kind == KIND_FLAG) {
        if (eq == NULL)
            return CLI_OK;
        snprintf(msg, sizeof msg, "%s takes no value", opt->name);
        return cli_usage_error(msg);
    }
    const char *value = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    char *field = (char *)&p->args + opt->offset;
    if (value && opt->kind == KIND_STR) {
        memcpy(field, &value, sizeof value);
        return CLI_OK;
    }
    if (value && parse_u64(value, (uint64_t *)(void *)field) == 0)
        return CLI_OK;
    snprintf(msg, sizeof msg, "%s needs %s", opt->name,
             opt->kind == KIND_U64 ? "a non-negative integer" : "a value");
    return cli_usage_error(msg);
}

static int parse_command_line(parsed *p, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != '\0') {
            int rc = parse_option(p, argc, argv, &i);
            if (rc != CLI_OK)
                return rc;
        } else if (p->nwords < MAX_WORDS) {
            p->words[p->nwords++] = arg;
        } else {
            return cli_usage_error("too many arguments");
        }
    }
    p->args.json = (p->args.given & OPT_JSON) != 0;
    return CLI_OK;
}

static int is_group(const char *word)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (commands[i].group && strcmp(commands[i].group, word) == 0)
            return 1;
    }
    return 0;
}

/* The command the words name; *used receives how many words name it. */
static const cli_command *find_command(const parsed *p, size_t *used)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        const cli_command *cmd = &commands[i];
        if (cmd->group == NULL && strcmp(cmd->name, p->words[0]) == 0) {
            *used = 1;
            return cmd;
        }
        if (cmd->group && p->nwords > 1 && strcmp(cmd->group, p->words[0]) == 0 &&
            strcmp(cmd->name, p->words[1]) == 0) {
            *used = 2;
            return cmd;
        }
    }
    return NULL;
}

/* Checks options and argument count against what cmd accepts. */
static int check_usage(const parsed *p, const cli_command *cmd, size_t npos)
{
    char msg[160];
    unsigned extra = p->args.given & ~(cmd->opts | GLOBAL_OPTS);
    for (size_t i = 0; extra && i < ARRAY_LEN(options); i++) {
        if (extra & options[i].bit) {
            snprintf(msg, sizeof msg, "%s does not take %s", cmd->name, options[i].name);
            return cli_usage_error(msg);
        }
    }
    if (npos < cmd->min_pos || npos > cmd->max_pos) {
        snprintf(msg, sizeof msg, "usage: ecom %s%s%s %s", cmd->group ? cmd->group : "",
                 cmd->group ? " " : "", cmd->name, cmd->synopsis);
        return cli_usage_error(msg);
    }
    return CLI_OK;
}

/* ---- running ---- */

static int open_store(cli *c, enum store_mode mode)
{
    const char *uri = c->args.store_uri ? c->args.store_uri : getenv("ECOM_STORE");
    if (uri == NULL || *uri == '\0')
        return cli_usage_error("no store given: pass --store URI or set ECOM_STORE");
    ecom_options opts = ECOM_OPTIONS_INIT;
    if (mode == STORE_READ) {
        /* Reading never creates: a mistyped path is an error, not a new empty store. */
        opts.create = 0;
        opts.read_only = 1;
    }
    int rc = ecom_store_open(&c->store, uri, &opts);
    if (rc != ECOM_OK) {
        rc = cli_fail(c, rc);
        ecom_store_close(c->store);
        c->store = NULL;
        return rc;
    }
    return CLI_OK;
}

static int run(const parsed *p, const cli_command *cmd, size_t used)
{
    cli c = {.args = p->args, .store = NULL};
    for (size_t i = used; i < p->nwords; i++)
        c.args.pos[c.args.npos++] = p->words[i];
    int rc = check_usage(p, cmd, c.args.npos);
    if (rc != CLI_OK)
        return rc;
    if (cmd->store != STORE_NONE && (rc = open_store(&c, cmd->store)) != CLI_OK)
        return rc;
    rc = cmd->run(&c);
    ecom_store_close(c.store);
    if (fflush(stdout) != 0 && rc == CLI_OK)
        rc = cli_fail_msg(ECOM_EIO, "writing standard output failed");
    return rc;
}

/* `ecom help X Y` is `ecom X Y --help`. */
static void rewrite_help_word(parsed *p)
{
    if (p->nwords > 0 && strcmp(p->words[0], "help") == 0) {
        memmove(p->words, p->words + 1, (p->nwords - 1) * sizeof p->words[0]);
        p->nwords--;
        p->args.given |= OPT_HELP;
    }
}

int main(int argc, char **argv)
{
    parsed p = {0};
    int rc = parse_command_line(&p, argc, argv);
    if (rc != CLI_OK)
        return rc;
    rewrite_help_word(&p);
    int help = (p.args.given & OPT_HELP) != 0;
    if (p.nwords == 0) {
        print_tool_help(help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    size_t used = 0;
    const cli_command *cmd = find_command(&p, &used);
    if (cmd == NULL && is_group(p.words[0]) && (help || p.nwords == 1)) {
        print_group_help(help ? stdout : stderr, p.words[0]);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (cmd == NULL) {
        char msg[160];
        snprintf(msg, sizeof msg, "unknown command '%s%s%s'", p.words[0],
                 is_group(p.words[0]) ? " " : "", is_group(p.words[0]) ? p.words[1] : "");
        return cli_usage_error(msg);
    }
    if (help) {
        print_command_help(stdout, cmd);
        return CLI_OK;
    }
    return run(&p, cmd, used);
}
