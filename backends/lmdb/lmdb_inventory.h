/*
 * What the LMDB backend's inventory files share: the records of stock,
 * reservations, flash sales and claims, their keys and codec (lmdb_inv_codec.c),
 * and the context of one inventory_apply transaction (lmdb_inventory.c).
 *
 * On disk (integers little-endian unless said otherwise; times in ms; strings in
 * values are u16 length, bytes, NUL; key strings end with their NUL):
 *   locations   "code\0"                  -> "name\0"
 *   skuinv      "sku\0"                   -> u8 backorder policy (absent: deny)
 *   (purchase limits live in plimits: lmdb_commerce.h)
 *   stock       "sku\0loc\0"              -> i64 on_hand, i64 reserved, i64 safety
 *   ledger      u64 BE seq                -> i64 time, i64 d_on_hand, i64 d_reserved,
 *                                            u8 kind, str sku, loc, reference, text
 *   resv        "id\0"                    -> u8 state, i64 created, expires, ended,
 *                                            u64 fingerprint, str loc, u32 n,
 *                                            n x (i64 qty, str sku)
 *   expiry      u64 BE (expires_at with its sign bit flipped), u8 kind, then
 *               'r': "id\0"  or  'c': "sale\0" u64 BE ticket  or  's': "sale\0"
 *               (the sale's ends_at: it closes then)             -> empty
 *   sales       "sale\0"                  -> 13 x i64 figures (the last: claim_changes),
 *                                            u8 open, str sku, loc
 *   claims      "sale\0" u64 BE ticket    -> u8 state, i64 qty, admit_us, expires_at,
 *                                            ended_at, str user, str key
 *   claimlog    "sale\0" u64 BE change    -> u64 ticket: change n (1..claim_changes)
 *                                            created or ended that claim
 * Only claims that got units are stored, so (sale, user, key) is unique among them.
 * Which ticket a (user, key) got and each user's units are derived from the claims
 * and kept in memory (lmdb_claim_sync.c); the log lets a process catch up on what
 * others changed. Every key a claim writes grows (ticket, change, expiry time).
 */
#ifndef ECOM_LMDB_INVENTORY_H
#define ECOM_LMDB_INVENTORY_H

#include "lmdb_claim_index.h"
#include "lmdb_internal.h"

/* Keys hold at most three ids (64 bytes each, checked, with their NULs) plus framing
 * (the expiry key's 9 bytes, a ticket's 8). */
#define INV_KEY_MAX (3 * (ECOM_ID_MAX + 1) + 24)
/* Holds ended by the sweep at the start of every apply, so one call's cost stays
 * bounded when a backlog built up (the sweeper or a buyer short of stock ends the rest). */
#define INV_LAZY_SWEEP 1000
/* Sales whose figures one transaction keeps decoded (claims of a hot sale update
 * the record once per transaction, not once per claim). */
#define INV_SALE_CACHE 4

#define INV_EXPIRY_RESV 'r'
#define INV_EXPIRY_CLAIM 'c'
#define INV_EXPIRY_SALE 's' /* a sale's end: it closes then */

/* Ledger kinds, stored as a byte; names in ecom__inv_kind_name. */
enum inv_kind {
    INV_K_RECEIVE, INV_K_CORRECT, INV_K_DAMAGE, INV_K_RETURN, INV_K_RESERVE, INV_K_COMMIT,
    INV_K_RELEASE, INV_K_EXPIRE, INV_K_FLASH_OPEN, INV_K_FLASH_CLOSE, INV_K_CLAIM_COMMIT,
    INV_K_CLAIM_RELEASE, INV_K_CLAIM_EXPIRE, INV_K_SAFETY, INV_K_COUNT
};
const char *ecom__inv_kind_name(int kind);

typedef struct inv_stock {
    int64_t on_hand, reserved, safety;
} inv_stock;

typedef struct inv_ledger {
    int64_t time, d_on_hand, d_reserved;
    int kind;
    const char *sku, *location, *reference, *text;
} inv_ledger;

/* A reservation decoded in place (strings point into the value). */
typedef struct inv_resv {
    int state;
    int64_t created_at, expires_at, ended_at;
    uint64_t fingerprint;
    const char *location;
    size_t line_count;
    const char **skus;  /* line_count entries, in `lines` */
    int64_t *qtys;
    const unsigned char *lines; /* the encoded lines */
} inv_resv;

