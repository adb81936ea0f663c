/*
 * Flash sales: opening, claiming, polling, releasing, closing.
 *
 * Claims that may get units go to the backend through group commit, so one
 * transaction and one fsync admit many buyers. Once a sale's pool is empty, the
 * answers come from memory: each process keeps, per sale, a snapshot saying "sold
 * out" together with the hashes of the idempotency keys that did get units (so a
 * retry of a successful claim still finds its claim). The snapshot is re-read from
 * the backend at most every ECOM__RECHECK_MS, so units that come back (an expired or
 * released claim, in any process) are offered again within that time.
 *
 * Callers built against version 1 of ecom_claim_result and ecom_claim_request (before
 * the result's `user`) are served too: answers are made in a whole current result and
 * copied out only as far as the caller's struct goes.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "orders.h"

#define ECOM__RECHECK_MS 100
#define ECOM__SALE_SLOTS 256 /* sales cached per store; more still work, from storage */
#define ECOM__CLAIM_TTL_DEFAULT (INT64_C(10) * 60 * 1000)

typedef struct snapshot {
    struct snapshot *retired_next; /* freed at close: readers hold no references */
    bool sold_out;
    int64_t ends_at;
    uint64_t tickets;
    size_t mask; /* key table size - 1 */
    uint64_t keys[];
} snapshot;

typedef struct sale_entry {
    char sale[ECOM_ID_MAX + 1];
    _Atomic(snapshot *) snap;
    _Atomic int64_t recheck_at;
    atomic_flag refreshing;
} sale_entry;

struct ecom__flash_cache {
    _Atomic(sale_entry *) slots[ECOM__SALE_SLOTS];
    pthread_mutex_t lock; /* inserting entries, retiring snapshots */
    snapshot *retired;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h ? h : 1; /* 0 marks an empty key slot */
}

ecom__flash_cache *ecom__flash_cache_new(void)
{
    ecom__flash_cache *c = ecom__calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        ecom__free(c);
        c = NULL;
    }
    return c;
}

void ecom__flash_cache_free(ecom__flash_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < ECOM__SALE_SLOTS; i++) {
        sale_entry *e = atomic_load(&c->slots[i]);
        if (e)
            ecom__free(atomic_load(&e->snap));
        ecom__free(e);
    }
    for (snapshot *s = c->retired, *next; s; s = next) {
        next = s->retired_next;
        ecom__free(s);
    }
    pthread_mutex_destroy(&c->lock);
    ecom__free(c);
}

/* The entry of a sale, made if create and there is room; NULL otherwise. Lock-free
 * for readers: entries are only ever added, and never move. */
static sale_entry *find_entry(ecom__flash_cache *c, const char *sale, bool create)
{
    size_t start = hash_str(sale) % ECOM__SALE_SLOTS;
    for (size_t i = 0; i < ECOM__SALE_SLOTS; i++) {
        _Atomic(sale_entry *) *slot = &c->slots[(start + i) % ECOM__SALE_SLOTS];
        sale_entry *e = atomic_load_explicit(slot, memory_order_acquire);
        if (e && strcmp(e->sale, sale) == 0)
            return e;
        if (e)
            continue;
        if (!create)
            return NULL;
        pthread_mutex_lock(&c->lock);
        e = atomic_load(slot);
        if (e == NULL) {
            e = ecom__calloc(1, sizeof *e);
            if (e) {
                snprintf(e->sale, sizeof e->sale, "%s", sale);
                atomic_flag_clear(&e->refreshing);
                atomic_store_explicit(slot, e, memory_order_release);
            }
        }
        pthread_mutex_unlock(&c->lock);
        if (e == NULL || strcmp(e->sale, sale) == 0)
            return e;
    }
    return NULL;
}

static bool has_key(const snapshot *s, uint64_t h)
{
    if (s->mask == 0)
        return false;
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        if (s->keys[i] == h)
            return true;
        if (s->keys[i] == 0)
            return false;
    }
}

typedef struct key_list {
    uint64_t *hashes;
    size_t count, cap;
} key_list;

static int collect_key(void *ctx, const char *key)
{
    key_list *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *h = ecom__realloc(l->hashes, cap * sizeof *h);
        if (h == NULL)
            return ECOM_ENOMEM;
        l->hashes = h;
        l->cap = cap;
    }
    l->hashes[l->count++] = hash_str(key);
    return ECOM_OK;
}

