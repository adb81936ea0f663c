/*
 * The order codec: the compact binary form a backend stores for an order's content.
 *
 * Format 2, in record.c's style: every integer a LEB128 varint (signed ones
 * zigzag-encoded), every string a varint byte length then the bytes (no NUL):
 *
 *   u8      format (2; format 1, written before, ends after the refunds)
 *   str     currency, location, reservation_id, payment_key, charge_id, reason
 *   svarint subtotal, shipping, tax, total, refunded
 *   varint  line count, then per line: str sku, svarint quantity, unit_price, shipped
 *   varint  claim count, then per claim: str claim id
 *   varint  history count, then per entry: varint state, svarint time, str who, str why
 *   varint  refund count, then per refund: str key, svarint amount (negated while the
 *           refund is pending: reserved on the order, not yet confirmed by the provider)
 *   str     cart (format 2): the cart it was bought from, whose lines its payment takes
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
#include <stdbool.h>
#include <string.h>

#include "codec.h"
#include "orders.h"

#define ORDER_FORMAT 2
#define ORDER_FORMAT_NO_CART 1
#define STATE_MAX ECOM_ORDER_PARTIALLY_REFUNDED

/* The fewest bytes each repeated item takes, to reject impossible counts early. */
#define MIN_LINE 4    /* sku length, quantity, unit price, shipped */
#define MIN_CLAIM 1   /* length */
#define MIN_ENTRY 4   /* state, time, who length, why length */
#define MIN_REFUND 2  /* key length, amount */

/* ---- encoding ---- */

static void put_order(ecom__writer *w, const ecom_order *o)
{
    unsigned char format = ORDER_FORMAT;
    ecom__put_bytes(w, &format, 1);
    ecom__put_str(w, o->currency);
    ecom__put_str(w, o->location);
    ecom__put_str(w, o->reservation_id);
    ecom__put_str(w, o->payment_key);
    ecom__put_str(w, o->charge_id);
    ecom__put_str(w, o->reason);
    ecom__put_svarint(w, o->subtotal);
    ecom__put_svarint(w, o->shipping);
    ecom__put_svarint(w, o->tax);
    ecom__put_svarint(w, o->total);
    ecom__put_svarint(w, o->refunded);
    ecom__put_uvarint(w, o->line_count);
    for (size_t i = 0; i < o->line_count; i++) {
        ecom__put_str(w, o->lines[i].sku);
        ecom__put_svarint(w, o->lines[i].quantity);
        ecom__put_svarint(w, o->lines[i].unit_price);
        ecom__put_svarint(w, o->lines[i].shipped);
    }
    ecom__put_uvarint(w, o->claim_count);
    for (size_t i = 0; i < o->claim_count; i++)
        ecom__put_str(w, o->claims[i]);
    ecom__put_uvarint(w, o->history_count);
    for (size_t i = 0; i < o->history_count; i++) {
        ecom__put_uvarint(w, (unsigned)o->history[i].state);
        ecom__put_svarint(w, o->history[i].time);
        ecom__put_str(w, o->history[i].who);
        ecom__put_str(w, o->history[i].why);
    }
    ecom__put_uvarint(w, o->refund_count);
    for (size_t i = 0; i < o->refund_count; i++) {
        ecom__put_str(w, o->refunds[i].key);
        ecom__put_svarint(w, o->refunds[i].pending ? -o->refunds[i].amount
                                                   : o->refunds[i].amount);
    }
    ecom__put_str(w, o->cart);
}

/* Measures first so that the buffer grows once. */
int ecom__order_encode(ecom__buf *out, const ecom_order *o)
{
    if (out == NULL || o == NULL)
        return ECOM_EINVAL;
    ecom__writer measure = {NULL, 0};
    put_order(&measure, o);
    int rc = ecom__buf_reserve(out, measure.n);
    if (rc)
        return rc;
    ecom__writer w = {out, 0};
    put_order(&w, o);
    return ECOM_OK;
}

/* ---- decoding ---- */

static int get_state(ecom__reader *r, ecom_order_state *out)
{
    uint64_t s;
    int rc = ecom__get_uvarint(r, &s);
    if (rc == ECOM_OK && s > STATE_MAX)
        rc = ECOM_ECORRUPT;
    if (rc == ECOM_OK)
        *out = (ecom_order_state)s;
    return rc;
}

static int get_lines(ecom__reader *r, ecom_order *o)
{
    int rc = ecom__get_count(r, MIN_LINE, &o->line_count);
    if (rc)
        return rc;
    o->line_cap = o->line_count;
    o->lines = ecom__get_array(r, o->line_count, sizeof *o->lines, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->line_count; i++) {
        ecom__order_line dummy;
        ecom__order_line *l = o->lines ? &o->lines[i] : &dummy;
        rc = ecom__get_str(r, &l->sku);
        if (rc == ECOM_OK)
            rc = ecom__get_svarint(r, &l->quantity);
        if (rc == ECOM_OK)
            rc = ecom__get_svarint(r, &l->unit_price);
        if (rc == ECOM_OK)
            rc = ecom__get_svarint(r, &l->shipped);
        /* No writer makes these, and arithmetic on them could overflow. */
        if (rc == ECOM_OK && (l->quantity < 0 || l->quantity > ECOM_QUANTITY_MAX ||
                              l->shipped < 0 || l->shipped > ECOM_QUANTITY_MAX ||
                              l->unit_price < 0 || l->unit_price > ECOM_PRICE_MAX))
            rc = ECOM_ECORRUPT;
    }
    return rc;
}

