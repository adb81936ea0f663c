/* The LMDB backend's flash sales: open (units move into a pool, counted as
 * reserved), claim (the hot path: no scan, GCRA admission, idempotency and
 * per-user limits judged from the in-memory claim index, only growing keys
 * written), release, commit and expiry of claims, and close (the pool goes back
 * to stock), by the caller or, for a sale with an end time, by the expiry sweep
 * when that time comes. */
#include <stdio.h>
#include <string.h>

#include "lmdb_inventory.h"

#define DEFAULT_TTL_MS 600000
#define CLAIM_VAL_MAX (33 + 3 * (ECOM_ID_MAX + 3))

static const int claim_end_kinds[] = {0, INV_K_CLAIM_COMMIT, INV_K_CLAIM_RELEASE,
                                      INV_K_CLAIM_EXPIRE};

static int no_sale(inv_ctx *c, ecom_inventory_op *op)
{
    op->result = ecom__lmdb_fail(c->be, ECOM_ENOTFOUND, "no flash sale '%.64s'", op->id);
    return ECOM_OK;
}

/* ---- claims ---- */

int ecom__inv_claim_load(inv_ctx *c, const char *sale, uint64_t ticket, inv_claim *cl,
                         int *found)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_claim_key(key, sale, ticket), key}, v;
    *found = 0;
    int rc = mdb_get(c->txn, c->be->claims, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ECOM_OK;
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_get (claims)", rc);
    if (ecom__inv_claim_decode(cl, &v) != ECOM_OK)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: claim %s:%llu is malformed", sale,
                               (unsigned long long)ticket);
    *found = 1;
    return ECOM_OK;
}

static int claim_store(inv_ctx *c, const char *sale, uint64_t ticket, const inv_claim *cl)
{
    unsigned char key[INV_KEY_MAX], val[CLAIM_VAL_MAX];
    MDB_val k = {ecom__inv_claim_key(key, sale, ticket), key};
    MDB_val v = {ecom__inv_claim_size(cl), val};
    ecom__inv_claim_encode(val, cl);
    /* Tickets grow: a new claim of the last sale in key order appends. */
    int rc = mdb_put(c->txn, c->be->claims, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        v = (MDB_val){ecom__inv_claim_size(cl), val};
        rc = mdb_put(c->txn, c->be->claims, &k, &v, 0);
    }
    return rc ? ecom__lmdb_mdb(c->be, "mdb_put (claims)", rc) : ECOM_OK;
}

/* ---- open and close ---- */

static int open_judge(inv_ctx *c, ecom_inventory_op *op, const ecom_flash_options *f)
{
    int fatal, found, policy;
    if ((op->result = ecom__inv_need_sku(c, op->sku, &fatal)) != ECOM_OK ||
        (op->result = ecom__inv_need_location(c, op->location, &fatal)) != ECOM_OK)
        return fatal;
    inv_stock s;
    int rc = ecom__inv_stock_load(c, op->sku, op->location, &s, &found);
    if (rc == ECOM_OK)
        rc = ecom__inv_backorder(c, op->sku, &policy);
    if (rc != ECOM_OK)
        return rc;
    int64_t sellable = s.on_hand - s.reserved - s.safety, sum;
    if (f->units <= 0 || __builtin_add_overflow(s.reserved, f->units, &sum))
        op->result = ecom__lmdb_fail(c->be, ECOM_EQUANTITY, "sale units %lld out of range",
                                     (long long)f->units);
    else if (policy == ECOM_BACKORDER_DENY && f->units > sellable)
        op->result = ecom__lmdb_fail(c->be, ECOM_EINSUFFICIENT, "'%s' at '%s': %lld units "
                                     "wanted for the sale, %lld sellable", op->sku,
                                     op->location, (long long)f->units,
                                     (long long)(sellable > 0 ? sellable : 0));
    return ECOM_OK;
}

