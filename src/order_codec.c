/*
 * The order codec: the compact binary form a backend stores for an order's content.
 *
 * Format 1, in record.c's style: every integer a LEB128 varint (signed ones
 * zigzag-encoded), every string a varint byte length then the bytes (no NUL):
 *
 *   u8      format (1)
 *   str     currency, location, reservation_id, payment_key, charge_id, reason
 *   svarint subtotal, shipping, tax, total, refunded
 *   varint  line count, then per line: str sku, svarint quantity, unit_price, shipped
 *   varint  claim count, then per claim: str claim id
 *   varint  history count, then per entry: varint state, svarint time, str who, str why
 *   varint  refund count, then per refund: str key, svarint amount
 *
 * The id, user, state, created_at and version are not in the data: the backend keeps
 * them as index fields (ecom_order_rec) and the decoder takes them from there.
 * Decoding trusts nothing: every length and count is checked against the bytes left,
 * strings may not hold NUL, states must be known, amounts may not be negative nor
 * quantities and prices above their maximums (so that arithmetic on a decoded order
 * cannot overflow), trailing bytes are an error. The order's meaning (totals, moves)
 * is ecom__order_check's business, not the codec's.
 * Two passes, one to check and measure, one to fill an arena of one chunk: a decode
 * is two allocations.
 */
#include <stdalign.h>
#include <string.h>

#include "orders.h"

#define ORDER_FORMAT 1
#define MAX_ALIGN ((size_t)alignof(max_align_t))
#define STATE_MAX ECOM_ORDER_PARTIALLY_REFUNDED

/* The fewest bytes each repeated item takes, to reject impossible counts early. */
#define MIN_LINE 4    /* sku length, quantity, unit price, shipped */
#define MIN_CLAIM 1   /* length */
#define MIN_ENTRY 4   /* state, time, who length, why length */
#define MIN_REFUND 2  /* key length, amount */

/* ---- encoding ---- */

/* A writer that counts bytes (out == NULL) or appends them into reserved room. */
typedef struct writer {
    ecom__buf *out;
    size_t n;
} writer;

static void put_bytes(writer *w, const void *data, size_t len)
{
    if (w->out && len) {
        memcpy(w->out->data + w->out->len, data, len);
        w->out->len += len;
    }
    w->n += len;
}

static void put_uvarint(writer *w, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    put_bytes(w, tmp, n);
}

static void put_svarint(writer *w, int64_t v)
{
    put_uvarint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_str(writer *w, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    put_uvarint(w, len);
    put_bytes(w, s, len);
}

static void put_order(writer *w, const ecom_order *o)
{
    unsigned char format = ORDER_FORMAT;
    put_bytes(w, &format, 1);
    put_str(w, o->currency);
    put_str(w, o->location);
    put_str(w, o->reservation_id);
    put_str(w, o->payment_key);
    put_str(w, o->charge_id);
    put_str(w, o->reason);
    put_svarint(w, o->subtotal);
    put_svarint(w, o->shipping);
    put_svarint(w, o->tax);
    put_svarint(w, o->total);
    put_svarint(w, o->refunded);
    put_uvarint(w, o->line_count);
    for (size_t i = 0; i < o->line_count; i++) {
        put_str(w, o->lines[i].sku);
        put_svarint(w, o->lines[i].quantity);
        put_svarint(w, o->lines[i].unit_price);
        put_svarint(w, o->lines[i].shipped);
    }
    put_uvarint(w, o->claim_count);
    for (size_t i = 0; i < o->claim_count; i++)
        put_str(w, o->claims[i]);
    put_uvarint(w, o->history_count);
    for (size_t i = 0; i < o->history_count; i++) {
        put_uvarint(w, (unsigned)o->history[i].state);
        put_svarint(w, o->history[i].time);
        put_str(w, o->history[i].who);
        put_str(w, o->history[i].why);
    }
    put_uvarint(w, o->refund_count);
    for (size_t i = 0; i < o->refund_count; i++) {
        put_str(w, o->refunds[i].key);
        put_svarint(w, o->refunds[i].amount);
    }
}

/* Measures first so that the buffer grows once. */
int ecom__order_encode(ecom__buf *out, const ecom_order *o)
{
    if (out == NULL || o == NULL)
        return ECOM_EINVAL;
    writer measure = {NULL, 0};
    put_order(&measure, o);
    int rc = ecom__buf_reserve(out, measure.n);
    if (rc)
        return rc;
    writer w = {out, 0};
    put_order(&w, o);
    return ECOM_OK;
}

/* ---- decoding ---- */

/* In the measuring pass o is NULL and `need` sums the arena bytes the order will take
 * (alignment slack included); in the filling pass the same reads copy into o. */
typedef struct reader {
    const unsigned char *at, *end;
    ecom_order *o;
    size_t need;
} reader;

static const char empty_string[] = "";

static int add_need(reader *r, size_t n)
{
    if (n > SIZE_MAX - r->need)
        return ECOM_ECORRUPT;
    r->need += n;
    return ECOM_OK;
}

static size_t left(const reader *r)
{
    return (size_t)(r->end - r->at);
}

static int get_uvarint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->at == r->end)
            return ECOM_ECORRUPT;
        unsigned char b = *r->at++;
        /* The tenth byte may hold only the top bit of a 64-bit value. */
        if (shift == 63 && b > 1)
            return ECOM_ECORRUPT;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return ECOM_OK;
        }
    }
    return ECOM_ECORRUPT;
}

