/*
 * The core's check of one stored order (ecom_check): it decodes, its money adds up,
 * its history is a walk of legal moves ending in its state, and its fields agree
 * with that state.
 */
#include <stdio.h>
#include <string.h>

#include "orders.h"

static void reportf(ecom_check_sink *sink, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reportf(ecom_check_sink *sink, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sink->report(sink, msg);
}

static const char *name(ecom_order_state s)
{
    const char *n = ecom_order_state_name(s);
    return n ? n : "?";
}

/* Lines: positive quantities, prices in range, shipped within the quantity; and the
 * subtotal they add up to, with every product and sum checked for overflow. */
static void check_lines(ecom_check_sink *sink, const ecom_order *o)
{
    int64_t subtotal = 0;
    bool overflow = false;
    if (o->line_count == 0)
        reportf(sink, "order '%s': no lines", o->id);
    if (o->line_count > ECOM__ORDER_LINES_MAX)
        reportf(sink, "order '%s': %zu lines, more than %d", o->id, o->line_count,
                ECOM__ORDER_LINES_MAX);
    for (size_t i = 0; i < o->line_count; i++) {
        const ecom__order_line *l = &o->lines[i];
        if (l->quantity < 1 || l->quantity > ECOM_QUANTITY_MAX)
            reportf(sink, "order '%s': lines[%zu] (SKU '%s') quantity %lld is out of range",
                    o->id, i, l->sku, (long long)l->quantity);
        if (l->unit_price < 0 || l->unit_price > ECOM_PRICE_MAX)
            reportf(sink, "order '%s': lines[%zu] (SKU '%s') unit price %lld is out of range",
                    o->id, i, l->sku, (long long)l->unit_price);
        if (l->shipped < 0 || l->shipped > l->quantity)
            reportf(sink, "order '%s': lines[%zu] (SKU '%s') shipped %lld of %lld", o->id, i,
                    l->sku, (long long)l->shipped, (long long)l->quantity);
        int64_t line;
        if (__builtin_mul_overflow(l->quantity, l->unit_price, &line) ||
            __builtin_add_overflow(subtotal, line, &subtotal))
            overflow = true;
    }
    if (overflow)
        reportf(sink, "order '%s': its lines' total overflows", o->id);
    else if (subtotal != o->subtotal)
        reportf(sink, "order '%s': subtotal %lld but its lines add up to %lld", o->id,
                (long long)o->subtotal, (long long)subtotal);
}

static void check_money(ecom_check_sink *sink, const ecom_order *o)
{
    int64_t total;
    if (o->shipping < 0 || o->tax < 0)
        reportf(sink, "order '%s': shipping %lld or tax %lld is negative", o->id,
                (long long)o->shipping, (long long)o->tax);
    if (__builtin_add_overflow(o->subtotal, o->shipping, &total) ||
        __builtin_add_overflow(total, o->tax, &total))
        reportf(sink, "order '%s': subtotal + shipping + tax overflows", o->id);
    else if (total != o->total)
        reportf(sink, "order '%s': total %lld but subtotal + shipping + tax is %lld", o->id,
                (long long)o->total, (long long)total);
    if (o->refunded < 0 || o->refunded > o->total)
        reportf(sink, "order '%s': refunded %lld is not in 0..%lld (the total)", o->id,
                (long long)o->refunded, (long long)o->total);
    int64_t sum = 0, pending = 0;
    bool bad = false;
    for (size_t i = 0; i < o->refund_count; i++) {
        const ecom__order_refund *r = &o->refunds[i];
        int64_t *into = r->pending ? &pending : &sum;
        if (r->amount <= 0 || __builtin_add_overflow(*into, r->amount, into))
            bad = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->refunds[j].key, r->key) == 0)
                reportf(sink, "order '%s': refund key '%s' recorded twice", o->id, r->key);
    }
    if (bad)
        reportf(sink, "order '%s': a refund's amount is not positive, or they overflow", o->id);
    else if (sum != o->refunded)
        reportf(sink, "order '%s': refunded %lld but its confirmed refunds add up to %lld",
                o->id, (long long)o->refunded, (long long)sum);
    else if (pending > o->total - o->refunded)
        reportf(sink, "order '%s': %lld refunded and %lld pending, more than the total %lld",
                o->id, (long long)o->refunded, (long long)pending, (long long)o->total);
}

static void check_history(ecom_check_sink *sink, const ecom_order *o)
{
    if (o->history_count == 0) {
        reportf(sink, "order '%s': empty history", o->id);
        return;
    }
    if (o->history[0].state != ECOM_ORDER_PENDING_PAYMENT)
        reportf(sink, "order '%s': history starts at %s, not pending_payment", o->id,
                name(o->history[0].state));
    for (size_t i = 1; i < o->history_count; i++)
        if (!ecom__order_moved_legally(o->history[i - 1].state, o->history[i].state))
            reportf(sink, "order '%s': history[%zu] moves from %s to %s, an illegal move",
                    o->id, i, name(o->history[i - 1].state), name(o->history[i].state));
    ecom_order_state last = o->history[o->history_count - 1].state;
    if (last != o->state)
        reportf(sink, "order '%s': indexed as %s but its history ends at %s", o->id,
                name(o->state), name(last));
}

