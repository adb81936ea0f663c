/* The LMDB backend's plumbing: URI, open/close, per-thread read txns, write txns
 * that grow the map, and error reporting. */

/* For pthread_rwlockattr_setkind_np: a map resize must not starve behind readers. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lmdb_commerce.h"
#include "lmdb_inventory.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define MAX_READERS 1022
#define MAX_DBS 32
/* A write that keeps finding the map full or resized gives up after this many
 * runs (doubling from the smallest map reaches any size in far fewer). */
#define MAX_WRITE_RUNS 64
#define MAX_READ_RUNS 8

/* ---- errors ---- */

__attribute__((format(printf, 3, 0))) static int vfail(ecom_store *store, int code,
                                                       const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return ecom_backend_error(store, code, msg);
}

__attribute__((format(printf, 3, 4))) static int fail_store(ecom_store *store, int code,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(store, code, fmt, ap);
    va_end(ap);
    return code;
}

int ecom__lmdb_fail(ecom__lmdb *be, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(be->store, code, fmt, ap);
    va_end(ap);
    return code;
}

int ecom__lmdb_mdb(ecom__lmdb *be, const char *op, int rc)
{
    if (rc == MDB_MAP_FULL)
        return ECOM__LMDB_GROW;
    if (rc == MDB_MAP_RESIZED)
        return ECOM__LMDB_ADOPT;
    int code = ECOM_EBACKEND;
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
        code = ECOM_ECORRUPT;
    else if (rc == ENOMEM)
        code = ECOM_ENOMEM;
    return ecom__lmdb_fail(be, code, "lmdb: %s: %s", op, mdb_strerror(rc));
}

void ecom__lmdb_quote(char *out, size_t out_size, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = s;
    size_t o = 0;
    if (out_size < 8) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    out[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        if (o + 9 > out_size) { /* room for an escape, "...'" and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\' && b[i] != '\'') {
            out[o++] = (char)b[i];
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[b[i] >> 4];
            out[o++] = hex[b[i] & 15];
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

int ecom__lmdb_check_get(ecom__lmdb *be, MDB_txn *txn, MDB_dbi dbi, const void *key,
                         size_t len, MDB_val *v)
{
    MDB_val k = {len, (void *)key};
    if (len == 0 || len > be->max_key)
        return 0;
    int rc = mdb_get(txn, dbi, &k, v);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return rc == 0;
    return ecom__lmdb_mdb(be, "mdb_get (check)", rc);
}

void ecom__lmdb_report(ecom_check_sink *sink, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sink->report(sink, msg);
}

/* ---- the URI and the directory ---- */

/* lmdb:///abs, lmdb:/abs or lmdb:rel: *path receives a copy of the path. */
static int parse_uri(ecom_store *store, const char *uri, char **path)
{
    if (uri == NULL || strncasecmp(uri, "lmdb:", 5) != 0)
        return fail_store(store, ECOM_EURI, "lmdb: URI must start with 'lmdb:'");
    const char *p = uri + 5;
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        if (*p != '/')
            return fail_store(store, ECOM_EURI,
                              *p ? "lmdb: URI '%.200s' names a host; use lmdb:///abs/path or "
                                   "lmdb:relative/path"
                                 : "lmdb: URI '%.200s' has an empty path",
                              uri);
    }
    if (*p == '\0')
        return fail_store(store, ECOM_EURI, "lmdb: URI '%.200s' has an empty path", uri);
    if (strpbrk(p, "?#"))
        return fail_store(store, ECOM_EURI,
                          "lmdb: URI '%.200s' has a query or fragment ('?' or '#'); "
                          "the LMDB backend takes none",
                          uri);
    if ((*path = ecom__strdup(p)) == NULL)
        return ECOM_ENOMEM;
    return ECOM_OK;
}

static int mkdir_one(ecom_store *store, const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return ECOM_OK;
    return fail_store(store, ECOM_EBACKEND, "lmdb: cannot create directory '%.300s': %s", dir,
                      strerror(errno));
}

/* mkdir -p: each missing ancestor, then the directory itself. */
static int mkdir_p(ecom_store *store, char *path)
{
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        int rc = mkdir_one(store, path);
        *s = '/';
        if (rc != ECOM_OK)
            return rc;
    }
    return mkdir_one(store, path);
}

static int ensure_dir(ecom_store *store, char *path, const ecom_options *opts)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return fail_store(store, ECOM_EBACKEND, "lmdb: '%.300s' is not a directory", path);
        return ECOM_OK;
    }
    if (errno != ENOENT)
        return fail_store(store, ECOM_EBACKEND, "lmdb: cannot reach '%.300s': %s", path,
                          strerror(errno));
    if (!opts->create || opts->read_only)
        return fail_store(store, ECOM_ENOTFOUND,
                          "lmdb: store directory '%.300s' does not exist (create is off)", path);
    return mkdir_p(store, path);
}

