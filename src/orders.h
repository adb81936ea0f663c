/* What the order, checkout and payment files share. */
#ifndef ECOM_ORDERS_H
#define ECOM_ORDERS_H

#include "internal.h"

/* Orders hold at most this many lines (a cart's bound). */
#define ECOM__ORDER_LINES_MAX ECOM_CART_LINES_MAX
/* Flash-sale claims one checkout may use. */
#define ECOM__ORDER_CLAIMS_MAX 16

typedef struct ecom__order_line {
    const char *sku;
    int64_t quantity;
    int64_t unit_price; /* minor units of the order's currency */
    int64_t shipped;
} ecom__order_line;

/* A refund through the provider, under its idempotency key: a retry with the same key
 * finds it here and is not counted twice. A pending refund is reserved on the order
 * before the provider is asked (so that two refunds at once cannot both pay out what
 * is left) and not yet confirmed: it is not in refunded. */
typedef struct ecom__order_refund {
    const char *key;
    int64_t amount;
    bool pending;
} ecom__order_refund;

typedef struct ecom__order_entry {
    ecom_order_state state; /* the state this entry moved the order to */
    int64_t time;
    const char *who;
    const char *why;
} ecom__order_entry;

/* An order in memory: one arena, like a product (src/arena.c). */
struct ecom_order {
    ecom__arena arena;
    const char *id, *user, *currency, *location;
    const char *reservation_id; /* "" when every line came from flash-sale claims */
    const char *payment_key;    /* idempotency key of the authorize call */
    const char *charge_id;      /* "" until authorized */
    const char *reason;         /* why declined or cancelled ("" otherwise) */
    const char *cart;           /* the cart it was bought from ("" if not known) */
    ecom_order_state state;
    uint64_t version;
    int64_t created_at;
    int64_t subtotal, shipping, tax, total, refunded;
    ecom__order_line *lines;
    size_t line_count;
    const char **claims; /* flash-sale claim ids ("sale:ticket") standing in for lines */
    size_t claim_count;
    ecom__order_entry *history;
    size_t history_count, history_cap;
    ecom__order_refund *refunds; /* the confirmed ones' amounts sum to refunded */
    size_t refund_count, refund_cap;
    size_t line_cap, claim_cap; /* room in lines and claims (arrays grow by doubling) */
};

/* Empty order with these fields copied in; caller frees with ecom_order_free. */
int ecom__order_new(ecom_order **out, const char *id, const char *user, const char *currency,
                    const char *location, int64_t created_at);
/* Copies s into the order's arena ("" for NULL). NULL when memory ran out. */
const char *ecom__order_strdup(ecom_order *o, const char *s);
int ecom__order_add_line(ecom_order *o, const char *sku, int64_t quantity, int64_t unit_price);
int ecom__order_add_claim(ecom_order *o, const char *claim_id);
/* Appends a history entry and sets o->state = state. */
int ecom__order_push(ecom_order *o, ecom_order_state state, int64_t time, const char *who,
                     const char *why);

/* Records a refund of amount under key: pending (reserved, see ecom__order_refund), or
 * confirmed and added to o->refunded. ECOM_EPRICE if that would overflow, ECOM_ENOMEM. */
int ecom__order_add_refund(ecom_order *o, const char *key, int64_t amount, bool pending);
/* The pending refund under key is confirmed: added to o->refunded. ECOM_ENOTFOUND if
 * there is no pending refund under key, ECOM_EPRICE on overflow. */
int ecom__order_confirm_refund(ecom_order *o, const char *key);
/* The pending refund under key is forgotten (the provider refused it). */
void ecom__order_drop_refund(ecom_order *o, const char *key);
/* The sum of the pending refunds' amounts (never more than the total on a sound order). */
int64_t ecom__order_pending_refunds(const ecom_order *o);
/* The refund under key, or NULL. */
const ecom__order_refund *ecom__order_find_refund(const ecom_order *o, const char *key);

/* The order's content as the backend stores it (everything but id, user, state,
 * created_at and version, which travel as index fields), and back. */
int ecom__order_encode(ecom__buf *out, const ecom_order *o);
int ecom__order_decode(ecom_order **out, const ecom_order_rec *rec, uint64_t version);

/* Is from -> to a legal move of the state machine (ecom.h lists them)? */
bool ecom__order_can_move(ecom_order_state from, ecom_order_state to);

/* Was from -> to legal when it was made: a legal move, or one an earlier release
 * made (paid -> (partially_)refunded, shipped -> partially_refunded). For histories. */
bool ecom__order_moved_legally(ecom_order_state from, ecom_order_state to);

/* Did o ever reach paid (its history says so)? */
bool ecom__order_was_paid(const ecom_order *o);

/*
 * The stock operations an order's holds need when it is paid (commit) or cancelled
 * (release): its reservation and each claim. Fills up to cap ops; returns how many.
 * The ops point into o and into claim_sales (cap strings of ECOM_ID_MAX + 1 bytes).
 */
size_t ecom__order_stock_ops(ecom_inventory_op *ops, char (*claim_sales)[ECOM_ID_MAX + 1],
                             size_t cap, const ecom_order *o, bool commit);