static int open_apply(inv_ctx *c, ecom_inventory_op *op, const ecom_flash_options *f)
{
    inv_sale s;
    memset(&s, 0, sizeof s);
    s.units = s.remaining = f->units;
    s.starts_at = f->starts_at;
    s.ends_at = f->ends_at;
    s.per_user_limit = f->per_user_limit;
    s.claim_ttl_ms = f->claim_ttl_ms > 0 ? f->claim_ttl_ms : DEFAULT_TTL_MS;
    s.admit_per_second = f->admit_per_second;
    s.open = 1;
    strcpy(s.sku, op->sku);
    strcpy(s.location, op->location);
    int rc = ecom__inv_stock_move(c, INV_K_FLASH_OPEN, op->sku, op->location, 0, f->units,
                                  op->id, NULL);
    inv_sale *cached;
    if (rc == ECOM_OK)
        rc = ecom__inv_sale_add(c, op->id, &s, &cached);
    if (rc == ECOM_OK && f->ends_at > 0)
        rc = ecom__inv_expiry_put(c, f->ends_at, INV_EXPIRY_SALE, op->id, 0);
    if (rc != ECOM_OK)
        return rc;
    ecom__inv_sale_dirty(c, cached);
    return ecom__inv_event(c, "flash.opened", op->id);
}

int ecom__inv_flash_open(inv_ctx *c, ecom_inventory_op *op)
{
    const ecom_flash_options *f = op->flash;
    inv_sale *s;
    int found, rc = ecom__inv_sale_get(c, op->id, &s, &found);
    if (rc != ECOM_OK)
        return rc;
    if (found) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EEXISTS, "flash sale '%s' exists", op->id);
        return ECOM_OK;
    }
    if (f == NULL || strlen(op->id) > ECOM_ID_MAX || strlen(op->sku) > ECOM_ID_MAX ||
        strlen(op->location) > ECOM_ID_MAX || f->admit_per_second < 0 || f->starts_at < 0 ||
        f->ends_at < 0 || f->per_user_limit < 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: flash open needs options");
        return ECOM_OK;
    }
    rc = open_judge(c, op, f);
    if (rc == ECOM_OK && op->result == ECOM_EINSUFFICIENT && c->due_left) {
        c->due_left = 0;
        if ((rc = ecom__inv_sweep(c, UINT64_MAX, &c->swept)) == ECOM_OK)
            rc = open_judge(c, op, f);
    }
    if (rc == ECOM_OK && op->result == ECOM_OK)
        rc = open_apply(c, op, f);
    return rc;
}

/* Closes open sale s: what is left in the pool goes back to stock. */
static int close_open(inv_ctx *c, const char *id, inv_sale *s)
{
    int rc;
    if (s->remaining > 0 &&
        (rc = ecom__inv_stock_move(c, INV_K_FLASH_CLOSE, s->sku, s->location, 0, -s->remaining,
                                   id, NULL)) != ECOM_OK)
        return rc;
    s->returned += s->remaining;
    s->remaining = 0;
    s->open = 0;
    ecom__inv_sale_dirty(c, s);
    /* No claim can be granted any more: its memory goes (retries rebuild it). */
    ecom__inv_claims_forget(c->be, id);
    return ecom__inv_event(c, "flash.closed", id);
}

int ecom__inv_flash_close(inv_ctx *c, ecom_inventory_op *op)
{
    inv_sale *s;
    int found, rc = ecom__inv_sale_get(c, op->id, &s, &found);
    if (rc != ECOM_OK || !found)
        return rc ? rc : no_sale(c, op);
    if (!s->open) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EENDED, "flash sale '%s' is closed", op->id);
        return ECOM_OK;
    }
    /* Closed before the sweep reached its end: that entry goes too. */
    if (s->ends_at > 0 &&
        (rc = ecom__inv_expiry_del(c, s->ends_at, INV_EXPIRY_SALE, op->id, 0)) != ECOM_OK)
        return rc;
    return close_open(c, op->id, s);
}

int ecom__inv_sale_end(inv_ctx *c, const char *sale)
{
    inv_sale *s;
    int found, rc = ecom__inv_sale_get(c, sale, &s, &found);
    if (rc != ECOM_OK || !found || !s->open || s->ends_at <= 0 || s->ends_at > c->now)
        return rc;
    return close_open(c, sale, s);
}