/* ---- per-thread state ---- */

static void tls_unlink(ecom__lmdb *be, ecom__lmdb_tls *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        be->tls_list = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

/* A thread exits: its reader slot goes back to LMDB now, not at close. */
static void tls_destroy(void *p)
{
    ecom__lmdb_tls *t = p;
    ecom__lmdb *be = t->be;
    pthread_mutex_lock(&be->tls_lock);
    tls_unlink(be, t);
    pthread_mutex_unlock(&be->tls_lock);
    if (t->txn)
        mdb_txn_abort(t->txn);
    ecom__free(t);
}

static ecom__lmdb_tls *tls_get(ecom__lmdb *be)
{
    ecom__lmdb_tls *t = pthread_getspecific(be->tls_key);
    if (t)
        return t;
    if ((t = ecom__calloc(1, sizeof *t)) == NULL)
        return NULL;
    t->be = be;
    if (pthread_setspecific(be->tls_key, t) != 0) {
        ecom__free(t);
        return NULL;
    }
    pthread_mutex_lock(&be->tls_lock);
    t->next = be->tls_list;
    if (t->next)
        t->next->prev = t;
    be->tls_list = t;
    pthread_mutex_unlock(&be->tls_lock);
    return t;
}

/* The map lock is taken once per thread however deep the calls nest (a callback
 * may call the backend again): a nested rdlock would deadlock behind a waiting
 * resize, since the lock prefers writers. */
static void lock_shared(ecom__lmdb *be, ecom__lmdb_tls *t)
{
    if (t->depth++ == 0)
        pthread_rwlock_rdlock(&be->map_lock);
}

static void unlock_shared(ecom__lmdb *be, ecom__lmdb_tls *t)
{
    if (--t->depth == 0)
        pthread_rwlock_unlock(&be->map_lock);
}

/*
 * Changes the map size with no txn live in this process. Reset read txns may
 * stay: they hold no pointer into the map and renew reads the new one.
 * why: ECOM__LMDB_GROW (double the size seen when the write failed, unless
 * another thread did already) or ECOM__LMDB_ADOPT (take the size in the file).
 */
static int resize(ecom__lmdb *be, ecom__lmdb_tls *t, int why, size_t seen)
{
    if (t->depth > 0)
        return ecom__lmdb_fail(be, ECOM_EBACKEND,
                               "lmdb: the map must grow, which cannot happen while this thread "
                               "is inside a read (a backend call from a callback)");
    int rc = 0;
    pthread_rwlock_wrlock(&be->map_lock);
    MDB_envinfo info;
    mdb_env_info(be->env, &info);
    if (why == ECOM__LMDB_ADOPT)
        rc = mdb_env_set_mapsize(be->env, 0);
    else if (info.me_mapsize == seen && seen > SIZE_MAX / 2)
        rc = ENOMEM;
    else if (info.me_mapsize == seen)
        rc = mdb_env_set_mapsize(be->env, seen * 2);
    pthread_rwlock_unlock(&be->map_lock);
    if (rc == ENOMEM && why == ECOM__LMDB_GROW)
        return ecom__lmdb_fail(be, ECOM_EBACKEND, "lmdb: the map cannot grow past %zu bytes",
                               seen);
    return rc ? ecom__lmdb_mdb(be, "mdb_env_set_mapsize", rc) : ECOM_OK;
}

/* ---- read snapshots ---- */

/* Renews this thread's cached txn, or begins one (nested reads get their own). */
static int begin_snapshot(ecom__lmdb *be, ecom__lmdb_read *r)
{
    ecom__lmdb_tls *t = r->tls;
    if (t->txn && !t->txn_busy) {
        if (mdb_txn_renew(t->txn) == 0) {
            t->txn_busy = 1;
            r->txn = t->txn;
            r->cached = 1;
            return 0;
        }
        /* A txn that failed to renew is dropped: begin's error says why. */
        mdb_txn_abort(t->txn);
        t->txn = NULL;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    r->txn = txn;
    if (t->txn == NULL) {
        t->txn = txn;
        t->txn_busy = 1;
        r->cached = 1;
    }
    return 0;
}

int ecom__lmdb_read_begin(ecom__lmdb *be, ecom__lmdb_read *r)
{
    *r = (ecom__lmdb_read){0};
    if ((r->tls = tls_get(be)) == NULL)
        return ecom__lmdb_fail(be, ECOM_ENOMEM, "lmdb: out of memory for thread state");
    int checked = 0;
    for (int run = 0; run < MAX_READ_RUNS; run++) {
        lock_shared(be, r->tls);
        int rc = begin_snapshot(be, r);
        if (rc == 0)
            return ECOM_OK;
        unlock_shared(be, r->tls);
        if (rc == MDB_READERS_FULL && !checked) {
            /* Slots of dead processes are freed only when someone asks. */
            int dead = 0;
            mdb_reader_check(be->env, &dead);
            checked = 1;
            continue;
        }
        if (rc == MDB_MAP_RESIZED) {
            if ((rc = resize(be, r->tls, ECOM__LMDB_ADOPT, 0)) != ECOM_OK)
                return rc;
            continue;
        }
        return ecom__lmdb_mdb(be, "mdb_txn_begin (read)", rc);
    }
    return ecom__lmdb_fail(be, ECOM_EBACKEND, "lmdb: cannot begin a read: the map keeps "
                                              "being resized by another process");
}

void ecom__lmdb_read_end(ecom__lmdb *be, ecom__lmdb_read *r)
{
    if (r->txn == NULL)
        return;
    if (r->cached) {
        mdb_txn_reset(r->txn);
        r->tls->txn_busy = 0;
    } else {
        mdb_txn_abort(r->txn);
    }
    r->txn = NULL;
    unlock_shared(be, r->tls);
}

/* ---- write txns ---- */

/* One run of fn in a fresh write txn; commits on ECOM_OK. done, if any, hears
 * whether it did once fn has run. */
static int write_once(ecom__lmdb *be, ecom__lmdb_write_fn fn, ecom__lmdb_done_fn done, void *ctx)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(be->env, NULL, 0, &txn);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_txn_begin (write)", rc);
    rc = fn(be, txn, ctx);
    if (rc != ECOM_OK) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn)) != 0) {
        rc = ecom__lmdb_mdb(be, "mdb_txn_commit", rc);
    }
    if (done)
        done(be, ctx, rc == ECOM_OK);
    return rc;
}

