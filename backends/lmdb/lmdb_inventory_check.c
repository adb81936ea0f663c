/* The inventory part of the LMDB backend's check, in the check's snapshot: the
 * ledger against every stock row (sums and conservation by kind), reserved
 * against the holds, sales and claims against their figures, every hold against
 * the expiry index, each reservation ended exactly once, claim keys unique, users
 * within their limit, and each sale's claim log against its count and claims. */
#include <stdio.h>
#include <string.h>

#include "lmdb_inventory.h"

#define QUOTE 160

/* Tally slots. rows: "sku\0loc\0"; refs: "resv\0sku\0"; sales: "sale\0";
 * users: "sale\0user\0" (units held or bought); keys: "sale\0user\0key\0" (claims
 * with it, the first one's ticket). */
enum { R_ON_HAND, R_RESERVED, R_HOLDS };
enum { F_HELD, F_SOLD, F_CLAIMS, F_MAX_TICKET, F_ENDED, F_LOG, F_LOG_MAX, F_LIMIT };
enum { K_CLAIMS, K_FIRST };

typedef struct ichk {
    ecom__lmdb *be;
    MDB_txn *txn;
    ecom_check_sink *sink;
    inv_tally rows, refs, sales, users, keys;
    uint64_t next_seq;
} ichk;

/* A violation, through the sink of checker c. */
#define report(c, ...) ecom__lmdb_report((c)->sink, __VA_ARGS__)

static const char *q(char buf[QUOTE], const char *s)
{
    ecom__lmdb_quote(buf, QUOTE, s, strlen(s));
    return buf;
}

typedef int (*entry_fn)(ichk *c, const MDB_val *key, const MDB_val *val);

/* Runs each entry of dbi through fn (ecom__lmdb_each, with the checker typed). */
typedef struct each_ctx {
    ichk *c;
    entry_fn fn;
} each_ctx;

static int each_entry(void *ctx, const MDB_val *key, const MDB_val *val)
{
    each_ctx *e = ctx;
    return e->fn(e->c, key, val);
}

static int each(ichk *c, MDB_dbi dbi, entry_fn fn)
{
    each_ctx e = {c, fn};
    return ecom__lmdb_each(c->be, c->txn, dbi, "mdb_cursor_get (check)", each_entry, &e);
}

/* 1 found (into v), 0 not, or a negative error. */
static int lookup(ichk *c, MDB_dbi dbi, const void *key, size_t len, MDB_val *v)
{
    return ecom__lmdb_check_get(c->be, c->txn, dbi, key, len, v);
}

/* Sums of damaged figures may overflow: they wrap (and mismatch) instead of trapping. */
static void add(int64_t *sum, int64_t d)
{
    *sum = (int64_t)((uint64_t)*sum + (uint64_t)d);
}

static inv_tally_entry *tally(ichk *c, inv_tally *t, const char *a, const char *b)
{
    unsigned char key[INV_KEY_MAX];
    size_t len = ecom__inv_key2(key, a, b);
    inv_tally_entry *e = len ? ecom__inv_tally_get(t, key, len) : NULL;
    if (e == NULL && len)
        ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    return e;
}

/* A too-long id cannot come from the backend: it is reported, not tallied. */
static int id_fits(ichk *c, const char *a, const char *b)
{
    char qa[QUOTE];
    const char *bad = strlen(a) > ECOM_ID_MAX ? a : b && strlen(b) > ECOM_ID_MAX ? b : NULL;
    if (bad)
        report(c, "inventory: id %s too long", q(qa, bad));
    return bad == NULL;
}

#define TALLY_OR_FAIL(e, c, t, a, b)                                                           \
    do {                                                                                       \
        if (!id_fits(c, a, b))                                                                 \
            return ECOM_OK;                                                                    \
        if (((e) = tally(c, t, a, b)) == NULL)                                                 \
            return ECOM_ENOMEM;                                                                \
    } while (0)

/* ---- the ledger ---- */