int ecom__inv_sale_ends_index(ecom__lmdb *be, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, be->sales, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(be, "mdb_cursor_open (sales)", rc);
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        inv_sale s;
        if (!ecom__lmdb_is_cstr(k.mv_data, k.mv_size) || ecom__inv_sale_decode(&s, &v) != ECOM_OK)
            continue; /* check reports it */
        if (!s.open || s.ends_at <= 0)
            continue;
        unsigned char key[INV_KEY_MAX];
        MDB_val ek = {ecom__inv_expiry_key(key, s.ends_at, INV_EXPIRY_SALE, k.mv_data, 0), key};
        MDB_val ev = {0, NULL};
        /* NOOVERWRITE stops before dirtying a page when the entry is there. */
        int put = ek.mv_size ? mdb_put(txn, be->expiry, &ek, &ev, MDB_NOOVERWRITE) : 0;
        if (put != 0 && put != MDB_KEYEXIST) {
            mdb_cursor_close(cur);
            return ecom__lmdb_mdb(be, "mdb_put (expiry)", put);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? ECOM_OK : ecom__lmdb_mdb(be, "mdb_cursor_get (sales)", rc);
}

/* ---- ending a claim ---- */

/* Moves a held claim to state; its units go to the sale (sold), back to the pool
 * (open sale) or back to stock (closed sale). */
static int claim_end(inv_ctx *c, const char *sale, inv_sale *s, uint64_t ticket, inv_claim *cl,
                     int state)
{
    char ref[2 * ECOM_ID_MAX + 24];
    snprintf(ref, sizeof ref, "%s:%llu", sale, (unsigned long long)ticket);
    int64_t q = cl->qty;
    int rc = ECOM_OK;
    if (state == ECOM_RESERVATION_COMMITTED)
        rc = ecom__inv_stock_move(c, INV_K_CLAIM_COMMIT, s->sku, s->location, -q, -q, ref, NULL);
    else if (!s->open)
        rc = ecom__inv_stock_move(c, claim_end_kinds[state], s->sku, s->location, 0, -q, ref,
                                  NULL);
    if (rc == ECOM_OK)
        rc = ecom__inv_expiry_del(c, cl->expires_at, INV_EXPIRY_CLAIM, sale, ticket);
    if (rc != ECOM_OK)
        return rc;
    s->held -= q;
    if (state == ECOM_RESERVATION_COMMITTED)
        s->sold += q;
    else if (s->open)
        s->remaining += q;
    else
        s->returned += q;
    ecom__inv_sale_dirty(c, s);
    cl->state = state;
    cl->ended_at = c->now;
    rc = claim_store(c, sale, ticket, cl);
    return rc ? rc : ecom__inv_claims_changed(c, sale, s, ticket, cl);
}

int ecom__inv_claim_expire(inv_ctx *c, const char *sale, uint64_t ticket)
{
    inv_sale *s;
    inv_claim cl;
    int sfound, cfound, rc = ecom__inv_sale_get(c, sale, &s, &sfound);
    if (rc == ECOM_OK && sfound)
        rc = ecom__inv_claim_load(c, sale, ticket, &cl, &cfound);
    if (rc != ECOM_OK || !sfound || !cfound)
        return rc; /* an entry that names no claim ends nothing */
    if (cl.state != ECOM_RESERVATION_HELD || cl.expires_at > c->now)
        return ECOM_OK;
    return claim_end(c, sale, s, ticket, &cl, ECOM_RESERVATION_EXPIRED);
}

/* Sets the refusal for a claim that is not held (or is due, and expires now). */
static int claim_not_held(inv_ctx *c, ecom_inventory_op *op, inv_sale *s, inv_claim *cl,
                          int *refused)
{
    *refused = 1;
    int state = cl->state;
    if (state == ECOM_RESERVATION_HELD && cl->expires_at <= c->now) {
        int rc = claim_end(c, op->id, s, op->ticket, cl, ECOM_RESERVATION_EXPIRED);
        if (rc != ECOM_OK)
            return rc;
        state = ECOM_RESERVATION_EXPIRED;
    }
    if (state == ECOM_RESERVATION_EXPIRED)
        op->result = ecom__lmdb_fail(c->be, ECOM_EEXPIRED, "claim %s:%llu expired", op->id,
                                     (unsigned long long)op->ticket);
    else if (state != ECOM_RESERVATION_HELD)
        op->result = ecom__lmdb_fail(c->be, ECOM_EENDED, "claim %s:%llu has already ended",
                                     op->id, (unsigned long long)op->ticket);
    else if (op->kind == ECOM_INV_FLASH_COMMIT && c->now < ecom__inv_admit_ms(cl->admit_us))
        op->result = ecom__lmdb_fail(c->be, ECOM_EBUSY, "claim %s:%llu is still queued",
                                     op->id, (unsigned long long)op->ticket);
    else
        *refused = 0;
    return ECOM_OK;
}

/* Loads op's sale and claim; *refused (op->result set) unless the claim exists and is
 * held (claim_not_held). */
static int held_claim(inv_ctx *c, ecom_inventory_op *op, inv_sale **s, inv_claim *cl,
                      int *refused)
{
    int sfound, cfound = 0;
    *refused = 1;
    int rc = ecom__inv_sale_get(c, op->id, s, &sfound);
    if (rc == ECOM_OK && sfound)
        rc = ecom__inv_claim_load(c, op->id, op->ticket, cl, &cfound);
    if (rc != ECOM_OK)
        return rc;
    if (!cfound) {
        op->result = ecom__lmdb_fail(c->be, ECOM_ENOTFOUND, "no claim %.64s:%llu", op->id,
                                     (unsigned long long)op->ticket);
        return ECOM_OK;
    }
    return claim_not_held(c, op, *s, cl, refused);
}

int ecom__inv_claim_end_op(inv_ctx *c, ecom_inventory_op *op)
{
    inv_sale *s;
    inv_claim cl;
    int refused;
    int rc = held_claim(c, op, &s, &cl, &refused);
    if (rc != ECOM_OK || refused)
        return rc;
    /* A claim an order stands on is that order's to commit or release (op->key). */
    if (cl.order[0] && (op->key == NULL || strcmp(op->key, cl.order) != 0)) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EBUSY, "claim %s:%llu stands in for order "
                                     "'%s', still being paid: that order's end commits or "
                                     "releases it", op->id, (unsigned long long)op->ticket,
                                     cl.order);
        return ECOM_OK;
    }
    return claim_end(c, op->id, s, op->ticket, &cl,
                     op->kind == ECOM_INV_FLASH_COMMIT ? ECOM_RESERVATION_COMMITTED
                                                       : ECOM_RESERVATION_RELEASED);
}

