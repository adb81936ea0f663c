/* Reading the event log. */
#include <string.h>

#include "internal.h"

#define ECOM__EVENTS_MAX 100000

typedef struct event_entry {
    uint64_t seq, version;
    int64_t time;
    const char *type, *key;
} event_entry;

struct ecom_events {
    ecom__arena arena; /* the strings */
    event_entry *entries;
    size_t count, cap;
};

static int event_fn(void *ctx, const ecom_event_rec *ev)
{
    ecom_events *e = ctx;
    if (e->count == e->cap)
        return 1; /* the backend handed more than asked: stop */
    event_entry *x = &e->entries[e->count];
    x->type = ecom__arena_strndup(&e->arena, ev->type, strlen(ev->type));
    x->key = ecom__arena_strndup(&e->arena, ev->key, strlen(ev->key));
    if (x->type == NULL || x->key == NULL)
        return ECOM_ENOMEM;
    x->seq = ev->seq;
    x->version = ev->version;
    x->time = ev->time;
    e->count++;
    return 0;
}

int ecom_events_read(ecom_events **out, ecom_store *store, uint64_t after_seq, size_t max)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (max == 0 || max > ECOM__EVENTS_MAX)
        return ecom__fail(store, ECOM_EINVAL, "max: %zu is not in 1..%d", max, ECOM__EVENTS_MAX);
    ecom_events *e = ecom__calloc(1, sizeof *e);
    if (e)
        e->entries = ecom__calloc(max, sizeof *e->entries);
    if (e == NULL || e->entries == NULL) {
        ecom_events_free(e);
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    }
    e->cap = max;
    rc = store->be->events_read(store->be, after_seq, max, event_fn, e);
    if (rc != ECOM_OK) {
        ecom_events_free(e);
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "reading events: %s", ecom_strerror(rc));
    }
    *out = e;
    return ECOM_OK;
}

int ecom_events_last_seq(uint64_t *seq, ecom_store *store)
{
    if (seq == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "seq: NULL") : ECOM_EINVAL;
    *seq = 0;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = store->be->events_last_seq(store->be, seq);
    return rc;
}

static const event_entry *entry(const ecom_events *e, size_t i)
{
    return e && i < e->count ? &e->entries[i] : NULL;
}

size_t ecom_events_count(const ecom_events *e)
{
    return e ? e->count : 0;
}

uint64_t ecom_events_seq(const ecom_events *e, size_t i)
{
    return entry(e, i) ? entry(e, i)->seq : 0;
}

int64_t ecom_events_time(const ecom_events *e, size_t i)
{
    return entry(e, i) ? entry(e, i)->time : 0;
}

const char *ecom_events_type(const ecom_events *e, size_t i)
{
    return entry(e, i) ? entry(e, i)->type : NULL;
}

const char *ecom_events_key(const ecom_events *e, size_t i)
{
    return entry(e, i) ? entry(e, i)->key : NULL;
}

uint64_t ecom_events_version(const ecom_events *e, size_t i)
{
    return entry(e, i) ? entry(e, i)->version : 0;
}

void ecom_events_free(ecom_events *e)
{
    if (e == NULL)
        return;
    ecom__arena_free(&e->arena);
    ecom__free(e->entries);
    ecom__free(e);
}
