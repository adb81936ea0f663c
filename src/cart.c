/* Carts: validation, prices from the catalog, the cart operations' messages, and
 * purchase limits (set, and read back for checkout). */
#include <stdio.h>
#include <string.h>

#include "inventory.h"

#define ECOM__USER_CART_TTL (INT64_C(90) * 24 * 3600 * 1000)
#define ECOM__GUEST_CART_TTL (INT64_C(30) * 24 * 3600 * 1000)

typedef struct cart_line {
    const char *sku;
    int64_t quantity, unit_price;
} cart_line;

struct ecom_cart {
    ecom__arena arena;
    const char *currency;
    int64_t updated_at;
    cart_line *lines;
    size_t line_count;
};

/* "user:<id>" or "guest:<token>"; *guest tells which. */
static int check_cart_id(ecom_store *store, const char *cart, const char *field, bool *guest)
{
    if (cart == NULL)
        return ecom__fail(store, ECOM_EINVAL, "%s: NULL", field);
    const char *id = NULL;
    if (strncmp(cart, "user:", 5) == 0)
        id = cart + 5;
    else if (strncmp(cart, "guest:", 6) == 0)
        id = cart + 6;
    if (id == NULL)
        return ecom__fail(store, ECOM_EBADID, "%s: '%.80s' is neither user:<id> nor guest:<token>",
                          field, cart);
    *guest = id == cart + 6;
    return ecom__check_id_arg(store, id, field);
}

static int64_t cart_ttl(const ecom_store *store, bool guest)
{
    int64_t ttl = guest ? store->opts.guest_cart_ttl_ms : store->opts.user_cart_ttl_ms;
    return ttl > 0 ? ttl : guest ? ECOM__GUEST_CART_TTL : ECOM__USER_CART_TTL;
}

int64_t ecom__cart_ttl(const ecom_store *store, const char *cart)
{
    return cart_ttl(store, strncmp(cart, "guest:", 6) == 0);
}

/* What a refused cart operation found: the currency, the line count and op's SKU's
 * line of a cart. */
typedef struct cart_seen {
    const char *sku;
    char currency[4];
    size_t lines;
    int64_t qty; /* 0 if the SKU has no line */
} cart_seen;

static int see_cart(void *ctx, const ecom_cart_rec *rec)
{
    cart_seen *seen = ctx;
    snprintf(seen->currency, sizeof seen->currency, "%s", rec->currency);
    seen->lines = rec->line_count;
    for (size_t i = 0; seen->sku && i < rec->line_count; i++)
        if (strcmp(rec->lines[i].sku, seen->sku) == 0)
            seen->qty = rec->lines[i].quantity;
    return ECOM_OK;
}

/* Reads cart as it stands; on failure, *seen stays empty and the caller says less. */
static int see(ecom_store *store, const char *cart, cart_seen *seen)
{
    return store->be->cart_get(store->be, cart, ecom__now(store), see_cart, seen);
}

static int explain_currency(ecom_store *store, const ecom_cart_op *op)
{
    cart_seen into = {0}, from = {0};
    if (op->kind != ECOM_CART_MERGE) {
        see(store, op->cart, &into);
        return ecom__fail(store, ECOM_EMIXEDCURRENCY, "cart '%s' is priced in %s, not %s: a "
                          "cart holds prices in one currency", op->cart,
                          into.currency[0] ? into.currency : "another currency", op->currency);
    }
    if (see(store, op->into, &into) == ECOM_OK && see(store, op->cart, &from) == ECOM_OK &&
        into.currency[0] && from.currency[0])
        return ecom__fail(store, ECOM_EMIXEDCURRENCY, "cannot merge cart '%s' (%s) into cart "
                          "'%s' (%s): a cart holds prices in one currency", op->cart,
                          from.currency, op->into, into.currency);
    return ecom__fail(store, ECOM_EMIXEDCURRENCY, "cannot merge cart '%s' into cart '%s': they "
                      "are priced in different currencies", op->cart, op->into);
}

