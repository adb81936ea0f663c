/*
 * bench_checkout: durable checkouts from many client threads. On a fresh LMDB store
 * (fsync on, a shipping fee and a tax rate set) with P products in stock to spare,
 * T threads each loop: fill a cart of their own with 1-3 random lines, then
 * ecom_checkout (token "tok_approve", a unique idempotency key). For each T in
 * {1, 2, 8, 64}, over a fixed duration: checkouts per second, latency of the checkout
 * call alone and of the whole cart + checkout, errors; then `ecom_check` must be clean,
 * the paid orders must number the successful checkouts, and a sample of them must
 * each have one approved charge. Baseline in the same run: the naive design in raw
 * LMDB, one durable transaction per step (each cart line, then reserve, insert the
 * order, insert the payment, mark paid and commit the stock, clear the cart).
 * Ends with one JSON line for scripts.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common.h"
#include "ecom.h"

#define MAX_LINES 3
#define MAX_RUNS 8
#define SHIPPING_FEE 499 /* minor units */
#define TAX_RATE_BP 825  /* 8.25% */
#define STOCK_PER_SKU INT64_C(1000000000)
#define SAMPLE_ORDERS 16
#define CODES 64 /* error codes tallied: -rc below this */

typedef struct config {
    int products;
    double seconds;
    int thread_counts[MAX_RUNS];
    int runs;
    bool baseline;
    bool no_sync; /* diagnostic only: what the CPU allows without fsync */
} config;

/* One client thread of a library run. */
typedef struct worker {
    pthread_t thread;
    ecom_store *store;
    const config *c;
    int index;
    uint64_t deadline_ns;
    uint64_t ok, errors, insufficient;
    uint64_t by_code[CODES];
    uint64_t rng;
    bench_hist checkout_lat, whole_lat;
} worker;

/* What one library run found. */
typedef struct run_result {
    int threads;
    double seconds, per_s;
    double written_kb; /* handed to write calls per checkout: what fsync has to flush */
    uint64_t ok, errors, insufficient, violations, paid_orders, sampled, sample_faults;
    uint64_t by_code[CODES];
    bench_hist checkout_lat, whole_lat;
} run_result;

static _Atomic int errors_printed;

/* One random cart: 1-3 lines of 1-3 units over the catalog's SKUs. */
static size_t make_cart(uint64_t *rng, int products, char names[MAX_LINES][16], int64_t *qty)
{
    size_t n = 1 + bench_random(rng) % MAX_LINES;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "s%05d",
                 (int)(bench_random(rng) % (uint64_t)products));
        qty[i] = 1 + (int64_t)(bench_random(rng) % 3);
    }
    return n;
}

static int64_t price_of(int product)
{
    return 500 + (int64_t)(product % 50) * 100;
}

/* The first few failures are worth reading; the rest are only counted, by code. */
static void report_error(worker *w, const char *what, int rc)
{
    w->errors++;
    w->by_code[rc < 0 && -rc < CODES ? -rc : 0]++;
    if (atomic_fetch_add(&errors_printed, 1) < 5)
        fprintf(stderr, "bench_checkout: thread %d: %s: %s (%s)\n", w->index, what,
                ecom_strerror(rc), ecom_errmsg(w->store));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    char names[MAX_LINES][16], user[32], cart[40], key[40];
    int64_t qty[MAX_LINES];
    for (uint64_t i = 0; bench_now_ns() < w->deadline_ns; i++) {
        size_t n = make_cart(&w->rng, w->c->products, names, qty);
        /* One cart per checkout, so that no two checkouts share a cart. */
        snprintf(user, sizeof user, "u%d-%" PRIu64, w->index, i);
        snprintf(cart, sizeof cart, "user:%s", user);
        snprintf(key, sizeof key, "k%d-%" PRIu64, w->index, i);
        uint64_t t0 = bench_now_ns();
        int rc = ECOM_OK;
        for (size_t l = 0; l < n && rc == ECOM_OK; l++)
            rc = ecom_cart_add(w->store, cart, names[l], qty[l], "USD");
        if (rc != ECOM_OK) {
            report_error(w, "cart_add", rc);
            continue;
        }
        ecom_checkout_request req = ECOM_CHECKOUT_REQUEST_INIT;
        req.cart = cart;
        req.user = user;
        req.payment_token = "tok_approve";
        ecom_order *order = NULL;
        uint64_t t1 = bench_now_ns();
        rc = ecom_checkout(&order, w->store, &req, key);
        uint64_t t2 = bench_now_ns();
        ecom_order_free(order);
        if (rc == ECOM_OK) {
            w->ok++;
            bench_hist_add(&w->checkout_lat, t2 - t1);
            bench_hist_add(&w->whole_lat, t2 - t0);
        } else {
            w->insufficient += rc == ECOM_EINSUFFICIENT;
            report_error(w, "checkout", rc);
        }
    }
    return NULL;
}

