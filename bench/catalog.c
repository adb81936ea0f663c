/*
 * bench_catalog: how fast libecom imports a catalog and reads products by id,
 * against the raw LMDB engine measured in the same run on the same data.
 *
 * Steps: build N products with the product API and write them as JSON Lines; time
 * ecom_catalog_import into a fresh LMDB store (durable commits, the default); then,
 * three times over, S seconds of random get-by-id with 1 and 2 threads through
 * libecom and through a plain MDB_env on the same directory, reporting medians,
 * p50/p99 latency, and libecom's throughput as a ratio of the raw engine's.
 * Ends with one JSON line for scripts.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "common.h"
#include "ecom.h"

#define KEY_SIZE 24 /* "p0000001" and its NUL; fits any uint64_t */
#define REPEATS 3
#define LATENCY_SAMPLES 200000
#define MAX_THREADS 2

/* The backend's database of products, keyed by "id\0" (backends/lmdb/lmdb_internal.h). */
#define PRODUCTS_DBI "products"

typedef struct config {
    uint64_t products;
    double seconds;
} config;

typedef struct bench {
    uint64_t n;
    char (*keys)[KEY_SIZE]; /* keys[i] is the id of product i + 1 */
    ecom_store *store;
    MDB_env *env;
    MDB_dbi dbi;
    atomic_int stop;
} bench;

typedef struct worker {
    pthread_t thread;
    bench *b;
    uint64_t rng;
    uint64_t ops;
    int failed;
} worker;

typedef struct result {
    double runs[REPEATS];
    double median;
} result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- machine ---- */

static void cpu_model(char *model, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(model, size, "unknown CPU");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, size, "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
}

static void print_machine(void)
{
    char model[256];
    cpu_model(model, sizeof model);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    int major, minor, patch;
    mdb_version(&major, &minor, &patch);
    printf("machine:  %ld CPUs, %s, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           u.sysname, u.release, u.machine);
    printf("software: libecom %s, LMDB %d.%d.%d\n", ecom_version(), major, minor, patch);
    bench_print_load();
}

/* ---- the catalog ---- */

static const char *const words[] = {
    "durable", "compact", "premium", "everyday", "design", "comfort", "steel", "cotton",
    "quiet", "light", "travel", "home", "office", "outdoor", "classic", "modern",
    "reliable", "easy", "care", "value", "quality", "tested", "warranty", "gift",
};
#define NWORDS (sizeof words / sizeof words[0])

static void fill_words(char *buf, size_t size, uint64_t *rng, size_t count)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && used + 16 < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? " " : "",
                         words[xorshift(rng) % NWORDS]);
        used += (size_t)n;
    }
}

/* Product n: two attributes, 1-3 variants priced in USD and EUR, 200 categories. */
static int make_product(ecom_product **out, const char *id, uint64_t *rng)
{
    char title[96], desc[512], category[64], sku[KEY_SIZE + 8];
    static const char *const sizes[] = {"S", "M", "L"};
    uint64_t r = xorshift(rng);
    fill_words(title, sizeof title, rng, 4);
    fill_words(desc, sizeof desc, rng, 40);
    snprintf(category, sizeof category, "dept-%u/section-%u/leaf-%u", (unsigned)(r % 8),
             (unsigned)(r / 8 % 5), (unsigned)(r / 40 % 5));
    ecom_product *p = NULL;
    int rc = ecom_product_new(&p, id);
    if (rc == ECOM_OK)
        rc = ecom_product_set_title(p, title);
    if (rc == ECOM_OK)
        rc = ecom_product_set_description(p, desc);
    if (rc == ECOM_OK)
        rc = ecom_product_set_brand(p, words[r % NWORDS]);
    if (rc == ECOM_OK)
        rc = ecom_product_set_category(p, category);
    if (rc == ECOM_OK)
        rc = ecom_product_set_status(p, ECOM_STATUS_ACTIVE);
    if (rc == ECOM_OK)
        rc = ecom_product_add_attribute(p, "color", words[r / 7 % NWORDS]);
    if (rc == ECOM_OK)
        rc = ecom_product_add_attribute(p, "material", words[r / 11 % NWORDS]);
    size_t variants = 1 + (size_t)(r / 13 % 3);
    for (size_t v = 0; rc == ECOM_OK && v < variants; v++) {
        size_t index = 0;
        int64_t usd = (int64_t)(500 + r / 17 % 50000 + v * 100);
        snprintf(sku, sizeof sku, "%s-%zu", id, v + 1);
        rc = ecom_product_add_variant(p, sku, (int64_t)(100 + r % 5000), &index);
        if (rc == ECOM_OK)
            rc = ecom_product_variant_set_option(p, index, "size", sizes[v]);
        if (rc == ECOM_OK)
            rc = ecom_product_variant_set_price(p, index, "USD", usd);
        if (rc == ECOM_OK)
            rc = ecom_product_variant_set_price(p, index, "EUR", usd * 92 / 100);
    }
    if (rc != ECOM_OK) {
        ecom_product_free(p);
        return rc;
    }
    *out = p;
    return ECOM_OK;
}

