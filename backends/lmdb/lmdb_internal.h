/*
 * What the LMDB backend's files share: the backend struct, the transaction
 * plumbing (lmdb_backend.c), the value codec (lmdb_codec.c) and the operations.
 *
 * On disk (one LMDB environment, named databases; integers little-endian unless
 * said otherwise; every string key ends with its NUL so pointers into the map
 * can be handed out as C strings):
 *   products  "id\0"            -> product header + opaque content (lmdb_codec.c)
 *   skus      "sku\0"           -> "id\0"
 *   bycat     "cat/\0id\0"      -> empty ("" gives "/\0id\0")
 *   cats      "cat\0"           -> u64 products filed directly there (never "", never 0)
 *   events    seq (u64 big-endian) -> event (lmdb_codec.c)
 *   meta      "format\0"        -> u32 format version
 *             "payment_seq\0"   -> u64 (lmdb_commerce.h)
 * the inventory databases described in lmdb_inventory.h, and the databases of
 * carts, orders, idempotency keys, consumers and payments in lmdb_commerce.h.
 */
#ifndef ECOM_LMDB_INTERNAL_H
#define ECOM_LMDB_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "internal.h"
#include "lmdb_backend.h"

/* The store's format: 2 since a merged guest cart leaves a forward and a claim records
 * the order it stands in for (optional trailing fields an older libecom would take
 * for damage). Format 1 reads the same, and is raised to 2 at the first writable open,
 * after which an older libecom refuses the store (ECOM_EVERSION) rather than misread
 * it. */
#define ECOM__LMDB_FORMAT 2u
#define ECOM__LMDB_FORMAT_OLDEST 1u
/* The contract version this backend implements in full (not ECOM_BACKEND_VERSION:
 * a newer header must not make the backend claim operations it lacks). */
#define ECOM__LMDB_CONTRACT 6
/* Sku pointers decoded on the stack before falling back to the heap. */
#define ECOM__LMDB_STACK_SKUS 256

/* Internal outcomes of a write attempt (positive: never seen by the core). */
#define ECOM__LMDB_GROW 1  /* MDB_MAP_FULL: grow the map and run again */
#define ECOM__LMDB_ADOPT 2 /* MDB_MAP_RESIZED: adopt another process's size, run again */

typedef struct ecom__lmdb ecom__lmdb;

/* One thread's state for one backend: its cached read txn and lock depth. */
typedef struct ecom__lmdb_tls {
    struct ecom__lmdb_tls *next, *prev;
    ecom__lmdb *be;
    MDB_txn *txn;   /* cached read txn, reset while idle; NULL before first use */
    int txn_busy;   /* txn is live: a nested read on this thread begins its own */
    unsigned depth; /* shared holds of map_lock by this thread (nested calls) */
} ecom__lmdb_tls;

struct ecom__lmdb {
    ecom_backend base; /* first: the core sees only this */
    ecom_store *store;
    MDB_env *env;
    MDB_dbi products, skus, bycat, cats, events, meta;
    /* inventory and flash sales (contract version 2; layout in lmdb_inventory.h) */
    MDB_dbi locations, skuinv, stock, ledger, resv, expiry, sales, claims, claimlog;
    /* carts, orders, idempotency, consumers, payments (contract version 3; layout
     * in lmdb_commerce.h) */
    MDB_dbi carts, plimits, idem, orders, ord_user, ord_state, ord_time, consumers, payments,
        pay_order;
    int read_only;
    size_t max_key; /* mdb_env_get_maxkeysize */
    /* Every txn holds this shared; changing the map size holds it exclusive,
     * because mdb_env_set_mapsize remaps and no live txn may see that. */
    pthread_rwlock_t map_lock;
    pthread_key_t tls_key;
    pthread_mutex_t tls_lock; /* guards the tls list */
    ecom__lmdb_tls *tls_list;
    /* The in-memory claim indexes of the sales this process claimed in
     * (lmdb_claim_sync.c). claim_lock is held by the write txn using them, from
     * its start until it committed or aborted: a txn's changes to them must not
     * be seen before its fate is known. */
    pthread_mutex_t claim_lock;
    struct cix *claim_index;
    uint64_t claim_rebuilds, claim_drops; /* under claim_lock: for tests and diagnosis */
};