/* The sign each kind may move the counters by: +1, -1, 0 (must not move), 2 (any). */
static const signed char kind_on_hand[INV_K_COUNT] = {1, 2, -1, 1, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0};
static const signed char kind_reserved[INV_K_COUNT] = {0, 0, 0, 0, 1, -1, -1, -1, 1, -1, -1, -1,
                                                       -1, 0};

static int sign_ok(int want, int64_t d)
{
    return want == 2 ? d != 0 : want == 0 ? d == 0 : want > 0 ? d > 0 : d < 0;
}

static void ledger_kind(ichk *c, uint64_t seq, const inv_ledger *e)
{
    int k = e->kind;
    int ok = sign_ok(kind_on_hand[k], e->d_on_hand) && sign_ok(kind_reserved[k], e->d_reserved);
    if ((k == INV_K_COMMIT || k == INV_K_CLAIM_COMMIT) && e->d_on_hand != e->d_reserved)
        ok = 0;
    if (!ok)
        report(c, "ledger %llu: a '%s' entry cannot move on_hand by %lld and reserved by %lld",
               (unsigned long long)seq, ecom__inv_kind_name(k), (long long)e->d_on_hand,
               (long long)e->d_reserved);
}

static int check_ledger(ichk *c, const MDB_val *key, const MDB_val *val)
{
    if (key->mv_size != 8) {
        report(c, "ledger: malformed key");
        return ECOM_OK;
    }
    uint64_t seq = ecom__lmdb_get_u64be(key->mv_data);
    if (seq != c->next_seq)
        report(c, "ledger: seq %llu where %llu was expected (gap in the ledger)",
               (unsigned long long)seq, (unsigned long long)c->next_seq);
    c->next_seq = seq + 1;
    inv_ledger e;
    if (ecom__inv_ledger_decode(&e, val) != ECOM_OK) {
        report(c, "ledger %llu does not parse", (unsigned long long)seq);
        return ECOM_OK;
    }
    ledger_kind(c, seq, &e);
    inv_tally_entry *row;
    TALLY_OR_FAIL(row, c, &c->rows, e.sku, e.location);
    add(&row->v[R_ON_HAND], e.d_on_hand);
    add(&row->v[R_RESERVED], e.d_reserved);
    if (e.kind == INV_K_RESERVE || e.kind == INV_K_COMMIT || e.kind == INV_K_RELEASE ||
        e.kind == INV_K_EXPIRE) {
        inv_tally_entry *ref;
        TALLY_OR_FAIL(ref, c, &c->refs, e.reference, e.sku);
        ref->v[e.kind - INV_K_RESERVE]++;
    }
    return ECOM_OK;
}

/* ---- reservations ---- */

static int expiry_present(ichk *c, int64_t at, int kind, const char *id, uint64_t ticket)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val v;
    return lookup(c, c->be->expiry, key, ecom__inv_expiry_key(key, at, kind, id, ticket), &v);
}

/* The ledger must show one "reserve" per line and, once ended, one ending entry
 * of the kind its state names (so it ended exactly once). */
static int resv_line(ichk *c, const char *id, const inv_resv *r, size_t i)
{
    char qi[QUOTE], qs[QUOTE];
    inv_tally_entry *row, *ref;
    TALLY_OR_FAIL(row, c, &c->rows, r->skus[i], r->location);
    TALLY_OR_FAIL(ref, c, &c->refs, id, r->skus[i]);
    if (r->state == ECOM_RESERVATION_HELD)
        add(&row->v[R_HOLDS], r->qtys[i]);
    ref->seen = 1;
    static const char *const names[] = {"reserve", "commit", "release", "expire"};
    for (int k = 0; k < 4; k++) {
        int64_t want = k == 0 || k == r->state ? 1 : 0;
        if (ref->v[k] != want)
            report(c, "reservation %s line %s: %lld '%s' ledger entries, %lld expected "
                   "(state %d)", q(qi, id), q(qs, r->skus[i]), (long long)ref->v[k], names[k],
                   (long long)want, r->state);
    }
    return ECOM_OK;
}

