/*
 * What the core's files share and the outside never sees: the allocator, error
 * reporting, the store and product structs, the record codec.
 */
#ifndef ECOM_INTERNAL_H
#define ECOM_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "ecom.h"
#include "ecom_backend.h"

#define ECOM__UNUSED(x) ((void)(x))

/* ---- memory (alloc.c): every allocation of the library goes through here ---- */
void *ecom__malloc(size_t size);
void *ecom__calloc(size_t n, size_t size); /* zeroed; checks n * size for overflow */
void *ecom__realloc(void *ptr, size_t size);
void ecom__free(void *ptr);
char *ecom__strdup(const char *s);
char *ecom__strndup(const char *s, size_t n);
/* Allocations that failed in this thread so far: lets a caller of a library that
 * hides out-of-memory (cJSON returns NULL for both bad input and no memory) tell
 * which it was, by comparing the count before and after. */
extern _Thread_local unsigned long ecom__alloc_failures;

/* Digits after the decimal point of an ISO 4217 currency (JPY 0, USD 2, KWD 3); 2 for a
 * code with none (currency.c). */
int ecom__currency_digits(const char *code);

/* A growable byte buffer. On ENOMEM it keeps what it had. */
typedef struct ecom__buf {
    char *data;
    size_t len, cap;
} ecom__buf;
int ecom__buf_reserve(ecom__buf *b, size_t extra);
int ecom__buf_put(ecom__buf *b, const void *data, size_t len);
int ecom__buf_putc(ecom__buf *b, char c);
void ecom__buf_free(ecom__buf *b);

/* Page cursors (cursor.c): kind letter + hex of a backend key of at most key_max
 * bytes. decode: ECOM_EINVAL for a malformed cursor or one of another kind. */
char *ecom__cursor_encode(char kind, const ecom__buf *key);
int ecom__cursor_decode(ecom__buf *out, const char *cursor, char kind, size_t key_max);

/* ---- errors (error.c) ---- */

/* Records code and a printf-style detail as the last failure of store in this
 * thread; returns code. store may be NULL (then only code is returned). */
