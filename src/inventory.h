/* What the inventory files (inventory, inventory_read, flash) share. */
#ifndef ECOM_INVENTORY_H
#define ECOM_INVENTORY_H

#include "internal.h"

#define ECOM__LINES_MAX 256
#define ECOM__TTL_MAX (INT64_C(30) * 24 * 3600 * 1000)
#define ECOM__NOTE_MAX 256

/* Starts an inventory call: as ecom__enter, and ECOM_EUNSUPPORTED if the backend
 * predates inventory (contract version 1). */
int ecom__inv_enter(ecom_store *store);

/* Checks a quantity in 1..ECOM_QUANTITY_MAX, naming field. */
int ecom__check_quantity(ecom_store *store, int64_t q, const char *field);

/* Checks an optional free-text note (reason, reference, name). */
int ecom__check_note(ecom_store *store, const char *s, const char *field);

/* The location argument, or the default one. */
const char *ecom__location(const char *location);

/* Runs op through group commit and reports a refusal with a message naming what
 * was refused. */
int ecom__inv_run(ecom_store *store, ecom_inventory_op *op);

/* Reports op's refusal (op->result) with that message; returns the code. For
 * operations run inside another unit (an order write). */
int ecom__inv_explain(ecom_store *store, const ecom_inventory_op *op);

/* The idle time after which cart (user:<id> or guest:<token>) expires (cart.c). */
int64_t ecom__cart_ttl(const ecom_store *store, const char *cart);

/* The purchase limits of n SKUs (0: none), from one snapshot (cart.c). Returns
 * ECOM_EUNSUPPORTED, recording nothing, when the backend cannot read them back
 * (contract before version 5): carts then enforce them alone. */
int ecom__purchase_limits(ecom_store *store, const char *const *skus, size_t n,
                          int64_t *limits);

#endif
