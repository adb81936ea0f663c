/* The LMDB backend's inventory and flash sales driven through the vtable (contract
 * version 2): every operation and refusal, expiry, idempotency, queueing, check
 * clean and check catching corruption, threads and processes that must not oversell. */
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../backends/lmdb/lmdb_backend.h"
#include "../../backends/lmdb/lmdb_internal.h"
#include "../../backends/lmdb/lmdb_inventory.h"
#include "support/support.h"
#include "internal.h"

#define T0 INT64_C(1700000000000)

/* ---- fixtures ---- */

typedef struct fixture {
    char dir[512];
    char uri[600];
    ecom_backend *be;
} fixture;

static void make_dir(fixture *f)
{
    test_fresh_store_dir(f->dir, sizeof f->dir, f->uri, sizeof f->uri, "lmdb_inventory");
}

static void remove_dir(const char *dir)
{
    test_remove_store_dir(dir);
}

static uint64_t map_size; /* 0: the default */

static int open_be(fixture *f)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.map_size = map_size;
    return ecom__lmdb_factory.open(&f->be, NULL, f->uri, &opts);
}

static void add_product(ecom_backend *be, const char *id, const char *sku)
{
    const char *skus[1] = {sku};
    ecom_product_write w = {{id, "", ECOM_STATUS_ACTIVE, 1, skus, "d", 1},
                            ECOM_WRITE_CREATE, 0, 0, 0, {0, 0, 0}};
    assert_int_equal(be->product_write(be, &w, 1, T0), ECOM_OK);
    assert_int_equal(w.result, ECOM_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    make_dir(f);
    if (open_be(f) != ECOM_OK)
        return -1;
    add_product(f->be, "pa", "sku-a");
    add_product(f->be, "pb", "sku-b");
    add_product(f->be, "pc", "sku-c");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->be)
        f->be->close(f->be);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static ecom_inventory_op op_of(ecom_inventory_op_kind kind, const char *id)
{
    ecom_inventory_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.id = id;
    op.location = ECOM_LOCATION_DEFAULT;
    op.claim.version = ECOM_CLAIM_RESULT_VERSION;
    return op;
}

/* Applies one op alone; returns its result. */
static int apply1(ecom_backend *be, ecom_inventory_op *op, int64_t now)
{
    assert_int_equal(be->inventory_apply(be, op, 1, now), ECOM_OK);
    return op->result;
}

static int adjust(ecom_backend *be, const char *sku, const char *loc, int kind, int64_t qty)
{
    ecom_inventory_op op = op_of(ECOM_INV_ADJUST, NULL);
    op.sku = sku;
    op.location = loc;
    op.adjust_kind = kind;
    op.quantity = qty;
    op.text = "test";
    op.reference = "po-1";
    return apply1(be, &op, T0);
}

static ecom_stock_rec stock(ecom_backend *be, const char *sku, const char *loc)
{
    ecom_stock_rec s;
    memset(&s, 0x55, sizeof s);
    assert_int_equal(be->stock_get(be, sku, loc, &s), ECOM_OK);
    return s;
}

static void assert_stock(ecom_backend *be, const char *sku, int64_t on_hand, int64_t reserved)
{
    ecom_stock_rec s = stock(be, sku, ECOM_LOCATION_DEFAULT);
    if (s.on_hand != on_hand || s.reserved != reserved)
        fail_msg("%s: on_hand %lld reserved %lld, expected %lld %lld", sku, (long long)s.on_hand,
                 (long long)s.reserved, (long long)on_hand, (long long)reserved);
}

/* A reserve op of n lines, expiring at expires_at if applied at T0 (the op carries a
 * time to live); the fingerprint is made from the quantities. */
static ecom_inventory_op reserve_op(const char *id, size_t n, const char *const *skus,
                                    const int64_t *qtys, int64_t expires_at)
{
    ecom_inventory_op op = op_of(ECOM_INV_RESERVE, id);
    op.line_count = n;
    op.line_skus = skus;
    op.line_quantities = qtys;
    op.ttl_ms = expires_at - T0;
    op.fingerprint = 7;
    for (size_t i = 0; i < n; i++)
        op.fingerprint = op.fingerprint * 31 + (uint64_t)qtys[i];
    return op;
}

static int reserve1(ecom_backend *be, const char *id, const char *sku, int64_t qty,
                    int64_t expires_at, int64_t now)
{
    const char *skus[1] = {sku};
    int64_t qtys[1] = {qty};
    ecom_inventory_op op = reserve_op(id, 1, skus, qtys, expires_at);
    op.ttl_ms = expires_at - now;
    return apply1(be, &op, now);
}

static int end_resv(ecom_backend *be, ecom_inventory_op_kind kind, const char *id, int64_t now)
{
    ecom_inventory_op op = op_of(kind, id);
    return apply1(be, &op, now);
}

typedef struct resv_seen {
    int state, lines;
    int64_t expires_at, ended_at, qty0;
    char location[80], sku0[80];
} resv_seen;

static int resv_fn(void *ctx, const ecom_reservation_rec *rec)
{
    resv_seen *r = ctx;
    r->state = rec->state;
    r->lines = (int)rec->line_count;
    r->expires_at = rec->expires_at;
    r->ended_at = rec->ended_at;
    snprintf(r->location, sizeof r->location, "%s", rec->location);
    if (rec->line_count) {
        r->qty0 = rec->line_quantities[0];
        snprintf(r->sku0, sizeof r->sku0, "%s", rec->line_skus[0]);
    }
    return 0;
}

static resv_seen resv(ecom_backend *be, const char *id)
{
    resv_seen r;
    memset(&r, 0, sizeof r);
    assert_int_equal(be->reservation_get(be, id, resv_fn, &r), ECOM_OK);
    return r;
}

typedef test_reports reports;

static reports *run_check(ecom_backend *be)
{
    return test_run_check(be, NULL);
}

static void assert_clean(ecom_backend *be)
{
    test_assert_no_reports(run_check(be));
}

typedef struct evs {
    int n;
    char text[64][96];
} evs;

static int ev_fn(void *ctx, const ecom_event_rec *e)
{
    evs *v = ctx;
    if (v->n < 64)
        snprintf(v->text[v->n], sizeof v->text[0], "%s %s", e->type, e->key);
    v->n++;
    return 0;
}

static evs events_after(ecom_backend *be, uint64_t after)
{
    evs v;
    memset(&v, 0, sizeof v);
    assert_int_equal(be->events_read(be, after, 64, ev_fn, &v), ECOM_OK);
    return v;
}

static int has_event(const evs *v, const char *text)
{
    for (int i = 0; i < v->n && i < 64; i++)
        if (strcmp(v->text[i], text) == 0)
            return 1;
    return 0;
}

static uint64_t last_seq(ecom_backend *be)
{
    uint64_t seq = 0;
    assert_int_equal(be->events_last_seq(be, &seq), ECOM_OK);
    return seq;
}

/* ---- flash helpers ---- */

static int flash_open(ecom_backend *be, const char *sale, const char *sku, int64_t units,
                      const ecom_flash_options *tmpl, int64_t now)
{
    ecom_flash_options f = ECOM_FLASH_OPTIONS_INIT;
    if (tmpl)
        f = *tmpl;
    f.sku = sku;
    f.units = units;
    if (f.starts_at == 0)
        f.starts_at = now;
    if (f.claim_ttl_ms == 0)
        f.claim_ttl_ms = 60000;
    ecom_inventory_op op = op_of(ECOM_INV_FLASH_OPEN, sale);
    op.sku = sku;
    op.flash = &f;
    return apply1(be, &op, now);
}

static ecom_inventory_op claim_op(const char *sale, const char *user, const char *key,
                                  int64_t qty)
{
    ecom_inventory_op op = op_of(ECOM_INV_FLASH_CLAIM, sale);
    op.user = user;
    op.key = key;
    op.quantity = qty;
    return op;
}

static ecom_claim_result claim(ecom_backend *be, const char *sale, const char *user,
                               const char *key, int64_t qty, int64_t now, int *existing)
{
    ecom_inventory_op op = claim_op(sale, user, key, qty);
    assert_int_equal(apply1(be, &op, now), ECOM_OK);
    if (existing)
        *existing = op.existing;
    return op.claim;
}

static int claim_end(ecom_backend *be, ecom_inventory_op_kind kind, const char *sale,
                     uint64_t ticket, int64_t now)
{
    ecom_inventory_op op = op_of(kind, sale);
    op.ticket = ticket;
    return apply1(be, &op, now);
}

static ecom_flash_status sale_status(ecom_backend *be, const char *sale)
{
    ecom_flash_status s;
    memset(&s, 0, sizeof s);
    s.version = ECOM_FLASH_STATUS_VERSION;
    assert_int_equal(be->flash_get(be, sale, &s), ECOM_OK);
    return s;
}

/* ---- locations and stock ---- */

typedef struct locs {
    int n;
    char code[8][80];
} locs;

static int loc_fn(void *ctx, const char *code, const char *name)
{
    locs *l = ctx;
    (void)name;
    if (l->n < 8)
        snprintf(l->code[l->n], sizeof l->code[0], "%s", code);
    l->n++;
    return 0;
}

static void test_lmdb_inventory__locations(void **state)
{
    fixture *f = *state;
    ecom_inventory_op op = op_of(ECOM_INV_LOCATION_ADD, "wh2");
    op.text = "Warehouse 2";
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    op = op_of(ECOM_INV_LOCATION_ADD, "a-first");
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    op = op_of(ECOM_INV_LOCATION_ADD, "wh2");
    assert_int_equal(apply1(f->be, &op, T0), ECOM_EEXISTS);
    locs l = {0};
    assert_int_equal(f->be->location_list(f->be, loc_fn, &l), ECOM_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.code[0], "a-first");
    assert_string_equal(l.code[1], "default");
    assert_string_equal(l.code[2], "wh2");
    /* a fresh row reads as zeros; unknown sku or location are errors */
    ecom_stock_rec s = stock(f->be, "sku-a", "wh2");
    assert_true(s.on_hand == 0 && s.reserved == 0 && s.safety == 0 && s.backorder == 0);
    assert_int_equal(f->be->stock_get(f->be, "nope", "wh2", &s), ECOM_ESKU);
    assert_int_equal(f->be->stock_get(f->be, "sku-a", "nowhere", &s), ECOM_ELOCATION);
    assert_clean(f->be);
}

static void test_lmdb_inventory__adjust(void **state)
{
    fixture *f = *state;
    uint64_t seq = last_seq(f->be);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_DAMAGE, -3), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_CORRECT, 2), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RETURN, 1), ECOM_OK);
    assert_stock(f->be, "sku-a", 10, 0);
    evs v = events_after(f->be, seq);
    assert_int_equal(v.n, 4);
    assert_true(has_event(&v, "stock.changed sku-a@default"));
    /* refusals */
    assert_int_equal(adjust(f->be, "nope", "default", ECOM_ADJUST_RECEIVE, 1), ECOM_ESKU);
    assert_int_equal(adjust(f->be, "sku-a", "nowhere", ECOM_ADJUST_RECEIVE, 1), ECOM_ELOCATION);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_DAMAGE, -11),
                     ECOM_EINSUFFICIENT);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, INT64_MAX),
                     ECOM_EQUANTITY);
    assert_int_equal(reserve1(f->be, "r1", "sku-a", 6, T0 + 1000, T0), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_DAMAGE, -5),
                     ECOM_EINSUFFICIENT); /* below reserved */
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_DAMAGE, -4), ECOM_OK);
    assert_stock(f->be, "sku-a", 6, 6);
    /* counted on_hand */
    ecom_inventory_op op = op_of(ECOM_INV_SET_ON_HAND, NULL);
    op.sku = "sku-a";
    op.quantity = 5;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_EINSUFFICIENT);
    op.quantity = 9;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    assert_stock(f->be, "sku-a", 9, 6);
    assert_int_equal(last_seq(f->be), seq + 4 + 2 + 1 + 1); /* adjusts, reserve, damage, set */
    assert_clean(f->be);
}