/*
 * Says which bound refused op's line: the SKU's purchase limit, the units a line may
 * hold, or the lines a cart may hold. Worked out again from the cart and the limit as
 * they stand, since the backend's own words went to whichever thread led the batch.
 * A backend that cannot read limits back (before version 5) leaves the limit to be
 * found by elimination, without its value.
 */
static int explain_limit(ecom_store *store, const ecom_cart_op *op)
{
    cart_seen seen = {.sku = op->sku};
    int64_t limit = 0, qty = op->quantity;
    if (see(store, op->cart, &seen) != ECOM_OK)
        return ecom__fail(store, ECOM_ELIMIT, "cart '%s': SKU '%s' would exceed its purchase "
                          "limit, the quantity bound (%d per line) or the line-count bound "
                          "(%d lines)", op->cart, op->sku, ECOM_CART_QUANTITY_MAX,
                          ECOM_CART_LINES_MAX);
    bool known = ecom__purchase_limits(store, &op->sku, 1, &limit) == ECOM_OK;
    if (op->kind == ECOM_CART_ADD && __builtin_add_overflow(qty, seen.qty, &qty))
        qty = INT64_MAX;
    if (known && limit > 0 && limit < ECOM_CART_QUANTITY_MAX && qty > limit)
        return ecom__fail(store, ECOM_ELIMIT, "cart '%s': SKU '%s' has a purchase limit of %lld "
                          "per cart and order; the line would hold %lld", op->cart, op->sku,
                          (long long)limit, (long long)qty);
    if (qty > ECOM_CART_QUANTITY_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "cart '%s': line '%s' would hold %lld units; the "
                          "quantity bound is %d per line", op->cart, op->sku, (long long)qty,
                          ECOM_CART_QUANTITY_MAX);
    if (seen.qty == 0 && seen.lines >= ECOM_CART_LINES_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "cart '%s' already holds %zu lines, the line-count "
                          "bound: no room for SKU '%s'", op->cart, seen.lines, op->sku);
    if (!known)
        return ecom__fail(store, ECOM_ELIMIT, "cart '%s': line '%s' would hold %lld units, over "
                          "the SKU's purchase limit (per cart and order)", op->cart, op->sku,
                          (long long)qty);
    return ecom__fail(store, ECOM_ELIMIT, "cart '%s': SKU '%s' would exceed its purchase limit "
                      "or a bound of the cart (both changed since)", op->cart, op->sku);
}

static int explain(ecom_store *store, const ecom_cart_op *op, int rc)
{
    if (rc == ECOM_ECURRENCY && store->be->version < 5)
        rc = ECOM_EMIXEDCURRENCY; /* what backends before version 5 called it */
    switch (rc) {
    case ECOM_EMIXEDCURRENCY:
        return explain_currency(store, op);
    case ECOM_ELIMIT:
        if (op->kind == ECOM_CART_MERGE)
            return ecom__fail(store, rc, "cannot merge cart '%s' into cart '%s': together "
                              "they would hold more than %d lines; nothing was merged",
                              op->cart, op->into, ECOM_CART_LINES_MAX);
        return explain_limit(store, op);
    case ECOM_ENOTFOUND:
        return ecom__fail(store, rc, "cart '%s' has no line for SKU '%s'", op->cart,
                          op->sku ? op->sku : "");
    case ECOM_EUNSUPPORTED:
        return ecom__fail(store, rc, "the %s backend has no carts", store->be->name);
    default:
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "cart '%s': %s", op->cart, ecom_strerror(rc));
    }
}

static int run(ecom_store *store, ecom_cart_op *op)
{
    int rc = ecom__commit(store, ECOM__WRITE_CART, op);
    return rc == ECOM_OK ? rc : explain(store, op, rc);
}

