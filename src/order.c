/*
 * The order handle: making it (for checkout), its getters (NULL- and index-safe), the
 * state machine's legal moves, and the order as JSON.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json_build.h"
#include "orders.h"

/* Empty strings share this one instead of taking arena space. */
static const char empty_string[] = "";

static const char *const state_names[] = {
    [ECOM_ORDER_PENDING_PAYMENT] = "pending_payment",
    [ECOM_ORDER_PAID] = "paid",
    [ECOM_ORDER_FULFILLING] = "fulfilling",
    [ECOM_ORDER_PARTIALLY_SHIPPED] = "partially_shipped",
    [ECOM_ORDER_SHIPPED] = "shipped",
    [ECOM_ORDER_DELIVERED] = "delivered",
    [ECOM_ORDER_CANCELLED] = "cancelled",
    [ECOM_ORDER_REFUNDED] = "refunded",
    [ECOM_ORDER_PARTIALLY_REFUNDED] = "partially_refunded",
};
#define STATE_COUNT (sizeof state_names / sizeof state_names[0])

#define BIT(s) (1u << (s))
/* moves[from]: the states `from` may move to, exactly as ecom.h lists them. A refund
 * changes the state only when it cannot hold up fulfilment: all the money back once
 * shipped (refunded), or some of it once delivered (partially_refunded). Before that
 * the money is recorded and the order keeps its place (cancel is what stops an order
 * and returns its stock). */
static const unsigned moves[STATE_COUNT] = {
    [ECOM_ORDER_PENDING_PAYMENT] = BIT(ECOM_ORDER_PAID) | BIT(ECOM_ORDER_CANCELLED),
    [ECOM_ORDER_PAID] = BIT(ECOM_ORDER_FULFILLING) | BIT(ECOM_ORDER_CANCELLED),
    [ECOM_ORDER_FULFILLING] = BIT(ECOM_ORDER_PARTIALLY_SHIPPED) | BIT(ECOM_ORDER_SHIPPED) |
                              BIT(ECOM_ORDER_CANCELLED),
    [ECOM_ORDER_PARTIALLY_SHIPPED] = BIT(ECOM_ORDER_PARTIALLY_SHIPPED) | BIT(ECOM_ORDER_SHIPPED),
    [ECOM_ORDER_SHIPPED] = BIT(ECOM_ORDER_DELIVERED) | BIT(ECOM_ORDER_REFUNDED),
    [ECOM_ORDER_DELIVERED] = BIT(ECOM_ORDER_REFUNDED) | BIT(ECOM_ORDER_PARTIALLY_REFUNDED),
    [ECOM_ORDER_CANCELLED] = 0,
    [ECOM_ORDER_REFUNDED] = 0,
    [ECOM_ORDER_PARTIALLY_REFUNDED] = BIT(ECOM_ORDER_PARTIALLY_REFUNDED) |
                                      BIT(ECOM_ORDER_REFUNDED),
};

const char *ecom_order_state_name(ecom_order_state state)
{
    unsigned s = (unsigned)state;
    return s < STATE_COUNT ? state_names[s] : NULL;
}

/* Moves that were legal once (before refunds stopped holding up fulfilment): made no
 * more, but an older store's histories hold them. */
static const unsigned former_moves[STATE_COUNT] = {
    [ECOM_ORDER_PAID] = BIT(ECOM_ORDER_REFUNDED) | BIT(ECOM_ORDER_PARTIALLY_REFUNDED),
    [ECOM_ORDER_SHIPPED] = BIT(ECOM_ORDER_PARTIALLY_REFUNDED),
};

bool ecom__order_can_move(ecom_order_state from, ecom_order_state to)
{
    unsigned f = (unsigned)from, t = (unsigned)to;
    return f < STATE_COUNT && t < STATE_COUNT && (moves[f] & BIT(t)) != 0;
}

bool ecom__order_moved_legally(ecom_order_state from, ecom_order_state to)
{
    unsigned f = (unsigned)from, t = (unsigned)to;
    return ecom__order_can_move(from, to) ||
           (f < STATE_COUNT && t < STATE_COUNT && (former_moves[f] & BIT(t)) != 0);
}

bool ecom__order_was_paid(const ecom_order *o)
{
    for (size_t i = 0; i < o->history_count; i++)
        if (o->history[i].state == ECOM_ORDER_PAID)
            return true;
    return false;
}

/* ---- making an order ---- */

const char *ecom__order_strdup(ecom_order *o, const char *s)
{
    if (o == NULL)
        return NULL;
    if (s == NULL || *s == '\0')
        return empty_string;
    return ecom__arena_strndup(&o->arena, s, strlen(s));
}

/* An array with room for count + 1 elements: arr, or a copy twice as big (the old one
 * stays in the arena until the order is freed). NULL when memory runs out. */
