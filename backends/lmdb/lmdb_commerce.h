/*
 * What the LMDB backend's commerce files share (contract version 3): carts,
 * purchase limits, idempotency keys, orders and their indexes, event consumers
 * and the built-in test provider's payment ledger; their records and keys
 * (lmdb_commerce_codec.c) and the vtable entries.
 *
 * On disk (integers little-endian unless said otherwise; times in ms; strings in
 * values are u16 length, bytes, NUL; key strings end with their NUL; T(t) is
 * u64 BE of t with its sign bit flipped, so keys sort by time, and ~T(t) its
 * complement, so keys sort newest first):
 *   carts      "cart\0"        -> i64 updated_at, i64 expires_at, str currency,
 *                                 u16 n, n x (i64 qty, i64 unit_price, str sku),
 *                                 lines in SKU (byte) order; never empty (a cart
 *                                 that becomes empty is deleted)
 *   plimits    "sku\0"         -> i64 purchase limit (> 0; absent: none)
 *   idem       "key\0"         -> u8 state (1 held, 2 done, 3 released), i64 result,
 *                                 u64 fingerprint, i64 created_at,
 *                                 i64 holder_started_at, u64 holder (nonce),
 *                                 str order_id ("": none)
 *   orders     "id\0"          -> u64 version, i64 created_at, u8 state, str user,
 *                                 then the core's opaque content (the rest)
 *   ord_user   "user\0" ~T(created_at) "id\0"     -> empty
 *   ord_state  u8 state ~T(created_at) "id\0"     -> empty
 *   ord_time   ~T(created_at) "id\0"              -> empty
 *   consumers  "name\0"        -> u64 acknowledged seq
 *   payments   "key\0"         -> i64 time, u64 seq, i64 amount, u8 approved,
 *                                 str order_id, charge_id, kind, reason
 *   pay_order  "order\0" T(time) u64 BE seq "key\0" -> empty
 *   meta       "payment_seq\0" -> u64 the last payment seq (orders a ledger's
 *                                 records stored in the same ms)
 * Each order is in each of the three order indexes exactly once; scans walk one
 * index forward (newest first) and hand its key out as the resume key.
 */
#ifndef ECOM_LMDB_COMMERCE_H
#define ECOM_LMDB_COMMERCE_H

#include "lmdb_internal.h"

/* Longest currency code a cart stores (the core hands ISO 4217 codes). */
#define CM_CURRENCY_MAX 15
/* Longest user id and idempotency/payment key the indexes take; keys built from
 * them stay under LMDB's 511-byte key limit. */
#define CM_NAME_MAX 255
#define CM_KEY_MAX 512
/* Longest charge id and reason a payment record takes: they must fit the
 * fixed out fields of ecom_payment_op (with their NUL). */
#define CM_CHARGE_ID_MAX 71
#define CM_REASON_MAX 127

/* ---- carts ---- */

typedef struct cm_line {
    int64_t qty, price;
    char sku[ECOM_ID_MAX + 1];
} cm_line;

/* A cart copied out of the store, to be changed and written back. A guest cart merged
 * into a user's cart is stored as a forward: no lines, and `into` naming the user's
 * cart (a TAKE follows it); every other cart has into "". */
typedef struct cm_cart {
    int64_t updated_at, expires_at;
    char currency[CM_CURRENCY_MAX + 1];
    size_t n;
    cm_line lines[ECOM_CART_LINES_MAX];
    char into[CM_NAME_MAX + 1];
} cm_cart;

/* A cart decoded in place: strings point into the value. */
typedef struct cm_cart_view {
    int64_t updated_at, expires_at;
    const char *currency;
    size_t n;
    ecom_cart_line_rec lines[ECOM_CART_LINES_MAX];
    const char *into; /* "" unless a forward */
} cm_cart_view;