int ecom__lmdb_write_then(ecom__lmdb *be, ecom__lmdb_write_fn fn, ecom__lmdb_done_fn done,
                          void *ctx)
{
    if (be->read_only)
        return ecom__lmdb_fail(be, ECOM_EREADONLY, "lmdb: the store was opened read-only");
    ecom__lmdb_tls *t = tls_get(be);
    if (t == NULL)
        return ecom__lmdb_fail(be, ECOM_ENOMEM, "lmdb: out of memory for thread state");
    for (int run = 0; run < MAX_WRITE_RUNS; run++) {
        lock_shared(be, t);
        MDB_envinfo info;
        mdb_env_info(be->env, &info);
        int rc = write_once(be, fn, done, ctx);
        unlock_shared(be, t);
        if (rc != ECOM__LMDB_GROW && rc != ECOM__LMDB_ADOPT)
            return rc;
        if ((rc = resize(be, t, rc, info.me_mapsize)) != ECOM_OK)
            return rc;
    }
    return ecom__lmdb_fail(be, ECOM_EBACKEND, "lmdb: a write found the map full %d times",
                           MAX_WRITE_RUNS);
}

int ecom__lmdb_write(ecom__lmdb *be, ecom__lmdb_write_fn fn, void *ctx)
{
    return ecom__lmdb_write_then(be, fn, NULL, ctx);
}

