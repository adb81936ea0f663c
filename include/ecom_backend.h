/*
 * The backend contract: what a storage engine must do for libecom.
 *
 * Not a key-value store: each operation is one atomic unit in the engine's own
 * terms (one LMDB write transaction, one PostgreSQL transaction, one Redis script
 * on one slot). The core owns the rules (validation, money, the record's
 * encoding); the backend owns atomicity, durability, indexes, versions and the
 * event log entries that go with each change.
 *
 * Versioning works like sqlite3_vfs: `version` comes first, operations are only
 * ever appended, each block marked with the version that added it, and the core
 * refuses a backend whose version it does not know. A backend sets `version` to
 * the newest version whose operations it implements in full.
 *
 * A backend embeds `ecom_backend` as the first member of its own struct and keeps
 * all its state there. Every operation may be called from many threads at once.
 * Every operation returns ECOM_OK or a negative ECOM_E* code; on failure it
 * reports the detail (the engine's own message) with ecom_backend_error().
 */
#ifndef ECOM_BACKEND_H
#define ECOM_BACKEND_H

#include "ecom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ECOM_BACKEND_VERSION 6

/*
 * A product as the backend sees it: the index fields it must maintain, and the
 * content, an opaque byte string encoded by the core. All strings are
 * NUL-terminated, already validated, and valid only during the call.
 */
typedef struct ecom_product_rec {
    const char *id;
    const char *category;      /* "" when uncategorised */
    int status;                /* ecom_product_status */
    size_t sku_count;
    const char *const *skus;   /* sku_count codes, distinct */
    const void *data;          /* the content, opaque */
    size_t data_len;
} ecom_product_rec;

/* What the backend keeps about a product besides its record. */
typedef struct ecom_product_meta {
    uint64_t version;   /* 1 at creation, +1 on every write */
    int64_t created_at; /* ms since the epoch */
    int64_t updated_at;
} ecom_product_meta;

/*
 * Receives one stored product. rec and meta point into the engine's own memory
 * where it can (zero copy) and are valid only during the call.
 * Returns 0 to go on, 1 to stop early (not an error), or a negative ECOM_E* code
 * that the backend returns unchanged.
 */
typedef int (*ecom_product_fn)(void *ctx, const ecom_product_rec *rec,
                               const ecom_product_meta *meta, const void *key,
                               size_t key_len);

/* How a product write treats an existing product. */
typedef enum ecom_write_mode {
    ECOM_WRITE_CREATE = 0, /* must not exist: ECOM_EEXISTS */
    ECOM_WRITE_UPDATE = 1, /* must exist: ECOM_ENOTFOUND; version must match unless
                              expected_version is ECOM_VERSION_ANY: ECOM_ECONFLICT */
    ECOM_WRITE_UPSERT = 2  /* either */
} ecom_write_mode;

/* One product write, with its outcome filled in by the backend. */
typedef struct ecom_product_write {
    ecom_product_rec rec;
    ecom_write_mode mode;
    uint64_t expected_version;
    /* out */
    int result;             /* ECOM_OK or why this item was refused */
    int created;            /* 1 if the product did not exist before */
    ecom_product_meta meta; /* the stored version and timestamps */
} ecom_product_write;

/* Which products a scan visits. */
typedef struct ecom_scan {
    const char *category;  /* NULL or "": every product in id order. Else the products
                              whose category is this path or lies under it
                              (path + "/..."), a category before its subtree, each
                              subtree contiguous, by id within a category. */
    const void *after;     /* NULL: from the start; else resume after this key (a
                              key handed to the callback by an earlier scan of the
                              same kind) */
    size_t after_len;
} ecom_scan;

/* One event of the log, as written or read. */
typedef struct ecom_event_rec {
    uint64_t seq;     /* assigned by the backend: previous + 1, starting at 1 */
    int64_t time;     /* ms since the epoch */
    const char *type; /* "product.created", ... */
    const char *key;  /* what changed */
    uint64_t version; /* version reached (0 for a deletion) */
} ecom_event_rec;

