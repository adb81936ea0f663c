/* The consistency check: the backend checks its structures, the core each record. */
#include <stdio.h>
#include <string.h>

#include "orders.h"

typedef struct check_state {
    ecom_check_sink sink; /* first: the backend hands us back this pointer */
    ecom_violation_fn report;
    void *ctx;
    uint64_t violations;
    int error; /* a failure of the check itself (memory), not of the store */
} check_state;

static void report(ecom_check_sink *sink, const char *message)
{
    check_state *st = (check_state *)sink;
    st->violations++;
    if (st->report)
        st->report(st->ctx, message);
}

static void reportf(ecom_check_sink *sink, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reportf(ecom_check_sink *sink, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(sink, msg);
}

/* The index fields the backend keeps must say what the record says. */
static void compare_index(ecom_check_sink *sink, const ecom_product_rec *rec,
                          const ecom_product *p)
{
    if (strcmp(rec->category, p->category) != 0)
        reportf(sink, "product '%s': indexed under category '%s' but its record says '%s'",
                rec->id, rec->category, p->category);
    if (rec->status != (int)p->status)
        reportf(sink, "product '%s': indexed with status %d but its record says %d", rec->id,
                rec->status, (int)p->status);
    if (rec->sku_count != p->variant_count)
        reportf(sink, "product '%s': %zu SKUs indexed but %zu variants", rec->id,
                rec->sku_count, p->variant_count);
    for (size_t i = 0; i < rec->sku_count; i++)
        if (ecom_product_find_variant(p, rec->skus[i]) < 0)
            reportf(sink, "product '%s': indexed SKU '%s' is not one of its variants", rec->id,
                    rec->skus[i]);
}

static void check_product(ecom_check_sink *sink, const ecom_product_rec *rec,
                          const ecom_product_meta *meta)
{
    char msg[256];
    ecom_product *p = NULL;
    int rc = ecom__record_decode(&p, rec, meta);
    if (rc == ECOM_ENOMEM) {
        ((check_state *)sink)->error = rc;
        return;
    }
    if (rc != ECOM_OK) {
        reportf(sink, "product '%s': record does not decode: %s", rec->id, ecom_strerror(rc));
        return;
    }
    if ((rc = ecom_product_validate(p, msg, sizeof msg)) != ECOM_OK)
        reportf(sink, "product '%s': stored record is invalid: %s", rec->id, msg);
    if (meta->version == 0)
        reportf(sink, "product '%s': version 0", rec->id);
    if (meta->updated_at < meta->created_at)
        reportf(sink, "product '%s': updated before it was created", rec->id);
    compare_index(sink, rec, p);
    ecom_product_free(p);
}

static void check_order(ecom_check_sink *sink, const ecom_order_rec *rec, uint64_t version)
{
    if (ecom__order_verify(sink, rec, version) == ECOM_ENOMEM)
        ((check_state *)sink)->error = ECOM_ENOMEM;
}

int ecom_check(uint64_t *violations, ecom_store *store, ecom_violation_fn report_fn, void *ctx)
{
    if (violations)
        *violations = 0;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    check_state st = {{report, check_product, check_order}, report_fn, ctx, 0, ECOM_OK};
    rc = store->be->check(store->be, &st.sink);
    if (rc == ECOM_OK && st.error != ECOM_OK)
        return ecom__fail(store, st.error, "the check ran out of memory");
    if (violations)
        *violations = st.violations;
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "the check could not run: %s", ecom_strerror(rc));
    return rc;
}
