/* What the unit tests share: a counting, failing allocator and throwaway directories. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Atomic long test_alloc_live, test_alloc_countdown, test_alloc_calls;

/* True for the one allocation the countdown picked. */
static int doomed(void)
{
    atomic_fetch_add(&test_alloc_calls, 1);
    long left = atomic_load(&test_alloc_countdown);
    return left > 0 && atomic_fetch_sub(&test_alloc_countdown, 1) == 1;
}

static void *oom_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (doomed())
        return NULL;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&test_alloc_live, 1);
    return p;
}

static void *oom_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (doomed())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && ptr == NULL)
        atomic_fetch_add(&test_alloc_live, 1);
    return p;
}

static void oom_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr)
        atomic_fetch_sub(&test_alloc_live, 1);
    free(ptr);
}

int test_oom_setup(void **state)
{
    static const ecom_allocator a = {ECOM_ALLOCATOR_VERSION, oom_malloc, oom_realloc, oom_free,
                                     NULL};
    (void)state;
    atomic_store(&test_alloc_live, 0);
    atomic_store(&test_alloc_countdown, 0);
    atomic_store(&test_alloc_calls, 0);
    return ecom_set_allocator(&a);
}

int test_oom_teardown(void **state)
{
    (void)state;
    return ecom_set_allocator(NULL);
}

void test_mkdir_p(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(buf, 0755);
        *s = '/';
    }
    mkdir(buf, 0755);
}

void test_fresh_store_dir(char *dir, size_t dir_size, char *uri, size_t uri_size,
                          const char *prefix)
{
    const char *base = getenv("ECOM_TEST_TMP");
    base = base && *base ? base : "/tmp";
    test_mkdir_p(base);
    snprintf(dir, dir_size, "%s/%s_XXXXXX", base, prefix);
    assert_non_null(mkdtemp(dir));
    /* An absolute path after "lmdb://"; a relative ECOM_TEST_TMP after "lmdb:". */
    snprintf(uri, uri_size, dir[0] == '/' ? "lmdb://%s" : "lmdb:%s", dir);
}