static void test_lmdb_inventory__safety_and_backorder(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    ecom_inventory_op op = op_of(ECOM_INV_SET_SAFETY, NULL);
    op.sku = "sku-a";
    op.quantity = 4;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    assert_int_equal(stock(f->be, "sku-a", "default").safety, 4);
    op.quantity = -1;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_EQUANTITY);
    /* sellable = 10 - 0 - 4 */
    assert_int_equal(reserve1(f->be, "r1", "sku-a", 7, T0 + 1000, T0), ECOM_EINSUFFICIENT);
    assert_int_equal(reserve1(f->be, "r1", "sku-a", 6, T0 + 1000, T0), ECOM_OK);
    assert_int_equal(reserve1(f->be, "r2", "sku-a", 1, T0 + 1000, T0), ECOM_EINSUFFICIENT);
    /* allow: reservations past stock, commit takes on_hand negative */
    op = op_of(ECOM_INV_SET_BACKORDER, NULL);
    op.sku = "sku-a";
    op.quantity = ECOM_BACKORDER_ALLOW;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    assert_int_equal(stock(f->be, "sku-a", "default").backorder, ECOM_BACKORDER_ALLOW);
    assert_int_equal(reserve1(f->be, "r3", "sku-a", 20, T0 + 1000, T0), ECOM_OK);
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "r3", T0), ECOM_OK);
    assert_stock(f->be, "sku-a", -10, 6);
    /* back to deny while oversold is refused */
    op.quantity = ECOM_BACKORDER_DENY;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_EINSUFFICIENT);
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 20), ECOM_OK);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    op.sku = "nope";
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ESKU);
    assert_clean(f->be);
}

/* ---- reservations ---- */

