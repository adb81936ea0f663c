/* Keeps each sale's in-memory claim index (lmdb_claim_index.c) in step with the
 * store: built by scanning the sale's claims, caught up from the claim log on what
 * other processes changed, told of this txn's own changes, and dropped when the
 * txn that changed it does not commit. All of it runs inside apply's write txn,
 * whose lock is exclusive across threads and processes.
 *
 * Why it is exact: an index at synced = k reflects the first k changes of the
 * sale's committed history (one history: writers are serialised), because only
 * committed changes survive end(). So when the txn reads claim_changes = k too,
 * the index is the store's; when it reads more, entries (k, claim_changes] of the
 * log name the claims that changed since, and re-reading them catches up. */
#include <string.h>

#include "lmdb_inventory.h"

/* Below this many changes behind, or while fewer than the claims it knows, the
 * index replays the log; further behind, one sequential scan of the claims is
 * cheaper than a log read and a claim lookup per change. */
#define REPLAY_MIN 64

/* ---- the list of indexes ---- */

/* The sale's index, moved to the front (a hot sale is found at once), or NULL. */
static cix *find(ecom__lmdb *be, const char *sale)
{
    for (cix **link = &be->claim_index; *link; link = &(*link)->next)
        if (strcmp((*link)->sale, sale) == 0) {
            cix *ix = *link;
            *link = ix->next;
            ix->next = be->claim_index;
            be->claim_index = ix;
            return ix;
        }
    return NULL;
}

/* Keeps what a committed txn changed; drops what another changed (rebuilt on use). */
static void settle(ecom__lmdb *be, int committed)
{
    for (cix **link = &be->claim_index; *link;) {
        cix *ix = *link;
        if (ix->pending && !committed) {
            *link = ix->next;
            ecom__cix_free(ix);
            be->claim_drops++;
            continue;
        }
        ix->pending = 0;
        link = &ix->next;
    }
}

void ecom__inv_claims_begin(ecom__lmdb *be)
{
    pthread_mutex_lock(&be->claim_lock);
    settle(be, 0); /* nothing is pending unless an end was missed: then trust nothing */
}

void ecom__inv_claims_end(ecom__lmdb *be, int committed)
{
    settle(be, committed);
    pthread_mutex_unlock(&be->claim_lock);
}

void ecom__inv_claims_forget(ecom__lmdb *be, const char *sale)
{
    cix *ix = find(be, sale);
    if (ix != NULL) {
        be->claim_index = ix->next;
        ecom__cix_free(ix);
    }
}

void ecom__inv_claims_free(ecom__lmdb *be)
{
    for (cix *ix = be->claim_index, *next; ix; ix = next) {
        next = ix->next;
        ecom__cix_free(ix);
    }
    be->claim_index = NULL;
}

/* ---- filling the index ---- */

static int note_claim(inv_ctx *c, cix *ix, uint64_t ticket, const inv_claim *cl)
{
    int live = cl->state == ECOM_RESERVATION_HELD || cl->state == ECOM_RESERVATION_COMMITTED;
    int rc = ecom__cix_note(ix, ticket, cl->user, cl->key, cl->qty, live);
    if (rc == ECOM_ECORRUPT)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: claim %s:%llu repeats the key "
                               "'%s' of user '%s'", ix->sale, (unsigned long long)ticket,
                               cl->key, cl->user);
    if (rc == ECOM_ENOMEM)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory for the claim index");
    return rc;
}

/* Refills the index from the sale's claims (keys sorted by ticket: one sequential pass). */
static int rebuild(inv_ctx *c, cix *ix, const inv_sale *s)
{
    unsigned char prefix[INV_KEY_MAX];
    size_t plen = ecom__inv_key2(prefix, ix->sale, NULL);
    MDB_cursor *cur;
    ix->pending = 1;
    ecom__cix_clear(ix);
    c->be->claim_rebuilds++;
    int rc = mdb_cursor_open(c->txn, c->be->claims, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (claims)", rc);
    MDB_val k = {plen, prefix}, v;
    int frc = ECOM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && frc == ECOM_OK && k.mv_size == plen + 8 && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        inv_claim cl;
        uint64_t ticket = ecom__lmdb_get_u64be((const unsigned char *)k.mv_data + plen);
        frc = ecom__inv_claim_decode(&cl, &v) == ECOM_OK
                  ? note_claim(c, ix, ticket, &cl)
                  : ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: claim %s:%llu is malformed",
                                    ix->sale, (unsigned long long)ticket);
    }
    mdb_cursor_close(cur);
    if (frc != ECOM_OK)
        return frc;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_get (claims)", rc);
    ix->synced = s->claim_changes;
    ix->built = 1;
    return ECOM_OK;
}

/* One log entry at the cursor: must be change synced + 1 of this sale and name a
 * stored claim. *ok = 0 when it is not (the caller rebuilds from the claims). */