/* Receives one event; return as ecom_product_fn. */
typedef int (*ecom_event_fn)(void *ctx, const ecom_event_rec *event);

/* Receives one category path in use and the products filed directly under it. */
typedef int (*ecom_category_fn)(void *ctx, const char *path, uint64_t products);

/*
 * What the core lends a backend's check: a way to report a violation, and the
 * core's own check of one product (its content decodes, validates, and agrees
 * with the index fields in rec). Both return nothing; the backend counts nothing:
 * the core counts reports.
 */
struct ecom_order_rec;

typedef struct ecom_check_sink {
    void (*report)(struct ecom_check_sink *sink, const char *message);
    void (*product)(struct ecom_check_sink *sink, const ecom_product_rec *rec,
                    const ecom_product_meta *meta);
    /* Version 3: the core's check of one order's content. */
    void (*order)(struct ecom_check_sink *sink, const struct ecom_order_rec *rec,
                  uint64_t version);
} ecom_check_sink;


/* ---- inventory (version 2) ---- */

/* What an inventory operation does. */
typedef enum ecom_inventory_op_kind {
    ECOM_INV_LOCATION_ADD = 0, /* id = code, text = name */
    ECOM_INV_ADJUST = 1,       /* sku, location, adjust_kind, quantity = signed delta of
                                  on_hand, text = reason, reference */
    ECOM_INV_SET_SAFETY = 2,   /* sku, location, quantity = safety stock (>= 0) */
    ECOM_INV_SET_BACKORDER = 3, /* sku, quantity = ecom_backorder_policy */
    ECOM_INV_RESERVE = 4,      /* id, location, lines, fingerprint, ttl_ms */
    ECOM_INV_COMMIT = 5,       /* id */
    ECOM_INV_RELEASE = 6,      /* id */
    ECOM_INV_EXTEND = 7,       /* id, ttl_ms */
    ECOM_INV_EXPIRE = 8,       /* ends up to `limit` holds due at `now`; out: count */
    ECOM_INV_FLASH_OPEN = 9,   /* id = sale, sku, location, flash */
    ECOM_INV_FLASH_CLOSE = 10, /* id = sale */
    ECOM_INV_FLASH_CLAIM = 11, /* id = sale, user, key, quantity; out: claim */
    ECOM_INV_FLASH_RELEASE = 12, /* id = sale, ticket; key (version 6): the order ending
                                    it, which a claim tied to an order (FLASH_BIND) must
                                    name, else ECOM_EBUSY */
    ECOM_INV_FLASH_COMMIT = 13, /* id = sale, ticket; key as FLASH_RELEASE */
    ECOM_INV_SET_ON_HAND = 14, /* sku, location, quantity = the counted on_hand (>= 0);
                                  a "correct" ledger entry of the difference; same
                                  refusals as ADJUST */
    ECOM_INV_SET_PURCHASE_LIMIT = 15, /* sku, quantity = most units per cart and order
                                  (0: none). Version 3; read back with
                                  purchase_limits_get (version 5). */
    ECOM_INV_FLASH_BIND = 16   /* id = sale, ticket, key = an order id: ties a held claim
                                  to the order it stands in for, so that no other order
                                  can stand on it; the same order again is no error,
                                  another is ECOM_EBUSY; a claim not held is refused as
                                  FLASH_COMMIT refuses it (ECOM_EEXPIRED, ECOM_EENDED).
                                  Version 6: checkout sends it with the order's creation. */
} ecom_inventory_op_kind;

/*
 * One inventory operation. The core has validated every argument (ids, charset,
 * quantities in range, lines of one SKU summed into one, location filled in), so the
 * backend checks only what needs the stored state. Strings are NUL-terminated and
 * valid during the call.
 */
