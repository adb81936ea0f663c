/* Inventory reads: stock levels, reservations, locations. */
#include <string.h>

#include "inventory.h"

struct ecom_stock {
    ecom_stock_rec rec;
};

struct ecom_reservation {
    ecom__arena arena;
    const char *id, *location;
    ecom_reservation_state state;
    int64_t created_at, expires_at;
    size_t line_count;
    const char **skus;
    int64_t *quantities;
};

typedef struct location_entry {
    const char *code, *name;
} location_entry;

struct ecom_locations {
    ecom__arena arena;
    location_entry *entries;
    size_t count, cap;
};

/* Reports a failed read, keeping a backend's own message. */
static int read_failed(ecom_store *store, int rc, const char *what, const char *name)
{
    switch (rc) {
    case ECOM_ENOTFOUND:
        return ecom__fail(store, rc, "%s '%s' not found", what, name);
    case ECOM_ESKU:
        return ecom__fail(store, rc, "SKU '%s' is not in the catalog", name);
    case ECOM_ELOCATION:
        return ecom__fail(store, rc, "location does not exist (%s '%s')", what, name);
    default:
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "reading %s '%s': %s", what, name, ecom_strerror(rc));
    }
}

int ecom_stock_get(ecom_stock **out, ecom_store *store, const char *sku, const char *location)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc == ECOM_OK && location)
        rc = ecom__check_id_arg(store, location, "location");
    if (rc != ECOM_OK)
        return rc;
    ecom_stock *s = ecom__calloc(1, sizeof *s);
    if (s == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->stock_get(store->be, sku, ecom__location(location), &s->rec);
    if (rc != ECOM_OK) {
        ecom__free(s);
        return read_failed(store, rc, "stock of SKU", sku);
    }
    *out = s;
    return ECOM_OK;
}

int64_t ecom_stock_on_hand(const ecom_stock *s)
{
    return s ? s->rec.on_hand : 0;
}

int64_t ecom_stock_reserved(const ecom_stock *s)
{
    return s ? s->rec.reserved : 0;
}

int64_t ecom_stock_available(const ecom_stock *s)
{
    return s ? s->rec.on_hand - s->rec.reserved : 0;
}

int64_t ecom_stock_safety(const ecom_stock *s)
{
    return s ? s->rec.safety : 0;
}

int64_t ecom_stock_sellable(const ecom_stock *s)
{
    int64_t sellable = s ? s->rec.on_hand - s->rec.reserved - s->rec.safety : 0;
    return sellable > 0 ? sellable : 0;
}

ecom_backorder_policy ecom_stock_backorder(const ecom_stock *s)
{
    return s && s->rec.backorder == ECOM_BACKORDER_ALLOW ? ECOM_BACKORDER_ALLOW
                                                          : ECOM_BACKORDER_DENY;
}

void ecom_stock_free(ecom_stock *s)
{
    ecom__free(s);
}

/* ---- reservations ---- */

typedef struct reservation_read {
    ecom_reservation *r;
    int64_t now;
} reservation_read;

static int reservation_fn(void *ctx, const ecom_reservation_rec *rec)
{
    reservation_read *rr = ctx;
    ecom_reservation *r = rr->r;
    ecom__arena *a = &r->arena;
    r->id = ecom__arena_strndup(a, rec->id, strlen(rec->id));
    r->location = ecom__arena_strndup(a, rec->location, strlen(rec->location));
    r->skus = ecom__arena_alloc(a, (rec->line_count + 1) * sizeof *r->skus);
    r->quantities = ecom__arena_alloc(a, (rec->line_count + 1) * sizeof *r->quantities);
    if (!r->id || !r->location || !r->skus || !r->quantities)
        return ECOM_ENOMEM;
    for (size_t i = 0; i < rec->line_count; i++) {
        r->skus[i] = ecom__arena_strndup(a, rec->line_skus[i], strlen(rec->line_skus[i]));
        if (r->skus[i] == NULL)
            return ECOM_ENOMEM;
        r->quantities[i] = rec->line_quantities[i];
    }
    r->line_count = rec->line_count;
    r->state = (ecom_reservation_state)rec->state;
    /* A hold past its expiry is over, whether or not the sweeper has run. */
    if (r->state == ECOM_RESERVATION_HELD && rec->expires_at <= rr->now)
        r->state = ECOM_RESERVATION_EXPIRED;
    r->created_at = rec->created_at;
    r->expires_at = rec->expires_at;
    return ECOM_OK;
}