static int replay_one(inv_ctx *c, cix *ix, const MDB_val *k, const MDB_val *v, int *ok)
{
    const char *sale;
    uint64_t n;
    inv_claim cl;
    int found = 0;
    *ok = 0;
    if (ecom__inv_claim_split(k, &sale, &n) != 0 || strcmp(sale, ix->sale) != 0 ||
        n != ix->synced + 1 || v->mv_size != 8)
        return ECOM_OK;
    uint64_t ticket = ecom__lmdb_get_u64(v->mv_data);
    int rc = ecom__inv_claim_load(c, ix->sale, ticket, &cl, &found);
    if (rc != ECOM_OK || !found)
        return rc;
    /* The claim as it is now, not as change n left it: noting is idempotent, and
     * by the last change replayed every claim is noted in its current state. */
    if ((rc = note_claim(c, ix, ticket, &cl)) == ECOM_OK) {
        ix->synced = n;
        *ok = 1;
    }
    return rc;
}

/* Catches up changes (synced, claim_changes]; *complete = 0 when the log lacks one. */
static int replay(inv_ctx *c, cix *ix, const inv_sale *s, int *complete)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val k = {ecom__inv_claim_key(key, ix->sale, ix->synced + 1), key}, v;
    MDB_cursor *cur;
    ix->pending = 1;
    int rc = mdb_cursor_open(c->txn, c->be->claimlog, &cur);
    if (rc != 0)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_open (claimlog)", rc);
    int ok = 1, frc = ECOM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && ok && frc == ECOM_OK && ix->synced < s->claim_changes;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        frc = replay_one(c, ix, &k, &v, &ok);
    mdb_cursor_close(cur);
    if (frc != ECOM_OK)
        return frc;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return ecom__lmdb_mdb(c->be, "mdb_cursor_get (claimlog)", rc);
    *complete = ix->synced == s->claim_changes;
    return ECOM_OK;
}

static int too_far(const cix *ix, const inv_sale *s)
{
    uint64_t gap = s->claim_changes - ix->synced;
    return gap > REPLAY_MIN && gap > ix->nkeys;
}

int ecom__inv_claims_index(inv_ctx *c, const char *sale, const inv_sale *s, cix **out)
{
    cix *ix = find(c->be, sale);
    if (ix == NULL) {
        if ((ix = ecom__cix_new(sale)) == NULL)
            return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory for the claim index");
        ix->pending = 1;
        ix->next = c->be->claim_index;
        c->be->claim_index = ix;
    }
    *out = ix;
    if (ix->built && ix->synced == s->claim_changes)
        return ECOM_OK;
    int rc = ECOM_OK, complete = 0;
    if (ix->built && ix->synced < s->claim_changes && !too_far(ix, s))
        rc = replay(c, ix, s, &complete);
    if (rc == ECOM_OK && !complete)
        rc = rebuild(c, ix, s); /* cold, far behind, ahead (cannot be), or a hole in the log */
    return rc;
}

/* ---- this txn's changes ---- */

static int log_append(inv_ctx *c, const char *sale, uint64_t n, uint64_t ticket)
{
    unsigned char key[INV_KEY_MAX], val[8];
    MDB_val k = {ecom__inv_claim_key(key, sale, n), key}, v = {sizeof val, val};
    ecom__lmdb_put_u64(val, ticket);
    /* Changes grow: the log of the last sale in key order appends. */
    int rc = mdb_put(c->txn, c->be->claimlog, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        v = (MDB_val){sizeof val, val};
        rc = mdb_put(c->txn, c->be->claimlog, &k, &v, MDB_NOOVERWRITE);
    }
    if (rc == MDB_KEYEXIST)
        return ecom__lmdb_fail(c->be, ECOM_ECORRUPT, "lmdb: sale '%s' counts %llu claim changes "
                               "but its log has more", sale, (unsigned long long)(n - 1));
    return rc ? ecom__lmdb_mdb(c->be, "mdb_put (claimlog)", rc) : ECOM_OK;
}

int ecom__inv_claims_changed(inv_ctx *c, const char *sale, inv_sale *s, uint64_t ticket,
                             const inv_claim *cl)
{
    uint64_t n = s->claim_changes + 1;
    int rc = log_append(c, sale, n, ticket);
    if (rc != ECOM_OK)
        return rc;
    s->claim_changes = n;
    ecom__inv_sale_dirty(c, s);
    cix *ix = find(c->be, sale);
    if (ix == NULL || !ix->built || ix->synced + 1 != n)
        return ECOM_OK; /* absent or behind: it catches up from the log when next used */
    ix->pending = 1;
    if ((rc = note_claim(c, ix, ticket, cl)) == ECOM_OK)
        ix->synced = n;
    return rc;
}
