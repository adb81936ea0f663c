/*
 * A test-only backend that wraps another and fails on command: the nth step (an
 * operation, or one record handed back to the core) returns ECOM_EBACKEND, and
 * records can be cut short. URI: fault:<inner URI>, e.g. fault:lmdb:///tmp/x.
 * It proves that the core turns any backend failure into a clean error.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "support/support.h"

typedef struct fault_backend {
    ecom_backend base;
    ecom_backend *inner;
    ecom_store *store;
} fault_backend;

static atomic_long countdown;
static atomic_int corrupt;

void conf_fault_arm(long n)
{
    atomic_store(&countdown, n);
}

bool conf_fault_disarm(void)
{
    return atomic_exchange(&countdown, 0) <= 0;
}

void conf_fault_corrupt(int on)
{
    atomic_store(&corrupt, on);
}

/* One step: fails when the countdown passes 1. */
static int step(fault_backend *fb)
{
    if (atomic_fetch_sub(&countdown, 1) == 1)
        return ecom_backend_error(fb->store, ECOM_EBACKEND, "fault: injected backend failure");
    return ECOM_OK;
}

static fault_backend *of(ecom_backend *be)
{
    return (fault_backend *)be;
}

/* Records on their way back to the core pass here, one step each. */
typedef struct relay {
    fault_backend *fb;
    ecom_product_fn fn;
    ecom_event_fn event_fn;
    ecom_category_fn category_fn;
    void *ctx;
} relay;

static int relay_product(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                         const void *key, size_t key_len)
{
    relay *r = ctx;
    int rc = step(r->fb);
    if (rc != ECOM_OK)
        return rc;
    ecom_product_rec cut = *rec;
    if (atomic_load(&corrupt))
        cut.data_len /= 2;
    return r->fn(r->ctx, &cut, meta, key, key_len);
}

static int relay_event(void *ctx, const ecom_event_rec *ev)
{
    relay *r = ctx;
    int rc = step(r->fb);
    return rc != ECOM_OK ? rc : r->event_fn(r->ctx, ev);
}

static int relay_category(void *ctx, const char *path, uint64_t products)
{
    relay *r = ctx;
    int rc = step(r->fb);
    return rc != ECOM_OK ? rc : r->category_fn(r->ctx, path, products);
}

static void fault_close(ecom_backend *be)
{
    of(be)->inner->close(of(be)->inner);
    free(be);
}

static int fault_write(ecom_backend *be, ecom_product_write *w, size_t n, int64_t now)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->product_write(of(be)->inner, w, n, now);
}

static int fault_delete(ecom_backend *be, const char *id, uint64_t expected, int64_t now)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->product_delete(of(be)->inner, id, expected, now);
}

static int fault_get(ecom_backend *be, const char *id, ecom_product_fn fn, void *ctx)
{
    relay r = {.fb = of(be), .fn = fn, .ctx = ctx};
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->product_get(of(be)->inner, id, relay_product, &r);
}

static int fault_get_by_sku(ecom_backend *be, const char *sku, ecom_product_fn fn, void *ctx)
{
    relay r = {.fb = of(be), .fn = fn, .ctx = ctx};
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->product_get_by_sku(of(be)->inner, sku, relay_product, &r);
}

static int fault_scan(ecom_backend *be, const ecom_scan *scan, ecom_product_fn fn, void *ctx)
{
    relay r = {.fb = of(be), .fn = fn, .ctx = ctx};
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->product_scan(of(be)->inner, scan, relay_product, &r);
}

static int fault_categories(ecom_backend *be, ecom_category_fn fn, void *ctx)
{
    relay r = {.fb = of(be), .category_fn = fn, .ctx = ctx};
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->category_list(of(be)->inner, relay_category, &r);
}

static int fault_events(ecom_backend *be, uint64_t after, size_t max, ecom_event_fn fn,
                        void *ctx)
{
    relay r = {.fb = of(be), .event_fn = fn, .ctx = ctx};
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->events_read(of(be)->inner, after, max, relay_event, &r);
}