static snapshot *build_snapshot(const ecom_flash_status *st, const key_list *keys)
{
    size_t size = 1;
    while (size < keys->count * 2)
        size *= 2;
    size_t slots = keys->count ? size : 0;
    snapshot *s = ecom__calloc(1, sizeof *s + slots * sizeof s->keys[0]);
    if (s == NULL)
        return NULL;
    s->sold_out = true;
    s->ends_at = st->ends_at;
    s->tickets = st->claims;
    s->mask = slots ? slots - 1 : 0;
    for (size_t k = 0; k < keys->count; k++) {
        size_t i = keys->hashes[k] & s->mask;
        while (s->keys[i] != 0 && s->keys[i] != keys->hashes[k])
            i = (i + 1) & s->mask;
        s->keys[i] = keys->hashes[k];
    }
    return s;
}

static void publish(ecom__flash_cache *c, sale_entry *e, snapshot *s)
{
    snapshot *old = atomic_exchange_explicit(&e->snap, s, memory_order_acq_rel);
    if (old == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    old->retired_next = c->retired;
    c->retired = old;
    pthread_mutex_unlock(&c->lock);
}

/* Re-reads the sale: sold out (with the keys that got units) or not. Best effort: on
 * any failure the entry is simply forgotten, and claims go to storage. */
static void refresh(ecom_store *store, sale_entry *e, int64_t now)
{
    ecom__flash_cache *c = store->flash_cache;
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    snapshot *cur = atomic_load_explicit(&e->snap, memory_order_acquire);
    atomic_store(&e->recheck_at, now + ECOM__RECHECK_MS);
    if (store->be->flash_get(store->be, e->sale, &st) != ECOM_OK || !st.open ||
        st.remaining > 0) {
        publish(c, e, NULL);
        return;
    }
    if (cur && cur->tickets == st.claims)
        return; /* still sold out, nobody new got units: the snapshot stands */
    key_list keys = {0};
    snapshot *s = NULL;
    if (store->be->flash_keys(store->be, e->sale, collect_key, &keys) == ECOM_OK)
        s = build_snapshot(&st, &keys);
    ecom__free(keys.hashes);
    publish(c, e, s);
}

/* Answers from memory when the sale is known sold out and the key got nothing. */
static bool answer_from_memory(ecom_claim_result *out, ecom_store *store, sale_entry *e,
                               const char *key, int64_t qty)
{
    snapshot *s = atomic_load_explicit(&e->snap, memory_order_acquire);
    if (s == NULL || !s->sold_out || has_key(s, hash_str(key)))
        return false;
    int64_t now = ecom__now(store);
    if (s->ends_at && now >= s->ends_at)
        return false; /* the backend says "ended" */
    if (now >= atomic_load_explicit(&e->recheck_at, memory_order_relaxed) &&
        !atomic_flag_test_and_set(&e->refreshing)) {
        refresh(store, e, now);
        atomic_flag_clear(&e->refreshing);
        s = atomic_load_explicit(&e->snap, memory_order_acquire);
        if (s == NULL || !s->sold_out)
            return false;
    }
    *out = (ecom_claim_result){.version = ECOM_CLAIM_RESULT_VERSION,
                               .outcome = ECOM_CLAIM_SOLD_OUT, .quantity = qty};
    return true;
}

/* ---- the claim structs' versions ---- */

/* Version 1 of ecom_claim_result and ecom_claim_request, as callers built against it
 * lay them out: the result ends where `user` begins, so the request's `internal` comes
 * earlier than in version 2. */
typedef struct claim_result_v1 {
    int version;
    ecom_claim_outcome outcome;
    char claim_id[96];
    int64_t quantity;
    uint64_t position;
    int64_t wait_ms;
    int64_t admit_at;
    int64_t expires_at;
} claim_result_v1;

typedef struct claim_request_v1 {
    int version;
    const char *sale;
    const char *user;
    const char *key;
    int64_t quantity;
    ecom_claim_done_fn done;
    void *data;
    int status;
    claim_result_v1 result;
    void *internal[72];
} claim_request_v1;

_Static_assert(sizeof(claim_result_v1) == offsetof(ecom_claim_result, user) &&
                   offsetof(claim_result_v1, expires_at) ==
                       offsetof(ecom_claim_result, expires_at),
               "version 1 of ecom_claim_result is version 2 without user");
_Static_assert(offsetof(claim_request_v1, status) == offsetof(ecom_claim_request, status) &&
                   offsetof(claim_request_v1, result) == offsetof(ecom_claim_request, result) &&
                   sizeof(((claim_request_v1 *)0)->internal) ==
                       sizeof(((ecom_claim_request *)0)->internal),
               "version 1 of ecom_claim_request differs from version 2 only after result");

/* A version-1 request holds a version-1 result; version 2 holds version 2. */
static bool known_version(int version)
{
    return version >= 1 && version <= ECOM_CLAIM_RESULT_VERSION;
}

/* Copies a whole answer into a caller's result of that version: never past its end. */
static void deliver(ecom_claim_result *out, int version, const ecom_claim_result *answer)
{
    size_t size = version == 1 ? offsetof(ecom_claim_result, user) : sizeof *answer;
    memcpy(out, answer, size);
    out->version = version;
}

/* The library's space in a request of either version. */
static void *request_internal(ecom_claim_request *req)
{
    size_t at = req->version == 1 ? offsetof(claim_request_v1, internal)
                                  : offsetof(ecom_claim_request, internal);
    return (char *)req + at;
}

/* Hands a request its answer and gives it back to the caller. */
static void answer_request(ecom_claim_request *req, int status,
                           const ecom_claim_result *answer)
{
    req->status = status;
    deliver(&req->result, req->version, answer);
    req->done(req); /* last: the request is the caller's again */
}

static int check_result_version(ecom_store *store, const ecom_claim_result *out)
{
    if (out == NULL)
        return ecom__fail(store, ECOM_EINVAL, "out: NULL");
    if (!known_version(out->version))
        return ecom__fail(store, ECOM_EVERSION, "ecom_claim_result version %d; expected 1..%d",
                          out->version, ECOM_CLAIM_RESULT_VERSION);
    return ECOM_OK;
}

static int check_claim(ecom_store *store, const char *sale, const char *user, int64_t qty,
                       const char *key)
{
    int rc = ecom__check_id_arg(store, sale, "sale");
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, user, "user");
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, key, "key");
    if (rc == ECOM_OK)
        rc = ecom__check_quantity(store, qty, "quantity");
    return rc;
}