static void *grow(ecom__arena *a, void *arr, size_t count, size_t *cap, size_t elem)
{
    if (count < *cap)
        return arr;
    size_t ncap = *cap ? *cap : 2;
    if (ncap > SIZE_MAX / 2 / elem)
        return NULL;
    ncap *= 2;
    void *n = ecom__arena_alloc(a, ncap * elem);
    if (n == NULL)
        return NULL;
    if (count)
        memcpy(n, arr, count * elem);
    *cap = ncap;
    return n;
}

int ecom__order_new(ecom_order **out, const char *id, const char *user, const char *currency,
                    const char *location, int64_t created_at)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    ecom_order *o = ecom__calloc(1, sizeof *o);
    if (o == NULL)
        return ECOM_ENOMEM;
    o->state = ECOM_ORDER_PENDING_PAYMENT;
    o->created_at = created_at;
    o->reservation_id = o->payment_key = o->charge_id = o->reason = o->cart = empty_string;
    o->id = ecom__order_strdup(o, id);
    o->user = ecom__order_strdup(o, user);
    o->currency = ecom__order_strdup(o, currency);
    o->location = ecom__order_strdup(o, location);
    if (!o->id || !o->user || !o->currency || !o->location) {
        ecom_order_free(o);
        return ECOM_ENOMEM;
    }
    *out = o;
    return ECOM_OK;
}

void ecom_order_free(ecom_order *o)
{
    if (o == NULL)
        return;
    ecom__arena_free(&o->arena);
    ecom__free(o);
}

int ecom__order_add_line(ecom_order *o, const char *sku, int64_t quantity, int64_t unit_price)
{
    if (o == NULL || sku == NULL)
        return ECOM_EINVAL;
    if (o->line_count >= ECOM__ORDER_LINES_MAX)
        return ECOM_ELIMIT;
    ecom__order_line *lines = grow(&o->arena, o->lines, o->line_count, &o->line_cap,
                                   sizeof *lines);
    if (lines == NULL)
        return ECOM_ENOMEM;
    o->lines = lines;
    const char *copy = ecom__order_strdup(o, sku);
    if (copy == NULL)
        return ECOM_ENOMEM;
    lines[o->line_count++] = (ecom__order_line){copy, quantity, unit_price, 0};
    return ECOM_OK;
}

int ecom__order_add_claim(ecom_order *o, const char *claim_id)
{
    if (o == NULL || claim_id == NULL)
        return ECOM_EINVAL;
    if (o->claim_count >= ECOM__ORDER_CLAIMS_MAX)
        return ECOM_ELIMIT;
    const char **claims = grow(&o->arena, o->claims, o->claim_count, &o->claim_cap,
                               sizeof *claims);
    if (claims == NULL)
        return ECOM_ENOMEM;
    o->claims = claims;
    const char *copy = ecom__order_strdup(o, claim_id);
    if (copy == NULL)
        return ECOM_ENOMEM;
    claims[o->claim_count++] = copy;
    return ECOM_OK;
}

int ecom__order_push(ecom_order *o, ecom_order_state state, int64_t time, const char *who,
                     const char *why)
{
    if (o == NULL || ecom_order_state_name(state) == NULL)
        return ECOM_EINVAL;
    ecom__order_entry *h = grow(&o->arena, o->history, o->history_count, &o->history_cap,
                                sizeof *h);
    if (h == NULL)
        return ECOM_ENOMEM;
    o->history = h;
    const char *w = ecom__order_strdup(o, who), *y = ecom__order_strdup(o, why);
    if (w == NULL || y == NULL)
        return ECOM_ENOMEM;
    h[o->history_count++] = (ecom__order_entry){state, time, w, y};
    o->state = state;
    return ECOM_OK;
}

int ecom__order_add_refund(ecom_order *o, const char *key, int64_t amount, bool pending)
{
    if (o == NULL || key == NULL || amount < 0)
        return ECOM_EINVAL;
    int64_t refunded;
    if (__builtin_add_overflow(o->refunded, pending ? 0 : amount, &refunded))
        return ECOM_EPRICE;
    ecom__order_refund *r = grow(&o->arena, o->refunds, o->refund_count, &o->refund_cap,
                                 sizeof *r);
    if (r == NULL)
        return ECOM_ENOMEM;
    o->refunds = r;
    const char *copy = ecom__order_strdup(o, key);
    if (copy == NULL)
        return ECOM_ENOMEM;
    r[o->refund_count++] = (ecom__order_refund){copy, amount, pending};
    o->refunded = refunded;
    return ECOM_OK;
}