static void test_lmdb_inventory__reserve_all_or_nothing(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-b", "default", ECOM_ADJUST_RECEIVE, 2), ECOM_OK);
    const char *skus[] = {"sku-a", "sku-b"};
    int64_t qtys[] = {5, 3};
    ecom_inventory_op op = reserve_op("r1", 2, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_EINSUFFICIENT);
    assert_int_equal(op.failed_line, 1);
    assert_stock(f->be, "sku-a", 10, 0); /* no trace */
    ecom_inventory_op none = op_of(ECOM_INV_COMMIT, "r1");
    assert_int_equal(apply1(f->be, &none, T0), ECOM_ENOTFOUND);
    const char *bad[] = {"sku-a", "ghost"};
    op = reserve_op("r1", 2, bad, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ESKU);
    assert_int_equal(op.failed_line, 1);
    op = reserve_op("r1", 2, skus, qtys, T0 + 1000);
    op.location = "nowhere";
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ELOCATION);
    qtys[1] = 2;
    uint64_t seq = last_seq(f->be);
    op = reserve_op("r1", 2, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_OK);
    assert_int_equal(op.existing, 0);
    assert_stock(f->be, "sku-a", 10, 5);
    assert_stock(f->be, "sku-b", 2, 2);
    evs v = events_after(f->be, seq);
    assert_true(has_event(&v, "stock.changed sku-a@default"));
    assert_true(has_event(&v, "stock.changed sku-b@default"));
    assert_true(has_event(&v, "reservation.created r1"));
    resv_seen r = resv(f->be, "r1");
    assert_int_equal(r.state, ECOM_RESERVATION_HELD);
    assert_int_equal(r.lines, 2);
    assert_string_equal(r.location, "default");
    assert_string_equal(r.sku0, "sku-a");
    assert_int_equal(r.qty0, 5);
    assert_int_equal(r.expires_at, T0 + 1000);
    assert_int_equal(f->be->reservation_get(f->be, "ghost", resv_fn, &r), ECOM_ENOTFOUND);
    /* idempotent retry, and a conflicting one */
    op = reserve_op("r1", 2, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0 + 5), ECOM_OK);
    assert_int_equal(op.existing, 1);
    assert_stock(f->be, "sku-a", 10, 5);
    qtys[0] = 4;
    op = reserve_op("r1", 2, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ECONFLICT);
    assert_clean(f->be);
}

static void test_lmdb_inventory__end_exactly_once(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(reserve1(f->be, "c1", "sku-a", 3, T0 + 1000, T0), ECOM_OK);
    assert_int_equal(reserve1(f->be, "r1", "sku-a", 2, T0 + 1000, T0), ECOM_OK);
    uint64_t seq = last_seq(f->be);
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "c1", T0 + 1), ECOM_OK);
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "c1", T0 + 2), ECOM_EENDED);
    assert_int_equal(end_resv(f->be, ECOM_INV_RELEASE, "c1", T0 + 2), ECOM_EENDED);
    assert_int_equal(end_resv(f->be, ECOM_INV_RELEASE, "r1", T0 + 1), ECOM_OK);
    assert_int_equal(end_resv(f->be, ECOM_INV_RELEASE, "r1", T0 + 2), ECOM_EENDED);
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "r1", T0 + 2), ECOM_EENDED);
    assert_int_equal(end_resv(f->be, ECOM_INV_EXTEND, "r1", T0 + 2), ECOM_EENDED);
    assert_stock(f->be, "sku-a", 7, 0);
    evs v = events_after(f->be, seq);
    assert_int_equal(v.n, 4);
    assert_true(has_event(&v, "reservation.committed c1"));
    assert_true(has_event(&v, "reservation.released r1"));
    resv_seen r = resv(f->be, "c1");
    assert_int_equal(r.state, ECOM_RESERVATION_COMMITTED);
    assert_int_equal(r.ended_at, T0 + 1);
    /* a retry of the ended reservation's reserve is still answered */
    const char *skus[] = {"sku-a"};
    int64_t qtys[] = {3};
    ecom_inventory_op op = reserve_op("c1", 1, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f->be, &op, T0 + 3), ECOM_OK);
    assert_int_equal(op.existing, 1);
    assert_stock(f->be, "sku-a", 7, 0);
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "ghost", T0), ECOM_ENOTFOUND);
    assert_clean(f->be);
}

static void test_lmdb_inventory__expired_commit_and_extend(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(reserve1(f->be, "e1", "sku-a", 4, T0 + 100, T0), ECOM_OK);
    assert_int_equal(reserve1(f->be, "e2", "sku-a", 4, T0 + 100, T0), ECOM_OK);
    /* extend e2 before it is due */
    ecom_inventory_op op = op_of(ECOM_INV_EXTEND, "e2");
    op.ttl_ms = 4950;
    assert_int_equal(apply1(f->be, &op, T0 + 50), ECOM_OK);
    assert_int_equal(resv(f->be, "e2").expires_at, T0 + 5000);
    /* commit of e1 past its expiry: expired (the change persists), EEXPIRED */
    assert_int_equal(end_resv(f->be, ECOM_INV_COMMIT, "e1", T0 + 100), ECOM_EEXPIRED);
    assert_int_equal(resv(f->be, "e1").state, ECOM_RESERVATION_EXPIRED);
    assert_stock(f->be, "sku-a", 10, 4);
    /* and every later attempt says expired too */
    assert_int_equal(end_resv(f->be, ECOM_INV_RELEASE, "e1", T0 + 200), ECOM_EEXPIRED);
    op.id = "e1";
    assert_int_equal(apply1(f->be, &op, T0 + 200), ECOM_EEXPIRED);
    /* release past expiry expires it instead */
    assert_int_equal(end_resv(f->be, ECOM_INV_RELEASE, "e2", T0 + 5000), ECOM_EEXPIRED);
    assert_int_equal(resv(f->be, "e2").state, ECOM_RESERVATION_EXPIRED);
    assert_stock(f->be, "sku-a", 10, 0);
    assert_clean(f->be);
}

static void test_lmdb_inventory__expired_hold_blocks_nobody(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 5), ECOM_OK);
    assert_int_equal(reserve1(f->be, "h1", "sku-a", 5, T0 + 10, T0), ECOM_OK);
    assert_int_equal(reserve1(f->be, "h2", "sku-a", 1, T0 + 10000, T0 + 9), ECOM_EINSUFFICIENT);
    uint64_t seq = last_seq(f->be);
    assert_int_equal(reserve1(f->be, "h2", "sku-a", 5, T0 + 10000, T0 + 10), ECOM_OK);
    assert_int_equal(resv(f->be, "h1").state, ECOM_RESERVATION_EXPIRED);
    evs v = events_after(f->be, seq);
    assert_true(has_event(&v, "reservation.expired h1"));
    assert_true(has_event(&v, "reservation.created h2"));
    assert_stock(f->be, "sku-a", 5, 5);
    assert_clean(f->be);
}

/* More due holds than one call's bounded sweep ends: a buyer short of stock still
 * gets it, because the rest are ended before refusing. */
static void test_lmdb_inventory__backlog_of_expired(void **state)
{
    fixture *f = *state;
    enum { N = 1200 };
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, N), ECOM_OK);
    static ecom_inventory_op ops[N];
    static char ids[N][16];
    const char *skus[] = {"sku-a"};
    int64_t one[] = {1};
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "b%04d", i);
        ops[i] = reserve_op(ids[i], 1, skus, one, T0 + 10 + i % 7);
    }
    assert_int_equal(f->be->inventory_apply(f->be, ops, N, T0), ECOM_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(ops[i].result, ECOM_OK);
    assert_stock(f->be, "sku-a", N, N);
    assert_int_equal(reserve1(f->be, "big", "sku-a", N, T0 + 100000, T0 + 1000), ECOM_OK);
    assert_stock(f->be, "sku-a", N, N);
    assert_int_equal(resv(f->be, ids[N - 1]).state, ECOM_RESERVATION_EXPIRED);
    assert_clean(f->be);
}

