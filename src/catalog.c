/* Catalog writes and reads: validate, encode, hand to the backend, decode. */
#include <string.h>

#include "catalog.h"

/* Archive and upsert-like retries give up after this many lost races. */
#define ECOM__CAS_RETRIES 16

int ecom__write_prepare(ecom_store *store, ecom__prepared *out, const ecom_product *p)
{
    char msg[256];
    memset(out, 0, sizeof *out);
    int rc = ecom_product_validate(p, msg, sizeof msg);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "%s", msg);
    rc = ecom__record_encode(&out->data, p);
    if (rc == ECOM_OK)
        rc = ecom__record_index(&out->write.rec, &out->skus, p);
    if (rc != ECOM_OK) {
        ecom__write_release(out);
        return ecom__fail(store, rc, "product '%s': %s", p->id, ecom_strerror(rc));
    }
    out->write.rec.data = out->data.data;
    out->write.rec.data_len = out->data.len;
    return ECOM_OK;
}

void ecom__write_release(ecom__prepared *prepared)
{
    ecom__buf_free(&prepared->data);
    ecom__free(prepared->skus);
    prepared->skus = NULL;
}

/* Finds which SKU of p another product owns, to name it in the message. */
static int sku_owner_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                        const void *key, size_t key_len)
{
    ECOM__UNUSED(meta);
    ECOM__UNUSED(key);
    ECOM__UNUSED(key_len);
    const char **owner = ctx;
    *owner = ecom__strdup(rec->id);
    return *owner ? ECOM_OK : ECOM_ENOMEM;
}

int ecom__write_explain(ecom_store *store, const ecom_product_write *w, uint64_t expected)
{
    const char *id = w->rec.id;
    switch (w->result) {
    case ECOM_EEXISTS:
        return ecom__fail(store, w->result, "product '%s' already exists", id);
    case ECOM_ENOTFOUND:
        return ecom__fail(store, w->result, "product '%s' not found", id);
    case ECOM_ECONFLICT:
        return ecom__fail(store, w->result,
                          "product '%s' is no longer at version %llu (stale write)", id,
                          (unsigned long long)expected);
    case ECOM_EDUPSKU:
        for (size_t i = 0; i < w->rec.sku_count; i++) {
            char *owner = NULL;
            ecom_backend *be = store->be;
            if (be->product_get_by_sku(be, w->rec.skus[i], sku_owner_fn, &owner) != ECOM_OK)
                continue;
            bool other = strcmp(owner, id) != 0;
            if (other)
                ecom__fail(store, w->result,
                           "product '%s': SKU code '%s' is already used by product '%s'", id,
                           w->rec.skus[i], owner);
            ecom__free(owner);
            if (other)
                return w->result;
        }
        return ecom__fail(store, w->result,
                          "product '%s': a SKU code is already used by another product", id);
    default:
        return ecom__fail(store, w->result, "product '%s': %s", id, ecom_strerror(w->result));
    }
}

static int write_one(ecom_store *store, ecom_product *p, ecom_write_mode mode, uint64_t expected)
{
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (p == NULL)
        return ecom__fail(store, ECOM_EINVAL, "product: NULL");
    ecom__prepared prepared;
    rc = ecom__write_prepare(store, &prepared, p);
    if (rc != ECOM_OK)
        return rc;
    prepared.write.mode = mode;
    prepared.write.expected_version = expected;
    rc = store->be->product_write(store->be, &prepared.write, 1, ecom__now(store));
    if (rc == ECOM_OK && prepared.write.result != ECOM_OK)
        rc = ecom__write_explain(store, &prepared.write, expected);
    if (rc == ECOM_OK) {
        p->version = prepared.write.meta.version;
        p->created_at = prepared.write.meta.created_at;
        p->updated_at = prepared.write.meta.updated_at;
    }
    ecom__write_release(&prepared);
    return rc;
}

int ecom_catalog_create(ecom_store *store, ecom_product *product)
{
    return write_one(store, product, ECOM_WRITE_CREATE, 0);
}