static int fault_last_seq(ecom_backend *be, uint64_t *seq)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->events_last_seq(of(be)->inner, seq);
}

static int fault_check(ecom_backend *be, ecom_check_sink *sink)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->check(of(be)->inner, sink);
}

static int fault_inventory_apply(ecom_backend *be, ecom_inventory_op *ops, size_t n,
                                 int64_t now)
{
    int rc = step(of(be));
    ecom_backend *inner = of(be)->inner;
    if (rc == ECOM_OK && be->version < 5) /* as a backend built before version 5 */
        return test_old_inventory_apply(inner, inner->inventory_apply, ops, n, now);
    return rc ? rc : inner->inventory_apply(inner, ops, n, now);
}

static int fault_stock_get(ecom_backend *be, const char *sku, const char *location,
                           ecom_stock_rec *out)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->stock_get(of(be)->inner, sku, location, out);
}

static int fault_reservation_get(ecom_backend *be, const char *id, ecom_reservation_fn fn,
                                 void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->reservation_get(of(be)->inner, id, fn, ctx);
}

static int fault_location_list(ecom_backend *be, ecom_location_fn fn, void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->location_list(of(be)->inner, fn, ctx);
}

static int fault_flash_get(ecom_backend *be, const char *sale, ecom_flash_status *out)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->flash_get(of(be)->inner, sale, out);
}

static int fault_claim_get(ecom_backend *be, const char *sale, uint64_t ticket, int64_t now,
                           ecom_claim_result *out)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->claim_get(of(be)->inner, sale, ticket, now, out);
}

static int fault_flash_keys(ecom_backend *be, const char *sale, ecom_key_fn fn, void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->flash_keys(of(be)->inner, sale, fn, ctx);
}

/* ---- version 3 ---- */

static int fault_cart_apply(ecom_backend *be, ecom_cart_op *ops, size_t n, int64_t now)
{
    int rc = step(of(be));
    ecom_backend *inner = of(be)->inner;
    if (rc == ECOM_OK && be->version < 5)
        return test_old_cart_apply(inner, inner->cart_apply, ops, n, now);
    return rc ? rc : inner->cart_apply(inner, ops, n, now);
}

static int fault_cart_get(ecom_backend *be, const char *cart, int64_t now, ecom_cart_fn fn,
                          void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->cart_get(of(be)->inner, cart, now, fn, ctx);
}

static int fault_idem_apply(ecom_backend *be, ecom_idem_op *ops, size_t n, int64_t now)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->idem_apply(of(be)->inner, ops, n, now);
}

static int fault_order_apply(ecom_backend *be, ecom_order_op *ops, size_t n, int64_t now)
{
    int rc = step(of(be));
    ecom_backend *inner = of(be)->inner;
    if (rc == ECOM_OK && be->version < 5)
        return test_old_order_apply(inner, inner->order_apply, ops, n, now);
    return rc ? rc : inner->order_apply(inner, ops, n, now);
}

static int fault_order_get(ecom_backend *be, const char *id, ecom_order_fn fn, void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->order_get(of(be)->inner, id, fn, ctx);
}

static int fault_order_scan(ecom_backend *be, const ecom_order_scan *scan, ecom_order_fn fn,
                            void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->order_scan(of(be)->inner, scan, fn, ctx);
}

static int fault_consumer_get(ecom_backend *be, const char *name, uint64_t *seq)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->consumer_get(of(be)->inner, name, seq);
}

static int fault_consumer_ack(ecom_backend *be, const char *name, uint64_t seq)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->consumer_ack(of(be)->inner, name, seq);
}

static int fault_payment_apply(ecom_backend *be, ecom_payment_op *ops, size_t n, int64_t now)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->payment_apply(of(be)->inner, ops, n, now);
}

static int fault_payment_get(ecom_backend *be, const char *key, ecom_payment_fn fn, void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->payment_get(of(be)->inner, key, fn, ctx);
}

static int fault_payment_list(ecom_backend *be, const char *order_id, ecom_payment_fn fn,
                              void *ctx)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->payment_list(of(be)->inner, order_id, fn, ctx);
}

