/*
 * bench_search: libecom's product search against SQLite FTS5, on the same products
 * and the same queries, in one run.
 *
 * Data: N products from the catalog generator (ecom-gen-catalog, run as a child, same
 * seed every run), imported into a fresh LMDB store, with stock received on the first
 * variant of about 80% of the active products; the same active products go into
 * SQLite (products + attributes tables, an FTS5 index over title, brand, description
 * with the porter tokenizer). Both index builds are timed: ecom_search_open on the
 * loaded store, and FTS5's rebuild + optimize on the loaded tables.
 *
 * Queries: a fixed, seeded mix, each made from a product sampled from the catalog:
 * 1-3 of its words (from its title, or from its description weighted toward the
 * catalog's common words), 1-3 filters it passes (category subtree at the top or
 * second level, brand, USD price range, in stock, an attribute value), and always
 * three facets: category, brand, price.
 *
 * libecom: ecom_search_run with its result cache off, REPEATS runs of S seconds at 1
 * and T threads (medians), p50/p99 at 1 thread; then a pass with the cache on over a
 * skewed draw of the same queries (hit rate, p50 of hits).
 * SQLite: per query, a top-20 by bm25 and three GROUP BY facet counts, prepared once,
 * one thread, for a time budget (it is slow at a million products).
 * Agreement: on the queries SQLite ran, libecom's total against SQLite's count. The
 * engines tokenize, stem and match differently (libecom also matches the last word as
 * a prefix, and long words with one typo), so only the median relative difference is
 * reported; but a query SQLite finds more than 100 products for and libecom finds
 * none for fails the run.
 *
 * Human figures first, then one JSON line for scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common.h"
#include "ecom.h"

extern char **environ; /* for posix_spawnp; POSIX leaves declaring it to the program */

#ifndef ECOM_GEN_CATALOG
#define ECOM_GEN_CATALOG "ecom-gen-catalog" /* found on PATH */
#endif

#define SEED 1               /* the generator's seed: the same catalog every run */
#define QUERY_SEED UINT64_C(0x5EA4C4)
#define SAMPLE_SEED UINT64_C(0x5A3F1E)
#define QUERIES 1000         /* the mix; runs cycle through it */
#define REPEATS 3
#define MAX_THREADS 64
#define AGREE_SAMPLE 200     /* queries compared between the engines, at most */
#define CACHE_DRAWS 4000     /* queries of the cache pass */
#define IN_STOCK_PERCENT 80
#define STOCK_UNITS 10
#define TOP_K 20
#define ZERO_HIT_LIMIT 100   /* SQLite hits above which libecom must find something */

enum filter_kind { F_CATEGORY, F_BRAND, F_PRICE, F_IN_STOCK, F_ATTR, F_KINDS };

typedef struct config {
    uint64_t products;
    int threads;
    double seconds, baseline_seconds;
    bool ecom, baseline;
    const char *generator;
} config;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double seconds_since(uint64_t t0)
{
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* Uniform in [0, 1). */
static double random_unit(uint64_t *rng)
{
    return (double)(bench_random(rng) >> 11) / 9007199254740992.0;
}

/* ---- words: the catalog's words and how often each occurs ---- */

typedef struct tally_entry {
    char *key;
    uint64_t count;
} tally_entry;

typedef struct tally {
    tally_entry *slots;
    size_t cap, used;
} tally;

static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h;
}

/* The slot of key, or the empty slot where it would go. */
static tally_entry *tally_slot(const tally *t, const char *key, size_t len)
{
    size_t j = (size_t)hash_of(key, len) & (t->cap - 1);
    while (t->slots[j].key &&
           !(strncmp(t->slots[j].key, key, len) == 0 && t->slots[j].key[len] == '\0'))
        j = (j + 1) & (t->cap - 1);
    return &t->slots[j];
}

static int tally_grow(tally *t)
{
    tally bigger = {.cap = t->cap ? t->cap * 2 : 1024, .used = t->used};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (bigger.slots == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key)
            *tally_slot(&bigger, t->slots[i].key, strlen(t->slots[i].key)) = t->slots[i];
    free(t->slots);
    *t = bigger;
    return 0;
}

static int tally_add(tally *t, const char *key, size_t len)
{
    if ((t->used + 1) * 2 > t->cap && tally_grow(t) != 0)
        return -1;
    tally_entry *e = tally_slot(t, key, len);
    if (e->key == NULL) {
        if ((e->key = malloc(len + 1)) == NULL)
            return -1;
        memcpy(e->key, key, len);
        e->key[len] = '\0';
        t->used++;
    }
    e->count++;
    return 0;
}

static uint64_t tally_get(const tally *t, const char *key, size_t len)
{
    return t->cap ? tally_slot(t, key, len)->count : 0;
}

static void tally_free(tally *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Glue words of the generator's sentences: no shopper searches for them. */
static const char *const stop_words[] = {
    "and", "any", "for", "from", "not", "our", "that", "the", "when", "with",
};

static bool is_stop_word(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof stop_words / sizeof stop_words[0]; i++)
        if (strlen(stop_words[i]) == len && memcmp(stop_words[i], word, len) == 0)
            return true;
    return false;
}

typedef int (*word_fn)(void *ctx, const char *word, size_t len);

/* Calls fn with each word of text as a shopper would type it, in lower case: letters
 * only, three or more, no glue words (so not "a", "to", "the", nor model codes such
 * as "YL-10"). Returns 0 or fn's first nonzero return. */
static int for_each_word(const char *text, word_fn fn, void *ctx)
{
    char word[64];
    size_t len = 0;
    bool letters_only = true;
    for (const char *p = text;; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            if (len < sizeof word)
                word[len++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
            letters_only = letters_only && !(c >= '0' && c <= '9');
            continue;
        }
        if (len >= 3 && len < sizeof word && letters_only && !is_stop_word(word, len)) {
            int rc = fn(ctx, word, len);
            if (rc != 0)
                return rc;
        }
        len = 0;
        letters_only = true;
        if (c == '\0')
            return 0;
    }
}

static int count_word(void *ctx, const char *word, size_t len)
{
    return tally_add(ctx, word, len);
}

/* ---- the catalog ---- */

/* Runs the generator with its output in path. */
static int generate(const config *cfg, const char *path)
{
    char count[32], seed[32];
    snprintf(count, sizeof count, "%" PRIu64, cfg->products);
    snprintf(seed, sizeof seed, "%d", SEED);
    char *argv[] = {(char *)cfg->generator, "--count", count, "--seed", seed, NULL};
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int status = 0;
    if (posix_spawn_file_actions_init(&actions) != 0)
        return -1;
    int rc = posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, path,
                                              O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (rc == 0)
        rc = posix_spawnp(&pid, cfg->generator, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        fprintf(stderr, "bench_search: cannot run %s: %s (--generator PATH names it)\n",
                cfg->generator, strerror(rc));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_search: %s failed (status %d)\n", cfg->generator, status);
        return -1;
    }
    return 0;
}

