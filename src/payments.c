/* The payment ledger of the built-in test provider, as callers read it per order. */
#include <string.h>

#include "orders.h"

typedef struct payment_entry {
    const char *charge_id, *kind;
    int64_t amount;
    int approved;
} payment_entry;

struct ecom_payments {
    ecom__arena arena; /* the strings */
    payment_entry *entries;
    size_t count, cap;
};

static int payment_fn(void *ctx, const ecom_payment_rec *rec)
{
    ecom_payments *p = ctx;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        payment_entry *e = ecom__realloc(p->entries, cap * sizeof *e);
        if (e == NULL)
            return ECOM_ENOMEM;
        p->entries = e;
        p->cap = cap;
    }
    const char *charge_id = rec->charge_id ? rec->charge_id : "";
    const char *kind = rec->kind ? rec->kind : "";
    payment_entry *x = &p->entries[p->count];
    x->charge_id = ecom__arena_strndup(&p->arena, charge_id, strlen(charge_id));
    x->kind = ecom__arena_strndup(&p->arena, kind, strlen(kind));
    if (x->charge_id == NULL || x->kind == NULL)
        return ECOM_ENOMEM;
    x->amount = rec->amount;
    x->approved = rec->approved ? 1 : 0;
    p->count++;
    return 0;
}

int ecom_payments_list(ecom_payments **out, ecom_store *store, const char *order_id)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, order_id, "order_id");
    if (rc != ECOM_OK)
        return rc;
    if (store->be->version < 3 || store->be->payment_list == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no payment ledger "
                          "(contract version %d; it needs 3)", store->be->name,
                          store->be->version);
    ecom_payments *p = ecom__calloc(1, sizeof *p);
    if (p == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->payment_list(store->be, order_id, payment_fn, p);
    if (rc != ECOM_OK) {
        ecom_payments_free(p);
        if (rc == ECOM_ENOMEM)
            return ecom__fail(store, rc, "out of memory listing payments of order '%s'",
                              order_id);
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "listing payments of order '%s': %s", order_id,
                                ecom_strerror(rc));
    }
    *out = p;
    return ECOM_OK;
}

static const payment_entry *entry(const ecom_payments *p, size_t i)
{
    return p && i < p->count ? &p->entries[i] : NULL;
}

size_t ecom_payments_count(const ecom_payments *p)
{
    return p ? p->count : 0;
}

const char *ecom_payments_charge_id(const ecom_payments *p, size_t i)
{
    return entry(p, i) ? entry(p, i)->charge_id : NULL;
}

const char *ecom_payments_kind(const ecom_payments *p, size_t i)
{
    return entry(p, i) ? entry(p, i)->kind : NULL;
}

int64_t ecom_payments_amount(const ecom_payments *p, size_t i)
{
    return entry(p, i) ? entry(p, i)->amount : 0;
}

int ecom_payments_approved(const ecom_payments *p, size_t i)
{
    return entry(p, i) ? entry(p, i)->approved : 0;
}

void ecom_payments_free(ecom_payments *p)
{
    if (p == NULL)
        return;
    ecom__arena_free(&p->arena);
    ecom__free(p->entries);
    ecom__free(p);
}