static void claim_op(ecom_inventory_op *op, const char *sale, const char *user, int64_t qty,
                     const char *key)
{
    *op = (ecom_inventory_op){.kind = ECOM_INV_FLASH_CLAIM, .id = sale, .user = user,
                              .key = key, .quantity = qty, .location = ECOM_LOCATION_DEFAULT};
    op->claim.version = ECOM_CLAIM_RESULT_VERSION;
}

/* After a claim's answer: learn that the pool ran dry, or that units came back. */
static void learn(ecom_store *store, sale_entry *e, const ecom_claim_result *answer)
{
    if (e == NULL)
        return;
    snapshot *s = atomic_load_explicit(&e->snap, memory_order_acquire);
    bool sold_out = answer->outcome == ECOM_CLAIM_SOLD_OUT;
    if ((sold_out || (s && s->sold_out)) && !atomic_flag_test_and_set(&e->refreshing)) {
        refresh(store, e, ecom__now(store));
        atomic_flag_clear(&e->refreshing);
    }
}

int ecom_flash_claim(ecom_claim_result *out, ecom_store *store, const char *sale,
                     const char *user, int64_t qty, const char *key)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = check_result_version(store, out);
    if (rc == ECOM_OK)
        rc = check_claim(store, sale, user, qty, key);
    if (rc != ECOM_OK)
        return rc;
    ecom_claim_result answer;
    sale_entry *e = find_entry(store->flash_cache, sale, true);
    if (e && answer_from_memory(&answer, store, e, key, qty)) {
        deliver(out, out->version, &answer);
        return ECOM_OK;
    }
    ecom_inventory_op op;
    claim_op(&op, sale, user, qty, key);
    rc = ecom__inv_run(store, &op);
    if (rc != ECOM_OK)
        return rc;
    learn(store, e, &op.claim);
    deliver(out, out->version, &op.claim);
    return ECOM_OK;
}

/* What a submitted request keeps in its `internal` space while in flight. */
typedef struct async_claim {
    ecom__job job; /* first: the committer hands this back */
    ecom_inventory_op op;
    ecom_store *store;
    sale_entry *entry;
    ecom_claim_request *request;
} async_claim;