/* One step for the whole mixed batch, as for each kind's apply. */
static int fault_write_batch(ecom_backend *be, ecom_write_item *items, size_t n, int64_t now)
{
    int rc = step(of(be));
    if (rc == ECOM_OK && be->version < 5)
        return test_old_write_batch(of(be)->inner, items, n, now);
    return rc ? rc : of(be)->inner->write_batch(of(be)->inner, items, n, now);
}

/* ---- version 5 ---- */

static int fault_purchase_limits_get(ecom_backend *be, const char *const *skus, size_t n,
                                     int64_t *limits)
{
    int rc = step(of(be));
    return rc ? rc : of(be)->inner->purchase_limits_get(of(be)->inner, skus, n, limits);
}

static int fault_open(ecom_backend **out, ecom_store *store, const char *uri,
                      const ecom_options *opts)
{
    /* "fault3:" presents contract version 3 at most: the core's ways for older
     * backends (no dependent batch items, no purchase limits read back) run over
     * the same inner backend. */
    int v3 = strncmp(uri, "fault3:", 7) == 0;
    const char *inner_uri = strchr(uri, ':') + 1;
    const char *colon = strchr(inner_uri, ':');
    char scheme[32];
    if (colon == NULL || (size_t)(colon - inner_uri) >= sizeof scheme)
        return ecom_backend_error(store, ECOM_EURI, "fault: expected fault:<inner URI>");
    memcpy(scheme, inner_uri, (size_t)(colon - inner_uri));
    scheme[colon - inner_uri] = '\0';
    const ecom_backend_factory *factory = ecom_backend_lookup(scheme);
    if (factory == NULL)
        return ecom_backend_error(store, ECOM_EUNSUPPORTED, "fault: no inner backend");
    fault_backend *fb = calloc(1, sizeof *fb);
    if (fb == NULL)
        return ECOM_ENOMEM;
    int rc = factory->open(&fb->inner, store, inner_uri, opts);
    if (rc != ECOM_OK) {
        free(fb);
        return rc;
    }
    fb->store = store;
    fb->base = (ecom_backend){
        .version = v3 && fb->inner->version > 3 ? 3 : fb->inner->version,
        .name = fb->inner->name, .close = fault_close,
        .product_write = fault_write, .product_delete = fault_delete,
        .product_get = fault_get, .product_get_by_sku = fault_get_by_sku,
        .product_scan = fault_scan, .category_list = fault_categories,
        .events_read = fault_events, .events_last_seq = fault_last_seq,
        .check = fault_check, .inventory_apply = fault_inventory_apply,
        .stock_get = fault_stock_get, .reservation_get = fault_reservation_get,
        .location_list = fault_location_list, .flash_get = fault_flash_get,
        .claim_get = fault_claim_get, .flash_keys = fault_flash_keys,
        .cart_apply = fault_cart_apply, .cart_get = fault_cart_get,
        .idem_apply = fault_idem_apply, .order_apply = fault_order_apply,
        .order_get = fault_order_get, .order_scan = fault_order_scan,
        .consumer_get = fault_consumer_get, .consumer_ack = fault_consumer_ack,
        .payment_apply = fault_payment_apply, .payment_get = fault_payment_get,
        .payment_list = fault_payment_list};
    /* Only what the inner backend has: a NULL write_batch makes the core fall back. */
    if (fb->inner->version >= 3 && fb->inner->write_batch)
        fb->base.write_batch = fault_write_batch;
    if (fb->base.version >= 5 && fb->inner->purchase_limits_get)
        fb->base.purchase_limits_get = fault_purchase_limits_get;
    *out = &fb->base;
    return ECOM_OK;
}

static const ecom_backend_factory fault_factory = {ECOM_BACKEND_VERSION, "fault", fault_open};
static const ecom_backend_factory fault3_factory = {3, "fault3", fault_open};

int conf_fault_register(void)
{
    int rc = ecom_backend_register(&fault_factory);
    return rc == ECOM_OK ? ecom_backend_register(&fault3_factory) : rc;
}
