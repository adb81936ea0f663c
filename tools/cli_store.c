/*
 * The ecom commands that work on the store as a whole: import, export,
 * category tree, events tail, check and version.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- import ---- */

/* --json keeps this many rejections in the summary; stderr gets them all. */
#define IMPORT_JSON_REJECTIONS 1000

typedef struct import_ctx {
    int progress;         /* stderr is a terminal: show progress */
    int progress_on_line; /* a progress line is on screen and must be cleared first */
    struct timespec start, shown;
    cJSON *rejections; /* with --json */
    size_t kept;
} import_ctx;

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void clear_progress(import_ctx *ic)
{
    if (ic->progress_on_line) {
        fputs("\r\033[K", stderr);
        ic->progress_on_line = 0;
    }
}

static int on_reject(void *ctx, uint64_t line, int code, const char *message)
{
    import_ctx *ic = ctx;
    clear_progress(ic);
    fprintf(stderr, "line %" PRIu64 ": %s\n", line, message);
    if (ic->rejections && ic->kept < IMPORT_JSON_REJECTIONS) {
        cJSON *r = cJSON_CreateObject();
        if (r && cli_json_add_u64(r, "line", line) == 0 &&
            cJSON_AddNumberToObject(r, "code", code) &&
            cJSON_AddStringToObject(r, "message", message) &&
            cJSON_AddItemToArray(ic->rejections, r)) {
            ic->kept++;
        } else {
            cJSON_Delete(r);
        }
    }
    return 0;
}

static void on_progress(void *ctx, uint64_t lines, uint64_t bytes, uint64_t total_bytes)
{
    import_ctx *ic = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* A few updates a second are readable; one per batch would flood the terminal. */
    if (ic->progress_on_line && seconds_between(&ic->shown, &now) < 0.25)
        return;
    double elapsed = seconds_between(&ic->start, &now);
    double rate = elapsed > 0 ? (double)lines / elapsed : 0;
    fprintf(stderr, "\r\033[K%" PRIu64 " lines  %.1f", lines, (double)bytes / 1e6);
    if (total_bytes)
        fprintf(stderr, " / %.1f", (double)total_bytes / 1e6);
    fprintf(stderr, " MB  %.0f lines/s", rate);
    ic->progress_on_line = 1;
    ic->shown = now;
}

static int print_import_summary(const cli *c, const ecom_import_stats *st, import_ctx *ic)
{
    if (!c->args.json) {
        printf("imported %" PRIu64 ", updated %" PRIu64 ", rejected %" PRIu64 "\n", st->imported,
               st->updated, st->rejected);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL || cli_json_add_u64(obj, "lines", st->lines) != 0 ||
        cli_json_add_u64(obj, "imported", st->imported) != 0 ||
        cli_json_add_u64(obj, "updated", st->updated) != 0 ||
        cli_json_add_u64(obj, "rejected", st->rejected) != 0 ||
        !cJSON_AddItemToObject(obj, "rejections", ic->rejections)) {
        cJSON_Delete(obj);
        return cli_print_json(NULL);
    }
    ic->rejections = NULL; /* now owned by obj */
    return cli_print_json(obj);
}

int cmd_import(cli *c)
{
    import_ctx ic = {.progress = isatty(STDERR_FILENO)};
    ecom_import_options opts = ECOM_IMPORT_OPTIONS_INIT;
    ecom_import_stats stats = {0};
    opts.on_reject = on_reject;
    opts.on_progress = ic.progress ? on_progress : NULL;
    opts.ctx = &ic;
    if (c->args.json && (ic.rejections = cJSON_CreateArray()) == NULL)
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    clock_gettime(CLOCK_MONOTONIC, &ic.start);

    int rc = ecom_catalog_import(&stats, c->store, c->args.pos[0], &opts);
    clear_progress(&ic);
    if (rc != ECOM_OK)
        rc = cli_fail(c, rc);
    else
        rc = print_import_summary(c, &stats, &ic);
    if (rc == CLI_OK && (c->args.given & OPT_STRICT) && stats.rejected > 0)
        rc = CLI_INVALID;
    cJSON_Delete(ic.rejections);
    return rc;
}

/* ---- export ---- */