typedef struct ecom_inventory_op {
    ecom_inventory_op_kind kind;
    const char *id;
    const char *sku;
    const char *location;
    const char *text;
    const char *reference;
    int adjust_kind;           /* ecom_adjust_kind */
    int64_t quantity;
    size_t line_count;         /* RESERVE: distinct SKUs */
    const char *const *line_skus;
    const int64_t *line_quantities;
    uint64_t fingerprint;      /* RESERVE: a hash of (location, lines): same id with
                                  another fingerprint is ECOM_ECONFLICT */
    int64_t ttl_ms;            /* RESERVE, EXTEND: the hold lasts until now + ttl_ms, now
                                  being the unit's own time (not the submitter's: an
                                  operation may wait in group commit) */
    const ecom_flash_options *flash; /* FLASH_OPEN: starts_at resolved, ttl defaulted */
    const char *user;          /* FLASH_CLAIM */
    const char *key;           /* FLASH_CLAIM: idempotency key, per sale */
    uint64_t ticket;           /* FLASH_RELEASE, FLASH_COMMIT */
    uint64_t limit;            /* EXPIRE */
    /* out */
    int result;                /* ECOM_OK or why this operation was refused */
    int existing;              /* RESERVE, FLASH_CLAIM: an idempotent retry */
    size_t failed_line;        /* RESERVE: the line short of stock (ECOM_EINSUFFICIENT)
                                  or unknown (ECOM_ESKU) */
    uint64_t count;            /* EXPIRE: holds ended */
    ecom_claim_result claim;   /* FLASH_CLAIM; last: it grew at version 5 (user), and
                                  the core hands an older backend arrays of the older
                                  size (inventory_apply's, and an order op's) */
} ecom_inventory_op;

/* Stock counters of one SKU at one location. */
typedef struct ecom_stock_rec {
    int64_t on_hand, reserved, safety;
    int backorder; /* ecom_backorder_policy of the SKU */
} ecom_stock_rec;

/* A reservation as stored; strings valid during the callback only. */
typedef struct ecom_reservation_rec {
    const char *id;
    const char *location;
    int state;                 /* ecom_reservation_state as stored */
    int64_t created_at, expires_at, ended_at;
    size_t line_count;
    const char *const *line_skus;
    const int64_t *line_quantities;
} ecom_reservation_rec;

typedef int (*ecom_reservation_fn)(void *ctx, const ecom_reservation_rec *rec);
typedef int (*ecom_location_fn)(void *ctx, const char *code, const char *name);
/* Receives one idempotency key of a sale whose claim holds or held units. */
typedef int (*ecom_key_fn)(void *ctx, const char *key);

/* ---- carts, orders, idempotency, consumers, payments (version 3) ---- */

typedef enum ecom_cart_op_kind {
    ECOM_CART_ADD = 0,    /* cart, sku, quantity (added), unit_price, currency */
    ECOM_CART_SET = 1,    /* cart, sku, quantity (0 removes), unit_price, currency */
    ECOM_CART_REMOVE = 2, /* cart, sku */
    ECOM_CART_CLEAR = 3,  /* cart */
    ECOM_CART_MERGE = 4,  /* cart = the guest cart, into = the user cart; the guest
                             cart, its lines moved, then reads as empty but remembers
                             into until it expires or is written again */
    ECOM_CART_PURGE = 5,  /* deletes carts idle past their TTL (expires_at <= now) */
    ECOM_CART_TAKE = 6    /* cart, line_count lines (skus, quantities): what an order
                             bought leaves the cart, each line losing up to its
                             quantity (at 0 it goes); a SKU without a line, or a
                             missing cart, is no error. A cart merged away is taken
                             from in the cart it remembers, whose idle time stays as
                             it was. Version 5. */
} ecom_cart_op_kind;

/*
 * One cart operation. The core validated ids and quantities and read the price from
 * the catalog; the backend applies the cart's stored state: the currency rule (a
 * cart's lines share the currency of its first line: ECOM_EMIXEDCURRENCY; before
 * version 5, ECOM_ECURRENCY, which the core still reads as the same), the bounds
 * (ECOM_CART_LINES_MAX lines, ECOM_CART_QUANTITY_MAX per line: ECOM_ELIMIT on ADD
 * and SET, capped on MERGE; MERGE refuses with ECOM_ELIMIT, changing nothing, when
 * the guest's lines would not all fit) and the SKU's purchase limit (stored with
 * ECOM_INV_SET_PURCHASE_LIMIT: ECOM_ELIMIT, capped on MERGE). Every write sets the
 * cart's updated_at = now and expires_at = now + ttl_ms (the cart kind's idle TTL).
 * An expired cart reads and merges as empty.
 */