static int resv_decode(ichk *c, const char *id, const MDB_val *val, inv_resv *r,
                       const char ***skus, int64_t **qtys)
{
    size_t n;
    char qi[QUOTE];
    if (ecom__inv_resv_lines(val, &n) != ECOM_OK)
        goto bad;
    *skus = ecom__calloc(n ? n : 1, sizeof **skus);
    *qtys = ecom__calloc(n ? n : 1, sizeof **qtys);
    if (*skus == NULL || *qtys == NULL)
        return ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check");
    if (ecom__inv_resv_decode(r, val, *skus, *qtys) == ECOM_OK)
        return ECOM_OK;
bad:
    report(c, "reservation %s does not parse", q(qi, id));
    return 1;
}

static int check_resv(ichk *c, const MDB_val *key, const MDB_val *val)
{
    char qi[QUOTE];
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) || key->mv_size < 2) {
        report(c, "reservations: malformed key");
        return ECOM_OK;
    }
    const char *id = key->mv_data;
    inv_resv r;
    const char **skus = NULL;
    int64_t *qtys = NULL;
    int rc = resv_decode(c, id, val, &r, &skus, &qtys);
    if (rc != ECOM_OK)
        goto cleanup;
    int indexed = expiry_present(c, r.expires_at, INV_EXPIRY_RESV, id, 0);
    if ((rc = indexed < 0 ? indexed : ECOM_OK) != ECOM_OK)
        goto cleanup;
    if ((r.state == ECOM_RESERVATION_HELD) != (indexed == 1))
        report(c, "reservation %s is %s but %s in the expiry index", q(qi, id),
               r.state == ECOM_RESERVATION_HELD ? "held" : "ended", indexed ? "is" : "is not");
    if ((r.state == ECOM_RESERVATION_HELD) != (r.ended_at == 0))
        report(c, "reservation %s: state %d with ended_at %lld", q(qi, id), r.state,
               (long long)r.ended_at);
    for (size_t i = 0; rc == ECOM_OK && i < r.line_count; i++)
        rc = resv_line(c, id, &r, i);
cleanup:
    ecom__free(skus);
    ecom__free(qtys);
    return rc > 0 ? ECOM_OK : rc;
}

/* ---- claims, sales, users, keys, the claim log ---- */

/* (sale, user, key) is unique among stored claims (all of them got units): the
 * in-memory index answers retries from it. */
static int claim_key_unique(ichk *c, const char *sale, uint64_t ticket, const inv_claim *cl)
{
    unsigned char key[INV_KEY_MAX];
    char qs[QUOTE], qu[QUOTE], qk[QUOTE];
    size_t len = ecom__inv_key3(key, sale, cl->user, cl->key);
    inv_tally_entry *e = len ? ecom__inv_tally_get(&c->keys, key, len) : NULL;
    if (e == NULL)
        return len ? ecom__lmdb_fail(c->be, ECOM_ENOMEM, "lmdb: out of memory in check")
                   : ECOM_OK; /* an id too long is reported by the caller's tally */
    if (e->v[K_CLAIMS]++ == 0)
        e->v[K_FIRST] = (int64_t)ticket;
    else
        report(c, "claim %s:%llu repeats user %s key %s of claim %lld", q(qs, sale),
               (unsigned long long)ticket, q(qu, cl->user), q(qk, cl->key),
               (long long)e->v[K_FIRST]);
    return ECOM_OK;
}

