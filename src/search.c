/*
 * The search handle: the index built from the catalog (or loaded from a snapshot),
 * the follower thread that keeps it current from the event log, and the locks that
 * let many threads search while it is fed. The result cache is search_cache.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "search.h"
#include "search_cache.h"

#define EVENTS_PER_ROUND 1024
#define BUILD_PAGE 1000
#define DEFAULT_POLL_MS 20

struct ecom_search {
    ecom_store *store;
    ecom_search_options opts;
    ecom__sindex *ix;
    pthread_rwlock_t lock;       /* queries read; applying events writes */
    pthread_mutex_t apply_lock;  /* one applier at a time: the follower or a refresh */
    _Atomic uint64_t applied_seq;
    ecom__search_cache cache;
    pthread_t follower;
    bool follower_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

/* ---- errors: this thread's last failure on a handle ---- */

static _Thread_local struct {
    const ecom_search *owner;
    char msg[512];
} last_error;

static int fail(ecom_search *s, int code, const char *fmt, ...)
{
    last_error.owner = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error.msg, sizeof last_error.msg, fmt, ap);
    va_end(ap);
    return code;
}

/* A failure of the store: its message, kept on the handle. */
static int fail_store(ecom_search *s, int code, const char *what)
{
    return fail(s, code, "%s: %s", what, ecom_errmsg(s->store));
}

const char *ecom_search_errmsg(ecom_search *search)
{
    return search && last_error.owner == search ? last_error.msg : "";
}

/* A failure that has no message yet (the index's own ENOMEM) gets the code's. */
static int explained(ecom_search *s, int rc)
{
    if (rc != ECOM_OK && ecom_search_errmsg(s)[0] == '\0')
        fail(s, rc, "search: %s", ecom_strerror(rc));
    return rc;
}

/* ---- what the index is fed ---- */

/* Whether any variant can be sold now at some location: sellable stock, or backorders
 * allowed. */
static int product_in_stock(bool *in_stock, ecom_store *store, const ecom_product *p,
                            const ecom_locations *locations)
{
    *in_stock = false;
    for (size_t v = 0; v < ecom_product_variant_count(p) && !*in_stock; v++) {
        const char *sku = ecom_product_variant_sku(p, v);
        for (size_t l = 0; l < ecom_locations_count(locations) && !*in_stock; l++) {
            ecom_stock *st = NULL;
            int rc = ecom_stock_get(&st, store, sku, ecom_locations_code(locations, l));
            if (rc != ECOM_OK)
                return rc;
            *in_stock = ecom_stock_sellable(st) > 0 ||
                        ecom_stock_backorder(st) == ECOM_BACKORDER_ALLOW;
            ecom_stock_free(st);
        }
    }
    return ECOM_OK;
}

/* Puts the product as the store has it now (removes it if it is gone). Called with
 * the write lock held. */
static int index_product(ecom_search *s, const char *id, const ecom_locations *locations)
{
    ecom_product *p = NULL;
    int rc = ecom_catalog_get(&p, s->store, id);
    /* Gone, or damaged (ecom check reports it): not for shoppers either way, and a
     * record that cannot be read must not hold the follower back for ever. */
    if (rc == ECOM_ENOTFOUND || rc == ECOM_ECORRUPT)
        return ecom__sindex_remove(s->ix, id);
    if (rc != ECOM_OK)
        return fail_store(s, rc, "search: reading a product");
    bool in_stock;
    rc = product_in_stock(&in_stock, s->store, p, locations);
    if (rc == ECOM_OK)
        rc = ecom__sindex_put(s->ix, p, in_stock);
    else
        fail_store(s, rc, "search: reading stock");
    ecom_product_free(p);
    return rc;
}

