/*
 * bench_flash: one hot SKU, a flash sale of U units, and a stream of N claims, run
 * twice on fresh stores:
 *   blocking   T threads each calling ecom_flash_claim (one buyer per call);
 *   pipelined  A threads each keeping W claims in flight with ecom_flash_claim_submit
 *              (how a server with an event loop carries many buyers per thread).
 * Reports claim decisions per second, admitted claims per second until sold out,
 * latency of admitted and rejected claims, oversold units (must be 0, and
 * `ecom_check` must be clean), and, in the same run on the same machine, a naive
 * baseline: one durable LMDB write transaction per claim, with the ratios.
 * Ends with one JSON line for scripts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common.h"
#include "ecom.h"

typedef struct config {
    uint64_t claims;
    int threads;       /* blocking run */
    int async_threads; /* pipelined run */
    int window;        /* claims in flight per pipelined thread */
    int64_t units;
    double baseline_seconds;
} config;

/* Counts of one thread (or of the committer thread's callbacks). */
typedef struct tally {
    uint64_t admitted, rejected, errors;
    uint64_t last_admit_ns;
    bench_hist admitted_lat, rejected_lat;
} tally;

typedef struct worker {
    pthread_t thread;
    ecom_store *store;
    int index;
    uint64_t claims;
    int window;
    tally t;
} worker;

/* A pipelined claim in flight. */
typedef struct slot {
    ecom_claim_request req;
    _Atomic int busy;
    uint64_t t0;
    char id[48];
} slot;

static uint64_t start_ns;
/* Written only by the thread that runs batches: pipelined answers from storage. */
static tally callback_tally;

/* "u<thread>-<i>" without printf: the claim path is what is measured. */
static void format_id(char *out, int thread, uint64_t i)
{
    char digits[24];
    size_t n = 0;
    *out++ = 'u';
    do
        digits[n++] = (char)('0' + thread % 10), thread /= 10;
    while (thread);
    while (n)
        *out++ = digits[--n];
    *out++ = '-';
    do
        digits[n++] = (char)('0' + i % 10), i /= 10;
    while (i);
    while (n)
        *out++ = digits[--n];
    *out = '\0';
}

static void record(tally *t, int rc, const ecom_claim_result *r, uint64_t t0, uint64_t t1)
{
    if (rc != ECOM_OK) {
        t->errors++;
    } else if (r->outcome == ECOM_CLAIM_ADMITTED) {
        t->admitted++;
        t->last_admit_ns = t1 - start_ns;
        bench_hist_add(&t->admitted_lat, t1 - t0);
    } else {
        t->rejected++;
        bench_hist_add(&t->rejected_lat, t1 - t0);
    }
}

static void *blocking_main(void *arg)
{
    worker *w = arg;
    char id[48];
    for (uint64_t i = 0; i < w->claims; i++) {
        format_id(id, w->index, i);
        ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
        uint64_t t0 = bench_now_ns();
        int rc = ecom_flash_claim(&r, w->store, "drop", id, 1, id);
        record(&w->t, rc, &r, t0, bench_now_ns());
    }
    return NULL;
}

/* Answers from memory come back on the submitting thread, before submit returns;
 * the others on the committer thread. */
static _Thread_local tally *local_tally;

static void claim_done(ecom_claim_request *req)
{
    slot *sl = req->data;
    record(local_tally ? local_tally : &callback_tally, req->status, &req->result, sl->t0,
           bench_now_ns());
    atomic_store_explicit(&sl->busy, 0, memory_order_release);
}

static void *pipelined_main(void *arg)
{
    worker *w = arg;
    slot *slots = calloc((size_t)w->window, sizeof *slots);
    local_tally = &w->t;
    for (uint64_t i = 0; i < w->claims; i++) {
        slot *sl = &slots[i % (uint64_t)w->window];
        while (atomic_load_explicit(&sl->busy, memory_order_acquire))
            sched_yield();
        format_id(sl->id, w->index, i);
        sl->req = (ecom_claim_request){.version = ECOM_CLAIM_REQUEST_VERSION, .sale = "drop",
                                       .user = sl->id, .key = sl->id, .quantity = 1,
                                       .done = claim_done, .data = sl};
        atomic_store_explicit(&sl->busy, 1, memory_order_relaxed);
        sl->t0 = bench_now_ns();
        if (ecom_flash_claim_submit(w->store, &sl->req) != ECOM_OK) {
            w->t.errors++;
            atomic_store_explicit(&sl->busy, 0, memory_order_relaxed);
        }
    }
    for (int i = 0; i < w->window; i++)
        while (atomic_load_explicit(&slots[i].busy, memory_order_acquire))
            sched_yield();
    local_tally = NULL;
    free(slots);
    return NULL;
}

static void die(const char *what, ecom_store *s)
{
    fprintf(stderr, "bench_flash: %s: %s\n", what, ecom_errmsg(s));
    exit(1);
}