int ecom__order_confirm_refund(ecom_order *o, const char *key)
{
    ecom__order_refund *r = (ecom__order_refund *)ecom__order_find_refund(o, key);
    if (r == NULL || !r->pending)
        return ECOM_ENOTFOUND;
    if (__builtin_add_overflow(o->refunded, r->amount, &o->refunded))
        return ECOM_EPRICE;
    r->pending = false;
    return ECOM_OK;
}

void ecom__order_drop_refund(ecom_order *o, const char *key)
{
    const ecom__order_refund *r = ecom__order_find_refund(o, key);
    if (r == NULL || !r->pending)
        return;
    size_t at = (size_t)(r - o->refunds);
    memmove(&o->refunds[at], &o->refunds[at + 1], (o->refund_count - at - 1) * sizeof *r);
    o->refund_count--;
}

int64_t ecom__order_pending_refunds(const ecom_order *o)
{
    int64_t sum = 0;
    for (size_t i = 0; i < o->refund_count; i++)
        if (o->refunds[i].pending && __builtin_add_overflow(sum, o->refunds[i].amount, &sum))
            return INT64_MAX;
    return sum;
}

const ecom__order_refund *ecom__order_find_refund(const ecom_order *o, const char *key)
{
    for (size_t i = 0; o && key && i < o->refund_count; i++)
        if (strcmp(o->refunds[i].key, key) == 0)
            return &o->refunds[i];
    return NULL;
}

bool ecom__claim_parse(const char *claim_id, char *sale, uint64_t *ticket)
{
    const char *colon = claim_id ? strrchr(claim_id, ':') : NULL;
    if (colon == NULL || colon == claim_id || (size_t)(colon - claim_id) > ECOM_ID_MAX)
        return false;
    const char *digits = colon + 1;
    if (*digits < '1' || *digits > '9')
        return false; /* no sign, no leading zero, not empty */
    char *end;
    unsigned long long t = strtoull(digits, &end, 10);
    if (*end != '\0' || t == ULLONG_MAX)
        return false;
    size_t len = (size_t)(colon - claim_id);
    memcpy(sale, claim_id, len);
    sale[len] = '\0';
    *ticket = (uint64_t)t;
    return true;
}

/* ---- getters ---- */

static const ecom__order_line *line_at(const ecom_order *o, size_t i)
{
    return o && i < o->line_count ? &o->lines[i] : NULL;
}

static const ecom__order_entry *entry_at(const ecom_order *o, size_t i)
{
    return o && i < o->history_count ? &o->history[i] : NULL;
}

const char *ecom_order_id(const ecom_order *o) { return o ? o->id : NULL; }
const char *ecom_order_user(const ecom_order *o) { return o ? o->user : NULL; }
ecom_order_state ecom_order_get_state(const ecom_order *o)
{
    return o ? o->state : ECOM_ORDER_PENDING_PAYMENT;
}
uint64_t ecom_order_version(const ecom_order *o) { return o ? o->version : 0; }
const char *ecom_order_currency(const ecom_order *o) { return o ? o->currency : NULL; }
int64_t ecom_order_subtotal(const ecom_order *o) { return o ? o->subtotal : 0; }
int64_t ecom_order_shipping(const ecom_order *o) { return o ? o->shipping : 0; }
int64_t ecom_order_tax(const ecom_order *o) { return o ? o->tax : 0; }
int64_t ecom_order_total(const ecom_order *o) { return o ? o->total : 0; }
int64_t ecom_order_refunded(const ecom_order *o) { return o ? o->refunded : 0; }
const char *ecom_order_charge_id(const ecom_order *o) { return o ? o->charge_id : NULL; }
const char *ecom_order_reason(const ecom_order *o) { return o ? o->reason : NULL; }
int64_t ecom_order_created_at(const ecom_order *o) { return o ? o->created_at : 0; }
size_t ecom_order_line_count(const ecom_order *o) { return o ? o->line_count : 0; }

const char *ecom_order_line_sku(const ecom_order *o, size_t i)
{
    return line_at(o, i) ? line_at(o, i)->sku : NULL;
}

int64_t ecom_order_line_quantity(const ecom_order *o, size_t i)
{
    return line_at(o, i) ? line_at(o, i)->quantity : 0;
}

int64_t ecom_order_line_unit_price(const ecom_order *o, size_t i)
{
    return line_at(o, i) ? line_at(o, i)->unit_price : 0;
}

int64_t ecom_order_line_shipped(const ecom_order *o, size_t i)
{
    return line_at(o, i) ? line_at(o, i)->shipped : 0;
}

size_t ecom_order_history_count(const ecom_order *o) { return o ? o->history_count : 0; }

ecom_order_state ecom_order_history_state(const ecom_order *o, size_t i)
{
    return entry_at(o, i) ? entry_at(o, i)->state : ECOM_ORDER_PENDING_PAYMENT;
}