_Static_assert(sizeof(async_claim) <= sizeof(((ecom_claim_request *)0)->internal),
               "ecom_claim_request.internal is too small");

static void async_claim_done(ecom__job *job)
{
    async_claim *a = (async_claim *)job;
    if (a->op.result == ECOM_OK)
        learn(a->store, a->entry, &a->op.claim);
    /* The answer is copied out of the request's own internal space, which the copy
     * may not reach: the result comes before it in either version. */
    answer_request(a->request, a->op.result, &a->op.claim);
}

int ecom_flash_claim_submit(ecom_store *store, ecom_claim_request *req)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK && (req == NULL || req->done == NULL))
        rc = ecom__fail(store, ECOM_EINVAL, "request: NULL or without a done callback");
    if (rc == ECOM_OK && !known_version(req->version))
        rc = ecom__fail(store, ECOM_EVERSION, "ecom_claim_request version %d; expected 1..%d",
                        req->version, ECOM_CLAIM_REQUEST_VERSION);
    if (rc == ECOM_OK)
        rc = check_claim(store, req->sale, req->user, req->quantity, req->key);
    if (rc != ECOM_OK)
        return rc;
    ecom_claim_result answer;
    sale_entry *e = find_entry(store->flash_cache, req->sale, true);
    if (e && answer_from_memory(&answer, store, e, req->key, req->quantity)) {
        answer_request(req, ECOM_OK, &answer);
        return ECOM_OK;
    }
    async_claim *a = request_internal(req);
    claim_op(&a->op, req->sale, req->user, req->quantity, req->key);
    a->job = (ecom__job){.kind = ECOM__WRITE_INVENTORY, .op = &a->op, .complete = async_claim_done};
    a->store = store;
    a->entry = e;
    a->request = req;
    rc = ecom__committer_submit_async(store, &a->job);
    return rc == ECOM_OK ? rc : ecom__fail(store, rc, "cannot start the committer thread");
}

/* Splits "sale:ticket" by the one rule the order's completion reads its claims with
 * (ecom__claim_parse: the ticket in plain decimal), so that a claim checkout accepted
 * is one the order commits or releases; a sale that is no valid id names no sale. */
static int parse_claim_id(ecom_store *store, const char *claim_id, char *sale, uint64_t *ticket)
{
    if (ecom__claim_parse(claim_id, sale, ticket) &&
        ecom__check_id_arg(store, sale, "claim") == ECOM_OK)
        return ECOM_OK;
    return ecom__fail(store, ECOM_EINVAL, "claim id '%.100s' is not of the form SALE:TICKET "
                      "(TICKET a number from 1, without sign or leading zero)",
                      claim_id ? claim_id : "(null)");
}

int ecom_flash_poll(ecom_claim_result *out, ecom_store *store, const char *claim_id)
{
    char sale[ECOM_ID_MAX + 1];
    uint64_t ticket = 0;
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = check_result_version(store, out);
    if (rc == ECOM_OK)
        rc = parse_claim_id(store, claim_id, sale, &ticket);
    if (rc != ECOM_OK)
        return rc;
    /* The backend fills a whole result, whatever the caller's version. A backend that
     * does not name the claimer leaves `user` empty, never the caller's own earlier
     * value: checkout takes this as the claim's owner. */
    ecom_claim_result answer = ECOM_CLAIM_RESULT_INIT;
    rc = store->be->claim_get(store->be, sale, ticket, ecom__now(store), &answer);
    if (rc == ECOM_OK)
        deliver(out, out->version, &answer);
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, rc, "claim '%s' not found", claim_id);
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "claim '%s': %s", claim_id, ecom_strerror(rc));
    return rc;
}

/* After units may have gone back to a pool: look again at the next claim. */
static void forget(ecom_store *store, const char *sale)
{
    sale_entry *e = find_entry(store->flash_cache, sale, false);
    if (e)
        atomic_store(&e->recheck_at, 0);
}

static int end_claim(ecom_store *store, ecom_inventory_op_kind kind, const char *claim_id)
{
    char sale[ECOM_ID_MAX + 1];
    uint64_t ticket = 0;
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = parse_claim_id(store, claim_id, sale, &ticket);
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = kind, .id = sale, .ticket = ticket,
                            .location = ECOM_LOCATION_DEFAULT};
    rc = ecom__inv_run(store, &op);
    if (rc == ECOM_OK || rc == ECOM_EEXPIRED)
        forget(store, sale);
    return rc;
}