static int get_svarint(reader *r, int64_t *out)
{
    uint64_t u;
    int rc = get_uvarint(r, &u);
    if (rc == ECOM_OK)
        *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return rc;
}

/* A count of items of at least min_size bytes each, which must fit what is left. */
static int get_count(reader *r, size_t min_size, size_t *out)
{
    uint64_t n;
    int rc = get_uvarint(r, &n);
    if (rc)
        return rc;
    if (n > left(r) / min_size)
        return ECOM_ECORRUPT;
    *out = (size_t)n;
    return ECOM_OK;
}

static int get_str(reader *r, const char **out)
{
    uint64_t len;
    int rc = get_uvarint(r, &len);
    if (rc)
        return rc;
    if (len > left(r))
        return ECOM_ECORRUPT;
    const char *s = (const char *)r->at;
    size_t n = (size_t)len;
    r->at += n;
    if (r->o == NULL) {
        /* A NUL inside would cut the string short: not our record. */
        if (memchr(s, '\0', n))
            return ECOM_ECORRUPT;
        return n ? add_need(r, n + 1) : ECOM_OK;
    }
    if (n == 0) {
        *out = empty_string;
        return ECOM_OK;
    }
    char *copy = ecom__arena_strndup(&r->o->arena, s, n);
    if (copy == NULL)
        return ECOM_ENOMEM;
    *out = copy;
    return ECOM_OK;
}

/* An array of n elements: measured, or taken from the arena. */
static void *get_array(reader *r, size_t n, size_t elem, int *rc)
{
    *rc = ECOM_OK;
    if (n == 0)
        return NULL;
    if (n > (SIZE_MAX - MAX_ALIGN) / elem) {
        *rc = ECOM_ECORRUPT;
        return NULL;
    }
    if (r->o == NULL) {
        *rc = add_need(r, n * elem + MAX_ALIGN - 1);
        return NULL;
    }
    void *arr = ecom__arena_alloc(&r->o->arena, n * elem);
    if (arr == NULL)
        *rc = ECOM_ENOMEM;
    return arr;
}

static int get_state(reader *r, ecom_order_state *out)
{
    uint64_t s;
    int rc = get_uvarint(r, &s);
    if (rc == ECOM_OK && s > STATE_MAX)
        rc = ECOM_ECORRUPT;
    if (rc == ECOM_OK)
        *out = (ecom_order_state)s;
    return rc;
}

static int get_lines(reader *r, ecom_order *o)
{
    int rc = get_count(r, MIN_LINE, &o->line_count);
    if (rc)
        return rc;
    o->line_cap = o->line_count;
    o->lines = get_array(r, o->line_count, sizeof *o->lines, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->line_count; i++) {
        ecom__order_line dummy;
        ecom__order_line *l = o->lines ? &o->lines[i] : &dummy;
        rc = get_str(r, &l->sku);
        if (rc == ECOM_OK)
            rc = get_svarint(r, &l->quantity);
        if (rc == ECOM_OK)
            rc = get_svarint(r, &l->unit_price);
        if (rc == ECOM_OK)
            rc = get_svarint(r, &l->shipped);
        /* No writer makes these, and arithmetic on them could overflow. */
        if (rc == ECOM_OK && (l->quantity < 0 || l->quantity > ECOM_QUANTITY_MAX ||
                              l->shipped < 0 || l->shipped > ECOM_QUANTITY_MAX ||
                              l->unit_price < 0 || l->unit_price > ECOM_PRICE_MAX))
            rc = ECOM_ECORRUPT;
    }
    return rc;
}

static int get_claims(reader *r, ecom_order *o)
{
    int rc = get_count(r, MIN_CLAIM, &o->claim_count);
    if (rc)
        return rc;
    o->claim_cap = o->claim_count;
    o->claims = get_array(r, o->claim_count, sizeof *o->claims, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->claim_count; i++) {
        const char *dummy;
        rc = get_str(r, o->claims ? &o->claims[i] : &dummy);
    }
    return rc;
}

