/*
 * bench_flash: one hot SKU, a flash sale of U units, and a stream of N claims from T
 * threads. Reports claim decisions per second, latency of admitted and rejected
 * claims, oversold units (must be 0, and `ecom_check` must be clean), and, in the
 * same run on the same machine, a naive baseline: one durable LMDB write
 * transaction per claim, with the ratio of admitted claims per second to it.
 * Ends with one JSON line for scripts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common.h"
#include "ecom.h"

typedef struct config {
    uint64_t claims;
    int threads;
    int64_t units;
    double baseline_seconds;
} config;

typedef struct worker {
    pthread_t thread;
    ecom_store *store;
    int index;
    uint64_t claims;
    uint64_t admitted, rejected, errors;
    uint64_t last_admit_ns;
    bench_hist admitted_lat, rejected_lat;
} worker;

static uint64_t start_ns;

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

static void *worker_main(void *arg)
{
    worker *w = arg;
    char id[48];
    for (uint64_t i = 0; i < w->claims; i++) {
        format_id(id, w->index, i);
        ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
        uint64_t t0 = bench_now_ns();
        int rc = ecom_flash_claim(&r, w->store, "drop", id, 1, id);
        uint64_t t1 = bench_now_ns();
        if (rc != ECOM_OK) {
            w->errors++;
        } else if (r.outcome == ECOM_CLAIM_ADMITTED) {
            w->admitted++;
            w->last_admit_ns = t1 - start_ns;
            bench_hist_add(&w->admitted_lat, t1 - t0);
        } else {
            w->rejected++;
            bench_hist_add(&w->rejected_lat, t1 - t0);
        }
    }
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
    fprintf(stderr, "usage: bench_flash [--quick] [--claims N] [--threads T] [--units U]\n");
    exit(2);
}

static config parse_args(int argc, char **argv)
{
    config c = {10000000, 64, 10000, 3.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            c.claims = 1000000;
            c.baseline_seconds = 1.0;
        } else if (strcmp(argv[i], "--claims") == 0 && i + 1 < argc) {
            c.claims = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            c.threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--units") == 0 && i + 1 < argc) {
            c.units = strtoll(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (c.threads < 1 || c.threads > 1024 || c.units < 1 || c.claims < (uint64_t)c.units)
        usage();
    return c;
}

static void count_violation(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "violation: %s\n", message);
}

int main(int argc, char **argv)
{
    config c = parse_args(argc, argv);
    bench_print_machine();
    printf("flash sale: %" PRId64 " units, %" PRIu64 " claims from %d threads, durable commits\n",
           c.units, c.claims, c.threads);

    const char *base_dir = bench_fresh_dir("flash-baseline");
    char baseline_dir[512];
    snprintf(baseline_dir, sizeof baseline_dir, "%s", base_dir);
    double baseline = run_baseline(baseline_dir, c.baseline_seconds);
    bench_remove_dir(baseline_dir);

    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir("flash"));
    ecom_store *s = prepare_store(dir, c.units);
    worker *w = calloc((size_t)c.threads, sizeof *w);
    start_ns = bench_now_ns();
    for (int i = 0; i < c.threads; i++) {
        w[i] = (worker){.store = s, .index = i, .claims = c.claims / (uint64_t)c.threads +
                                                          ((uint64_t)i < c.claims % (uint64_t)c.threads)};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    bench_hist admitted = {0}, rejected = {0};
    uint64_t n_admitted = 0, n_rejected = 0, errors = 0, sold_out_ns = 0;
    for (int i = 0; i < c.threads; i++) {
        pthread_join(w[i].thread, NULL);
        n_admitted += w[i].admitted;
        n_rejected += w[i].rejected;
        errors += w[i].errors;
        if (w[i].last_admit_ns > sold_out_ns)
            sold_out_ns = w[i].last_admit_ns;
        bench_hist_merge(&admitted, &w[i].admitted_lat);
        bench_hist_merge(&rejected, &w[i].rejected_lat);
    }
    double seconds = (double)(bench_now_ns() - start_ns) / 1e9;
    uint64_t violations = 0;
    if (ecom_check(&violations, s, count_violation, NULL) != ECOM_OK)
        die("check", s);
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    if (ecom_flash_status_get(&st, s, "drop") != ECOM_OK)
        die("status", s);
    ecom_store_close(s);
    bench_remove_dir(dir);
    free(w);

    int64_t oversold = (int64_t)n_admitted > c.units ? (int64_t)n_admitted - c.units : 0;
    double decisions = (double)c.claims / seconds;
    double admitted_per_s = (double)n_admitted / ((double)sold_out_ns / 1e9);
    double ratio = admitted_per_s / baseline;
    printf("claim decisions:   %.0f per second (%.2f s for all)\n", decisions, seconds);
    printf("admitted:          %" PRIu64 " of %" PRId64 " units, %.0f per second until sold out "
           "(%.3f s)\n", n_admitted, c.units, admitted_per_s, (double)sold_out_ns / 1e9);
    printf("rejected:          %" PRIu64 ", errors %" PRIu64 "\n", n_rejected, errors);
    printf("latency admitted:  p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
           bench_hist_quantile_us(&admitted, 0.5), bench_hist_quantile_us(&admitted, 0.99),
           bench_hist_quantile_us(&admitted, 0.999));
    printf("latency rejected:  p50 %.2f us  p99 %.2f us  p999 %.2f us\n",
           bench_hist_quantile_us(&rejected, 0.5), bench_hist_quantile_us(&rejected, 0.99),
           bench_hist_quantile_us(&rejected, 0.999));
    printf("oversold:          %" PRId64 " (store: %" PRId64 " held, %" PRId64
           " left; check: %" PRIu64 " violations)\n", oversold, st.held, st.remaining, violations);
    printf("baseline:          %.0f claims per second (one durable LMDB txn each)\n", baseline);
    printf("ratio:             %.1fx admitted claims per second over the baseline\n", ratio);
    printf("{\"bench\":\"flash\",\"claims\":%" PRIu64 ",\"threads\":%d,\"units\":%" PRId64
           ",\"claims_per_s\":%.0f,\"admitted\":%" PRIu64 ",\"admitted_per_s\":%.0f"
           ",\"admitted_p50_us\":%.1f,\"admitted_p99_us\":%.1f,\"admitted_p999_us\":%.1f"
           ",\"rejected_p50_us\":%.2f,\"rejected_p99_us\":%.2f,\"rejected_p999_us\":%.2f"
           ",\"oversold\":%" PRId64 ",\"violations\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"baseline_per_s\":%.0f,\"ratio\":%.1f}\n",
           c.claims, c.threads, c.units, decisions, n_admitted, admitted_per_s,
           bench_hist_quantile_us(&admitted, 0.5), bench_hist_quantile_us(&admitted, 0.99),
           bench_hist_quantile_us(&admitted, 0.999), bench_hist_quantile_us(&rejected, 0.5),
           bench_hist_quantile_us(&rejected, 0.99), bench_hist_quantile_us(&rejected, 0.999),
           oversold, violations, errors, baseline, ratio);
    return oversold == 0 && violations == 0 && errors == 0 ? 0 : 1;
}