static int write_catalog(const bench *b, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_catalog: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint64_t rng = 0x9E3779B97F4A7C15u;
    int rc = ECOM_OK;
    for (uint64_t i = 0; rc == ECOM_OK && i < b->n; i++) {
        ecom_product *p = NULL;
        char *json = NULL;
        rc = make_product(&p, b->keys[i], &rng);
        if (rc == ECOM_OK)
            rc = ecom_product_to_json(&json, p);
        if (rc == ECOM_OK && (fputs(json, f) == EOF || putc('\n', f) == EOF))
            rc = ECOM_EIO;
        ecom_free(json);
        ecom_product_free(p);
    }
    if (fclose(f) != 0 && rc == ECOM_OK)
        rc = ECOM_EIO;
    if (rc != ECOM_OK)
        fprintf(stderr, "bench_catalog: building the catalog: %s\n", ecom_strerror(rc));
    return rc == ECOM_OK ? 0 : -1;
}

/* ---- the store ---- */

static int open_store(bench *b, const char *dir)
{
    char uri[4200];
    snprintf(uri, sizeof uri, "lmdb://%s", dir);
    int rc = ecom_store_open(&b->store, uri, NULL);
    if (rc != ECOM_OK) {
        fprintf(stderr, "bench_catalog: open %s: %s\n", uri, ecom_errmsg(b->store));
        ecom_store_close(b->store);
        b->store = NULL;
        return -1;
    }
    return 0;
}

static void close_store(bench *b)
{
    ecom_store_close(b->store);
    b->store = NULL;
}

static int import_catalog(bench *b, const char *dir, const char *jsonl, double *per_s)
{
    if (open_store(b, dir) != 0)
        return -1;
    ecom_import_stats stats = {0};
    double t0 = now_s();
    int rc = ecom_catalog_import(&stats, b->store, jsonl, NULL);
    double elapsed = now_s() - t0;
    if (rc != ECOM_OK || stats.imported != b->n || stats.rejected != 0) {
        fprintf(stderr, "bench_catalog: import: %s (imported %" PRIu64 ", rejected %" PRIu64 ")\n",
                rc ? ecom_errmsg(b->store) : "not every product imported", stats.imported,
                stats.rejected);
        close_store(b);
        return -1;
    }
    close_store(b);
    *per_s = (double)b->n / elapsed;
    printf("import:   %" PRIu64 " products in %.2f s = %.0f products/s\n", b->n, elapsed, *per_s);
    return 0;
}

/* The engine alone: LMDB documents that one process must not open an environment
 * twice, so this is opened only while the ecom store is closed. */
static int open_raw(bench *b, const char *dir)
{
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&b->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(b->env, 8);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(b->env, 126);
    if (rc == 0)
        rc = mdb_env_open(b->env, dir, MDB_RDONLY | MDB_NOTLS, 0644);
    if (rc == 0)
        rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, PRODUCTS_DBI, 0, &b->dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn); /* keeps the dbi handle for later txns */
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (rc != 0) {
        fprintf(stderr, "bench_catalog: raw lmdb open %s: %s\n", dir, mdb_strerror(rc));
        mdb_env_close(b->env);
        b->env = NULL;
        return -1;
    }
    return 0;
}

static void close_raw(bench *b)
{
    mdb_env_close(b->env);
    b->env = NULL;
}

/* ---- the get loops ---- */

static const char *random_key(worker *w)
{
    return w->b->keys[xorshift(&w->rng) % w->b->n];
}

static void *ecom_get_loop(void *arg)
{
    worker *w = arg;
    while (!atomic_load_explicit(&w->b->stop, memory_order_relaxed)) {
        ecom_product *p = NULL;
        if (ecom_catalog_get(&p, w->b->store, random_key(w)) != ECOM_OK) {
            w->failed = 1;
            break;
        }
        ecom_product_free(p);
        w->ops++;
    }
    return NULL;
}