typedef struct ecom_cart_op {
    ecom_cart_op_kind kind;
    const char *cart;
    const char *into;      /* MERGE */
    const char *sku;
    int64_t quantity;
    int64_t unit_price;
    const char *currency;
    int64_t ttl_ms;        /* of `cart` (of `into` for MERGE) */
    /* out */
    int result;
    uint64_t count;        /* PURGE: carts deleted */
    /* version 5, after everything an older backend knows (which the core hands ops
     * of the older size): TAKE's lines */
    const char *const *skus;
    const int64_t *quantities;
    size_t line_count;
} ecom_cart_op;

typedef struct ecom_cart_line_rec {
    const char *sku;
    int64_t quantity;
    int64_t unit_price;
} ecom_cart_line_rec;

typedef struct ecom_cart_rec {
    const char *cart;
    const char *currency;  /* "" when empty */
    int64_t updated_at, expires_at;
    size_t line_count;
    const ecom_cart_line_rec *lines; /* in SKU order */
} ecom_cart_rec;

typedef int (*ecom_cart_fn)(void *ctx, const ecom_cart_rec *rec);

/* What an idempotency operation does. */
typedef enum ecom_idem_op_kind {
    ECOM_IDEM_BEGIN = 0,   /* key, fingerprint, ttl_ms, stale_ms; out: state, result, order_id */
    ECOM_IDEM_FINISH = 1,  /* key, result, order_id */
    ECOM_IDEM_PURGE = 2    /* deletes keys created more than ttl_ms before now; out: count */
} ecom_idem_op_kind;

/* An idempotency key's state, as BEGIN finds it. */
typedef enum ecom_idem_state {
    ECOM_IDEM_NEW = 0,      /* the key was free (or released, or stale) and is now held by
                               this request; order_id keeps what an earlier holder made */
    ECOM_IDEM_IN_FLIGHT = 1,/* another request holds it */
    ECOM_IDEM_DONE = 2,     /* finished: result and order_id are stored */
    ECOM_IDEM_MISMATCH = 3  /* the key was used with another fingerprint */
} ecom_idem_state;

/*
 * One idempotency operation (Stripe's semantics; the core runs the request):
 * BEGIN claims the key atomically: free, or created more than ttl_ms before now and
 * not held by a live request -> held (NEW); held with the same fingerprint ->
 * IN_FLIGHT, unless its holder began more than stale_ms ago (a crashed request): then
 * handed over (NEW, order_id kept); finished -> DONE with the stored result and order
 * id; released -> NEW (order id kept); another fingerprint -> MISMATCH. A key held by a
 * request that began less than stale_ms ago never expires under it (version 6).
 * FINISH stores the holder's result (holder, when not 0, must be the key's holder: one
 * taken over since is ECOM_ENOTFOUND; version 6): a retryable result (ECOM_ETIMEOUT,
 * ECOM_EPAYMENT, ECOM_EBACKEND, ECOM_EBUSY) releases the key instead, keeping order_id,
 * so that a retry resumes the same order; a failure before any order exists (no
 * order_id given or stored) deletes the key, as if unused. PURGE deletes keys created
 * ttl_ms or more before now, except (version 6), when stale_ms > 0, one held by a
 * request that began less than stale_ms ago.
 */
typedef struct ecom_idem_op {
    ecom_idem_op_kind kind;
    const char *key;
    uint64_t fingerprint;
    uint64_t holder;       /* BEGIN: a nonce naming this request, stored when the key
                              becomes held (NEW), for ECOM_ORDER_CREATE's idem_holder;
                              FINISH: the same nonce (0: any holder) */
    int64_t ttl_ms, stale_ms;
    int result;            /* FINISH: in; BEGIN: out (DONE) */
    char order_id[ECOM_ID_MAX + 1]; /* FINISH: in; BEGIN: out */
    /* out */
    ecom_idem_state state;
    int op_result;         /* ECOM_OK, or why the operation itself failed */
    uint64_t count;        /* PURGE */
} ecom_idem_op;