/* The catalog's price of sku in currency, if its product is active. */
static int price_of(ecom_store *store, const char *sku, const char *currency, int64_t *price)
{
    ecom_product *p = NULL;
    size_t v = 0;
    int rc = ecom_catalog_get_by_sku(&p, &v, store, sku);
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, ECOM_ESKU, "SKU '%s' is not in the catalog", sku);
    if (rc != ECOM_OK)
        return rc;
    if (p->status != ECOM_STATUS_ACTIVE)
        rc = ecom__fail(store, ECOM_EUNAVAILABLE, "product '%s' of SKU '%s' is %s, not active",
                        p->id, sku, ecom__status_name(p->status));
    else if (ecom_product_variant_price(price, p, v, currency) != ECOM_OK)
        rc = ecom__fail(store, ECOM_ECURRENCY, "SKU '%s' has no price in %s", sku, currency);
    ecom_product_free(p);
    return rc;
}

/* ADD and SET: everything checked and priced, then one cart operation. */
static int put_line(ecom_store *store, ecom_cart_op_kind kind, const char *cart, const char *sku,
                    int64_t qty, const char *currency)
{
    bool guest = false;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, cart, "cart", &guest);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc != ECOM_OK)
        return rc;
    int64_t min = kind == ECOM_CART_SET ? 0 : 1;
    if (qty < min || qty > ECOM_CART_QUANTITY_MAX)
        return ecom__fail(store, ECOM_EQUANTITY, "quantity: %lld is not in %lld..%d",
                          (long long)qty, (long long)min, ECOM_CART_QUANTITY_MAX);
    if (currency == NULL || !ecom_currency_valid(currency))
        return ecom__fail(store, ECOM_ECURRENCY, "currency: '%.8s' is not an ISO 4217 code",
                          currency ? currency : "(null)");
    int64_t price = 0;
    if (qty > 0 && (rc = price_of(store, sku, currency, &price)) != ECOM_OK)
        return rc;
    ecom_cart_op op = {.kind = kind, .cart = cart, .sku = sku, .quantity = qty,
                       .unit_price = price, .currency = currency,
                       .ttl_ms = cart_ttl(store, guest)};
    return run(store, &op);
}

int ecom_cart_add(ecom_store *store, const char *cart, const char *sku, int64_t qty,
                  const char *currency)
{
    return put_line(store, ECOM_CART_ADD, cart, sku, qty, currency);
}

int ecom_cart_set(ecom_store *store, const char *cart, const char *sku, int64_t qty,
                  const char *currency)
{
    return put_line(store, ECOM_CART_SET, cart, sku, qty, currency);
}

int ecom_cart_remove(ecom_store *store, const char *cart, const char *sku)
{
    bool guest = false;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, cart, "cart", &guest);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc != ECOM_OK)
        return rc;
    ecom_cart_op op = {.kind = ECOM_CART_REMOVE, .cart = cart, .sku = sku,
                       .ttl_ms = cart_ttl(store, guest)};
    return run(store, &op);
}

int ecom_cart_clear(ecom_store *store, const char *cart)
{
    bool guest = false;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, cart, "cart", &guest);
    if (rc != ECOM_OK)
        return rc;
    ecom_cart_op op = {.kind = ECOM_CART_CLEAR, .cart = cart, .ttl_ms = cart_ttl(store, guest)};
    return run(store, &op);
}

int ecom_cart_merge(ecom_store *store, const char *guest_cart, const char *user_cart)
{
    bool guest = false, user_is_guest = true;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, guest_cart, "guest_cart", &guest);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, user_cart, "user_cart", &user_is_guest);
    if (rc == ECOM_OK && (!guest || user_is_guest))
        rc = ecom__fail(store, ECOM_EINVAL, "merge takes a guest: cart into a user: cart");
    if (rc != ECOM_OK)
        return rc;
    ecom_cart_op op = {.kind = ECOM_CART_MERGE, .cart = guest_cart, .into = user_cart,
                       .ttl_ms = cart_ttl(store, false)};
    return run(store, &op);
}