static ecom_store *prepare_store(const char *dir, int64_t units)
{
    char uri[600];
    snprintf(uri, sizeof uri, "lmdb://%s", dir);
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, NULL) != ECOM_OK) /* durable: fsync at every commit */
        die("open", s);
    const char *json = "{\"id\":\"hot\",\"title\":\"The hot item\",\"status\":\"active\","
                       "\"variants\":[{\"sku\":\"hot-1\",\"prices\":{\"USD\":9900}}]}";
    ecom_product *p = NULL;
    if (ecom_product_from_json(&p, json, strlen(json), NULL, 0) != ECOM_OK ||
        ecom_catalog_create(s, p) != ECOM_OK)
        die("create product", s);
    ecom_product_free(p);
    if (ecom_stock_adjust(s, "hot-1", NULL, ECOM_ADJUST_RECEIVE, units, "bench", NULL) != ECOM_OK)
        die("receive", s);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.sku = "hot-1";
    o.units = units;
    o.claim_ttl_ms = 3600 * 1000;
    if (ecom_flash_open(s, "drop", &o) != ECOM_OK)
        die("open sale", s);
    return s;
}

/* The naive design: every claim is its own durable write transaction. The pool never
 * runs dry, so every claim measured is an admission (a refusal would commit nothing). */
static double run_baseline(const char *dir, double seconds)
{
    int64_t units = INT64_C(1) << 40;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    mkdir(dir, 0755);
    if (mdb_env_create(&env) || mdb_env_open(env, dir, 0, 0644) ||
        mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi)) {
        fprintf(stderr, "bench_flash: baseline LMDB setup failed\n");
        exit(1);
    }
    MDB_val key = {4, "pool"}, val = {sizeof units, &units};
    mdb_put(txn, dbi, &key, &val, 0);
    mdb_txn_commit(txn);
    uint64_t claims = 0, t0 = bench_now_ns(), limit = (uint64_t)(seconds * 1e9);
    while (bench_now_ns() - t0 < limit) {
        int64_t left;
        mdb_txn_begin(env, NULL, 0, &txn);
        mdb_get(txn, dbi, &key, &val);
        memcpy(&left, val.mv_data, sizeof left);
        if (left > 0) {
            left--;
            val = (MDB_val){sizeof left, &left};
            mdb_put(txn, dbi, &key, &val, 0);
        }
        mdb_txn_commit(txn);
        claims++;
    }
    double rate = (double)claims / ((double)(bench_now_ns() - t0) / 1e9);
    mdb_env_close(env);
    return rate;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_flash [--quick] [--claims N] [--threads T] [--async-threads A]"
                    " [--window W] [--units U]\n");
    exit(2);
}

static config parse_args(int argc, char **argv)
{
    config c = {10000000, 64, 2, 1024, 10000, 3.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            c.claims = 1000000;
            c.baseline_seconds = 1.0;
        } else if (strcmp(argv[i], "--claims") == 0 && i + 1 < argc) {
            c.claims = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            c.threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--async-threads") == 0 && i + 1 < argc) {
            c.async_threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
            c.window = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--units") == 0 && i + 1 < argc) {
            c.units = strtoll(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (c.threads < 1 || c.threads > 1024 || c.async_threads < 1 || c.async_threads > 64 ||
        c.window < 1 || c.window > 65536 || c.units < 1 || c.claims < (uint64_t)c.units)
        usage();
    return c;
}

static void count_violation(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "violation: %s\n", message);
}

/* The figures of one run. */
typedef struct run_result {
    double seconds, decisions_per_s, admitted_per_s;
    tally t;
    int64_t held, remaining;
    uint64_t violations;
} run_result;

static void run(const config *c, bool pipelined, run_result *r)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir(pipelined ? "flash-pipelined" : "flash"));
    ecom_store *s = prepare_store(dir, c->units);
    int threads = pipelined ? c->async_threads : c->threads;
    worker *w = calloc((size_t)threads, sizeof *w);
    memset(r, 0, sizeof *r);
    memset(&callback_tally, 0, sizeof callback_tally);
    start_ns = bench_now_ns();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.store = s, .index = i, .window = c->window,
                        .claims = c->claims / (uint64_t)threads +
                                  ((uint64_t)i < c->claims % (uint64_t)threads)};
        pthread_create(&w[i].thread, NULL, pipelined ? pipelined_main : blocking_main, &w[i]);
    }
    for (int i = 0; i < threads + 1; i++) {
        tally *t = i < threads ? &w[i].t : &callback_tally;
        if (i < threads)
            pthread_join(w[i].thread, NULL);
        r->t.admitted += t->admitted;
        r->t.rejected += t->rejected;
        r->t.errors += t->errors;
        if (t->last_admit_ns > r->t.last_admit_ns)
            r->t.last_admit_ns = t->last_admit_ns;
        bench_hist_merge(&r->t.admitted_lat, &t->admitted_lat);
        bench_hist_merge(&r->t.rejected_lat, &t->rejected_lat);
    }
    r->seconds = (double)(bench_now_ns() - start_ns) / 1e9;
    r->decisions_per_s = (double)c->claims / r->seconds;
    r->admitted_per_s = (double)r->t.admitted / ((double)r->t.last_admit_ns / 1e9);
    if (ecom_check(&r->violations, s, count_violation, NULL) != ECOM_OK)
        die("check", s);
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    if (ecom_flash_status_get(&st, s, "drop") != ECOM_OK)
        die("status", s);
    r->held = st.held;
    r->remaining = st.remaining;
    ecom_store_close(s);
    bench_remove_dir(dir);
    free(w);
}

