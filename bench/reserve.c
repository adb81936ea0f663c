/*
 * bench_reserve: multi-line reservations (1 to 5 lines, 1 to 3 units each) from many
 * threads, in two runs on fresh stores:
 *   throughput  over many SKUs with stock to spare: reservations per second and
 *               latency, against a naive baseline measured in the same run (the same
 *               all-or-nothing reservation as one durable LMDB write transaction);
 *   contention  over a few hot SKUs until their stock is gone and beyond: oversold
 *               units (must be 0), units reserved = units granted, `ecom_check` clean.
 * Ends with one JSON line for scripts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common.h"
#include "ecom.h"

#define MAX_LINES 5

typedef struct config {
    uint64_t reservations;
    int threads;
    int skus;
    int64_t stock_per_sku;
    double baseline_seconds;
} config;

typedef struct worker {
    pthread_t thread;
    ecom_store *store;
    const config *c;
    int index;
    uint64_t count, granted, refused, errors;
    int64_t units_granted;
    uint64_t rng;
    bench_hist granted_lat, refused_lat;
} worker;

/* One random request: n lines over distinct-or-not SKUs (repeats are a bundle). */
static size_t make_request(uint64_t *rng, int skus, char names[MAX_LINES][16], int64_t *qty)
{
    size_t n = 1 + bench_random(rng) % MAX_LINES;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "s%05d", (int)(bench_random(rng) % (uint64_t)skus));
        qty[i] = 1 + (int64_t)(bench_random(rng) % 3);
    }
    return n;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    char names[MAX_LINES][16], id[48];
    const char *skus[MAX_LINES];
    int64_t qty[MAX_LINES];
    for (size_t i = 0; i < MAX_LINES; i++)
        skus[i] = names[i];
    for (uint64_t i = 0; i < w->count; i++) {
        size_t n = make_request(&w->rng, w->c->skus, names, qty);
        uint64_t t0 = bench_now_ns();
        /* Time-ordered ids, as stores use for orders (ULID, UUIDv7, snowflake):
         * new reservations land next to each other in the B-tree. */
        snprintf(id, sizeof id, "r%016" PRIx64 "-%02d", t0, w->index);
        int rc = ecom_reserve(w->store, id, skus, qty, n, NULL, 3600 * 1000);
        uint64_t t1 = bench_now_ns();
        if (rc == ECOM_OK) {
            w->granted++;
            for (size_t l = 0; l < n; l++)
                w->units_granted += qty[l];
            bench_hist_add(&w->granted_lat, t1 - t0);
        } else if (rc == ECOM_EINSUFFICIENT) {
            w->refused++;
            bench_hist_add(&w->refused_lat, t1 - t0);
        } else {
            w->errors++;
        }
    }
    return NULL;
}

static void die(const char *what, ecom_store *s)
{
    fprintf(stderr, "bench_reserve: %s: %s\n", what, ecom_errmsg(s));
    exit(1);
}

static ecom_store *prepare_store(const char *dir, const config *c)
{
    char uri[600], json[256];
    snprintf(uri, sizeof uri, "lmdb://%s", dir);
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, NULL) != ECOM_OK)
        die("open", s);
    for (int i = 0; i < c->skus; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"p%05d\",\"title\":\"Item %d\",\"status\":\"active\","
                 "\"variants\":[{\"sku\":\"s%05d\",\"prices\":{\"USD\":1000}}]}", i, i, i);
        ecom_product *p = NULL;
        if (ecom_product_from_json(&p, json, strlen(json), NULL, 0) != ECOM_OK ||
            ecom_catalog_create(s, p) != ECOM_OK)
            die("create product", s);
        ecom_product_free(p);
        snprintf(json, sizeof json, "s%05d", i);
        if (ecom_stock_adjust(s, json, NULL, ECOM_ADJUST_RECEIVE, c->stock_per_sku, NULL,
                              NULL) != ECOM_OK)
            die("receive", s);
    }
    return s;
}