/* Ties a held claim to the order standing on it (op->key): once, for that order only. */
int ecom__inv_claim_bind_op(inv_ctx *c, ecom_inventory_op *op)
{
    inv_sale *s;
    inv_claim cl;
    int refused;
    if (op->key == NULL || op->key[0] == '\0' || strlen(op->key) > ECOM_ID_MAX) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: FLASH_BIND needs an order id");
        return ECOM_OK;
    }
    int rc = held_claim(c, op, &s, &cl, &refused);
    if (rc != ECOM_OK || refused || strcmp(cl.order, op->key) == 0)
        return rc;
    if (cl.order[0]) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EBUSY, "claim %s:%llu stands in for order "
                                     "'%s', still being paid", op->id,
                                     (unsigned long long)op->ticket, cl.order);
        return ECOM_OK;
    }
    strcpy(cl.order, op->key);
    return claim_store(c, op->id, op->ticket, &cl);
}

/* ---- claim ---- */

/* A retry of (user, key): the claim it got, as it stands now. */
static int claim_retry(inv_ctx *c, ecom_inventory_op *op, inv_sale *s, uint64_t ticket)
{
    op->existing = 1;
    inv_claim cl;
    int found, rc = ecom__inv_claim_load(c, op->id, ticket, &cl, &found);
    if (rc == ECOM_OK && !found)
        rc = ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: claim %s:%llu of key '%s' is missing",
                             op->id, (unsigned long long)ticket, op->key);
    if (rc == ECOM_OK)
        ecom__inv_claim_view(&op->claim, op->id, ticket, &cl, s, c->now);
    return rc;
}

/* An answer without units is not kept: a retry is judged again, which can never
 * hand out units twice, keeps the store from growing with every refused buyer,
 * and agrees with the sold-out answers the core gives from memory. */
static int claim_refuse(ecom_inventory_op *op, ecom_claim_outcome outcome)
{
    op->claim.outcome = outcome;
    return ECOM_OK;
}

/* GCRA admission: the claim's admission time, and the schedule moved past it.
 * Without a rate every claim is admitted now: processes' clocks are read before
 * they wait for the write lock, so another process may have recorded a later "now"
 * and the schedule must not turn that skew into a queue.
 * Returns 0, or -1 when the times do not fit in int64 microseconds. */