/* ---- errors (lmdb_backend.c) ---- */
int ecom__lmdb_fail(ecom__lmdb *be, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An MDB error of op: ECOM__LMDB_GROW / ADOPT for a full or resized map (not
 * reported), else ECOM_EBACKEND with "lmdb: <op>: <mdb_strerror>". */
int ecom__lmdb_mdb(ecom__lmdb *be, const char *op, int rc);

/* Visits every entry of dbi in txn, in key order, until fn returns nonzero (returned
 * unchanged); cursor failures are reported on be as "<what>: ...". */
typedef int (*ecom__lmdb_entry_fn)(void *ctx, const MDB_val *key, const MDB_val *val);
int ecom__lmdb_each(ecom__lmdb *be, MDB_txn *txn, MDB_dbi dbi, const char *what,
                    ecom__lmdb_entry_fn fn, void *ctx);
/* Writes s (n bytes) into out as a quoted, escaped, truncated string for messages. */
void ecom__lmdb_quote(char *out, size_t out_size, const void *s, size_t n);
/* A check's read of key in dbi: 1 found (into v), 0 not (or a length no key has), or
 * a negative error, reported on be. */
int ecom__lmdb_check_get(ecom__lmdb *be, MDB_txn *txn, MDB_dbi dbi, const void *key,
                         size_t len, MDB_val *v);
/* Formats one violation the check found and hands it to the sink. */
__attribute__((format(printf, 2, 3))) void ecom__lmdb_report(ecom_check_sink *sink,
                                                             const char *fmt, ...);

/* ---- transactions (lmdb_backend.c) ---- */
typedef struct ecom__lmdb_read {
    MDB_txn *txn;
    ecom__lmdb_tls *tls;
    int cached; /* txn is tls->txn (reset at the end), else aborted at the end */
} ecom__lmdb_read;

/* Opens a read snapshot. */
int ecom__lmdb_read_begin(ecom__lmdb *be, ecom__lmdb_read *r);
void ecom__lmdb_read_end(ecom__lmdb *be, ecom__lmdb_read *r);

/* Runs fn in one write txn and commits if it returns ECOM_OK. fn returns an ECOM
 * code or what ecom__lmdb_mdb returned; on ECOM__LMDB_GROW/ADOPT the map is
 * resized and fn runs again from scratch in a new txn. */
typedef int (*ecom__lmdb_write_fn)(ecom__lmdb *be, MDB_txn *txn, void *ctx);
int ecom__lmdb_write(ecom__lmdb *be, ecom__lmdb_write_fn fn, void *ctx);
/* The same, and done runs after every run of fn, once its txn committed or not
 * (committed: 1 or 0), before a rerun begins. */
typedef void (*ecom__lmdb_done_fn)(ecom__lmdb *be, void *ctx, int committed);
int ecom__lmdb_write_then(ecom__lmdb *be, ecom__lmdb_write_fn fn, ecom__lmdb_done_fn done,
                          void *ctx);

/* ---- the codec (lmdb_codec.c) ---- */
void ecom__lmdb_put_u64(unsigned char *p, uint64_t v);
uint64_t ecom__lmdb_get_u64(const unsigned char *p);
void ecom__lmdb_put_u64be(unsigned char p[8], uint64_t v);
uint64_t ecom__lmdb_get_u64be(const unsigned char p[8]);

/* Is v (n bytes) a C string whose only NUL is its last byte? */
int ecom__lmdb_is_cstr(const void *v, size_t n);

/* Bytes of a product value's header, or 0 if a length does not fit the format. */
size_t ecom__lmdb_product_header_size(const ecom_product_rec *rec);
/* Writes the header into out (header_size bytes) then the content after it. */
void ecom__lmdb_product_encode(unsigned char *out, const ecom_product_rec *rec,
                               const ecom_product_meta *meta);

/* A product decoded in place: strings and data point into the value. */
typedef struct ecom__lmdb_view {
    ecom_product_rec rec;
    ecom_product_meta meta;
    const char **skus_heap; /* when sku_count > ECOM__LMDB_STACK_SKUS */
    const char *skus_stack[ECOM__LMDB_STACK_SKUS];
} ecom__lmdb_view;

/* Decodes value v (n bytes) of product id. ECOM_ECORRUPT or ECOM_ENOMEM. */
int ecom__lmdb_product_decode(ecom__lmdb_view *view, const char *id, const void *v, size_t n);
void ecom__lmdb_view_free(ecom__lmdb_view *view);

/* Builds the bycat key "cat/\0id\0" into out (size max_key); returns its length or 0. */
size_t ecom__lmdb_bycat_key(char *out, size_t out_size, const char *category, const char *id);
/* Splits a bycat key: category (cat_len bytes, not terminated) and id (a C string
 * in the key). Returns 0, or -1 if malformed. */
int ecom__lmdb_bycat_split(const MDB_val *key, const char **cat, size_t *cat_len,
                           const char **id);

/* Event values. */
size_t ecom__lmdb_event_size(const char *type, const char *key);
void ecom__lmdb_event_encode(unsigned char *out, const ecom_event_rec *ev);
/* Decodes value v into ev (strings point into v); seq is left to the caller. */
int ecom__lmdb_event_decode(ecom_event_rec *ev, const void *v, size_t n);

/* ---- operations ---- */
int ecom__lmdb_product_write(ecom_backend *be, ecom_product_write *writes, size_t n,
                             int64_t now);
int ecom__lmdb_product_delete(ecom_backend *be, const char *id, uint64_t expected_version,
                              int64_t now);
int ecom__lmdb_product_get(ecom_backend *be, const char *id, ecom_product_fn fn, void *ctx);
int ecom__lmdb_product_get_by_sku(ecom_backend *be, const char *sku, ecom_product_fn fn,
                                  void *ctx);
int ecom__lmdb_product_scan(ecom_backend *be, const ecom_scan *scan, ecom_product_fn fn,
                            void *ctx);
int ecom__lmdb_category_list(ecom_backend *be, ecom_category_fn fn, void *ctx);
int ecom__lmdb_events_read(ecom_backend *be, uint64_t after, size_t max, ecom_event_fn fn,
                           void *ctx);
int ecom__lmdb_events_last_seq(ecom_backend *be, uint64_t *seq);
int ecom__lmdb_check(ecom_backend *be, ecom_check_sink *sink);

/* Appends one event in txn after *seq (read with ecom__lmdb_last_seq), advancing it. */
int ecom__lmdb_event_append(ecom__lmdb *be, MDB_txn *txn, uint64_t *seq, int64_t time,
                            const char *type, const char *key, uint64_t version);
/* The newest event's seq in txn, 0 if none. */
int ecom__lmdb_last_seq(ecom__lmdb *be, MDB_txn *txn, uint64_t *seq);

#endif /* ECOM_LMDB_INTERNAL_H */
