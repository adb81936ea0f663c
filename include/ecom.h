/*
 * libecom: the transactional core of an online store, as an embeddable C library.
 *
 * This header is the whole public API. Read it top to bottom like a manual.
 *
 * Conventions
 *   - Every fallible function returns int: ECOM_OK (0) or a negative ECOM_E* code.
 *     Results are written through out-parameters, which come first.
 *   - Handles (ecom_store, ecom_product, ...) are opaque and made by the library.
 *     Only option structs are public; each starts with a `version` field and has an
 *     ..._INIT initializer. Always start from the initializer.
 *   - Strings are NUL-terminated UTF-8 unless a length is given.
 *   - Money is an int64 count of minor units (cents) plus an ISO 4217 code. Never
 *     floating point.
 *   - Times are int64 milliseconds since the Unix epoch (UTC).
 *   - After a failure, ecom_errmsg(store) says what went wrong, naming the field.
 *
 * Threads
 *   One ecom_store may be shared by any number of threads. Other handles
 *   (products, pages, ...) belong to one thread at a time. Several processes may
 *   open the same LMDB store at once.
 */
#ifndef ECOM_H
#define ECOM_H

#include <stddef.h>
#include <stdint.h>

#include "ecom/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ECOM_BUILDING) && defined(__GNUC__)
#define ECOM_EXTERN __attribute__((visibility("default")))
#else
#define ECOM_EXTERN
#endif

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */
/* ------------------------------------------------------------------------- */

/*
 * Error codes. Numbers are stable: a retired code is never reused.
 */
typedef enum ecom_error {
    ECOM_OK = 0,
    ECOM_ERROR = -1,        /* unclassified failure; see ecom_errmsg() */
    ECOM_ENOMEM = -2,       /* out of memory */
    ECOM_EINVAL = -3,       /* invalid argument (NULL handle, bad option, ...) */
    ECOM_ENOTFOUND = -4,    /* no such product, SKU, ... */
    ECOM_EEXISTS = -5,      /* already exists (create of an existing id) */
    ECOM_ECONFLICT = -6,    /* expected version does not match (stale write) */
    ECOM_EURI = -7,         /* malformed store URI */
    ECOM_EUNSUPPORTED = -8, /* unknown URI scheme, or backend not compiled in */
    ECOM_EBACKEND = -9,     /* the storage engine failed; detail in ecom_errmsg() */
    ECOM_EJSON = -10,       /* malformed JSON */
    ECOM_EUTF8 = -11,       /* a string is not valid UTF-8 (or holds a control char) */
    ECOM_EPRICE = -12,      /* price negative, out of range or not an integer */
    ECOM_ECURRENCY = -13,   /* not an ISO 4217 currency code */
    ECOM_EDUPSKU = -14,     /* SKU code used twice (in a product or the store) */
    ECOM_ETOOLONG = -15,    /* a string is longer than its limit */
    ECOM_EBADID = -16,      /* an id or SKU code has a character outside its charset */
    ECOM_EFIELD = -17,      /* a required field is missing or has the wrong type */
    ECOM_EVERSION = -18,    /* unsupported version (backend vtable, option struct) */
    ECOM_ECORRUPT = -19,    /* stored data is damaged or inconsistent */
    ECOM_EBUSY = -20,       /* retryable: resource busy */
    ECOM_EIO = -21,         /* reading or writing a file failed */
    ECOM_ELIMIT = -22,      /* too many items (variants, attributes, values, ...), or a
                               cart bound or purchase limit exceeded */
    ECOM_ECATEGORY = -23,   /* malformed category path */
    ECOM_ESTATUS = -24,     /* unknown product status */
    ECOM_EREADONLY = -25,   /* a write to a store opened read-only */
    ECOM_EQUANTITY = -26,   /* quantity zero, negative or above ECOM_QUANTITY_MAX */
    ECOM_ESKU = -27,        /* no product has this SKU code */
    ECOM_ELOCATION = -28,   /* no such stock location */
    ECOM_EINSUFFICIENT = -29, /* not enough sellable stock */
    ECOM_EENDED = -30,      /* the reservation or claim has already ended */
    ECOM_EEXPIRED = -31,    /* the reservation or claim expired */
    ECOM_EUNAVAILABLE = -32, /* the product is not active (draft or archived) */
    ECOM_EEMPTY = -33,      /* the cart is empty */
    ECOM_ESTALE = -34,      /* a cart line's price or product changed since it was added */
    ECOM_EDECLINED = -35,   /* the payment was declined */
    ECOM_ETIMEOUT = -36,    /* the payment provider did not answer: retry with the same key */
    ECOM_EPAYMENT = -37,    /* the payment provider failed */
    ECOM_EIDEMPOTENCY = -38, /* the idempotency key was used with a different request */
    ECOM_ESTATE = -39,      /* the order's state does not allow this move */
    ECOM_EQUERY = -40,      /* a search query or request is malformed */
    ECOM_EMIXEDCURRENCY = -41 /* a cart would hold prices in two currencies */
} ecom_error;

/* A static English description of an error code. Never NULL. */
ECOM_EXTERN const char *ecom_strerror(int code);

/* The library's version as "MAJOR.MINOR.PATCH" (static). */
ECOM_EXTERN const char *ecom_version(void);

/* ------------------------------------------------------------------------- */
/* Memory                                                                     */
/* ------------------------------------------------------------------------- */

/*
 * One allocator for everything the library allocates (except what LMDB, libpq or
 * hiredis allocate internally). Set it once, before opening any store; it also
 * becomes cJSON's allocator. Passing NULL restores malloc/realloc/free.
 * The functions must be thread-safe. realloc(ctx, NULL, n) must act as malloc.
 */
typedef struct ecom_allocator {
    int version; /* ECOM_ALLOCATOR_VERSION */
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} ecom_allocator;
#define ECOM_ALLOCATOR_VERSION 1

/* Returns ECOM_EVERSION for an unknown struct version, ECOM_EINVAL for a NULL hook. */
ECOM_EXTERN int ecom_set_allocator(const ecom_allocator *allocator);

/* Frees memory the library handed to the caller as a plain buffer (JSON text, ...). */
ECOM_EXTERN void ecom_free(void *ptr);

/* ------------------------------------------------------------------------- */
/* Store                                                                      */
/* ------------------------------------------------------------------------- */

typedef struct ecom_store ecom_store;

/* The clock the store reads; tests inject their own. Returns ms since the epoch. */
typedef int64_t (*ecom_clock_fn)(void *ctx);

typedef struct ecom_options {
    int version;          /* ECOM_OPTIONS_VERSION */
    int create;           /* create the store if missing (default 1) */
    int read_only;        /* open for reading only (default 0) */
    uint64_t map_size;    /* LMDB: initial map size in bytes; 0 = default (64 MiB).
                             The map grows by itself when full. */
    int no_sync;          /* LMDB: skip fsync at commit (faster, not crash-safe) */
    ecom_clock_fn clock;  /* NULL = the system clock */
    void *clock_ctx;
    /* version 2 */
    const struct ecom_payment_provider *payments; /* NULL = the built-in test provider */
    int64_t shipping_fee;       /* flat, in minor units of the order's currency (0);
                                   0..ECOM_PRICE_MAX */
    int32_t tax_rate_bp;        /* tax in basis points: 825 = 8.25% (0);
                                   0..ECOM_TAX_RATE_BP_MAX */
    int64_t idempotency_ttl_ms; /* how long checkout keys are kept; 0 = 24 h */
    /* Idle time before a cart expires, applied to each cart when it is written. */
    int64_t user_cart_ttl_ms;   /* a user's cart; 0 = 90 days */
    int64_t guest_cart_ttl_ms;  /* a guest's cart; 0 = 30 days */
} ecom_options;
#define ECOM_TAX_RATE_BP_MAX 10000 /* 100% */
#define ECOM_OPTIONS_VERSION 2
#define ECOM_OPTIONS_INIT { ECOM_OPTIONS_VERSION, 1, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0 }

/*
 * Opens the store named by uri.
 *   lmdb:///abs/path/dir   or   lmdb:relative/dir
 * [out] out   the store. Set even on failure (unless memory ran out), so that
 *             ecom_errmsg(*out) can say why; close it with ecom_store_close().
 * [in]  uri   the store's URI.
 * [in]  opts  options, or NULL for the defaults.
 * Errors: ECOM_EURI (malformed), ECOM_EUNSUPPORTED (unknown scheme or backend not
 * compiled in), ECOM_EVERSION, ECOM_EINVAL (an option out of its range: a negative
 * time to keep, a shipping fee or tax rate outside its bounds), ECOM_ENOTFOUND (no
 * store there, opened read-only or without create), ECOM_ECORRUPT, ECOM_EBACKEND,
 * ECOM_ENOMEM.
 */
ECOM_EXTERN int ecom_store_open(ecom_store **out, const char *uri, const ecom_options *opts);

/* Closes the store. All threads must be done with it. NULL is a no-op. */
ECOM_EXTERN void ecom_store_close(ecom_store *store);

/*
 * The detail of the last failure on this store in the calling thread
 * ("title: not valid UTF-8 at byte 12"). Static or owned by the store: valid until
 * the next call on the store in this thread. Never NULL.
 */
ECOM_EXTERN const char *ecom_errmsg(ecom_store *store);

/* The code of the last failure on this store in the calling thread (ECOM_OK if none). */
ECOM_EXTERN int ecom_errcode(ecom_store *store);

/* The backend's name ("lmdb", ...). Static. */
ECOM_EXTERN const char *ecom_store_backend(const ecom_store *store);

/* The store's clock, in ms since the epoch. */
ECOM_EXTERN int64_t ecom_store_now(const ecom_store *store);

/* ------------------------------------------------------------------------- */
/* Products                                                                   */
/* ------------------------------------------------------------------------- */