static void test_lmdb_inventory__expire_with_limit(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "x%d", i);
        assert_int_equal(reserve1(f->be, id, "sku-a", 1, T0 + 10 + i, T0), ECOM_OK);
    }
    assert_int_equal(reserve1(f->be, "later", "sku-a", 1, T0 + 100000, T0), ECOM_OK);
    ecom_inventory_op op = op_of(ECOM_INV_EXPIRE, NULL);
    op.limit = 2;
    assert_int_equal(apply1(f->be, &op, T0 + 1000), ECOM_OK);
    assert_int_equal(op.count, 2);
    assert_int_equal(resv(f->be, "x0").state, ECOM_RESERVATION_EXPIRED);
    assert_int_equal(resv(f->be, "x1").state, ECOM_RESERVATION_EXPIRED);
    assert_int_equal(resv(f->be, "x2").state, ECOM_RESERVATION_HELD); /* oldest first */
    assert_stock(f->be, "sku-a", 10, 4);
    op.limit = 0; /* no limit */
    assert_int_equal(apply1(f->be, &op, T0 + 1000), ECOM_OK);
    assert_int_equal(op.count, 3);
    assert_int_equal(apply1(f->be, &op, T0 + 1000), ECOM_OK);
    assert_int_equal(op.count, 0);
    assert_stock(f->be, "sku-a", 10, 1);
    assert_clean(f->be);
}

/* ---- flash sales ---- */

static void test_lmdb_inventory__flash_open_close(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 11, NULL, T0), ECOM_EINSUFFICIENT);
    assert_int_equal(flash_open(f->be, "s1", "ghost", 1, NULL, T0), ECOM_ESKU);
    ecom_flash_options where = ECOM_FLASH_OPTIONS_INIT;
    ecom_inventory_op op = op_of(ECOM_INV_FLASH_OPEN, "s1");
    op.sku = "sku-a";
    op.location = "nowhere";
    where.units = 1;
    op.flash = &where;
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ELOCATION);
    uint64_t seq = last_seq(f->be);
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 8, NULL, T0), ECOM_OK);
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 1, NULL, T0), ECOM_EEXISTS);
    assert_stock(f->be, "sku-a", 10, 8);
    evs v = events_after(f->be, seq);
    assert_true(has_event(&v, "flash.opened s1"));
    assert_true(has_event(&v, "stock.changed sku-a@default"));
    ecom_flash_status s = sale_status(f->be, "s1");
    assert_string_equal(s.sku, "sku-a");
    assert_string_equal(s.location, "default");
    assert_true(s.open && s.units == 8 && s.remaining == 8 && s.held == 0 && s.claims == 0);
    ecom_claim_result c = claim(f->be, "s1", "u1", "k1", 3, T0, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    ecom_inventory_op close = op_of(ECOM_INV_FLASH_CLOSE, "s1");
    assert_int_equal(apply1(f->be, &close, T0 + 1), ECOM_OK);
    assert_int_equal(apply1(f->be, &close, T0 + 2), ECOM_EENDED);
    close.id = "ghost";
    assert_int_equal(apply1(f->be, &close, T0 + 2), ECOM_ENOTFOUND);
    assert_stock(f->be, "sku-a", 10, 3); /* the pool went back; the claim holds on */
    s = sale_status(f->be, "s1");
    assert_true(!s.open && s.remaining == 0 && s.held == 3);
    /* claims after close are ENDED; the live claim's release returns units to stock */
    c = claim(f->be, "s1", "u2", "k2", 1, T0 + 3, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ENDED);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 1, T0 + 4), ECOM_OK);
    assert_stock(f->be, "sku-a", 10, 0);
    s = sale_status(f->be, "s1");
    assert_int_equal(s.held, 0);
    ecom_flash_status none;
    assert_int_equal(f->be->flash_get(f->be, "ghost", &none), ECOM_ENOTFOUND);
    assert_clean(f->be);
}

static void test_lmdb_inventory__flash_claims(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.starts_at = T0 + 100;
    o.ends_at = T0 + 100000;
    o.per_user_limit = 3;
    o.claim_ttl_ms = 1000;
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 5, &o, T0), ECOM_OK);
    int existing;
    ecom_claim_result c = claim(f->be, "s1", "u1", "k0", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_NOT_STARTED);
    c = claim(f->be, "s1", "u1", "k0", 2, T0 + 100, &existing); /* same key, once started */
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(existing, 0);
    assert_string_equal(c.claim_id, "s1:1");
    assert_int_equal(c.quantity, 2);
    assert_int_equal(c.admit_at, T0 + 100);
    assert_int_equal(c.expires_at, T0 + 1100);
    c = claim(f->be, "s1", "u1", "k0", 2, T0 + 200, &existing); /* retry */
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:1");
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    c = claim(f->be, "s1", "u1", "k1", 2, T0 + 200, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    c = claim(f->be, "s1", "u1", "k1", 2, T0 + 200, &existing); /* judged again */
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    assert_int_equal(existing, 0);
    c = claim(f->be, "s1", "u1", "k1", 1, T0 + 200, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(c.claim_id, "s1:2");
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 2, T0 + 200), ECOM_OK);
    /* the same key from another user is another request */
    c = claim(f->be, "s1", "u9", "k0", 1, T0 + 200, &existing);
    assert_int_equal(existing, 0);
    assert_string_equal(c.claim_id, "s1:3");
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 3, T0 + 200), ECOM_OK);
    c = claim(f->be, "s1", "u2", "k2", 3, T0 + 200, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    c = claim(f->be, "s1", "u3", "k3", 1, T0 + 200, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_SOLD_OUT);
    ecom_inventory_op op = claim_op("ghost", "u1", "k", 1);
    assert_int_equal(apply1(f->be, &op, T0), ECOM_ENOTFOUND);
    ecom_flash_status s = sale_status(f->be, "s1");
    assert_true(s.remaining == 0 && s.held == 5 && s.claims == 4);
    assert_stock(f->be, "sku-a", 10, 5);
    /* release returns to the pool; commit sells; both once */
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 4, T0 + 300), ECOM_OK);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 4, T0 + 300), ECOM_EENDED);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 1, T0 + 300), ECOM_OK);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 1, T0 + 300), ECOM_EENDED);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 9, T0 + 300), ECOM_ENOTFOUND);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "zz", 1, T0 + 300), ECOM_ENOTFOUND);
    s = sale_status(f->be, "s1");
    assert_true(s.remaining == 3 && s.held == 0 && s.sold == 2);
    assert_stock(f->be, "sku-a", 8, 3);
    /* a claim that expires gives its units back to the pool, lazily */
    c = claim(f->be, "s1", "u4", "k4", 3, T0 + 400, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    ecom_claim_result g;
    assert_int_equal(f->be->claim_get(f->be, "s1", 5, T0 + 1400, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_EXPIRED);
    c = claim(f->be, "s1", "u5", "k5", 3, T0 + 1400, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 5, T0 + 1400), ECOM_EEXPIRED);
    /* a claim that expires by commit time */
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 6, T0 + 2400), ECOM_EEXPIRED);
    assert_int_equal(f->be->claim_get(f->be, "s1", 6, T0 + 2400, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_EXPIRED);
    assert_int_equal(f->be->claim_get(f->be, "s1", 1, T0, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_COMMITTED);
    assert_int_equal(f->be->claim_get(f->be, "s1", 4, T0, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_RELEASED);
    assert_int_equal(f->be->claim_get(f->be, "s1", 2, T0, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_RELEASED);
    assert_int_equal(f->be->claim_get(f->be, "s1", 99, T0, &g), ECOM_ENOTFOUND);
    /* past ends_at: ENDED, and the sale closed by itself (the txn's sweep) */
    c = claim(f->be, "s1", "u6", "k6", 1, T0 + 100000, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ENDED);
    s = sale_status(f->be, "s1");
    assert_true(!s.open && s.remaining == 0 && s.held == 0 && s.sold == 2 && s.claims == 6);
    assert_stock(f->be, "sku-a", 8, 0);
    assert_clean(f->be);
}

static void test_lmdb_inventory__flash_queue(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 100), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.admit_per_second = 10;
    o.claim_ttl_ms = 5000;
    assert_int_equal(flash_open(f->be, "q", "sku-a", 50, &o, T0), ECOM_OK);
    ecom_inventory_op ops[3] = {claim_op("q", "u1", "k1", 1), claim_op("q", "u2", "k2", 1),
                                claim_op("q", "u3", "k3", 1)};
    assert_int_equal(f->be->inventory_apply(f->be, ops, 3, T0), ECOM_OK);
    assert_int_equal(ops[0].claim.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(ops[1].claim.outcome, ECOM_CLAIM_QUEUED);
    assert_int_equal(ops[1].claim.wait_ms, 100);
    assert_int_equal(ops[1].claim.position, 1);
    assert_int_equal(ops[1].claim.admit_at, T0 + 100);
    assert_int_equal(ops[1].claim.expires_at, T0 + 5100);
    assert_int_equal(ops[2].claim.wait_ms, 200);
    assert_int_equal(ops[2].claim.position, 2);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "q", 2, T0 + 50), ECOM_EBUSY);
    ecom_claim_result g;
    assert_int_equal(f->be->claim_get(f->be, "q", 3, T0 + 50, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_QUEUED);
    assert_int_equal(g.wait_ms, 150);
    assert_int_equal(g.position, 1);
    assert_int_equal(f->be->claim_get(f->be, "q", 2, T0 + 100, &g), ECOM_OK);
    assert_int_equal(g.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "q", 2, T0 + 100), ECOM_OK);
    /* a queued claim may be released */
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "q", 3, T0 + 100), ECOM_OK);
    /* the schedule has moved on: a claim now waits behind the slots given out */
    ecom_claim_result c = claim(f->be, "q", "u4", "k4", 1, T0 + 100, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_QUEUED);
    assert_int_equal(c.wait_ms, 200);
    /* much later the queue is empty again */
    c = claim(f->be, "q", "u5", "k5", 1, T0 + 60000, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_clean(f->be);
}