/* Stock goes to a fixed, seeded share of the products. */
static bool gets_stock(uint64_t line)
{
    uint64_t s = line * UINT64_C(0x2545F4914F6CDD1D);
    return bench_random(&s) % 100 < IN_STOCK_PERCENT;
}

/* SKU codes to receive stock for, one after another, NUL-terminated. */
typedef struct sku_list {
    char *data;
    size_t len, cap, count;
} sku_list;

static int sku_list_add(sku_list *l, const char *sku)
{
    size_t n = strlen(sku) + 1;
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1 << 20;
        char *data = realloc(l->data, cap);
        if (data == NULL)
            return -1;
        l->data = data;
        l->cap = cap;
    }
    memcpy(l->data + l->len, sku, n);
    l->len += n;
    l->count++;
    return 0;
}

/* ---- SQLite ---- */

static const char *const schema_sql =
    "PRAGMA journal_mode=OFF;"  /* a bulk load into a throwaway file */
    "PRAGMA synchronous=OFF;"
    "PRAGMA cache_size=-1048576;" /* 1 GiB */
    "PRAGMA mmap_size=2147418112;" /* reads straight from the OS page cache */
    "PRAGMA temp_store=MEMORY;"
    /* cat1, the top-level category, is kept apart for the category facet. No
     * secondary indexes: every query has a MATCH, so FTS5 drives the plan. */
    "CREATE TABLE products(n INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT NOT NULL,"
    " brand TEXT NOT NULL, description TEXT NOT NULL, category TEXT NOT NULL,"
    " cat1 TEXT NOT NULL, price_usd INTEGER, created_at INTEGER NOT NULL,"
    " in_stock INTEGER NOT NULL);"
    "CREATE TABLE attrs(product INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY(product, name, value)) WITHOUT ROWID;"
    /* External content: the text is stored once, in products. */
    "CREATE VIRTUAL TABLE fts USING fts5(title, brand, description, content='products',"
    " content_rowid='n', tokenize='porter unicode61 remove_diacritics 2');"
    /* rank is then bm25(fts, 3.0, 2.0, 1.0): title, brand, description weights. */
    "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(3.0, 2.0, 1.0)');";

/* The four statements of one query, for one combination of filters. */
enum { ST_TOP, ST_CATEGORY, ST_BRAND, ST_PRICE, STATEMENTS };

typedef struct sql_shape {
    sqlite3_stmt *stmt[STATEMENTS];
} sql_shape;

typedef struct sql_db {
    sqlite3 *db;
    sqlite3_stmt *insert_product, *insert_attr;
    sql_shape shapes[1u << F_KINDS]; /* by the bit set of filters */
} sql_db;

static int sql_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_search: sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    return -1;
}

/* Long statements (the FTS build) stop when the run is interrupted. */
static int sql_progress(void *ctx)
{
    (void)ctx;
    return interrupted;
}

static int sql_open(sql_db *s, const char *path)
{
    memset(s, 0, sizeof *s);
    if (sqlite3_open(path, &s->db) != SQLITE_OK)
        return sql_fail(s->db, "open");
    sqlite3_progress_handler(s->db, 100000, sql_progress, NULL);
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(s->db, "schema");
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO products VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           -1, &s->insert_product, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO attrs VALUES(?1, ?2, ?3)", -1, &s->insert_attr,
                           NULL) != SQLITE_OK)
        return sql_fail(s->db, "prepare insert");
    return sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_fail(s->db, "begin");
}

static void sql_close(sql_db *s)
{
    for (size_t m = 0; m < sizeof s->shapes / sizeof s->shapes[0]; m++)
        for (int k = 0; k < STATEMENTS; k++)
            sqlite3_finalize(s->shapes[m].stmt[k]);
    sqlite3_finalize(s->insert_product);
    sqlite3_finalize(s->insert_attr);
    sqlite3_close(s->db);
    memset(s, 0, sizeof *s);
}

static int sql_step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sql_fail(db, "insert");
}

static int sql_insert(sql_db *s, uint64_t n, const ecom_product *p, int64_t price_usd,
                      int64_t created_at, bool in_stock)
{
    sqlite3_stmt *st = s->insert_product;
    const char *category = ecom_product_category(p);
    int top_len = (int)strcspn(category, "/");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
    sqlite3_bind_text(st, 2, ecom_product_id(p), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ecom_product_title(p), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ecom_product_brand(p), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ecom_product_description(p), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, category, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, category, top_len, SQLITE_STATIC);
    if (price_usd >= 0)
        sqlite3_bind_int64(st, 8, price_usd);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, created_at);
    sqlite3_bind_int(st, 10, in_stock);
    if (sql_step_done(s->db, st) != 0)
        return -1;
    for (size_t i = 0; i < ecom_product_attribute_count(p); i++) {
        for (size_t j = 0; j < ecom_product_attribute_value_count(p, i); j++) {
            st = s->insert_attr;
            sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
            sqlite3_bind_text(st, 2, ecom_product_attribute_name(p, i), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, ecom_product_attribute_value(p, i, j), -1, SQLITE_STATIC);
            if (sql_step_done(s->db, st) != 0)
                return -1;
        }
    }
    return 0;
}

/* Builds the FTS5 index from the loaded table, then merges it into one segment, as
 * one would after a bulk load. */
static int sql_build_index(sql_db *s, double *rebuild_s, double *optimize_s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(s->db, "commit");
    uint64_t t0 = bench_now_ns();
    if (sqlite3_exec(s->db, "INSERT INTO fts(fts) VALUES('rebuild')", NULL, NULL, NULL) !=
        SQLITE_OK)
        return sql_fail(s->db, "fts rebuild");
    *rebuild_s = seconds_since(t0);
    t0 = bench_now_ns();
    if (sqlite3_exec(s->db, "INSERT INTO fts(fts) VALUES('optimize')", NULL, NULL, NULL) !=
        SQLITE_OK)
        return sql_fail(s->db, "fts optimize");
    *optimize_s = seconds_since(t0);
    return 0;
}

/*
 * The statements of one filter combination. The category facet groups on the
 * top-level category only: an approximation of libecom's category roll-up, which
 * counts every level. Price buckets are fixed USD bands.
 */