/* The naive design: each reservation is its own durable write transaction. */
static double run_baseline(const char *dir, const config *c)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    mkdir(dir, 0755);
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 1u << 30) ||
        mdb_env_open(env, dir, 0, 0644) || mdb_txn_begin(env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, NULL, 0, &dbi)) {
        fprintf(stderr, "bench_reserve: baseline LMDB setup failed\n");
        exit(1);
    }
    char names[MAX_LINES][16], id[32];
    int64_t qty[MAX_LINES];
    int64_t plenty = INT64_C(1) << 40; /* never runs out: every baseline request is a grant */
    for (int i = 0; i < c->skus; i++) {
        snprintf(names[0], sizeof names[0], "s%05d", i);
        MDB_val k = {strlen(names[0]), names[0]}, v = {sizeof plenty, &plenty};
        mdb_put(txn, dbi, &k, &v, 0);
    }
    mdb_txn_commit(txn);
    uint64_t rng = 42, done = 0, t0 = bench_now_ns(), limit = (uint64_t)(c->baseline_seconds * 1e9);
    while (bench_now_ns() - t0 < limit) {
        size_t n = make_request(&rng, c->skus, names, qty);
        mdb_txn_begin(env, NULL, 0, &txn);
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            MDB_val k = {strlen(names[i]), names[i]}, v;
            int64_t left;
            mdb_get(txn, dbi, &k, &v);
            memcpy(&left, v.mv_data, sizeof left);
            ok = left >= qty[i];
            left -= qty[i];
            v = (MDB_val){sizeof left, &left};
            if (ok)
                mdb_put(txn, dbi, &k, &v, 0);
        }
        if (ok) {
            snprintf(id, sizeof id, "r%" PRIu64, done);
            MDB_val k = {strlen(id), id}, v = {n * sizeof qty[0], qty};
            mdb_put(txn, dbi, &k, &v, 0);
            mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        done++;
    }
    double rate = (double)done / ((double)(bench_now_ns() - t0) / 1e9);
    mdb_env_close(env);
    return rate;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_reserve [--quick] [--reservations N] [--threads T] "
                    "[--skus S] [--stock U]\n");
    exit(2);
}

static config parse_args(int argc, char **argv)
{
    config c = {200000, 64, 1000, 1000000, 3.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            c.reservations = 20000;
            c.baseline_seconds = 1.0;
        } else if (strcmp(argv[i], "--reservations") == 0 && i + 1 < argc) {
            c.reservations = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            c.threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--skus") == 0 && i + 1 < argc) {
            c.skus = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--stock") == 0 && i + 1 < argc) {
            c.stock_per_sku = strtoll(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (c.threads < 1 || c.threads > 1024 || c.skus < 1 || c.skus > 99999 ||
        c.stock_per_sku < 1 || c.reservations < 1)
        usage();
    return c;
}

static void print_violation(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "violation: %s\n", message);
}

/* Units reserved in the store over all SKUs, and units oversold (reserved > on hand). */
static void audit(ecom_store *s, const config *c, int64_t *reserved, int64_t *oversold)
{
    char sku[16];
    *reserved = *oversold = 0;
    for (int i = 0; i < c->skus; i++) {
        ecom_stock *st = NULL;
        snprintf(sku, sizeof sku, "s%05d", i);
        if (ecom_stock_get(&st, s, sku, NULL) != ECOM_OK)
            die("stock", s);
        *reserved += ecom_stock_reserved(st);
        if (ecom_stock_reserved(st) > ecom_stock_on_hand(st))
            *oversold += ecom_stock_reserved(st) - ecom_stock_on_hand(st);
        ecom_stock_free(st);
    }
}

/* The totals of one run. */
typedef struct run_result {
    double seconds;
    uint64_t granted, refused, errors;
    int64_t units, reserved, oversold;
    uint64_t violations;
    bench_hist granted_lat, refused_lat;
} run_result;

/* One run on a fresh store: c->skus SKUs of c->stock_per_sku units each. */
static void run(const config *c, const char *name, run_result *r)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir(name));
    ecom_store *s = prepare_store(dir, c);
    worker *w = calloc((size_t)c->threads, sizeof *w);
    memset(r, 0, sizeof *r);
    uint64_t start_ns = bench_now_ns();
    for (int i = 0; i < c->threads; i++) {
        w[i] = (worker){.store = s, .c = c, .index = i, .rng = (uint64_t)i * 7919 + 1,
                        .count = c->reservations / (uint64_t)c->threads +
                                 ((uint64_t)i < c->reservations % (uint64_t)c->threads)};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < c->threads; i++) {
        pthread_join(w[i].thread, NULL);
        r->granted += w[i].granted;
        r->refused += w[i].refused;
        r->errors += w[i].errors;
        r->units += w[i].units_granted;
        bench_hist_merge(&r->granted_lat, &w[i].granted_lat);
        bench_hist_merge(&r->refused_lat, &w[i].refused_lat);
    }
    r->seconds = (double)(bench_now_ns() - start_ns) / 1e9;
    audit(s, c, &r->reserved, &r->oversold);
    if (ecom_check(&r->violations, s, print_violation, NULL) != ECOM_OK)
        die("check", s);
    ecom_store_close(s);
    bench_remove_dir(dir);
    free(w);
}