/*
 * An order as the backend sees it: the index fields it maintains and the content, an
 * opaque byte string encoded by the core (lines, prices, totals, history, payment).
 */
typedef struct ecom_order_rec {
    const char *id;
    const char *user;
    int state;             /* ecom_order_state */
    int64_t created_at;
    const void *data;
    size_t data_len;
} ecom_order_rec;

typedef int (*ecom_order_fn)(void *ctx, const ecom_order_rec *rec, uint64_t version,
                             const void *key, size_t key_len);

typedef enum ecom_order_op_kind {
    ECOM_ORDER_CREATE = 0, /* rec (version 1); the id must be new: ECOM_EEXISTS */
    ECOM_ORDER_UPDATE = 1  /* rec replaces the stored order if its version is
                              expected_version: ECOM_ENOTFOUND, ECOM_ECONFLICT */
} ecom_order_op_kind;

/*
 * One order write, with the inventory operation that must happen with it (commit the
 * order's reservation when it is paid, release it when it is cancelled, ...): both in
 * one atomic unit, or neither. Appends `event` (key = order id, version = the new
 * version). On CREATE with idem_key set, records the order id in that in-flight
 * idempotency key in the same unit.
 */
typedef struct ecom_order_op {
    ecom_order_op_kind kind;
    ecom_order_rec rec;
    uint64_t expected_version;
    const char *event;             /* "order.created", "order.paid", ... */
    ecom_inventory_op *inventory;  /* inventory_count operations applied in the same
                                      unit: if one is refused, so is the whole write
                                      (result = its result) */
    size_t inventory_count;
    const char *idem_key;          /* CREATE: NULL or the checkout's key */
    uint64_t idem_holder;          /* CREATE with idem_key: if not 0, the key must be held
                                      by this holder and name no order yet, else the
                                      create is refused (ECOM_EBUSY): lets a request
                                      claim its key and create its order in one batch */
    /* out */
    int result;
    uint64_t version;
} ecom_order_op;

/* Which orders a scan visits, newest first. */
typedef struct ecom_order_scan {
    const char *user;      /* NULL: every user */
    int state;             /* -1: any */
    int64_t older_than;    /* 0: no bound; else only orders created before it */
    const void *after;     /* resume after this key (from an earlier scan of the same kind) */
    size_t after_len;
} ecom_order_scan;

/* A payment the built-in test provider recorded (strings valid during callbacks). */
typedef struct ecom_payment_rec {
    const char *key;       /* the idempotency key of the call */
    const char *order_id;
    const char *charge_id;
    const char *kind;      /* "charge", "capture", "void", "refund" */
    int64_t amount;
    int approved;
    const char *reason;
    int64_t time;
} ecom_payment_rec;

typedef int (*ecom_payment_fn)(void *ctx, const ecom_payment_rec *rec);

/* One payment record to store, idempotent on key: when the key is already stored,
 * nothing is written, existing = 1, and the out fields describe the first record. */
typedef struct ecom_payment_op {
    ecom_payment_rec rec;
    /* out */
    int result;
    int existing;
    int approved;
    int64_t amount;
    char charge_id[72];
    char reason[128];
} ecom_payment_op;

/* The kind of one item of write_batch, and the op type its `op` points to. */
typedef enum ecom_write_kind {
    ECOM_WRITE_INVENTORY = 0, /* ecom_inventory_op */
    ECOM_WRITE_CART = 1,      /* ecom_cart_op */
    ECOM_WRITE_ORDER = 2,     /* ecom_order_op */
    ECOM_WRITE_IDEM = 3,      /* ecom_idem_op */
    ECOM_WRITE_PAYMENT = 4    /* ecom_payment_op */
} ecom_write_kind;

/*
 * Since version 4, a flag OR'ed into an item's kind: the item depends on the nearest
 * earlier item of the batch without this flag (its anchor), and is applied only if
 * the anchor was; otherwise it is skipped, leaving no trace, with the anchor's result
 * as its own. So "mark the order paid, then empty the cart and finish the key" is one
 * unit whose last two steps happen only if the first did. The core sends it only to
 * backends of version 4 or later, and never to an item without an earlier anchor.
 */