typedef struct inv_sale {
    int64_t units, remaining, held, sold, returned;
    uint64_t tickets;
    int64_t starts_at, ends_at, per_user_limit, claim_ttl_ms, admit_per_second;
    int64_t next_admit_us; /* GCRA: when the next claim may be admitted */
    uint64_t claim_changes; /* claims created or ended: the claimlog entries of the sale */
    int open;
    char sku[ECOM_ID_MAX + 1], location[ECOM_ID_MAX + 1];
} inv_sale;

typedef struct inv_claim {
    int state; /* ecom_reservation_state values: held, committed, released, expired */
    int64_t qty, admit_us, expires_at, ended_at;
    char user[ECOM_ID_MAX + 1], key[ECOM_ID_MAX + 1];
    char order[ECOM_ID_MAX + 1]; /* the order it stands in for (FLASH_BIND), or "" */
} inv_claim;

/* ---- codec (lmdb_inv_codec.c) ---- */
void ecom__inv_stock_encode(unsigned char out[24], const inv_stock *s);
int ecom__inv_stock_decode(inv_stock *s, const MDB_val *v);
size_t ecom__inv_ledger_size(const inv_ledger *e);
void ecom__inv_ledger_encode(unsigned char *out, const inv_ledger *e);
int ecom__inv_ledger_decode(inv_ledger *e, const MDB_val *v);
/* Reservation values: size (0 if a string is too long), encode, and decode. The
 * decode needs room for line_count pointers and quantities: it sizes them first
 * (ecom__inv_resv_lines) so the caller can give stack or heap arrays. */
size_t ecom__inv_resv_size(const char *location, size_t n, const char *const *skus);
void ecom__inv_resv_encode(unsigned char *out, const inv_resv *r, size_t n,
                           const char *const *skus, const int64_t *qtys);
int ecom__inv_resv_lines(const MDB_val *v, size_t *line_count);
int ecom__inv_resv_decode(inv_resv *r, const MDB_val *v, const char **skus, int64_t *qtys);
/* Rewrites only the state and times of an encoded reservation, in place. */
void ecom__inv_resv_patch(unsigned char *v, int state, int64_t expires_at, int64_t ended_at);
size_t ecom__inv_sale_size(const inv_sale *s);
void ecom__inv_sale_encode(unsigned char *out, const inv_sale *s);
int ecom__inv_sale_decode(inv_sale *s, const MDB_val *v);
size_t ecom__inv_claim_size(const inv_claim *c);
void ecom__inv_claim_encode(unsigned char *out, const inv_claim *c);
int ecom__inv_claim_decode(inv_claim *c, const MDB_val *v);

/* Keys, into out of INV_KEY_MAX bytes (the expiry key builds the others 9 bytes
 * in): each returns its length, or 0 if a part is too long (> ECOM_ID_MAX). */
size_t ecom__inv_key2(unsigned char *out, const char *a, const char *b);
/* "a\0b\0c\0": a claim's (sale, user, key), as check tallies them. */
size_t ecom__inv_key3(unsigned char *out, const char *a, const char *b, const char *c);
size_t ecom__inv_claim_key(unsigned char *out, const char *sale, uint64_t ticket);
size_t ecom__inv_expiry_key(unsigned char out[INV_KEY_MAX], int64_t at, int kind,
                            const char *id, uint64_t ticket);
/* Splits an expiry key; the id (and sale) point into the key. -1 if malformed. */
int ecom__inv_expiry_split(const MDB_val *k, int64_t *at, int *kind, const char **id,
                           uint64_t *ticket);
/* Splits "a\0b\0" keys and "sale\0" u64 BE keys (claims, claim log); -1 if malformed. */
int ecom__inv_split2(const MDB_val *k, const char **a, const char **b);
int ecom__inv_claim_split(const MDB_val *k, const char **sale, uint64_t *ticket);
/* Admission time of a claim in ms: the first ms at or after admit_us. */
int64_t ecom__inv_admit_ms(int64_t admit_us);
/* A claim as seen at now (outcome, position, wait), as claim_get and retries say. */
void ecom__inv_claim_view(ecom_claim_result *out, const char *sale, uint64_t ticket,
                          const inv_claim *c, const inv_sale *s, int64_t now);

/* ---- one apply transaction (lmdb_inventory.c) ---- */
typedef struct inv_sale_slot {
    int used, dirty;
    char id[ECOM_ID_MAX + 1];
    inv_sale sale;
} inv_sale_slot;