/*
 * Writes o through group commit: CREATE (version 1) or UPDATE (compare-and-set on
 * o->version), with n inventory ops in the same atomic unit, appending the event
 * "order.<state>" ("order.created" for CREATE). On success o->version is the new
 * version. idem_key: CREATE only, NULL or the checkout's key. Reports failures on
 * store (ECOM_ECONFLICT, ECOM_ENOTFOUND, an inventory op's code, ...).
 */
int ecom__order_write(ecom_store *store, ecom_order *o, ecom_order_op_kind kind,
                      ecom_inventory_op *inv, size_t n, const char *idem_key);

/* Writes that ride on an order update: applied in its unit, after it, and only if
 * it was applied (each then carries its own result; a skipped one the order's). */
typedef struct ecom__order_then {
    ecom__write_kind kinds[ECOM__GROUP_MAX - 1]; /* the order write is the first */
    void *ops[ECOM__GROUP_MAX - 1];
    size_t n;
} ecom__order_then;

/* The longest idempotency key a checkout takes, and a key the core derives. */
#define ECOM__KEY_MAX 128

/* completion.c: authorizes and captures o's total with its own keys, then completes
 * it (pending_payment -> paid, the stock committed, its lines taken from its cart)
 * with then's writes riding on that unit; a decline cancels it. */
int ecom__pay(ecom_store *store, ecom_order **order, const char *token,
              const ecom__order_then *then);

/* completion.c: o was found cancelled while its payment ran: voids what the payment
 * took, and answers ECOM_ESTATE with o's reason (or the void's retryable error). */
int ecom__cancelled_meanwhile(ecom_store *store, const ecom_order *o);

/* completion.c: whether a completion's answer says the order ended cancelled, its
 * payment given back or never taken: declined (ECOM_EDECLINED: also a declined capture
 * or another amount approved), its hold ended while paying (ECOM_EEXPIRED,
 * ECOM_EENDED), or a cancel met and finished (ECOM_ESTATE). */
bool ecom__ended_cancelled(int rc);

/* completion.c: is o pending payment and marked as being cancelled (a reason set)? */
bool ecom__order_cancelling(const ecom_order *o);

/*
 * completion.c: cancels o, pending payment, whose payment may have charged, in three
 * steps: (1) marks it as being cancelled (its reason set, by compare-and-set; event
 * "order.cancelling"): from then on no path pays or captures it, every path that meets
 * it finishes the cancel instead; (2) voids what its payment took (key
 * "void-cancel-<id>"); (3) moves it to cancelled, its holds released, `who` in its
 * history. A crash or a failed void (a retryable answer) leaves it marked, for a
 * retry, a notification, a repeated cancel or the recovery sweep to carry on.
 */
int ecom__cancel_and_void(ecom_store *store, ecom_order *o, const char *who, const char *why);

/* orders.c: writes o (UPDATE, compare-and-set on its version, no stock) with the event
 * "order.<event>". */
int ecom__order_write_event(ecom_store *store, ecom_order *o, const char *event);

/* ecom__order_write(UPDATE) with then's writes chained after it. */
int ecom__order_write_then(ecom_store *store, ecom_order *o, ecom_inventory_op *inv, size_t n,
                           const ecom__order_then *then);

/*
 * Creates o in one batch right after begin (an ECOM_IDEM_BEGIN of idem_key with a
 * holder nonce), so that a checkout claims its key and creates its order with one
 * wait. The create happens only if begin made this request the key's holder (NEW)
 * and the key names no order yet. Returns ECOM_OK (both done); the begin's own
 * failure; ECOM_EBUSY without a message when begin did not hand the key to this
 * request as new (the caller acts on begin->state and begin->order_id); or the
 * create's refusal (stock, ...), reported on store.
 */
int ecom__order_create_claimed(ecom_store *store, ecom_order *o, ecom_inventory_op *inv,
                               size_t n, const char *idem_key, ecom_idem_op *begin);

/* Reads an order. Reports ECOM_ENOTFOUND on store. */
int ecom__order_read(ecom_order **out, ecom_store *store, const char *id);

/* Voids whatever the provider took under o's payment key: a charge whose answer was
 * lost, or one that landed after o was cancelled or its hold ended. Every path uses
 * one void key per order, so the charge is voided once; a declined void is followed
 * by a refund of it all (key "refund-void-<id>"). ECOM_OK when nothing was
 * taken; ECOM_ETIMEOUT or ECOM_EPAYMENT (retry) when the provider cannot say or void. */
int ecom__void_order_charge(ecom_store *store, const ecom_order *o);

/* Fills the built-in test payment provider of store (ctx = store); at open. */
void ecom__test_payments_init(ecom_payment_provider *provider, ecom_store *store);

/* The payment provider of the store: the options' one, or the built-in test provider. */
const ecom_payment_provider *ecom__payments(ecom_store *store);

/* The core's check of one stored order (check.c hands it to the backend's check). */
void ecom__order_check(ecom_check_sink *sink, const ecom_order_rec *rec, uint64_t version);
/* The same, returning ECOM_ENOMEM when the check itself ran out of memory (which
 * ecom__order_check reports as a violation, having no other way to say it). */
int ecom__order_verify(ecom_check_sink *sink, const ecom_order_rec *rec, uint64_t version);

/* A claim id "sale:ticket" split; false if it is not one. sale has ECOM_ID_MAX + 1 bytes. */
bool ecom__claim_parse(const char *claim_id, char *sale, uint64_t *ticket);

#endif