#define ECOM_WRITE_DEPENDENT 0x100

/* One write of a mixed batch (write_batch). */
typedef struct ecom_write_item {
    int kind;  /* ecom_write_kind, possibly | ECOM_WRITE_DEPENDENT (version 4) */
    void *op;  /* of the kind's op type; its result field is set */
} ecom_write_item;

typedef struct ecom_backend ecom_backend;

struct ecom_backend {
    int version;      /* ECOM_BACKEND_VERSION the backend implements */
    const char *name; /* "lmdb", ... (static) */

    /* ---- version 1 ---- */

    /* Releases everything. No other call is in flight, and no thread that used the
       store is exiting at the same moment (per-thread state is freed at thread exit). */
    void (*close)(ecom_backend *be);

    /*
     * Applies n product writes in one atomic unit. Each item is judged alone: one
     * that cannot be applied (mode, version, or a SKU code owned by another product:
     * ECOM_EDUPSKU) gets its `result` set and leaves no trace, and the others go on.
     * For each applied item: the version becomes old + 1 (1 when created),
     * updated_at = now, created_at kept (now when created); the SKU and category
     * indexes follow; one event ("product.created" or "product.updated", key = id,
     * version = the new version, time = now) is appended. SKU codes freed by an
     * earlier item of the same call are free for a later one.
     * Returns an error only if the unit as a whole failed (then nothing is applied).
     */
    int (*product_write)(ecom_backend *be, ecom_product_write *writes, size_t n, int64_t now);

    /*
     * Deletes a product (its SKU and category index entries with it) if its version
     * matches expected_version (any with ECOM_VERSION_ANY), and appends
     * "product.deleted" (version 0). Errors: ECOM_ENOTFOUND, ECOM_ECONFLICT.
     */
    int (*product_delete)(ecom_backend *be, const char *id, uint64_t expected_version,
                          int64_t now);

    /* Hands the product to fn (key = id). Errors: ECOM_ENOTFOUND, or fn's error. */
    int (*product_get)(ecom_backend *be, const char *id, ecom_product_fn fn, void *ctx);

    /* Hands the product owning this SKU code to fn (key = id). Errors: ECOM_ENOTFOUND. */
    int (*product_get_by_sku)(ecom_backend *be, const char *sku, ecom_product_fn fn,
                              void *ctx);

    /*
     * Visits products as scan says, from one consistent snapshot, handing each with
     * a key that can resume a later scan right after it, until fn returns nonzero.
     */
    int (*product_scan)(ecom_backend *be, const ecom_scan *scan, ecom_product_fn fn,
                        void *ctx);

    /* Visits every category path with at least one product, in byte order. */
    int (*category_list)(ecom_backend *be, ecom_category_fn fn, void *ctx);

    /* Visits up to max events with seq > after, in order. */
    int (*events_read)(ecom_backend *be, uint64_t after, size_t max, ecom_event_fn fn,
                       void *ctx);

    /* The newest event's seq, 0 if none. */
    int (*events_last_seq)(ecom_backend *be, uint64_t *seq);

    /*
     * Checks the engine's own structures in one snapshot (indexes against records,
     * counters against what they count, the event log without gaps) and hands
     * every product to sink->product (and, from version 3, every order to
     * sink->order). Reports each violation to sink->report.
     * Returns an error only if the check could not run.
     */
    int (*check)(ecom_backend *be, ecom_check_sink *sink);

    /* ---- version 2: inventory and flash sales ---- */