int ecom_catalog_update(ecom_store *store, ecom_product *product, uint64_t expected_version)
{
    return write_one(store, product, ECOM_WRITE_UPDATE, expected_version);
}

int ecom_catalog_upsert(ecom_store *store, ecom_product *product)
{
    return write_one(store, product, ECOM_WRITE_UPSERT, ECOM_VERSION_ANY);
}

int ecom_catalog_archive(ecom_store *store, const char *id, uint64_t expected_version)
{
    for (int attempt = 0; attempt < ECOM__CAS_RETRIES; attempt++) {
        ecom_product *p = NULL;
        int rc = ecom_catalog_get(&p, store, id);
        if (rc != ECOM_OK)
            return rc;
        if (expected_version != ECOM_VERSION_ANY && p->version != expected_version) {
            uint64_t stored = p->version;
            ecom_product_free(p);
            return ecom__fail(store, ECOM_ECONFLICT,
                              "product '%s' is at version %llu, not %llu (stale write)", id,
                              (unsigned long long)stored, (unsigned long long)expected_version);
        }
        rc = ecom_product_set_status(p, ECOM_STATUS_ARCHIVED);
        if (rc == ECOM_OK)
            rc = ecom_catalog_update(store, p, p->version);
        ecom_product_free(p);
        /* With "any version", a concurrent writer only means: read again. */
        if (rc != ECOM_ECONFLICT || expected_version != ECOM_VERSION_ANY)
            return rc == ECOM_ENOMEM ? ecom__fail(store, rc, "out of memory") : rc;
    }
    return ecom__fail(store, ECOM_EBUSY, "product '%s' kept changing; archive gave up", id);
}

int ecom_catalog_delete(ecom_store *store, const char *id, uint64_t expected_version)
{
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc != ECOM_OK)
        return rc;
    rc = store->be->product_delete(store->be, id, expected_version, ecom__now(store));
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, rc, "product '%s' not found", id);
    if (rc == ECOM_ECONFLICT)
        return ecom__fail(store, rc, "product '%s' is no longer at version %llu (stale write)",
                          id, (unsigned long long)expected_version);
    return rc;
}

int ecom__decode_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                    const void *key, size_t key_len)
{
    ECOM__UNUSED(key);
    ECOM__UNUSED(key_len);
    return ecom__record_decode((ecom_product **)ctx, rec, meta);
}

/* Reports a failed read; the backend may have left a more precise message. */
static int read_failed(ecom_store *store, int rc, const char *what, const char *name)
{
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, rc, "%s '%s' not found", what, name);
    if (rc == ECOM_ECORRUPT)
        return ecom__fail(store, rc, "%s '%s': stored record is corrupt", what, name);
    if (rc == ECOM_ENOMEM)
        return ecom__fail(store, rc, "out of memory reading %s '%s'", what, name);
    return ecom_errcode(store) == rc ? rc : ecom__fail(store, rc, "reading %s '%s': %s", what,
                                                       name, ecom_strerror(rc));
}

int ecom_catalog_get(ecom_product **out, ecom_store *store, const char *id)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc != ECOM_OK)
        return rc;
    rc = store->be->product_get(store->be, id, ecom__decode_fn, out);
    return rc == ECOM_OK ? rc : read_failed(store, rc, "product", id);
}

int ecom_catalog_get_by_sku(ecom_product **out, size_t *variant, ecom_store *store,
                            const char *sku)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc != ECOM_OK)
        return rc;
    rc = store->be->product_get_by_sku(store->be, sku, ecom__decode_fn, out);
    if (rc != ECOM_OK)
        return read_failed(store, rc, "SKU", sku);
    long v = ecom_product_find_variant(*out, sku);
    if (v < 0) {
        ecom_product_free(*out);
        *out = NULL;
        return ecom__fail(store, ECOM_ECORRUPT, "SKU '%s' is indexed but its product lacks it",
                          sku);
    }
    if (variant)
        *variant = (size_t)v;
    return ECOM_OK;
}