static int sql_prepare_shape(sql_db *s, unsigned mask)
{
    static const char *const heads[STATEMENTS] = {
        "SELECT p.id, fts.rank",
        "SELECT p.cat1, count(*)",
        "SELECT p.brand, count(*)",
        "SELECT CASE WHEN p.price_usd < 2500 THEN 0 WHEN p.price_usd < 5000 THEN 1"
        " WHEN p.price_usd < 10000 THEN 2 WHEN p.price_usd < 20000 THEN 3"
        " WHEN p.price_usd < 50000 THEN 4 ELSE 5 END AS bucket, count(*)",
    };
    static const char *const tails[STATEMENTS] = {
        " ORDER BY fts.rank LIMIT 20", " GROUP BY p.cat1", " GROUP BY p.brand",
        " GROUP BY bucket",
    };
    char where[1024];
    snprintf(where, sizeof where,
             " FROM fts JOIN products p ON p.n = fts.rowid WHERE fts MATCH :q%s%s%s%s%s",
             mask & (1u << F_CATEGORY)
                 ? " AND (p.category = :cat OR substr(p.category, 1, length(:cat) + 1) ="
                   " :cat || '/')"
                 : "",
             mask & (1u << F_BRAND) ? " AND p.brand = :brand" : "",
             mask & (1u << F_PRICE) ? " AND p.price_usd BETWEEN :pmin AND :pmax" : "",
             mask & (1u << F_IN_STOCK) ? " AND p.in_stock = 1" : "",
             mask & (1u << F_ATTR) ? " AND EXISTS (SELECT 1 FROM attrs a WHERE a.product = p.n"
                                     " AND a.name = :aname AND a.value = :aval)"
                                   : "");
    for (int k = 0; k < STATEMENTS; k++) {
        char sql[2048];
        snprintf(sql, sizeof sql, "%s%s%s", heads[k], where, tails[k]);
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &s->shapes[mask].stmt[k], NULL) != SQLITE_OK)
            return sql_fail(s->db, "prepare query");
    }
    return 0;
}

/* ---- the load pass ---- */

/* A product queries are made from. */
typedef struct anchor {
    ecom_product *p;
    bool in_stock;
    int64_t price_usd;
} anchor;

typedef struct catalog {
    uint64_t lines, active;
    sku_list stock;  /* first SKU of each active product that gets stock */
    tally words;     /* every searchable word of titles and descriptions */
    anchor anchors[QUERIES]; /* a seeded, uniform sample of the active products */
    size_t anchor_count;
    uint64_t sample_rng;
} catalog;

/* Lowest price in USD over the variants, or -1. */
static int64_t lowest_usd(const ecom_product *p)
{
    int64_t best = -1, amount;
    for (size_t v = 0; v < ecom_product_variant_count(p); v++)
        if (ecom_product_variant_price(&amount, p, v, "USD") == ECOM_OK &&
            (best < 0 || amount < best))
            best = amount;
    return best;
}

/* Reservoir sampling (Algorithm R): keeps p, taking ownership, when it is drawn. */
static bool sample(catalog *c, ecom_product *p, bool in_stock, int64_t price_usd)
{
    size_t slot = c->anchor_count;
    if (slot < QUERIES) {
        c->anchor_count++;
    } else {
        uint64_t r = bench_random(&c->sample_rng) % c->active;
        if (r >= QUERIES)
            return false;
        slot = (size_t)r;
        ecom_product_free(c->anchors[slot].p);
    }
    c->anchors[slot] = (anchor){p, in_stock, price_usd};
    return true;
}

/* Reads the generated products: counts their words, samples products to make queries
 * from, fills SQLite (sql may be NULL) and lists the SKUs to stock (when stock is
 * set). Only active products count: drafts and archived products are not searchable. */
static int load_pass(catalog *c, const char *path, sql_db *sql, bool stock)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_search: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL, errmsg[256];
    size_t size = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && !interrupted && (len = getline(&line, &size, f)) > 0) {
        ecom_product *p = NULL;
        c->lines++;
        if (ecom_product_from_json(&p, line, (size_t)len, errmsg, sizeof errmsg) != ECOM_OK) {
            fprintf(stderr, "bench_search: line %" PRIu64 ": %s\n", c->lines, errmsg);
            rc = -1;
            break;
        }
        if (ecom_product_get_status(p) == ECOM_STATUS_ACTIVE) {
            bool in_stock = gets_stock(c->lines);
            int64_t price = lowest_usd(p);
            c->active++;
            rc = for_each_word(ecom_product_title(p), count_word, &c->words);
            if (rc == 0)
                rc = for_each_word(ecom_product_description(p), count_word, &c->words);
            /* The store stamps created_at at import; SQLite gets the import order. */
            if (rc == 0 && sql)
                rc = sql_insert(sql, c->lines, p, price,
                                INT64_C(1700000000000) + (int64_t)c->lines, in_stock);
            if (rc == 0 && stock && in_stock)
                rc = sku_list_add(&c->stock, ecom_product_variant_sku(p, 0));
            if (rc == 0 && sample(c, p, in_stock, price))
                p = NULL;
        }
        ecom_product_free(p);
    }
    free(line);
    fclose(f);
    return rc == 0 && !interrupted ? 0 : -1;
}

/* ---- the query mix ---- */

typedef struct query {
    char text[128];  /* libecom: "word word" */
    char match[160]; /* FTS5: "\"word\" \"word\"" (all must match) */
    unsigned filters;
    char category[260];
    const char *brands[1];
    ecom_search_attr attr;
    int64_t price_min, price_max;
    ecom_search_request req;
} query;

static const char *const facet_names[] = {"category", "brand", "price"};

/* USD price points (minor units) that ranges start and end at. */
static const int64_t price_points[] = {0, 1000, 2500, 5000, 10000, 20000, 35000, 50000};
#define PRICE_POINTS (sizeof price_points / sizeof price_points[0])

/* The distinct words of one text, each weighted by the square root of how often the
 * catalog has it: toward the common words without drawing only the commonest. */
#define SET_WORDS 96
typedef struct word_set {
    char words[SET_WORDS][32];
    double weight[SET_WORDS], total;
    size_t n;
    const tally *counts;
} word_set;

static int collect_word(void *ctx, const char *word, size_t len)
{
    word_set *set = ctx;
    if (len >= sizeof set->words[0] || set->n == SET_WORDS)
        return 0;
    for (size_t i = 0; i < set->n; i++)
        if (strncmp(set->words[i], word, len) == 0 && set->words[i][len] == '\0')
            return 0;
    memcpy(set->words[set->n], word, len);
    set->words[set->n][len] = '\0';
    set->weight[set->n] = sqrt((double)tally_get(set->counts, word, len));
    set->total += set->weight[set->n++];
    return 0;
}

