/* The LMDB backend's inventory encoding: stock rows, ledger entries, reservations,
 * sales, claims and the composite keys (layout in lmdb_inventory.h). */
#include <stdio.h>
#include <string.h>

#include "lmdb_inventory.h"
#include "lmdb_value.h"

#define RESV_FIXED 33u  /* state, created, expires, ended, fingerprint */
#define SALE_FIXED 105u /* 13 figures, open */
#define CLAIM_FIXED 33u /* state, qty, admit_us, expires_at, ended_at */
#define LEDGER_FIXED 25u

static const char *const kind_names[INV_K_COUNT] = {
    "receive", "correct", "damage",      "return",       "reserve",       "commit", "release",
    "expire",  "flash.open", "flash.close", "claim.commit", "claim.release", "claim.expire",
    "safety"};

const char *ecom__inv_kind_name(int kind)
{
    return kind >= 0 && kind < INV_K_COUNT ? kind_names[kind] : "?";
}

/* ---- reading ---- */

/* Copies a string of at most ECOM_ID_MAX bytes into a fixed array. */
static void r_id(ecom__lv_reader *r, char out[ECOM_ID_MAX + 1])
{
    const char *s = ecom__lv_r_str(r);
    size_t len = strlen(s);
    if (len > ECOM_ID_MAX) {
        r->bad = 1;
        len = 0;
    }
    memcpy(out, s, len);
    out[len] = '\0';
}

/* ---- stock and ledger ---- */

void ecom__inv_stock_encode(unsigned char out[24], const inv_stock *s)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_i64(&w, s->on_hand);
    ecom__lv_w_i64(&w, s->reserved);
    ecom__lv_w_i64(&w, s->safety);
}

int ecom__inv_stock_decode(inv_stock *s, const MDB_val *v)
{
    if (v->mv_size != 24)
        return ECOM_ECORRUPT;
    ecom__lv_reader r = ecom__lv_reader_of(v);
    s->on_hand = ecom__lv_r_i64(&r);
    s->reserved = ecom__lv_r_i64(&r);
    s->safety = ecom__lv_r_i64(&r);
    return ECOM_OK;
}

size_t ecom__inv_ledger_size(const inv_ledger *e)
{
    size_t total = LEDGER_FIXED;
    if (!ecom__lv_str_size(e->sku, &total) || !ecom__lv_str_size(e->location, &total) ||
        !ecom__lv_str_size(e->reference, &total) || !ecom__lv_str_size(e->text, &total))
        return 0;
    return total;
}

void ecom__inv_ledger_encode(unsigned char *out, const inv_ledger *e)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_i64(&w, e->time);
    ecom__lv_w_i64(&w, e->d_on_hand);
    ecom__lv_w_i64(&w, e->d_reserved);
    ecom__lv_w_u8(&w, e->kind);
    ecom__lv_w_str(&w, e->sku);
    ecom__lv_w_str(&w, e->location);
    ecom__lv_w_str(&w, e->reference);
    ecom__lv_w_str(&w, e->text);
}

int ecom__inv_ledger_decode(inv_ledger *e, const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    e->time = ecom__lv_r_i64(&r);
    e->d_on_hand = ecom__lv_r_i64(&r);
    e->d_reserved = ecom__lv_r_i64(&r);
    e->kind = ecom__lv_r_u8(&r);
    e->sku = ecom__lv_r_str(&r);
    e->location = ecom__lv_r_str(&r);
    e->reference = ecom__lv_r_str(&r);
    e->text = ecom__lv_r_str(&r);
    return r.bad || r.p != r.end || e->kind >= INV_K_COUNT ? ECOM_ECORRUPT : ECOM_OK;
}

/* ---- reservations ---- */

size_t ecom__inv_resv_size(const char *location, size_t n, const char *const *skus)
{
    size_t total = RESV_FIXED + 4;
    if (n > UINT32_MAX || !ecom__lv_str_size(location, &total))
        return 0;
    for (size_t i = 0; i < n; i++) {
        total += 8;
        if (!ecom__lv_str_size(skus[i], &total))
            return 0;
    }
    return total;
}