static int write_stdout(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    return fwrite(data, 1, len, stdout) == len ? 0 : 1;
}

int cmd_export(cli *c)
{
    /* Large writes: the default buffer would make one syscall per few products. */
    static char buf[1 << 20];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    int rc = ecom_catalog_export(NULL, c->store, write_stdout, NULL);
    return rc == ECOM_OK ? CLI_OK : cli_fail(c, rc);
}

/* ---- category tree ---- */

static const char *category_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return *path == '\0' ? "(uncategorised)" : slash ? slash + 1 : path;
}

static int print_categories_json(const ecom_categories *cats)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "categories");
    int ok = list != NULL;
    for (size_t i = 0; ok && i < ecom_categories_count(cats); i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(list, e) &&
             cJSON_AddStringToObject(e, "path", ecom_categories_path(cats, i)) &&
             cli_json_add_u64(e, "depth", ecom_categories_depth(cats, i)) == 0 &&
             cli_json_add_u64(e, "direct", ecom_categories_direct(cats, i)) == 0 &&
             cli_json_add_u64(e, "total", ecom_categories_total(cats, i)) == 0;
    }
    if (!ok) {
        cJSON_Delete(root);
        root = NULL;
    }
    return cli_print_json(root);
}

static void print_categories_text(const ecom_categories *cats)
{
    printf("%-48s %10s %10s\n", "CATEGORY", "DIRECT", "TOTAL");
    for (size_t i = 0; i < ecom_categories_count(cats); i++) {
        int indent = (int)ecom_categories_depth(cats, i) * 2;
        const char *name = category_name(ecom_categories_path(cats, i));
        printf("%*s%-*s %10" PRIu64 " %10" PRIu64 "\n", indent, "", 48 - indent, name,
               ecom_categories_direct(cats, i), ecom_categories_total(cats, i));
    }
}

int cmd_category_tree(cli *c)
{
    ecom_categories *cats = NULL;
    int rc = ecom_catalog_categories(&cats, c->store);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        rc = print_categories_json(cats);
    else
        print_categories_text(cats);
    ecom_categories_free(cats);
    return rc;
}

/* ---- events tail ---- */

#define EVENTS_CHUNK 1000
#define EVENTS_DEFAULT_MAX 10
#define FOLLOW_POLL_NS 200000000L

static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

cJSON *cli_event_json(const ecom_events *ev, size_t i)
{
    cJSON *e = cJSON_CreateObject();
    if (e && cli_json_add_u64(e, "seq", ecom_events_seq(ev, i)) == 0 &&
        cli_json_add_i64(e, "time", ecom_events_time(ev, i)) == 0 &&
        cJSON_AddStringToObject(e, "type", ecom_events_type(ev, i)) &&
        cJSON_AddStringToObject(e, "key", ecom_events_key(ev, i)) &&
        cli_json_add_u64(e, "version", ecom_events_version(ev, i)) == 0)
        return e;
    cJSON_Delete(e);
    return NULL;
}

void cli_print_event_text(const ecom_events *ev, size_t i)
{
    char when[40];
    cli_format_time(when, sizeof when, ecom_events_time(ev, i));
    printf("%8" PRIu64 "  %s  %-21s %-20s v%" PRIu64 "\n", ecom_events_seq(ev, i), when,
           ecom_events_type(ev, i), ecom_events_key(ev, i), ecom_events_version(ev, i));
}

/* Prints event i: into array when there is one, else as a line of text or JSON. */
static int print_event(const cli *c, const ecom_events *ev, size_t i, cJSON *array)
{
    if (array)
        return cJSON_AddItemToArray(array, cli_event_json(ev, i))
                   ? CLI_OK
                   : cli_fail_msg(ECOM_ENOMEM, NULL);
    if (c->args.json)
        return cli_print_json(cli_event_json(ev, i));
    cli_print_event_text(ev, i);
    return CLI_OK;
}