size_t ecom__cm_cart_size(const cm_cart *c);
void ecom__cm_cart_encode(unsigned char *out, const cm_cart *c);
/* ECOM_ECORRUPT if malformed (a forward with lines among it); ECOM_ELIMIT (view->n
 * says how many) if the value holds more than ECOM_CART_LINES_MAX lines. */
int ecom__cm_cart_decode(cm_cart_view *view, const MDB_val *v);
/* Copies a view; ECOM_ECORRUPT if a string is longer than the copy holds. */
int ecom__cm_cart_copy(cm_cart *c, const cm_cart_view *view);

/* ---- idempotency keys ---- */

enum { CM_IDEM_HELD = 1, CM_IDEM_DONE = 2, CM_IDEM_RELEASED = 3 };

typedef struct cm_idem {
    int state, result;
    uint64_t fingerprint, holder;
    int64_t created_at, started_at;
    char order_id[ECOM_ID_MAX + 1];
} cm_idem;

/* u8 state, 5 x 8 bytes, then order_id as a string. */
#define CM_IDEM_SIZE(order_id_len) (41u + 3u + (order_id_len))
void ecom__cm_idem_encode(unsigned char *out, const cm_idem *k);
int ecom__cm_idem_decode(cm_idem *k, const MDB_val *v);

/* Loads key in txn (*found 0 when missing). ECOM_ECORRUPT when malformed. */
int ecom__cm_idem_load(ecom__lmdb *be, MDB_txn *txn, const char *key, cm_idem *k, int *found);
int ecom__cm_idem_store(ecom__lmdb *be, MDB_txn *txn, const char *key, const cm_idem *k);

/* ---- orders ---- */

enum { CM_BY_USER, CM_BY_STATE, CM_BY_TIME, CM_INDEXES };

/* Bytes of an order value, or 0 if the user is too long. */
size_t ecom__cm_order_size(const ecom_order_rec *rec);
void ecom__cm_order_encode(unsigned char *out, const ecom_order_rec *rec, uint64_t version);
/* Decodes in place (rec->id = id). ECOM_ECORRUPT if malformed. */
int ecom__cm_order_decode(ecom_order_rec *rec, uint64_t *version, const char *id,
                          const MDB_val *v);
/* The order's key in index `which` (CM_BY_*), into out of CM_KEY_MAX bytes; its
 * length, or 0 if a part is too long. */
size_t ecom__cm_order_key(unsigned char *out, int which, const ecom_order_rec *rec);
/* The index DBI of `which`. */
MDB_dbi ecom__cm_order_dbi(const ecom__lmdb *be, int which);
/* Splits an index key of `which`: created_at and id (pointing into the key),
 * the user (CM_BY_USER, pointing into the key) or the state (CM_BY_STATE).
 * -1 if malformed. */
typedef struct cm_order_ikey {
    const char *user, *id;
    int state;
    int64_t created_at;
} cm_order_ikey;
int ecom__cm_order_key_split(cm_order_ikey *out, int which, const MDB_val *k);

/* ---- payments ---- */

/* Bytes of a payment value, or 0 if a string is too long. */
size_t ecom__cm_payment_size(const ecom_payment_rec *rec);
void ecom__cm_payment_encode(unsigned char *out, const ecom_payment_rec *rec, uint64_t seq);
/* Decodes in place (rec->key = key). ECOM_ECORRUPT if malformed. */
int ecom__cm_payment_decode(ecom_payment_rec *rec, uint64_t *seq, const char *key,
                            const MDB_val *v);
/* The pay_order key; its length, or 0 if a part is too long. */
size_t ecom__cm_payment_key(unsigned char *out, const char *order_id, int64_t time,
                            uint64_t seq, const char *key);

/* ---- shared helpers (lmdb_commerce_codec.c) ---- */