static int get_history(reader *r, ecom_order *o)
{
    int rc = get_count(r, MIN_ENTRY, &o->history_count);
    if (rc)
        return rc;
    o->history_cap = o->history_count;
    o->history = get_array(r, o->history_count, sizeof *o->history, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->history_count; i++) {
        ecom__order_entry dummy;
        ecom__order_entry *e = o->history ? &o->history[i] : &dummy;
        rc = get_state(r, &e->state);
        if (rc == ECOM_OK)
            rc = get_svarint(r, &e->time);
        if (rc == ECOM_OK)
            rc = get_str(r, &e->who);
        if (rc == ECOM_OK)
            rc = get_str(r, &e->why);
    }
    return rc;
}

static int get_refunds(reader *r, ecom_order *o)
{
    int rc = get_count(r, MIN_REFUND, &o->refund_count);
    if (rc)
        return rc;
    o->refund_cap = o->refund_count;
    o->refunds = get_array(r, o->refund_count, sizeof *o->refunds, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->refund_count; i++) {
        ecom__order_refund dummy;
        ecom__order_refund *x = o->refunds ? &o->refunds[i] : &dummy;
        rc = get_str(r, &x->key);
        if (rc == ECOM_OK && (rc = get_svarint(r, &x->amount)) == ECOM_OK && x->amount < 0)
            rc = ECOM_ECORRUPT;
    }
    return rc;
}

/* One pass over the data; see reader. */
static int get_order(reader *r, ecom_order *o)
{
    ecom_order tmp;
    if (o == NULL)
        o = &tmp;
    if (left(r) < 1 || *r->at != ORDER_FORMAT)
        return ECOM_ECORRUPT;
    r->at++;
    const char **strings[] = {&o->currency,    &o->location,  &o->reservation_id,
                              &o->payment_key, &o->charge_id, &o->reason};
    int64_t *money[] = {&o->subtotal, &o->shipping, &o->tax, &o->total, &o->refunded};
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < sizeof strings / sizeof strings[0]; i++)
        rc = get_str(r, strings[i]);
    for (size_t i = 0; rc == ECOM_OK && i < sizeof money / sizeof money[0]; i++)
        if ((rc = get_svarint(r, money[i])) == ECOM_OK && *money[i] < 0)
            rc = ECOM_ECORRUPT;
    if (rc == ECOM_OK)
        rc = get_lines(r, o);
    if (rc == ECOM_OK)
        rc = get_claims(r, o);
    if (rc == ECOM_OK)
        rc = get_history(r, o);
    if (rc == ECOM_OK)
        rc = get_refunds(r, o);
    if (rc == ECOM_OK && r->at != r->end)
        rc = ECOM_ECORRUPT;
    return rc;
}

/* Copies an index field into the arena (the measuring pass counted it). */
static const char *copy_field(ecom_order *o, const char *s, size_t n)
{
    return n ? ecom__arena_strndup(&o->arena, s, n) : empty_string;
}

int ecom__order_decode(ecom_order **out, const ecom_order_rec *rec, uint64_t version)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (rec == NULL || rec->id == NULL || rec->user == NULL ||
        (rec->data == NULL && rec->data_len != 0))
        return ECOM_EINVAL;
    if (rec->data_len == 0 || rec->state < 0 || rec->state > STATE_MAX)
        return ECOM_ECORRUPT;
    const unsigned char *data = rec->data;
    reader r = {data, data + rec->data_len, NULL, 0};
    int rc = get_order(&r, NULL);
    size_t id_len = strlen(rec->id), user_len = strlen(rec->user);
    if (rc == ECOM_OK)
        rc = add_need(&r, id_len + 1);
    if (rc == ECOM_OK)
        rc = add_need(&r, user_len + 1);
    if (rc)
        return rc;

    ecom_order *o = ecom__calloc(1, sizeof *o);
    if (o == NULL)
        return ECOM_ENOMEM;
    rc = ecom__arena_reserve(&o->arena, r.need);
    if (rc)
        goto fail;
    o->id = copy_field(o, rec->id, id_len);
    o->user = copy_field(o, rec->user, user_len);
    if (o->id == NULL || o->user == NULL) {
        rc = ECOM_ENOMEM;
        goto fail;
    }
    reader fill = {data, data + rec->data_len, o, 0};
    rc = get_order(&fill, o);
    if (rc)
        goto fail;
    o->state = (ecom_order_state)rec->state;
    o->created_at = rec->created_at;
    o->version = version;
    *out = o;
    return ECOM_OK;
fail:
    ecom_order_free(o);
    return rc;
}
