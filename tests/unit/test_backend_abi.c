/*
 * A backend built against an older contract reads the op arrays the core hands it at
 * its own sizeof: ecom_inventory_op before its claim result grew a user, ecom_cart_op
 * before TAKE's lines (both at version 5), including the inventory array an order op
 * carries. A wrapper presenting LMDB as version 4, without write_batch so that each
 * kind comes as one array, reads every op at the older spacing and counts the ones
 * that are not where they should be; then passes the batch on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ecom.h"
#include "ecom_backend.h"
#include "support/support.h"


static int (*lmdb_inventory_apply)(ecom_backend *, ecom_inventory_op *, size_t, int64_t);
static int (*lmdb_cart_apply)(ecom_backend *, ecom_cart_op *, size_t, int64_t);
static int (*lmdb_order_apply)(ecom_backend *, ecom_order_op *, size_t, int64_t);
static atomic_int misread, arrays; /* ops not where a version-4 backend looks; n > 1 calls */

/* An op read where it should be: a known kind naming what it acts on (a misplaced read
 * lands in the middle of another op, or past the last). */
static bool inventory_op_sound(const ecom_inventory_op *op)
{
    return op->kind <= ECOM_INV_SET_PURCHASE_LIMIT && (op->id != NULL || op->sku != NULL);
}

static int v4_inventory_apply(ecom_backend *be, ecom_inventory_op *ops, size_t n, int64_t now)
{
    if (n > 1)
        atomic_fetch_add(&arrays, 1);
    for (size_t i = 0; i < n; i++) {
        const ecom_inventory_op *op = (const void *)((const char *)ops + TEST_OLD_INVENTORY_OP * i);
        if (!inventory_op_sound(op))
            atomic_fetch_add(&misread, 1);
    }
    return test_old_inventory_apply(be, lmdb_inventory_apply, ops, n, now);
}

static int v4_cart_apply(ecom_backend *be, ecom_cart_op *ops, size_t n, int64_t now)
{
    if (n > 1)
        atomic_fetch_add(&arrays, 1);
    for (size_t i = 0; i < n; i++) {
        const ecom_cart_op *op = (const void *)((const char *)ops + TEST_OLD_CART_OP * i);
        if (op->kind > ECOM_CART_PURGE || op->cart == NULL)
            atomic_fetch_add(&misread, 1);
    }
    return test_old_cart_apply(be, lmdb_cart_apply, ops, n, now);
}

static int v4_order_apply(ecom_backend *be, ecom_order_op *ops, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ops[i].inventory_count; k++) {
            const ecom_inventory_op *op =
                (const void *)((const char *)ops[i].inventory + TEST_OLD_INVENTORY_OP * k);
            if (!inventory_op_sound(op))
                atomic_fetch_add(&misread, 1);
            else if (ops[i].inventory_count > 1)
                atomic_fetch_add(&arrays, 1);
        }
    }
    return test_old_order_apply(be, lmdb_order_apply, ops, n, now);
}