typedef struct keys_seen {
    int n;
    char key[8][80];
} keys_seen;

static int key_fn(void *ctx, const char *key)
{
    keys_seen *k = ctx;
    if (k->n < 8)
        snprintf(k->key[k->n], sizeof k->key[0], "%s", key);
    k->n++;
    return 0;
}

static void test_lmdb_inventory__flash_keys(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 2, NULL, T0), ECOM_OK);
    assert_int_equal(flash_open(f->be, "s10", "sku-a", 2, NULL, T0), ECOM_OK);
    claim(f->be, "s1", "u1", "ka", 1, T0, NULL);
    claim(f->be, "s1", "u2", "kb", 1, T0, NULL);
    claim(f->be, "s1", "u3", "kc", 1, T0, NULL); /* sold out: not a claim */
    claim(f->be, "s10", "u1", "kz", 1, T0, NULL);
    keys_seen k = {0};
    assert_int_equal(f->be->flash_keys(f->be, "s1", key_fn, &k), ECOM_OK);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.key[0], "ka");
    assert_string_equal(k.key[1], "kb");
    assert_int_equal(f->be->flash_keys(f->be, "ghost", key_fn, &k), ECOM_ENOTFOUND);
    /* ids at their longest: keys of three of them still fit */
    char sale[ECOM_ID_MAX + 1], user[ECOM_ID_MAX + 1], key[ECOM_ID_MAX + 1];
    memset(sale, 's', ECOM_ID_MAX);
    memset(user, 'u', ECOM_ID_MAX);
    memset(key, 'k', ECOM_ID_MAX);
    sale[ECOM_ID_MAX] = user[ECOM_ID_MAX] = key[ECOM_ID_MAX] = '\0';
    assert_int_equal(flash_open(f->be, sale, "sku-a", 2, NULL, T0), ECOM_OK);
    ecom_claim_result c = claim(f->be, sale, user, key, 1, T0, NULL);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    int existing;
    c = claim(f->be, sale, user, key, 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, sale, 1, T0), ECOM_OK);
    assert_clean(f->be);
}

/* ---- check against corruption ---- */

static MDB_dbi open_dbi(MDB_txn *t, const char *name)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(t, name, 0, &dbi), 0);
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

static int stock_delta;

static void bump_stock(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "stock");
    MDB_val k = {sizeof "sku-a\0default", "sku-a\0default"}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char buf[24];
    memcpy(buf, v.mv_data, 24);
    buf[0] = (unsigned char)(buf[0] + stock_delta); /* on_hand, low byte */
    v = (MDB_val){24, buf};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void drop_ledger_entry(MDB_txn *txn)
{
    unsigned char seq2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    MDB_val k = {8, seq2};
    assert_int_equal(mdb_del(txn, open_dbi(txn, "ledger"), &k, NULL), 0);
}

static void break_sale(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "sales");
    MDB_val k = {sizeof "s1", "s1"}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char buf[256];
    memcpy(buf, v.mv_data, v.mv_size);
    buf[24]++; /* sold + 1 */
    v.mv_data = buf;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void drop_expiry(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "expiry");
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    assert_int_equal(mdb_cursor_del(cur, 0), 0);
    mdb_cursor_close(cur);
}

static void add_false_sale_end(MDB_txn *txn)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_expiry_key(key, 123, INV_EXPIRY_SALE, "s1", 0), key}, v = {0, NULL};
    assert_int_equal(mdb_put(txn, open_dbi(txn, "expiry"), &k, &v, 0), 0);
}


static void test_lmdb_inventory__check_finds_corruption(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(adjust(f->be, "sku-b", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    assert_int_equal(reserve1(f->be, "r1", "sku-b", 2, T0 + 1000, T0), ECOM_OK);
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 4, NULL, T0), ECOM_OK);
    claim(f->be, "s1", "u1", "k1", 1, T0, NULL);
    assert_clean(f->be);

    stock_delta = 1;
    raw_edit(f, bump_stock);
    reports *r = run_check(f->be);
    assert_int_equal(r->count, 1);
    test_expect_report(r,
                       "stock 'sku-a'@'default': on_hand 11, reserved 4 but the ledger sums to "
                       "10, 4");
    stock_delta = -8;
    raw_edit(f, bump_stock);
    r = run_check(f->be);
    test_expect_report(r, "stock 'sku-a'@'default' oversold: reserved 4, on_hand 3");
    stock_delta = 7;
    raw_edit(f, bump_stock);
    assert_clean(f->be);

    raw_edit(f, drop_ledger_entry);
    r = run_check(f->be);
    test_expect_report(r, "ledger: seq 3 where 2 was expected");
    test_expect_report(r,
                       "stock 'sku-b'@'default': on_hand 10, reserved 2 but the ledger sums to 0, "
                       "2");

    raw_edit(f, break_sale);
    r = run_check(f->be);
    test_expect_report(r, "sale 's1': units 4 != remaining 3 + held 1 + sold 1 + returned 0");
    test_expect_report(r, "sale 's1': sold 1 but its committed claims took 0");

    raw_edit(f, drop_expiry);
    r = run_check(f->be);
    test_expect_report(r, "is held but is not in the expiry index");

    /* an entry for the end of a sale that does not end then */
    raw_edit(f, add_false_sale_end);
    r = run_check(f->be);
    test_expect_report(r,
                       "expiry index names the end of sale 's1' at 123, which is not open until "
                       "then");
}