static int check_claim(ichk *c, const MDB_val *key, const MDB_val *val)
{
    const char *sale;
    uint64_t ticket;
    inv_claim cl;
    char qs[QUOTE];
    if (ecom__inv_claim_split(key, &sale, &ticket) != 0 || ecom__inv_claim_decode(&cl, val)) {
        report(c, "claims: malformed entry");
        return ECOM_OK;
    }
    inv_tally_entry *s, *u;
    TALLY_OR_FAIL(s, c, &c->sales, sale, NULL);
    TALLY_OR_FAIL(u, c, &c->users, sale, cl.user);
    s->v[F_CLAIMS]++;
    if (cl.state != ECOM_RESERVATION_HELD)
        s->v[F_ENDED]++;
    if ((int64_t)ticket > s->v[F_MAX_TICKET])
        s->v[F_MAX_TICKET] = (int64_t)ticket;
    if (cl.state == ECOM_RESERVATION_HELD)
        add(&s->v[F_HELD], cl.qty);
    if (cl.state == ECOM_RESERVATION_COMMITTED)
        add(&s->v[F_SOLD], cl.qty);
    if (cl.state == ECOM_RESERVATION_HELD || cl.state == ECOM_RESERVATION_COMMITTED)
        add(&u->v[0], cl.qty);
    int indexed = expiry_present(c, cl.expires_at, INV_EXPIRY_CLAIM, sale, ticket);
    if (indexed < 0)
        return indexed;
    if ((cl.state == ECOM_RESERVATION_HELD) != indexed)
        report(c, "claim %s:%llu is %s but %s in the expiry index", q(qs, sale),
               (unsigned long long)ticket, cl.state ? "ended" : "held", indexed ? "is" : "is not");
    return claim_key_unique(c, sale, ticket, &cl);
}

/* A log entry: change n >= 1 of its sale, naming a stored claim. Their count and
 * highest n are compared with the sale's claim_changes by check_sale. */
static int check_log(ichk *c, const MDB_val *key, const MDB_val *val)
{
    const char *sale;
    uint64_t n;
    char qs[QUOTE];
    if (ecom__inv_claim_split(key, &sale, &n) != 0 || val->mv_size != 8 || n == 0) {
        report(c, "claim log: malformed entry");
        return ECOM_OK;
    }
    uint64_t ticket = ecom__lmdb_get_u64(val->mv_data);
    inv_tally_entry *s;
    TALLY_OR_FAIL(s, c, &c->sales, sale, NULL);
    s->v[F_LOG]++;
    if ((int64_t)n > s->v[F_LOG_MAX])
        s->v[F_LOG_MAX] = (int64_t)n;
    unsigned char ck[INV_KEY_MAX];
    MDB_val v;
    int found = lookup(c, c->be->claims, ck, ecom__inv_claim_key(ck, sale, ticket), &v);
    if (found == 0)
        report(c, "claim log of sale %s: change %llu names missing claim %llu", q(qs, sale),
               (unsigned long long)n, (unsigned long long)ticket);
    return found < 0 ? found : ECOM_OK;
}

static void sale_figures(ichk *c, const char *sale, const inv_sale *s, const inv_tally_entry *t)
{
    char qs[QUOTE];
    int64_t zero[INV_TALLY_N] = {0};
    const int64_t *v = t ? t->v : zero;
    int64_t total = s->remaining;
    add(&total, s->held);
    add(&total, s->sold);
    add(&total, s->returned);
    if (s->units != total)
        report(c, "sale %s: units %lld != remaining %lld + held %lld + sold %lld + returned %lld",
               q(qs, sale), (long long)s->units, (long long)s->remaining, (long long)s->held,
               (long long)s->sold, (long long)s->returned);
    if (s->held != v[F_HELD])
        report(c, "sale %s: held %lld but its held claims hold %lld", q(qs, sale),
               (long long)s->held, (long long)v[F_HELD]);
    if (s->sold != v[F_SOLD])
        report(c, "sale %s: sold %lld but its committed claims took %lld", q(qs, sale),
               (long long)s->sold, (long long)v[F_SOLD]);
    if ((int64_t)s->tickets != v[F_CLAIMS] || (int64_t)s->tickets != v[F_MAX_TICKET])
        report(c, "sale %s: %llu tickets but %lld claims (last ticket %lld)", q(qs, sale),
               (unsigned long long)s->tickets, (long long)v[F_CLAIMS],
               (long long)v[F_MAX_TICKET]);
    if (s->remaining < 0 || s->held < 0 || s->sold < 0 || s->returned < 0 ||
        (!s->open && s->remaining != 0))
        report(c, "sale %s: impossible figures (open %d, remaining %lld)", q(qs, sale), s->open,
               (long long)s->remaining);
}