static void die(const char *what, ecom_store *s)
{
    fprintf(stderr, "bench_checkout: %s: %s\n", what, ecom_errmsg(s));
    exit(1);
}

static ecom_store *prepare_store(const char *dir, const config *c)
{
    char uri[600], json[256], sku[16];
    snprintf(uri, sizeof uri, "lmdb://%s", dir);
    ecom_options o = ECOM_OPTIONS_INIT; /* durable: fsync at every commit */
    o.no_sync = c->no_sync;
    o.shipping_fee = SHIPPING_FEE;
    o.tax_rate_bp = TAX_RATE_BP;
    ecom_store *s = NULL;
    if (ecom_store_open(&s, uri, &o) != ECOM_OK)
        die("open", s);
    for (int i = 0; i < c->products; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"p%05d\",\"title\":\"Item %d\",\"status\":\"active\","
                 "\"variants\":[{\"sku\":\"s%05d\",\"prices\":{\"USD\":%" PRId64 "}}]}",
                 i, i, i, price_of(i));
        ecom_product *p = NULL;
        if (ecom_product_from_json(&p, json, strlen(json), NULL, 0) != ECOM_OK ||
            ecom_catalog_create(s, p) != ECOM_OK)
            die("create product", s);
        ecom_product_free(p);
        snprintf(sku, sizeof sku, "s%05d", i);
        if (ecom_stock_adjust(s, sku, NULL, ECOM_ADJUST_RECEIVE, STOCK_PER_SKU, "bench",
                              NULL) != ECOM_OK)
            die("receive", s);
    }
    return s;
}

static void print_violation(void *ctx, const char *message)
{
    uint64_t *printed = ctx;
    if ((*printed)++ < 10)
        fprintf(stderr, "violation: %s\n", message);
}

/* An order as checkout must leave it: paid, priced right, charged once, approved. */
static bool order_sound(ecom_store *s, const ecom_order *o)
{
    int64_t sub = 0;
    for (size_t i = 0; i < ecom_order_line_count(o); i++)
        sub += ecom_order_line_quantity(o, i) * ecom_order_line_unit_price(o, i);
    int64_t tax = (sub * TAX_RATE_BP + 5000) / 10000;
    bool ok = ecom_order_get_state(o) == ECOM_ORDER_PAID && ecom_order_subtotal(o) == sub &&
              ecom_order_shipping(o) == SHIPPING_FEE && ecom_order_tax(o) == tax &&
              ecom_order_total(o) == sub + SHIPPING_FEE + tax;
    ecom_payments *p = NULL;
    if (ecom_payments_list(&p, s, ecom_order_id(o)) != ECOM_OK)
        die("payments", s);
    size_t charges = 0, approved = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++) {
        if (strcmp(ecom_payments_kind(p, i), "charge") != 0)
            continue;
        charges++;
        approved += ecom_payments_approved(p, i) &&
                    ecom_payments_amount(p, i) == ecom_order_total(o) &&
                    strcmp(ecom_payments_charge_id(p, i), ecom_order_charge_id(o)) == 0;
    }
    ecom_payments_free(p);
    if (!ok || charges != 1 || approved != 1)
        fprintf(stderr, "bench_checkout: order %s: state %s, total %" PRId64 " (subtotal %"
                PRId64 "), %zu charges, %zu approved for the total\n", ecom_order_id(o),
                ecom_order_state_name(ecom_order_get_state(o)), ecom_order_total(o), sub,
                charges, approved);
    return ok && charges == 1 && approved == 1;
}