/* A sale with an end time closes by itself then: its pool goes back to stock at the
 * sweep (or any inventory write) after ends_at, while live claims hold on. A sale
 * closed before its end leaves nothing due; a store whose open sales have no entry
 * for their end gets it at a writable open. */
static void drop_sale_end(MDB_txn *txn)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_expiry_key(key, T0 + 5000, INV_EXPIRY_SALE, "s2", 0), key};
    assert_int_equal(mdb_del(txn, open_dbi(txn, "expiry"), &k, NULL), 0);
}

static void test_lmdb_inventory__flash_sale_ends_by_itself(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 20), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.ends_at = T0 + 1000;
    o.claim_ttl_ms = 5000;
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 6, &o, T0), ECOM_OK);
    o.ends_at = T0 + 5000;
    assert_int_equal(flash_open(f->be, "s2", "sku-a", 4, &o, T0), ECOM_OK);
    assert_int_equal(claim(f->be, "s1", "u1", "k1", 2, T0, NULL).outcome, ECOM_CLAIM_ADMITTED);
    assert_stock(f->be, "sku-a", 20, 10);
    assert_clean(f->be);

    /* before the end the sweeper leaves it; at the end it closes it */
    ecom_inventory_op sweep = op_of(ECOM_INV_EXPIRE, NULL);
    assert_int_equal(apply1(f->be, &sweep, T0 + 999), ECOM_OK);
    assert_int_equal(sweep.count, 0);
    uint64_t seq = last_seq(f->be);
    assert_int_equal(apply1(f->be, &sweep, T0 + 1000), ECOM_OK);
    assert_int_equal(sweep.count, 1);
    ecom_flash_status s = sale_status(f->be, "s1");
    assert_true(!s.open && s.remaining == 0 && s.held == 2 && s.sold == 0);
    assert_stock(f->be, "sku-a", 20, 6); /* s1's live claim (2) and s2's pool (4) */
    assert_true(last_seq(f->be) > seq);  /* stock.changed, flash.closed */
    assert_int_equal(claim(f->be, "s1", "u2", "k2", 1, T0 + 1000, NULL).outcome,
                     ECOM_CLAIM_ENDED);
    ecom_inventory_op close = op_of(ECOM_INV_FLASH_CLOSE, "s1");
    assert_int_equal(apply1(f->be, &close, T0 + 1001), ECOM_EENDED);
    /* the live claim ends at its own time and returns its units to stock */
    assert_int_equal(apply1(f->be, &sweep, T0 + 5000), ECOM_OK);
    assert_int_equal(sweep.count, 2); /* the claim, and s2's end */
    assert_stock(f->be, "sku-a", 20, 0);
    assert_false(sale_status(f->be, "s2").open);
    assert_clean(f->be);

    /* closed before its end: nothing is left due for it */
    o.ends_at = T0 + 9000;
    assert_int_equal(flash_open(f->be, "s3", "sku-a", 3, &o, T0 + 6000), ECOM_OK);
    close.id = "s3";
    assert_int_equal(apply1(f->be, &close, T0 + 7000), ECOM_OK);
    assert_int_equal(apply1(f->be, &sweep, T0 + 9000), ECOM_OK);
    assert_int_equal(sweep.count, 0);
    assert_clean(f->be);
}

/* check wants an open sale's end in the index; an older store gains it at open. */
static void test_lmdb_inventory__flash_sale_end_indexed_at_open(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.ends_at = T0 + 5000;
    assert_int_equal(flash_open(f->be, "s2", "sku-a", 4, &o, T0), ECOM_OK);
    raw_edit(f, drop_sale_end); /* closes, edits, reopens: the open puts it back */
    assert_clean(f->be);
    ecom_inventory_op sweep = op_of(ECOM_INV_EXPIRE, NULL);
    assert_int_equal(apply1(f->be, &sweep, T0 + 5000), ECOM_OK);
    assert_int_equal(sweep.count, 1);
    assert_false(sale_status(f->be, "s2").open);
    assert_stock(f->be, "sku-a", 10, 0);
    assert_clean(f->be);
}

/* ---- the in-memory claim index: other processes, aborted txns, reopening ---- */

static uint64_t rebuilds(ecom_backend *be)
{
    return ((ecom__lmdb *)be)->claim_rebuilds;
}

/* Runs fn in a child process with its own backend on the same store, while this
 * process keeps its own open (and its index warm). fn returns 0 when all went as
 * expected. */
static void in_child(fixture *f, int (*fn)(ecom_backend *be))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fixture child = *f;
        if (open_be(&child) != ECOM_OK)
            _exit(2);
        int rc = fn(child.be);
        child.be->close(child.be);
        _exit(rc);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int child_claim(ecom_backend *be, const char *user, const char *key, int64_t qty)
{
    ecom_inventory_op op = claim_op("s1", user, key, qty);
    return be->inventory_apply(be, &op, 1, T0) == ECOM_OK &&
           op.claim.outcome == ECOM_CLAIM_ADMITTED && !op.existing;
}

/* u1 takes the rest of its limit (tickets 2, 3), u2 claims once (ticket 4). */
static int child_claims(ecom_backend *be)
{
    return child_claim(be, "u1", "k2", 1) && child_claim(be, "u1", "k3", 1) &&
                   child_claim(be, "u2", "kx", 1)
               ? 0
               : 1;
}

static int child_releases(ecom_backend *be)
{
    ecom_inventory_op op = op_of(ECOM_INV_FLASH_RELEASE, "s1");
    op.ticket = 2;
    return be->inventory_apply(be, &op, 1, T0) == ECOM_OK && op.result == ECOM_OK ? 0 : 1;
}