static int v4_open(ecom_backend **out, ecom_store *store, const char *uri,
                   const ecom_options *opts)
{
    int rc = ecom_backend_lookup("lmdb")->open(out, store, uri + 3, opts);
    if (rc == ECOM_OK) {
        (*out)->version = 4;
        (*out)->write_batch = NULL;
        lmdb_inventory_apply = (*out)->inventory_apply;
        (*out)->inventory_apply = v4_inventory_apply;
        lmdb_cart_apply = (*out)->cart_apply;
        (*out)->cart_apply = v4_cart_apply;
        lmdb_order_apply = (*out)->order_apply;
        (*out)->order_apply = v4_order_apply;
    }
    return rc;
}

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static int setup(void **state)
{
    static fixture f;
    static const ecom_backend_factory v4 = {ECOM_BACKEND_VERSION, "v4", v4_open};
    ecom_backend_register(&v4);
    char uri[600], v4_uri[620];
    test_fresh_store_dir(f.dir, sizeof f.dir, uri, sizeof uri, "backend_abi");
    snprintf(v4_uri, sizeof v4_uri, "v4:%s", uri);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    f.s = NULL;
    assert_int_equal(ecom_store_open(&f.s, v4_uri, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"mug\",\"prices\":{\"USD\":100}},"
                       "{\"sku\":\"cup\",\"prices\":{\"USD\":50}}]}";
    test_create_product(f.s, json);
    test_receive(f.s, "mug", 1000);
    test_receive(f.s, "cup", 1000);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

static atomic_int claims_done;

static void claim_done(ecom_claim_request *r)
{
    (void)r;
    atomic_fetch_add(&claims_done, 1);
}

static void test_backend_abi__inventory_ops_at_the_older_size(void **state)
{
    fixture *f = *state;
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "mug";
    fo.units = 500;
    assert_int_equal(ecom_flash_open(f->s, "fs", &fo), ECOM_OK);
    atomic_store(&misread, 0);
    atomic_store(&arrays, 0);
    enum { N = 200 };
    static ecom_claim_request reqs[N];
    static char users[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(users[i], sizeof users[i], "u%d", i);
        reqs[i] = (ecom_claim_request){.version = ECOM_CLAIM_REQUEST_VERSION, .sale = "fs",
                                       .user = users[i], .key = users[i], .quantity = 1,
                                       .done = claim_done};
        assert_int_equal(ecom_flash_claim_submit(f->s, &reqs[i]), ECOM_OK);
    }
    for (int waited = 0; atomic_load(&claims_done) < N && waited < 20000; waited++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(atomic_load(&claims_done), N);
    int admitted = 0;
    for (int i = 0; i < N; i++)
        admitted += reqs[i].status == ECOM_OK && reqs[i].result.outcome == ECOM_CLAIM_ADMITTED;
    assert_int_equal(admitted, N);
    assert_true(atomic_load(&arrays) > 0); /* the committer did hand arrays */
    assert_int_equal(atomic_load(&misread), 0);
}

static void *add_lines(void *arg)
{
    ecom_store *s = arg;
    char cart[32];
    static atomic_int next;
    for (int i = 0; i < 20; i++) {
        snprintf(cart, sizeof cart, "user:c%d", atomic_fetch_add(&next, 1));
        if (ecom_cart_add(s, cart, "mug", 1, "USD") != ECOM_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_backend_abi__cart_ops_at_the_older_size(void **state)
{
    fixture *f = *state;
    atomic_store(&misread, 0);
    atomic_store(&arrays, 0);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_lines, f->s), 0);
    for (int i = 0; i < 8; i++) {
        void *failed = NULL;
        assert_int_equal(pthread_join(t[i], &failed), 0);
        assert_null(failed);
    }
    assert_int_equal(atomic_load(&misread), 0);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

static int64_t on_hand(ecom_store *s, const char *sku)
{
    ecom_stock *st = NULL;
    assert_int_equal(ecom_stock_get(&st, s, sku, NULL), ECOM_OK);
    int64_t n = ecom_stock_on_hand(st);
    ecom_stock_free(st);
    return n;
}

/* A paid two-line order's cancel returns both lines' units in one order write: its
 * inventory array of two. */
static void test_backend_abi__an_order_ops_inventory_at_the_older_size(void **state)
{
    fixture *f = *state;
    atomic_store(&misread, 0);
    atomic_store(&arrays, 0);
    assert_int_equal(ecom_cart_add(f->s, "user:ann", "mug", 2, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(f->s, "user:ann", "cup", 3, "USD"), ECOM_OK);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    assert_int_equal(ecom_checkout(&o, f->s, &r, "k1"), ECOM_OK);
    char id[80];
    snprintf(id, sizeof id, "%s", ecom_order_id(o));
    ecom_order_free(o);
    assert_int_equal(on_hand(f->s, "mug"), 998);
    assert_int_equal(ecom_order_cancel(f->s, id, ECOM_VERSION_ANY, "cs", NULL), ECOM_OK);
    assert_int_equal(on_hand(f->s, "mug"), 1000);
    assert_int_equal(on_hand(f->s, "cup"), 1000);
    assert_true(atomic_load(&arrays) >= 2); /* the two returns, read at the older size */
    assert_int_equal(atomic_load(&misread), 0);
    uint64_t violations = 99;
    assert_int_equal(ecom_check(&violations, f->s, NULL, NULL), ECOM_OK);
    assert_int_equal(violations, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_backend_abi__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(inventory_ops_at_the_older_size),
        T(cart_ops_at_the_older_size),
        T(an_order_ops_inventory_at_the_older_size),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