    /*
     * Applies n inventory operations, in order, in one atomic unit (one transaction,
     * one fsync: the core's group commit hands many buyers' operations at once). Each
     * is judged alone: one refused gets `result` set and leaves no trace. Before
     * judging stock, holds (reservations, claims) whose expiry is <= now are ended
     * ("expired"), so an expired hold never blocks a buyer. Every change writes its
     * inventory ledger entries and appends its events ("stock.changed" key "sku@loc",
     * "reservation.created|committed|released|expired" key = id) in the same unit.
     * Results per kind:
     *   RESERVE      ECOM_ESKU, ECOM_ELOCATION, ECOM_EINSUFFICIENT, ECOM_ECONFLICT;
     *                a retry with the same fingerprint: ECOM_OK, existing = 1
     *   COMMIT/RELEASE/EXTEND  ECOM_ENOTFOUND, ECOM_EENDED, ECOM_EEXPIRED
     *   ADJUST       ECOM_ESKU, ECOM_ELOCATION, ECOM_EINSUFFICIENT (on_hand would go
     *                below reserved, or below 0)
     *   FLASH_OPEN   ECOM_EEXISTS, ECOM_ESKU, ECOM_ELOCATION, ECOM_EINSUFFICIENT
     *   FLASH_CLAIM  ECOM_ENOTFOUND (sale); otherwise ECOM_OK with claim.outcome
     *   FLASH_RELEASE/COMMIT  ECOM_ENOTFOUND, ECOM_EENDED, ECOM_EEXPIRED, ECOM_EBUSY
     * Returns an error only if the unit as a whole failed (nothing applied; every
     * result is set to that error).
     */
    int (*inventory_apply)(ecom_backend *be, ecom_inventory_op *ops, size_t n, int64_t now);

    /* Stock of sku at location (zeros if never stocked). Errors: ECOM_ESKU, ECOM_ELOCATION. */
    int (*stock_get)(ecom_backend *be, const char *sku, const char *location,
                     ecom_stock_rec *out);

    /* Hands the reservation to fn. Errors: ECOM_ENOTFOUND. */
    int (*reservation_get)(ecom_backend *be, const char *id, ecom_reservation_fn fn, void *ctx);

    /* Visits every location, "default" included, in code order. */
    int (*location_list)(ecom_backend *be, ecom_location_fn fn, void *ctx);

    /* A sale's figures (out->version is set by the caller). Errors: ECOM_ENOTFOUND. */
    int (*flash_get)(ecom_backend *be, const char *sale, ecom_flash_status *out);

    /* A claim as it stands at `now` (outcome ADMITTED, QUEUED with position and wait,
     * EXPIRED, RELEASED or COMMITTED), with `user`, who made it, when it holds units
     * (version 5: the checkout serves a claim to its own buyer only). Errors:
     * ECOM_ENOTFOUND. */
    int (*claim_get)(ecom_backend *be, const char *sale, uint64_t ticket, int64_t now,
                     ecom_claim_result *out);

    /* Visits the idempotency key of every claim of the sale that got units (held,
     * committed, released or expired), so the core can answer retries of those claims
     * correctly while it decides sold-out answers in memory. Errors: ECOM_ENOTFOUND. */
    int (*flash_keys)(ecom_backend *be, const char *sale, ecom_key_fn fn, void *ctx);

    /* ---- version 3: carts, orders, idempotency, consumers, payments ---- */

    /* Applies n cart operations in one atomic unit, each judged alone (as
     * inventory_apply). Results: ECOM_EMIXEDCURRENCY, ECOM_ELIMIT, ECOM_ENOTFOUND
     * (REMOVE of a missing line). */
    int (*cart_apply)(ecom_backend *be, ecom_cart_op *ops, size_t n, int64_t now);

    /* Hands the cart to fn (an empty rec when missing or expired at now). */
    int (*cart_get)(ecom_backend *be, const char *cart, int64_t now, ecom_cart_fn fn,
                    void *ctx);

    /* Applies n idempotency operations in one atomic unit, each judged alone. */
    int (*idem_apply)(ecom_backend *be, ecom_idem_op *ops, size_t n, int64_t now);

    /* Applies n order writes in one atomic unit, each judged alone. */
    int (*order_apply)(ecom_backend *be, ecom_order_op *ops, size_t n, int64_t now);

    /* Hands the order to fn (key = id). Errors: ECOM_ENOTFOUND. */
    int (*order_get)(ecom_backend *be, const char *id, ecom_order_fn fn, void *ctx);

