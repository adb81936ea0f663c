/* JSON Lines export of the whole catalog from one snapshot. */
#include <string.h>

#include "catalog.h"

typedef struct export_state {
    ecom_write_fn write;
    void *ctx;
    uint64_t count;
} export_state;

static int export_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                     const void *key, size_t key_len)
{
    export_state *st = ctx;
    ecom_product *p = NULL;
    char *json = NULL;
    int rc = ecom__decode_fn(&p, rec, meta, key, key_len);
    if (rc == ECOM_OK)
        rc = ecom_product_to_json(&json, p);
    if (rc == ECOM_OK) {
        size_t len = strlen(json);
        json[len] = '\n'; /* replaces the NUL: the writer gets a length */
        if (st->write(st->ctx, json, len + 1) != 0)
            rc = ECOM_EIO;
        else
            st->count++;
    }
    ecom__free(json);
    ecom_product_free(p);
    return rc;
}

int ecom_catalog_export(uint64_t *count, ecom_store *store, ecom_write_fn write, void *ctx)
{
    if (count)
        *count = 0;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (write == NULL)
        return ecom__fail(store, ECOM_EINVAL, "write: NULL");
    export_state st = {write, ctx, 0};
    ecom_scan scan = {0};
    rc = store->be->product_scan(store->be, &scan, export_fn, &st);
    if (count)
        *count = st.count;
    if (rc == ECOM_EIO)
        return ecom__fail(store, rc, "export stopped by the writer after %llu products",
                          (unsigned long long)st.count);
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "export failed after %llu products: %s",
                          (unsigned long long)st.count, ecom_strerror(rc));
    return rc;
}