static const char *draw_word(const word_set *set, bool weighted, uint64_t *rng)
{
    if (!weighted)
        return set->words[bench_random(rng) % set->n];
    double x = random_unit(rng) * set->total;
    for (size_t i = 0; i + 1 < set->n; i++) {
        if (x < set->weight[i])
            return set->words[i];
        x -= set->weight[i];
    }
    return set->words[set->n - 1];
}

/* 1-3 distinct words of the product: each from its title (any alike) or, as often,
 * from its description (weighted toward the catalog's common words). */
static void make_words(query *q, const anchor *a, const tally *counts, uint64_t *rng)
{
    word_set title = {.counts = counts}, desc = {.counts = counts};
    for_each_word(ecom_product_title(a->p), collect_word, &title);
    for_each_word(ecom_product_description(a->p), collect_word, &desc);
    const char *picked[3];
    size_t n = 1 + (size_t)(bench_random(rng) % 3), have = 0;
    for (size_t tries = 0; have < n && tries < 20 && title.n + desc.n > 0; tries++) {
        bool from_title = desc.n == 0 || (title.n > 0 && bench_random(rng) % 2);
        const char *w = from_title ? draw_word(&title, false, rng) : draw_word(&desc, true, rng);
        bool seen = false;
        for (size_t i = 0; i < have; i++)
            seen = seen || strcmp(picked[i], w) == 0;
        if (!seen)
            picked[have++] = w;
    }
    size_t tl = 0, ml = 0;
    for (size_t i = 0; i < have; i++) {
        tl += (size_t)snprintf(q->text + tl, sizeof q->text - tl, "%s%s", i ? " " : "",
                               picked[i]);
        ml += (size_t)snprintf(q->match + ml, sizeof q->match - ml, "%s\"%s\"", i ? " " : "",
                               picked[i]);
    }
}

/* A USD range around price: from the price point at or below it (or the one before),
 * up to the next point above it (or the one after); open at the ends of the list. */
static void make_price_range(query *q, int64_t price, uint64_t *rng)
{
    size_t i = 0;
    while (i + 1 < PRICE_POINTS && price_points[i + 1] <= price)
        i++;
    size_t lo = i - (i > 0 ? (size_t)(bench_random(rng) % 2) : 0);
    size_t hi = i + 1 + (size_t)(bench_random(rng) % 2);
    q->price_min = lo == 0 ? -1 : price_points[lo];
    q->price_max = hi >= PRICE_POINTS ? -1 : price_points[hi] - 1;
}

/* 1-3 filters of different kinds, each one the product passes. */
static void make_filters(query *q, const anchor *a, uint64_t *rng)
{
    const ecom_product *p = a->p;
    int kinds[F_KINDS] = {F_CATEGORY, F_BRAND, F_PRICE, F_IN_STOCK, F_ATTR};
    for (int i = F_KINDS - 1; i > 0; i--) {
        int j = (int)(bench_random(rng) % (uint64_t)(i + 1)), t = kinds[i];
        kinds[i] = kinds[j];
        kinds[j] = t;
    }
    int want = 1 + (int)(bench_random(rng) % 3), have = 0;
    const char *category = ecom_product_category(p);
    q->price_min = q->price_max = -1;
    for (int i = 0; i < F_KINDS && have < want; i++) {
        switch (kinds[i]) {
        case F_CATEGORY: {
            if (category[0] == '\0')
                continue;
            /* its top-level category or its second level, as a shopper narrows down */
            size_t len = strcspn(category, "/");
            if (category[len] && bench_random(rng) % 2)
                len += 1 + strcspn(category + len + 1, "/");
            snprintf(q->category, sizeof q->category, "%.*s", (int)len, category);
            break;
        }
        case F_BRAND:
            if (ecom_product_brand(p)[0] == '\0')
                continue;
            q->brands[0] = ecom_product_brand(p);
            break;
        case F_PRICE:
            if (a->price_usd < 0)
                continue;
            make_price_range(q, a->price_usd, rng);
            break;
        case F_IN_STOCK:
            if (!a->in_stock)
                continue;
            break;
        case F_ATTR: {
            size_t n = ecom_product_attribute_count(p);
            if (n == 0)
                continue;
            size_t k = (size_t)(bench_random(rng) % n);
            size_t v = (size_t)(bench_random(rng) % ecom_product_attribute_value_count(p, k));
            q->attr.name = ecom_product_attribute_name(p, k);
            q->attr.value = ecom_product_attribute_value(p, k, v);
            break;
        }
        }
        q->filters |= 1u << kinds[i];
        have++;
    }
}

static void make_request(query *q)
{
    ecom_search_request r = ECOM_SEARCH_REQUEST_INIT;
    r.text = q->text;
    if (q->filters & (1u << F_CATEGORY))
        r.category = q->category;
    if (q->filters & (1u << F_BRAND)) {
        r.brands = q->brands;
        r.brand_count = 1;
    }
    if (q->filters & (1u << F_ATTR)) {
        r.attrs = &q->attr;
        r.attr_count = 1;
    }
    r.currency = "USD";
    r.price_min = q->price_min;
    r.price_max = q->price_max;
    r.in_stock = (q->filters & (1u << F_IN_STOCK)) != 0;
    r.facets = facet_names;
    r.facet_count = sizeof facet_names / sizeof facet_names[0];
    r.sort = ECOM_SORT_RELEVANCE;
    r.limit = TOP_K;
    q->req = r;
}

/*
 * Query i is made from sampled product i: words drawn independently from the whole
 * vocabulary would mostly combine into nothing (a brand's name with another brand's
 * filter), which no shopper types; made from one product, every query matches at
 * least that product in both engines, and usually many more. The queries keep
 * pointers into the sampled products, which live as long as the catalog.
 */
static query *make_queries(const catalog *c)
{
    if (c->anchor_count == 0) {
        fprintf(stderr, "bench_search: no active product to make queries from\n");
        return NULL;
    }
    query *qs = calloc(QUERIES, sizeof *qs);
    if (qs == NULL)
        return NULL;
    uint64_t rng = QUERY_SEED;
    for (size_t i = 0; i < QUERIES; i++) {
        const anchor *a = &c->anchors[i % c->anchor_count];
        make_words(&qs[i], a, &c->words, &rng);
        make_filters(&qs[i], a, &rng);
        make_request(&qs[i]);
    }
    return qs;
}