void test_remove_store_dir(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- older backends' op sizes ---- */

/* n ops spaced old_size apart, copied into zeroed ones of full size (NULL: no memory). */
static void *widen(const void *ops, size_t n, size_t old_size, size_t full_size)
{
    char *wide = calloc(n ? n : 1, full_size);
    for (size_t i = 0; wide && i < n; i++)
        memcpy(wide + full_size * i, (const char *)ops + old_size * i, old_size);
    return wide;
}

static void narrow(void *ops, const void *wide, size_t n, size_t old_size, size_t full_size)
{
    for (size_t i = 0; i < n; i++)
        memcpy((char *)ops + old_size * i, (const char *)wide + full_size * i, old_size);
}

int test_old_inventory_apply(ecom_backend *inner,
                             int (*apply)(ecom_backend *, ecom_inventory_op *, size_t, int64_t),
                             ecom_inventory_op *ops, size_t n, int64_t now)
{
    ecom_inventory_op *wide = widen(ops, n, TEST_OLD_INVENTORY_OP, sizeof *wide);
    if (wide == NULL)
        return ECOM_ENOMEM;
    int rc = apply(inner, wide, n, now);
    narrow(ops, wide, n, TEST_OLD_INVENTORY_OP, sizeof *wide);
    free(wide);
    return rc;
}

int test_old_cart_apply(ecom_backend *inner,
                        int (*apply)(ecom_backend *, ecom_cart_op *, size_t, int64_t),
                        ecom_cart_op *ops, size_t n, int64_t now)
{
    ecom_cart_op *wide = widen(ops, n, TEST_OLD_CART_OP, sizeof *wide);
    if (wide == NULL)
        return ECOM_ENOMEM;
    int rc = apply(inner, wide, n, now);
    narrow(ops, wide, n, TEST_OLD_CART_OP, sizeof *wide);
    free(wide);
    return rc;
}

/* An order op's inventory array (at the older size) widened in place of its own;
 * undone by order_inventory_narrow. */
static int order_inventory_widen(ecom_order_op *op, ecom_inventory_op **saved)
{
    *saved = op->inventory;
    if (op->inventory_count == 0 || op->inventory == NULL)
        return ECOM_OK;
    ecom_inventory_op *wide = widen(op->inventory, op->inventory_count, TEST_OLD_INVENTORY_OP,
                                    sizeof *wide);
    if (wide == NULL)
        return ECOM_ENOMEM;
    op->inventory = wide;
    return ECOM_OK;
}

static void order_inventory_narrow(ecom_order_op *op, ecom_inventory_op *saved)
{
    if (op->inventory == saved)
        return;
    narrow(saved, op->inventory, op->inventory_count, TEST_OLD_INVENTORY_OP,
           sizeof *op->inventory);
    free(op->inventory);
    op->inventory = saved;
}

int test_old_order_apply(ecom_backend *inner,
                         int (*apply)(ecom_backend *, ecom_order_op *, size_t, int64_t),
                         ecom_order_op *ops, size_t n, int64_t now)
{
    ecom_inventory_op **saved = calloc(n + 1, sizeof *saved);
    if (saved == NULL)
        return ECOM_ENOMEM;
    size_t widened = 0;
    int rc = ECOM_OK;
    while (rc == ECOM_OK && widened < n)
        if ((rc = order_inventory_widen(&ops[widened], &saved[widened])) == ECOM_OK)
            widened++;
    if (rc == ECOM_OK)
        rc = apply(inner, ops, n, now);
    for (size_t i = 0; i < widened; i++)
        order_inventory_narrow(&ops[i], saved[i]);
    free(saved);
    return rc;
}

/* Each inventory and cart item's op widened into one array per kind, in item order
 * (so a run of one kind stays one array, as the inner backend may take it). */
int test_old_write_batch(ecom_backend *inner, ecom_write_item *items, size_t n, int64_t now)
{
    size_t count[2] = {0, 0}, at[2] = {0, 0};
    const size_t old_size[2] = {TEST_OLD_INVENTORY_OP, TEST_OLD_CART_OP};
    const size_t full_size[2] = {sizeof(ecom_inventory_op), sizeof(ecom_cart_op)};
    for (size_t i = 0; i < n; i++) {
        int k = items[i].kind & ~ECOM_WRITE_DEPENDENT;
        if (k == ECOM_WRITE_INVENTORY || k == ECOM_WRITE_CART)
            count[k]++;
    }
    char *wide[2] = {calloc(count[0] + 1, full_size[0]), calloc(count[1] + 1, full_size[1])};
    ecom_write_item *copy = calloc(n + 1, sizeof *copy);
    ecom_inventory_op **saved = calloc(n + 1, sizeof *saved); /* ORDER items' arrays */
    size_t widened = 0;
    int rc = saved ? ECOM_OK : ECOM_ENOMEM;
    while (rc == ECOM_OK && widened < n) {
        if ((items[widened].kind & ~ECOM_WRITE_DEPENDENT) == ECOM_WRITE_ORDER)
            rc = order_inventory_widen(items[widened].op, &saved[widened]);
        widened += rc == ECOM_OK;
    }
    if (rc == ECOM_OK && !(wide[0] && wide[1] && copy))
        rc = ECOM_ENOMEM;
    if (rc == ECOM_OK) {
        for (size_t i = 0; i < n; i++) {
            int k = items[i].kind & ~ECOM_WRITE_DEPENDENT;
            copy[i] = items[i];
            if (k == ECOM_WRITE_INVENTORY || k == ECOM_WRITE_CART) {
                copy[i].op = wide[k] + full_size[k] * at[k]++;
                memcpy(copy[i].op, items[i].op, old_size[k]);
            }
        }
        rc = inner->write_batch(inner, copy, n, now);
        for (size_t i = 0; i < n; i++) {
            int k = items[i].kind & ~ECOM_WRITE_DEPENDENT;
            if (k == ECOM_WRITE_INVENTORY || k == ECOM_WRITE_CART)
                memcpy(items[i].op, copy[i].op, old_size[k]);
        }
    }
    for (size_t i = 0; i < widened; i++)
        if ((items[i].kind & ~ECOM_WRITE_DEPENDENT) == ECOM_WRITE_ORDER)
            order_inventory_narrow(items[i].op, saved[i]);
    free(saved);
    free(wide[0]);
    free(wide[1]);
    free(copy);
    return rc;
}

void test_must(ecom_store *s, int rc, const char *what)
{
    if (rc != ECOM_OK)
        fail_msg("%s: %s (%s)", what, ecom_strerror(rc), ecom_errmsg(s));
}

static void print_violation(void *ctx, const char *message)
{
    (void)ctx;
    print_message("violation: %s\n", message);
}

void test_assert_clean(ecom_store *s)
{
    uint64_t n = UINT64_MAX;
    assert_int_equal(ecom_check(&n, s, print_violation, NULL), ECOM_OK);
    assert_int_equal(n, 0);
}

int64_t test_cart_quantity(ecom_store *s, const char *cart, const char *sku)
{
    ecom_cart *c = NULL;
    assert_int_equal(ecom_cart_get(&c, s, cart), ECOM_OK);
    int64_t q = 0;
    for (size_t i = 0; i < ecom_cart_line_count(c); i++)
        if (strcmp(ecom_cart_line_sku(c, i), sku) == 0)
            q = ecom_cart_line_quantity(c, i);
    ecom_cart_free(c);
    return q;
}

size_t test_cart_lines(ecom_store *s, const char *cart)
{
    ecom_cart *c = NULL;
    assert_int_equal(ecom_cart_get(&c, s, cart), ECOM_OK);
    size_t n = ecom_cart_line_count(c);
    ecom_cart_free(c);
    return n;
}

size_t test_payments_of(ecom_store *s, const char *order_id, const char *kind)
{
    ecom_payments *p = NULL;
    assert_int_equal(ecom_payments_list(&p, s, order_id), ECOM_OK);
    size_t n = 0;
    for (size_t i = 0; i < ecom_payments_count(p); i++)
        n += strcmp(ecom_payments_kind(p, i), kind) == 0 && ecom_payments_approved(p, i);
    ecom_payments_free(p);
    return n;
}

ecom_order *test_order_of(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    return o;
}

int test_step_refund(ecom_store *s, const char *id)
{
    return ecom_order_refund(s, id, ECOM_VERSION_ANY, 1, "r1", "cs", NULL);
}

int test_step_cancel(ecom_store *s, const char *id)
{
    return ecom_order_cancel(s, id, ECOM_VERSION_ANY, "cs", "asked");
}

int test_step_notify(ecom_store *s, const char *id)
{
    return ecom_payment_notify(s, id, 1, "ch", NULL);
}

int test_step_recover(ecom_store *s, const char *id)
{
    (void)id;
    uint64_t recovered = 0;
    int rc = ecom_checkout_recover(&recovered, s, 0);
    return rc == ECOM_OK && recovered != 1 ? ECOM_EBUSY : rc;
}

void test_refunded_once(ecom_store *s, const char *id)
{
    ecom_order *o = test_order_of(s, id);
    assert_int_equal(ecom_order_refunded(o), 1);
    ecom_order_free(o);
    assert_int_equal(test_payments_of(s, id, "refund"), 1);
}

void test_cancelled_with(ecom_store *s, const char *id, const char *kind)
{
    ecom_order *o = test_order_of(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_CANCELLED);
    if (strcmp(kind, "refund") == 0)
        assert_int_equal(ecom_order_refunded(o), ecom_order_total(o));
    ecom_order_free(o);
    assert_int_equal(test_payments_of(s, id, kind), 1);
    assert_int_equal(test_payments_of(s, id, strcmp(kind, "void") == 0 ? "refund" : "void"), 0);
}

void test_paid_once(ecom_store *s, const char *id)
{
    ecom_order *o = test_order_of(s, id);
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    assert_int_equal(test_payments_of(s, id, "charge"), 1);
}

test_reports *test_reports_of(ecom_check_sink *sink)
{
    return (test_reports *)((char *)sink - offsetof(test_reports, sink));
}

void test_report(ecom_check_sink *sink, const char *message)
{
    test_reports *r = test_reports_of(sink);
    r->count++;
    size_t used = strlen(r->all);
    snprintf(r->all + used, sizeof r->all - used, "%s\n", message);
}

test_reports *test_run_check(ecom_backend *be, test_order_hook order)
{
    static test_reports r;
    memset(&r, 0, sizeof r);
    r.sink.report = test_report;
    r.sink.order = order;
    assert_int_equal(be->check(be, &r.sink), ECOM_OK);
    return &r;
}

void test_assert_no_reports(const test_reports *r)
{
    if (r->count)
        fail_msg("check found %d violations:\n%s", r->count, r->all);
}

void test_expect_report(const test_reports *r, const char *text)
{
    if (strstr(r->all, text) == NULL)
        fail_msg("check did not report \"%s\"; it said:\n%s", text, r->all);
}

void test_create_product(ecom_store *s, const char *json)
{
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_from_json(&p, json, strlen(json), NULL, 0), ECOM_OK);
    assert_int_equal(ecom_catalog_create(s, p), ECOM_OK);
    ecom_product_free(p);
}

void test_receive(ecom_store *s, const char *sku, int64_t units)
{
    assert_int_equal(ecom_stock_adjust(s, sku, NULL, ECOM_ADJUST_RECEIVE, units, "in", ""),
                     ECOM_OK);
}