/* Counts the paid orders page by page, checking about SAMPLE_ORDERS of them spread
 * over the whole list (the first and the last included). */
static void audit_orders(ecom_store *s, run_result *r)
{
    char cursor[256] = "";
    uint64_t stride = r->ok / SAMPLE_ORDERS + 1;
    for (;;) {
        ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
        lo.state = ECOM_ORDER_PAID;
        lo.limit = 1000;
        lo.cursor = cursor[0] ? cursor : NULL;
        ecom_order_page *page = NULL;
        if (ecom_order_list(&page, s, &lo) != ECOM_OK)
            die("order list", s);
        size_t n = ecom_order_page_count(page);
        const char *next = n ? ecom_order_page_next_cursor(page) : NULL;
        for (size_t i = 0; i < n; i++) {
            bool last = next == NULL && i == n - 1;
            if ((r->paid_orders + i) % stride == 0 || last) {
                r->sampled++;
                r->sample_faults += !order_sound(s, ecom_order_page_order(page, i));
            }
        }
        r->paid_orders += n;
        if (next && strlen(next) >= sizeof cursor) {
            fprintf(stderr, "bench_checkout: order list cursor too long\n");
            exit(1);
        }
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        ecom_order_page_free(page);
        if (next == NULL)
            break;
    }
}

/* One library run on a fresh store with `threads` clients. */
static void run(const config *c, int threads, run_result *r)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir("checkout"));
    ecom_store *s = prepare_store(dir, c);
    worker *w = calloc((size_t)threads, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "bench_checkout: out of memory\n");
        exit(1);
    }
    memset(r, 0, sizeof *r);
    r->threads = threads;
    atomic_store(&errors_printed, 0);
    uint64_t written = bench_written_bytes();
    uint64_t start = bench_now_ns(), deadline = start + (uint64_t)(c->seconds * 1e9);
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.store = s, .c = c, .index = i, .deadline_ns = deadline,
                        .rng = (uint64_t)i * 7919 + 1};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
        r->ok += w[i].ok;
        r->errors += w[i].errors;
        r->insufficient += w[i].insufficient;
        for (int k = 0; k < CODES; k++)
            r->by_code[k] += w[i].by_code[k];
        bench_hist_merge(&r->checkout_lat, &w[i].checkout_lat);
        bench_hist_merge(&r->whole_lat, &w[i].whole_lat);
    }
    /* Checkouts in flight at the deadline finish and count: the clock runs until then. */
    r->seconds = (double)(bench_now_ns() - start) / 1e9;
    r->per_s = (double)r->ok / r->seconds;
    if (r->ok)
        r->written_kb = (double)(bench_written_bytes() - written) / 1024.0 / (double)r->ok;
    uint64_t printed = 0;
    if (ecom_check(&r->violations, s, print_violation, &printed) != ECOM_OK)
        die("check", s);
    audit_orders(s, r);
    ecom_store_close(s);
    bench_remove_dir(dir);
    free(w);
}

/* ---- the baseline: the naive design in raw LMDB ---- */

/* Stock of one SKU, and its price. */
typedef struct base_stock {
    int64_t on_hand, reserved, price;
} base_stock;

typedef struct base_line {
    char sku[16];
    int64_t qty, unit_price;
} base_line;

typedef struct base_cart {
    uint32_t n;
    base_line lines[MAX_LINES];
} base_cart;

typedef struct base_order {
    char id[32];
    int32_t state; /* 0 pending payment, 1 paid */
    int64_t subtotal, shipping, tax, total;
    base_cart items;
} base_order;