/* Prints up to max events after *after, advancing *after; counts them in *printed. */
static int print_events(cli *c, uint64_t *after, uint64_t max, cJSON *array, uint64_t *printed)
{
    *printed = 0;
    while (*printed < max) {
        size_t want = max - *printed < EVENTS_CHUNK ? (size_t)(max - *printed) : EVENTS_CHUNK;
        ecom_events *ev = NULL;
        int rc = ecom_events_read(&ev, c->store, *after, want);
        if (rc != ECOM_OK)
            return cli_fail(c, rc);
        size_t n = ecom_events_count(ev);
        for (size_t i = 0; rc == CLI_OK && i < n; i++) {
            rc = print_event(c, ev, i, array);
            *after = ecom_events_seq(ev, i);
        }
        ecom_events_free(ev);
        *printed += n;
        if (rc != CLI_OK || n < want)
            return rc;
    }
    return CLI_OK;
}

static int tail_once(cli *c, uint64_t after, uint64_t max)
{
    uint64_t printed;
    if (!c->args.json)
        return print_events(c, &after, max, NULL, &printed);
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "events");
    if (list == NULL) {
        cJSON_Delete(root);
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    }
    int rc = print_events(c, &after, max, list, &printed);
    if (rc == CLI_OK && cli_json_add_u64(root, "last_seq", after) == 0)
        return cli_print_json(root);
    cJSON_Delete(root);
    return rc == CLI_OK ? cli_fail_msg(ECOM_ENOMEM, NULL) : rc;
}

static int follow(cli *c, uint64_t after, uint64_t max)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_stop; /* no SA_RESTART: the signal cuts the sleep short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uint64_t printed;
    int rc = print_events(c, &after, max, NULL, &printed);
    while (rc == CLI_OK && !stop_requested) {
        /* Nobody reads what follows a failed write: stop, and run() exits 1. */
        if (fflush(stdout) != 0 || ferror(stdout))
            break;
        struct timespec pause = {0, FOLLOW_POLL_NS};
        nanosleep(&pause, NULL);
        if (!stop_requested)
            rc = print_events(c, &after, UINT64_MAX, NULL, &printed);
    }
    return rc;
}

int cmd_events_tail(cli *c)
{
    uint64_t max = (c->args.given & OPT_MAX) ? c->args.max : EVENTS_DEFAULT_MAX;
    uint64_t after = c->args.after;
    if (!(c->args.given & OPT_AFTER)) {
        uint64_t last = 0;
        int rc = ecom_events_last_seq(&last, c->store);
        if (rc != ECOM_OK)
            return cli_fail(c, rc);
        after = last > max ? last - max : 0;
    }
    return (c->args.given & OPT_FOLLOW) ? follow(c, after, max) : tail_once(c, after, max);
}

/* ---- check ---- */

typedef struct check_ctx {
    cJSON *messages; /* with --json */
} check_ctx;

static void on_violation(void *ctx, const char *message)
{
    check_ctx *cc = ctx;
    if (cc->messages)
        cJSON_AddItemToArray(cc->messages, cJSON_CreateString(message));
    else
        puts(message);
}

int cmd_check(cli *c)
{
    check_ctx cc = {NULL};
    cJSON *root = NULL;
    if (c->args.json) {
        root = cJSON_CreateObject();
        if ((cc.messages = cJSON_AddArrayToObject(root, "messages")) == NULL) {
            cJSON_Delete(root);
            return cli_fail_msg(ECOM_ENOMEM, NULL);
        }
    }
    uint64_t violations = 0;
    int rc = ecom_check(&violations, c->store, on_violation, &cc);
    if (rc != ECOM_OK) {
        cJSON_Delete(root);
        return cli_fail(c, rc);
    }
    if (root) {
        if (cli_json_add_u64(root, "violations", violations) != 0) {
            cJSON_Delete(root);
            root = NULL;
        }
        rc = cli_print_json(root);
    } else if (violations == 0) {
        puts("ok: no violations");
    } else {
        printf("%" PRIu64 " violation%s\n", violations, violations == 1 ? "" : "s");
    }
    return rc != CLI_OK ? rc : violations ? CLI_FAILURE : CLI_OK;
}

/* ---- version ---- */

int cmd_version(cli *c)
{
    if (!c->args.json) {
        printf("ecom %s (libecom %s)\n", ECOM_VERSION_STRING, ecom_version());
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (!cJSON_AddStringToObject(obj, "ecom", ECOM_VERSION_STRING) ||
                !cJSON_AddStringToObject(obj, "libecom", ecom_version()))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}