/* The log holds changes 1..claim_changes (distinct keys, none 0: count = highest =
 * claim_changes), one per claim created and one per claim ended. */
static void sale_log(ichk *c, const char *sale, const inv_sale *s, const inv_tally_entry *t)
{
    char qs[QUOTE];
    int64_t zero[INV_TALLY_N] = {0};
    const int64_t *v = t ? t->v : zero;
    int64_t changes = (int64_t)s->claim_changes;
    if (changes != v[F_LOG] || changes != v[F_LOG_MAX])
        report(c, "sale %s: %llu claim changes but %lld claim log entries (last %lld)",
               q(qs, sale), (unsigned long long)s->claim_changes, (long long)v[F_LOG],
               (long long)v[F_LOG_MAX]);
    if (changes != v[F_CLAIMS] + v[F_ENDED])
        report(c, "sale %s: %llu claim changes but %lld claims, %lld of them ended",
               q(qs, sale), (unsigned long long)s->claim_changes, (long long)v[F_CLAIMS],
               (long long)v[F_ENDED]);
}

static int check_sale(ichk *c, const MDB_val *key, const MDB_val *val)
{
    inv_sale s;
    if (!ecom__lmdb_is_cstr(key->mv_data, key->mv_size) || key->mv_size < 2 ||
        ecom__inv_sale_decode(&s, val) != ECOM_OK) {
        report(c, "sales: malformed entry");
        return ECOM_OK;
    }
    const char *sale = key->mv_data;
    inv_tally_entry *t = ecom__inv_tally_find(&c->sales, key->mv_data, key->mv_size), *row;
    if (t) {
        t->seen = 1;
        t->v[F_LIMIT] = s.per_user_limit; /* for user_limit */
    }
    sale_figures(c, sale, &s, t);
    sale_log(c, sale, &s, t);
    if (s.open && s.ends_at > 0) {
        int indexed = expiry_present(c, s.ends_at, INV_EXPIRY_SALE, sale, 0);
        if (indexed < 0)
            return indexed;
        if (!indexed) {
            char qs[QUOTE];
            report(c, "sale %s is open until %lld but its end is not in the expiry index",
                   q(qs, sale), (long long)s.ends_at);
        }
    }
    TALLY_OR_FAIL(row, c, &c->rows, s.sku, s.location);
    add(&row->v[R_HOLDS], s.held);
    add(&row->v[R_HOLDS], s.open ? s.remaining : 0);
    return ECOM_OK;
}

/* ---- the expiry index ---- */

static int expiry_resv(ichk *c, int64_t at, const char *id)
{
    MDB_val v;
    inv_resv r;
    const char **skus = NULL;
    int64_t *qtys = NULL;
    char qi[QUOTE];
    int found = lookup(c, c->be->resv, id, strlen(id) + 1, &v);
    if (found <= 0) {
        if (found == 0)
            report(c, "expiry index names missing reservation %s", q(qi, id));
        return found;
    }
    int rc = resv_decode(c, id, &v, &r, &skus, &qtys);
    if (rc == ECOM_OK && (r.state != ECOM_RESERVATION_HELD || r.expires_at != at))
        report(c, "expiry index names reservation %s at %lld, but it is %s at %lld", q(qi, id),
               (long long)at, r.state ? "ended" : "held", (long long)r.expires_at);
    ecom__free(skus);
    ecom__free(qtys);
    return rc > 0 ? ECOM_OK : rc;
}

static int expiry_claim(ichk *c, int64_t at, const char *sale, uint64_t ticket)
{
    unsigned char key[INV_KEY_MAX];
    MDB_val v;
    inv_claim cl;
    char qs[QUOTE];
    int found = lookup(c, c->be->claims, key, ecom__inv_claim_key(key, sale, ticket), &v);
    if (found < 0)
        return found;
    if (!found || ecom__inv_claim_decode(&cl, &v) != ECOM_OK || cl.state != ECOM_RESERVATION_HELD ||
        cl.expires_at != at)
        report(c, "expiry index names claim %s:%llu at %lld, which is not held then", q(qs, sale),
               (unsigned long long)ticket, (long long)at);
    return ECOM_OK;
}