/* A stock.changed event ("sku@location"): the owning product's stock flag again. */
static int index_stock(ecom_search *s, const char *key, const ecom_locations *locations)
{
    char sku[2 * ECOM_ID_MAX + 2];
    snprintf(sku, sizeof sku, "%s", key);
    char *at = strrchr(sku, '@');
    if (at)
        *at = '\0';
    ecom_product *p = NULL;
    int rc = ecom_catalog_get_by_sku(&p, NULL, s->store, sku);
    if (rc == ECOM_ENOTFOUND || rc == ECOM_EBADID)
        return ECOM_OK; /* stock of a SKU no product has (yet) */
    if (rc != ECOM_OK)
        return fail_store(s, rc, "search: reading a product by SKU");
    bool in_stock;
    rc = product_in_stock(&in_stock, s->store, p, locations);
    if (rc == ECOM_OK) {
        const char *id = ecom_product_id(p);
        ecom__search_cache_drop_matching(&s->cache, s->ix, id, true);
        rc = ecom__sindex_set_stock(s->ix, id, in_stock);
        ecom__search_cache_drop_matching(&s->cache, s->ix, id, true);
        if (rc == ECOM_ENOTFOUND) /* not indexed: a draft or archived product */
            rc = ECOM_OK;
    } else {
        fail_store(s, rc, "search: reading stock");
    }
    ecom_product_free(p);
    return rc;
}

/* Whether search follows events of this type; *stock tells a stock change from a
 * product change. */
static bool follows(const char *type, bool *stock)
{
    *stock = strcmp(type, "stock.changed") == 0;
    return *stock || strncmp(type, "product.", 8) == 0;
}

/* Applies one event under the write lock, dropping the cached results it touches
 * (those the product matched before the change, and those it matches after). */
static int apply_event(ecom_search *s, const ecom_events *ev, size_t i,
                       const ecom_locations *locations)
{
    bool stock;
    if (!follows(ecom_events_type(ev, i), &stock))
        return ECOM_OK;
    const char *key = ecom_events_key(ev, i);
    if (stock)
        return index_stock(s, key, locations);
    ecom__search_cache_drop_matching(&s->cache, s->ix, key, false);
    int rc = index_product(s, key, locations);
    ecom__search_cache_drop_matching(&s->cache, s->ix, key, false);
    return rc;
}

/* Judging every cached entry against every change costs entries x changes: past this
 * many product changes in a round (an import), the cache is simply emptied. */
#define CHANGES_TO_EMPTY_CACHE 32

static bool empties_cache(const ecom_events *ev, size_t n)
{
    size_t changes = 0;
    for (size_t i = 0; i < n && changes <= CHANGES_TO_EMPTY_CACHE; i++)
        changes += strncmp(ecom_events_type(ev, i), "product.", 8) == 0;
    return changes > CHANGES_TO_EMPTY_CACHE;
}

/*
 * Applies the events logged after applied_seq, a round at a time, until none is left.
 * Each round holds the write lock only while it applies what it read.
 */
static int catch_up(ecom_search *s, uint64_t *applied)
{
    pthread_mutex_lock(&s->apply_lock);
    int rc = ECOM_OK;
    for (;;) {
        uint64_t after = atomic_load(&s->applied_seq);
        ecom_events *ev = NULL;
        ecom_locations *locations = NULL;
        rc = ecom_events_read(&ev, s->store, after, EVENTS_PER_ROUND);
        if (rc != ECOM_OK) {
            fail_store(s, rc, "search: reading the event log");
            break;
        }
        size_t n = ecom_events_count(ev);
        if (n && (rc = ecom_location_list(&locations, s->store)) != ECOM_OK) {
            fail_store(s, rc, "search: listing locations");
            ecom_events_free(ev);
            break;
        }
        pthread_rwlock_wrlock(&s->lock);
        /* Entries are only added under the read lock: none comes back during the round. */
        bool emptied = empties_cache(ev, n);
        if (emptied)
            ecom__search_cache_clear(&s->cache);
        ecom__search_cache_pause(&s->cache, emptied);
        size_t i = 0;
        for (; i < n && rc == ECOM_OK; i++)
            rc = apply_event(s, ev, i, locations);
        if (i && rc == ECOM_OK && (rc = ecom__sindex_prepare(s->ix)) != ECOM_OK)
            fail(s, rc, "search: out of memory");
        ecom__search_cache_pause(&s->cache, false);
        pthread_rwlock_unlock(&s->lock);
        /* Events before a failure are in; the failed one is tried again next round. */
        size_t done = rc == ECOM_OK ? n : i - 1;
        if (done)
            atomic_store(&s->applied_seq, ecom_events_seq(ev, done - 1));
        ecom_events_free(ev);
        ecom_locations_free(locations);
        if (rc != ECOM_OK || n < EVENTS_PER_ROUND)
            break;
    }
    if (applied)
        *applied = atomic_load(&s->applied_seq);
    pthread_mutex_unlock(&s->apply_lock);
    return explained(s, rc);
}