static void describe_query(char *out, size_t size, const query *q)
{
    int n = snprintf(out, size, "\"%s\"", q->text);
    size_t used = n > 0 ? (size_t)n : 0;
    if ((q->filters & (1u << F_CATEGORY)) && used < size)
        used += (size_t)snprintf(out + used, size - used, " category:%s", q->category);
    if ((q->filters & (1u << F_BRAND)) && used < size)
        used += (size_t)snprintf(out + used, size - used, " brand:%s", q->brands[0]);
    if ((q->filters & (1u << F_PRICE)) && used < size)
        used += (size_t)snprintf(out + used, size - used, " usd:%" PRId64 "..%" PRId64,
                                 q->price_min, q->price_max);
    if ((q->filters & (1u << F_IN_STOCK)) && used < size)
        used += (size_t)snprintf(out + used, size - used, " in:stock");
    if ((q->filters & (1u << F_ATTR)) && used < size)
        snprintf(out + used, size - used, " %s:%s", q->attr.name, q->attr.value);
}

/* ---- SQLite's queries ---- */

static void bind_text(sqlite3_stmt *st, const char *name, const char *value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i > 0)
        sqlite3_bind_text(st, i, value, -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *st, const char *name, int64_t value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i > 0)
        sqlite3_bind_int64(st, i, value);
}

/* Runs one query's four statements; *matches is the size of the filtered match set
 * (the category facet's counts summed: every product has one top-level value). */
static int sql_run_query(sql_db *s, const query *q, uint64_t *matches)
{
    sql_shape *shape = &s->shapes[q->filters];
    volatile int64_t sink = 0;
    *matches = 0;
    for (int k = 0; k < STATEMENTS; k++) {
        sqlite3_stmt *st = shape->stmt[k];
        bind_text(st, ":q", q->match);
        bind_text(st, ":cat", q->category);
        bind_text(st, ":brand", q->brands[0]);
        bind_int64(st, ":pmin", q->price_min < 0 ? 0 : q->price_min);
        bind_int64(st, ":pmax", q->price_max < 0 ? INT64_MAX : q->price_max);
        bind_text(st, ":aname", q->attr.name);
        bind_text(st, ":aval", q->attr.value);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (k == ST_CATEGORY)
                *matches += (uint64_t)sqlite3_column_int64(st, 1);
            else /* read what a caller would read */
                sink += (int64_t)sqlite3_column_bytes(st, 0) + sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return sql_fail(s->db, "query");
    }
    (void)sink;
    return 0;
}

typedef struct sql_figures {
    double build_s, load_s, optimize_s, qps, p50_ms, p99_ms;
    size_t executed;       /* queries run */
    size_t ran, empty;     /* distinct queries run (at most the mix); of them, matching none */
    double median_matches;
    uint64_t *matches;     /* matches[i] for the first `ran` queries */
} sql_figures;

/* The mix in order, one thread, until the time budget is spent (at least one query). */
static int sql_measure(sql_db *s, const query *qs, double budget_s, sql_figures *out)
{
    bench_hist h;
    memset(&h, 0, sizeof h);
    out->matches = calloc(QUERIES, sizeof *out->matches);
    if (out->matches == NULL)
        return -1;
    uint64_t start = bench_now_ns(), deadline = start + (uint64_t)(budget_s * 1e9);
    size_t i = 0;
    do {
        uint64_t t0 = bench_now_ns(), n = 0;
        if (sql_run_query(s, &qs[i % QUERIES], &n) != 0)
            return -1;
        bench_hist_add(&h, bench_now_ns() - t0);
        if (i < QUERIES)
            out->matches[i] = n;
        i++;
    } while (bench_now_ns() < deadline && !interrupted);
    out->qps = (double)i / seconds_since(start);
    out->executed = i;
    out->ran = i < QUERIES ? i : QUERIES;
    double *sizes = malloc(out->ran * sizeof *sizes);
    if (sizes == NULL)
        return -1;
    for (size_t k = 0; k < out->ran; k++) {
        sizes[k] = (double)out->matches[k];
        out->empty += out->matches[k] == 0;
    }
    out->median_matches = bench_median(sizes, out->ran);
    free(sizes);
    out->p50_ms = bench_hist_quantile_us(&h, 0.5) / 1000.0;
    out->p99_ms = bench_hist_quantile_us(&h, 0.99) / 1000.0;
    return interrupted ? -1 : 0;
}

/* ---- libecom's queries ---- */

typedef struct worker {
    pthread_t thread;
    ecom_search *search;
    const query *qs;
    atomic_size_t *next; /* shared: every thread count runs the same prefix of the mix */
    uint64_t deadline_ns, done;
    bench_hist lat;
    int failed;
} worker;

static int run_one(ecom_search *search, const query *q, uint64_t *total, int *cached)
{
    ecom_search_result *r = NULL;
    int rc = ecom_search_run(&r, search, &q->req);
    if (rc != ECOM_OK) {
        char what[300];
        describe_query(what, sizeof what, q);
        fprintf(stderr, "bench_search: search %s: %s (%s)\n", what, ecom_strerror(rc),
                ecom_search_errmsg(search));
        return -1;
    }
    *total = ecom_search_result_total(r);
    if (cached)
        *cached = ecom_search_result_cached(r);
    ecom_search_result_free(r);
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    while (bench_now_ns() < w->deadline_ns && !interrupted) {
        uint64_t total, t0 = bench_now_ns();
        size_t i = atomic_fetch_add_explicit(w->next, 1, memory_order_relaxed);
        if (run_one(w->search, &w->qs[i % QUERIES], &total, NULL) != 0) {
            w->failed = 1;
            break;
        }
        bench_hist_add(&w->lat, bench_now_ns() - t0);
        w->done++;
    }
    return NULL;
}

/* Queries per second with `threads` threads for `seconds`, taking the mix's queries in
 * order. Latencies are added to lat. Returns -1 on failure. */
static double ecom_run_threads(ecom_search *search, const query *qs, int threads,
                               double seconds, bench_hist *lat)
{
    worker *w = calloc((size_t)threads, sizeof *w);
    if (w == NULL)
        return -1;
    int started = 0, failed = 0;
    atomic_size_t next = 0;
    uint64_t start = bench_now_ns(), done = 0;
    for (int i = 0; i < threads; i++) {
        w[i].search = search;
        w[i].qs = qs;
        w[i].next = &next;
        w[i].deadline_ns = start + (uint64_t)(seconds * 1e9);
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done;
        failed |= w[i].failed;
        bench_hist_merge(lat, &w[i].lat);
    }
    /* Queries in flight at the deadline finish and count: the clock runs until then. */
    double qps = (double)done / seconds_since(start);
    free(w);
    return failed || started < threads || interrupted ? -1 : qps;
}