    /* Visits orders as scan says, newest first, from one snapshot, with resumable keys. */
    int (*order_scan)(ecom_backend *be, const ecom_order_scan *scan, ecom_order_fn fn,
                      void *ctx);

    /* A consumer's acknowledged seq (0 when new); ack keeps the maximum. */
    int (*consumer_get)(ecom_backend *be, const char *name, uint64_t *seq);
    int (*consumer_ack)(ecom_backend *be, const char *name, uint64_t seq);

    /* The built-in test payment provider's ledger: n puts in one atomic unit (see
     * ecom_payment_op); get by key (ECOM_ENOTFOUND); list an order's records, oldest
     * first. */
    int (*payment_apply)(ecom_backend *be, ecom_payment_op *ops, size_t n, int64_t now);
    int (*payment_get)(ecom_backend *be, const char *key, ecom_payment_fn fn, void *ctx);
    int (*payment_list)(ecom_backend *be, const char *order_id, ecom_payment_fn fn,
                        void *ctx);

    /*
     * Optional (NULL: the core makes one call per kind instead). Applies n writes of
     * any kinds, in order, in ONE atomic unit (one transaction, one fsync), so that
     * the core's group commit pays one durable write per batch however many kinds
     * it mixes. Each item is judged alone exactly as its kind's *_apply would judge
     * it, seeing what earlier items of the unit wrote, and gets its result field
     * set (for ECOM_WRITE_IDEM: op_result); a refused item leaves no trace and the
     * others go on. Returns an error only if the unit as a whole failed (an engine
     * failure: nothing is applied and every item's result is that error). An item
     * of an unknown kind or without op fails the call the same way, with ECOM_EINVAL
     * (the results of the other items set to it).
     */
    int (*write_batch)(ecom_backend *be, ecom_write_item *items, size_t n, int64_t now);

    /* ---- version 4: no new operation; write_batch honours ECOM_WRITE_DEPENDENT ---- */

    /* ---- version 5: cart_apply reports ECOM_EMIXEDCURRENCY, takes ECOM_CART_TAKE,
     * and refuses a MERGE whose lines would not all fit ---- */

    /*
     * The purchase limits of n SKUs (ECOM_INV_SET_PURCHASE_LIMIT), from one snapshot:
     * limits[i] is skus[i]'s, 0 when it has none (an unknown SKU has none). The core
     * re-checks the cart's lines at checkout with it, since a limit may have been
     * lowered after a line was added, and names the limit a refused cart line hit.
     * The core checks the pointer before calling: NULL means neither is done.
     */
    int (*purchase_limits_get)(ecom_backend *be, const char *const *skus, size_t n,
                               int64_t *limits);
};

/* Opens a backend for a URI of its scheme. */
typedef struct ecom_backend_factory {
    int version;        /* ECOM_BACKEND_VERSION the factory's backends implement */
    const char *scheme; /* "lmdb" */
    /*
     * [out] out    the backend.
     * [in]  store  the store being opened: the backend keeps it to report errors.
     * [in]  uri    the whole URI, to be parsed by the backend (ECOM_EURI if bad).
     * [in]  opts   never NULL.
     */
    int (*open)(ecom_backend **out, ecom_store *store, const char *uri,
                const ecom_options *opts);
} ecom_backend_factory;

/*
 * Adds a factory for its scheme (replacing one of the same scheme). The factory
 * must outlive every store opened with it. Call before opening stores.
 * Errors: ECOM_EVERSION, ECOM_EINVAL, ECOM_ENOMEM.
 */
ECOM_EXTERN int ecom_backend_register(const ecom_backend_factory *factory);

/* The factory for a scheme (built in or registered), or NULL. */
ECOM_EXTERN const ecom_backend_factory *ecom_backend_lookup(const char *scheme);

/*
 * Records the detail of a failure for ecom_errmsg(store) in the calling thread and
 * returns code, so a backend can write `return ecom_backend_error(s, ECOM_EBACKEND, m);`.
 */
ECOM_EXTERN int ecom_backend_error(ecom_store *store, int code, const char *message);

#ifdef __cplusplus
}
#endif
#endif /* ECOM_BACKEND_H */