/* ---- open and close ---- */

/* The location every store has, made with the databases. */
static int default_location(ecom__lmdb *be, MDB_txn *txn)
{
    MDB_val k = {sizeof ECOM_LOCATION_DEFAULT, (void *)ECOM_LOCATION_DEFAULT};
    MDB_val v = {sizeof "Default", (void *)"Default"};
    /* NOOVERWRITE stops before dirtying a page when it is there already. */
    int rc = mdb_put(txn, be->locations, &k, &v, MDB_NOOVERWRITE);
    return rc && rc != MDB_KEYEXIST ? ecom__lmdb_mdb(be, "mdb_put (locations)", rc) : ECOM_OK;
}

/* Records the store's format as this libecom's. */
static int put_format(ecom__lmdb *be, MDB_txn *txn)
{
    MDB_val key = {sizeof "format", (void *)"format"};
    unsigned char buf[4];
    for (int i = 0; i < 4; i++)
        buf[i] = (unsigned char)(ECOM__LMDB_FORMAT >> (8 * i));
    MDB_val val = {sizeof buf, buf};
    int rc = mdb_put(txn, be->meta, &key, &val, 0);
    return rc ? ecom__lmdb_mdb(be, "mdb_put (meta)", rc) : ECOM_OK;
}

/* Opens the databases in txn (creating them if flags say so) and checks the format.
 * A store made before inventory (or commerce) existed gains its databases at its
 * first writable open: older code never looks at them, so new databases leave the
 * format as it is; records that older code would misread raise it (ECOM__LMDB_FORMAT). */
static int init_dbs(ecom__lmdb *be, MDB_txn *txn, unsigned flags)
{
    static const char *const names[] = {
        "products", "skus",     "bycat",   "cats",      "events",   "meta",     "locations",
        "skuinv",   "stock",    "ledger",  "resv",      "expiry",   "sales",    "claims",
        "claimlog", "carts",    "plimits", "idem",      "orders",   "ord_user", "ord_state",
        "ord_time", "consumers", "payments", "pay_order"};
    MDB_dbi *handles[] = {
        &be->products, &be->skus,     &be->bycat,    &be->cats,      &be->events,
        &be->meta,     &be->locations, &be->skuinv,  &be->stock,     &be->ledger,
        &be->resv,     &be->expiry,   &be->sales,    &be->claims,    &be->claimlog,
        &be->carts,    &be->plimits,  &be->idem,     &be->orders,    &be->ord_user,
        &be->ord_state, &be->ord_time, &be->consumers, &be->payments, &be->pay_order};
    _Static_assert(sizeof names / sizeof names[0] == sizeof handles / sizeof handles[0],
                   "every database has a handle");
    _Static_assert(sizeof names / sizeof names[0] <= MAX_DBS, "MAX_DBS holds every database");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int rc = mdb_dbi_open(txn, names[i], flags, handles[i]);
        if (rc == MDB_NOTFOUND)
            return ecom__lmdb_fail(be, ECOM_ENOTFOUND,
                                   "lmdb: the store has no '%s' database (not initialised, "
                                   "and opened read-only)",
                                   names[i]);
        if (rc != 0)
            return ecom__lmdb_mdb(be, "mdb_dbi_open", rc);
    }
    if (flags & MDB_CREATE) {
        int rc = default_location(be, txn);
        if (rc != ECOM_OK)
            return rc;
    }
    MDB_val key = {sizeof "format", (void *)"format"}, val;
    unsigned char buf[4];
    int rc = mdb_get(txn, be->meta, &key, &val);
    if (rc == MDB_NOTFOUND && (flags & MDB_CREATE))
        return put_format(be, txn);
    if (rc == MDB_NOTFOUND)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: meta has no format version");
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_get (meta)", rc);
    if (val.mv_size != 4)
        return ecom__lmdb_fail(be, ECOM_ECORRUPT, "lmdb: meta format version is malformed");
    memcpy(buf, val.mv_data, 4);
    uint32_t format = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
                      (uint32_t)buf[3] << 24;
    if (format < ECOM__LMDB_FORMAT_OLDEST || format > ECOM__LMDB_FORMAT)
        return ecom__lmdb_fail(be, ECOM_EVERSION,
                               "lmdb: store format %u; this libecom reads formats %u to %u",
                               format, ECOM__LMDB_FORMAT_OLDEST, ECOM__LMDB_FORMAT);
    /* An older format reads as it is; a writable open raises it (ECOM__LMDB_FORMAT). */
    return format < ECOM__LMDB_FORMAT && (flags & MDB_CREATE) ? put_format(be, txn) : ECOM_OK;
}