/* ---- building ---- */

/* Indexes every active product, a page at a time. The log's head is read first: what
 * changes during the build is applied again afterwards (applying is idempotent). */
static int build(ecom_search *s)
{
    uint64_t head;
    int rc = ecom_events_last_seq(&head, s->store);
    if (rc != ECOM_OK)
        return fail_store(s, rc, "search: reading the event log");
    ecom_locations *locations = NULL;
    if ((rc = ecom_location_list(&locations, s->store)) != ECOM_OK)
        return fail_store(s, rc, "search: listing locations");
    ecom_list_options lo = ECOM_LIST_OPTIONS_INIT;
    lo.status = ECOM_STATUS_ACTIVE;
    lo.limit = BUILD_PAGE;
    char *cursor = NULL;
    for (;;) {
        ecom_page *page = NULL;
        lo.cursor = cursor;
        if ((rc = ecom_catalog_list(&page, s->store, &lo)) != ECOM_OK) {
            fail_store(s, rc, "search: listing the catalog");
            break;
        }
        for (size_t i = 0; i < ecom_page_count(page) && rc == ECOM_OK; i++) {
            const ecom_product *p = ecom_page_product(page, i);
            bool in_stock;
            rc = product_in_stock(&in_stock, s->store, p, locations);
            rc = rc == ECOM_OK ? ecom__sindex_put(s->ix, p, in_stock)
                               : fail_store(s, rc, "search: reading stock");
        }
        const char *next = ecom_page_next_cursor(page);
        ecom__free(cursor);
        cursor = rc == ECOM_OK && next ? ecom__strdup(next) : NULL;
        if (rc == ECOM_OK && next && cursor == NULL)
            rc = fail(s, ECOM_ENOMEM, "search: out of memory");
        ecom_page_free(page);
        if (rc != ECOM_OK || cursor == NULL)
            break;
    }
    ecom__free(cursor);
    ecom_locations_free(locations);
    if (rc == ECOM_OK && (rc = ecom__sindex_prepare(s->ix)) != ECOM_OK)
        fail(s, rc, "search: out of memory");
    if (rc == ECOM_OK)
        atomic_store(&s->applied_seq, head);
    return rc;
}

/* Catching up costs about what building costs per product (a read and a put per
 * event): past this many events per product indexed, building is the faster start. */
#define EVENTS_PER_PRODUCT_TO_REBUILD 1

/* Loads the snapshot if it is one of this store's past (not ahead of its log) and
 * starting from it is faster than building. */
static bool load_snapshot(ecom_search *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    ecom__sindex *ix = NULL;
    uint64_t seq = 0, head = 0;
    int rc = ecom__sindex_load(&ix, f, &seq);
    fclose(f);
    if (rc == ECOM_OK && ecom_events_last_seq(&head, s->store) == ECOM_OK && seq <= head &&
        head - seq <= (uint64_t)ecom__sindex_products(ix) * EVENTS_PER_PRODUCT_TO_REBUILD +
                          EVENTS_PER_ROUND) {
        ecom__sindex_free(s->ix);
        s->ix = ix;
        atomic_store(&s->applied_seq, seq);
        return true;
    }
    ecom__sindex_free(ix);
    return false;
}

/* ---- the follower ---- */