int ecom_flash_release(ecom_store *store, const char *claim_id)
{
    return end_claim(store, ECOM_INV_FLASH_RELEASE, claim_id);
}

int ecom_flash_commit(ecom_store *store, const char *claim_id)
{
    return end_claim(store, ECOM_INV_FLASH_COMMIT, claim_id);
}

static int check_flash_options(ecom_store *store, const ecom_flash_options *o)
{
    if (o == NULL)
        return ecom__fail(store, ECOM_EINVAL, "options: NULL");
    if (o->version != ECOM_FLASH_OPTIONS_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "ecom_flash_options version %d; expected %d",
                          o->version, ECOM_FLASH_OPTIONS_VERSION);
    int rc = ecom__check_id_arg(store, o->sku, "sku");
    if (rc == ECOM_OK && o->location)
        rc = ecom__check_id_arg(store, o->location, "location");
    if (rc == ECOM_OK)
        rc = ecom__check_quantity(store, o->units, "units");
    if (rc != ECOM_OK)
        return rc;
    if (o->starts_at < 0 || o->ends_at < 0)
        return ecom__fail(store, ECOM_EINVAL, "starts_at/ends_at: negative time");
    if (o->ends_at && o->ends_at <= (o->starts_at ? o->starts_at : ecom__now(store)))
        return ecom__fail(store, ECOM_EINVAL, "ends_at: not after the start");
    if (o->per_user_limit < 0 || o->per_user_limit > ECOM_QUANTITY_MAX)
        return ecom__fail(store, ECOM_EINVAL, "per_user_limit: %lld is out of range",
                          (long long)o->per_user_limit);
    if (o->claim_ttl_ms < 0 || o->claim_ttl_ms > ECOM__TTL_MAX)
        return ecom__fail(store, ECOM_EINVAL, "claim_ttl_ms: %lld is out of range",
                          (long long)o->claim_ttl_ms);
    if (o->admit_per_second < 0 || o->admit_per_second > 1000000)
        return ecom__fail(store, ECOM_EINVAL, "admit_per_second: %lld is not in 0..1000000",
                          (long long)o->admit_per_second);
    return ECOM_OK;
}

int ecom_flash_open(ecom_store *store, const char *sale, const ecom_flash_options *opts)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sale, "sale");
    if (rc == ECOM_OK)
        rc = check_flash_options(store, opts);
    if (rc != ECOM_OK)
        return rc;
    ecom_flash_options resolved = *opts;
    resolved.location = ecom__location(opts->location);
    if (resolved.starts_at == 0)
        resolved.starts_at = ecom__now(store);
    if (resolved.claim_ttl_ms == 0)
        resolved.claim_ttl_ms = ECOM__CLAIM_TTL_DEFAULT;
    ecom_inventory_op op = {.kind = ECOM_INV_FLASH_OPEN, .id = sale, .sku = opts->sku,
                            .location = resolved.location, .quantity = opts->units,
                            .flash = &resolved};
    rc = ecom__inv_run(store, &op);
    if (rc == ECOM_OK)
        forget(store, sale);
    return rc;
}

int ecom_flash_close(ecom_store *store, const char *sale)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sale, "sale");
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = ECOM_INV_FLASH_CLOSE, .id = sale,
                            .location = ECOM_LOCATION_DEFAULT};
    rc = ecom__inv_run(store, &op);
    if (rc == ECOM_OK)
        forget(store, sale);
    return rc;
}

int ecom_flash_status_get(ecom_flash_status *out, ecom_store *store, const char *sale)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK && out == NULL)
        rc = ecom__fail(store, ECOM_EINVAL, "out: NULL");
    if (rc == ECOM_OK && out->version != ECOM_FLASH_STATUS_VERSION)
        rc = ecom__fail(store, ECOM_EVERSION, "ecom_flash_status version %d; expected %d",
                        out->version, ECOM_FLASH_STATUS_VERSION);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sale, "sale");
    if (rc != ECOM_OK)
        return rc;
    rc = store->be->flash_get(store->be, sale, out);
    out->version = ECOM_FLASH_STATUS_VERSION;
    if (rc == ECOM_ENOTFOUND)
        return ecom__fail(store, rc, "sale '%s' not found", sale);
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "sale '%s': %s", sale, ecom_strerror(rc));
    return rc;
}