static int init_write_fn(ecom__lmdb *be, MDB_txn *txn, void *ctx)
{
    ECOM__UNUSED(ctx);
    int rc = init_dbs(be, txn, MDB_CREATE);
    return rc == ECOM_OK ? ecom__inv_sale_ends_index(be, txn) : rc;
}

/* Read-only: the handles must be committed to outlive the txn. */
static int init_read_only(ecom__lmdb *be)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_txn_begin (open)", rc);
    if ((rc = init_dbs(be, txn, 0)) != ECOM_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    return rc ? ecom__lmdb_mdb(be, "mdb_txn_commit (open)", rc) : ECOM_OK;
}

static int env_open(ecom__lmdb *be, const char *path, const ecom_options *opts)
{
    if (opts->map_size > SIZE_MAX)
        return ecom__lmdb_fail(be, ECOM_EINVAL, "map_size: %llu does not fit in memory",
                               (unsigned long long)opts->map_size);
    int rc = mdb_env_create(&be->env);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_env_create", rc);
    unsigned flags = MDB_NOTLS | (opts->read_only ? MDB_RDONLY : 0) |
                     (opts->no_sync ? MDB_NOSYNC : 0);
    size_t map = opts->map_size ? (size_t)opts->map_size : DEFAULT_MAP_SIZE;
    if ((rc = mdb_env_set_maxdbs(be->env, MAX_DBS)) != 0 ||
        (rc = mdb_env_set_maxreaders(be->env, MAX_READERS)) != 0 ||
        (rc = mdb_env_set_mapsize(be->env, map)) != 0 ||
        (rc = mdb_env_open(be->env, path, flags, 0644)) != 0) {
        mdb_env_close(be->env);
        be->env = NULL;
        if (rc == ENOENT)
            return ecom__lmdb_fail(be, ECOM_ENOTFOUND,
                                   "lmdb: no store in '%.300s' (opened read-only)", path);
        return ecom__lmdb_fail(be, ECOM_EBACKEND, "lmdb: mdb_env_open '%.300s': %s", path,
                               mdb_strerror(rc));
    }
    int dead = 0;
    mdb_reader_check(be->env, &dead);
    be->max_key = (size_t)mdb_env_get_maxkeysize(be->env);
    be->read_only = opts->read_only != 0;
    return ECOM_OK;
}

static void lmdb_close(ecom_backend *base)
{
    ecom__lmdb *be = (ecom__lmdb *)base;
    if (be == NULL)
        return;
    /* After key_delete no destructor runs, so the list is ours alone. */
    pthread_key_delete(be->tls_key);
    for (ecom__lmdb_tls *t = be->tls_list, *next; t; t = next) {
        next = t->next;
        if (t->txn)
            mdb_txn_abort(t->txn);
        ecom__free(t);
    }
    if (be->env)
        mdb_env_close(be->env);
    ecom__inv_claims_free(be);
    pthread_rwlock_destroy(&be->map_lock);
    pthread_mutex_destroy(&be->tls_lock);
    pthread_mutex_destroy(&be->claim_lock);
    ecom__free(be);
}

static int init_locks(ecom__lmdb *be)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0)
        return ECOM_ENOMEM;
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(&be->map_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0)
        return ECOM_ENOMEM;
    if (pthread_mutex_init(&be->tls_lock, NULL) != 0) {
        pthread_rwlock_destroy(&be->map_lock);
        return ECOM_ENOMEM;
    }
    if (pthread_mutex_init(&be->claim_lock, NULL) != 0) {
        pthread_mutex_destroy(&be->tls_lock);
        pthread_rwlock_destroy(&be->map_lock);
        return ECOM_ENOMEM;
    }
    if (pthread_key_create(&be->tls_key, tls_destroy) != 0) {
        pthread_mutex_destroy(&be->claim_lock);
        pthread_mutex_destroy(&be->tls_lock);
        pthread_rwlock_destroy(&be->map_lock);
        return ECOM_ENOMEM;
    }
    return ECOM_OK;
}