static bool state_is(const ecom_order *o, unsigned mask)
{
    return (mask >> (unsigned)o->state) & 1u;
}

#define S(x) (1u << ECOM_ORDER_##x)

static void check_state_fields(ecom_check_sink *sink, const ecom_order *o)
{
    int64_t quantity = 0, shipped = 0;
    for (size_t i = 0; i < o->line_count; i++) {
        /* The decoder bounds each by 10^9, and the lines by the record's size. */
        quantity += o->lines[i].quantity;
        shipped += o->lines[i].shipped;
    }
    unsigned charged = S(PAID) | S(FULFILLING) | S(PARTIALLY_SHIPPED) | S(SHIPPED) |
                       S(DELIVERED) | S(REFUNDED) | S(PARTIALLY_REFUNDED);
    if (state_is(o, charged) && o->charge_id[0] == '\0')
        reportf(sink, "order '%s' is %s but has no charge id", o->id, name(o->state));
    if (state_is(o, S(SHIPPED) | S(DELIVERED)) && shipped != quantity)
        reportf(sink, "order '%s' is %s but %lld of %lld units shipped", o->id, name(o->state),
                (long long)shipped, (long long)quantity);
    if (state_is(o, S(PARTIALLY_SHIPPED)) && (shipped == 0 || shipped == quantity))
        reportf(sink, "order '%s' is partially_shipped but %lld of %lld units shipped", o->id,
                (long long)shipped, (long long)quantity);
    if (state_is(o, S(PENDING_PAYMENT) | S(PAID) | S(FULFILLING) | S(CANCELLED)) && shipped)
        reportf(sink, "order '%s' is %s but %lld units shipped", o->id, name(o->state),
                (long long)shipped);
    if (state_is(o, S(REFUNDED)) && o->refunded != o->total)
        reportf(sink, "order '%s' is refunded but %lld of %lld refunded", o->id,
                (long long)o->refunded, (long long)o->total);
    if (state_is(o, S(PARTIALLY_REFUNDED)) && (o->refunded <= 0 || o->refunded >= o->total))
        reportf(sink, "order '%s' is partially_refunded but %lld of %lld refunded", o->id,
                (long long)o->refunded, (long long)o->total);
    if (state_is(o, S(PENDING_PAYMENT)) && o->refunded)
        reportf(sink, "order '%s' is %s but %lld refunded", o->id, name(o->state),
                (long long)o->refunded);
    if (state_is(o, S(CANCELLED)) && o->refunded != 0 && o->refunded != o->total)
        reportf(sink, "order '%s' is cancelled but %lld of %lld refunded (none or all)", o->id,
                (long long)o->refunded, (long long)o->total);
}

static void check_holds(ecom_check_sink *sink, const ecom_order *o)
{
    if (!ecom_currency_valid(o->currency))
        reportf(sink, "order '%s': currency '%s' is not ISO 4217", o->id, o->currency);
    if (o->claim_count > ECOM__ORDER_CLAIMS_MAX)
        reportf(sink, "order '%s': %zu claims, more than %d", o->id, o->claim_count,
                ECOM__ORDER_CLAIMS_MAX);
    for (size_t i = 0; i < o->claim_count; i++) {
        char sale[ECOM_ID_MAX + 1];
        uint64_t ticket;
        if (!ecom__claim_parse(o->claims[i], sale, &ticket))
            reportf(sink, "order '%s': claims[%zu] '%s' is not \"sale:ticket\"", o->id, i,
                    o->claims[i]);
    }
    if (o->reservation_id[0] == '\0' && o->claim_count == 0)
        reportf(sink, "order '%s': neither a reservation nor a claim holds its stock", o->id);
}

int ecom__order_verify(ecom_check_sink *sink, const ecom_order_rec *rec, uint64_t version)
{
    ecom_order *o = NULL;
    int rc = ecom__order_decode(&o, rec, version);
    if (rc == ECOM_ENOMEM)
        return rc;
    const char *id = rec && rec->id ? rec->id : "?";
    if (rc != ECOM_OK) {
        reportf(sink, "order '%s': record does not decode: %s", id, ecom_strerror(rc));
        return ECOM_OK;
    }
    if (version == 0)
        reportf(sink, "order '%s': version 0", id);
    check_lines(sink, o);
    check_money(sink, o);
    check_history(sink, o);
    check_state_fields(sink, o);
    check_holds(sink, o);
    ecom_order_free(o);
    return ECOM_OK;
}

void ecom__order_check(ecom_check_sink *sink, const ecom_order_rec *rec, uint64_t version)
{
    if (ecom__order_verify(sink, rec, version) == ECOM_ENOMEM)
        reportf(sink, "order '%s': the check ran out of memory",
                rec && rec->id ? rec->id : "?");
}