int main(int argc, char **argv)
{
    config c = parse_args(argc, argv);
    bench_print_machine();
    printf("reservations of 1-%d lines (1-3 units each) from %d threads, durable commits\n",
           MAX_LINES, c.threads);

    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir("reserve-baseline"));
    double baseline = run_baseline(dir, &c);
    bench_remove_dir(dir);

    run_result t, h;
    run(&c, "reserve", &t);
    config hot = c; /* a few SKUs, stock for about a tenth of the requests */
    hot.skus = 10;
    hot.stock_per_sku = (int64_t)(c.reservations / 10 * 6 / 10 / 10) + 1;
    run(&hot, "reserve-hot", &h);

    double rate = (double)t.granted / t.seconds, ratio = rate / baseline;
    printf("throughput:   %" PRIu64 " reservations over %d SKUs: %.0f granted per second "
           "(%.2f s; %" PRIu64 " refused, %" PRIu64 " errors)\n", c.reservations, c.skus, rate,
           t.seconds, t.refused, t.errors);
    printf("latency:      p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
           bench_hist_quantile_us(&t.granted_lat, 0.5), bench_hist_quantile_us(&t.granted_lat, 0.99),
           bench_hist_quantile_us(&t.granted_lat, 0.999));
    printf("baseline:     %.0f reservations per second (one durable LMDB txn each)\n", baseline);
    printf("ratio:        %.1fx\n", ratio);
    printf("contention:   %d SKUs x %" PRId64 " units, %" PRIu64 " requests: %" PRIu64
           " granted (%" PRId64 " units), %" PRIu64 " refused, %" PRIu64 " errors\n", hot.skus,
           hot.stock_per_sku, hot.reservations, h.granted, h.units, h.refused, h.errors);
    printf("              %" PRId64 " units reserved in the store; oversold %" PRId64
           "; check: %" PRIu64 " + %" PRIu64 " violations\n", h.reserved, h.oversold,
           t.violations, h.violations);
    printf("{\"bench\":\"reserve\",\"reservations\":%" PRIu64 ",\"threads\":%d,\"skus\":%d"
           ",\"reservations_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f"
           ",\"hot_granted\":%" PRIu64 ",\"hot_refused\":%" PRIu64 ",\"oversold\":%" PRId64
           ",\"violations\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"baseline_per_s\":%.0f"
           ",\"ratio\":%.1f}\n",
           c.reservations, c.threads, c.skus, rate, bench_hist_quantile_us(&t.granted_lat, 0.5),
           bench_hist_quantile_us(&t.granted_lat, 0.99),
           bench_hist_quantile_us(&t.granted_lat, 0.999), h.granted, h.refused, h.oversold,
           t.violations + h.violations, t.errors + h.errors, baseline, ratio);
    bool ok = t.oversold == 0 && h.oversold == 0 && t.violations + h.violations == 0 &&
              t.errors + h.errors == 0 && t.refused == 0 && h.reserved == h.units &&
              t.reserved == t.units && h.refused > 0;
    return ok ? 0 : 1;
}