typedef struct inv_ctx {
    ecom__lmdb *be;
    MDB_txn *txn;
    int64_t now;
    uint64_t event_seq, ledger_seq;
    int event_known, ledger_known;
    uint64_t swept;  /* holds the lazy sweep ended, not yet counted by an EXPIRE op */
    int due_left;    /* the lazy sweep stopped at its bound with holds still due */
    int lazy_done;   /* the bounded sweep of this txn ran */
    inv_sale_slot sales[INV_SALE_CACHE];
    unsigned sale_clock;
} inv_ctx;

/* What the inventory work of one write txn carries from one inv_ctx to the next
 * (write_batch runs several kinds, so several contexts, in one txn): the lazy sweep
 * runs once per txn, and what it ended is credited to a later EXPIRE. Zeroed at
 * the start of every run of the txn (a rerun after growing the map starts over). */
typedef struct inv_txn {
    int lazy_done;
    uint64_t swept;
    int due_left;
} inv_txn;

int ecom__inv_event(inv_ctx *c, const char *type, const char *key);
int ecom__inv_stock_event(inv_ctx *c, const char *sku, const char *location);
int ecom__inv_ledger_append(inv_ctx *c, int kind, const char *sku, const char *location,
                            int64_t d_on_hand, int64_t d_reserved, const char *reference,
                            const char *text);
/* Stock rows: *found says whether the row exists (zeros if not). */
int ecom__inv_stock_load(inv_ctx *c, const char *sku, const char *location, inv_stock *s,
                         int *found);
int ecom__inv_stock_store(inv_ctx *c, const char *sku, const char *location,
                          const inv_stock *s);
/* Adds d_on_hand and d_reserved to a row with ledger entry and event (no policy
 * check: callers judged first). */
int ecom__inv_stock_move(inv_ctx *c, int kind, const char *sku, const char *location,
                         int64_t d_on_hand, int64_t d_reserved, const char *reference,
                         const char *text);
/* Does the key exist in dbi? Returns 1, 0, or a negative error. */
int ecom__inv_exists(inv_ctx *c, MDB_dbi dbi, const void *key, size_t len, const char *what);
int ecom__inv_backorder(inv_ctx *c, const char *sku, int *policy);
/* Judges sku and location: ECOM_ESKU / ECOM_ELOCATION (reported), ECOM_OK, or fatal
 * via *fatal. */
int ecom__inv_need_sku(inv_ctx *c, const char *sku, int *fatal);
int ecom__inv_need_location(inv_ctx *c, const char *location, int *fatal);
int ecom__inv_expiry_put(inv_ctx *c, int64_t at, int kind, const char *id, uint64_t ticket);
int ecom__inv_expiry_del(inv_ctx *c, int64_t at, int kind, const char *id, uint64_t ticket);
/* Ends up to limit due holds, oldest first; adds how many to *count. */
int ecom__inv_sweep(inv_ctx *c, uint64_t limit, uint64_t *count);
/* The sale's cached figures (loaded on first use; written back at the end). */
int ecom__inv_sale_get(inv_ctx *c, const char *id, inv_sale **out, int *found);
int ecom__inv_sale_add(inv_ctx *c, const char *id, const inv_sale *s, inv_sale **out);
void ecom__inv_sale_dirty(inv_ctx *c, inv_sale *s);

/* ---- inventory inside another write (order_apply, lmdb_orders.c) ----
 * The caller brackets its txn with ecom__inv_claims_begin/end as apply does. */
void ecom__inv_ctx_init(inv_ctx *c, ecom__lmdb *be, MDB_txn *txn, int64_t now);
/* The bounded sweep of due holds that apply runs once per txn before judging. */
int ecom__inv_lazy_sweep(inv_ctx *c);
/* Resets op's outputs and runs it: sets op->result, returns only fatal errors. */
int ecom__inv_dispatch(inv_ctx *c, ecom_inventory_op *op);
/* Writes back the sale figures cached in c (before its txn commits). */
int ecom__inv_flush(inv_ctx *c);

/* ---- claims (lmdb_flash.c) ---- */
int ecom__inv_claim_load(inv_ctx *c, const char *sale, uint64_t ticket, inv_claim *cl,
                         int *found);

/* ---- the claim index in step with the store (lmdb_claim_sync.c) ----
 * begin takes claim_lock at the start of every apply txn; end releases it once
 * the txn committed or not, dropping what an uncommitted txn changed. */
void ecom__inv_claims_begin(ecom__lmdb *be);
void ecom__inv_claims_end(ecom__lmdb *be, int committed);
/* The sale's index as this txn sees the store (built or caught up first). */
int ecom__inv_claims_index(inv_ctx *c, const char *sale, const inv_sale *s, cix **out);
/* Records that claim ticket (stored already) was created or ended: the sale's
 * claim_changes and log, and the index if it is in step. */
