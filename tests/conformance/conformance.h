/* Shared by the conformance cases: which backend runs, fresh stores, fixtures. */
#ifndef ECOM_CONFORMANCE_H
#define ECOM_CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the three above first. */
#include <cmocka.h>

#include "ecom.h"
#include "ecom_backend.h"

/* The backend under test: "lmdb", "fault" (the LMDB backend behind the faulty wrapper),
 * or "lmdb-v3" (the same wrapper presenting contract version 3, injecting nothing). */
extern const char *conf_backend;

/* A fresh, empty store's URI (a new directory each call); static buffer. */
const char *conf_fresh_uri(void);

/* The clock every conformance store reads: starts at 1.7e12 ms, +1 per read. */
int64_t conf_clock(void *ctx);

/* Moves the test clock forward; reads it without moving it. */
void conf_clock_advance(int64_t ms);
int64_t conf_clock_peek(void);

/* Opens uri (a fresh one if NULL) with the test clock; fails the test on error. */
ecom_store *conf_open(const char *uri);
/* The options conf_open uses (test clock, no fsync), to adjust and pass to conf_open_with. */
ecom_options conf_options(void);
ecom_store *conf_open_with(const char *uri, const ecom_options *opts);

/* cmocka fixtures: *state becomes a fresh store, closed after the case. */
int conf_setup(void **state);
int conf_teardown(void **state);

/* A valid product: one variant per sku in skus (NULL-terminated), USD price. */
ecom_product *conf_product(const char *id, const char *category, const char *const *skus);

/* Creates conf_product(id, category, {id + "-1"}) in the store. */
void conf_create(ecom_store *s, const char *id, const char *category);

/* Creates a product with one variant `sku` and receives `units` of it. */
void conf_stock(ecom_store *s, const char *sku, int64_t units);

/* on_hand of sku at the default location (and reserved, if asked). */
int64_t conf_on_hand(ecom_store *s, const char *sku, int64_t *reserved);

/* Runs ecom_check and asserts that the store is clean. */
void conf_assert_clean(ecom_store *s);

/* The faulty wrapper (fault_backend.c). */
int conf_fault_register(void);
/* The nth backend step from now (an operation or one record handed back) fails with
 * ECOM_EBACKEND; 0 disarms. */
void conf_fault_arm(long n);
/* Disarms; true if the armed step was reached (and failed). An operation may get past a
 * failed step and succeed (a speculative read abandoned for another way), so success
 * alone does not say that every step was met. */
bool conf_fault_disarm(void);
/* While on, records handed to the core are cut short (they must not decode). */
void conf_fault_corrupt(int on);

/* The tables of cases. */
int conf_run_catalog(void);
int conf_run_concurrency(void);
int conf_run_faults(void);
int conf_run_inventory(void);
int conf_run_flash(void);
int conf_run_inventory_concurrency(void);
int conf_run_crash(void);
int conf_run_commerce(void);

#endif