int ecom_reservation_get(ecom_reservation **out, ecom_store *store, const char *id)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc != ECOM_OK)
        return rc;
    reservation_read rr = {ecom__calloc(1, sizeof *rr.r), ecom__now(store)};
    if (rr.r == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->reservation_get(store->be, id, reservation_fn, &rr);
    if (rc != ECOM_OK) {
        ecom_reservation_free(rr.r);
        return read_failed(store, rc, "reservation", id);
    }
    *out = rr.r;
    return ECOM_OK;
}

const char *ecom_reservation_id(const ecom_reservation *r)
{
    return r ? r->id : NULL;
}

const char *ecom_reservation_location(const ecom_reservation *r)
{
    return r ? r->location : NULL;
}

ecom_reservation_state ecom_reservation_get_state(const ecom_reservation *r)
{
    return r ? r->state : ECOM_RESERVATION_RELEASED;
}

int64_t ecom_reservation_created_at(const ecom_reservation *r)
{
    return r ? r->created_at : 0;
}

int64_t ecom_reservation_expires_at(const ecom_reservation *r)
{
    return r ? r->expires_at : 0;
}

size_t ecom_reservation_line_count(const ecom_reservation *r)
{
    return r ? r->line_count : 0;
}

const char *ecom_reservation_line_sku(const ecom_reservation *r, size_t i)
{
    return r && i < r->line_count ? r->skus[i] : NULL;
}

int64_t ecom_reservation_line_quantity(const ecom_reservation *r, size_t i)
{
    return r && i < r->line_count ? r->quantities[i] : 0;
}

void ecom_reservation_free(ecom_reservation *r)
{
    if (r == NULL)
        return;
    ecom__arena_free(&r->arena);
    ecom__free(r);
}

/* ---- locations ---- */

static int location_fn(void *ctx, const char *code, const char *name)
{
    ecom_locations *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        location_entry *e = ecom__realloc(l->entries, cap * sizeof *e);
        if (e == NULL)
            return ECOM_ENOMEM;
        l->entries = e;
        l->cap = cap;
    }
    location_entry *e = &l->entries[l->count];
    e->code = ecom__arena_strndup(&l->arena, code, strlen(code));
    e->name = ecom__arena_strndup(&l->arena, name, strlen(name));
    if (e->code == NULL || e->name == NULL)
        return ECOM_ENOMEM;
    l->count++;
    return ECOM_OK;
}

int ecom_location_list(ecom_locations **out, ecom_store *store)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__inv_enter(store);
    if (rc != ECOM_OK)
        return rc;
    ecom_locations *l = ecom__calloc(1, sizeof *l);
    if (l == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->location_list(store->be, location_fn, l);
    if (rc != ECOM_OK) {
        ecom_locations_free(l);
        return read_failed(store, rc, "locations", "*");
    }
    *out = l;
    return ECOM_OK;
}

size_t ecom_locations_count(const ecom_locations *l)
{
    return l ? l->count : 0;
}

const char *ecom_locations_code(const ecom_locations *l, size_t i)
{
    return l && i < l->count ? l->entries[i].code : NULL;
}

const char *ecom_locations_name(const ecom_locations *l, size_t i)
{
    return l && i < l->count ? l->entries[i].name : NULL;
}

void ecom_locations_free(ecom_locations *l)
{
    if (l == NULL)
        return;
    ecom__arena_free(&l->arena);
    ecom__free(l->entries);
    ecom__free(l);
}