static ecom__lmdb *backend_new(ecom_store *store)
{
    ecom__lmdb *be = ecom__calloc(1, sizeof *be);
    if (be == NULL)
        return NULL;
    if (init_locks(be) != ECOM_OK) {
        ecom__free(be);
        return NULL;
    }
    be->store = store;
    be->base.version = ECOM__LMDB_CONTRACT;
    be->base.name = "lmdb";
    be->base.close = lmdb_close;
    be->base.product_write = ecom__lmdb_product_write;
    be->base.product_delete = ecom__lmdb_product_delete;
    be->base.product_get = ecom__lmdb_product_get;
    be->base.product_get_by_sku = ecom__lmdb_product_get_by_sku;
    be->base.product_scan = ecom__lmdb_product_scan;
    be->base.category_list = ecom__lmdb_category_list;
    be->base.events_read = ecom__lmdb_events_read;
    be->base.events_last_seq = ecom__lmdb_events_last_seq;
    be->base.check = ecom__lmdb_check;
    be->base.inventory_apply = ecom__lmdb_inventory_apply;
    be->base.stock_get = ecom__lmdb_stock_get;
    be->base.reservation_get = ecom__lmdb_reservation_get;
    be->base.location_list = ecom__lmdb_location_list;
    be->base.flash_get = ecom__lmdb_flash_get;
    be->base.claim_get = ecom__lmdb_claim_get;
    be->base.flash_keys = ecom__lmdb_flash_keys;
    be->base.cart_apply = ecom__lmdb_cart_apply;
    be->base.cart_get = ecom__lmdb_cart_get;
    be->base.purchase_limits_get = ecom__lmdb_purchase_limits_get;
    be->base.idem_apply = ecom__lmdb_idem_apply;
    be->base.order_apply = ecom__lmdb_order_apply;
    be->base.order_get = ecom__lmdb_order_get;
    be->base.order_scan = ecom__lmdb_order_scan;
    be->base.consumer_get = ecom__lmdb_consumer_get;
    be->base.consumer_ack = ecom__lmdb_consumer_ack;
    be->base.payment_apply = ecom__lmdb_payment_apply;
    be->base.payment_get = ecom__lmdb_payment_get;
    be->base.payment_list = ecom__lmdb_payment_list;
    be->base.write_batch = ecom__lmdb_write_batch;
    return be;
}

static int lmdb_open(ecom_backend **out, ecom_store *store, const char *uri,
                     const ecom_options *opts)
{
    if (out == NULL || opts == NULL)
        return fail_store(store, ECOM_EINVAL, "lmdb: open needs out and opts");
    *out = NULL;
    char *path = NULL;
    ecom__lmdb *be = NULL;
    int rc = parse_uri(store, uri, &path);
    if (rc != ECOM_OK)
        goto cleanup;
    if ((rc = ensure_dir(store, path, opts)) != ECOM_OK)
        goto cleanup;
    if ((be = backend_new(store)) == NULL) {
        rc = fail_store(store, ECOM_ENOMEM, "lmdb: out of memory");
        goto cleanup;
    }
    if ((rc = env_open(be, path, opts)) != ECOM_OK)
        goto cleanup;
    rc = be->read_only ? init_read_only(be) : ecom__lmdb_write(be, init_write_fn, NULL);
    if (rc != ECOM_OK)
        goto cleanup;
    *out = &be->base;
    be = NULL;
cleanup:
    if (be)
        lmdb_close(&be->base);
    ecom__free(path);
    return rc;
}

const ecom_backend_factory ecom__lmdb_factory = {ECOM__LMDB_CONTRACT, "lmdb", lmdb_open};

int ecom__lmdb_each(ecom__lmdb *be, MDB_txn *txn, MDB_dbi dbi, const char *what,
                    ecom__lmdb_entry_fn fn, void *ctx)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, what, rc);
    int frc = ECOM_OK;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && frc == ECOM_OK;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
        frc = fn(ctx, &key, &val);
    mdb_cursor_close(cur);
    if (frc != ECOM_OK)
        return frc;
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, what, rc);
}