void ecom__inv_resv_encode(unsigned char *out, const inv_resv *r, size_t n,
                           const char *const *skus, const int64_t *qtys)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_u8(&w, r->state);
    ecom__lv_w_i64(&w, r->created_at);
    ecom__lv_w_i64(&w, r->expires_at);
    ecom__lv_w_i64(&w, r->ended_at);
    ecom__lv_w_i64(&w, (int64_t)r->fingerprint);
    ecom__lv_w_str(&w, r->location);
    for (int i = 0; i < 4; i++)
        ecom__lv_w_u8(&w, (int)(n >> (8 * i)) & 0xff);
    for (size_t i = 0; i < n; i++) {
        ecom__lv_w_i64(&w, qtys[i]);
        ecom__lv_w_str(&w, skus[i]);
    }
}

/* Reads the fixed part; leaves r at the line count. */
static void resv_head(inv_resv *out, ecom__lv_reader *r)
{
    out->state = ecom__lv_r_u8(r);
    out->created_at = ecom__lv_r_i64(r);
    out->expires_at = ecom__lv_r_i64(r);
    out->ended_at = ecom__lv_r_i64(r);
    out->fingerprint = (uint64_t)ecom__lv_r_i64(r);
    out->location = ecom__lv_r_str(r);
}

static size_t r_u32(ecom__lv_reader *r)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        n |= (size_t)ecom__lv_r_u8(r) << (8 * i);
    return n;
}

int ecom__inv_resv_lines(const MDB_val *v, size_t *line_count)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    inv_resv head;
    resv_head(&head, &r);
    size_t n = r_u32(&r);
    /* A line takes at least 11 bytes: a count the value cannot hold is corrupt. */
    if (r.bad || n > (size_t)(r.end - r.p) / 11)
        return ECOM_ECORRUPT;
    *line_count = n;
    return ECOM_OK;
}

int ecom__inv_resv_decode(inv_resv *out, const MDB_val *v, const char **skus, int64_t *qtys)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    resv_head(out, &r);
    out->line_count = r_u32(&r);
    out->lines = r.p;
    out->skus = skus;
    out->qtys = qtys;
    for (size_t i = 0; i < out->line_count && !r.bad; i++) {
        qtys[i] = ecom__lv_r_i64(&r);
        skus[i] = ecom__lv_r_str(&r);
    }
    if (r.bad || r.p != r.end || out->state < ECOM_RESERVATION_HELD ||
        out->state > ECOM_RESERVATION_EXPIRED)
        return ECOM_ECORRUPT;
    return ECOM_OK;
}

void ecom__inv_resv_patch(unsigned char *v, int state, int64_t expires_at, int64_t ended_at)
{
    v[0] = (unsigned char)state;
    ecom__lmdb_put_u64(v + 9, (uint64_t)expires_at);
    ecom__lmdb_put_u64(v + 17, (uint64_t)ended_at);
}

/* ---- sales and claims ---- */

size_t ecom__inv_sale_size(const inv_sale *s)
{
    size_t total = SALE_FIXED;
    ecom__lv_str_size(s->sku, &total);
    ecom__lv_str_size(s->location, &total);
    return total;
}

void ecom__inv_sale_encode(unsigned char *out, const inv_sale *s)
{
    ecom__lv_writer w = {out};
    const int64_t f[13] = {s->units,          s->remaining,     s->held,
                           s->sold,           s->returned,      (int64_t)s->tickets,
                           s->starts_at,      s->ends_at,       s->per_user_limit,
                           s->claim_ttl_ms,   s->admit_per_second, s->next_admit_us,
                           (int64_t)s->claim_changes};
    for (int i = 0; i < 13; i++)
        ecom__lv_w_i64(&w, f[i]);
    ecom__lv_w_u8(&w, s->open);
    ecom__lv_w_str(&w, s->sku);
    ecom__lv_w_str(&w, s->location);
}