/*
 * A product with one or more variants (SKUs). Limits, checked on every write:
 *   id, SKU code     1..64 bytes of [A-Za-z0-9._-], starting with a letter or digit
 *   title            1..512 bytes of UTF-8, no control characters
 *   description      up to 65536 bytes of UTF-8 (newlines and tabs allowed)
 *   brand            up to 128 bytes of UTF-8
 *   category         "" or slugs joined by '/': [a-z0-9][a-z0-9_-]*, depth <= 16,
 *                    up to 256 bytes ("electronics/audio/headphones")
 *   attributes       up to 64 names ([a-z0-9_-], 1..64 bytes), each with 1..64
 *                    values of 1..256 bytes
 *   variants         1..256, SKU codes unique across the store
 *   options          up to 16 per variant (name 1..64, value 1..256 bytes)
 *   prices           up to 16 per variant, one per ISO 4217 currency,
 *                    0 <= amount <= ECOM_PRICE_MAX minor units
 *   weight           grams, 0 <= weight <= 10^9
 *
 * Validation reports the first fault it finds, with one code per kind of fault,
 * and a message naming the field by its path ("variants[2].prices.EUR: -5 is
 * negative", "title: not valid UTF-8 at byte 12", "id: 70 bytes, longer than 64"):
 *   ECOM_ETOOLONG   a string over its byte limit
 *   ECOM_EBADID     a byte outside the charset of an id, SKU code or attribute name
 *   ECOM_EUTF8      invalid UTF-8 (strict: no overlong forms, no surrogates, nothing
 *                   above U+10FFFF), or a control character (C0, DEL, C1; the
 *                   description allows \t \n \r); in JSON also \u0000 and lone
 *                   surrogate escapes
 *   ECOM_EFIELD     a required field missing or empty (id, title, SKU, attribute
 *                   value, option name or value); a name given twice where names
 *                   are unique (attribute, attribute value, option name, currency
 *                   of one variant); a weight outside 0..10^9; in JSON also an
 *                   unknown field, a field given twice or of the wrong type
 *   ECOM_ELIMIT     too many variants, attributes, values, options or prices; no
 *                   variant at all; an attribute without values
 *   ECOM_EPRICE     an amount negative or above ECOM_PRICE_MAX; in JSON also one
 *                   that is not an integer (exactly: 1.5e3 is 1500, 19.99 is refused)
 *   ECOM_ECURRENCY  a price in a code ISO 4217 does not list
 *   ECOM_EDUPSKU    a SKU code used by two variants of the product
 *   ECOM_ECATEGORY  a malformed category path (its length: ECOM_ETOOLONG)
 *   ECOM_ESTATUS    a status other than draft, active, archived
 */
typedef struct ecom_product ecom_product;

typedef enum ecom_product_status {
    ECOM_STATUS_DRAFT = 0,
    ECOM_STATUS_ACTIVE = 1,
    ECOM_STATUS_ARCHIVED = 2
} ecom_product_status;

#define ECOM_ID_MAX 64
#define ECOM_PRICE_MAX INT64_C(1000000000000000) /* 10^15 minor units */

/* Any version: with update/delete/archive, skips the compare-and-set. */
#define ECOM_VERSION_ANY UINT64_MAX

/* Makes an empty draft product with this id. Caller owns *out (ecom_product_free). */
ECOM_EXTERN int ecom_product_new(ecom_product **out, const char *id);
ECOM_EXTERN void ecom_product_free(ecom_product *product);

/*
 * Parses one product from JSON and validates it fully.
 *   {"id":"p1","title":"...","description":"...","brand":"...",
 *    "category":"a/b","status":"active","attributes":{"color":["red","blue"]},
 *    "variants":[{"sku":"p1-red","options":{"color":"red"},
 *                 "prices":{"USD":1999,"EUR":1850},"weight_g":250}]}
 * Fields "version", "created_at" and "updated_at" are accepted and ignored on
 * input (the store assigns them). Unknown fields are an error (ECOM_EFIELD).
 * [out] out      the product; caller owns it.
 * [out] errmsg   NULL, or a buffer of errmsg_size bytes that receives, on failure,
 *                a message naming the field ("variants[1].prices.EUR: ...").
 * Errors: ECOM_EJSON, ECOM_EFIELD, ECOM_EUTF8, ECOM_ETOOLONG, ECOM_EBADID,
 * ECOM_EPRICE, ECOM_ECURRENCY, ECOM_EDUPSKU, ECOM_ELIMIT, ECOM_ECATEGORY,
 * ECOM_ESTATUS, ECOM_ENOMEM.
 */
ECOM_EXTERN int ecom_product_from_json(ecom_product **out, const char *json, size_t len,
                                       char *errmsg, size_t errmsg_size);

/* Serializes to compact JSON (with version and timestamps). Caller frees *out with ecom_free. */
ECOM_EXTERN int ecom_product_to_json(char **out, const ecom_product *product);

/* Checks every limit above. Same errors and message as ecom_product_from_json. */
ECOM_EXTERN int ecom_product_validate(const ecom_product *product, char *errmsg,
                                      size_t errmsg_size);