int64_t ecom_order_history_time(const ecom_order *o, size_t i)
{
    return entry_at(o, i) ? entry_at(o, i)->time : 0;
}

const char *ecom_order_history_who(const ecom_order *o, size_t i)
{
    return entry_at(o, i) ? entry_at(o, i)->who : NULL;
}

const char *ecom_order_history_why(const ecom_order *o, size_t i)
{
    return entry_at(o, i) ? entry_at(o, i)->why : NULL;
}

/* ---- JSON ---- */

/*
 * Built with cJSON, but integers never pass through its doubles: each is written as a
 * raw token of its exact decimal digits (money and versions may exceed 2^53). Keys are
 * string literals added without a copy, so adding never allocates: the only failures
 * are the node allocations, which the helpers below turn into `ok = false`.
 */
static void add_str(ecom__jb *b, cJSON *parent, const char *key, const char *s)
{
    ecom__jb_add(b, parent, key, cJSON_CreateString(s ? s : ""));
}

static void add_int(ecom__jb *b, cJSON *parent, const char *key, int64_t v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRId64, v);
    ecom__jb_add(b, parent, key, cJSON_CreateRaw(digits));
}

static void add_uint(ecom__jb *b, cJSON *parent, const char *key, uint64_t v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, v);
    ecom__jb_add(b, parent, key, cJSON_CreateRaw(digits));
}

static const char *state_or_unknown(ecom_order_state s)
{
    const char *name = ecom_order_state_name(s);
    return name ? name : "unknown";
}

static void put_lines(ecom__jb *b, cJSON *root, const ecom_order *o)
{
    cJSON *lines = ecom__jb_add(b, root, "lines", cJSON_CreateArray());
    for (size_t i = 0; lines && i < o->line_count; i++) {
        const ecom__order_line *l = &o->lines[i];
        cJSON *x = ecom__jb_add(b, lines, NULL, cJSON_CreateObject());
        add_str(b, x, "sku", l->sku);
        add_int(b, x, "quantity", l->quantity);
        add_int(b, x, "unit_price", l->unit_price);
        add_int(b, x, "shipped", l->shipped);
    }
}

static void put_history(ecom__jb *b, cJSON *root, const ecom_order *o)
{
    cJSON *history = ecom__jb_add(b, root, "history", cJSON_CreateArray());
    for (size_t i = 0; history && i < o->history_count; i++) {
        const ecom__order_entry *e = &o->history[i];
        cJSON *x = ecom__jb_add(b, history, NULL, cJSON_CreateObject());
        add_str(b, x, "state", state_or_unknown(e->state));
        add_int(b, x, "time", e->time);
        add_str(b, x, "who", e->who);
        add_str(b, x, "why", e->why);
    }
}

static void put_claims_and_refunds(ecom__jb *b, cJSON *root, const ecom_order *o)
{
    cJSON *claims = ecom__jb_add(b, root, "claims", cJSON_CreateArray());
    for (size_t i = 0; claims && i < o->claim_count; i++)
        add_str(b, claims, NULL, o->claims[i]);
    cJSON *refunds = ecom__jb_add(b, root, "refunds", cJSON_CreateArray());
    for (size_t i = 0; refunds && i < o->refund_count; i++) {
        cJSON *x = ecom__jb_add(b, refunds, NULL, cJSON_CreateObject());
        add_str(b, x, "key", o->refunds[i].key);
        add_int(b, x, "amount", o->refunds[i].amount);
        if (o->refunds[i].pending)
            ecom__jb_add(b, x, "pending", cJSON_CreateTrue());
    }
}

int ecom_order_to_json(char **out, const ecom_order *o)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (o == NULL)
        return ECOM_EINVAL;
    ecom__jb b = {true};
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return ECOM_ENOMEM;
    add_str(&b, root, "id", o->id);
    add_str(&b, root, "user", o->user);
    add_str(&b, root, "state", state_or_unknown(o->state));
    add_uint(&b, root, "version", o->version);
    add_int(&b, root, "created_at", o->created_at);
    add_str(&b, root, "currency", o->currency);
    add_str(&b, root, "location", o->location);
    add_int(&b, root, "subtotal", o->subtotal);
    add_int(&b, root, "shipping", o->shipping);
    add_int(&b, root, "tax", o->tax);
    add_int(&b, root, "total", o->total);
    add_int(&b, root, "refunded", o->refunded);
    add_str(&b, root, "charge_id", o->charge_id);
    add_str(&b, root, "reason", o->reason);
    add_str(&b, root, "reservation_id", o->reservation_id);
    put_lines(&b, root, o);
    put_claims_and_refunds(&b, root, o);
    put_history(&b, root, o);
    char *text = b.ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return ECOM_ENOMEM;
    *out = text;
    return ECOM_OK;
}