int ecom__inv_sale_decode(inv_sale *s, const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    int64_t f[13];
    for (int i = 0; i < 13; i++)
        f[i] = ecom__lv_r_i64(&r);
    s->units = f[0];
    s->remaining = f[1];
    s->held = f[2];
    s->sold = f[3];
    s->returned = f[4];
    s->tickets = (uint64_t)f[5];
    s->starts_at = f[6];
    s->ends_at = f[7];
    s->per_user_limit = f[8];
    s->claim_ttl_ms = f[9];
    s->admit_per_second = f[10];
    s->next_admit_us = f[11];
    s->claim_changes = (uint64_t)f[12];
    s->open = ecom__lv_r_u8(&r);
    r_id(&r, s->sku);
    r_id(&r, s->location);
    return r.bad || r.p != r.end ? ECOM_ECORRUPT : ECOM_OK;
}

size_t ecom__inv_claim_size(const inv_claim *c)
{
    return CLAIM_FIXED + strlen(c->user) + 3 + strlen(c->key) + 3 +
           (c->order[0] ? strlen(c->order) + 3 : 0);
}

void ecom__inv_claim_encode(unsigned char *out, const inv_claim *c)
{
    ecom__lv_writer w = {out};
    ecom__lv_w_u8(&w, c->state);
    ecom__lv_w_i64(&w, c->qty);
    ecom__lv_w_i64(&w, c->admit_us);
    ecom__lv_w_i64(&w, c->expires_at);
    ecom__lv_w_i64(&w, c->ended_at);
    ecom__lv_w_str(&w, c->user);
    ecom__lv_w_str(&w, c->key);
    if (c->order[0]) /* last, and only when bound: an unbound claim reads as before */
        ecom__lv_w_str(&w, c->order);
}

int ecom__inv_claim_decode(inv_claim *c, const MDB_val *v)
{
    ecom__lv_reader r = ecom__lv_reader_of(v);
    c->state = ecom__lv_r_u8(&r);
    c->qty = ecom__lv_r_i64(&r);
    c->admit_us = ecom__lv_r_i64(&r);
    c->expires_at = ecom__lv_r_i64(&r);
    c->ended_at = ecom__lv_r_i64(&r);
    r_id(&r, c->user);
    r_id(&r, c->key);
    c->order[0] = '\0';
    if (!r.bad && r.p != r.end)
        r_id(&r, c->order);
    if (r.bad || r.p != r.end || c->state > ECOM_RESERVATION_EXPIRED)
        return ECOM_ECORRUPT;
    return ECOM_OK;
}

/* ---- keys ---- */

size_t ecom__inv_key2(unsigned char *out, const char *a, const char *b)
{
    size_t al = strlen(a), bl = b ? strlen(b) : 0;
    if (al > ECOM_ID_MAX || bl > ECOM_ID_MAX)
        return 0;
    memcpy(out, a, al + 1);
    if (b == NULL)
        return al + 1;
    memcpy(out + al + 1, b, bl + 1);
    return al + bl + 2;
}

size_t ecom__inv_key3(unsigned char *out, const char *a, const char *b, const char *c)
{
    size_t len = ecom__inv_key2(out, a, b), cl = strlen(c);
    if (len == 0 || cl > ECOM_ID_MAX)
        return 0;
    memcpy(out + len, c, cl + 1);
    return len + cl + 1;
}

size_t ecom__inv_claim_key(unsigned char *out, const char *sale, uint64_t ticket)
{
    size_t len = strlen(sale);
    if (len > ECOM_ID_MAX)
        return 0;
    memcpy(out, sale, len + 1);
    ecom__lmdb_put_u64be(out + len + 1, ticket);
    return len + 9;
}

/* Flipping the sign bit makes big-endian byte order sort signed times. */
size_t ecom__inv_expiry_key(unsigned char out[INV_KEY_MAX], int64_t at, int kind,
                            const char *id, uint64_t ticket)
{
    ecom__lmdb_put_u64be(out, (uint64_t)at ^ UINT64_C(0x8000000000000000));
    out[8] = (unsigned char)kind;
    size_t len = kind == INV_EXPIRY_CLAIM ? ecom__inv_claim_key(out + 9, id, ticket)
                                          : ecom__inv_key2(out + 9, id, NULL);
    return len ? len + 9 : 0;
}