/* One snapshot per get, as ecom_catalog_get takes: renew, get, reset. */
static void *raw_get_loop(void *arg)
{
    worker *w = arg;
    MDB_txn *txn = NULL;
    volatile unsigned char sink = 0;
    if (mdb_txn_begin(w->b->env, NULL, MDB_RDONLY, &txn) != 0) {
        w->failed = 1;
        return NULL;
    }
    mdb_txn_reset(txn);
    while (!atomic_load_explicit(&w->b->stop, memory_order_relaxed)) {
        const char *id = random_key(w);
        MDB_val key = {strlen(id) + 1, (void *)id}, val;
        if (mdb_txn_renew(txn) != 0 || mdb_get(txn, w->b->dbi, &key, &val) != 0) {
            w->failed = 1;
            break;
        }
        sink = *(const unsigned char *)val.mv_data; /* touch the page, as a reader would */
        mdb_txn_reset(txn);
        w->ops++;
    }
    (void)sink;
    mdb_txn_abort(txn);
    return NULL;
}

/* Runs loop on `threads` threads for `seconds`; returns operations per second, or -1. */
static double run_threads(bench *b, void *(*loop)(void *), int threads, double seconds)
{
    worker w[MAX_THREADS];
    int started = 0, failed = 0;
    atomic_store(&b->stop, 0);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.b = b, .rng = 0x2545F4914F6CDD1Du * (uint64_t)(i + 1)};
        if (pthread_create(&w[i].thread, NULL, loop, &w[i]) != 0)
            break;
        started++;
    }
    struct timespec pause = {(time_t)seconds,
                             (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        continue;
    atomic_store(&b->stop, 1);
    uint64_t ops = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        ops += w[i].ops;
        failed |= w[i].failed;
    }
    double elapsed = now_s() - t0;
    if (failed || started < threads) {
        fprintf(stderr, "bench_catalog: a get failed%s%s\n", b->store ? ": " : "",
                b->store ? ecom_errmsg(b->store) : "");
        return -1;
    }
    return (double)ops / elapsed;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Round `rep` of both engines at 1 and 2 threads; they alternate so that drift in
 * the machine's speed touches both alike. */
static int measure_round(bench *b, const char *dir, const config *cfg, int rep,
                         result ecom_r[2], result raw_r[2])
{
    if (open_store(b, dir) != 0)
        return -1;
    for (int t = 0; t < 2; t++)
        ecom_r[t].runs[rep] = run_threads(b, ecom_get_loop, t + 1, cfg->seconds);
    close_store(b);
    if (open_raw(b, dir) != 0)
        return -1;
    for (int t = 0; t < 2; t++)
        raw_r[t].runs[rep] = run_threads(b, raw_get_loop, t + 1, cfg->seconds);
    close_raw(b);
    for (int t = 0; t < 2; t++) {
        if (ecom_r[t].runs[rep] < 0 || raw_r[t].runs[rep] < 0)
            return -1;
    }
    return 0;
}

static void take_median(result *r)
{
    double sorted[REPEATS];
    memcpy(sorted, r->runs, sizeof sorted);
    qsort(sorted, REPEATS, sizeof sorted[0], compare_double);
    r->median = sorted[REPEATS / 2];
}

/* p50 and p99 of single libecom gets on one thread, in microseconds. */
static int measure_latency(bench *b, const char *dir, double *p50, double *p99)
{
    size_t samples = b->n < LATENCY_SAMPLES ? (size_t)b->n * 4 : LATENCY_SAMPLES;
    double *lat = malloc(samples * sizeof *lat);
    worker w = {.b = b, .rng = 0x9E3779B97F4A7C15u};
    int rc = lat && open_store(b, dir) == 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < samples; i++) {
        ecom_product *p = NULL;
        const char *id = random_key(&w);
        double t0 = now_s();
        rc = ecom_catalog_get(&p, b->store, id) == ECOM_OK ? 0 : -1;
        lat[i] = (now_s() - t0) * 1e6;
        ecom_product_free(p);
    }
    if (b->store)
        close_store(b);
    if (rc == 0) {
        qsort(lat, samples, sizeof lat[0], compare_double);
        *p50 = lat[samples / 2];
        *p99 = lat[samples * 99 / 100];
    }
    free(lat);
    return rc;
}

/* ---- report ---- */

static void print_result(const char *what, const result r[2])
{
    for (int t = 0; t < 2; t++) {
        printf("  %-8s %d thread%s %10.0f gets/s  (runs:", what, t + 1, t ? "s" : " ",
               r[t].median);
        for (int i = 0; i < REPEATS; i++)
            printf(" %.0f", r[t].runs[i]);
        puts(")");
    }
}