static void test_lmdb_inventory__claims_of_another_process(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 50), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.per_user_limit = 3;
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 20, &o, T0), ECOM_OK);
    int existing;
    ecom_claim_result c = claim(f->be, "s1", "u1", "k1", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(rebuilds(f->be), 1); /* built at the first claim */

    in_child(f, child_claims);
    /* this process learns of them from the log: a retry, and the limit reached */
    c = claim(f->be, "s1", "u2", "kx", 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:4");
    c = claim(f->be, "s1", "u1", "k4", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    c = claim(f->be, "s1", "u1", "k3", 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:3");

    in_child(f, child_releases); /* u1 gets one unit of room back */
    c = claim(f->be, "s1", "u1", "k4", 2, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    c = claim(f->be, "s1", "u1", "k4", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(existing, 0);
    assert_string_equal(c.claim_id, "s1:5");
    assert_int_equal(rebuilds(f->be), 1); /* caught up by replay, never rebuilt */
    assert_clean(f->be);
}

static void test_lmdb_inventory__claim_index_after_abort(void **state)
{
    (void)state;
    enum { BATCH = 400 };
    fixture f = {0};
    make_dir(&f);
    map_size = 64 << 10;
    assert_int_equal(open_be(&f), ECOM_OK);
    map_size = 0;
    add_product(f.be, "pa", "sku-a");
    assert_int_equal(adjust(f.be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 1000), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.per_user_limit = 2;
    assert_int_equal(flash_open(f.be, "s1", "sku-a", 1000, &o, T0), ECOM_OK);
    claim(f.be, "s1", "ux", "k0", 1, T0, NULL);
    /* a batch too big for the map: it fails part way, the map grows, and it runs
     * again; the index must not keep what the failed run did */
    static ecom_inventory_op ops[BATCH];
    static char users[BATCH][64], keys[BATCH][64];
    for (int i = 0; i < BATCH; i++) {
        snprintf(users[i], sizeof users[i], "user-with-a-long-name-to-fill-pages-%04d", i);
        snprintf(keys[i], sizeof keys[i], "key-with-a-long-name-to-fill-pages-%04d", i);
        ops[i] = claim_op("s1", users[i], keys[i], 1);
    }
    ops[BATCH - 3] = claim_op("s1", "ux", "k0", 1); /* a retry */
    ops[BATCH - 2] = claim_op("s1", "ux", "k1", 1); /* the limit's last unit */
    ops[BATCH - 1] = claim_op("s1", "ux", "k2", 1); /* over it */
    uint64_t drops = ((ecom__lmdb *)f.be)->claim_drops;
    assert_int_equal(f.be->inventory_apply(f.be, ops, BATCH, T0), ECOM_OK);
    assert_true(((ecom__lmdb *)f.be)->claim_drops > drops);
    MDB_envinfo info;
    mdb_env_info(((ecom__lmdb *)f.be)->env, &info);
    assert_true(info.me_mapsize > (64 << 10));
    for (int i = 0; i < BATCH - 3; i++) {
        assert_int_equal(ops[i].claim.outcome, ECOM_CLAIM_ADMITTED);
        assert_int_equal(ops[i].existing, 0);
    }
    assert_int_equal(ops[BATCH - 3].existing, 1);
    assert_string_equal(ops[BATCH - 3].claim.claim_id, "s1:1");
    assert_int_equal(ops[BATCH - 2].claim.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(ops[BATCH - 1].claim.outcome, ECOM_CLAIM_LIMIT);
    /* and exact afterwards */
    int existing;
    ecom_claim_result c = claim(f.be, "s1", users[7], keys[7], 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:9");
    c = claim(f.be, "s1", "ux", "k3", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    assert_int_equal(sale_status(f.be, "s1").claims, BATCH - 1);
    assert_clean(f.be);
    f.be->close(f.be);
    remove_dir(f.dir);
}

static void test_lmdb_inventory__claim_index_after_reopen(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 50), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.per_user_limit = 2;
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 20, &o, T0), ECOM_OK);
    claim(f->be, "s1", "u1", "k1", 1, T0, NULL);
    claim(f->be, "s1", "u1", "k2", 1, T0, NULL);
    claim(f->be, "s1", "u2", "k1", 2, T0, NULL);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_RELEASE, "s1", 3, T0), ECOM_OK);
    assert_int_equal(claim_end(f->be, ECOM_INV_FLASH_COMMIT, "s1", 1, T0), ECOM_OK);
    f->be->close(f->be);
    assert_int_equal(open_be(f), ECOM_OK);
    assert_int_equal(rebuilds(f->be), 0);
    int existing;
    ecom_claim_result c = claim(f->be, "s1", "u1", "k2", 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:2");
    assert_int_equal(rebuilds(f->be), 1);
    c = claim(f->be, "s1", "u1", "k3", 1, T0, &existing); /* committed + held = 2 */
    assert_int_equal(c.outcome, ECOM_CLAIM_LIMIT);
    c = claim(f->be, "s1", "u2", "k1", 2, T0, &existing); /* released, still its key */
    assert_int_equal(existing, 1);
    assert_int_equal(c.outcome, ECOM_CLAIM_RELEASED);
    c = claim(f->be, "s1", "u2", "k2", 2, T0, &existing); /* released units are room */
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_int_equal(existing, 0);
    /* a closed sale forgets its index; a retry there still finds its claim */
    ecom_inventory_op close = op_of(ECOM_INV_FLASH_CLOSE, "s1");
    assert_int_equal(apply1(f->be, &close, T0), ECOM_OK);
    c = claim(f->be, "s1", "u1", "k2", 1, T0, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(c.claim_id, "s1:2");
    c = claim(f->be, "s1", "u3", "k1", 1, T0, &existing);
    assert_int_equal(c.outcome, ECOM_CLAIM_ENDED);
    assert_int_equal(rebuilds(f->be), 2);
    assert_clean(f->be);
}

/* ---- check against broken claims ---- */

static void claim_key_raw(unsigned char key[16], uint64_t ticket)
{
    memcpy(key, "s1", 3);
    for (int i = 0; i < 8; i++)
        key[3 + i] = (unsigned char)(ticket >> (56 - 8 * i));
}

/* Copies claim 1 as claim 3 (a second claim of its key) and as claim 4 with the
 * key's last letter changed (the same user over its limit). */
static void copy_claims(MDB_txn *txn)
{
    MDB_dbi dbi = open_dbi(txn, "claims");
    unsigned char key[16], buf[256];
    claim_key_raw(key, 1);
    MDB_val k = {11, key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    size_t len = v.mv_size;
    memcpy(buf, v.mv_data, len);
    claim_key_raw(key, 3);
    v = (MDB_val){len, buf};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    buf[len - 2] = 'z'; /* the key's last letter, before its NUL */
    claim_key_raw(key, 4);
    v = (MDB_val){len, buf};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void drop_log_entry(MDB_txn *txn)
{
    unsigned char key[16];
    claim_key_raw(key, 2);
    MDB_val k = {11, key};
    assert_int_equal(mdb_del(txn, open_dbi(txn, "claimlog"), &k, NULL), 0);
}

static void test_lmdb_inventory__check_finds_broken_claims(void **state)
{
    fixture *f = *state;
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 10), ECOM_OK);
    ecom_flash_options o = ECOM_FLASH_OPTIONS_INIT;
    o.per_user_limit = 3;
    assert_int_equal(flash_open(f->be, "s1", "sku-a", 10, &o, T0), ECOM_OK);
    claim(f->be, "s1", "u1", "k1", 2, T0, NULL);
    claim(f->be, "s1", "u2", "k1", 1, T0, NULL);
    assert_clean(f->be);

    raw_edit(f, copy_claims);
    reports *r = run_check(f->be);
    test_expect_report(r, "claim 's1':3 repeats user 'u1' key 'k1' of claim 1");
    test_expect_report(r,
                       "sale 's1' user 'u1': claims hold or bought 6 units, over the limit of 3");
    test_expect_report(r, "sale 's1': 2 claim changes but 4 claims, 0 of them ended");
    /* the index will not build over a repeated key */
    ecom_inventory_op op = claim_op("s1", "u3", "k1", 1);
    assert_int_equal(f->be->inventory_apply(f->be, &op, 1, T0), ECOM_ECORRUPT);

    raw_edit(f, drop_log_entry);
    r = run_check(f->be);
    test_expect_report(r, "sale 's1': 2 claim changes but 1 claim log entries (last 1)");
}

/* ---- threads and processes: never oversell ---- */

typedef struct hammer {
    ecom_backend *be;
    int n, per, got, failures;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < h->per; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", h->n, i);
        const char *skus[] = {"sku-a"};
        int64_t qty[] = {1 + i % 3};
        ecom_inventory_op op = reserve_op(id, 1, skus, qty, T0 + 100000);
        op.ttl_ms = 100000 - i;
        if (h->be->inventory_apply(h->be, &op, 1, T0 + i) != ECOM_OK)
            h->failures++;
        else if (op.result == ECOM_OK)
            h->got += (int)qty[0];
        else if (op.result != ECOM_EINSUFFICIENT)
            h->failures++;
        if (op.result == ECOM_OK && i % 4 == 0 &&
            end_resv(h->be, i % 8 ? ECOM_INV_RELEASE : ECOM_INV_COMMIT, id, T0 + i) != ECOM_OK)
            h->failures++;
        else if (op.result == ECOM_OK && i % 4 == 0)
            h->got -= (int)qty[0];
    }
    return NULL;
}

static void test_lmdb_inventory__threads_never_oversell(void **state)
{
    fixture *f = *state;
    enum { T = 4, PER = 150, STOCK = 300 };
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, STOCK), ECOM_OK);
    pthread_t th[T];
    hammer h[T];
    for (int i = 0; i < T; i++) {
        h[i] = (hammer){f->be, i, PER, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
    }
    int held = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(h[i].failures, 0);
        held += h[i].got;
    }
    ecom_stock_rec s = stock(f->be, "sku-a", "default");
    assert_true(s.reserved <= s.on_hand);
    assert_int_equal(s.reserved, held);
    assert_true(s.on_hand - s.reserved < 3); /* demand outran stock: nearly all taken */
    assert_clean(f->be);
}

static void test_lmdb_inventory__processes_never_oversell(void **state)
{
    fixture *f = *state;
    enum { P = 2, PER = 120, STOCK = 200 };
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, STOCK), ECOM_OK);
    f->be->close(f->be);
    f->be = NULL;
    pid_t pids[P];
    for (int p = 0; p < P; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            fixture child = *f;
            if (open_be(&child) != ECOM_OK)
                _exit(2);
            hammer h = {child.be, 10 + p, PER, 0, 0};
            hammer_main(&h);
            child.be->close(child.be);
            _exit(h.failures ? 1 : 0);
        }
    }
    for (int p = 0; p < P; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(open_be(f), ECOM_OK);
    ecom_stock_rec s = stock(f->be, "sku-a", "default");
    assert_true(s.reserved >= 0 && s.reserved <= s.on_hand);
    assert_clean(f->be);
}

/* ---- big values, and a map that must grow mid-batch ---- */

static void test_lmdb_inventory__large_reservation_and_growth(void **state)
{
    (void)state;
    enum { LINES = 256, BATCH = 400 };
    fixture f = {0};
    make_dir(&f);
    map_size = 64 << 10;
    assert_int_equal(open_be(&f), ECOM_OK);
    map_size = 0;
    static char names[LINES][64];
    static const char *skus[LINES];
    static int64_t qtys[LINES];
    for (int i = 0; i < LINES; i++) {
        snprintf(names[i], sizeof names[i], "sku-with-a-rather-long-code-to-fill-the-value-%04d", i);
        skus[i] = names[i];
        qtys[i] = 1 + i % 5;
    }
    ecom_product_write w = {{"big", "", ECOM_STATUS_ACTIVE, LINES, skus, "d", 1},
                            ECOM_WRITE_CREATE, 0, 0, 0, {0, 0, 0}};
    assert_int_equal(f.be->product_write(f.be, &w, 1, T0), ECOM_OK);
    for (int i = 0; i < LINES; i++)
        assert_int_equal(adjust(f.be, names[i], "default", ECOM_ADJUST_RECEIVE, 1000), ECOM_OK);
    ecom_inventory_op op = reserve_op("big-r", LINES, skus, qtys, T0 + 1000);
    assert_int_equal(apply1(f.be, &op, T0), ECOM_OK);
    resv_seen r = resv(f.be, "big-r");
    assert_int_equal(r.lines, LINES);
    assert_int_equal(end_resv(f.be, ECOM_INV_COMMIT, "big-r", T0 + 1), ECOM_OK);
    assert_int_equal(stock(f.be, names[3], "default").on_hand, 1000 - 4);
    /* many holds in one txn on a small map: it grows and the batch reruns whole */
    static ecom_inventory_op ops[BATCH];
    static char ids[BATCH][16];
    for (int i = 0; i < BATCH; i++) {
        snprintf(ids[i], sizeof ids[i], "g%04d", i);
        ops[i] = reserve_op(ids[i], 4, skus + i % 200, qtys, T0 + 5000);
        ops[i].ttl_ms -= 2;
    }
    assert_int_equal(f.be->inventory_apply(f.be, ops, BATCH, T0 + 2), ECOM_OK);
    for (int i = 0; i < BATCH; i++)
        assert_int_equal(ops[i].result, ECOM_OK);
    assert_clean(f.be);
    f.be->close(f.be);
    remove_dir(f.dir);
}

/* ---- the hot path ---- */

static double ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void test_lmdb_inventory__claim_batch(void **state)
{
    fixture *f = *state;
    enum { N = 1000, ROUNDS = 5 };
    assert_int_equal(adjust(f->be, "sku-a", "default", ECOM_ADJUST_RECEIVE, 100000), ECOM_OK);
    assert_int_equal(flash_open(f->be, "hot", "sku-a", 100000, NULL, T0), ECOM_OK);
    static ecom_inventory_op ops[N];
    static char users[N][16], keys[N][16];
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            snprintf(users[i], sizeof users[i], "u%d-%d", r, i);
            snprintf(keys[i], sizeof keys[i], "k%d-%d", r, i);
            ops[i] = claim_op("hot", users[i], keys[i], 1);
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        assert_int_equal(f->be->inventory_apply(f->be, ops, N, T0 + r), ECOM_OK);
        double ms = ms_since(&t);
        best = ms < best ? ms : best;
        for (int i = 0; i < N; i++)
            assert_int_equal(ops[i].claim.outcome, ECOM_CLAIM_ADMITTED);
    }
    printf("claim batch: %d claims in %.2f ms (best of %d, no_sync)\n", N, best, ROUNDS);
    ecom_flash_status s = sale_status(f->be, "hot");
    assert_int_equal(s.claims, N * ROUNDS);
    assert_clean(f->be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(test_lmdb_inventory__##name, setup, teardown)
        T(locations),
        T(adjust),
        T(safety_and_backorder),
        T(reserve_all_or_nothing),
        T(end_exactly_once),
        T(expired_commit_and_extend),
        T(expired_hold_blocks_nobody),
        T(backlog_of_expired),
        T(expire_with_limit),
        T(flash_open_close),
        T(flash_claims),
        T(flash_sale_ends_by_itself),
        T(flash_sale_end_indexed_at_open),
        T(flash_queue),
        T(flash_keys),
        T(check_finds_corruption),
        T(threads_never_oversell),
        T(processes_never_oversell),
        T(claim_batch),
        T(claims_of_another_process),
        T(claim_index_after_reopen),
        T(check_finds_broken_claims),
        cmocka_unit_test(test_lmdb_inventory__large_reservation_and_growth),
        cmocka_unit_test(test_lmdb_inventory__claim_index_after_abort),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
