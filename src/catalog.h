/* What the catalog's files (catalog, list, import, export, check) share. */
#ifndef ECOM_CATALOG_H
#define ECOM_CATALOG_H

#include "internal.h"

/* One product made ready for product_write: validated, encoded, indexed. */
typedef struct ecom__prepared {
    ecom_product_write write;
    ecom__buf data;
    const char **skus;
} ecom__prepared;

/* Validates and encodes p; on failure reports on store. Release with
 * ecom__write_release() after a success. */
int ecom__write_prepare(ecom_store *store, ecom__prepared *out, const ecom_product *p);
void ecom__write_release(ecom__prepared *prepared);

/* Reports why the backend refused w (w->result), naming the product and SKU. */
int ecom__write_explain(ecom_store *store, const ecom_product_write *w, uint64_t expected);

/* An ecom_product_fn that decodes into *(ecom_product **)ctx. */
int ecom__decode_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                    const void *key, size_t key_len);

#endif
