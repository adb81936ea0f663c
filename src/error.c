/* Error codes, their descriptions, and the per-thread last failure of a store. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *ecom_strerror(int code)
{
    switch ((ecom_error)code) {
    case ECOM_OK: return "not an error";
    case ECOM_ERROR: return "unclassified failure";
    case ECOM_ENOMEM: return "out of memory";
    case ECOM_EINVAL: return "invalid argument";
    case ECOM_ENOTFOUND: return "not found";
    case ECOM_EEXISTS: return "already exists";
    case ECOM_ECONFLICT: return "version conflict (stale write)";
    case ECOM_EURI: return "malformed store URI";
    case ECOM_EUNSUPPORTED: return "unsupported URI scheme or backend not compiled in";
    case ECOM_EBACKEND: return "storage backend failure";
    case ECOM_EJSON: return "malformed JSON";
    case ECOM_EUTF8: return "invalid UTF-8 or control character";
    case ECOM_EPRICE: return "invalid price";
    case ECOM_ECURRENCY: return "unknown currency code";
    case ECOM_EDUPSKU: return "duplicate SKU code";
    case ECOM_ETOOLONG: return "value too long";
    case ECOM_EBADID: return "invalid character in id or SKU code";
    case ECOM_EFIELD: return "missing, unknown or mistyped field";
    case ECOM_EVERSION: return "unsupported version";
    case ECOM_ECORRUPT: return "stored data is corrupt or inconsistent";
    case ECOM_EBUSY: return "resource busy, try again";
    case ECOM_EIO: return "file input/output error";
    case ECOM_ELIMIT: return "too many items";
    case ECOM_ECATEGORY: return "malformed category path";
    case ECOM_ESTATUS: return "unknown product status";
    case ECOM_EREADONLY: return "the store is open read-only";
    case ECOM_EQUANTITY: return "invalid quantity";
    case ECOM_ESKU: return "unknown SKU code";
    case ECOM_ELOCATION: return "unknown stock location";
    case ECOM_EINSUFFICIENT: return "not enough stock";
    case ECOM_EENDED: return "already ended";
    case ECOM_EEXPIRED: return "expired";
    case ECOM_EUNAVAILABLE: return "product not available";
    case ECOM_EEMPTY: return "the cart is empty";
    case ECOM_ESTALE: return "the cart changed since it was filled";
    case ECOM_EDECLINED: return "payment declined";
    case ECOM_ETIMEOUT: return "payment provider timed out";
    case ECOM_EPAYMENT: return "payment provider error";
    case ECOM_EIDEMPOTENCY: return "idempotency key reused with a different request";
    case ECOM_ESTATE: return "illegal order state transition";
    case ECOM_EQUERY: return "malformed search query";
    case ECOM_EMIXEDCURRENCY: return "the cart is priced in another currency";
    }
    return "unknown error code";
}

const char *ecom_version(void)
{
    return ECOM_VERSION_STRING;
}

/* This thread's slot for store, made on first use; NULL if memory ran out. */
static ecom__errslot *slot_of(ecom_store *store, bool create)
{
    ecom__errslot *slot = pthread_getspecific(store->err_key);
    if (slot || !create)
        return slot;
    slot = ecom__calloc(1, sizeof *slot);
    if (slot == NULL)
        return NULL;
    if (pthread_setspecific(store->err_key, slot) != 0) {
        ecom__free(slot);
        return NULL;
    }
    pthread_mutex_lock(&store->err_lock);
    slot->next = store->err_slots;
    store->err_slots = slot;
    pthread_mutex_unlock(&store->err_lock);
    return slot;
}

static int record(ecom_store *store, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int record(ecom_store *store, int code, const char *fmt, va_list ap)
{
    if (store == NULL)
        return code;
    /* A store whose open failed keeps one message, readable from any thread. */
    ecom__errslot *dest = store->be == NULL ? &store->open_err : slot_of(store, true);
    if (dest == NULL)
        return code;
    dest->code = code;
    vsnprintf(dest->msg, sizeof dest->msg, fmt, ap);
    return code;
}

int ecom__fail(ecom_store *store, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(store, code, fmt, ap);
    va_end(ap);
    return code;
}

void ecom__clear(ecom_store *store)
{
    ecom__errslot *slot = store ? slot_of(store, false) : NULL;
    if (slot)
        slot->code = ECOM_OK;
}

int ecom_backend_error(ecom_store *store, int code, const char *message)
{
    return ecom__fail(store, code, "%s", message ? message : ecom_strerror(code));
}

const char *ecom_errmsg(ecom_store *store)
{
    if (store == NULL)
        return "no store (out of memory at open?)";
    ecom__errslot *slot = slot_of(store, false);
    if (slot && slot->code != ECOM_OK)
        return slot->msg;
    if (store->be == NULL && store->open_err.code != ECOM_OK)
        return store->open_err.msg;
    return ecom_strerror(ECOM_OK);
}

int ecom_errcode(ecom_store *store)
{
    if (store == NULL)
        return ECOM_ENOMEM;
    ecom__errslot *slot = slot_of(store, false);
    if (slot && slot->code != ECOM_OK)
        return slot->code;
    if (store->be == NULL)
        return store->open_err.code;
    return ECOM_OK;
}
