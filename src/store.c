/* Opening and closing a store: URI scheme dispatch, the backend registry, options. */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "orders.h"

#ifdef ECOM_WITH_LMDB
extern const ecom_backend_factory ecom__lmdb_factory;
#endif

static const ecom_backend_factory *const builtin_factories[] = {
#ifdef ECOM_WITH_LMDB
    &ecom__lmdb_factory,
#endif
    NULL};

/* Schemes a full build knows, so a missing one is "not compiled in", not "unknown". */
static const char *const known_schemes[] = {"lmdb", "postgresql", "postgres", "redis",
                                            "redis+cluster", NULL};

#define ECOM__MAX_REGISTERED 16
static const ecom_backend_factory *registered[ECOM__MAX_REGISTERED];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

int ecom_backend_register(const ecom_backend_factory *factory)
{
    if (factory == NULL || factory->scheme == NULL || factory->open == NULL)
        return ECOM_EINVAL;
    if (factory->version < 1 || factory->version > ECOM_BACKEND_VERSION)
        return ECOM_EVERSION;
    int rc = ECOM_ENOMEM;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < ECOM__MAX_REGISTERED; i++) {
        if (registered[i] == NULL || strcmp(registered[i]->scheme, factory->scheme) == 0) {
            registered[i] = factory;
            rc = ECOM_OK;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const ecom_backend_factory *ecom_backend_lookup(const char *scheme)
{
    const ecom_backend_factory *found = NULL;
    if (scheme == NULL)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < ECOM__MAX_REGISTERED && registered[i]; i++)
        if (strcmp(registered[i]->scheme, scheme) == 0)
            found = registered[i];
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; found == NULL && builtin_factories[i]; i++)
        if (strcmp(builtin_factories[i]->scheme, scheme) == 0)
            found = builtin_factories[i];
    return found;
}

/* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
static int parse_scheme(char *out, size_t out_size, const char *uri)
{
    size_t n = 0;
    for (; uri[n] && uri[n] != ':'; n++) {
        char c = uri[n];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        if (!alpha && !(n > 0 && other))
            return ECOM_EURI;
    }
    if (uri[n] != ':' || n == 0 || n >= out_size)
        return ECOM_EURI;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] + 32 : uri[i]);
    out[n] = '\0';
    return ECOM_OK;
}

static bool scheme_known(const char *scheme)
{
    for (size_t i = 0; known_schemes[i]; i++)
        if (strcmp(known_schemes[i], scheme) == 0)
            return true;
    return false;
}

static int open_backend(ecom_store *store, const char *uri)
{
    char scheme[32];
    if (uri == NULL || *uri == '\0')
        return ecom__fail(store, ECOM_EURI, "store URI is empty");
    if (parse_scheme(scheme, sizeof scheme, uri) != ECOM_OK)
        return ecom__fail(store, ECOM_EURI,
                          "store URI '%.200s' has no scheme (expected e.g. lmdb:///path)", uri);
    const ecom_backend_factory *factory = ecom_backend_lookup(scheme);
    if (factory == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED,
                          scheme_known(scheme)
                              ? "the %s backend is not compiled into this libecom"
                              : "unknown store URI scheme '%s'",
                          scheme);
    if (factory->version < 1 || factory->version > ECOM_BACKEND_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "backend '%s' has contract version %d; "
                          "this libecom knows 1..%d", scheme, factory->version,
                          ECOM_BACKEND_VERSION);
    ecom_backend *be = NULL;
    int rc = factory->open(&be, store, uri, &store->opts);
    if (rc != ECOM_OK) {
        if (store->open_err.code == ECOM_OK)
            ecom__fail(store, rc, "cannot open '%.200s': %s", uri, ecom_strerror(rc));
        return rc;
    }
    if (be == NULL || be->version < 1 || be->version > ECOM_BACKEND_VERSION) {
        int version = be ? be->version : 0;
        if (be && be->close)
            be->close(be);
        return ecom__fail(store, ECOM_EVERSION, "backend '%s' opened with contract version %d",
                          scheme, version);
    }
    store->be = be;
    ecom__committer_fit(&store->committer, be->version);
    return ECOM_OK;
}

/* The checkout's prices and the times to keep things: a value out of range is refused,
 * never quietly read as the default. */