int ecom__purchase_limits(ecom_store *store, const char *const *skus, size_t n,
                          int64_t *limits)
{
    ecom_backend *be = store->be;
    if (be->version < 5 || be->purchase_limits_get == NULL)
        return ECOM_EUNSUPPORTED;
    int rc = be->purchase_limits_get(be, skus, n, limits);
    if (rc == ECOM_OK || ecom_errcode(store) == rc)
        return rc;
    return ecom__fail(store, rc, "reading purchase limits: %s", ecom_strerror(rc));
}

int ecom_stock_set_purchase_limit(ecom_store *store, const char *sku, int64_t limit)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc == ECOM_OK && (limit < 0 || limit > ECOM_QUANTITY_MAX))
        rc = ecom__fail(store, ECOM_EQUANTITY, "limit: %lld is not in 0..%lld", (long long)limit,
                        (long long)ECOM_QUANTITY_MAX);
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = ECOM_INV_SET_PURCHASE_LIMIT, .sku = sku,
                            .location = ECOM_LOCATION_DEFAULT, .quantity = limit};
    return ecom__inv_run(store, &op);
}

/* ---- reading ---- */

static int cart_fn(void *ctx, const ecom_cart_rec *rec)
{
    ecom_cart *c = ctx;
    c->currency = ecom__arena_strndup(&c->arena, rec->currency, strlen(rec->currency));
    c->lines = ecom__arena_alloc(&c->arena, (rec->line_count + 1) * sizeof *c->lines);
    if (c->currency == NULL || c->lines == NULL)
        return ECOM_ENOMEM;
    for (size_t i = 0; i < rec->line_count; i++) {
        const ecom_cart_line_rec *l = &rec->lines[i];
        c->lines[i] = (cart_line){ecom__arena_strndup(&c->arena, l->sku, strlen(l->sku)),
                                  l->quantity, l->unit_price};
        if (c->lines[i].sku == NULL)
            return ECOM_ENOMEM;
    }
    c->line_count = rec->line_count;
    c->updated_at = rec->updated_at;
    return ECOM_OK;
}

int ecom_cart_get(ecom_cart **out, ecom_store *store, const char *cart)
{
    bool guest = false;
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = check_cart_id(store, cart, "cart", &guest);
    if (rc != ECOM_OK)
        return rc;
    if (store->be->version < 3 || store->be->cart_get == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no carts",
                          store->be->name);
    ecom_cart *c = ecom__calloc(1, sizeof *c);
    if (c == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    rc = store->be->cart_get(store->be, cart, ecom__now(store), cart_fn, c);
    if (rc != ECOM_OK) {
        ecom_cart_free(c);
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "reading cart '%s': %s", cart, ecom_strerror(rc));
    }
    *out = c;
    return ECOM_OK;
}

const char *ecom_cart_currency(const ecom_cart *c)
{
    return c && c->currency ? c->currency : "";
}

int64_t ecom_cart_updated_at(const ecom_cart *c)
{
    return c ? c->updated_at : 0;
}

size_t ecom_cart_line_count(const ecom_cart *c)
{
    return c ? c->line_count : 0;
}

const char *ecom_cart_line_sku(const ecom_cart *c, size_t i)
{
    return c && i < c->line_count ? c->lines[i].sku : NULL;
}

int64_t ecom_cart_line_quantity(const ecom_cart *c, size_t i)
{
    return c && i < c->line_count ? c->lines[i].quantity : 0;
}

int64_t ecom_cart_line_unit_price(const ecom_cart *c, size_t i)
{
    return c && i < c->line_count ? c->lines[i].unit_price : 0;
}

void ecom_cart_free(ecom_cart *c)
{
    if (c == NULL)
        return;
    ecom__arena_free(&c->arena);
    ecom__free(c);
}