static void report(const char *name, const run_result *r, int64_t units, double baseline)
{
    const tally *t = &r->t;
    printf("%s\n", name);
    printf("  claim decisions:  %.0f per second (%.2f s for all)\n", r->decisions_per_s,
           r->seconds);
    printf("  admitted:         %" PRIu64 " of %" PRId64 " units, %.0f per second until sold "
           "out (%.3f s): %.1fx the baseline\n", t->admitted, units, r->admitted_per_s,
           (double)t->last_admit_ns / 1e9, r->admitted_per_s / baseline);
    printf("  rejected:         %" PRIu64 ", errors %" PRIu64 "\n", t->rejected, t->errors);
    printf("  latency admitted: p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
           bench_hist_quantile_us(&t->admitted_lat, 0.5),
           bench_hist_quantile_us(&t->admitted_lat, 0.99),
           bench_hist_quantile_us(&t->admitted_lat, 0.999));
    printf("  latency rejected: p50 %.2f us  p99 %.2f us  p999 %.2f us\n",
           bench_hist_quantile_us(&t->rejected_lat, 0.5),
           bench_hist_quantile_us(&t->rejected_lat, 0.99),
           bench_hist_quantile_us(&t->rejected_lat, 0.999));
    printf("  oversold:         %" PRId64 " (store: %" PRId64 " held, %" PRId64
           " left; check: %" PRIu64 " violations)\n",
           (int64_t)t->admitted > units ? (int64_t)t->admitted - units : 0, r->held,
           r->remaining, r->violations);
}

static bool sound(const run_result *r, int64_t units)
{
    return (int64_t)r->t.admitted == units && r->held == units && r->violations == 0 &&
           r->t.errors == 0;
}

int main(int argc, char **argv)
{
    config c = parse_args(argc, argv);
    bench_print_machine();
    printf("flash sale: %" PRId64 " units, %" PRIu64 " claims, durable commits\n", c.units,
           c.claims);

    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir("flash-baseline"));
    double baseline = run_baseline(dir, c.baseline_seconds);
    bench_remove_dir(dir);
    printf("baseline: %.0f claims per second (one durable LMDB write transaction each)\n",
           baseline);

    run_result b, p;
    run(&c, false, &b);
    char name[128];
    snprintf(name, sizeof name, "blocking: %d threads, one claim each at a time", c.threads);
    report(name, &b, c.units, baseline);
    run(&c, true, &p);
    snprintf(name, sizeof name, "pipelined: %d threads, %d claims in flight each",
             c.async_threads, c.window);
    report(name, &p, c.units, baseline);

    int64_t oversold = 0;
    for (const run_result *r = &b; r; r = r == &b ? &p : NULL)
        if ((int64_t)r->t.admitted > c.units)
            oversold += (int64_t)r->t.admitted - c.units;
    printf("{\"bench\":\"flash\",\"claims\":%" PRIu64 ",\"units\":%" PRId64
           ",\"claims_per_s\":%.0f,\"admitted_per_s\":%.0f"
           ",\"admitted_p50_us\":%.1f,\"admitted_p99_us\":%.1f,\"admitted_p999_us\":%.1f"
           ",\"rejected_p50_us\":%.2f,\"rejected_p99_us\":%.2f,\"rejected_p999_us\":%.2f"
           ",\"blocking_threads\":%d,\"blocking_claims_per_s\":%.0f"
           ",\"blocking_admitted_per_s\":%.0f,\"blocking_ratio\":%.1f"
           ",\"blocking_admitted_p99_us\":%.1f,\"pipelined_threads\":%d,\"window\":%d"
           ",\"oversold\":%" PRId64 ",\"violations\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"baseline_per_s\":%.0f,\"ratio\":%.1f}\n",
           c.claims, c.units, p.decisions_per_s, p.admitted_per_s,
           bench_hist_quantile_us(&p.t.admitted_lat, 0.5),
           bench_hist_quantile_us(&p.t.admitted_lat, 0.99),
           bench_hist_quantile_us(&p.t.admitted_lat, 0.999),
           bench_hist_quantile_us(&p.t.rejected_lat, 0.5),
           bench_hist_quantile_us(&p.t.rejected_lat, 0.99),
           bench_hist_quantile_us(&p.t.rejected_lat, 0.999), c.threads, b.decisions_per_s,
           b.admitted_per_s, b.admitted_per_s / baseline,
           bench_hist_quantile_us(&b.t.admitted_lat, 0.99), c.async_threads, c.window, oversold,
           b.violations + p.violations, b.t.errors + p.t.errors, baseline,
           p.admitted_per_s / baseline);
    return sound(&b, c.units) && sound(&p, c.units) ? 0 : 1;
}