static void report(const config *cfg, const bench *b, double import_per_s, const result ecom_r[2],
                   const result raw_r[2], double p50, double p99)
{
    printf("get by id, %d runs of %.1f s each, median (libecom: ecom_catalog_get +\n"
           "ecom_product_free; raw: mdb_txn_renew + mdb_get + mdb_txn_reset):\n",
           REPEATS, cfg->seconds);
    print_result("libecom", ecom_r);
    print_result("raw", raw_r);
    printf("  libecom latency, 1 thread: p50 %.2f us, p99 %.2f us\n", p50, p99);
    printf("  libecom / raw: %.3f at 1 thread, %.3f at 2 threads\n",
           ecom_r[0].median / raw_r[0].median, ecom_r[1].median / raw_r[1].median);
    printf("{\"bench\":\"catalog\",\"products\":%" PRIu64 ",\"import_per_s\":%.0f,"
           "\"get_per_s_1t\":%.0f,\"get_per_s_2t\":%.0f,\"get_p50_us\":%.2f,"
           "\"get_p99_us\":%.2f,\"baseline_get_per_s_1t\":%.0f,\"baseline_get_per_s_2t\":%.0f,"
           "\"ratio_1t\":%.3f,\"ratio_2t\":%.3f}\n",
           b->n, import_per_s, ecom_r[0].median, ecom_r[1].median, p50, p99, raw_r[0].median,
           raw_r[1].median, ecom_r[0].median / raw_r[0].median,
           ecom_r[1].median / raw_r[1].median);
}

/* ---- setup and cleanup ---- */

/* Removes dir's files, then dir (the store directory holds files only). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4200];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            remove_dir(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int make_keys(bench *b)
{
    b->keys = malloc(b->n * sizeof b->keys[0]);
    if (b->keys == NULL)
        return -1;
    for (uint64_t i = 0; i < b->n; i++)
        snprintf(b->keys[i], KEY_SIZE, "p%07" PRIu64, i + 1);
    return 0;
}

static int parse_args(int argc, char **argv, config *cfg)
{
    int quick = 0;
    long long products = -1;
    double seconds = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return 1;
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--products") == 0 && i + 1 < argc)
            products = atoll(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else
            return -1;
    }
    cfg->products = products > 0 ? (uint64_t)products : quick ? 50000 : 1000000;
    cfg->seconds = seconds > 0 ? seconds : quick ? 1.0 : 5.0;
    return products == 0 || products > 100000000LL || seconds == 0 ? -1 : 0;
}

static int run(const config *cfg, const char *dir)
{
    bench b = {.n = cfg->products};
    char store_dir[4200], jsonl[4200];
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);
    snprintf(jsonl, sizeof jsonl, "%s/catalog.jsonl", dir);
    double import_per_s = 0, p50 = 0, p99 = 0, t0 = now_s();
    result ecom_r[2], raw_r[2];
    int rc = make_keys(&b) == 0 && write_catalog(&b, jsonl) == 0 ? 0 : -1;
    if (rc == 0) {
        struct stat st;
        printf("catalog:  %" PRIu64 " products, %.1f MB of JSON Lines, built in %.2f s\n", b.n,
               stat(jsonl, &st) == 0 ? (double)st.st_size / 1e6 : 0.0, now_s() - t0);
        fflush(stdout);
        rc = import_catalog(&b, store_dir, jsonl, &import_per_s);
    }
    unlink(jsonl);
    for (int rep = 0; rc == 0 && rep < REPEATS; rep++)
        rc = measure_round(&b, store_dir, cfg, rep, ecom_r, raw_r);
    if (rc == 0)
        rc = measure_latency(&b, store_dir, &p50, &p99);
    if (rc == 0) {
        for (int t = 0; t < 2; t++) {
            take_median(&ecom_r[t]);
            take_median(&raw_r[t]);
        }
        report(cfg, &b, import_per_s, ecom_r, raw_r, p50, p99);
    }
    free(b.keys);
    return rc;
}

int main(int argc, char **argv)
{
    config cfg;
    int parsed = parse_args(argc, argv, &cfg);
    if (parsed != 0) {
        fputs("usage: bench_catalog [--quick] [--products N] [--seconds S]\n"
              "  --quick        50,000 products and 1 s runs (default 1,000,000 and 5 s)\n",
              parsed > 0 ? stdout : stderr);
        return parsed > 0 ? 0 : 2;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ecom-bench-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_catalog: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    print_machine();
    printf("products: %" PRIu64 ", get runs of %.1f s\n", cfg.products, cfg.seconds);
    fflush(stdout);
    int rc = run(&cfg, dir);
    remove_dir(dir);
    return rc == 0 ? 0 : 1;
}