static void *follower_main(void *arg)
{
    ecom_search *s = arg;
    int64_t poll = s->opts.poll_ms > 0 ? s->opts.poll_ms : DEFAULT_POLL_MS;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->stop_lock);
        catch_up(s, NULL); /* a failure is retried at the next poll */
        pthread_mutex_lock(&s->stop_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += poll / 1000;
        until.tv_nsec += (long)(poll % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stopping &&
               pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

/* ---- the handle ---- */

static int check_options(const ecom_search_options *opts)
{
    if (opts->version != ECOM_SEARCH_OPTIONS_VERSION)
        return ECOM_EVERSION;
    return ECOM_OK;
}

static void destroy(ecom_search *s)
{
    ecom__search_cache_destroy(&s->cache);
    ecom__sindex_free(s->ix);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_mutex_destroy(&s->apply_lock);
    pthread_rwlock_destroy(&s->lock);
    ecom__free(s);
}

int ecom_search_open(ecom_search **out, ecom_store *store, const ecom_search_options *opts)
{
    static const ecom_search_options defaults = ECOM_SEARCH_OPTIONS_INIT;
    if (out == NULL || store == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    int rc = check_options(opts);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "ecom_search_options version %d; expected %d",
                          opts->version, ECOM_SEARCH_OPTIONS_VERSION);
    ecom_search *s = ecom__calloc(1, sizeof *s);
    if (s == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    s->store = store;
    s->opts = *opts;
    s->opts.snapshot = NULL; /* the caller's string is not ours to keep */
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->apply_lock, NULL);
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    ecom__search_cache_init(&s->cache, opts->cache_ttl_ms, opts->cache_entries);
    if ((rc = ecom__sindex_new(&s->ix)) != ECOM_OK)
        fail(s, rc, "search: out of memory for the index");
    if (rc == ECOM_OK && !(opts->snapshot && load_snapshot(s, opts->snapshot)))
        rc = build(s);
    if (rc == ECOM_OK)
        rc = catch_up(s, NULL);
    explained(s, rc);
    if (rc == ECOM_OK && !opts->manual) {
        if (pthread_create(&s->follower, NULL, follower_main, s) == 0)
            s->follower_started = true;
        else
            rc = fail(s, ECOM_ENOMEM, "search: cannot start the follower thread");
    }
    if (rc != ECOM_OK) {
        ecom__fail(store, rc, "%s", ecom_search_errmsg(s));
        destroy(s);
        return rc;
    }
    *out = s;
    return ECOM_OK;
}

void ecom_search_close(ecom_search *search)
{
    if (search == NULL)
        return;
    if (search->follower_started) {
        pthread_mutex_lock(&search->stop_lock);
        search->stopping = true;
        pthread_cond_signal(&search->stop_cond);
        pthread_mutex_unlock(&search->stop_lock);
        pthread_join(search->follower, NULL);
    }
    if (last_error.owner == search)
        last_error.owner = NULL;
    destroy(search);
}

int ecom_search_refresh(ecom_search *search, uint64_t *applied)
{
    if (search == NULL)
        return ECOM_EINVAL;
    if (last_error.owner == search)
        last_error.msg[0] = '\0'; /* a message below is this call's */
    return catch_up(search, applied);
}

int ecom_search_status_get(ecom_search_status *out, ecom_search *search)
{
    if (out == NULL || search == NULL)
        return search ? fail(search, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    memset(out, 0, sizeof *out);
    out->applied_seq = atomic_load(&search->applied_seq);
    int rc = ecom_events_last_seq(&out->head_seq, search->store);
    if (rc != ECOM_OK)
        return fail_store(search, rc, "search: reading the event log");
    out->events_behind = out->head_seq > out->applied_seq ? out->head_seq - out->applied_seq : 0;
    if (out->events_behind) {
        ecom_events *ev = NULL;
        if (ecom_events_read(&ev, search->store, out->applied_seq, 1) == ECOM_OK &&
            ecom_events_count(ev) == 1) {
            int64_t age = ecom_store_now(search->store) - ecom_events_time(ev, 0);
            out->ms_behind = age > 0 ? age : 0;
        }
        ecom_events_free(ev);
    }
    pthread_rwlock_rdlock(&search->lock);
    out->products = ecom__sindex_products(search->ix);
    out->memory_bytes = ecom__sindex_memory(search->ix);
    pthread_rwlock_unlock(&search->lock);
    ecom__search_cache_stats(&search->cache, &out->cache_entries, &out->cache_hits,
                             &out->cache_misses);
    return ECOM_OK;
}

int ecom_search_save(ecom_search *search, const char *path)
{
    if (search == NULL || path == NULL)
        return search ? fail(search, ECOM_EINVAL, "path: NULL") : ECOM_EINVAL;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fail(search, ECOM_EINVAL, "path: too long");
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return fail(search, ECOM_EIO, "search: cannot write '%s': %s", tmp, strerror(errno));
    /* The applier is held off so that the sequence saved is the one the index shows. */
    pthread_mutex_lock(&search->apply_lock);
    pthread_rwlock_rdlock(&search->lock);
    int rc = ecom__sindex_save(search->ix, f, atomic_load(&search->applied_seq));
    pthread_rwlock_unlock(&search->lock);
    pthread_mutex_unlock(&search->apply_lock);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = rc == ECOM_OK ? ECOM_EIO : rc;
    if (fclose(f) != 0 && rc == ECOM_OK)
        rc = ECOM_EIO;
    if (rc == ECOM_OK && rename(tmp, path) != 0)
        rc = ECOM_EIO;
    if (rc != ECOM_OK) {
        remove(tmp);
        return fail(search, rc, "search: saving the snapshot to '%s' failed", path);
    }
    return ECOM_OK;
}

/* ---- searching ---- */

int ecom_search_run(ecom_search_result **out, ecom_search *search,
                    const ecom_search_request *request)
{
    if (out == NULL || search == NULL || request == NULL)
        return search ? fail(search, ECOM_EINVAL, "%s: NULL", out ? "request" : "out")
                      : ECOM_EINVAL;
    *out = NULL;
    char msg[256] = "";
    int rc = ecom__sindex_check(request, msg, sizeof msg);
    if (rc != ECOM_OK)
        return fail(search, rc, "%s", msg);
    int64_t now = ecom_store_now(search->store);
    ecom__cache_key key;
    rc = ecom__search_cache_key(&key, request);
    if (rc != ECOM_OK)
        return fail(search, rc, "search: out of memory");
    if (ecom__search_cache_get(out, &search->cache, &key, now) == ECOM_OK) {
        ecom__search_cache_key_free(&key);
        return ECOM_OK;
    }
    /* Cached under the read lock: no change can slip in between the run and the put,
     * so every change after the put drops the entry if it matters to it. */
    pthread_rwlock_rdlock(&search->lock);
    rc = ecom__sindex_run(out, search->ix, request, msg, sizeof msg);
    if (rc == ECOM_OK)
        ecom__search_cache_put(&search->cache, &key, request, *out, now);
    pthread_rwlock_unlock(&search->lock);
    ecom__search_cache_key_free(&key);
    return rc == ECOM_OK ? ECOM_OK : fail(search, rc, "%s", msg);
}

int ecom_search_query(ecom_search_result **out, ecom_search *search, const char *query)
{
    if (out == NULL || search == NULL || query == NULL)
        return search ? fail(search, ECOM_EINVAL, "%s: NULL", out ? "query" : "out")
                      : ECOM_EINVAL;
    *out = NULL;
    char msg[256] = "";
    ecom__parsed_query *q = NULL;
    int rc = ecom__query_parse(&q, query, strlen(query), msg, sizeof msg);
    if (rc != ECOM_OK)
        return fail(search, rc, "%s", rc == ECOM_ENOMEM ? "out of memory" : msg);
    rc = ecom_search_run(out, search, ecom__query_request(q));
    ecom__query_free(q);
    return rc;
}
