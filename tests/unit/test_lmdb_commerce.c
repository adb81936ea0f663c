/* The LMDB backend's carts, idempotency keys, orders, payments and consumers driven
 * through the vtable (contract version 3): every operation and refusal, expiry,
 * scans and their resumption, inventory with an order all-or-nothing, check clean
 * and check catching corruption, threads writing orders at once. */
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/lmdb/lmdb_backend.h"
#include "../../backends/lmdb/lmdb_internal.h"
#include "support/support.h"
#include "internal.h"

#define T0 INT64_C(1700000000000)
#define HOUR INT64_C(3600000)

/* ---- fixtures ---- */

typedef struct fixture {
    char dir[512];
    char uri[600];
    ecom_backend *be;
} fixture;

static int open_be(fixture *f)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    return ecom__lmdb_factory.open(&f->be, NULL, f->uri, &opts);
}

/* n products "p<sku>" owning one SKU each, in one write. */
static void add_products(ecom_backend *be, const char *const *skus, size_t n)
{
    ecom_product_write *w = calloc(n, sizeof *w);
    char(*ids)[80] = calloc(n, sizeof *ids);
    assert_non_null(w);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "p%s", skus[i]);
        w[i].rec = (ecom_product_rec){ids[i], "", ECOM_STATUS_ACTIVE, 1, &skus[i], "d", 1};
        w[i].mode = ECOM_WRITE_CREATE;
    }
    assert_int_equal(be->product_write(be, w, n, T0), ECOM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(w[i].result, ECOM_OK);
    free(ids);
    free(w);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    test_fresh_store_dir(f->dir, sizeof f->dir, f->uri, sizeof f->uri, "lmdb_commerce");
    if (open_be(f) != ECOM_OK)
        return -1;
    static const char *const skus[] = {"sku-a", "sku-b", "sku-c"};
    add_products(f->be, skus, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->be)
        f->be->close(f->be);
    test_remove_store_dir(f->dir);
    free(f);
    return 0;
}

/* ---- check ---- */

typedef test_reports reports;

static void order_fn(ecom_check_sink *sink, const struct ecom_order_rec *rec, uint64_t version)
{
    test_reports_of(sink)->orders++;
    if (version == 0 || rec->data_len != 4 || memcmp(rec->data, "data", 4) != 0)
        test_report(sink, "the core's check of an order failed");
}

static reports *run_check(ecom_backend *be)
{
    return test_run_check(be, order_fn);
}

static void assert_clean(ecom_backend *be)
{
    test_assert_no_reports(run_check(be));
}


/* ---- carts ---- */

static ecom_cart_op cart_op(ecom_cart_op_kind kind, const char *cart, const char *sku,
                            int64_t qty, int64_t price, const char *currency)
{
    ecom_cart_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.cart = cart;
    op.sku = sku;
    op.quantity = qty;
    op.unit_price = price;
    op.currency = currency;
    op.ttl_ms = HOUR;
    return op;
}

static int cart1(ecom_backend *be, ecom_cart_op op, int64_t now)
{
    op.result = 12345;
    assert_int_equal(be->cart_apply(be, &op, 1, now), ECOM_OK);
    return op.result;
}

static int add(ecom_backend *be, const char *cart, const char *sku, int64_t qty, int64_t price,
               const char *currency)
{
    return cart1(be, cart_op(ECOM_CART_ADD, cart, sku, qty, price, currency), T0);
}

static int set(ecom_backend *be, const char *cart, const char *sku, int64_t qty, int64_t price,
               const char *currency)
{
    return cart1(be, cart_op(ECOM_CART_SET, cart, sku, qty, price, currency), T0);
}

static int merge(ecom_backend *be, const char *guest, const char *user, int64_t now)
{
    ecom_cart_op op = cart_op(ECOM_CART_MERGE, guest, NULL, 0, 0, NULL);
    op.into = user;
    return cart1(be, op, now);
}

typedef struct cart_seen {
    char currency[16];
    int64_t updated_at, expires_at;
    size_t n;
    char sku[ECOM_CART_LINES_MAX][80];
    int64_t qty[ECOM_CART_LINES_MAX], price[ECOM_CART_LINES_MAX];
} cart_seen;

static int cart_fn(void *ctx, const ecom_cart_rec *rec)
{
    cart_seen *c = ctx;
    snprintf(c->currency, sizeof c->currency, "%s", rec->currency);
    c->updated_at = rec->updated_at;
    c->expires_at = rec->expires_at;
    c->n = rec->line_count;
    for (size_t i = 0; i < rec->line_count; i++) {
        snprintf(c->sku[i], sizeof c->sku[i], "%s", rec->lines[i].sku);
        c->qty[i] = rec->lines[i].quantity;
        c->price[i] = rec->lines[i].unit_price;
    }
    return 0;
}

static cart_seen *get_cart(ecom_backend *be, const char *cart, int64_t now)
{
    static cart_seen c;
    memset(&c, 0x55, sizeof c);
    assert_int_equal(be->cart_get(be, cart, now, cart_fn, &c), ECOM_OK);
    return &c;
}

static void assert_line(const cart_seen *c, size_t i, const char *sku, int64_t qty, int64_t price)
{
    assert_true(i < c->n);
    assert_string_equal(c->sku[i], sku);
    assert_int_equal(c->qty[i], qty);
    assert_int_equal(c->price[i], price);
}

static int limit(ecom_backend *be, const char *sku, int64_t qty)
{
    ecom_inventory_op op;
    memset(&op, 0, sizeof op);
    op.kind = ECOM_INV_SET_PURCHASE_LIMIT;
    op.sku = sku;
    op.quantity = qty;
    op.claim.version = ECOM_CLAIM_RESULT_VERSION;
    assert_int_equal(be->inventory_apply(be, &op, 1, T0), ECOM_OK);
    return op.result;
}

static void test_lmdb_commerce__cart_lines(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    cart_seen *c = get_cart(be, "user:1", T0);
    assert_int_equal(c->n, 0);
    assert_string_equal(c->currency, "");

    assert_int_equal(add(be, "user:1", "sku-b", 2, 100, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:1", "sku-a", 1, 50, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:1", "sku-b", 3, 110, "USD"), ECOM_OK);
    c = get_cart(be, "user:1", T0 + 5);
    assert_string_equal(c->currency, "USD");
    assert_int_equal(c->n, 2);
    assert_line(c, 0, "sku-a", 1, 50);
    assert_line(c, 1, "sku-b", 5, 110); /* summed, price refreshed */
    assert_int_equal(c->updated_at, T0);
    assert_int_equal(c->expires_at, T0 + HOUR);

    assert_int_equal(add(be, "user:1", "sku-c", 1, 10, "EUR"), ECOM_EMIXEDCURRENCY);
    assert_int_equal(set(be, "user:1", "sku-c", 1, 10, "EUR"), ECOM_EMIXEDCURRENCY);
    assert_int_equal(add(be, "user:1", "sku-c", 0, 10, "USD"), ECOM_EQUANTITY);
    assert_int_equal(set(be, "user:1", "sku-a", 7, 55, "USD"), ECOM_OK);
    c = get_cart(be, "user:1", T0);
    assert_line(c, 0, "sku-a", 7, 55);
    assert_int_equal(set(be, "user:1", "sku-a", 0, 55, "USD"), ECOM_OK);
    c = get_cart(be, "user:1", T0);
    assert_int_equal(c->n, 1);
    assert_line(c, 0, "sku-b", 5, 110);

    ecom_cart_op rm = cart_op(ECOM_CART_REMOVE, "user:1", "sku-c", 0, 0, NULL);
    assert_int_equal(cart1(be, rm, T0), ECOM_ENOTFOUND);
    rm.sku = "sku-b";
    assert_int_equal(cart1(be, rm, T0), ECOM_OK);
    c = get_cart(be, "user:1", T0);
    assert_int_equal(c->n, 0);
    assert_string_equal(c->currency, ""); /* cleared with the last line */
    assert_int_equal(add(be, "user:1", "sku-c", 1, 10, "EUR"), ECOM_OK);
    assert_string_equal(get_cart(be, "user:1", T0)->currency, "EUR");
    assert_int_equal(cart1(be, cart_op(ECOM_CART_CLEAR, "user:1", NULL, 0, 0, NULL), T0), ECOM_OK);
    assert_int_equal(get_cart(be, "user:1", T0)->n, 0);
    assert_int_equal(cart1(be, cart_op(ECOM_CART_CLEAR, "user:9", NULL, 0, 0, NULL), T0), ECOM_OK);
    assert_clean(be);
}

/* A batch: each op judged alone, later ops see earlier ones. */
static void test_lmdb_commerce__cart_batch(void **state)
{
    fixture *f = *state;
    ecom_cart_op ops[3] = {cart_op(ECOM_CART_ADD, "guest:x", "sku-a", 1, 5, "USD"),
                           cart_op(ECOM_CART_ADD, "guest:x", "sku-b", 1, 5, "EUR"),
                           cart_op(ECOM_CART_ADD, "guest:x", "sku-a", 2, 6, "USD")};
    assert_int_equal(f->be->cart_apply(f->be, ops, 3, T0), ECOM_OK);
    assert_int_equal(ops[0].result, ECOM_OK);
    assert_int_equal(ops[1].result, ECOM_EMIXEDCURRENCY);
    assert_int_equal(ops[2].result, ECOM_OK);
    cart_seen *c = get_cart(f->be, "guest:x", T0);
    assert_int_equal(c->n, 1);
    assert_line(c, 0, "sku-a", 3, 6);
}

