/* What the unit tests share: a counting, failing allocator and throwaway directories. */
#ifndef ECOM_TEST_SUPPORT_H
#define ECOM_TEST_SUPPORT_H

#include <stdatomic.h>
#include <stddef.h>

#include "ecom.h"
#include "ecom_backend.h"

/*
 * An allocator that counts live blocks and calls, and fails exactly one chosen
 * allocation: set test_alloc_countdown to n and the nth allocation from then on
 * returns NULL (0 disarms). test_oom_setup installs it, test_oom_teardown removes it.
 */
extern _Atomic long test_alloc_live, test_alloc_countdown, test_alloc_calls;
int test_oom_setup(void **state);
int test_oom_teardown(void **state);

/* Makes path and its parents (mode 0755); existing ones are fine. */
void test_mkdir_p(const char *path);

/* A new, empty directory "<$ECOM_TEST_TMP or /tmp>/<prefix>_XXXXXX" in dir, and its
 * LMDB store URI in uri. */
void test_fresh_store_dir(char *dir, size_t dir_size, char *uri, size_t uri_size,
                          const char *prefix);

/* Removes an LMDB store directory made by test_fresh_store_dir. */
void test_remove_store_dir(const char *dir);

/* How many approved records of kind ("charge", "capture", "void", "refund") the
 * built-in test provider holds for the order (asserts the listing works). */
size_t test_payments_of(ecom_store *s, const char *order_id, const char *kind);

/* Fails the test unless rc is ECOM_OK, naming what failed and the store's message. */
void test_must(ecom_store *s, int rc, const char *what);

/* Runs ecom_check on the store: it must succeed and find nothing (each violation is
 * printed first). */
void test_assert_clean(ecom_store *s);

/* The units of sku in cart (0: no line), and the cart's lines; assert the read works. */
int64_t test_cart_quantity(ecom_store *s, const char *cart, const char *sku);
size_t test_cart_lines(ecom_store *s, const char *cart);

/* Creates the product the JSON describes; receives units of sku at the default
 * location. Both assert success. */
void test_create_product(ecom_store *s, const char *json);
void test_receive(ecom_store *s, const char *sku, int64_t units);

/* A backend's check run straight into a collector: every violation counted and kept. */
typedef struct test_reports {
    int count, orders; /* violations; orders seen (for an order hook that counts them) */
    char all[16384];   /* the messages, one a line */
    ecom_check_sink sink;
} test_reports;
typedef void (*test_order_hook)(ecom_check_sink *sink, const struct ecom_order_rec *rec,
                                uint64_t version);
/* Runs be->check with order as the sink's order hook (may be NULL); one static
 * collector, reset each run. */
test_reports *test_run_check(ecom_backend *be, test_order_hook order);
test_reports *test_reports_of(ecom_check_sink *sink);
void test_report(ecom_check_sink *sink, const char *message);
void test_assert_no_reports(const test_reports *r);
void test_expect_report(const test_reports *r, const char *text);

/*
 * An order's steps and what must hold after them, for harnesses that fail a step
 * (an allocation, a backend call) and retry it: each step returns its code; each
 * check asserts. The refund is of 1 minor unit under the key "r1".
 */
ecom_order *test_order_of(ecom_store *s, const char *id);
int test_step_refund(ecom_store *s, const char *id);
int test_step_cancel(ecom_store *s, const char *id);
int test_step_notify(ecom_store *s, const char *id);
/* The recovery sweep; ECOM_EBUSY if it left the order pending (a failure stopped it:
 * the sweep goes on to the next order and answers ECOM_OK), for the harness to retry. */
int test_step_recover(ecom_store *s, const char *id);
void test_refunded_once(ecom_store *s, const char *id);
/* Cancelled with one approved `kind` ("void" or "refund": then refunded in full). */
void test_cancelled_with(ecom_store *s, const char *id, const char *kind);
void test_paid_once(ecom_store *s, const char *id);

/*
 * For wrappers presenting a current backend as one of contract version 4 or older:
 * the core hands such a backend inventory and cart ops at their older, shorter size
 * (what it was built with). These widen the ops for the inner, current backend's
 * call, and narrow the results back, as the older backend would have written them.
 */
#define TEST_OLD_INVENTORY_OP \
    (offsetof(ecom_inventory_op, claim) + offsetof(ecom_claim_result, user))
#define TEST_OLD_CART_OP offsetof(ecom_cart_op, skus)
int test_old_inventory_apply(ecom_backend *inner,
                             int (*apply)(ecom_backend *, ecom_inventory_op *, size_t, int64_t),
                             ecom_inventory_op *ops, size_t n, int64_t now);
int test_old_cart_apply(ecom_backend *inner,
                        int (*apply)(ecom_backend *, ecom_cart_op *, size_t, int64_t),
                        ecom_cart_op *ops, size_t n, int64_t now);
int test_old_order_apply(ecom_backend *inner,
                         int (*apply)(ecom_backend *, ecom_order_op *, size_t, int64_t),
                         ecom_order_op *ops, size_t n, int64_t now);
int test_old_write_batch(ecom_backend *inner, ecom_write_item *items, size_t n, int64_t now);

#endif