static int options_ok(ecom_store *store, const ecom_options *o)
{
    if (o->shipping_fee < 0 || o->shipping_fee > ECOM_PRICE_MAX)
        return ecom__fail(store, ECOM_EINVAL, "options: shipping_fee %lld is not in 0..%lld",
                          (long long)o->shipping_fee, (long long)ECOM_PRICE_MAX);
    if (o->tax_rate_bp < 0 || o->tax_rate_bp > ECOM_TAX_RATE_BP_MAX)
        return ecom__fail(store, ECOM_EINVAL, "options: tax_rate_bp %d is not in 0..%d",
                          (int)o->tax_rate_bp, ECOM_TAX_RATE_BP_MAX);
    const struct {
        const char *name;
        int64_t value;
    } ttls[] = {{"idempotency_ttl_ms", o->idempotency_ttl_ms},
                {"user_cart_ttl_ms", o->user_cart_ttl_ms},
                {"guest_cart_ttl_ms", o->guest_cart_ttl_ms}};
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++)
        if (ttls[i].value < 0)
            return ecom__fail(store, ECOM_EINVAL, "options: %s %lld is negative (0: the "
                              "default)", ttls[i].name, (long long)ttls[i].value);
    return ECOM_OK;
}

int ecom_store_open(ecom_store **out, const char *uri, const ecom_options *opts)
{
    static const ecom_options defaults = ECOM_OPTIONS_INIT;
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    ecom_store *store = ecom__calloc(1, sizeof *store);
    if (store == NULL)
        return ECOM_ENOMEM;
    if (pthread_key_create(&store->err_key, NULL) != 0) {
        ecom__free(store);
        return ECOM_ENOMEM;
    }
    pthread_mutex_init(&store->err_lock, NULL);
    ecom__test_payments_init(&store->test_payments, store);
    *out = store;
    store->flash_cache = ecom__flash_cache_new();
    if (store->flash_cache == NULL || ecom__committer_init(&store->committer) != ECOM_OK)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    store->opts = defaults;
    if (opts && (opts->version < 1 || opts->version > ECOM_OPTIONS_VERSION))
        return ecom__fail(store, ECOM_EVERSION, "ecom_options version %d; this libecom knows "
                          "1..%d", opts->version, ECOM_OPTIONS_VERSION);
    /* A version 1 struct ends where version 2 added fields: copy only what it has. */
    if (opts)
        memcpy(&store->opts, opts, opts->version == 1 ? offsetof(ecom_options, payments)
                                                      : sizeof *opts);
    store->opts.version = ECOM_OPTIONS_VERSION;
    int rc = options_ok(store, &store->opts);
    if (rc != ECOM_OK)
        return rc;
    const ecom_payment_provider *pp = store->opts.payments;
    if (pp && (pp->version != ECOM_PAYMENT_PROVIDER_VERSION || !pp->authorize || !pp->capture ||
               !pp->void_charge || !pp->refund || !pp->lookup))
        return ecom__fail(store, ECOM_EVERSION, "payment provider '%s': version %d or a missing "
                          "call; this libecom needs version %d with every call",
                          pp->name ? pp->name : "?", pp->version, ECOM_PAYMENT_PROVIDER_VERSION);
    return open_backend(store, uri);
}

void ecom_store_close(ecom_store *store)
{
    if (store == NULL)
        return;
    ecom__committer_destroy(store); /* completes queued claims: needs the backend */
    if (store->be)
        store->be->close(store->be);
    ecom__flash_cache_free(store->flash_cache);
    pthread_key_delete(store->err_key);
    for (ecom__errslot *s = store->err_slots, *next; s; s = next) {
        next = s->next;
        ecom__free(s);
    }
    pthread_mutex_destroy(&store->err_lock);
    ecom__free(store);
}

const char *ecom_store_backend(const ecom_store *store)
{
    return store && store->be ? store->be->name : "none";
}

int64_t ecom__now(const ecom_store *store)
{
    if (store && store->opts.clock)
        return store->opts.clock(store->opts.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ecom_store_now(const ecom_store *store)
{
    return ecom__now(store);
}

int ecom__enter(ecom_store *store)
{
    if (store == NULL)
        return ECOM_EINVAL;
    if (store->be == NULL)
        return ecom__fail(store, ECOM_EINVAL, "the store is not open: %s", store->open_err.msg);
    ecom__clear(store);
    return ECOM_OK;
}

int ecom__check_id_arg(ecom_store *store, const char *id, const char *field)
{
    char msg[160];
    if (id == NULL)
        return ecom__fail(store, ECOM_EINVAL, "%s: NULL", field);
    int rc = ecom__check_id(id, field, msg, sizeof msg);
    return rc ? ecom__fail(store, rc, "%s", msg) : ECOM_OK;
}