int ecom__fail(ecom_store *store, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears the last failure of store in this thread (called at the start of calls). */
void ecom__clear(ecom_store *store);

/* Per-thread error slots of one store, freed at close. */
typedef struct ecom__errslot {
    struct ecom__errslot *next;
    int code;
    char msg[512];
} ecom__errslot;

/* ---- group commit (committer.c) ---- */
/* The kinds of write the committer batches: the public ecom_write_kind values, so
 * a job's kind is also its write_batch item kind. Without write_batch, one backend
 * call per kind per batch. */
typedef ecom_write_kind ecom__write_kind;
#define ECOM__WRITE_INVENTORY ECOM_WRITE_INVENTORY /* be->inventory_apply */
#define ECOM__WRITE_CART ECOM_WRITE_CART           /* be->cart_apply */
#define ECOM__WRITE_ORDER ECOM_WRITE_ORDER         /* be->order_apply */
#define ECOM__WRITE_IDEM ECOM_WRITE_IDEM           /* be->idem_apply */
#define ECOM__WRITE_PAYMENT ECOM_WRITE_PAYMENT     /* be->payment_apply */
#define ECOM__WRITE_KINDS (ECOM_WRITE_PAYMENT + 1)

typedef struct ecom__job {
    struct ecom__job *next;
    ecom__write_kind kind;
    bool dependent;         /* applied only if the group's anchor was (ECOM_WRITE_DEPENDENT) */
    void *op;               /* of the kind's op type */
    _Atomic uint32_t state; /* waiting, done, or lead (committer.c) */
    /* NULL: a thread sleeps on state. Else called once the op is done (async). */
    void (*complete)(struct ecom__job *job);
} ecom__job;

typedef struct ecom__committer {
    pthread_mutex_t lock;
    ecom__job *head, *tail; /* queued, oldest first */
    _Atomic uint32_t waiting;      /* threads whose jobs are queued (futex word) */
    _Atomic uint32_t gather_until; /* 0, or how many of them a gathering leader awaits */
    uint32_t served;               /* threads the last batch served */
    uint64_t last_batch_ns;        /* how long the last batch took */
    bool leading;           /* a thread is running a batch */
    bool ready;
    pthread_t thread;       /* runs batches of asynchronous jobs; made on first use */
    bool thread_started, stopping;
    pthread_cond_t work;    /* the thread's: async jobs wait and nobody leads */
    size_t op_size[ECOM__WRITE_KINDS]; /* each kind's op as the backend's version has it */
    void *scratch[ECOM__WRITE_KINDS]; /* the leader's contiguous copies, per kind */
    size_t scratch_cap[ECOM__WRITE_KINDS];
    ecom_write_item *items; /* the leader's write_batch items over the copies */
    size_t items_cap;
} ecom__committer;

int ecom__committer_init(ecom__committer *c);
/* Sizes the ops the committer hands the backend to its contract version (an op struct
 * that grew keeps the older layout as its prefix). Once the backend is open. */
void ecom__committer_fit(ecom__committer *c, int backend_version);
/* n inventory ops as an array the backend reads (one an order op carries): inv itself,
 * or before version 5 a copy (*copy, to hand to ecom__inventory_array_done) at their
 * older size. NULL when out of memory. */
ecom_inventory_op *ecom__inventory_array(ecom_store *store, ecom_inventory_op *inv, size_t n,
                                         void **copy);
/* The backend's results back into inv, and the copy freed. */
void ecom__inventory_array_done(ecom_store *store, ecom_inventory_op *inv, size_t n, void *copy);
/* Completes every queued job, stops the thread, frees. Before the backend closes. */
void ecom__committer_destroy(ecom_store *store);
/* Runs an inventory op in the next batch; returns op->result. */
int ecom__committer_submit(ecom_store *store, ecom_inventory_op *op);
/* Runs an op of any kind in the next batch; returns its result (for IDEM: op_result).
 * ECOM_EUNSUPPORTED if the backend lacks the kind's operation. */
int ecom__commit(ecom_store *store, ecom__write_kind kind, void *op);
/* Runs n ops (n <= ECOM__GROUP_MAX) in one batch and waits once for them all; returns
 * the first failing op's result, or ECOM_OK. */
#define ECOM__GROUP_MAX 4
int ecom__commit_group(ecom_store *store, const ecom__write_kind *kinds, void *const *ops,
                       size_t n);
/* As ecom__commit_group, but ops from `anchor` on form a chain: ops[anchor] is applied
 * as usual and those after it only if it was (each then carries its result). One
 * atomic unit where the backend can (contract version 4), else one wait per op. */
int ecom__commit_chain(ecom_store *store, const ecom__write_kind *kinds, void *const *ops,
                       size_t n, size_t anchor);
/* Queues job (job->op, job->complete set) and returns at once; job->complete is
 * called from the thread that runs its batch. Errors: ECOM_ENOMEM (no thread). */
int ecom__committer_submit_async(ecom_store *store, ecom__job *job);

typedef struct ecom__flash_cache ecom__flash_cache; /* flash.c */
ecom__flash_cache *ecom__flash_cache_new(void);
void ecom__flash_cache_free(ecom__flash_cache *cache);

/* ---- the store (store.c) ---- */
struct ecom_store {
    ecom_backend *be;       /* NULL when the open failed */
    ecom_options opts;
    pthread_key_t err_key;  /* -> ecom__errslot of this thread */
    pthread_mutex_t err_lock;
    ecom__errslot *err_slots;
    ecom__errslot open_err; /* the message of a failed open, for any thread */
    ecom__committer committer;
    ecom__flash_cache *flash_cache; /* sold-out answers from memory */
    ecom_payment_provider test_payments; /* the built-in provider (payment_test.c) */
};

/* The store's clock. */
int64_t ecom__now(const ecom_store *store);

/* Starts a public call on store: ECOM_EINVAL if store is NULL or its open failed;
 * else clears the thread's last failure. */
int ecom__enter(ecom_store *store);

/* Checks an id or SKU code argument, reporting on store. */
int ecom__check_id_arg(ecom_store *store, const char *id, const char *field);

/* ---- products (product.c) ---- */

/*
 * A product's memory is one arena: every string and array hangs off it, and
 * ecom_product_free() frees the arena. Setters copy into the arena; what they
 * replace stays until the product is freed (products are short-lived).
 */
typedef struct ecom__arena_chunk {
    struct ecom__arena_chunk *next;
    size_t used, size;
    /* data follows, aligned to max_align_t */
} ecom__arena_chunk;

typedef struct ecom__arena {
    ecom__arena_chunk *head;
} ecom__arena;

void *ecom__arena_alloc(ecom__arena *a, size_t size);
char *ecom__arena_strndup(ecom__arena *a, const char *s, size_t n);
void ecom__arena_free(ecom__arena *a);
/* Makes sure the next allocations, size bytes in all counting alignment padding
 * (up to alignof(max_align_t) - 1 per array), come from one chunk: the record
 * decoder sizes it from the record so that one decode is two mallocs. */
int ecom__arena_reserve(ecom__arena *a, size_t size);

typedef struct ecom__price {
    char currency[4]; /* "USD" + NUL */
    int64_t amount;
} ecom__price;

typedef struct ecom__option {
    const char *name;
    const char *value;
} ecom__option;

typedef struct ecom__variant {
    const char *sku;
    int64_t weight_g;
    ecom__option *options;
    size_t option_count, option_cap;
    ecom__price *prices;
    size_t price_count, price_cap;
} ecom__variant;

typedef struct ecom__attribute {
    const char *name;
    const char **values;
    size_t value_count, value_cap;
} ecom__attribute;

struct ecom_product {
    ecom__arena arena;
    const char *id, *title, *description, *brand, *category; /* never NULL ("" if unset) */
    ecom_product_status status;
    uint64_t version;
    int64_t created_at, updated_at;
    ecom__attribute *attributes;
    size_t attribute_count, attribute_cap;
    ecom__variant *variants;
    size_t variant_count, variant_cap;
};

/* Same content (id, texts, status, attributes, variants, in order)? Version and
 * timestamps are not compared. For round-trip tests and the fuzzer. */
bool ecom__product_equal(const ecom_product *a, const ecom_product *b);

/* Limits (documented in ecom.h). */
#define ECOM__TITLE_MAX 512
#define ECOM__DESCRIPTION_MAX 65536
#define ECOM__BRAND_MAX 128
#define ECOM__CATEGORY_MAX 256
#define ECOM__CATEGORY_DEPTH_MAX 16
#define ECOM__NAME_MAX 64
#define ECOM__VALUE_MAX 256
#define ECOM__ATTRIBUTES_MAX 64
#define ECOM__VALUES_MAX 64
#define ECOM__VARIANTS_MAX 256
#define ECOM__OPTIONS_MAX 16
#define ECOM__PRICES_MAX 16
#define ECOM__WEIGHT_MAX INT64_C(1000000000)

/* Validation helpers (validate.c). Each returns ECOM_OK or a code, and writes a
 * message naming `field` into msg. */
int ecom__check_id(const char *s, const char *field, char *msg, size_t msg_size);
int ecom__check_text(const char *s, size_t max, bool multiline, bool required,
                     const char *field, char *msg, size_t msg_size);
int ecom__check_category(const char *s, const char *field, char *msg, size_t msg_size);
/* An attribute name: 1..max bytes of [a-z0-9_-]. ECOM_EFIELD if empty,
 * ECOM_ETOOLONG, ECOM_EBADID for a byte outside the charset. */
int ecom__check_slug(const char *s, size_t max, const char *field, char *msg, size_t msg_size);
/* Writes len bytes of s into out for a message: printable ASCII as is, other
 * bytes as \xNN, cut with "..." when longer than out allows. */
void ecom__quote(char *out, size_t out_size, const char *s, size_t len);
/* Formats a failure into msg (if msg and msg_size) and returns code. */
int ecom__msg(char *msg, size_t msg_size, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Is s valid UTF-8 of len bytes? Returns the offset of the first bad byte, or -1. */
long ecom__utf8_invalid_at(const char *s, size_t len);

/* Status names: "draft", "active", "archived". NULL / -1 when unknown. */
const char *ecom__status_name(int status);
int ecom__status_parse(const char *name);

/* ---- the record codec (record.c) ----
 * The content a backend stores for a product: a compact binary encoding of
 * everything but the id, version and timestamps (which the backend keeps). */

/* Encodes p's content into out (appending). */
int ecom__record_encode(ecom__buf *out, const ecom_product *p);

/* Builds a product from a stored record. Errors: ECOM_ECORRUPT, ECOM_ENOMEM. */
int ecom__record_decode(ecom_product **out, const ecom_product_rec *rec,
                        const ecom_product_meta *meta);

/* Fills rec's index fields from p; skus points into *skus_storage, which the
 * caller frees with ecom__free(). data/data_len are left to the caller. */
int ecom__record_index(ecom_product_rec *rec, const char ***skus_storage, const ecom_product *p);

#endif /* ECOM_INTERNAL_H */