/* Getters. Strings are owned by the product. Index arguments out of range give NULL/0. */
ECOM_EXTERN const char *ecom_product_id(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_title(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_description(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_brand(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_category(const ecom_product *p);
ECOM_EXTERN ecom_product_status ecom_product_get_status(const ecom_product *p);
ECOM_EXTERN uint64_t ecom_product_version(const ecom_product *p);
ECOM_EXTERN int64_t ecom_product_created_at(const ecom_product *p);
ECOM_EXTERN int64_t ecom_product_updated_at(const ecom_product *p);

ECOM_EXTERN size_t ecom_product_attribute_count(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_attribute_name(const ecom_product *p, size_t i);
ECOM_EXTERN size_t ecom_product_attribute_value_count(const ecom_product *p, size_t i);
ECOM_EXTERN const char *ecom_product_attribute_value(const ecom_product *p, size_t i, size_t j);

ECOM_EXTERN size_t ecom_product_variant_count(const ecom_product *p);
ECOM_EXTERN const char *ecom_product_variant_sku(const ecom_product *p, size_t v);
ECOM_EXTERN int64_t ecom_product_variant_weight(const ecom_product *p, size_t v);
ECOM_EXTERN size_t ecom_product_variant_option_count(const ecom_product *p, size_t v);
ECOM_EXTERN const char *ecom_product_variant_option_name(const ecom_product *p, size_t v, size_t i);
ECOM_EXTERN const char *ecom_product_variant_option_value(const ecom_product *p, size_t v, size_t i);
ECOM_EXTERN size_t ecom_product_variant_price_count(const ecom_product *p, size_t v);
/* [out] currency  receives the 3-letter code of price i (4 bytes with the NUL). */
ECOM_EXTERN int64_t ecom_product_variant_price_at(const ecom_product *p, size_t v, size_t i,
                                                  char currency[4]);
/* Price of variant v in currency. Errors: ECOM_ENOTFOUND if the variant has no such price. */
ECOM_EXTERN int ecom_product_variant_price(int64_t *amount, const ecom_product *p, size_t v,
                                           const char *currency);
/* Index of the variant with this SKU code, or -1. */
ECOM_EXTERN long ecom_product_find_variant(const ecom_product *p, const char *sku);

/*
 * Setters. They copy their arguments and check only what cannot wait
 * (NULL, memory); ecom_product_validate() and every store write check the rest.
 */
ECOM_EXTERN int ecom_product_set_title(ecom_product *p, const char *title);
ECOM_EXTERN int ecom_product_set_description(ecom_product *p, const char *description);
ECOM_EXTERN int ecom_product_set_brand(ecom_product *p, const char *brand);
ECOM_EXTERN int ecom_product_set_category(ecom_product *p, const char *category);
ECOM_EXTERN int ecom_product_set_status(ecom_product *p, ecom_product_status status);
/* Adds value to attribute name (creating the attribute). */
ECOM_EXTERN int ecom_product_add_attribute(ecom_product *p, const char *name, const char *value);
/* Appends a variant; [out] index receives its index (may be NULL). */
ECOM_EXTERN int ecom_product_add_variant(ecom_product *p, const char *sku, int64_t weight_g,
                                         size_t *index);
ECOM_EXTERN int ecom_product_variant_set_option(ecom_product *p, size_t v, const char *name,
                                                const char *value);
/* Sets (or replaces) the price of variant v in currency. */
ECOM_EXTERN int ecom_product_variant_set_price(ecom_product *p, size_t v, const char *currency,
                                               int64_t amount);

/* Is this a known ISO 4217 currency code ("USD")? 1 or 0. */
ECOM_EXTERN int ecom_currency_valid(const char *code);

/* ------------------------------------------------------------------------- */
/* Catalog                                                                    */
/* ------------------------------------------------------------------------- */

/*
 * Creates a product. Validates it, checks that its SKU codes are free, stores it
 * with version 1 and appends a product.created event, all in one atomic unit.
 * On success the product's version and timestamps are updated in place.
 * Errors: validation errors, ECOM_EEXISTS (id taken), ECOM_EDUPSKU (a SKU code is
 * used by another product), ECOM_EBACKEND, ECOM_ENOMEM.
 */
ECOM_EXTERN int ecom_catalog_create(ecom_store *store, ecom_product *product);

/*
 * Replaces a product if its stored version equals expected_version (or always
 * with ECOM_VERSION_ANY), bumps the version and appends product.updated.
 * On success the product's version and timestamps are updated in place.
 * Errors: as create, plus ECOM_ENOTFOUND and ECOM_ECONFLICT (stale version).
 */
ECOM_EXTERN int ecom_catalog_update(ecom_store *store, ecom_product *product,
                                    uint64_t expected_version);

/* Creates or replaces, without a version check (what import does). */
ECOM_EXTERN int ecom_catalog_upsert(ecom_store *store, ecom_product *product);

/*
 * Sets a product's status to archived (an update: new version, product.updated).
 * Errors: ECOM_ENOTFOUND, ECOM_ECONFLICT.
 */
ECOM_EXTERN int ecom_catalog_archive(ecom_store *store, const char *id, uint64_t expected_version);

/* Deletes a product and frees its SKU codes; appends product.deleted.
 * Errors: ECOM_ENOTFOUND, ECOM_ECONFLICT. */
ECOM_EXTERN int ecom_catalog_delete(ecom_store *store, const char *id, uint64_t expected_version);

/* Reads a product by id. Caller owns *out. Errors: ECOM_ENOTFOUND, ECOM_EBADID. */
ECOM_EXTERN int ecom_catalog_get(ecom_product **out, ecom_store *store, const char *id);

/*
 * Reads the product that owns a SKU code. Caller owns *out.
 * [out] variant  receives the variant's index (may be NULL).
 * Errors: ECOM_ENOTFOUND, ECOM_EBADID.
 */
ECOM_EXTERN int ecom_catalog_get_by_sku(ecom_product **out, size_t *variant, ecom_store *store,
                                        const char *sku);

/* Listing, with cursor pagination. */
typedef struct ecom_list_options {
    int version;          /* ECOM_LIST_OPTIONS_VERSION */
    const char *category; /* NULL/"" = all; else this category and its subtree */
    int status;           /* -1 = any; else an ecom_product_status */
    const char *cursor;   /* NULL = first page; else a page's next cursor */
    size_t limit;         /* products per page, 1..1000 (0 = 100) */
} ecom_list_options;
#define ECOM_LIST_OPTIONS_VERSION 1
#define ECOM_LIST_OPTIONS_INIT { ECOM_LIST_OPTIONS_VERSION, NULL, -1, NULL, 0 }

typedef struct ecom_page ecom_page;

/*
 * Lists products in key order: by id, or by (category, id) when a category is
 * given. The cursor names the last key seen, so pages stay stable while products
 * change: nothing unchanged is skipped or repeated.
 * Caller owns *out (ecom_page_free). Errors: ECOM_EINVAL (bad cursor or limit),
 * ECOM_ECATEGORY, ECOM_ESTATUS.
 */
ECOM_EXTERN int ecom_catalog_list(ecom_page **out, ecom_store *store,
                                  const ecom_list_options *opts);
ECOM_EXTERN size_t ecom_page_count(const ecom_page *page);
/* Product i of the page; owned by the page. */
ECOM_EXTERN const ecom_product *ecom_page_product(const ecom_page *page, size_t i);
/* Cursor for the next page, or NULL on the last page. Owned by the page. */
ECOM_EXTERN const char *ecom_page_next_cursor(const ecom_page *page);
ECOM_EXTERN void ecom_page_free(ecom_page *page);

/* The category tree: every category path in use and its ancestors, in path order. */
typedef struct ecom_categories ecom_categories;
ECOM_EXTERN int ecom_catalog_categories(ecom_categories **out, ecom_store *store);
ECOM_EXTERN size_t ecom_categories_count(const ecom_categories *c);
ECOM_EXTERN const char *ecom_categories_path(const ecom_categories *c, size_t i);
/* Depth of entry i: 0 for a top-level category. */
ECOM_EXTERN size_t ecom_categories_depth(const ecom_categories *c, size_t i);
/* Products filed directly under entry i, and under it or its subtree. */
ECOM_EXTERN uint64_t ecom_categories_direct(const ecom_categories *c, size_t i);
ECOM_EXTERN uint64_t ecom_categories_total(const ecom_categories *c, size_t i);
ECOM_EXTERN void ecom_categories_free(ecom_categories *c);

/* ------------------------------------------------------------------------- */
/* Import and export (JSON Lines)                                             */
/* ------------------------------------------------------------------------- */

/* Called for each rejected line; return nonzero to stop the import. */
typedef int (*ecom_reject_fn)(void *ctx, uint64_t line, int code, const char *message);
/* Called after each committed batch. */
typedef void (*ecom_progress_fn)(void *ctx, uint64_t lines, uint64_t bytes, uint64_t total_bytes);

typedef struct ecom_import_options {
    int version;              /* ECOM_IMPORT_OPTIONS_VERSION */
    size_t batch_size;        /* products per atomic batch (0 = 1000) */
    ecom_reject_fn on_reject; /* may be NULL */
    ecom_progress_fn on_progress; /* may be NULL */
    void *ctx;
} ecom_import_options;
#define ECOM_IMPORT_OPTIONS_VERSION 1
#define ECOM_IMPORT_OPTIONS_INIT { ECOM_IMPORT_OPTIONS_VERSION, 0, NULL, NULL, NULL }

typedef struct ecom_import_stats {
    uint64_t lines;    /* lines read (blank lines included) */
    uint64_t imported; /* new products */
    uint64_t updated;  /* products replaced */
    uint64_t rejected; /* lines refused, each reported to on_reject */
} ecom_import_stats;

/*
 * Streams a JSON Lines file (one product per line) into the store, upserting in
 * atomic batches. Memory stays flat whatever the file's size. A bad line is
 * rejected alone (reported with its 1-based line number and the reason); the good
 * lines around it are kept. Blank lines are skipped. Lines that do not parse or
 * validate are reported as they are read; a clash with the store (a SKU code owned
 * by another product) when their batch commits, so reports are in line order only
 * within each kind.
 * [out] stats  counts (filled also on failure, up to the failure).
 * [in]  path   the file ("-" reads standard input).
 * Errors: ECOM_EIO (cannot read the file), ECOM_EBACKEND, ECOM_ENOMEM. Rejected
 * lines are not errors of the call.
 */
ECOM_EXTERN int ecom_catalog_import(ecom_import_stats *stats, ecom_store *store, const char *path,
                                    const ecom_import_options *opts);

/* Receives output; returns 0, or nonzero to stop with ECOM_EIO. */
typedef int (*ecom_write_fn)(void *ctx, const char *data, size_t len);

/* Writes every product as JSON Lines, in id order, from one consistent snapshot.
 * [out] count  products written (may be NULL). */
ECOM_EXTERN int ecom_catalog_export(uint64_t *count, ecom_store *store, ecom_write_fn write,
                                    void *ctx);

/* ------------------------------------------------------------------------- */
/* Event log                                                                  */
/* ------------------------------------------------------------------------- */

/*
 * Every change appends an event with a sequence number (1, 2, 3, ... with no gaps)
 * in the same atomic unit as the change. Types: "product.created", "product.updated",
 * "product.deleted" (key: the product id); "stock.changed" (key "sku@location");
 * "location.created"; "reservation.created", ".committed", ".released", ".expired",
 * ".extended" (key: the reservation id); "flash.opened", "flash.closed" (key: the
 * sale); "order.created" and "order.<state>" for each move, and "order.cancelling",
 * "order.refund_pending", "order.refund_confirmed", "order.refund_refused" (key: the
 * order id; docs/orders.md).
 */
typedef struct ecom_events ecom_events;

/* Reads up to max events with seq > after_seq, in order. Caller owns *out. */
ECOM_EXTERN int ecom_events_read(ecom_events **out, ecom_store *store, uint64_t after_seq,
                                 size_t max);
ECOM_EXTERN size_t ecom_events_count(const ecom_events *e);
ECOM_EXTERN uint64_t ecom_events_seq(const ecom_events *e, size_t i);
ECOM_EXTERN int64_t ecom_events_time(const ecom_events *e, size_t i);
ECOM_EXTERN const char *ecom_events_type(const ecom_events *e, size_t i);
/* The id of what changed (its type says of what). */
ECOM_EXTERN const char *ecom_events_key(const ecom_events *e, size_t i);
/* The version the entity reached (0 for a deletion). */
ECOM_EXTERN uint64_t ecom_events_version(const ecom_events *e, size_t i);
ECOM_EXTERN void ecom_events_free(ecom_events *e);

/* Sequence number of the newest event (0 when the log is empty). */
ECOM_EXTERN int ecom_events_last_seq(uint64_t *seq, ecom_store *store);

/* ------------------------------------------------------------------------- */
/* Inventory                                                                  */
/* ------------------------------------------------------------------------- */

/*
 * Stock is kept per SKU per location. A location "default" always exists.
 *   on_hand    units physically there
 *   reserved   units held for buyers (reservations, flash-sale pools and claims)
 *   available  on_hand - reserved
 *   safety     units held back from sale
 *   sellable   available - safety (never below 0): what a reservation may take
 * Invariant, under any concurrency: 0 <= reserved <= on_hand for SKUs that deny
 * backorders (the default). Every change writes an entry in the inventory ledger in
 * the same atomic unit, and appends an event ("stock.changed", "reservation.created",
 * ".committed", ".released", ".expired", "flash.opened", "flash.closed").
 * Quantities are int64 in 1..ECOM_QUANTITY_MAX per line; totals are checked for
 * overflow.
 */
#define ECOM_LOCATION_DEFAULT "default"
#define ECOM_QUANTITY_MAX INT64_C(1000000000) /* 10^9 units per line or adjustment */

/* Adds a location. code is an id (1..64 bytes of [A-Za-z0-9._-],
 * starting with a letter or digit); name is UTF-8, up to 128 bytes.
 * Errors: ECOM_EEXISTS, ECOM_EBADID, ECOM_ETOOLONG, ECOM_EUTF8. */
ECOM_EXTERN int ecom_location_add(ecom_store *store, const char *code, const char *name);

typedef struct ecom_locations ecom_locations;
ECOM_EXTERN int ecom_location_list(ecom_locations **out, ecom_store *store);
ECOM_EXTERN size_t ecom_locations_count(const ecom_locations *l);
ECOM_EXTERN const char *ecom_locations_code(const ecom_locations *l, size_t i);
ECOM_EXTERN const char *ecom_locations_name(const ecom_locations *l, size_t i);
ECOM_EXTERN void ecom_locations_free(ecom_locations *l);

typedef enum ecom_adjust_kind {
    ECOM_ADJUST_RECEIVE = 0, /* goods in: +quantity */
    ECOM_ADJUST_CORRECT = 1, /* a count found a difference: +/- quantity */
    ECOM_ADJUST_DAMAGE = 2,  /* written off: -quantity */
    ECOM_ADJUST_RETURN = 3   /* a customer return back to stock: +quantity */
} ecom_adjust_kind;

typedef enum ecom_backorder_policy {
    ECOM_BACKORDER_DENY = 0, /* never reserve more than is sellable (default) */
    ECOM_BACKORDER_ALLOW = 1 /* reservations may exceed stock; on_hand may go negative */
} ecom_backorder_policy;

/*
 * Adjusts on_hand of sku at location (NULL = default). For RECEIVE, DAMAGE and RETURN
 * quantity is positive (DAMAGE subtracts it); for CORRECT it is a signed difference.
 * reason and reference are free text kept in the ledger (up to 256 bytes each; NULL
 * allowed). An adjustment that would take on_hand below reserved is refused.
 * Errors: ECOM_EQUANTITY, ECOM_ESKU (no product has this SKU), ECOM_ELOCATION,
 * ECOM_EINSUFFICIENT (would go below what is reserved), ECOM_ETOOLONG, ECOM_EUTF8.
 */
ECOM_EXTERN int ecom_stock_adjust(ecom_store *store, const char *sku, const char *location,
                                  ecom_adjust_kind kind, int64_t quantity, const char *reason,
                                  const char *reference);

/* Sets on_hand to an absolute count (a CORRECT entry of the difference). */
ECOM_EXTERN int ecom_stock_set(ecom_store *store, const char *sku, const char *location,
                               int64_t on_hand, const char *reason);

/* Sets the safety stock of sku at location. Errors: as ecom_stock_adjust. */
ECOM_EXTERN int ecom_stock_set_safety(ecom_store *store, const char *sku, const char *location,
                                      int64_t safety);

/* Sets the backorder policy of sku (all locations). Errors: ECOM_ESKU, ECOM_EINVAL. */
ECOM_EXTERN int ecom_stock_set_backorder(ecom_store *store, const char *sku,
                                         ecom_backorder_policy policy);

/* Stock of one SKU at one location (all zero if never stocked there). */
typedef struct ecom_stock ecom_stock;
ECOM_EXTERN int ecom_stock_get(ecom_stock **out, ecom_store *store, const char *sku,
                               const char *location);
ECOM_EXTERN int64_t ecom_stock_on_hand(const ecom_stock *s);
ECOM_EXTERN int64_t ecom_stock_reserved(const ecom_stock *s);
ECOM_EXTERN int64_t ecom_stock_available(const ecom_stock *s);
ECOM_EXTERN int64_t ecom_stock_safety(const ecom_stock *s);
ECOM_EXTERN int64_t ecom_stock_sellable(const ecom_stock *s);
ECOM_EXTERN ecom_backorder_policy ecom_stock_backorder(const ecom_stock *s);
ECOM_EXTERN void ecom_stock_free(ecom_stock *s);

/* ---- reservations ---- */

typedef enum ecom_reservation_state {
    ECOM_RESERVATION_HELD = 0,
    ECOM_RESERVATION_COMMITTED = 1, /* on_hand decreased: sold */
    ECOM_RESERVATION_RELEASED = 2,  /* stock returned */
    ECOM_RESERVATION_EXPIRED = 3    /* stock returned by expiry */
} ecom_reservation_state;

/*
 * Holds stock for a buyer: all lines or none. Lines of the same SKU are summed
 * before checking (a bundle cannot oversell). Idempotent on id: a retry with the same
 * lines returns ECOM_OK and the same reservation; the same id with other lines is
 * ECOM_ECONFLICT. Expired holds never block: they are ended before stock is judged.
 * [in] id        1..64 bytes of [A-Za-z0-9._-] starting with a letter or digit,
 *                 chosen by the caller
 * [in] skus, quantities  n lines (1 <= n <= 256)
 * [in] location  NULL = default
 * [in] ttl_ms    time to live, 1 ms .. 30 days
 * Errors: ECOM_EQUANTITY, ECOM_ESKU, ECOM_ELOCATION, ECOM_EINSUFFICIENT (naming the
 * first SKU short of stock), ECOM_ECONFLICT, ECOM_ELIMIT, ECOM_EINVAL (ttl), ECOM_EBADID.
 */
ECOM_EXTERN int ecom_reserve(ecom_store *store, const char *id, const char *const *skus,
                             const int64_t *quantities, size_t n, const char *location,
                             int64_t ttl_ms);

/* Ends a held reservation: commit sells (on_hand and reserved decrease); release
 * returns the stock. Each reservation ends exactly once.
 * Errors: ECOM_ENOTFOUND, ECOM_EENDED (already committed, released or expired; a
 * retry of the same commit or release after it succeeded also gets ECOM_EENDED,
 * and ecom_reservation_get tells the final state), ECOM_EEXPIRED (commit after the
 * expiry time: the stock has gone back). */
ECOM_EXTERN int ecom_reservation_commit(ecom_store *store, const char *id);
ECOM_EXTERN int ecom_reservation_release(ecom_store *store, const char *id);

/* Moves the expiry of a held, unexpired reservation to now + ttl_ms.
 * Errors: ECOM_ENOTFOUND, ECOM_EENDED, ECOM_EEXPIRED, ECOM_EINVAL. */
ECOM_EXTERN int ecom_reservation_extend(ecom_store *store, const char *id, int64_t ttl_ms);

typedef struct ecom_reservation ecom_reservation;
ECOM_EXTERN int ecom_reservation_get(ecom_reservation **out, ecom_store *store, const char *id);
ECOM_EXTERN const char *ecom_reservation_id(const ecom_reservation *r);
ECOM_EXTERN const char *ecom_reservation_location(const ecom_reservation *r);
/* The stored state; a HELD reservation past its expiry reads as EXPIRED. */
ECOM_EXTERN ecom_reservation_state ecom_reservation_get_state(const ecom_reservation *r);
ECOM_EXTERN int64_t ecom_reservation_created_at(const ecom_reservation *r);
ECOM_EXTERN int64_t ecom_reservation_expires_at(const ecom_reservation *r);
ECOM_EXTERN size_t ecom_reservation_line_count(const ecom_reservation *r);
ECOM_EXTERN const char *ecom_reservation_line_sku(const ecom_reservation *r, size_t i);
ECOM_EXTERN int64_t ecom_reservation_line_quantity(const ecom_reservation *r, size_t i);
ECOM_EXTERN void ecom_reservation_free(ecom_reservation *r);

/*
 * The sweeper: ends every reservation and flash-sale claim whose expiry is <= now,
 * returning their stock, and closes every flash sale whose ends_at is <= now (as
 * ecom_flash_close). The host runs it periodically (every few seconds); expiry is
 * also enforced lazily, so a late sweep never blocks a buyer.
 * [out] expired  how many holds it ended and sales it closed (may be NULL).
 */
ECOM_EXTERN int ecom_inventory_expire(uint64_t *expired, ecom_store *store, int64_t now);

/* ------------------------------------------------------------------------- */
/* Flash sales                                                                */
/* ------------------------------------------------------------------------- */

/*
 * A flash sale moves `units` of one SKU into a pool (they count as reserved) and
 * hands them out as claims. A claim is answered at once: admitted (the buyer has the
 * units until the claim expires; checkout turns it into an order), sold out, limit
 * reached, not started, ended, or queued: when claims arrive faster than the host's
 * checkout can take them (admit_per_second), later claims still get their units but
 * wait their turn, FIFO, with a position and an estimated wait; poll says when a
 * queued claim is admitted. Admission is durable before it is answered. Concurrent
 * claims are committed together (group commit: one transaction and one fsync for
 * many). Once the pool is empty, sold-out answers come from memory.
 */
typedef struct ecom_flash_options {
    int version;            /* ECOM_FLASH_OPTIONS_VERSION */
    const char *sku;
    const char *location;   /* NULL = default */
    int64_t units;          /* moved into the pool; must be sellable now */
    int64_t starts_at;      /* ms since the epoch; 0 = now */
    int64_t ends_at;        /* 0 = never; at ends_at the sale closes by itself */
    int64_t per_user_limit; /* units per user over the sale; 0 = no limit */
    int64_t claim_ttl_ms;   /* how long an admitted claim holds its units (0 = 10 min) */
    int64_t admit_per_second; /* checkout capacity downstream; 0 = no queue */
} ecom_flash_options;
#define ECOM_FLASH_OPTIONS_VERSION 1
#define ECOM_FLASH_OPTIONS_INIT { ECOM_FLASH_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, 0, 0 }

/* Opens a sale. Errors: ECOM_EEXISTS, ECOM_ESKU, ECOM_ELOCATION, ECOM_EQUANTITY,
 * ECOM_EINSUFFICIENT, ECOM_EINVAL (times, limits), ECOM_EBADID. */
ECOM_EXTERN int ecom_flash_open(ecom_store *store, const char *sale,
                                const ecom_flash_options *opts);

/* Closes a sale: what is left in the pool goes back to stock; live claims stay
 * valid until they end, and then return their units to stock. A sale with an ends_at
 * closes by itself at that time (ecom_inventory_expire, or any inventory write after
 * it). Errors: ECOM_ENOTFOUND, ECOM_EENDED (closed already, by the host or its end). */
ECOM_EXTERN int ecom_flash_close(ecom_store *store, const char *sale);

typedef enum ecom_claim_outcome {
    ECOM_CLAIM_ADMITTED = 0,
    ECOM_CLAIM_QUEUED = 1,      /* holds units, waits its turn: see position, wait_ms */
    ECOM_CLAIM_SOLD_OUT = 2,
    ECOM_CLAIM_LIMIT = 3,       /* the user's per-sale limit would be exceeded */
    ECOM_CLAIM_NOT_STARTED = 4,
    ECOM_CLAIM_ENDED = 5,       /* ended or closed */
    ECOM_CLAIM_EXPIRED = 6,     /* (poll) the claim expired; its units went back */
    ECOM_CLAIM_RELEASED = 7,    /* (poll) released by the buyer */
    ECOM_CLAIM_COMMITTED = 8    /* (poll) turned into a sale */
} ecom_claim_outcome;

/* The answer to a claim or a poll. Filled by the library; a plain struct so the
 * hot path allocates nothing. */
typedef struct ecom_claim_result {
    int version;               /* set by the caller: ECOM_CLAIM_RESULT_VERSION, or 1 */
    ecom_claim_outcome outcome;
    char claim_id[96];         /* "sale:ticket" when the claim holds units */
    int64_t quantity;
    uint64_t position;         /* QUEUED: claims ahead of this one */
    int64_t wait_ms;           /* QUEUED: estimated wait */
    int64_t admit_at;          /* when it is (or was) admitted */
    int64_t expires_at;        /* when an admitted claim lets its units go */
    char user[ECOM_ID_MAX + 1]; /* who made the claim, when it holds units (version 2) */
} ecom_claim_result;
/* Version 2 appended `user`. Versions 1 and 2 are both accepted (others are
 * ECOM_EVERSION): a version-1 result, as callers built against it have it, ends
 * before `user`, and the library writes nothing past that end. The version the
 * caller set is the version it gets back. */
#define ECOM_CLAIM_RESULT_VERSION 2
#define ECOM_CLAIM_RESULT_INIT \
    { ECOM_CLAIM_RESULT_VERSION, ECOM_CLAIM_SOLD_OUT, "", 0, 0, 0, 0, 0, "" }

/*
 * Claims qty units of a sale for user. Idempotent on (user, key) within the sale: a
 * retry of a claim that got units returns that claim as it stands now; a claim that
 * got nothing (sold out, limit, ...) is judged afresh when retried, which can never
 * hand out units twice. The outcome is in *out; the return code is for errors.
 * [in] user, key  1..64 bytes of [A-Za-z0-9._-] each, starting with a letter or digit
 * Errors: ECOM_ENOTFOUND (no such sale), ECOM_EQUANTITY, ECOM_EBADID, ECOM_EVERSION.
 */
ECOM_EXTERN int ecom_flash_claim(ecom_claim_result *out, ecom_store *store, const char *sale,
                                 const char *user, int64_t qty, const char *key);

/*
 * Claims without blocking, for hosts with an event loop (or a few threads carrying
 * many buyers each): submit the request and get its answer in a callback. A server
 * thread can keep thousands of claims in flight; they are committed in large batches
 * (one fsync each) without a thread sleeping and waking per buyer.
 *
 * The request is the caller's memory and stays untouched by the caller from submit
 * until `done` is called: no allocation happens per claim. `done` is called exactly
 * once, on a library thread (or on the calling thread, before submit returns, when
 * the answer comes from memory: sold out); it must not block for long. Closing the
 * store completes every submitted request first.
 */
typedef struct ecom_claim_request ecom_claim_request;
typedef void (*ecom_claim_done_fn)(ecom_claim_request *request);

struct ecom_claim_request {
    int version;            /* ECOM_CLAIM_REQUEST_VERSION */
    /* in: valid until done is called */
    const char *sale;
    const char *user;
    const char *key;
    int64_t quantity;
    ecom_claim_done_fn done;
    void *data;             /* the caller's */
    /* out, when done is called */
    int status;             /* ECOM_OK, or an error (as ecom_flash_claim returns) */
    ecom_claim_result result;
    /* the library's */
    void *internal[72];
};
/* Version 2: result is an ecom_claim_result version 2. Version 1 (result is version
 * 1, so internal comes earlier) is still accepted; others are ECOM_EVERSION. */
#define ECOM_CLAIM_REQUEST_VERSION 2

/*
 * Submits a claim. Returns ECOM_OK if the request was taken (done will be called),
 * or an error at once for a malformed request (done is not called): ECOM_EQUANTITY,
 * ECOM_EBADID, ECOM_EVERSION, ECOM_EINVAL. Errors found later (no such sale, backend
 * failure) arrive in request->status.
 */
ECOM_EXTERN int ecom_flash_claim_submit(ecom_store *store, ecom_claim_request *request);

/* The current state of a claim (QUEUED turns ADMITTED when its turn comes).
 * [in] claim_id  "sale:ticket" as a claim's answer gives it: the ticket a decimal
 *                from 1 without sign, spaces or leading zeros. Each claim has this one
 *                spelling; any other ("drop:01", "drop:+1") is ECOM_EINVAL, here and in
 *                ecom_flash_release, ecom_flash_commit and ecom_checkout.
 * Errors: ECOM_ENOTFOUND, ECOM_EINVAL (malformed claim id), ECOM_EVERSION. */
ECOM_EXTERN int ecom_flash_poll(ecom_claim_result *out, ecom_store *store, const char *claim_id);

/* Gives a claim's units back to the pool (the buyer walked away).
 * Errors: ECOM_ENOTFOUND, ECOM_EENDED, ECOM_EINVAL (malformed claim id), ECOM_EBUSY (an
 * order checked out with the claim stands on it: that order's payment or cancel ends
 * it). */
ECOM_EXTERN int ecom_flash_release(ecom_store *store, const char *claim_id);

/* Sells a claim's units (on_hand decreases). Errors: ECOM_ENOTFOUND, ECOM_EENDED,
 * ECOM_EEXPIRED, ECOM_EBUSY (still queued, or an order checked out with the claim
 * stands on it: that order's payment commits it), ECOM_EINVAL (malformed claim id). */
ECOM_EXTERN int ecom_flash_commit(ecom_store *store, const char *claim_id);

/* A sale's figures. */
typedef struct ecom_flash_status {
    int version;            /* set by the caller: ECOM_FLASH_STATUS_VERSION */
    char sku[ECOM_ID_MAX + 1];
    char location[ECOM_ID_MAX + 1];
    int open;               /* 0 once closed */
    int64_t units;          /* put in the pool at opening */
    int64_t remaining;      /* still in the pool */
    int64_t held;           /* in live claims (admitted or queued) */
    int64_t sold;           /* committed */
    uint64_t claims;        /* claims that got units */
    int64_t starts_at, ends_at, per_user_limit, claim_ttl_ms, admit_per_second;
} ecom_flash_status;
#define ECOM_FLASH_STATUS_VERSION 1

ECOM_EXTERN int ecom_flash_status_get(ecom_flash_status *out, ecom_store *store,
                                      const char *sale);

/* ------------------------------------------------------------------------- */
/* Carts                                                                      */
/* ------------------------------------------------------------------------- */

/*
 * A cart belongs to a user ("user:<id>") or to a guest ("guest:<token>"); the id or
 * token is 1..64 bytes of [A-Za-z0-9._-] starting with a letter or digit (a host making
 * random tokens should draw them from letters and digits, or prefix them). A cart has
 * one currency, set by its first line. Each line keeps the unit price seen when it was
 * last added or set; checkout reports a changed price or a product no longer active
 * instead of applying it. Carts expire after an idle time (options: 90 days for users,
 * 30 for guests); an expired cart reads as empty. A cart's expiry is set each time it
 * is written, from the idle time in force then: reopening the store with other options
 * changes when carts written from then on expire, not the carts already stored.
 *
 * Errors of every cart call: ECOM_EINVAL (a NULL argument), ECOM_EBADID (the cart is
 * neither user:<id> nor guest:<token>, or a byte outside the charset), ECOM_EFIELD (an
 * empty id or token), ECOM_ETOOLONG (over 64 bytes), ECOM_EREADONLY (a write to a
 * store opened read-only).
 */
#define ECOM_CART_LINES_MAX 100
#define ECOM_CART_QUANTITY_MAX 999 /* per line */

/* Adds qty units of sku (creating the line). The price is read from the catalog in
 * currency. Errors: ECOM_ESKU, ECOM_EQUANTITY (qty not in 1..ECOM_CART_QUANTITY_MAX),
 * ECOM_ECURRENCY (currency is not an ISO 4217 code, or the SKU has no price in it),
 * ECOM_EMIXEDCURRENCY (the cart is in another currency), ECOM_EUNAVAILABLE (the product
 * is not active), ECOM_ELIMIT (with the units already in the line, the SKU's purchase
 * limit or ECOM_CART_QUANTITY_MAX would be exceeded, or the line would be line
 * ECOM_CART_LINES_MAX + 1; ecom_errmsg says which, with the limit's value). */
ECOM_EXTERN int ecom_cart_add(ecom_store *store, const char *cart, const char *sku, int64_t qty,
                              const char *currency);

/* Sets a line's quantity and refreshes its price. Errors: as add, with qty in
 * 0..ECOM_CART_QUANTITY_MAX. A quantity of 0 removes the line without reading the
 * catalog or the currency: no line, an unknown SKU or another currency is no error. */
ECOM_EXTERN int ecom_cart_set(ecom_store *store, const char *cart, const char *sku, int64_t qty,
                              const char *currency);

/* Removes a line. Errors: ECOM_ENOTFOUND (no such line). */
ECOM_EXTERN int ecom_cart_remove(ecom_store *store, const char *cart, const char *sku);

/* Empties a cart (no error if it was empty). */
ECOM_EXTERN int ecom_cart_clear(ecom_store *store, const char *cart);

/*
 * Merges a guest cart into a user's cart at login, in one atomic step: quantities of
 * the same SKU are summed (capped at the purchase limit and the per-line bound; the
 * user's line keeps its price), the guest cart emptied. Safe against concurrent merges and edits: no line is lost; when
 * the lines together would be more than ECOM_CART_LINES_MAX, nothing is merged
 * (ECOM_ELIMIT) and both carts stay as they were. Merging an empty or missing guest
 * cart is a no-op. The emptied guest cart remembers where its lines went until it
 * expires or is written again: an order checked out from it and paid after the merge
 * (a slow payment, a retry) takes what it bought from the user's cart.
 * Errors: ECOM_EINVAL (guest_cart is not a guest: cart or user_cart not a user: cart),
 * ECOM_EMIXEDCURRENCY (the two carts are in different currencies), ECOM_ELIMIT.
 */
ECOM_EXTERN int ecom_cart_merge(ecom_store *store, const char *guest_cart, const char *user_cart);

typedef struct ecom_cart ecom_cart;
/* Reads a cart; a missing or expired cart is an empty cart. Caller owns *out. */
ECOM_EXTERN int ecom_cart_get(ecom_cart **out, ecom_store *store, const char *cart);
ECOM_EXTERN const char *ecom_cart_currency(const ecom_cart *c); /* "" when empty */
ECOM_EXTERN int64_t ecom_cart_updated_at(const ecom_cart *c);
ECOM_EXTERN size_t ecom_cart_line_count(const ecom_cart *c);
ECOM_EXTERN const char *ecom_cart_line_sku(const ecom_cart *c, size_t i);
ECOM_EXTERN int64_t ecom_cart_line_quantity(const ecom_cart *c, size_t i);
ECOM_EXTERN int64_t ecom_cart_line_unit_price(const ecom_cart *c, size_t i);
ECOM_EXTERN void ecom_cart_free(ecom_cart *c);

/* Sets the most units of sku one cart (and one order) may hold; 0 = no limit. Cart
 * writes apply it, and ecom_checkout applies it again, so a limit lowered after a
 * line was added refuses the checkout (ECOM_ELIMIT) rather than selling the line.
 * Errors: ECOM_EBADID, ECOM_ESKU, ECOM_EQUANTITY (limit negative or above
 * ECOM_QUANTITY_MAX). */
ECOM_EXTERN int ecom_stock_set_purchase_limit(ecom_store *store, const char *sku, int64_t limit);

/* ------------------------------------------------------------------------- */
/* Payments                                                                   */
/* ------------------------------------------------------------------------- */

/*
 * A payment provider: a small versioned vtable a host fills to plug in a real
 * processor. Every call takes an idempotency key: the same key must return the same
 * outcome without charging again. With no provider in the options, the store uses
 * its built-in test provider, whose outcome is chosen by the payment token:
 *   "tok_approve"   approved        "tok_decline"  declined ("card_declined")
 *   "tok_error"     ECOM_EPAYMENT    "tok_timeout"  charged, but the answer is lost
 *                                                   (ECOM_ETIMEOUT)
 *   any other token: declined ("invalid_token")
 * It records every charge in the store (ecom_payments_list), so tests count them.
 */
typedef struct ecom_payment_request {
    const char *order_id;
    const char *token;           /* from the buyer's client */
    int64_t amount;              /* minor units */
    const char *currency;
    const char *idempotency_key; /* stable per order and step */
    int capture;                 /* 1: capture in the same call if the provider can
                                    (automatic capture); the result says if it did */
} ecom_payment_request;

typedef struct ecom_payment_result {
    int approved;          /* 1 approved, 0 declined */
    char charge_id[72];    /* the provider's id of the charge */
    char reason[128];      /* why declined */
    int64_t amount;        /* what was approved; 0: not said. An authorize approving
                              another amount than requested (a partial authorization)
                              is voided and its order cancelled */
    int captured;          /* 1 if the charge is already captured (no capture call needed) */
} ecom_payment_result;

typedef struct ecom_payment_provider {
    int version;           /* ECOM_PAYMENT_PROVIDER_VERSION */
    const char *name;
    void *ctx;             /* handed to every call */
    /* Each returns ECOM_OK with the outcome in *out, ECOM_ETIMEOUT when the outcome
     * is unknown, or ECOM_EPAYMENT for a provider error (any other code is taken as
     * one). A declined capture (approved 0) is taken as final: its order is cancelled
     * and the authorization voided. */
    int (*authorize)(void *ctx, const ecom_payment_request *req, ecom_payment_result *out);
    int (*capture)(void *ctx, const char *charge_id, int64_t amount, const char *key,
                   ecom_payment_result *out);
    int (*void_charge)(void *ctx, const char *charge_id, const char *key,
                       ecom_payment_result *out);
    int (*refund)(void *ctx, const char *charge_id, int64_t amount, const char *key,
                  ecom_payment_result *out);
    /* What happened to the authorize sent with this key: ECOM_ENOTFOUND if never seen. */
    int (*lookup)(void *ctx, const char *key, ecom_payment_result *out);
} ecom_payment_provider;
#define ECOM_PAYMENT_PROVIDER_VERSION 1

/* Charges the built-in test provider recorded for an order, oldest first. */
typedef struct ecom_payments ecom_payments;
ECOM_EXTERN int ecom_payments_list(ecom_payments **out, ecom_store *store, const char *order_id);
ECOM_EXTERN size_t ecom_payments_count(const ecom_payments *p);
ECOM_EXTERN const char *ecom_payments_charge_id(const ecom_payments *p, size_t i);
/* "charge", "capture", "void" or "refund". */
ECOM_EXTERN const char *ecom_payments_kind(const ecom_payments *p, size_t i);
ECOM_EXTERN int64_t ecom_payments_amount(const ecom_payments *p, size_t i);
ECOM_EXTERN int ecom_payments_approved(const ecom_payments *p, size_t i);
ECOM_EXTERN void ecom_payments_free(ecom_payments *p);

/* ------------------------------------------------------------------------- */
/* Checkout and orders                                                        */
/* ------------------------------------------------------------------------- */

typedef enum ecom_order_state {
    ECOM_ORDER_PENDING_PAYMENT = 0,
    ECOM_ORDER_PAID = 1,
    ECOM_ORDER_FULFILLING = 2,
    ECOM_ORDER_PARTIALLY_SHIPPED = 3,
    ECOM_ORDER_SHIPPED = 4,
    ECOM_ORDER_DELIVERED = 5,
    ECOM_ORDER_CANCELLED = 6,
    ECOM_ORDER_REFUNDED = 7,
    ECOM_ORDER_PARTIALLY_REFUNDED = 8
} ecom_order_state;

/* "pending_payment", "paid", ... (static), or NULL. */
ECOM_EXTERN const char *ecom_order_state_name(ecom_order_state state);

typedef struct ecom_order ecom_order;

typedef struct ecom_checkout_request {
    int version;               /* ECOM_CHECKOUT_REQUEST_VERSION */
    const char *cart;          /* the cart to buy */
    const char *user;          /* the buyer: orders are listed per user */
    const char *payment_token; /* handed to the payment provider */
    const char *location;      /* stock location; NULL = default */
    const char *const *claims; /* flash-sale claim ids, each standing in for the
                                  reservation of its SKU's line; each listed once,
                                  claimed by `user` (another user's claim is
                                  ECOM_ENOTFOUND, as one that does not exist), and
                                  from a sale at `location` (else ECOM_EINVAL) */
    size_t claim_count;
} ecom_checkout_request;
#define ECOM_CHECKOUT_REQUEST_VERSION 1
#define ECOM_CHECKOUT_REQUEST_INIT { ECOM_CHECKOUT_REQUEST_VERSION, NULL, NULL, NULL, NULL, NULL, 0 }

/*
 * Buys a cart: validates it, prices it (line totals, the options' flat shipping fee
 * and tax rate, int64 minor units), reserves every line all-or-nothing (or takes a
 * flash-sale claim for its line: claims need a backend of contract version 5, which
 * names a claim's owner), creates the order (pending_payment), charges
 * through the provider, then commits the stock and marks the order paid; on a decline
 * it releases the stock, cancels the order and records why. What the order bought
 * leaves the cart in the same unit as the move to paid, whoever makes it (this call,
 * its retry, ecom_payment_notify, ecom_checkout_recover); lines added or raised while
 * the payment was in flight stay in the cart.
 *
 * Idempotent on idempotency_key (1..128 bytes), with Stripe's rules: the key keeps a
 * fingerprint of the request and its result for the options' TTL (24 h): the same key
 * and request return the same order (no second order, no second charge, even when
 * two arrive at once); the same key with another request is ECOM_EIDEMPOTENCY; a
 * request still in flight with that key is ECOM_EBUSY (retry later). A request refused
 * before it made an order (empty or stale cart, a line over its purchase limit, not
 * enough stock) keeps nothing: its key may be retried once the cause is fixed. One that
 * made its order and stopped short of the order's own end (declined, cancelled, its hold
 * ended) for any reason, out of memory included, is carried on by the same key. A retry
 * after a timeout and ecom_payment_notify go through one completion path: the order is
 * completed once, and charged once.
 *
 * [out] out  the order (set whenever one was created: also on ECOM_EDECLINED and
 *            ECOM_ETIMEOUT); caller owns it.
 * Errors: ECOM_EEMPTY (empty cart), ECOM_ESTALE (a price changed since it was added,
 * or a product is no longer active: the message lists them; set the line again to
 * accept), ECOM_ELIMIT (a line holds more than its SKU's purchase limit, lowered since
 * the line was added: the message names the SKU and the limit; set the line within
 * it; from backend contract version 5; also more than 16 claims), ECOM_EINSUFFICIENT,
 * ECOM_EPRICE (the order's total would overflow), ECOM_EDECLINED (the order
 * is cancelled), ECOM_EEXPIRED or ECOM_EENDED (the order's stock hold ended while it
 * was being paid: the order is cancelled and what the payment took voided), ECOM_ESTATE
 * (the order was cancelled by a cancel or the sweep, or a half-made cancel was finished:
 * the message gives its reason), ECOM_EVERSION (request->version), ECOM_ETIMEOUT (the
 * provider did not answer: retry with the same key, or let ecom_checkout_recover finish
 * it), ECOM_EPAYMENT, ECOM_EIDEMPOTENCY, ECOM_EBUSY (the key is in flight, or a claim
 * stands in for another order still being paid), ECOM_ELOCATION (no such location),
 * ECOM_EFIELD (an empty cart id, user or location), ECOM_ETOOLONG (idempotency_key or
 * payment_token over 128 bytes; a user, cart id or location over 64), ECOM_EBADID (a
 * byte of key or token that is a space or not printable ASCII; a malformed cart, user
 * or location), ECOM_EINVAL (a NULL request or cart, a NULL or empty key or token,
 * claims NULL with a claim_count; a claim id not in its one spelling (see
 * ecom_flash_poll), a claim listed twice, not admitted, from a sale at another
 * location, or for a SKU the cart lacks or more units than its line), ECOM_ENOTFOUND (a
 * claim that is not the buyer's, or of no sale), ECOM_EUNSUPPORTED (claims with a
 * backend before contract version 5, which cannot say whose a claim is; the message
 * names the backend and its version. Checkouts without claims still work), ECOM_ENOMEM,
 * ECOM_EBACKEND.
 */
ECOM_EXTERN int ecom_checkout(ecom_order **out, ecom_store *store,
                              const ecom_checkout_request *request, const char *idempotency_key);

/*
 * A payment provider's asynchronous notification: the authorize of this order ended
 * approved or declined. Goes through the same completion path as a retry: at most one
 * of them completes the order. An approval is checked against the provider (lookup by
 * the order's payment key) and captured unless the provider captured it; when the
 * provider does not bear it out the order stays pending and the call fails with
 * ECOM_EPAYMENT (ECOM_ETIMEOUT if the provider did not answer): retry. charge_id
 * (required when approved) is at most 71 bytes, what ecom_payment_result holds; reason
 * (kept when declined) at most 256 bytes of UTF-8. An approval of an order past payment
 * answers ECOM_OK and changes nothing. Errors: ECOM_ENOTFOUND, ECOM_ESTATE (a decline
 * of an order past payment, or any notification of a cancelled one, whose late charge
 * is voided: stale), ECOM_EINVAL (approved without charge_id), ECOM_ETOOLONG,
 * ECOM_EUTF8, ECOM_EBADID (order_id),
 * ECOM_EPAYMENT, ECOM_ETIMEOUT, ECOM_EDECLINED (the provider declined the capture, or
 * approved another amount than the total: the order was cancelled, the payment voided),
 * ECOM_EEXPIRED or ECOM_EENDED (the stock hold ended while it was being paid: the
 * order was cancelled, the payment voided), ECOM_EBUSY (another path is completing or
 * cancelling the order: retry), ECOM_ECONFLICT (a decline that lost a race with
 * another move: read the order again), ECOM_EINVAL (order_id NULL), ECOM_EFIELD
 * (order_id empty).
 */
ECOM_EXTERN int ecom_payment_notify(ecom_store *store, const char *order_id, int approved,
                                    const char *charge_id, const char *reason);

/*
 * Finishes checkouts abandoned mid-way (a crash, a timeout): every order still
 * pending payment and at least older_than_ms old is completed from the provider's
 * record (lookup by its idempotency key) or cancelled with its stock released.
 * [out] recovered  orders finished (may be NULL).
 */
ECOM_EXTERN int ecom_checkout_recover(uint64_t *recovered, ecom_store *store,
                                      int64_t older_than_ms);

/* Drops idempotency keys first used a TTL or more before now (from backend contract
 * version 6, not one a request still holds) and carts idle past theirs. */
ECOM_EXTERN int ecom_store_purge(uint64_t *purged, ecom_store *store, int64_t now);

ECOM_EXTERN int ecom_order_get(ecom_order **out, ecom_store *store, const char *id);
ECOM_EXTERN const char *ecom_order_id(const ecom_order *o);
ECOM_EXTERN const char *ecom_order_user(const ecom_order *o);
ECOM_EXTERN ecom_order_state ecom_order_get_state(const ecom_order *o);
ECOM_EXTERN uint64_t ecom_order_version(const ecom_order *o);
ECOM_EXTERN const char *ecom_order_currency(const ecom_order *o);
ECOM_EXTERN int64_t ecom_order_subtotal(const ecom_order *o);
ECOM_EXTERN int64_t ecom_order_shipping(const ecom_order *o);
ECOM_EXTERN int64_t ecom_order_tax(const ecom_order *o);
ECOM_EXTERN int64_t ecom_order_total(const ecom_order *o);
ECOM_EXTERN int64_t ecom_order_refunded(const ecom_order *o);
ECOM_EXTERN const char *ecom_order_charge_id(const ecom_order *o); /* "" until charged */
ECOM_EXTERN const char *ecom_order_reason(const ecom_order *o);    /* why declined/cancelled */
ECOM_EXTERN int64_t ecom_order_created_at(const ecom_order *o);
ECOM_EXTERN size_t ecom_order_line_count(const ecom_order *o);
ECOM_EXTERN const char *ecom_order_line_sku(const ecom_order *o, size_t i);
ECOM_EXTERN int64_t ecom_order_line_quantity(const ecom_order *o, size_t i);
ECOM_EXTERN int64_t ecom_order_line_unit_price(const ecom_order *o, size_t i);
ECOM_EXTERN int64_t ecom_order_line_shipped(const ecom_order *o, size_t i);
/* The order's history: every transition, who made it, when and why. */
ECOM_EXTERN size_t ecom_order_history_count(const ecom_order *o);
ECOM_EXTERN ecom_order_state ecom_order_history_state(const ecom_order *o, size_t i);
ECOM_EXTERN int64_t ecom_order_history_time(const ecom_order *o, size_t i);
ECOM_EXTERN const char *ecom_order_history_who(const ecom_order *o, size_t i);
ECOM_EXTERN const char *ecom_order_history_why(const ecom_order *o, size_t i);
ECOM_EXTERN int ecom_order_to_json(char **out, const ecom_order *o);
ECOM_EXTERN void ecom_order_free(ecom_order *o);

/*
 * Moves an order along its state machine, if its version is expected_version
 * (ECOM_VERSION_ANY: any). Each move is a compare-and-set recorded in the order's
 * history (who, when, why) and appended as an event ("order.<state>") atomically.
 * Legal moves:
 *   pending_payment -> paid, cancelled
 *   paid            -> fulfilling, cancelled
 *   fulfilling      -> partially_shipped, shipped, cancelled
 *   partially_shipped -> partially_shipped, shipped
 *   shipped         -> delivered, refunded
 *   delivered       -> refunded, partially_refunded
 *   partially_refunded -> partially_refunded, refunded
 * This call makes the moves that need nothing else: fulfilling and delivered.
 * Errors: ECOM_ENOTFOUND, ECOM_ECONFLICT (stale version), ECOM_ESTATE (illegal move).
 */
ECOM_EXTERN int ecom_order_transition(ecom_store *store, const char *id,
                                      uint64_t expected_version, ecom_order_state to,
                                      const char *who, const char *why);

/* Ships n lines (sku, qty) of an order, or everything left when n is 0: to
 * partially_shipped or shipped. Errors: as transition, ECOM_EQUANTITY (more than left,
 * a SKU the order has no line of, a quantity below 1, or nothing left to ship),
 * ECOM_EINVAL (skus or quantities NULL with n > 0), ECOM_ELIMIT (n over the lines an
 * order holds),
 * ECOM_EBUSY (a cancel of the order is paying its refund: retry once the cancel has
 * ended; if it succeeded, the order is cancelled and the retry is ECOM_ESTATE). */
ECOM_EXTERN int ecom_order_ship(ecom_store *store, const char *id, uint64_t expected_version,
                                const char *const *skus, const int64_t *quantities, size_t n,
                                const char *who);

/* Cancels an order not yet shipped: its stock returns (a pending order's holds are
 * released; a paid order's committed units are returned to stock, and it is refunded
 * in full through the provider). An order pending payment is marked as being cancelled
 * (event "order.cancelling"), what its payment took voided (or refunded, if the void is
 * declined), then cancelled: if the provider fails in between (ECOM_ETIMEOUT,
 * ECOM_EPAYMENT), call again (with any expected version while it is marked) or let
 * ecom_checkout_recover finish it; no path pays a marked order. Once finished, a repeat
 * answers ECOM_ESTATE (ECOM_ECONFLICT if given the version it had before). A paid
 * order's cancel whose refund failed stays paid, its refund pending: call again (same
 * expected version); the recovery sweep does not. Errors: as transition, ECOM_ETIMEOUT
 * and ECOM_EPAYMENT (a void or refund failed: call again), ECOM_ECONFLICT also with any
 * version while another refund of the order is pending. */
ECOM_EXTERN int ecom_order_cancel(ecom_store *store, const char *id, uint64_t expected_version,
                                  const char *who, const char *why);

/* Refunds amount (never more than paid minus refunded and minus refunds pending)
 * through the provider, with its own idempotency key. All of it back moves a shipped
 * or delivered order to refunded; part of it moves a delivered order to
 * partially_refunded. Any other refund keeps the order's state: one not shipped yet is
 * still fulfilled, one in transit still delivered (the money is counted in
 * ecom_order_refunded; ecom_order_cancel is what stops an order and returns its stock,
 * refunding what is left), so one refunded in full before it shipped in full ends
 * shipped or delivered with ecom_order_refunded equal to its total. The refund is
 * reserved on the order before the provider is asked, so refunds and cancels at once
 * never pay out more than was paid; after a timeout it stays pending until the same
 * call (same key) is made again (docs/orders.md). refund_key: 1..128 bytes; keys
 * starting "refund-cancel-" are the store's own (ecom_order_cancel's refund).
 * Errors: as transition, ECOM_EPRICE (amount <= 0 or above what is left),
 * ECOM_EIDEMPOTENCY (refund_key used on this order for another amount), ECOM_EINVAL
 * (refund_key NULL, or the store's own), ECOM_EFIELD (refund_key empty), ECOM_ETOOLONG,
 * ECOM_EUTF8, ECOM_EPAYMENT, ECOM_ETIMEOUT. */
ECOM_EXTERN int ecom_order_refund(ecom_store *store, const char *id, uint64_t expected_version,
                                  int64_t amount, const char *refund_key, const char *who,
                                  const char *why);

typedef struct ecom_order_list_options {
    int version;          /* ECOM_ORDER_LIST_OPTIONS_VERSION */
    const char *user;     /* NULL: all users */
    int state;            /* -1: any; else an ecom_order_state */
    const char *cursor;   /* NULL = first page */
    size_t limit;         /* 1..1000 (0 = 100) */
} ecom_order_list_options;
#define ECOM_ORDER_LIST_OPTIONS_VERSION 1
#define ECOM_ORDER_LIST_OPTIONS_INIT { ECOM_ORDER_LIST_OPTIONS_VERSION, NULL, -1, NULL, 0 }

/*
 * Lists orders, newest first, a page at a time: all, one user's (user: an id, as
 * checkout takes it), one state's, or one user's in one state. Cursors as
 * ecom_catalog_list: opaque, stable while orders change, and taken only by the listing
 * that made them (same user, same state, or the same lack of either); a cursor of
 * another listing is refused, never a page that skips orders. Caller owns *out
 * (ecom_order_page_free).
 * Errors: ECOM_EINVAL (out NULL, limit above 1000, a malformed cursor or one of another
 * listing), ECOM_EVERSION (opts->version), ECOM_ESTATE (state not an ecom_order_state),
 * ECOM_EFIELD (user empty), ECOM_ETOOLONG (user over 64 bytes), ECOM_EBADID (user not
 * of [A-Za-z0-9._-] starting with a letter or digit), ECOM_EUNSUPPORTED (a backend
 * without orders), ECOM_ENOMEM, and the store's read errors.
 */
typedef struct ecom_order_page ecom_order_page;
ECOM_EXTERN int ecom_order_list(ecom_order_page **out, ecom_store *store,
                                const ecom_order_list_options *opts);
ECOM_EXTERN size_t ecom_order_page_count(const ecom_order_page *page);
ECOM_EXTERN const ecom_order *ecom_order_page_order(const ecom_order_page *page, size_t i);
ECOM_EXTERN const char *ecom_order_page_next_cursor(const ecom_order_page *page);
ECOM_EXTERN void ecom_order_page_free(ecom_order_page *page);

/* ------------------------------------------------------------------------- */
/* Event consumers                                                            */
/* ------------------------------------------------------------------------- */

/*
 * A named consumer reads the event log from its own durable cursor, at least once:
 * what it has not acknowledged it reads again (after a crash, or from another process
 * under the same name). Names are 1..64 bytes of [A-Za-z0-9._-], starting
 * with a letter or digit.
 */
ECOM_EXTERN int ecom_consumer_read(ecom_events **out, ecom_store *store, const char *consumer,
                                   size_t max);

/* Acknowledges every event up to seq. Acknowledging less than before is a no-op.
 * Errors: ECOM_EINVAL (seq past the newest event), and the name's id errors. */
ECOM_EXTERN int ecom_consumer_ack(ecom_store *store, const char *consumer, uint64_t seq);

/* The consumer's acknowledged position (0 when new). */
ECOM_EXTERN int ecom_consumer_position(uint64_t *seq, ecom_store *store, const char *consumer);

/* ------------------------------------------------------------------------- */
/* Search                                                                     */
/* ------------------------------------------------------------------------- */

/*
 * A search index over the store's active products, kept in memory by the library.
 * It is built from the catalog at open (or loaded from a snapshot file and caught up),
 * then fed from the event log by a follower thread, as a search cluster is fed from a
 * message log: the store stays the truth, and ecom_search_status says how far behind
 * the index is. Results are cached by their normalized request for a TTL, and a
 * cached entry is dropped as soon as a product it matches (before or after the
 * change) changes. See docs/search.md.
 *
 * Thread rules: any number of threads may search one handle at once. The handle
 * must be closed before its store.
 */
typedef struct ecom_search ecom_search;
typedef struct ecom_search_result ecom_search_result;

typedef struct ecom_search_options {
    int version;           /* ECOM_SEARCH_OPTIONS_VERSION */
    int64_t cache_ttl_ms;  /* result cache TTL (0 = 5 minutes; < 0 = no cache) */
    size_t cache_entries;  /* most results kept (0 = 1024) */
    const char *snapshot;  /* NULL, or a snapshot file (ecom_search_save) to start from */
    int manual;            /* 1: no follower thread; the host calls ecom_search_refresh */
    int64_t poll_ms;       /* how often the follower looks for new events (0 = 20 ms) */
} ecom_search_options;
#define ECOM_SEARCH_OPTIONS_VERSION 1
#define ECOM_SEARCH_OPTIONS_INIT { ECOM_SEARCH_OPTIONS_VERSION, 0, 0, NULL, 0, 0 }

/*
 * Opens a search index over store: loads opts->snapshot if given and usable, else
 * builds from the catalog, then applies the events since. opts may be NULL.
 * Caller owns *out (ecom_search_close). Errors: ECOM_EINVAL, ECOM_EVERSION,
 * ECOM_ENOMEM, and the store's read errors.
 */
ECOM_EXTERN int ecom_search_open(ecom_search **out, ecom_store *store,
                                 const ecom_search_options *opts);
/* Stops the follower and frees the index. NULL is a no-op. */
ECOM_EXTERN void ecom_search_close(ecom_search *search);

/* Applies every event logged so far before returning (with or without a follower).
 * [out] applied  the sequence number of the last event applied (may be NULL). */
ECOM_EXTERN int ecom_search_refresh(ecom_search *search, uint64_t *applied);

typedef struct ecom_search_status {
    uint64_t applied_seq;   /* the last event the index reflects */
    uint64_t head_seq;      /* the newest event in the log */
    uint64_t events_behind; /* head_seq - applied_seq */
    int64_t ms_behind;      /* age of the oldest event not yet applied (0 when current) */
    size_t products;        /* products indexed */
    size_t memory_bytes;    /* memory the index holds */
    size_t cache_entries;   /* results cached now */
    uint64_t cache_hits, cache_misses;
} ecom_search_status;
ECOM_EXTERN int ecom_search_status_get(ecom_search_status *out, ecom_search *search);

/* Writes a snapshot of the index to path (atomically: a temporary file renamed). */
ECOM_EXTERN int ecom_search_save(ecom_search *search, const char *path);

typedef enum ecom_search_sort {
    ECOM_SORT_RELEVANCE = 0,  /* BM25 score, best first */
    ECOM_SORT_PRICE_ASC = 1,  /* lowest variant price in the request's currency */
    ECOM_SORT_PRICE_DESC = 2,
    ECOM_SORT_NEWEST = 3      /* created_at, newest first */
} ecom_search_sort;

/* An attribute filter: products having value among attribute name's values. Filters
 * on one name are alternatives (any of), on different names all apply. */
typedef struct ecom_search_attr {
    const char *name;
    const char *value;
} ecom_search_attr;

#define ECOM_SEARCH_LIMIT_MAX 100
#define ECOM_SEARCH_FILTERS_MAX 32

typedef struct ecom_search_request {
    int version;            /* ECOM_SEARCH_REQUEST_VERSION */
    const char *text;       /* words, all of which must match (NULL or "": every product).
                               The last word also matches as a prefix, for type-ahead,
                               unless the text ends with a space; words of 5 or more
                               letters also match with one typo. */
    const char *category;   /* NULL, or a category path: that subtree only */
    const char *const *brands; /* brand_count brands, any of (compared folded) */
    size_t brand_count;
    const ecom_search_attr *attrs; /* attribute filters */
    size_t attr_count;
    const char *currency;   /* for prices (filter, sort, facet); NULL = "USD" */
    int64_t price_min;      /* minor units, inclusive; -1 = no bound */
    int64_t price_max;      /* minor units, inclusive; -1 = no bound */
    int in_stock;           /* 1: only products with a variant that can be sold now */
    const char *const *facets; /* facet_count of "category", "brand", "price", or an
                                  attribute name */
    size_t facet_count;
    int sort;               /* ecom_search_sort */
    size_t limit;           /* hits per page, 1..ECOM_SEARCH_LIMIT_MAX (0 = 20) */
    const char *cursor;     /* NULL, or a result's ecom_search_result_cursor */
} ecom_search_request;
#define ECOM_SEARCH_REQUEST_VERSION 1
#define ECOM_SEARCH_REQUEST_INIT \
    { ECOM_SEARCH_REQUEST_VERSION, NULL, NULL, NULL, 0, NULL, 0, NULL, -1, -1, 0, NULL, 0, \
      ECOM_SORT_RELEVANCE, 0, NULL }

/*
 * Runs a search. Caller owns *out (ecom_search_result_free).
 * A facet name that is no attribute of any product gives an empty facet.
 * Errors: ECOM_EINVAL (NULL arguments), ECOM_EVERSION, ECOM_EQUERY (a bad request:
 * unknown sort, price_min > price_max, too many filters or facets, a limit over
 * ECOM_SEARCH_LIMIT_MAX, a malformed cursor or one of another request;
 * ecom_search_errmsg says which), ECOM_ECURRENCY, ECOM_ENOMEM.
 */
ECOM_EXTERN int ecom_search_run(ecom_search_result **out, ecom_search *search,
                                const ecom_search_request *request);

/*
 * Runs a query written in the query language (docs/search.md), e.g.
 *   wireless headphones brand:sony category:electronics/audio price:20..150
 *   color:black in:stock sort:price facet:brand facet:price
 * Errors: as ecom_search_run; ECOM_EQUERY names the offending token and its offset.
 */
ECOM_EXTERN int ecom_search_query(ecom_search_result **out, ecom_search *search,
                                  const char *query);

/* The message of this thread's last failure on this handle ("" if none). */
ECOM_EXTERN const char *ecom_search_errmsg(ecom_search *search);

/* Every product matching (all pages). */
ECOM_EXTERN size_t ecom_search_result_total(const ecom_search_result *r);
/* Hits on this page, and each hit's product id, score (0 unless sorted by relevance)
 * and price (lowest variant price in the request's currency, -1 if none). */
ECOM_EXTERN size_t ecom_search_result_count(const ecom_search_result *r);
ECOM_EXTERN const char *ecom_search_result_id(const ecom_search_result *r, size_t i);
ECOM_EXTERN double ecom_search_result_score(const ecom_search_result *r, size_t i);
ECOM_EXTERN int64_t ecom_search_result_price(const ecom_search_result *r, size_t i);
/* Facets, in the order requested; each value with its count over every match, most
 * first (price buckets in price order; "lo..hi" in minor units, "lo.." for the last). */
ECOM_EXTERN size_t ecom_search_result_facet_count(const ecom_search_result *r);
ECOM_EXTERN const char *ecom_search_result_facet_name(const ecom_search_result *r, size_t f);
ECOM_EXTERN size_t ecom_search_result_facet_size(const ecom_search_result *r, size_t f);
ECOM_EXTERN const char *ecom_search_result_facet_value(const ecom_search_result *r, size_t f,
                                                       size_t j);
ECOM_EXTERN uint64_t ecom_search_result_facet_hits(const ecom_search_result *r, size_t f,
                                                   size_t j);
/* The cursor of the next page, or NULL on the last. Owned by the result. */
ECOM_EXTERN const char *ecom_search_result_cursor(const ecom_search_result *r);
/* 1 if the result came from the cache. */
ECOM_EXTERN int ecom_search_result_cached(const ecom_search_result *r);
/* The result as JSON: {"total":..,"hits":[{"id":..,"score":..,"price":..}],
 * "facets":{"brand":[["sony",12],..]},"cursor":..}. Caller frees *out (ecom_free). */
ECOM_EXTERN int ecom_search_result_to_json(char **out, const ecom_search_result *r);
ECOM_EXTERN void ecom_search_result_free(ecom_search_result *r);

/* ------------------------------------------------------------------------- */
/* Consistency check                                                          */
/* ------------------------------------------------------------------------- */

/* Called once per violation found. */
typedef void (*ecom_violation_fn)(void *ctx, const char *message);

/*
 * Checks the whole store in one consistent snapshot: every record decodes and
 * validates, every SKU index entry points at a product that owns that SKU and every
 * SKU is indexed, category counts match the products, the event log has no gaps;
 * for inventory: 0 <= reserved <= on_hand (backorders denied), the ledger sums to
 * every counter, reserved equals the live reservations, pools and claims holding
 * it, every reservation and claim is in exactly one state and ended at most once,
 * and stock is conserved (on_hand = received + returned - damaged +/- corrected - sold).
 * [out] violations  number of violations found (0 = clean).
 * Returns ECOM_OK when the check ran (whatever it found), an error if it could not.
 */
ECOM_EXTERN int ecom_check(uint64_t *violations, ecom_store *store, ecom_violation_fn report,
                           void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* ECOM_H */