int ecom__inv_expiry_split(const MDB_val *k, int64_t *at, int *kind, const char **id,
                           uint64_t *ticket)
{
    const unsigned char *p = k->mv_data;
    if (k->mv_size < 11)
        return -1;
    *at = (int64_t)(ecom__lmdb_get_u64be(p) ^ UINT64_C(0x8000000000000000));
    *kind = p[8];
    MDB_val rest = {k->mv_size - 9, (void *)(p + 9)};
    *ticket = 0;
    if (*kind == INV_EXPIRY_RESV || *kind == INV_EXPIRY_SALE) {
        *id = (const char *)rest.mv_data;
        return ecom__lmdb_is_cstr(rest.mv_data, rest.mv_size) ? 0 : -1;
    }
    return *kind == INV_EXPIRY_CLAIM ? ecom__inv_claim_split(&rest, id, ticket) : -1;
}

int ecom__inv_split2(const MDB_val *k, const char **a, const char **b)
{
    const char *s = k->mv_data;
    const char *nul = memchr(s, '\0', k->mv_size);
    if (nul == NULL || nul == s)
        return -1;
    size_t rest = k->mv_size - (size_t)(nul + 1 - s);
    if (rest < 2 || !ecom__lmdb_is_cstr(nul + 1, rest))
        return -1;
    *a = s;
    *b = nul + 1;
    return 0;
}

int ecom__inv_claim_split(const MDB_val *k, const char **sale, uint64_t *ticket)
{
    const char *s = k->mv_data;
    if (k->mv_size < 10 || s[0] == '\0' || !ecom__lmdb_is_cstr(s, k->mv_size - 8))
        return -1;
    *sale = s;
    *ticket = ecom__lmdb_get_u64be((const unsigned char *)s + k->mv_size - 8);
    return 0;
}

/* ---- claims as answered ---- */

int64_t ecom__inv_admit_ms(int64_t admit_us)
{
    return admit_us / 1000 + (admit_us % 1000 > 0);
}

static int64_t interval_us(const inv_sale *s)
{
    return s->admit_per_second > 0 ? 1000000 / s->admit_per_second : 0;
}

void ecom__inv_claim_view(ecom_claim_result *out, const char *sale, uint64_t ticket,
                          const inv_claim *c, const inv_sale *s, int64_t now)
{
    static const ecom_claim_outcome ended[] = {ECOM_CLAIM_ADMITTED, ECOM_CLAIM_COMMITTED,
                                               ECOM_CLAIM_RELEASED, ECOM_CLAIM_EXPIRED};
    snprintf(out->claim_id, sizeof out->claim_id, "%s:%llu", sale, (unsigned long long)ticket);
    snprintf(out->user, sizeof out->user, "%s", c->user);
    out->quantity = c->qty;
    out->admit_at = ecom__inv_admit_ms(c->admit_us);
    out->expires_at = c->expires_at;
    out->position = 0;
    out->wait_ms = 0;
    out->outcome = ended[c->state & 3];
    if (c->state != ECOM_RESERVATION_HELD)
        return;
    if (now >= c->expires_at) {
        out->outcome = ECOM_CLAIM_EXPIRED; /* due: the next write ends it */
        return;
    }
    /* now in us cannot overflow: now < expires_at <= INT64_MAX / 1000 (checked at
     * claim time), and times before the epoch read as the epoch. */
    int64_t now_us = (now > 0 ? now : 0) * 1000;
    if (c->admit_us <= now_us)
        return;
    int64_t gap = c->admit_us - now_us, iv = interval_us(s);
    out->outcome = ECOM_CLAIM_QUEUED;
    out->wait_ms = gap / 1000 + (gap % 1000 > 0);
    out->position = iv > 0 ? (uint64_t)(gap / iv) : 0;
}