static int expiry_sale(ichk *c, int64_t at, const char *sale)
{
    MDB_val v;
    inv_sale s;
    char qs[QUOTE];
    int found = lookup(c, c->be->sales, sale, strlen(sale) + 1, &v);
    if (found < 0)
        return found;
    if (!found || ecom__inv_sale_decode(&s, &v) != ECOM_OK || !s.open || s.ends_at != at)
        report(c, "expiry index names the end of sale %s at %lld, which is not open until then",
               q(qs, sale), (long long)at);
    return ECOM_OK;
}

static int check_expiry(ichk *c, const MDB_val *key, const MDB_val *val)
{
    int64_t at;
    int kind;
    const char *id;
    uint64_t ticket;
    if (ecom__inv_expiry_split(key, &at, &kind, &id, &ticket) != 0 || val->mv_size != 0) {
        report(c, "expiry index: malformed entry");
        return ECOM_OK;
    }
    return kind == INV_EXPIRY_RESV   ? expiry_resv(c, at, id)
           : kind == INV_EXPIRY_SALE ? expiry_sale(c, at, id)
                                     : expiry_claim(c, at, id, ticket);
}

/* ---- stock rows ---- */

static void stock_bounds(ichk *c, const char *sku, const char *loc, const inv_stock *s)
{
    char qs[QUOTE], ql[QUOTE];
    MDB_val v;
    int policy = ECOM_BACKORDER_DENY;
    if (lookup(c, c->be->skuinv, sku, strlen(sku) + 1, &v) == 1 && v.mv_size == 1)
        policy = *(const unsigned char *)v.mv_data;
    if (policy == ECOM_BACKORDER_DENY && (s->reserved < 0 || s->reserved > s->on_hand))
        report(c, "stock %s@%s oversold: reserved %lld, on_hand %lld", q(qs, sku), q(ql, loc),
               (long long)s->reserved, (long long)s->on_hand);
    if (s->safety < 0)
        report(c, "stock %s@%s: safety %lld is negative", q(qs, sku), q(ql, loc),
               (long long)s->safety);
}

static int check_stock(ichk *c, const MDB_val *key, const MDB_val *val)
{
    const char *sku, *loc;
    inv_stock s;
    char qs[QUOTE], ql[QUOTE];
    if (ecom__inv_split2(key, &sku, &loc) != 0 || ecom__inv_stock_decode(&s, val) != ECOM_OK) {
        report(c, "stock: malformed entry");
        return ECOM_OK;
    }
    MDB_val v;
    int found = lookup(c, c->be->locations, loc, strlen(loc) + 1, &v);
    if (found < 0)
        return found;
    if (!found)
        report(c, "stock %s@%s: no such location", q(qs, sku), q(ql, loc));
    stock_bounds(c, sku, loc, &s);
    inv_tally_entry *t = ecom__inv_tally_find(&c->rows, key->mv_data, key->mv_size);
    int64_t zero[INV_TALLY_N] = {0};
    const int64_t *sum = t ? t->v : zero;
    if (t)
        t->seen = 1;
    if (s.on_hand != sum[R_ON_HAND] || s.reserved != sum[R_RESERVED])
        report(c, "stock %s@%s: on_hand %lld, reserved %lld but the ledger sums to %lld, %lld",
               q(qs, sku), q(ql, loc), (long long)s.on_hand, (long long)s.reserved,
               (long long)sum[R_ON_HAND], (long long)sum[R_RESERVED]);
    if (s.reserved != sum[R_HOLDS])
        report(c, "stock %s@%s: reserved %lld but holds, pools and claims there take %lld",
               q(qs, sku), q(ql, loc), (long long)s.reserved, (long long)sum[R_HOLDS]);
    return ECOM_OK;
}