typedef struct base_payment {
    char order_id[32];
    int64_t amount;
    int32_t approved;
} base_payment;

typedef struct base_env {
    MDB_env *env;
    MDB_dbi stock, carts, reservations, orders, payments;
    const config *c;
    uint64_t deadline_ns;
} base_env;

typedef struct base_worker {
    pthread_t thread;
    base_env *b;
    int index;
    uint64_t rng, done;
} base_worker;

static void base_check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS) {
        fprintf(stderr, "bench_checkout: baseline %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

static MDB_val val_of(const void *data, size_t size)
{
    return (MDB_val){size, (void *)data};
}

static MDB_val str_val(const char *s)
{
    return val_of(s, strlen(s));
}

/* Opens a durable write transaction (each commit fsyncs). */
static MDB_txn *base_begin(base_env *b)
{
    MDB_txn *txn = NULL;
    base_check(mdb_txn_begin(b->env, NULL, 0, &txn), "txn begin");
    return txn;
}

static void base_commit(MDB_txn *txn)
{
    base_check(mdb_txn_commit(txn), "commit");
}

static base_stock base_get_stock(MDB_txn *txn, base_env *b, const char *sku)
{
    MDB_val k = str_val(sku), v;
    base_stock st;
    base_check(mdb_get(txn, b->stock, &k, &v), "stock get");
    memcpy(&st, v.mv_data, sizeof st);
    return st;
}

static void base_put(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *data, size_t size)
{
    MDB_val k = str_val(key), v = val_of(data, size);
    base_check(mdb_put(txn, dbi, &k, &v, 0), "put");
}

/* One cart line added: its own durable transaction, as one ecom_cart_add request. */
static void base_cart_add(base_env *b, const char *cart, const char *sku, int64_t qty)
{
    MDB_txn *txn = base_begin(b);
    base_cart ct = {0};
    MDB_val k = str_val(cart), v;
    int rc = mdb_get(txn, b->carts, &k, &v);
    if (rc == MDB_SUCCESS)
        memcpy(&ct, v.mv_data, sizeof ct);
    else
        base_check(rc == MDB_NOTFOUND ? MDB_SUCCESS : rc, "cart get");
    base_stock st = base_get_stock(txn, b, sku);
    base_line *l = &ct.lines[ct.n++];
    snprintf(l->sku, sizeof l->sku, "%s", sku);
    l->qty = qty;
    l->unit_price = st.price;
    base_put(txn, b->carts, cart, &ct, sizeof ct);
    base_commit(txn);
}

/* One checkout in five durable transactions. */
static void base_checkout(base_env *b, const char *cart, const char *order_id)
{
    /* 1: read the cart, reserve its lines. */
    MDB_txn *txn = base_begin(b);
    base_order o = {0};
    snprintf(o.id, sizeof o.id, "%s", order_id);
    MDB_val k = str_val(cart), v;
    base_check(mdb_get(txn, b->carts, &k, &v), "cart get");
    memcpy(&o.items, v.mv_data, sizeof o.items);
    for (uint32_t i = 0; i < o.items.n; i++) {
        const base_line *l = &o.items.lines[i];
        base_stock st = base_get_stock(txn, b, l->sku);
        if (st.on_hand - st.reserved < l->qty) {
            fprintf(stderr, "bench_checkout: baseline ran out of stock\n");
            exit(1);
        }
        st.reserved += l->qty;
        base_put(txn, b->stock, l->sku, &st, sizeof st);
        o.subtotal += l->qty * l->unit_price;
    }
    base_put(txn, b->reservations, order_id, &o.items, sizeof o.items);
    base_commit(txn);
    /* 2: insert the order, pending payment. */
    o.shipping = SHIPPING_FEE;
    o.tax = (o.subtotal * TAX_RATE_BP + 5000) / 10000;
    o.total = o.subtotal + o.shipping + o.tax;
    txn = base_begin(b);
    base_put(txn, b->orders, order_id, &o, sizeof o);
    base_commit(txn);
    /* 3: insert the payment record (the provider approves). */
    base_payment p = {.amount = o.total, .approved = 1};
    snprintf(p.order_id, sizeof p.order_id, "%s", order_id);
    txn = base_begin(b);
    base_put(txn, b->payments, order_id, &p, sizeof p);
    base_commit(txn);
    /* 4: mark the order paid, commit the stock (sold), drop the reservation. */
    txn = base_begin(b);
    k = str_val(order_id);
    base_check(mdb_get(txn, b->orders, &k, &v), "order get");
    memcpy(&o, v.mv_data, sizeof o);
    o.state = 1;
    base_put(txn, b->orders, order_id, &o, sizeof o);
    for (uint32_t i = 0; i < o.items.n; i++) {
        const base_line *l = &o.items.lines[i];
        base_stock st = base_get_stock(txn, b, l->sku);
        st.reserved -= l->qty;
        st.on_hand -= l->qty;
        base_put(txn, b->stock, l->sku, &st, sizeof st);
    }
    base_check(mdb_del(txn, b->reservations, &k, NULL), "reservation del");
    base_commit(txn);
    /* 5: clear the cart. */
    txn = base_begin(b);
    k = str_val(cart);
    base_check(mdb_del(txn, b->carts, &k, NULL), "cart del");
    base_commit(txn);
}

static void *base_worker_main(void *arg)
{
    base_worker *w = arg;
    char names[MAX_LINES][16], cart[40], order_id[32];
    int64_t qty[MAX_LINES];
    for (uint64_t i = 0; bench_now_ns() < w->b->deadline_ns; i++) {
        size_t n = make_cart(&w->rng, w->b->c->products, names, qty);
        snprintf(cart, sizeof cart, "user:u%d-%" PRIu64, w->index, i);
        snprintf(order_id, sizeof order_id, "o%d-%" PRIu64, w->index, i);
        for (size_t l = 0; l < n; l++)
            base_cart_add(w->b, cart, names[l], qty[l]);
        base_checkout(w->b, cart, order_id);
        w->done++;
    }
    return NULL;
}

static MDB_dbi base_open_dbi(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    base_check(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), "dbi open");
    return dbi;
}

/* Checkouts per second of the naive design with `threads` clients. */
static double run_baseline(const config *c, int threads)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", bench_fresh_dir("checkout-baseline"));
    base_env b = {.c = c};
    mkdir(dir, 0755);
    base_check(mdb_env_create(&b.env), "env create");
    base_check(mdb_env_set_mapsize(b.env, (size_t)1 << 30), "map size");
    base_check(mdb_env_set_maxdbs(b.env, 8), "max dbs");
    base_check(mdb_env_open(b.env, dir, c->no_sync ? MDB_NOSYNC : 0, 0644), "env open");
    MDB_txn *txn = base_begin(&b);
    b.stock = base_open_dbi(txn, "stock");
    b.carts = base_open_dbi(txn, "carts");
    b.reservations = base_open_dbi(txn, "reservations");
    b.orders = base_open_dbi(txn, "orders");
    b.payments = base_open_dbi(txn, "payments");
    for (int i = 0; i < c->products; i++) {
        char sku[16];
        snprintf(sku, sizeof sku, "s%05d", i);
        base_stock st = {STOCK_PER_SKU, 0, price_of(i)};
        base_put(txn, b.stock, sku, &st, sizeof st);
    }
    base_commit(txn);
    base_worker *w = calloc((size_t)threads, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "bench_checkout: out of memory\n");
        exit(1);
    }
    uint64_t start = bench_now_ns(), done = 0;
    b.deadline_ns = start + (uint64_t)(c->seconds * 1e9);
    for (int i = 0; i < threads; i++) {
        w[i] = (base_worker){.b = &b, .index = i, .rng = (uint64_t)i * 7919 + 1};
        pthread_create(&w[i].thread, NULL, base_worker_main, &w[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done;
    }
    double rate = (double)done / ((double)(bench_now_ns() - start) / 1e9);
    /* Every checkout left one paid order and one payment, and no cart. */
    MDB_stat orders, payments, carts;
    txn = NULL;
    base_check(mdb_txn_begin(b.env, NULL, MDB_RDONLY, &txn), "txn begin");
    base_check(mdb_stat(txn, b.orders, &orders), "stat");
    base_check(mdb_stat(txn, b.payments, &payments), "stat");
    base_check(mdb_stat(txn, b.carts, &carts), "stat");
    mdb_txn_abort(txn);
    if (orders.ms_entries != done || payments.ms_entries != done || carts.ms_entries != 0) {
        fprintf(stderr, "bench_checkout: baseline left %zu orders, %zu payments, %zu carts "
                "for %" PRIu64 " checkouts\n", orders.ms_entries, payments.ms_entries,
                carts.ms_entries, done);
        exit(1);
    }
    mdb_env_close(b.env);
    bench_remove_dir(dir);
    free(w);
    return rate;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_checkout [--quick] [--threads T] [--products P] "
                    "[--seconds S]\n"
                    "       diagnostics: [--no-baseline] [--no-sync (not durable)]\n");
    exit(2);
}