static int get_claims(ecom__reader *r, ecom_order *o)
{
    int rc = ecom__get_count(r, MIN_CLAIM, &o->claim_count);
    if (rc)
        return rc;
    o->claim_cap = o->claim_count;
    o->claims = ecom__get_array(r, o->claim_count, sizeof *o->claims, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->claim_count; i++) {
        const char *dummy;
        rc = ecom__get_str(r, o->claims ? &o->claims[i] : &dummy);
    }
    return rc;
}

static int get_history(ecom__reader *r, ecom_order *o)
{
    int rc = ecom__get_count(r, MIN_ENTRY, &o->history_count);
    if (rc)
        return rc;
    o->history_cap = o->history_count;
    o->history = ecom__get_array(r, o->history_count, sizeof *o->history, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->history_count; i++) {
        ecom__order_entry dummy;
        ecom__order_entry *e = o->history ? &o->history[i] : &dummy;
        rc = get_state(r, &e->state);
        if (rc == ECOM_OK)
            rc = ecom__get_svarint(r, &e->time);
        if (rc == ECOM_OK)
            rc = ecom__get_str(r, &e->who);
        if (rc == ECOM_OK)
            rc = ecom__get_str(r, &e->why);
    }
    return rc;
}

static int get_refunds(ecom__reader *r, ecom_order *o)
{
    int rc = ecom__get_count(r, MIN_REFUND, &o->refund_count);
    if (rc)
        return rc;
    o->refund_cap = o->refund_count;
    o->refunds = ecom__get_array(r, o->refund_count, sizeof *o->refunds, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < o->refund_count; i++) {
        ecom__order_refund dummy;
        ecom__order_refund *x = o->refunds ? &o->refunds[i] : &dummy;
        rc = ecom__get_str(r, &x->key);
        if (rc == ECOM_OK && (rc = ecom__get_svarint(r, &x->amount)) == ECOM_OK) {
            x->pending = x->amount < 0;
            if (x->amount == INT64_MIN)
                rc = ECOM_ECORRUPT;
            else if (x->pending)
                x->amount = -x->amount;
        }
    }
    return rc;
}

/* One pass over the data; see reader. */
static int get_order(ecom__reader *r, ecom_order *o)
{
    ecom_order tmp;
    if (o == NULL)
        o = &tmp;
    if (ecom__reader_left(r) < 1 || (*r->at != ORDER_FORMAT && *r->at != ORDER_FORMAT_NO_CART))
        return ECOM_ECORRUPT;
    bool has_cart = *r->at++ == ORDER_FORMAT;
    const char **strings[] = {&o->currency,    &o->location,  &o->reservation_id,
                              &o->payment_key, &o->charge_id, &o->reason};
    int64_t *money[] = {&o->subtotal, &o->shipping, &o->tax, &o->total, &o->refunded};
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < sizeof strings / sizeof strings[0]; i++)
        rc = ecom__get_str(r, strings[i]);
    for (size_t i = 0; rc == ECOM_OK && i < sizeof money / sizeof money[0]; i++)
        if ((rc = ecom__get_svarint(r, money[i])) == ECOM_OK && *money[i] < 0)
            rc = ECOM_ECORRUPT;
    if (rc == ECOM_OK)
        rc = get_lines(r, o);
    if (rc == ECOM_OK)
        rc = get_claims(r, o);
    if (rc == ECOM_OK)
        rc = get_history(r, o);
    if (rc == ECOM_OK)
        rc = get_refunds(r, o);
    o->cart = "";
    if (rc == ECOM_OK && has_cart)
        rc = ecom__get_str(r, &o->cart);
    if (rc == ECOM_OK && r->at != r->end)
        rc = ECOM_ECORRUPT;
    return rc;
}

/* Copies an index field into the arena (the measuring pass counted it). */
static const char *copy_field(ecom_order *o, const char *s, size_t n)
{
    return n ? ecom__arena_strndup(&o->arena, s, n) : "";
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
    ecom__reader r = {data, data + rec->data_len, NULL, 0};
    int rc = get_order(&r, NULL);
    size_t id_len = strlen(rec->id), user_len = strlen(rec->user);
    if (rc == ECOM_OK)
        rc = ecom__reader_need(&r, id_len + 1);
    if (rc == ECOM_OK)
        rc = ecom__reader_need(&r, user_len + 1);
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
    ecom__reader fill = {data, data + rec->data_len, &o->arena, 0};
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