static int open_search(ecom_search **out, ecom_store *store, int64_t cache_ttl_ms,
                       double *build_s)
{
    ecom_search_options o = ECOM_SEARCH_OPTIONS_INIT;
    o.cache_ttl_ms = cache_ttl_ms;
    /* Nothing changes during the run: no follower thread to share the two cores. */
    o.manual = 1;
    *out = NULL;
    uint64_t t0 = bench_now_ns();
    int rc = ecom_search_open(out, store, &o);
    if (rc == ECOM_OK)
        rc = ecom_search_refresh(*out, NULL);
    *build_s = seconds_since(t0);
    if (rc != ECOM_OK) {
        fprintf(stderr, "bench_search: ecom_search_open: %s (%s)\n", ecom_strerror(rc),
                *out ? ecom_search_errmsg(*out) : ecom_errmsg(store));
        ecom_search_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

typedef struct ecom_figures {
    double import_s, stock_s, build_s, rebuild_s, bytes_per_product;
    size_t indexed;
    int thread_counts[2], runs_n;
    double qps[2][REPEATS], qps_median[2];
    bench_hist lat[2];
    double cache_hit_rate, cache_hit_p50_us, cache_p50_us, cache_miss_p50_us;
} ecom_figures;

static int ecom_load(ecom_store **store, const char *dir, const char *jsonl, const sku_list *stock,
                     ecom_figures *f)
{
    char uri[600];
    snprintf(uri, sizeof uri, "lmdb://%s", dir);
    ecom_options o = ECOM_OPTIONS_INIT;
    o.no_sync = 1; /* a throwaway store: the load is not what is measured */
    if (ecom_store_open(store, uri, &o) != ECOM_OK) {
        fprintf(stderr, "bench_search: open %s: %s\n", uri, ecom_errmsg(*store));
        return -1;
    }
    ecom_import_stats stats = {0};
    uint64_t t0 = bench_now_ns();
    int rc = ecom_catalog_import(&stats, *store, jsonl, NULL);
    f->import_s = seconds_since(t0);
    if (rc != ECOM_OK || stats.rejected != 0) {
        fprintf(stderr, "bench_search: import: %s (%" PRIu64 " imported, %" PRIu64
                " rejected)\n", rc ? ecom_errmsg(*store) : "lines rejected", stats.imported,
                stats.rejected);
        return -1;
    }
    t0 = bench_now_ns();
    const char *sku = stock->data;
    for (size_t i = 0; i < stock->count && !interrupted; i++, sku += strlen(sku) + 1) {
        rc = ecom_stock_adjust(*store, sku, NULL, ECOM_ADJUST_RECEIVE, STOCK_UNITS, "bench",
                               NULL);
        if (rc != ECOM_OK) {
            fprintf(stderr, "bench_search: stock %s: %s\n", sku, ecom_errmsg(*store));
            return -1;
        }
    }
    f->stock_s = seconds_since(t0);
    return interrupted ? -1 : 0;
}

static int ecom_measure(ecom_search *search, const query *qs, const config *cfg,
                        ecom_figures *f)
{
    f->thread_counts[0] = 1;
    f->thread_counts[1] = cfg->threads;
    f->runs_n = cfg->threads > 1 ? 2 : 1;
    /* Rounds alternate thread counts so that drift in the machine touches both alike. */
    for (int rep = 0; rep < REPEATS; rep++) {
        for (int t = 0; t < f->runs_n; t++) {
            f->qps[t][rep] = ecom_run_threads(search, qs, f->thread_counts[t], cfg->seconds,
                                              &f->lat[t]);
            if (f->qps[t][rep] < 0)
                return -1;
        }
    }
    for (int t = 0; t < f->runs_n; t++) {
        double sorted[REPEATS];
        memcpy(sorted, f->qps[t], sizeof sorted);
        f->qps_median[t] = bench_median(sorted, REPEATS);
    }
    return 0;
}

/* Popular queries come back: a skewed draw over the mix, with the cache on. */
static int ecom_cache_pass(ecom_search *search, const query *qs, ecom_figures *f)
{
    bench_hist all, hits, misses;
    memset(&all, 0, sizeof all);
    memset(&hits, 0, sizeof hits);
    memset(&misses, 0, sizeof misses);
    uint64_t rng = QUERY_SEED ^ 0xCAC4E;
    for (size_t i = 0; i < CACHE_DRAWS && !interrupted; i++) {
        double u = random_unit(&rng);
        size_t k = (size_t)(u * u * u * QUERIES);
        uint64_t total, t0 = bench_now_ns();
        int cached = 0;
        if (run_one(search, &qs[k], &total, &cached) != 0)
            return -1;
        uint64_t ns = bench_now_ns() - t0;
        bench_hist_add(&all, ns);
        bench_hist_add(cached ? &hits : &misses, ns);
    }
    ecom_search_status st;
    memset(&st, 0, sizeof st);
    if (ecom_search_status_get(&st, search) != ECOM_OK)
        return -1;
    uint64_t lookups = st.cache_hits + st.cache_misses;
    f->cache_hit_rate = lookups ? (double)st.cache_hits / (double)lookups : 0;
    f->cache_hit_p50_us = bench_hist_quantile_us(&hits, 0.5);
    f->cache_miss_p50_us = bench_hist_quantile_us(&misses, 0.5);
    f->cache_p50_us = bench_hist_quantile_us(&all, 0.5);
    return interrupted ? -1 : 0;
}

/* ---- agreement ---- */

typedef struct agreement {
    size_t compared, zero_hit_faults;
    double median_rel_diff;
} agreement;

static int compare_engines(ecom_search *search, const query *qs, const sql_figures *sf,
                           agreement *a)
{
    size_t n = sf->ran < AGREE_SAMPLE ? sf->ran : AGREE_SAMPLE, shown = 0;
    double *diffs = calloc(n + 1, sizeof *diffs);
    if (diffs == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t total = 0, theirs = sf->matches[i];
        if (run_one(search, &qs[i], &total, NULL) != 0) {
            free(diffs);
            return -1;
        }
        /* Relative to the larger count: defined when SQLite finds nothing, and in 0..1. */
        double larger = total > theirs ? (double)total : (double)theirs;
        diffs[i] = larger > 0 ? fabs((double)total - (double)theirs) / larger : 0;
        if (total == 0 && theirs > ZERO_HIT_LIMIT) {
            char what[300];
            describe_query(what, sizeof what, &qs[i]);
            if (a->zero_hit_faults++ < 10)
                fprintf(stderr, "bench_search: FAIL: libecom finds nothing for %s; SQLite "
                        "finds %" PRIu64 "\n", what, theirs);
        } else if (diffs[i] > 0.5 && shown++ < 3) {
            char what[300];
            describe_query(what, sizeof what, &qs[i]);
            printf("  differs: %s: libecom %" PRIu64 ", SQLite %" PRIu64 "\n", what, total,
                   theirs);
        }
    }
    a->compared = n;
    a->median_rel_diff = bench_median(diffs, n);
    free(diffs);
    return 0;
}

/* ---- report ---- */

static void json_number(const char *key, bool present, int decimals, double value)
{
    printf(",\"%s\":", key);
    if (present)
        printf("%.*f", decimals, value);
    else
        fputs("null", stdout);
}

static void report(const config *cfg, const catalog *c, const ecom_figures *ef,
                   const sql_figures *sf, const agreement *a)
{
    bool e = cfg->ecom, s = cfg->baseline;
    double p50 = e ? bench_hist_quantile_us(&ef->lat[0], 0.5) / 1000.0 : 0;
    double p99 = e ? bench_hist_quantile_us(&ef->lat[0], 0.99) / 1000.0 : 0;
    double ratio = e && s && sf->qps > 0 ? ef->qps_median[0] / sf->qps : 0;
    puts("");
    if (e) {
        printf("libecom:  index built in %.2f s (ecom_search_open), %zu products, %.0f bytes "
               "per product\n", ef->build_s, ef->indexed, ef->bytes_per_product);
        printf("  cache off, %d runs of %.1f s, median:\n", REPEATS, cfg->seconds);
        for (int t = 0; t < ef->runs_n; t++) {
            printf("  %2d thread%s %9.1f queries/s  p50 %8.3f ms  p99 %8.3f ms  (runs:",
                   ef->thread_counts[t], ef->thread_counts[t] > 1 ? "s" : " ",
                   ef->qps_median[t], bench_hist_quantile_us(&ef->lat[t], 0.5) / 1000.0,
                   bench_hist_quantile_us(&ef->lat[t], 0.99) / 1000.0);
            for (int i = 0; i < REPEATS; i++)
                printf(" %.1f", ef->qps[t][i]);
            puts(")");
        }
        printf("  cache on (index rebuilt in %.2f s), %d skewed draws: hit rate %.1f%%, p50 "
               "%.1f us (hits %.1f us, misses %.1f us)\n", ef->rebuild_s, CACHE_DRAWS,
               ef->cache_hit_rate * 100, ef->cache_p50_us, ef->cache_hit_p50_us,
               ef->cache_miss_p50_us);
    }
    if (s) {
        printf("SQLite FTS5: tables loaded in %.2f s (with the JSON parse); index built in "
               "%.2f s (rebuild %.2f s + optimize %.2f s)\n", sf->load_s,
               sf->build_s + sf->optimize_s, sf->build_s, sf->optimize_s);
        printf("  one thread, %.0f s budget: %zu queries, %.2f queries/s  p50 %.3f ms  "
               "p99 %.3f ms\n", cfg->baseline_seconds, sf->executed, sf->qps, sf->p50_ms,
               sf->p99_ms);
        printf("  (per query: top %d by bm25(3, 2, 1) + GROUP BY category, brand, price); "
               "products matched: median %.0f, none for %zu of %zu queries\n", TOP_K,
               sf->median_matches, sf->empty, sf->ran);
    }
    if (e && s) {
        printf("agreement on %zu queries: median |libecom - SQLite| / the larger = %.3f "
               "(tokenizers, stemmers, prefix and typo matching differ)\n", a->compared,
               a->median_rel_diff);
        if (a->zero_hit_faults)
            printf("FAIL: libecom finds nothing for %zu queries SQLite finds more than %d "
                   "products for\n", a->zero_hit_faults, ZERO_HIT_LIMIT);
        printf("libecom / SQLite FTS5: %.1fx queries/s at one thread each\n", ratio);
    }
    printf("{\"bench\":\"search\",\"products\":%" PRIu64 ",\"active\":%" PRIu64, c->lines,
           c->active);
    json_number("ecom_build_s", e, 2, ef->build_s);
    json_number("ecom_bytes_per_product", e, 0, ef->bytes_per_product);
    for (int t = 0; t < (e ? ef->runs_n : 2); t++) {
        char key[32];
        snprintf(key, sizeof key, "ecom_qps_%d", e ? ef->thread_counts[t] : t + 1);
        json_number(key, e, 1, e ? ef->qps_median[t] : 0);
    }
    json_number("ecom_p50_ms", e, 3, p50);
    json_number("ecom_p99_ms", e, 3, p99);
    json_number("fts5_build_s", s, 2, sf->build_s + sf->optimize_s);
    json_number("fts5_qps", s, 2, sf->qps);
    json_number("fts5_p50_ms", s, 3, sf->p50_ms);
    json_number("fts5_p99_ms", s, 3, sf->p99_ms);
    json_number("ratio", e && s, 1, ratio);
    json_number("cache_hit_rate", e, 3, ef->cache_hit_rate);
    json_number("cache_hit_p50_us", e, 1, ef->cache_hit_p50_us);
    json_number("agreement_median_rel_diff", e && s, 3, a->median_rel_diff);
    puts("}");
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fputs("usage: bench_search [--quick] [--products N] [--threads T] [--seconds S]\n"
          "                    [--baseline-seconds S] [--no-baseline | --baseline-only]\n"
          "                    [--generator PATH]\n"
          "  --quick             50,000 products, 1 s runs, 5 s of SQLite\n"
          "                      (default 1,000,000 products, 5 s runs, 20 s of SQLite)\n"
          "  --threads T         libecom runs at 1 and T threads (default 2)\n"
          "  --seconds S         each timed libecom run\n"
          "  --baseline-seconds  SQLite's time budget (it runs one thread)\n"
          "  --no-baseline       libecom only;  --baseline-only  SQLite only\n"
          "  --generator PATH    the ecom-gen-catalog program\n",
          f);
}

static int parse_args(int argc, char **argv, config *cfg)
{
    bool quick = false;
    long long products = -1;
    double seconds = -1, baseline_seconds = -1;
    *cfg = (config){.threads = 2, .ecom = true, .baseline = true, .generator = ECOM_GEN_CATALOG};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--quick") == 0)
            quick = true;
        else if (strcmp(a, "--products") == 0 && has_value)
            products = atoll(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && has_value)
            cfg->threads = atoi(argv[++i]);
        else if (strcmp(a, "--seconds") == 0 && has_value)
            seconds = atof(argv[++i]);
        else if (strcmp(a, "--baseline-seconds") == 0 && has_value)
            baseline_seconds = atof(argv[++i]);
        else if (strcmp(a, "--no-baseline") == 0)
            cfg->baseline = false;
        else if (strcmp(a, "--baseline-only") == 0)
            cfg->ecom = false;
        else if (strcmp(a, "--generator") == 0 && has_value)
            cfg->generator = argv[++i];
        else
            return -1;
    }
    cfg->products = products > 0 ? (uint64_t)products : quick ? 50000 : 1000000;
    cfg->seconds = seconds > 0 ? seconds : quick ? 1.0 : 5.0;
    cfg->baseline_seconds = baseline_seconds > 0 ? baseline_seconds : quick ? 5.0 : 20.0;
    if (products == 0 || products > 100000000LL || seconds == 0 || baseline_seconds == 0 ||
        cfg->threads < 1 || cfg->threads > MAX_THREADS || (!cfg->ecom && !cfg->baseline))
        return -1;
    return 0;
}

typedef struct run_state {
    catalog cat;
    sql_db sql;
    ecom_store *store;
    ecom_search *search;
    query *qs;
    ecom_figures ef;
    sql_figures sf;
    agreement agree;
} run_state;

static int run_baseline(const config *cfg, run_state *r)
{
    for (unsigned mask = 1; mask < (1u << F_KINDS); mask++)
        if (sql_prepare_shape(&r->sql, mask) != 0)
            return -1;
    printf("SQLite FTS5: %.0f s budget, one thread ...\n", cfg->baseline_seconds);
    fflush(stdout);
    return sql_measure(&r->sql, r->qs, cfg->baseline_seconds, &r->sf);
}

static int run(const config *cfg, const char *dir, run_state *r)
{
    char jsonl[600], db[600], store_dir[600];
    snprintf(jsonl, sizeof jsonl, "%s/catalog.jsonl", dir);
    snprintf(db, sizeof db, "%s/fts.db", dir);
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);

    uint64_t t0 = bench_now_ns();
    if (generate(cfg, jsonl) != 0)
        return -1;
    struct stat st;
    printf("catalog:  %" PRIu64 " products, %.1f MB of JSON Lines, generated in %.2f s\n",
           cfg->products, stat(jsonl, &st) == 0 ? (double)st.st_size / 1e6 : 0.0,
           seconds_since(t0));
    fflush(stdout);

    if (cfg->baseline && sql_open(&r->sql, db) != 0)
        return -1;
    t0 = bench_now_ns();
    r->cat.sample_rng = SAMPLE_SEED;
    if (load_pass(&r->cat, jsonl, cfg->baseline ? &r->sql : NULL, cfg->ecom) != 0)
        return -1;
    r->sf.load_s = seconds_since(t0);
    printf("          %" PRIu64 " active (searchable), %zu distinct words; %zu sampled to make "
           "queries from\n", r->cat.active, r->cat.words.used, r->cat.anchor_count);
    fflush(stdout);

    if (cfg->ecom) {
        if (ecom_load(&r->store, store_dir, jsonl, &r->cat.stock, &r->ef) != 0)
            return -1;
        printf("libecom:  imported in %.2f s; stock received for %zu products in %.2f s\n",
               r->ef.import_s, r->cat.stock.count, r->ef.stock_s);
        fflush(stdout);
    }
    unlink(jsonl);
    if (cfg->baseline) {
        if (sql_build_index(&r->sql, &r->sf.build_s, &r->sf.optimize_s) != 0)
            return -1;
        printf("SQLite:   tables loaded in %.2f s, FTS5 index built in %.2f s + optimized in "
               "%.2f s\n", r->sf.load_s, r->sf.build_s, r->sf.optimize_s);
        fflush(stdout);
    }
    if ((r->qs = make_queries(&r->cat)) == NULL)
        return -1;

    if (cfg->ecom) {
        if (open_search(&r->search, r->store, -1, &r->ef.build_s) != 0)
            return -1;
        ecom_search_status ss;
        memset(&ss, 0, sizeof ss);
        if (ecom_search_status_get(&ss, r->search) != ECOM_OK)
            return -1;
        r->ef.indexed = ss.products;
        r->ef.bytes_per_product = ss.products ? (double)ss.memory_bytes / (double)ss.products : 0;
        printf("libecom:  index of %zu products built in %.2f s, %.1f MB (%.0f bytes per "
               "product)\n", ss.products, r->ef.build_s, (double)ss.memory_bytes / 1e6,
               r->ef.bytes_per_product);
        if (ss.products != r->cat.active)
            printf("          (the catalog has %" PRIu64 " active products)\n", r->cat.active);
        printf("libecom:  %d x %.1f s at 1%s threads, cache off ...\n", REPEATS, cfg->seconds,
               cfg->threads > 1 ? " and more" : "");
        fflush(stdout);
        if (ecom_measure(r->search, r->qs, cfg, &r->ef) != 0)
            return -1;
    }
    if (cfg->baseline && run_baseline(cfg, r) != 0)
        return -1;
    if (cfg->ecom && cfg->baseline && compare_engines(r->search, r->qs, &r->sf, &r->agree) != 0)
        return -1;
    if (cfg->ecom) {
        ecom_search_close(r->search);
        r->search = NULL;
        if (open_search(&r->search, r->store, 0, &r->ef.rebuild_s) != 0 ||
            ecom_cache_pass(r->search, r->qs, &r->ef) != 0)
            return -1;
    }
    report(cfg, &r->cat, &r->ef, &r->sf, &r->agree);
    return r->agree.zero_hit_faults ? 1 : 0;
}