static int admit(const inv_sale *s, int64_t now, int64_t *admit_us, int64_t *next_us,
                 int64_t *expires_at)
{
    int64_t now_us, iv = s->admit_per_second > 0 ? 1000000 / s->admit_per_second : 0;
    if (__builtin_mul_overflow(now, 1000, &now_us))
        return -1;
    *admit_us = iv && s->next_admit_us > now_us ? s->next_admit_us : now_us;
    if (__builtin_add_overflow(*admit_us, iv, next_us) ||
        __builtin_add_overflow(ecom__inv_admit_ms(*admit_us), s->claim_ttl_ms, expires_at) ||
        *expires_at > INT64_MAX / 1000)
        return -1;
    return 0;
}

static int claim_grant(inv_ctx *c, ecom_inventory_op *op, inv_sale *s)
{
    inv_claim cl;
    int64_t next_us;
    cl.state = ECOM_RESERVATION_HELD;
    cl.qty = op->quantity;
    cl.ended_at = 0;
    if (admit(s, c->now, &cl.admit_us, &next_us, &cl.expires_at) != 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: claim time out of range");
        return ECOM_OK;
    }
    strcpy(cl.user, op->user);
    strcpy(cl.key, op->key);
    cl.order[0] = '\0';
    uint64_t ticket = s->tickets + 1;
    int rc = claim_store(c, op->id, ticket, &cl);
    if (rc == ECOM_OK)
        rc = ecom__inv_expiry_put(c, cl.expires_at, INV_EXPIRY_CLAIM, op->id, ticket);
    if (rc == ECOM_OK)
        rc = ecom__inv_claims_changed(c, op->id, s, ticket, &cl);
    if (rc != ECOM_OK)
        return rc;
    s->tickets = ticket;
    s->remaining -= op->quantity;
    s->held += op->quantity;
    s->next_admit_us = next_us;
    ecom__inv_sale_dirty(c, s);
    ecom__inv_claim_view(&op->claim, op->id, ticket, &cl, s, c->now);
    return ECOM_OK;
}

/* Judges a new claim on the sale as it stands: the outcome if refused, else grants. */
static int claim_judge(inv_ctx *c, ecom_inventory_op *op, inv_sale *s, const cix *ix)
{
    int64_t units = ecom__cix_units(ix, op->user), sum;
    int rc;
    if (c->now < s->starts_at)
        return claim_refuse(op, ECOM_CLAIM_NOT_STARTED);
    if (!s->open || (s->ends_at && c->now >= s->ends_at))
        return claim_refuse(op, ECOM_CLAIM_ENDED);
    if (__builtin_add_overflow(units, op->quantity, &sum) ||
        (s->per_user_limit && sum > s->per_user_limit))
        return claim_refuse(op, ECOM_CLAIM_LIMIT);
    if (s->remaining < op->quantity && c->due_left) {
        /* Due claims may hold what this buyer wants: end them all first. */
        c->due_left = 0;
        int found;
        if ((rc = ecom__inv_sweep(c, UINT64_MAX, &c->swept)) != ECOM_OK ||
            (rc = ecom__inv_sale_get(c, op->id, &s, &found)) != ECOM_OK)
            return rc;
    }
    if (s->remaining < op->quantity)
        return claim_refuse(op, ECOM_CLAIM_SOLD_OUT);
    return claim_grant(c, op, s);
}

int ecom__inv_flash_claim(inv_ctx *c, ecom_inventory_op *op)
{
    inv_sale *s;
    int found, rc = ecom__inv_sale_get(c, op->id, &s, &found);
    if (rc != ECOM_OK || !found)
        return rc ? rc : no_sale(c, op);
    if (op->user == NULL || op->key == NULL || strlen(op->user) > ECOM_ID_MAX ||
        strlen(op->key) > ECOM_ID_MAX || *op->key == '\0' || op->quantity <= 0) {
        op->result = ecom__lmdb_fail(c->be, ECOM_EINVAL, "lmdb: claim needs user, key, quantity");
        return ECOM_OK;
    }
    cix *ix;
    uint64_t ticket;
    if ((rc = ecom__inv_claims_index(c, op->id, s, &ix)) != ECOM_OK)
        return rc;
    if (ecom__cix_find(ix, op->user, op->key, &ticket))
        return claim_retry(c, op, s, ticket);
    return claim_judge(c, op, s, ix);
}