int ecom__inv_claims_changed(inv_ctx *c, const char *sale, inv_sale *s, uint64_t ticket,
                             const inv_claim *cl);
/* Forgets the index of a sale (closed: it is rebuilt if ever needed again). */
void ecom__inv_claims_forget(ecom__lmdb *be, const char *sale);
/* Frees every index (close). */
void ecom__inv_claims_free(ecom__lmdb *be);

/* ---- the operations (lmdb_stock.c, lmdb_reserve.c, lmdb_flash.c) ----
 * Each sets op->result and returns only fatal errors. */
int ecom__inv_location_add(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_adjust(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_set_on_hand(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_set_safety(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_set_backorder(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_set_purchase_limit(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_reserve(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_resv_end_op(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_extend(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_flash_open(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_flash_close(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_flash_claim(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_claim_end_op(inv_ctx *c, ecom_inventory_op *op);
int ecom__inv_claim_bind_op(inv_ctx *c, ecom_inventory_op *op);
/* Ends a due hold named by an expiry entry (state expired). */
int ecom__inv_resv_expire(inv_ctx *c, const char *id);
int ecom__inv_claim_expire(inv_ctx *c, const char *sale, uint64_t ticket);
/* Closes a sale whose end time has come, as ECOM_INV_FLASH_CLOSE would (the sweep's,
 * for its expiry entry). A sale closed already, or gone, ends nothing. */
int ecom__inv_sale_end(inv_ctx *c, const char *sale);
/* Gives every open sale with an end time its expiry entry, for stores whose sales were
 * opened before sales closed by themselves. At a writable open. */
int ecom__inv_sale_ends_index(ecom__lmdb *be, MDB_txn *txn);

/* ---- tallies for check (lmdb_inv_tally.c) ----
 * A hash table from byte keys to a few counters, for sums check gathers in one
 * pass and compares in another. */
#define INV_TALLY_N 8
typedef struct inv_tally_entry {
    struct inv_tally_entry *next;
    size_t len;
    int seen;
    int64_t v[INV_TALLY_N];
    unsigned char key[];
} inv_tally_entry;

typedef struct inv_tally {
    inv_tally_entry **buckets;
    size_t nbuckets, count;
} inv_tally;

/* The entry of key, made (zeroed) if missing; NULL only when out of memory. */
inv_tally_entry *ecom__inv_tally_get(inv_tally *t, const void *key, size_t len);
/* The entry of key, or NULL. */
inv_tally_entry *ecom__inv_tally_find(const inv_tally *t, const void *key, size_t len);
/* Visits every entry until fn returns nonzero (returned). */
int ecom__inv_tally_each(const inv_tally *t, int (*fn)(void *ctx, inv_tally_entry *e), void *ctx);
void ecom__inv_tally_free(inv_tally *t);

/* ---- inventory_apply's body, in a txn of the caller's (write_batch) ----
 * Runs ops in order in txn, sharing t with the txn's other inventory work, and
 * writes back the sale figures it cached. The caller holds the claim indexes
 * (ecom__inv_claims_begin, ended once txn committed or not). Sets each op's
 * result; returns only errors that fail the txn. */
int ecom__lmdb_inventory_apply_txn(ecom__lmdb *be, MDB_txn *txn, inv_txn *t,
                                   ecom_inventory_op *ops, size_t n, int64_t now);

/* ---- vtable entries ---- */
int ecom__lmdb_inventory_apply(ecom_backend *be, ecom_inventory_op *ops, size_t n,
                               int64_t now);
int ecom__lmdb_stock_get(ecom_backend *be, const char *sku, const char *location,
                         ecom_stock_rec *out);
int ecom__lmdb_reservation_get(ecom_backend *be, const char *id, ecom_reservation_fn fn,
                               void *ctx);
int ecom__lmdb_location_list(ecom_backend *be, ecom_location_fn fn, void *ctx);
int ecom__lmdb_flash_get(ecom_backend *be, const char *sale, ecom_flash_status *out);
int ecom__lmdb_claim_get(ecom_backend *be, const char *sale, uint64_t ticket, int64_t now,
                         ecom_claim_result *out);
int ecom__lmdb_flash_keys(ecom_backend *be, const char *sale, ecom_key_fn fn, void *ctx);
/* Inventory part of check, in the check's snapshot. */
int ecom__lmdb_inventory_check(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink);

#endif /* ECOM_LMDB_INVENTORY_H */