static void run_free(run_state *r)
{
    if (r->search) /* --baseline-only never touches search: it runs without it linked */
        ecom_search_close(r->search);
    ecom_store_close(r->store);
    sql_close(&r->sql);
    tally_free(&r->cat.words);
    for (size_t i = 0; i < r->cat.anchor_count; i++)
        ecom_product_free(r->cat.anchors[i].p);
    free(r->cat.stock.data);
    free(r->qs);
    free(r->sf.matches);
}

int main(int argc, char **argv)
{
    config cfg;
    int parsed = parse_args(argc, argv, &cfg);
    if (parsed != 0) {
        usage(parsed > 0 ? stdout : stderr);
        return parsed > 0 ? 0 : 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ecom-bench-search-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_search: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    bench_print_machine();
    bench_print_load();
    printf("search:   %" PRIu64 " products (seed %d), %d queries in the mix, libecom %s, "
           "SQLite %s\n", cfg.products, SEED, QUERIES, cfg.ecom ? "on" : "off",
           cfg.baseline ? sqlite3_libversion() : "off");
    fflush(stdout);

    run_state *r = calloc(1, sizeof *r);
    int rc = r ? run(&cfg, dir, r) : -1;
    if (r)
        run_free(r);
    free(r);
    bench_remove_dir(dir);
    if (interrupted)
        fprintf(stderr, "bench_search: interrupted\n");
    return rc == 0 && !interrupted ? 0 : 1;
}