/* ---- what no record claimed ---- */

static int row_orphan(void *ctx, inv_tally_entry *e)
{
    ichk *c = ctx;
    char qs[QUOTE], ql[QUOTE];
    const char *sku = (const char *)e->key, *loc = sku + strlen(sku) + 1;
    if (!e->seen && (e->v[R_ON_HAND] || e->v[R_RESERVED] || e->v[R_HOLDS]))
        report(c, "stock %s@%s has no row, but the ledger or holds move it", q(qs, sku),
               q(ql, loc));
    return 0;
}

static int ref_orphan(void *ctx, inv_tally_entry *e)
{
    ichk *c = ctx;
    char qi[QUOTE], qs[QUOTE];
    const char *id = (const char *)e->key, *sku = id + strlen(id) + 1;
    if (!e->seen)
        report(c, "ledger names reservation %s line %s, which does not exist", q(qi, id),
               q(qs, sku));
    return 0;
}

static int sale_orphan(void *ctx, inv_tally_entry *e)
{
    ichk *c = ctx;
    char qs[QUOTE];
    if (!e->seen)
        report(c, "claims or claim log entries of missing sale %s", q(qs, (const char *)e->key));
    return 0;
}

/* Units a user's held and committed claims take, against the sale's limit. */
static int user_limit(void *ctx, inv_tally_entry *e)
{
    ichk *c = ctx;
    char qs[QUOTE], qu[QUOTE];
    const char *sale = (const char *)e->key, *user = sale + strlen(sale) + 1;
    const inv_tally_entry *t = ecom__inv_tally_find(&c->sales, sale, strlen(sale) + 1);
    int64_t limit = t && t->seen ? t->v[F_LIMIT] : 0;
    if (limit > 0 && e->v[0] > limit)
        report(c, "sale %s user %s: claims hold or bought %lld units, over the limit of %lld",
               q(qs, sale), q(qu, user), (long long)e->v[0], (long long)limit);
    return 0;
}

static int check_default_location(ichk *c)
{
    MDB_val v;
    int found = lookup(c, c->be->locations, ECOM_LOCATION_DEFAULT, sizeof ECOM_LOCATION_DEFAULT,
                       &v);
    if (found == 0)
        report(c, "locations: 'default' is missing");
    return found < 0 ? found : ECOM_OK;
}

static int run(ichk *c)
{
    ecom__lmdb *be = c->be;
    int rc = check_default_location(c);
    /* Sums first (ledger, claims), then the records they must match. */
    if (rc == ECOM_OK)
        rc = each(c, be->ledger, check_ledger);
    if (rc == ECOM_OK)
        rc = each(c, be->claims, check_claim);
    if (rc == ECOM_OK)
        rc = each(c, be->claimlog, check_log);
    if (rc == ECOM_OK)
        rc = each(c, be->resv, check_resv);
    if (rc == ECOM_OK)
        rc = each(c, be->sales, check_sale);
    if (rc == ECOM_OK)
        rc = each(c, be->expiry, check_expiry);
    if (rc == ECOM_OK)
        rc = each(c, be->stock, check_stock);
    if (rc == ECOM_OK) {
        ecom__inv_tally_each(&c->rows, row_orphan, c);
        ecom__inv_tally_each(&c->refs, ref_orphan, c);
        ecom__inv_tally_each(&c->sales, sale_orphan, c);
        ecom__inv_tally_each(&c->users, user_limit, c);
    }
    return rc;
}

int ecom__lmdb_inventory_check(ecom__lmdb *be, MDB_txn *txn, ecom_check_sink *sink)
{
    ichk c;
    memset(&c, 0, sizeof c);
    c.be = be;
    c.txn = txn;
    c.sink = sink;
    c.next_seq = 1;
    int rc = run(&c);
    ecom__inv_tally_free(&c.rows);
    ecom__inv_tally_free(&c.refs);
    ecom__inv_tally_free(&c.sales);
    ecom__inv_tally_free(&c.users);
    ecom__inv_tally_free(&c.keys);
    return rc;
}