/* T(t): time keys that sort like the times; ~T(t) when newest_first. */
void ecom__cm_put_time(unsigned char out[8], int64_t t, int newest_first);
int64_t ecom__cm_get_time(const unsigned char in[8], int newest_first);
/* a + b, saturated at the int64 bounds (expiry times from a TTL). */
int64_t ecom__cm_add_sat(int64_t a, int64_t b);
/* Is s 1..max bytes long? */
int ecom__cm_len_ok(const char *s, size_t max);

/* ---- purchase limits (lmdb_stock.c) ---- */

/* The purchase limit of sku in txn (0: none). */
int ecom__cm_purchase_limit(ecom__lmdb *be, MDB_txn *txn, const char *sku, int64_t *limit);

/* ---- the kinds' apply bodies, in a txn of the caller's (write_batch) ----
 * Each runs ops in order in txn exactly as its *_apply does in its own txn (which
 * is a thin wrapper around it), setting every op's result; returns only errors
 * that fail the txn. What they cache (seqs, counters) is read from txn on first
 * use and written back before they return, so calls of several kinds interleave
 * in one txn. */
int ecom__lmdb_cart_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_cart_op *ops, size_t n,
                              int64_t now);
int ecom__lmdb_idem_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_idem_op *ops, size_t n,
                              int64_t now);
int ecom__lmdb_payment_apply_txn(ecom__lmdb *be, MDB_txn *txn, ecom_payment_op *ops, size_t n,
                                 int64_t now);
/* Orders share t (lmdb_inventory.h) with the txn's inventory work: their lazy sweep
 * is the txn's one. The caller holds the claim indexes if needs_claims says so. */
struct inv_txn;
int ecom__lmdb_order_apply_txn(ecom__lmdb *be, MDB_txn *txn, struct inv_txn *t,
                               ecom_order_op *ops, size_t n, int64_t now);
/* Does some op carry inventory operations (so the claim indexes must be held)? */
int ecom__lmdb_order_needs_claims(const ecom_order_op *ops, size_t n);
/* write_batch (lmdb_write_batch.c). */
int ecom__lmdb_write_batch(ecom_backend *be, ecom_write_item *items, size_t n, int64_t now);

/* ---- vtable entries ---- */
int ecom__lmdb_cart_apply(ecom_backend *be, ecom_cart_op *ops, size_t n, int64_t now);
int ecom__lmdb_cart_get(ecom_backend *be, const char *cart, int64_t now, ecom_cart_fn fn,
                        void *ctx);
int ecom__lmdb_purchase_limits_get(ecom_backend *be, const char *const *skus, size_t n,
                                   int64_t *limits);
int ecom__lmdb_idem_apply(ecom_backend *be, ecom_idem_op *ops, size_t n, int64_t now);
int ecom__lmdb_order_apply(ecom_backend *be, ecom_order_op *ops, size_t n, int64_t now);
int ecom__lmdb_order_get(ecom_backend *be, const char *id, ecom_order_fn fn, void *ctx);
int ecom__lmdb_order_scan(ecom_backend *be, const ecom_order_scan *scan, ecom_order_fn fn,
                          void *ctx);
int ecom__lmdb_consumer_get(ecom_backend *be, const char *name, uint64_t *seq);
int ecom__lmdb_consumer_ack(ecom_backend *be, const char *name, uint64_t seq);
int ecom__lmdb_payment_apply(ecom_backend *be, ecom_payment_op *ops, size_t n, int64_t now);
int ecom__lmdb_payment_get(ecom_backend *be, const char *key, ecom_payment_fn fn, void *ctx);
int ecom__lmdb_payment_list(ecom_backend *be, const char *order_id, ecom_payment_fn fn,
                            void *ctx);
/* The commerce part of check, in the check's snapshot. */
int ecom__lmdb_commerce_check(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink);
/* One order against the holds of its stock and its charge in the test provider's
 * ledger (lmdb_order_links_check.c): reports what does not fit. */
int ecom__lmdb_check_order_links(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink,
                                 const ecom_order_rec *rec, uint64_t version);

#endif /* ECOM_LMDB_COMMERCE_H */