static config parse_args(int argc, char **argv)
{
    config c = {1000, 5.0, {1, 2, 8, 64}, 4, true, false};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            c.products = 200;
            c.seconds = 1.0;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            c.thread_counts[0] = atoi(argv[++i]);
            c.runs = 1;
        } else if (strcmp(argv[i], "--products") == 0 && i + 1 < argc) {
            c.products = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-sync") == 0) {
            c.no_sync = true;
        } else if (strcmp(argv[i], "--no-baseline") == 0) {
            c.baseline = false; /* for profiling the library alone */
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            c.seconds = strtod(argv[++i], NULL);
        } else {
            usage();
        }
    }
    if (c.thread_counts[0] < 1 || c.thread_counts[0] > 1024 || c.products < 1 ||
        c.products > 99999 || !(c.seconds > 0 && c.seconds <= 3600))
        usage();
    return c;
}

int main(int argc, char **argv)
{
    config c = parse_args(argc, argv);
    bench_print_machine();
    printf("checkouts: %d products, 1-%d lines of 1-3 units per cart, %.1f s per thread "
           "count, durable commits (fsync on), shipping %d, tax %d bp\n", c.products,
           MAX_LINES, c.seconds, SHIPPING_FEE, TAX_RATE_BP);

    /* Durable figures are mostly the disk's: say what it charges for a sync. */
    bench_disk disk = {0};
    if (!c.no_sync) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s", bench_fresh_dir("disk"));
        if (mkdir(dir, 0755) != 0)
            fprintf(stderr, "bench_checkout: %s: %s\n", dir, strerror(errno));
        else if (bench_disk_probe(dir, &disk) == 0)
            printf("disk:     fdatasync of 4 KB pages here: 1 page %.0f us; %d pages scattered "
                   "%.0f us, side by side %.0f us\n", disk.one_us, BENCH_DISK_PAGES,
                   disk.scattered_us, disk.adjacent_us);
        bench_remove_dir(dir);
    }

    /* The baseline with one client and with the most clients. */
    int most = c.thread_counts[c.runs - 1];
    double base_1 = c.baseline ? run_baseline(&c, 1) : 0;
    double base_most = most > 1 && c.baseline ? run_baseline(&c, most) : base_1;
    if (c.no_sync)
        printf("NOT DURABLE: --no-sync skips fsync in the store and the baseline; "
               "a diagnostic of CPU cost, not a result\n");
    if (c.baseline)
        printf("baseline (one durable LMDB txn per step, 5 per checkout + 1 per cart line): "
               "%.0f checkouts/s with 1 thread, %.0f with %d\n", base_1, base_most, most);

    run_result r[MAX_RUNS];
    uint64_t violations = 0, errors = 0;
    bool sound = true;
    for (int i = 0; i < c.runs; i++) {
        run(&c, c.thread_counts[i], &r[i]);
        violations += r[i].violations;
        errors += r[i].errors;
        sound = sound && r[i].paid_orders == r[i].ok && r[i].sample_faults == 0 &&
                r[i].violations == 0 && r[i].errors == 0 && r[i].ok > 0;
    }

    printf("\n%7s %12s %10s %10s %10s %10s %11s %7s\n", "threads", "checkouts/s", "p50 us",
           "p99 us", "whole p50", "whole p99", "baseline/s", "ratio");
    for (int i = 0; i < c.runs; i++) {
        const run_result *x = &r[i];
        double base = x->threads == 1 ? base_1 : x->threads == most ? base_most : 0;
        printf("%7d %12.0f %10.0f %10.0f %10.0f %10.0f ", x->threads, x->per_s,
               bench_hist_quantile_us(&x->checkout_lat, 0.5),
               bench_hist_quantile_us(&x->checkout_lat, 0.99),
               bench_hist_quantile_us(&x->whole_lat, 0.5),
               bench_hist_quantile_us(&x->whole_lat, 0.99));
        if (base > 0)
            printf("%11.0f %6.1fx\n", base, x->per_s / base);
        else
            printf("%11s %7s\n", "-", "-");
    }
    printf("(p50/p99: the ecom_checkout call alone; whole: the cart's lines and the checkout)\n");
    for (int i = 0; i < c.runs; i++)
        printf("%2d threads: %" PRIu64 " checkouts in %.2f s, %" PRIu64 " errors (%" PRIu64
               " insufficient); %" PRIu64 " paid orders listed; %" PRIu64 "/%" PRIu64
               " sampled orders sound; check: %" PRIu64 " violations; %.1f KB written per "
               "checkout\n", r[i].threads, r[i].ok, r[i].seconds, r[i].errors,
               r[i].insufficient, r[i].paid_orders, r[i].sampled - r[i].sample_faults,
               r[i].sampled, r[i].violations, r[i].written_kb);
    for (int i = 0; i < c.runs; i++)
        for (int k = 0; k < CODES; k++)
            if (r[i].by_code[k])
                printf("%2d threads: %" PRIu64 " x %s\n", r[i].threads, r[i].by_code[k],
                       k ? ecom_strerror(-k) : "an unknown error code");

    printf("{\"bench\":\"checkout\"");
    for (int i = 0; i < c.runs; i++)
        printf(",\"checkouts_per_s_%d\":%.0f", r[i].threads, r[i].per_s);
    const run_result *top = &r[c.runs - 1];
    printf(",\"p50_us_%d\":%.1f,\"p99_us_%d\":%.1f,\"whole_p99_us_%d\":%.1f", most,
           bench_hist_quantile_us(&top->checkout_lat, 0.5), most,
           bench_hist_quantile_us(&top->checkout_lat, 0.99), most,
           bench_hist_quantile_us(&top->whole_lat, 0.99));
    printf(",\"written_kb_per_checkout_%d\":%.1f", most, top->written_kb);
    printf(",\"baseline_per_s_1\":%.0f", base_1);
    if (most > 1)
        printf(",\"baseline_per_s_%d\":%.0f", most, base_most);
    if (c.no_sync)
        printf(",\"durable\":false");
    else if (disk.one_us > 0)
        printf(",\"disk_sync_1_us\":%.0f,\"disk_sync_%d_scattered_us\":%.0f,"
               "\"disk_sync_%d_adjacent_us\":%.0f", disk.one_us, BENCH_DISK_PAGES,
               disk.scattered_us, BENCH_DISK_PAGES, disk.adjacent_us);
    printf(",\"ratio_%d\":%.1f,\"products\":%d,\"seconds\":%.1f,\"violations\":%" PRIu64
           ",\"errors\":%" PRIu64 "}\n", most, base_most > 0 ? top->per_s / base_most : 0, c.products, c.seconds,
           violations, errors);
    return sound ? 0 : 1;
}