static void test_lmdb_commerce__cart_bounds(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(add(be, "user:1", "sku-a", ECOM_CART_QUANTITY_MAX, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:1", "sku-a", 1, 1, "USD"), ECOM_ELIMIT);
    assert_int_equal(set(be, "user:1", "sku-b", ECOM_CART_QUANTITY_MAX + 1, 1, "USD"), ECOM_ELIMIT);
    assert_int_equal(get_cart(be, "user:1", T0)->qty[0], ECOM_CART_QUANTITY_MAX);

    assert_int_equal(limit(be, "sku-b", 3), ECOM_OK);
    assert_int_equal(limit(be, "nope", 3), ECOM_ESKU);
    assert_int_equal(limit(be, "sku-b", -1), ECOM_EQUANTITY);
    assert_int_equal(add(be, "user:1", "sku-b", 2, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:1", "sku-b", 2, 1, "USD"), ECOM_ELIMIT);
    assert_int_equal(set(be, "user:1", "sku-b", 4, 1, "USD"), ECOM_ELIMIT);
    assert_int_equal(set(be, "user:1", "sku-b", 3, 1, "USD"), ECOM_OK);
    assert_int_equal(limit(be, "sku-b", 0), ECOM_OK); /* no limit any more */
    assert_int_equal(set(be, "user:1", "sku-b", 40, 1, "USD"), ECOM_OK);

    enum { N = ECOM_CART_LINES_MAX + 1 };
    static char names[N][16];
    const char *skus[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "s%03d", i);
        skus[i] = names[i];
    }
    add_products(be, skus, N);
    for (int i = 0; i < ECOM_CART_LINES_MAX; i++)
        assert_int_equal(add(be, "user:2", skus[i], 1, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:2", skus[N - 1], 1, 1, "USD"), ECOM_ELIMIT);
    assert_int_equal(add(be, "user:2", skus[0], 1, 1, "USD"), ECOM_OK); /* not a new line */
    assert_int_equal(get_cart(be, "user:2", T0)->n, ECOM_CART_LINES_MAX);
    assert_clean(be);
}

static void test_lmdb_commerce__cart_merge(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(add(be, "guest:g", "sku-a", 2, 10, "USD"), ECOM_OK);
    assert_int_equal(add(be, "guest:g", "sku-c", 1, 30, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:u", "sku-a", 1, 11, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:u", "sku-b", 1, 20, "USD"), ECOM_OK);
    assert_int_equal(merge(be, "guest:g", "user:u", T0 + 10), ECOM_OK);
    cart_seen *c = get_cart(be, "user:u", T0 + 10);
    assert_int_equal(c->n, 3);
    assert_line(c, 0, "sku-a", 3, 11); /* summed; the user's price wins */
    assert_line(c, 1, "sku-b", 1, 20);
    assert_line(c, 2, "sku-c", 1, 30); /* guest-only: keeps its price */
    assert_int_equal(c->updated_at, T0 + 10);
    assert_int_equal(get_cart(be, "guest:g", T0)->n, 0); /* deleted */

    /* missing, empty or expired guests: no-ops */
    assert_int_equal(merge(be, "guest:none", "user:u", T0), ECOM_OK);
    assert_int_equal(add(be, "guest:old", "sku-a", 5, 1, "EUR"), ECOM_OK);
    assert_int_equal(merge(be, "guest:old", "user:u", T0 + HOUR), ECOM_OK);
    assert_int_equal(get_cart(be, "user:u", T0 + 10)->n, 3);
    assert_int_equal(merge(be, "user:u", "user:u", T0), ECOM_EINVAL);

    /* currencies differ: refused, both kept */
    assert_int_equal(merge(be, "guest:old", "user:u", T0), ECOM_EMIXEDCURRENCY);
    assert_int_equal(get_cart(be, "guest:old", T0)->n, 1);

    /* capped, never refused: the quantity bound and the purchase limit */
    assert_int_equal(add(be, "guest:h", "sku-a", 600, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "guest:h", "sku-b", 600, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:v", "sku-a", 600, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:v", "sku-b", 1, 1, "USD"), ECOM_OK);
    assert_int_equal(limit(be, "sku-b", 5), ECOM_OK);
    assert_int_equal(merge(be, "guest:h", "user:v", T0), ECOM_OK);
    c = get_cart(be, "user:v", T0);
    assert_line(c, 0, "sku-a", ECOM_CART_QUANTITY_MAX, 1);
    assert_line(c, 1, "sku-b", 5, 1);

    /* the limits read back (for checkout): none is 0, an unknown SKU's too */
    const char *skus[] = {"sku-b", "sku-a", "no-such-sku"};
    int64_t limits[] = {-1, -1, -1};
    assert_int_equal(be->purchase_limits_get(be, skus, 3, limits), ECOM_OK);
    assert_int_equal(limits[0], 5);
    assert_int_equal(limits[1], 0);
    assert_int_equal(limits[2], 0);

    /* into an empty user cart: the guest's currency */
    assert_int_equal(add(be, "guest:i", "sku-c", 2, 3, "EUR"), ECOM_OK);
    assert_int_equal(merge(be, "guest:i", "user:w", T0), ECOM_OK);
    c = get_cart(be, "user:w", T0);
    assert_string_equal(c->currency, "EUR");
    assert_line(c, 0, "sku-c", 2, 3);
    assert_clean(be);
}

/* 60 user lines and 60 guest lines: too many for one cart, so nothing is merged (no
 * line may be lost); with 40 guest-only lines (and one shared SKU) all fit. */
static void test_lmdb_commerce__cart_merge_line_bound(void **state)
{
    fixture *f = *state;
    enum { N = 120 };
    static char names[N][16];
    const char *skus[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "m%03d", i);
        skus[i] = names[i];
    }
    add_products(f->be, skus, N);
    for (int i = 0; i < N; i++) /* user: odd; guest: even */
        assert_int_equal(add(f->be, i % 2 ? "user:u" : "guest:g", skus[i], 1, 1, "USD"), ECOM_OK);
    assert_int_equal(merge(f->be, "guest:g", "user:u", T0), ECOM_ELIMIT);
    assert_int_equal(get_cart(f->be, "user:u", T0)->n, 60);
    assert_int_equal(get_cart(f->be, "guest:g", T0)->n, 60);

    for (int i = 80; i < N; i += 2) /* the guest keeps m000..m078: 40 lines */
        assert_int_equal(cart1(f->be, cart_op(ECOM_CART_REMOVE, "guest:g", skus[i], 0, 0, NULL),
                               T0), ECOM_OK);
    assert_int_equal(add(f->be, "guest:g", skus[1], 2, 1, "USD"), ECOM_OK); /* shared */
    assert_int_equal(merge(f->be, "guest:g", "user:u", T0), ECOM_OK);
    cart_seen *c = get_cart(f->be, "user:u", T0);
    assert_int_equal(c->n, ECOM_CART_LINES_MAX);
    int user = 0, guest = 0;
    for (size_t i = 0; i < c->n; i++) {
        int k = atoi(c->sku[i] + 1);
        if (i > 0)
            assert_true(strcmp(c->sku[i - 1], c->sku[i]) < 0);
        user += k % 2;
        guest += !(k % 2);
        if (k == 1)
            assert_int_equal(c->qty[i], 3); /* summed */
    }
    assert_int_equal(user, 60);
    assert_int_equal(guest, 40);
    assert_int_equal(get_cart(f->be, "guest:g", T0)->n, 0);
    assert_clean(f->be);
}

/* TAKE: what an order bought leaves the cart; what was added since stays. */
static void test_lmdb_commerce__cart_take(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(add(be, "user:t", "sku-a", 3, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:t", "sku-b", 1, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "user:t", "sku-c", 2, 1, "USD"), ECOM_OK);
    const char *bought[] = {"sku-a", "sku-b", "sku-gone"};
    int64_t qty[] = {2, 5, 1}; /* a: 1 left; b: more than the line holds; gone: no line */
    ecom_cart_op take = cart_op(ECOM_CART_TAKE, "user:t", NULL, 0, 0, NULL);
    take.skus = bought;
    take.quantities = qty;
    take.line_count = 3;
    assert_int_equal(cart1(be, take, T0), ECOM_OK);
    cart_seen *c = get_cart(be, "user:t", T0);
    assert_int_equal(c->n, 2);
    assert_line(c, 0, "sku-a", 1, 1);
    assert_line(c, 1, "sku-c", 2, 1);
    take.cart = "user:nobody"; /* a missing cart: nothing to take */
    assert_int_equal(cart1(be, take, T0), ECOM_OK);
    take.skus = NULL;
    assert_int_equal(cart1(be, take, T0), ECOM_EINVAL);
    assert_clean(be);
}

static void test_lmdb_commerce__cart_expiry_and_purge(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(add(be, "guest:a", "sku-a", 2, 1, "USD"), ECOM_OK);
    assert_int_equal(add(be, "guest:b", "sku-a", 2, 1, "USD"), ECOM_OK);
    ecom_cart_op later = cart_op(ECOM_CART_ADD, "guest:c", "sku-a", 1, 1, "USD");
    assert_int_equal(cart1(be, later, T0 + HOUR / 2), ECOM_OK);
    assert_int_equal(get_cart(be, "guest:a", T0 + HOUR - 1)->n, 1);
    cart_seen *c = get_cart(be, "guest:a", T0 + HOUR);
    assert_int_equal(c->n, 0);
    assert_string_equal(c->currency, "");

    /* an expired cart is empty to every op: another currency is fine, old lines gone */
    ecom_cart_op euro = cart_op(ECOM_CART_ADD, "guest:a", "sku-b", 1, 9, "EUR");
    assert_int_equal(cart1(be, euro, T0 + HOUR), ECOM_OK);
    c = get_cart(be, "guest:a", T0 + HOUR);
    assert_int_equal(c->n, 1);
    assert_line(c, 0, "sku-b", 1, 9);
    ecom_cart_op rm = cart_op(ECOM_CART_REMOVE, "guest:b", "sku-a", 0, 0, NULL);
    assert_int_equal(cart1(be, rm, T0 + HOUR), ECOM_ENOTFOUND);

    ecom_cart_op purge = cart_op(ECOM_CART_PURGE, "", NULL, 0, 0, NULL);
    assert_int_equal(be->cart_apply(be, &purge, 1, T0 + HOUR), ECOM_OK);
    assert_int_equal(purge.result, ECOM_OK);
    assert_int_equal(purge.count, 1); /* guest:b */
    assert_int_equal(be->cart_apply(be, &purge, 1, T0 + 3 * HOUR), ECOM_OK);
    assert_int_equal(purge.count, 2);
    assert_clean(be);
}

/* ---- idempotency keys ---- */

static ecom_idem_op idem_begin(ecom_backend *be, const char *key, uint64_t fp, int64_t now)
{
    ecom_idem_op op;
    memset(&op, 0x55, sizeof op);
    op.kind = ECOM_IDEM_BEGIN;
    op.key = key;
    op.fingerprint = fp;
    op.ttl_ms = 24 * HOUR;
    op.stale_ms = 60000;
    assert_int_equal(be->idem_apply(be, &op, 1, now), ECOM_OK);
    assert_int_equal(op.op_result, ECOM_OK);
    return op;
}

static int idem_finish(ecom_backend *be, const char *key, int result, const char *order_id)
{
    ecom_idem_op op;
    memset(&op, 0, sizeof op);
    op.kind = ECOM_IDEM_FINISH;
    op.key = key;
    op.result = result;
    snprintf(op.order_id, sizeof op.order_id, "%s", order_id);
    assert_int_equal(be->idem_apply(be, &op, 1, T0), ECOM_OK);
    return op.op_result;
}

static void test_lmdb_commerce__idempotency(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    ecom_idem_op op = idem_begin(be, "k1", 7, T0);
    assert_int_equal(op.state, ECOM_IDEM_NEW);
    assert_string_equal(op.order_id, "");
    assert_int_equal(idem_begin(be, "k1", 7, T0 + 1).state, ECOM_IDEM_IN_FLIGHT);
    assert_int_equal(idem_begin(be, "k1", 8, T0 + 1).state, ECOM_IDEM_MISMATCH);
    /* the holder is stale after stale_ms: handed over */
    assert_int_equal(idem_begin(be, "k1", 7, T0 + 59999).state, ECOM_IDEM_IN_FLIGHT);
    assert_int_equal(idem_begin(be, "k1", 7, T0 + 60000).state, ECOM_IDEM_NEW);
    assert_int_equal(idem_begin(be, "k1", 7, T0 + 60001).state, ECOM_IDEM_IN_FLIGHT);

    assert_int_equal(idem_finish(be, "k1", ECOM_EDECLINED, "o-1"), ECOM_OK);
    op = idem_begin(be, "k1", 7, T0 + 2);
    assert_int_equal(op.state, ECOM_IDEM_DONE);
    assert_int_equal(op.result, ECOM_EDECLINED);
    assert_string_equal(op.order_id, "o-1");
    assert_int_equal(idem_begin(be, "k1", 9, T0 + 2).state, ECOM_IDEM_MISMATCH);
    assert_int_equal(idem_finish(be, "k1", ECOM_OK, ""), ECOM_ENOTFOUND); /* done: not held */
    assert_int_equal(idem_finish(be, "nope", ECOM_OK, ""), ECOM_ENOTFOUND);

    /* a retryable result releases the key, keeping the order id */
    assert_int_equal(idem_begin(be, "k2", 1, T0).state, ECOM_IDEM_NEW);
    assert_int_equal(idem_finish(be, "k2", ECOM_ETIMEOUT, "o-2"), ECOM_OK);
    op = idem_begin(be, "k2", 1, T0 + 3);
    assert_int_equal(op.state, ECOM_IDEM_NEW);
    assert_string_equal(op.order_id, "o-2");
    assert_int_equal(idem_finish(be, "k2", ECOM_OK, ""), ECOM_OK); /* keeps o-2 */
    op = idem_begin(be, "k2", 1, T0 + 4);
    assert_int_equal(op.state, ECOM_IDEM_DONE);
    assert_int_equal(op.result, ECOM_OK);
    assert_string_equal(op.order_id, "o-2");

    /* expired at created_at + ttl: free again, a new request (no order) */
    op = idem_begin(be, "k1", 9, T0 + 24 * HOUR);
    assert_int_equal(op.state, ECOM_IDEM_NEW);
    assert_string_equal(op.order_id, "");

    ecom_idem_op purge;
    memset(&purge, 0, sizeof purge);
    purge.kind = ECOM_IDEM_PURGE;
    purge.key = "";
    purge.ttl_ms = 24 * HOUR;
    assert_int_equal(be->idem_apply(be, &purge, 1, T0 + 24 * HOUR), ECOM_OK);
    assert_int_equal(purge.count, 1); /* k2; k1 was made again */
    assert_int_equal(idem_begin(be, "k2", 5, T0 + 24 * HOUR).state, ECOM_IDEM_NEW);
}

/* ---- orders ---- */

static ecom_order_op order_op(ecom_order_op_kind kind, const char *id, const char *user,
                              int state, int64_t created_at)
{
    ecom_order_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.rec = (ecom_order_rec){id, user, state, created_at, "data", 4};
    op.event = kind == ECOM_ORDER_CREATE ? "order.created" : "order.updated";
    return op;
}

static int order1(ecom_backend *be, ecom_order_op *op, int64_t now)
{
    op->result = 12345;
    assert_int_equal(be->order_apply(be, op, 1, now), ECOM_OK);
    return op->result;
}

static int create(ecom_backend *be, const char *id, const char *user, int state, int64_t at)
{
    ecom_order_op op = order_op(ECOM_ORDER_CREATE, id, user, state, at);
    int rc = order1(be, &op, at);
    if (rc == ECOM_OK)
        assert_int_equal(op.version, 1);
    return rc;
}

static int update(ecom_backend *be, const char *id, const char *user, int state,
                  uint64_t expected, uint64_t *version)
{
    ecom_order_op op = order_op(ECOM_ORDER_UPDATE, id, user, state, 0);
    op.expected_version = expected;
    int rc = order1(be, &op, T0);
    if (version)
        *version = op.version;
    return rc;
}

typedef struct order_seen {
    int found, state;
    uint64_t version;
    int64_t created_at;
    char user[80];
} order_seen;

static int order_get_fn(void *ctx, const ecom_order_rec *rec, uint64_t version, const void *key,
                        size_t key_len)
{
    order_seen *o = ctx;
    assert_int_equal(key_len, strlen(rec->id));
    assert_memory_equal(key, rec->id, key_len);
    assert_int_equal(rec->data_len, 4);
    o->found = 1;
    o->state = rec->state;
    o->version = version;
    o->created_at = rec->created_at;
    snprintf(o->user, sizeof o->user, "%s", rec->user);
    return 0;
}

static order_seen get_order(ecom_backend *be, const char *id)
{
    order_seen o;
    memset(&o, 0, sizeof o);
    int rc = be->order_get(be, id, order_get_fn, &o);
    assert_true(rc == ECOM_OK || rc == ECOM_ENOTFOUND);
    return o;
}

static void test_lmdb_commerce__order_create_and_update(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(create(be, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0), ECOM_OK);
    assert_int_equal(create(be, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0), ECOM_EEXISTS);
    order_seen o = get_order(be, "o1");
    assert_true(o.found);
    assert_int_equal(o.version, 1);
    assert_string_equal(o.user, "u1");
    assert_int_equal(o.created_at, T0);
    assert_false(get_order(be, "o2").found);

    uint64_t v;
    assert_int_equal(update(be, "o1", "u1", ECOM_ORDER_PAID, 1, &v), ECOM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(update(be, "o1", "u1", ECOM_ORDER_CANCELLED, 1, NULL), ECOM_ECONFLICT);
    assert_int_equal(update(be, "o2", "u1", ECOM_ORDER_PAID, 1, NULL), ECOM_ENOTFOUND);
    assert_int_equal(update(be, "o1", "u1", ECOM_ORDER_FULFILLING, ECOM_VERSION_ANY, &v), ECOM_OK);
    assert_int_equal(v, 3);
    o = get_order(be, "o1");
    assert_int_equal(o.state, ECOM_ORDER_FULFILLING);
    assert_int_equal(o.version, 3);
    assert_int_equal(o.created_at, T0); /* kept: the update said 0 */
    assert_clean(be);
}

static void test_lmdb_commerce__order_with_idempotency_key(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    ecom_order_op op = order_op(ECOM_ORDER_CREATE, "o1", "u1", 0, T0);
    op.idem_key = "k1";
    assert_int_equal(order1(be, &op, T0), ECOM_ENOTFOUND); /* not held */
    assert_false(get_order(be, "o1").found);

    assert_int_equal(idem_begin(be, "k1", 3, T0).state, ECOM_IDEM_NEW);
    assert_int_equal(order1(be, &op, T0), ECOM_OK);
    /* the stale holder's successor resumes the same order */
    ecom_idem_op again = idem_begin(be, "k1", 3, T0 + 60000);
    assert_int_equal(again.state, ECOM_IDEM_NEW);
    assert_string_equal(again.order_id, "o1");
    assert_int_equal(idem_finish(be, "k1", ECOM_OK, ""), ECOM_OK);
    ecom_order_op second = order_op(ECOM_ORDER_CREATE, "o2", "u1", 0, T0);
    second.idem_key = "k1"; /* done: no longer held */
    assert_int_equal(order1(be, &second, T0), ECOM_ENOTFOUND);
    assert_false(get_order(be, "o2").found);
    assert_clean(be);
}

/* ---- scans ---- */

typedef struct scan_seen {
    int n, stop_after;
    char ids[64][16];
    unsigned char last_key[600];
    size_t last_len;
} scan_seen;

static int scan_fn(void *ctx, const ecom_order_rec *rec, uint64_t version, const void *key,
                   size_t key_len)
{
    scan_seen *s = ctx;
    assert_true(version >= 1);
    assert_true(s->n < 64 && key_len <= sizeof s->last_key);
    snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", rec->id);
    memcpy(s->last_key, key, key_len);
    s->last_len = key_len;
    return s->stop_after && s->n == s->stop_after ? 1 : 0;
}

/* Every id the scan visits, in pages of `page` (0: one pass), joined by spaces. */
static const char *scan_all(ecom_backend *be, const char *user, int st, int64_t older_than,
                            int page)
{
    static char out[8192];
    out[0] = '\0';
    unsigned char after[600];
    size_t after_len = 0;
    for (;;) {
        scan_seen s;
        memset(&s, 0, sizeof s);
        s.stop_after = page;
        ecom_order_scan scan = {user, st, older_than, after_len ? after : NULL, after_len};
        assert_int_equal(be->order_scan(be, &scan, scan_fn, &s), ECOM_OK);
        for (int i = 0; i < s.n; i++) {
            strcat(out, out[0] ? " " : "");
            strcat(out, s.ids[i]);
        }
        if (page == 0 || s.n < page)
            return out;
        memcpy(after, s.last_key, s.last_len);
        after_len = s.last_len;
    }
}

static void make_orders(ecom_backend *be)
{
    assert_int_equal(create(be, "a1", "ann", ECOM_ORDER_PAID, T0 + 1), ECOM_OK);
    assert_int_equal(create(be, "b1", "bob", ECOM_ORDER_PAID, T0 + 2), ECOM_OK);
    assert_int_equal(create(be, "a2", "ann", ECOM_ORDER_PENDING_PAYMENT, T0 + 3), ECOM_OK);
    assert_int_equal(create(be, "a3", "ann", ECOM_ORDER_PAID, T0 + 3), ECOM_OK); /* same ms */
    assert_int_equal(create(be, "b2", "bob", ECOM_ORDER_CANCELLED, T0 + 4), ECOM_OK);
    assert_int_equal(create(be, "a4", "ann", ECOM_ORDER_PAID, T0 + 5), ECOM_OK);
    assert_int_equal(create(be, "an", "an", ECOM_ORDER_PAID, T0 + 6), ECOM_OK); /* prefix of ann */
}

static void test_lmdb_commerce__order_scans(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    make_orders(be);
    assert_string_equal(scan_all(be, NULL, -1, 0, 0), "an a4 b2 a2 a3 b1 a1");
    assert_string_equal(scan_all(be, "ann", -1, 0, 0), "a4 a2 a3 a1");
    assert_string_equal(scan_all(be, "an", -1, 0, 0), "an");
    assert_string_equal(scan_all(be, "nobody", -1, 0, 0), "");
    assert_string_equal(scan_all(be, NULL, ECOM_ORDER_PAID, 0, 0), "an a4 a3 b1 a1");
    assert_string_equal(scan_all(be, "ann", ECOM_ORDER_PAID, 0, 0), "a4 a3 a1");
    assert_string_equal(scan_all(be, NULL, -1, T0 + 3, 0), "b1 a1");
    assert_string_equal(scan_all(be, "ann", -1, T0 + 4, 0), "a2 a3 a1");
    assert_string_equal(scan_all(be, NULL, ECOM_ORDER_PAID, T0 + 5, 0), "a3 b1 a1");
    for (int page = 1; page <= 3; page++) {
        assert_string_equal(scan_all(be, NULL, -1, 0, page), "an a4 b2 a2 a3 b1 a1");
        assert_string_equal(scan_all(be, "ann", -1, 0, page), "a4 a2 a3 a1");
        assert_string_equal(scan_all(be, NULL, ECOM_ORDER_PAID, 0, page), "an a4 a3 b1 a1");
        assert_string_equal(scan_all(be, "ann", ECOM_ORDER_PAID, T0 + 5, page), "a3 a1");
    }

    /* a state change moves the order between state indexes, nothing else */
    assert_int_equal(update(be, "a2", "ann", ECOM_ORDER_PAID, 1, NULL), ECOM_OK);
    assert_string_equal(scan_all(be, NULL, ECOM_ORDER_PAID, 0, 0), "an a4 a2 a3 b1 a1");
    assert_string_equal(scan_all(be, NULL, ECOM_ORDER_PENDING_PAYMENT, 0, 0), "");
    assert_string_equal(scan_all(be, "ann", -1, 0, 0), "a4 a2 a3 a1");

    /* resuming is exact: after a2, orders made since are seen only if older */
    scan_seen s;
    memset(&s, 0, sizeof s);
    s.stop_after = 3;
    ecom_order_scan scan = {"ann", -1, 0, NULL, 0};
    assert_int_equal(be->order_scan(be, &scan, scan_fn, &s), ECOM_OK);
    assert_string_equal(s.ids[2], "a3");
    assert_int_equal(create(be, "a0", "ann", ECOM_ORDER_PAID, T0), ECOM_OK);
    assert_int_equal(create(be, "a5", "ann", ECOM_ORDER_PAID, T0 + 9), ECOM_OK);
    assert_int_equal(create(be, "a31", "ann", ECOM_ORDER_PAID, T0 + 3), ECOM_OK); /* after a3 */
    assert_int_equal(create(be, "a29", "ann", ECOM_ORDER_PAID, T0 + 3), ECOM_OK); /* before */
    scan_seen rest;
    memset(&rest, 0, sizeof rest);
    scan.after = s.last_key;
    scan.after_len = s.last_len;
    assert_int_equal(be->order_scan(be, &scan, scan_fn, &rest), ECOM_OK);
    assert_int_equal(rest.n, 3);
    assert_string_equal(rest.ids[0], "a31");
    assert_string_equal(rest.ids[1], "a1");
    assert_string_equal(rest.ids[2], "a0");

    /* a resume key of another kind of scan is refused */
    scan.user = "bob";
    assert_int_equal(be->order_scan(be, &scan, scan_fn, &rest), ECOM_EINVAL);
    assert_clean(be);
}

/* ---- orders with inventory ---- */

static ecom_inventory_op inv_op(ecom_inventory_op_kind kind, const char *id)
{
    ecom_inventory_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.id = id;
    op.location = ECOM_LOCATION_DEFAULT;
    op.claim.version = ECOM_CLAIM_RESULT_VERSION;
    return op;
}

static void receive(ecom_backend *be, const char *sku, int64_t qty)
{
    ecom_inventory_op op = inv_op(ECOM_INV_ADJUST, NULL);
    op.sku = sku;
    op.adjust_kind = ECOM_ADJUST_RECEIVE;
    op.quantity = qty;
    assert_int_equal(be->inventory_apply(be, &op, 1, T0), ECOM_OK);
    assert_int_equal(op.result, ECOM_OK);
}

static void reserve(ecom_backend *be, const char *id, const char *sku, int64_t qty,
                    int64_t ttl_ms)
{
    const char *skus[1] = {sku};
    int64_t qtys[1] = {qty};
    ecom_inventory_op op = inv_op(ECOM_INV_RESERVE, id);
    op.line_count = 1;
    op.line_skus = skus;
    op.line_quantities = qtys;
    op.fingerprint = 1;
    op.ttl_ms = ttl_ms;
    assert_int_equal(be->inventory_apply(be, &op, 1, T0), ECOM_OK);
    assert_int_equal(op.result, ECOM_OK);
}

static ecom_stock_rec stock(ecom_backend *be, const char *sku)
{
    ecom_stock_rec s;
    assert_int_equal(be->stock_get(be, sku, ECOM_LOCATION_DEFAULT, &s), ECOM_OK);
    return s;
}

static int resv_state_fn(void *ctx, const ecom_reservation_rec *rec)
{
    *(int *)ctx = rec->state;
    return 0;
}

static int resv_state(ecom_backend *be, const char *id)
{
    int st = -1;
    assert_int_equal(be->reservation_get(be, id, resv_state_fn, &st), ECOM_OK);
    return st;
}

static uint64_t last_seq(ecom_backend *be)
{
    uint64_t seq;
    assert_int_equal(be->events_last_seq(be, &seq), ECOM_OK);
    return seq;
}

typedef struct events_seen {
    int n;
    char type[8][40], key[8][40];
    uint64_t version[8];
} events_seen;

static int event_fn(void *ctx, const ecom_event_rec *ev)
{
    events_seen *e = ctx;
    if (e->n < 8) {
        snprintf(e->type[e->n], sizeof e->type[0], "%s", ev->type);
        snprintf(e->key[e->n], sizeof e->key[0], "%s", ev->key);
        e->version[e->n] = ev->version;
    }
    e->n++;
    return 0;
}

static void test_lmdb_commerce__order_inventory_all_or_nothing(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    receive(be, "sku-a", 10);
    reserve(be, "r1", "sku-a", 2, HOUR);
    reserve(be, "r2", "sku-a", 3, 100); /* due at T0 + 100 */
    assert_int_equal(create(be, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0), ECOM_OK);
    uint64_t seq = last_seq(be);

    /* COMMIT r1 then COMMIT of an unknown reservation: no trace of either, nor of the
     * order; the lazy expiry of r2 (before the nested txn) stays */
    ecom_inventory_op inv[2] = {inv_op(ECOM_INV_COMMIT, "r1"), inv_op(ECOM_INV_COMMIT, "nope")};
    ecom_order_op op = order_op(ECOM_ORDER_UPDATE, "o1", "u1", ECOM_ORDER_PAID, 0);
    op.expected_version = 1;
    op.inventory = inv;
    op.inventory_count = 2;
    assert_int_equal(order1(be, &op, T0 + 200), ECOM_ENOTFOUND);
    assert_int_equal(inv[1].result, ECOM_ENOTFOUND);
    order_seen o = get_order(be, "o1");
    assert_int_equal(o.version, 1);
    assert_int_equal(o.state, ECOM_ORDER_PENDING_PAYMENT);
    assert_int_equal(resv_state(be, "r1"), ECOM_RESERVATION_HELD);
    assert_int_equal(resv_state(be, "r2"), ECOM_RESERVATION_EXPIRED);
    ecom_stock_rec s = stock(be, "sku-a");
    assert_int_equal(s.on_hand, 10);
    assert_int_equal(s.reserved, 2);
    events_seen ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(be->events_read(be, seq, 100, event_fn, &ev), ECOM_OK);
    assert_int_equal(ev.n, 2); /* r2 expired: its reservation and stock events only */
    assert_string_equal(ev.type[0], "stock.changed");
    assert_string_equal(ev.type[1], "reservation.expired");
    assert_string_equal(ev.key[1], "r2");
    seq = last_seq(be);

    /* a create refused by its inventory leaves no order */
    ecom_order_op c = order_op(ECOM_ORDER_CREATE, "o2", "u1", 0, T0);
    ecom_inventory_op bad = inv_op(ECOM_INV_RELEASE, "nope");
    c.inventory = &bad;
    c.inventory_count = 1;
    assert_int_equal(order1(be, &c, T0 + 200), ECOM_ENOTFOUND);
    assert_false(get_order(be, "o2").found);

    /* the same write without the bad op: all of it, events in order */
    op.inventory_count = 1;
    assert_int_equal(order1(be, &op, T0 + 300), ECOM_OK);
    assert_int_equal(op.version, 2);
    assert_int_equal(resv_state(be, "r1"), ECOM_RESERVATION_COMMITTED);
    s = stock(be, "sku-a");
    assert_int_equal(s.on_hand, 8);
    assert_int_equal(s.reserved, 0);
    memset(&ev, 0, sizeof ev);
    assert_int_equal(be->events_read(be, seq, 100, event_fn, &ev), ECOM_OK);
    assert_int_equal(ev.n, 3);
    assert_string_equal(ev.type[0], "stock.changed");
    assert_string_equal(ev.type[1], "reservation.committed");
    assert_string_equal(ev.type[2], "order.updated");
    assert_string_equal(ev.key[2], "o1");
    assert_int_equal(ev.version[2], 2);
    assert_clean(be);
}

/* Several ops in one call: each judged alone; a refused one between two applied. */
static void test_lmdb_commerce__order_batch(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    receive(be, "sku-b", 5);
    reserve(be, "r1", "sku-b", 1, HOUR);
    reserve(be, "r2", "sku-b", 1, HOUR);
    uint64_t seq = last_seq(be);
    ecom_inventory_op i1 = inv_op(ECOM_INV_COMMIT, "r1"), i2 = inv_op(ECOM_INV_COMMIT, "r1"),
                      i3 = inv_op(ECOM_INV_RELEASE, "r2");
    ecom_order_op ops[3] = {order_op(ECOM_ORDER_CREATE, "x1", "u", 1, T0),
                            order_op(ECOM_ORDER_CREATE, "x2", "u", 1, T0),
                            order_op(ECOM_ORDER_CREATE, "x3", "u", 6, T0)};
    ops[0].inventory = &i1;
    ops[1].inventory = &i2; /* r1 committed by the first: ECOM_EENDED */
    ops[2].inventory = &i3;
    ops[0].inventory_count = ops[1].inventory_count = ops[2].inventory_count = 1;
    assert_int_equal(be->order_apply(be, ops, 3, T0 + 1), ECOM_OK);
    assert_int_equal(ops[0].result, ECOM_OK);
    assert_int_equal(ops[1].result, ECOM_EENDED);
    assert_int_equal(ops[2].result, ECOM_OK);
    assert_true(get_order(be, "x1").found);
    assert_false(get_order(be, "x2").found);
    assert_true(get_order(be, "x3").found);
    ecom_stock_rec s = stock(be, "sku-b");
    assert_int_equal(s.on_hand, 4);
    assert_int_equal(s.reserved, 0);
    events_seen ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(be->events_read(be, seq, 100, event_fn, &ev), ECOM_OK);
    assert_int_equal(ev.n, 6); /* two inventory events and one order event per applied op */
    assert_string_equal(ev.type[2], "order.created");
    assert_string_equal(ev.key[5], "x3");
    assert_clean(be);
}

/* An order write with one inventory operation runs it in the txn itself: refused
 * after it found its hold due (past what the lazy sweep ends in one txn), the expiry
 * it wrote stays, as it would in a batch of inventory operations, and the next op of
 * the batch numbers its events after it. */
#define DUE_HOLDS 1001 /* INV_LAZY_SWEEP ends 1000 per txn */
static void test_lmdb_commerce__order_single_inventory_refused(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    receive(be, "sku-a", DUE_HOLDS + 10);
    static char ids[DUE_HOLDS][16];
    static ecom_inventory_op holds[DUE_HOLDS];
    const char *skus[1] = {"sku-a"};
    int64_t qtys[1] = {1};
    for (int i = 0; i < DUE_HOLDS; i++) {
        snprintf(ids[i], sizeof ids[i], "d%04d", i);
        holds[i] = inv_op(ECOM_INV_RESERVE, ids[i]);
        holds[i].line_count = 1;
        holds[i].line_skus = skus;
        holds[i].line_quantities = qtys;
        holds[i].fingerprint = 1;
        holds[i].ttl_ms = i == DUE_HOLDS - 1 ? 150 : 100; /* the last is swept last */
    }
    assert_int_equal(be->inventory_apply(be, holds, DUE_HOLDS, T0), ECOM_OK);
    reserve(be, "ok", "sku-a", 2, HOUR);
    assert_int_equal(create(be, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0), ECOM_OK);
    uint64_t seq = last_seq(be);

    ecom_inventory_op late = inv_op(ECOM_INV_COMMIT, ids[DUE_HOLDS - 1]);
    ecom_inventory_op ok = inv_op(ECOM_INV_COMMIT, "ok");
    ecom_order_op ops[2] = {order_op(ECOM_ORDER_UPDATE, "o1", "u1", ECOM_ORDER_PAID, 0),
                            order_op(ECOM_ORDER_CREATE, "o2", "u1", ECOM_ORDER_PAID, T0)};
    ops[0].expected_version = 1;
    ops[0].inventory = &late;
    ops[1].inventory = &ok;
    ops[0].inventory_count = ops[1].inventory_count = 1;
    assert_int_equal(be->order_apply(be, ops, 2, T0 + 200), ECOM_OK);
    assert_int_equal(ops[0].result, ECOM_EEXPIRED);
    assert_int_equal(ops[1].result, ECOM_OK);
    assert_int_equal(get_order(be, "o1").version, 1);
    assert_int_equal(get_order(be, "o1").state, ECOM_ORDER_PENDING_PAYMENT);
    assert_true(get_order(be, "o2").found);
    assert_int_equal(resv_state(be, ids[0]), ECOM_RESERVATION_EXPIRED);
    assert_int_equal(resv_state(be, ids[DUE_HOLDS - 1]), ECOM_RESERVATION_EXPIRED);
    assert_int_equal(resv_state(be, "ok"), ECOM_RESERVATION_COMMITTED);
    ecom_stock_rec s = stock(be, "sku-a");
    assert_int_equal(s.on_hand, DUE_HOLDS + 8);
    assert_int_equal(s.reserved, 0);
    /* two events per hold that ended, then the applied op's three, numbered on */
    assert_int_equal(last_seq(be), seq + 2 * DUE_HOLDS + 3);
    events_seen ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(be->events_read(be, seq + 2 * DUE_HOLDS - 2, 100, event_fn, &ev), ECOM_OK);
    assert_int_equal(ev.n, 5);
    assert_string_equal(ev.type[1], "reservation.expired");
    assert_string_equal(ev.key[1], ids[DUE_HOLDS - 1]);
    assert_string_equal(ev.type[3], "reservation.committed");
    assert_string_equal(ev.type[4], "order.created");
    assert_string_equal(ev.key[4], "o2");
    assert_clean(be);
}

/* A flash claim in a refused order write: the claim is undone with the rest, and the
 * in-memory claim index that saw it is rebuilt, so the same key claims afresh. */
static void test_lmdb_commerce__order_flash_claim_refused(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    receive(be, "sku-c", 10);
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "sku-c";
    fo.units = 4;
    fo.starts_at = T0;
    fo.claim_ttl_ms = 60000;
    ecom_inventory_op open = inv_op(ECOM_INV_FLASH_OPEN, "s1");
    open.sku = "sku-c";
    open.flash = &fo;
    assert_int_equal(be->inventory_apply(be, &open, 1, T0), ECOM_OK);
    assert_int_equal(open.result, ECOM_OK);
    assert_int_equal(create(be, "o1", "u1", 0, T0), ECOM_OK);

    ecom_inventory_op inv[2] = {inv_op(ECOM_INV_FLASH_CLAIM, "s1"), inv_op(ECOM_INV_COMMIT, "no")};
    inv[0].user = "u1";
    inv[0].key = "k1";
    inv[0].quantity = 2;
    ecom_order_op op = order_op(ECOM_ORDER_UPDATE, "o1", "u1", ECOM_ORDER_PAID, 0);
    op.expected_version = 1;
    op.inventory = inv;
    op.inventory_count = 2;
    assert_int_equal(order1(be, &op, T0 + 1), ECOM_ENOTFOUND);
    assert_int_equal(inv[0].result, ECOM_OK); /* applied, then undone with the write */
    assert_null(((ecom__lmdb *)be)->claim_index); /* dropped: rebuilt on use */
    ecom_flash_status fs;
    memset(&fs, 0, sizeof fs);
    fs.version = ECOM_FLASH_STATUS_VERSION;
    assert_int_equal(be->flash_get(be, "s1", &fs), ECOM_OK);
    assert_int_equal(fs.held, 0);
    assert_int_equal(fs.remaining, 4);

    ecom_inventory_op again = inv_op(ECOM_INV_FLASH_CLAIM, "s1");
    again.user = "u1";
    again.key = "k1";
    again.quantity = 2;
    assert_int_equal(be->inventory_apply(be, &again, 1, T0 + 2), ECOM_OK);
    assert_int_equal(again.result, ECOM_OK);
    assert_int_equal(again.existing, 0); /* a new claim, not a retry of the undone one */
    assert_int_equal(again.claim.outcome, ECOM_CLAIM_ADMITTED);
    assert_clean(be);
}

/* FLASH_BIND ties a held claim to one order: again for that order is no error,
 * another order is ECOM_EBUSY, and once the claim has ended it is refused as a commit
 * is (ECOM_EENDED). Binding changes nothing else of the claim or the sale; a tied claim
 * is committed or released only by a call naming its order. */
static void test_lmdb_commerce__flash_bind(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    receive(be, "sku-c", 10);
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "sku-c";
    fo.units = 4;
    fo.starts_at = T0;
    fo.claim_ttl_ms = 60000;
    ecom_inventory_op open = inv_op(ECOM_INV_FLASH_OPEN, "s1");
    open.sku = "sku-c";
    open.flash = &fo;
    assert_int_equal(be->inventory_apply(be, &open, 1, T0), ECOM_OK);
    ecom_inventory_op claim = inv_op(ECOM_INV_FLASH_CLAIM, "s1");
    claim.user = "u1";
    claim.key = "k1";
    claim.quantity = 2;
    assert_int_equal(be->inventory_apply(be, &claim, 1, T0), ECOM_OK);
    assert_int_equal(claim.claim.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(claim.claim.claim_id, "s1:1");
    const char *orders[] = {"o1", "o1", "o2", ""};
    const int want[] = {ECOM_OK, ECOM_OK, ECOM_EBUSY, ECOM_EINVAL};
    for (int i = 0; i < 4; i++) {
        ecom_inventory_op bind = inv_op(ECOM_INV_FLASH_BIND, "s1");
        bind.ticket = 1; /* the sale's first claim: "s1:1" */
        bind.key = orders[i];
        assert_int_equal(be->inventory_apply(be, &bind, 1, T0 + 1), ECOM_OK);
        assert_int_equal(bind.result, want[i]);
    }
    ecom_inventory_op ghost = inv_op(ECOM_INV_FLASH_BIND, "s1");
    ghost.ticket = 99;
    ghost.key = "o1";
    assert_int_equal(be->inventory_apply(be, &ghost, 1, T0 + 1), ECOM_OK);
    assert_int_equal(ghost.result, ECOM_ENOTFOUND);
    ecom_flash_status fs;
    memset(&fs, 0, sizeof fs);
    fs.version = ECOM_FLASH_STATUS_VERSION;
    assert_int_equal(be->flash_get(be, "s1", &fs), ECOM_OK);
    assert_int_equal(fs.held, 2);
    /* Tied to o1: only o1 commits or releases it (key), not the host (no key). */
    const char *enders[] = {NULL, "o2", "o1"};
    const int ended[] = {ECOM_EBUSY, ECOM_EBUSY, ECOM_OK};
    for (int i = 0; i < 3; i++) {
        ecom_inventory_op commit = inv_op(i == 0 ? ECOM_INV_FLASH_RELEASE : ECOM_INV_FLASH_COMMIT,
                                          "s1");
        commit.ticket = 1;
        commit.key = enders[i];
        assert_int_equal(be->inventory_apply(be, &commit, 1, T0 + 2), ECOM_OK);
        assert_int_equal(commit.result, ended[i]);
    }
    ecom_inventory_op late = inv_op(ECOM_INV_FLASH_BIND, "s1");
    late.ticket = 1;
    late.key = "o1";
    assert_int_equal(be->inventory_apply(be, &late, 1, T0 + 3), ECOM_OK);
    assert_int_equal(late.result, ECOM_EENDED);
    assert_clean(be);
}

/* ---- payments ---- */

static ecom_payment_op pay_op(const char *key, const char *order, const char *kind,
                              const char *charge, int64_t amount, int approved, int64_t time)
{
    ecom_payment_op op;
    memset(&op, 0, sizeof op);
    op.rec = (ecom_payment_rec){key, order, charge, kind, amount, approved,
                                approved ? "" : "card_declined", time};
    return op;
}

static ecom_payment_op pay(ecom_backend *be, ecom_payment_op op)
{
    assert_int_equal(be->payment_apply(be, &op, 1, T0 + 50), ECOM_OK);
    return op;
}

typedef struct pay_seen {
    int n;
    char keys[8][40], kinds[8][16];
    int64_t amount[8], time[8];
} pay_seen;

static int pay_fn(void *ctx, const ecom_payment_rec *rec)
{
    pay_seen *p = ctx;
    if (p->n < 8) {
        snprintf(p->keys[p->n], sizeof p->keys[0], "%s", rec->key);
        snprintf(p->kinds[p->n], sizeof p->kinds[0], "%s", rec->kind);
        p->amount[p->n] = rec->amount;
        p->time[p->n] = rec->time;
    }
    p->n++;
    return 0;
}

static void test_lmdb_commerce__payments(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(create(be, "o1", "u1", 0, T0), ECOM_OK);
    ecom_payment_op op = pay(be, pay_op("o1:charge", "o1", "charge", "ch_1", 500, 1, T0 + 20));
    assert_int_equal(op.result, ECOM_OK);
    assert_int_equal(op.existing, 0);
    assert_int_equal(op.approved, 1);
    assert_int_equal(op.amount, 500);
    assert_string_equal(op.charge_id, "ch_1");

    /* the same key again: the first record's outcome, nothing written */
    op = pay(be, pay_op("o1:charge", "o1", "charge", "ch_2", 999, 0, T0 + 30));
    assert_int_equal(op.result, ECOM_OK);
    assert_int_equal(op.existing, 1);
    assert_int_equal(op.approved, 1);
    assert_int_equal(op.amount, 500);
    assert_string_equal(op.charge_id, "ch_1");
    assert_string_equal(op.reason, "");

    op = pay(be, pay_op("o1:refund", "o1", "refund", "ch_1", 200, 1, T0 + 10)); /* earlier */
    assert_int_equal(op.existing, 0);
    op = pay(be, pay_op("o1:void", "o1", "void", "ch_1", 0, 0, 0)); /* time: now */
    assert_string_equal(op.reason, "card_declined");
    op = pay(be, pay_op("o9:charge", "o9", "charge", "ch_9", 1, 1, T0));
    pay_seen p;
    memset(&p, 0, sizeof p);
    assert_int_equal(be->payment_list(be, "o1", pay_fn, &p), ECOM_OK);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.keys[0], "o1:refund");
    assert_string_equal(p.keys[1], "o1:charge");
    assert_string_equal(p.keys[2], "o1:void");
    assert_int_equal(p.time[2], T0 + 50);
    memset(&p, 0, sizeof p);
    assert_int_equal(be->payment_list(be, "o", pay_fn, &p), ECOM_OK);
    assert_int_equal(p.n, 0);

    memset(&p, 0, sizeof p);
    assert_int_equal(be->payment_get(be, "o1:charge", pay_fn, &p), ECOM_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.amount[0], 500);
    assert_string_equal(p.kinds[0], "charge");
    assert_int_equal(be->payment_get(be, "nope", pay_fn, &p), ECOM_ENOTFOUND);

    char long_id[100];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    op = pay(be, pay_op("o1:x", "o1", "charge", long_id, 1, 1, T0));
    assert_int_equal(op.result, ECOM_EINVAL);
    /* o9 has no order: check says so */
    reports *r = run_check(be);
    assert_int_equal(r->count, 1);
    test_expect_report(r, "payment 'o9:charge' names a missing order 'o9'");
}

/* ---- consumers ---- */

static void test_lmdb_commerce__consumers(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    uint64_t seq = 99;
    assert_int_equal(be->consumer_get(be, "mailer", &seq), ECOM_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(last_seq(be), 3); /* the fixture's products */
    assert_int_equal(be->consumer_ack(be, "mailer", 2), ECOM_OK);
    assert_int_equal(be->consumer_ack(be, "mailer", 1), ECOM_OK); /* less: kept */
    assert_int_equal(be->consumer_get(be, "mailer", &seq), ECOM_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(be->consumer_ack(be, "mailer", 50), ECOM_OK); /* cut to the log */
    assert_int_equal(be->consumer_get(be, "mailer", &seq), ECOM_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(be->consumer_get(be, "other", &seq), ECOM_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(be->consumer_ack(be, "", 1), ECOM_EINVAL);
    assert_clean(be);
}

/* ---- check ---- */

static MDB_dbi open_dbi(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    return dbi;
}

static void raw_edit(fixture *f, void (*fn)(MDB_txn *txn))
{
    f->be->close(f->be);
    f->be = NULL;
    MDB_env *env;
    MDB_txn *txn;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    fn(txn);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(open_be(f), ECOM_OK);
}

static void drop_state_entry(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "ord_state");
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    assert_int_equal(mdb_cursor_del(cur, 0), 0);
    mdb_cursor_close(cur);
}

/* The first line's quantity of user:1 (currency "USD"): after 16 bytes of times, 6
 * of currency and 2 of line count. */
static void bump_cart_line(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "carts");
    MDB_val k = {sizeof "user:1", "user:1"}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char buf[256];
    assert_true(v.mv_size <= sizeof buf);
    memcpy(buf, v.mv_data, v.mv_size);
    buf[24] = 0xe8; /* 1000 */
    buf[25] = 0x03;
    v.mv_data = buf;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void test_lmdb_commerce__check_finds_corruption(void **state)
{
    fixture *f = *state;
    assert_int_equal(create(f->be, "o1", "u1", ECOM_ORDER_PAID, T0), ECOM_OK);
    assert_int_equal(create(f->be, "o2", "u1", ECOM_ORDER_PAID, T0 + 1), ECOM_OK);
    assert_int_equal(add(f->be, "user:1", "sku-a", 999, 1, "USD"), ECOM_OK);
    pay(f->be, pay_op("o1:c1", "o1", "charge", "ch_1", 5, 1, T0));
    pay(f->be, pay_op("o1:c2", "o1", "charge", "ch_2", 5, 0, T0)); /* declined */
    pay(f->be, pay_op("o2:c1", "o2", "charge", "ch_3", 5, 1, T0));
    pay(f->be, pay_op("o2:v1", "o2", "void", "ch_3", 0, 1, T0)); /* voided */
    pay(f->be, pay_op("o2:c2", "o2", "charge", "ch_4", 5, 1, T0));
    reports *r = run_check(f->be);
    if (r->count)
        fail_msg("%s", r->all);
    assert_int_equal(r->orders, 2);

    raw_edit(f, drop_state_entry);
    raw_edit(f, bump_cart_line);
    pay(f->be, pay_op("o1:c3", "o1", "charge", "ch_5", 5, 1, T0));
    r = run_check(f->be);
    test_expect_report(r, "order 'o2' is missing from ord_state");
    test_expect_report(r, "cart 'user:1': line 'sku-a' holds 1000 units, outside 1..999");
    test_expect_report(r, "order 'o1' has 2 approved charges that were not voided");
    assert_int_equal(r->count, 3);
}

/* ---- threads ---- */

typedef struct worker {
    ecom_backend *be;
    int n, failures, conflicts;
} worker;

enum { WORKERS = 4, PER = 60 };

/* No cmocka assert off the main thread: these return codes. */
static int t_write(ecom_backend *be, ecom_order_op *op)
{
    int rc = be->order_apply(be, op, 1, T0);
    return rc != ECOM_OK ? rc : op->result;
}

static int t_version_fn(void *ctx, const ecom_order_rec *rec, uint64_t version, const void *key,
                        size_t key_len)
{
    (void)rec;
    (void)key;
    (void)key_len;
    *(uint64_t *)ctx = version;
    return 0;
}

/* Creates its orders, then moves its own and a shared order by compare-and-set. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER; i++) {
        char id[32], user[16];
        snprintf(id, sizeof id, "w%d-%d", w->n, i);
        snprintf(user, sizeof user, "user%d", i % 3);
        ecom_order_op op = order_op(ECOM_ORDER_CREATE, id, user, 0, T0 + i);
        if (t_write(w->be, &op) != ECOM_OK || op.version != 1)
            w->failures++;
        op = order_op(ECOM_ORDER_UPDATE, id, user, ECOM_ORDER_PAID, 0);
        op.expected_version = 1;
        if (t_write(w->be, &op) != ECOM_OK || op.version != 2)
            w->failures++;
        uint64_t version = 0;
        if (w->be->order_get(w->be, "shared", t_version_fn, &version) != ECOM_OK)
            w->failures++;
        op = order_op(ECOM_ORDER_UPDATE, "shared", "s", i % 2 ? 1 : 2, 0);
        op.expected_version = version;
        int rc = t_write(w->be, &op);
        if (rc == ECOM_ECONFLICT)
            w->conflicts++;
        else if (rc != ECOM_OK)
            w->failures++;
    }
    return NULL;
}

/* Orders a paged scan visits. */
static int count_words(const char *s)
{
    int n = 0;
    for (const char *p = s; *p; p++)
        n += (p == s || p[-1] == ' ') && *p != ' ';
    return n;
}

static void test_lmdb_commerce__threads(void **state)
{
    fixture *f = *state;
    assert_int_equal(create(f->be, "shared", "s", 0, T0), ECOM_OK);
    pthread_t th[WORKERS];
    worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker){f->be, i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    int conflicts = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
        conflicts += w[i].conflicts;
    }
    /* every successful compare-and-set made exactly one version */
    assert_int_equal(get_order(f->be, "shared").version,
                     1 + (uint64_t)(WORKERS * PER - conflicts));
    assert_int_equal(count_words(scan_all(f->be, NULL, -1, 0, 50)), WORKERS * PER + 1);
    assert_int_equal(count_words(scan_all(f->be, "user1", ECOM_ORDER_PAID, 0, 7)),
                     WORKERS * PER / 3);
    assert_string_equal(scan_all(f->be, NULL, ECOM_ORDER_PENDING_PAYMENT, 0, 50), "");
    reports *r = run_check(f->be);
    if (r->count)
        fail_msg("%s", r->all);
    assert_int_equal(r->orders, WORKERS * PER + 1);
}

/* ---- write_batch: every kind in one txn ---- */

static ecom_write_item item(ecom_write_kind kind, void *op)
{
    return (ecom_write_item){(int)kind, op};
}

static int payment_found_fn(void *ctx, const ecom_payment_rec *rec)
{
    (void)rec;
    *(int *)ctx = 1;
    return 0;
}

static int payment_found(ecom_backend *be, const char *key)
{
    int found = 0;
    int rc = be->payment_get(be, key, payment_found_fn, &found);
    assert_true(rc == ECOM_OK || rc == ECOM_ENOTFOUND);
    return found;
}

typedef struct keys_seen {
    int n;
    char all[4096];
} keys_seen;

static int key_fn(void *ctx, const ecom_event_rec *ev)
{
    keys_seen *k = ctx;
    size_t len = strlen(k->all);
    snprintf(k->all + len, sizeof k->all - len, "%s %s;", ev->type, ev->key);
    k->n++;
    return 0;
}

/* RESERVE with one line of sku. */
static ecom_inventory_op reserve_op(const char *id, const char **sku, int64_t *qty)
{
    ecom_inventory_op op = inv_op(ECOM_INV_RESERVE, id);
    op.line_count = 1;
    op.line_skus = sku;
    op.line_quantities = qty;
    op.fingerprint = 1;
    op.ttl_ms = HOUR;
    return op;
}

static ecom_idem_op idem_op(ecom_idem_op_kind kind, const char *key, uint64_t fp)
{
    ecom_idem_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.key = key;
    op.fingerprint = fp;
    op.ttl_ms = 24 * HOUR;
    op.stale_ms = 60000;
    return op;
}

/* A mix of every kind, each judged alone, in item order: the idempotency key begun
 * by item 0 is held for the order of item 2; the order refused in the middle (its
 * reservation is short of stock) leaves no trace, the others are committed. */
static void test_lmdb_commerce__write_batch_mixed(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_non_null(be->write_batch);
    receive(be, "sku-a", 10);
    uint64_t seq = last_seq(be);

    const char *sku_a[1] = {"sku-a"};
    int64_t two[1] = {2}, many[1] = {1000};
    ecom_idem_op begin = idem_op(ECOM_IDEM_BEGIN, "k1", 7);
    ecom_inventory_op resv = reserve_op("r1", sku_a, two);
    ecom_order_op o1 = order_op(ECOM_ORDER_CREATE, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0);
    o1.idem_key = "k1";
    ecom_inventory_op short_resv = reserve_op("r2", sku_a, many);
    ecom_order_op o2 = order_op(ECOM_ORDER_CREATE, "o2", "u2", ECOM_ORDER_PENDING_PAYMENT, T0);
    o2.inventory = &short_resv;
    o2.inventory_count = 1;
    ecom_cart_op carts[2] = {cart_op(ECOM_CART_ADD, "c1", "sku-b", 3, 250, "USD"),
                             cart_op(ECOM_CART_ADD, "c1", "sku-c", 1, 100, "EUR")};
    ecom_payment_op payment = pay_op("o1:charge", "o1", "charge", "ch_1", 500, 1, 0);
    ecom_write_item items[] = {item(ECOM_WRITE_IDEM, &begin),
                               item(ECOM_WRITE_INVENTORY, &resv),
                               item(ECOM_WRITE_ORDER, &o1),
                               item(ECOM_WRITE_ORDER, &o2),
                               item(ECOM_WRITE_CART, &carts[0]),
                               item(ECOM_WRITE_CART, &carts[1]),
                               item(ECOM_WRITE_PAYMENT, &payment)};
    begin.op_result = resv.result = o1.result = o2.result = 12345;
    carts[0].result = carts[1].result = payment.result = 12345;
    assert_int_equal(be->write_batch(be, items, sizeof items / sizeof items[0], T0 + 10),
                     ECOM_OK);

    assert_int_equal(begin.op_result, ECOM_OK);
    assert_int_equal(begin.state, ECOM_IDEM_NEW);
    assert_int_equal(resv.result, ECOM_OK);
    assert_int_equal(o1.result, ECOM_OK);
    assert_int_equal(o1.version, 1);
    assert_int_equal(o2.result, ECOM_EINSUFFICIENT);
    assert_int_equal(carts[0].result, ECOM_OK);
    assert_int_equal(carts[1].result, ECOM_EMIXEDCURRENCY); /* judged after carts[0] */
    assert_int_equal(payment.result, ECOM_OK);
    assert_int_equal(payment.existing, 0);
    assert_int_equal(payment.amount, 500);

    /* committed */
    assert_int_equal(resv_state(be, "r1"), ECOM_RESERVATION_HELD);
    ecom_stock_rec s = stock(be, "sku-a");
    assert_int_equal(s.on_hand, 10);
    assert_int_equal(s.reserved, 2);
    assert_int_equal(get_order(be, "o1").version, 1);
    cart_seen *c = get_cart(be, "c1", T0 + 10);
    assert_int_equal(c->n, 1);
    assert_line(c, 0, "sku-b", 3, 250);
    assert_true(payment_found(be, "o1:charge"));
    /* the order was recorded in the key begun earlier in the same txn */
    assert_int_equal(idem_finish(be, "k1", ECOM_OK, ""), ECOM_OK);
    ecom_idem_op again = idem_begin(be, "k1", 7, T0 + 20);
    assert_int_equal(again.state, ECOM_IDEM_DONE);
    assert_string_equal(again.order_id, "o1");

    /* the refused order: no order, no reservation, no event */
    assert_int_equal(get_order(be, "o2").found, 0);
    int st = -1;
    assert_int_equal(be->reservation_get(be, "r2", resv_state_fn, &st), ECOM_ENOTFOUND);
    keys_seen ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(be->events_read(be, seq, 100, key_fn, &ev), ECOM_OK);
    assert_non_null(strstr(ev.all, "order.created o1;"));
    assert_non_null(strstr(ev.all, "reservation.created r1;"));
    assert_null(strstr(ev.all, "o2"));
    assert_null(strstr(ev.all, "r2"));
    assert_clean(be);
}

/* A bad item fails the whole call before anything runs. */
/* A key claimed and an order created in one batch: only by the request that the BEGIN
 * made the key's holder, and only while the key names no order yet. */
static void test_lmdb_commerce__claimed_create(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    ecom_idem_op first = idem_op(ECOM_IDEM_BEGIN, "k1", 7), second = first;
    first.holder = 11;
    second.holder = 22;
    ecom_order_op mine = order_op(ECOM_ORDER_CREATE, "o1", "u1", ECOM_ORDER_PENDING_PAYMENT, T0);
    ecom_order_op theirs = order_op(ECOM_ORDER_CREATE, "o2", "u1", ECOM_ORDER_PENDING_PAYMENT, T0);
    mine.idem_key = theirs.idem_key = "k1";
    mine.idem_holder = 11;
    theirs.idem_holder = 22;
    /* Two requests racing with one key in one batch: the first claims it, the
     * second finds it in flight, and its create is refused. */
    ecom_write_item items[] = {item(ECOM_WRITE_IDEM, &first), item(ECOM_WRITE_IDEM, &second),
                               item(ECOM_WRITE_ORDER, &mine), item(ECOM_WRITE_ORDER, &theirs)};
    assert_int_equal(be->write_batch(be, items, 4, T0 + 1), ECOM_OK);
    assert_int_equal(first.state, ECOM_IDEM_NEW);
    assert_int_equal(second.state, ECOM_IDEM_IN_FLIGHT);
    assert_int_equal(mine.result, ECOM_OK);
    assert_int_equal(theirs.result, ECOM_EBUSY);
    /* Released by a timeout, the key is held again, but it names o1 already: a new
     * request's create is refused, and it resumes o1 instead. */
    ecom_idem_op release = idem_op(ECOM_IDEM_FINISH, "k1", 7);
    release.result = ECOM_ETIMEOUT;
    snprintf(release.order_id, sizeof release.order_id, "o1");
    ecom_idem_op again = idem_op(ECOM_IDEM_BEGIN, "k1", 7);
    again.holder = 33;
    ecom_order_op another = order_op(ECOM_ORDER_CREATE, "o3", "u1", ECOM_ORDER_PENDING_PAYMENT,
                                     T0);
    another.idem_key = "k1";
    another.idem_holder = 33;
    ecom_write_item retry[] = {item(ECOM_WRITE_IDEM, &release), item(ECOM_WRITE_IDEM, &again),
                               item(ECOM_WRITE_ORDER, &another)};
    assert_int_equal(be->write_batch(be, retry, 3, T0 + 2), ECOM_OK);
    assert_int_equal(again.state, ECOM_IDEM_NEW);
    assert_string_equal(again.order_id, "o1");
    assert_int_equal(another.result, ECOM_EBUSY);
    assert_clean(be);
}

/* Dependent items (ECOM_WRITE_DEPENDENT) follow their anchor, the nearest earlier
 * item without the flag: applied with it, skipped with its result without it. */
static void test_lmdb_commerce__write_batch_dependent(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    const int dep = ECOM_WRITE_DEPENDENT;
    assert_int_equal(add(be, "c1", "sku-a", 1, 100, "USD"), ECOM_OK);
    assert_int_equal(add(be, "c2", "sku-a", 1, 100, "USD"), ECOM_OK);
    ecom_order_op paid = order_op(ECOM_ORDER_CREATE, "o1", "u1", ECOM_ORDER_PAID, T0);
    ecom_order_op twice = order_op(ECOM_ORDER_CREATE, "o1", "u2", ECOM_ORDER_PAID, T0);
    ecom_cart_op clear1 = cart_op(ECOM_CART_CLEAR, "c1", NULL, 0, 0, NULL);
    ecom_cart_op clear2 = cart_op(ECOM_CART_CLEAR, "c2", NULL, 0, 0, NULL);
    ecom_idem_op done1 = idem_op(ECOM_IDEM_BEGIN, "k1", 1);
    ecom_idem_op done2 = idem_op(ECOM_IDEM_BEGIN, "k2", 1);
    /* o1 is created and its followers applied; the second create of o1 is refused
     * (it exists), so its followers are skipped and carry its result. */
    ecom_write_item items[] = {item(ECOM_WRITE_ORDER, &paid),
                               {ECOM_WRITE_CART | dep, &clear1},
                               {ECOM_WRITE_IDEM | dep, &done1},
                               item(ECOM_WRITE_ORDER, &twice),
                               {ECOM_WRITE_CART | dep, &clear2},
                               {ECOM_WRITE_IDEM | dep, &done2}};
    assert_int_equal(be->write_batch(be, items, 6, T0 + 1), ECOM_OK);
    assert_int_equal(paid.result, ECOM_OK);
    assert_int_equal(clear1.result, ECOM_OK);
    assert_int_equal(done1.op_result, ECOM_OK);
    assert_int_equal(twice.result, ECOM_EEXISTS);
    assert_int_equal(clear2.result, ECOM_EEXISTS);
    assert_int_equal(done2.op_result, ECOM_EEXISTS);
    assert_int_equal(get_cart(be, "c1", T0 + 1)->n, 0);
    assert_int_equal(get_cart(be, "c2", T0 + 1)->n, 1); /* untouched */
    assert_int_equal(idem_begin(be, "k1", 1, T0 + 2).state, ECOM_IDEM_IN_FLIGHT);
    assert_int_equal(idem_begin(be, "k2", 1, T0 + 2).state, ECOM_IDEM_NEW);
    /* A dependent with no anchor before it is a bad batch. */
    ecom_write_item orphan[] = {{ECOM_WRITE_CART | dep, &clear2}};
    assert_int_equal(be->write_batch(be, orphan, 1, T0 + 3), ECOM_EINVAL);
    assert_int_equal(get_cart(be, "c2", T0 + 3)->n, 1);
    assert_clean(be);
}

static void test_lmdb_commerce__write_batch_bad_item(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    ecom_cart_op cart = cart_op(ECOM_CART_ADD, "c1", "sku-b", 1, 100, "USD");
    ecom_write_item items[] = {item(ECOM_WRITE_CART, &cart), {99, &cart}};
    assert_int_equal(be->write_batch(be, items, 2, T0), ECOM_EINVAL);
    assert_int_equal(cart.result, ECOM_EINVAL);
    assert_int_equal(get_cart(be, "c1", T0)->n, 0);
    assert_int_equal(be->write_batch(be, NULL, 0, T0), ECOM_OK);
}

/* A mixed batch far larger than the map: the txn finds the map full part way, the
 * map grows, and the whole batch runs again from a clean state: every item's result
 * is its own (a stale one would show), and nothing of the failed run stays. */
static void test_lmdb_commerce__write_batch_map_growth(void **state)
{
    (void)state;
    enum { N = 150, REFUSED = 77, KINDS = 4 };
    fixture g = {0};
    test_fresh_store_dir(g.dir, sizeof g.dir, g.uri, sizeof g.uri, "lmdb_commerce_grow");
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.map_size = 64 << 10;
    assert_int_equal(ecom__lmdb_factory.open(&g.be, NULL, g.uri, &opts), ECOM_OK);
    ecom_backend *be = g.be;
    static const char *const skus[] = {"sku-a", "sku-b"};
    add_products(be, skus, 2);
    receive(be, "sku-a", N);

    static char ids[N][64], users[N][96], keys[N][96];
    static ecom_inventory_op inv[N];
    static ecom_order_op orders[N];
    static ecom_cart_op carts[N];
    static ecom_payment_op pays[N];
    static ecom_write_item items[N * KINDS];
    const char *sku_a[1] = {"sku-a"};
    int64_t one[1] = {1}, too_many[1] = {N + 1};
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "id-%04d", i);
        snprintf(users[i], sizeof users[i], "user-with-a-long-name-to-fill-pages-%04d", i);
        snprintf(keys[i], sizeof keys[i], "payment-key-with-a-long-name-to-fill-pages-%04d", i);
        inv[i] = reserve_op(ids[i], sku_a, i == REFUSED ? too_many : one);
        orders[i] = order_op(ECOM_ORDER_CREATE, ids[i], users[i], ECOM_ORDER_PENDING_PAYMENT, T0);
        carts[i] = cart_op(ECOM_CART_ADD, users[i], "sku-b", 1, 100, "USD");
        pays[i] = pay_op(keys[i], ids[i], "charge", "ch", 100, 1, 0);
        inv[i].result = orders[i].result = carts[i].result = pays[i].result = 12345;
        items[KINDS * i] = item(ECOM_WRITE_INVENTORY, &inv[i]);
        items[KINDS * i + 1] = item(ECOM_WRITE_ORDER, &orders[i]);
        items[KINDS * i + 2] = item(ECOM_WRITE_CART, &carts[i]);
        items[KINDS * i + 3] = item(ECOM_WRITE_PAYMENT, &pays[i]);
    }
    MDB_envinfo info;
    mdb_env_info(((ecom__lmdb *)be)->env, &info);
    size_t map_before = info.me_mapsize;
    assert_int_equal(be->write_batch(be, items, N * KINDS, T0 + 10), ECOM_OK);
    mdb_env_info(((ecom__lmdb *)be)->env, &info);
    assert_true(info.me_mapsize > map_before); /* the batch found the map full */

    for (int i = 0; i < N; i++) {
        assert_int_equal(inv[i].result, i == REFUSED ? ECOM_EINSUFFICIENT : ECOM_OK);
        assert_int_equal(inv[i].existing, 0);
        assert_int_equal(orders[i].result, ECOM_OK);
        assert_int_equal(orders[i].version, 1);
        assert_int_equal(carts[i].result, ECOM_OK);
        assert_int_equal(pays[i].result, ECOM_OK);
        assert_int_equal(pays[i].existing, 0); /* not the failed run's record */
        assert_int_equal(get_cart(be, users[i], T0 + 10)->qty[0], 1); /* added once */
    }
    int st = -1;
    assert_int_equal(be->reservation_get(be, ids[REFUSED], resv_state_fn, &st), ECOM_ENOTFOUND);
    ecom_stock_rec s = stock(be, "sku-a");
    assert_int_equal(s.reserved, N - 1);
    reports *r = run_check(be);
    if (r->count)
        fail_msg("%s", r->all);
    assert_int_equal(r->orders, N);
    be->close(be);
    test_remove_store_dir(g.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(test_lmdb_commerce__##name, setup, teardown)
        T(cart_lines),
        T(cart_batch),
        T(cart_bounds),
        T(cart_merge),
        T(cart_merge_line_bound),
        T(cart_take),
        T(cart_expiry_and_purge),
        T(idempotency),
        T(order_create_and_update),
        T(order_with_idempotency_key),
        T(order_scans),
        T(order_inventory_all_or_nothing),
        T(order_batch),
        T(order_single_inventory_refused),
        T(order_flash_claim_refused),
        T(flash_bind),
        T(payments),
        T(consumers),
        T(check_finds_corruption),
        T(threads),
        T(write_batch_mixed),
        T(claimed_create),
        T(write_batch_dependent),
        T(write_batch_bad_item),
        T(write_batch_map_growth),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
