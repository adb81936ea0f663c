/* Named event consumers: a durable acknowledged position per name, and reading on
 * from it (at least once: what is not acknowledged is read again). */
#include "internal.h"

/* Starts a consumer call: the store, the name (like an id), a backend that keeps them. */
static int consumer_enter(ecom_store *store, const char *consumer)
{
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, consumer, "consumer");
    if (rc == ECOM_OK && (store->be->version < 3 || store->be->consumer_get == NULL ||
                          store->be->consumer_ack == NULL))
        rc = ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no event consumers "
                        "(contract version %d; they need 3)", store->be->name,
                        store->be->version);
    return rc;
}

static int position(uint64_t *seq, ecom_store *store, const char *consumer)
{
    *seq = 0;
    int rc = store->be->consumer_get(store->be, consumer, seq);
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "consumer '%s': reading its position: %s", consumer,
                          ecom_strerror(rc));
    return rc;
}

int ecom_consumer_read(ecom_events **out, ecom_store *store, const char *consumer, size_t max)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    uint64_t seq;
    int rc = consumer_enter(store, consumer);
    if (rc == ECOM_OK)
        rc = position(&seq, store, consumer);
    return rc == ECOM_OK ? ecom_events_read(out, store, seq, max) : rc;
}

int ecom_consumer_ack(ecom_store *store, const char *consumer, uint64_t seq)
{
    uint64_t last = 0;
    int rc = consumer_enter(store, consumer);
    if (rc != ECOM_OK)
        return rc;
    rc = store->be->events_last_seq(store->be, &last);
    if (rc != ECOM_OK)
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "consumer '%s': reading the log's end: %s",
                                consumer, ecom_strerror(rc));
    /* An acknowledgment past the log's end would silently skip events not yet written. */
    if (seq > last)
        return ecom__fail(store, ECOM_EINVAL, "consumer '%s': seq %llu is past the newest "
                          "event (%llu)", consumer, (unsigned long long)seq,
                          (unsigned long long)last);
    rc = store->be->consumer_ack(store->be, consumer, seq);
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "consumer '%s': acknowledging %llu: %s", consumer,
                          (unsigned long long)seq, ecom_strerror(rc));
    return rc;
}

int ecom_consumer_position(uint64_t *seq, ecom_store *store, const char *consumer)
{
    if (seq == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "seq: NULL") : ECOM_EINVAL;
    *seq = 0;
    int rc = consumer_enter(store, consumer);
    return rc == ECOM_OK ? position(seq, store, consumer) : rc;
}
