/*
 * Orders after checkout: reading and writing them through the backend (with their
 * stock operations and events in the same unit), and the moves callers make:
 * transition (fulfilling, delivered), ship, cancel, refund. Each move is one worker
 * (run_change) and a function that applies it to a fresh copy of the order.
 */
#include <stdio.h>
#include <string.h>

#include "inventory.h"
#include "orders.h"

/* Writes with ECOM_VERSION_ANY retry a lost compare-and-set this many times. */
#define ORDER_RETRIES 8
#define REFUND_KEY_MAX 128
/* The refund a cancel makes of what is left is kept on the order under this prefix and
 * the order's id: a caller's refund key may not take it. */
#define CANCEL_REFUND_PREFIX "refund-cancel-"

static const char *state_name(ecom_order_state s)
{
    const char *name = ecom_order_state_name(s);
    return name ? name : "in an unknown state";
}

static bool orders_supported(const ecom_store *store)
{
    const ecom_backend *be = store->be;
    return be->version >= 3 && be->order_get && be->order_apply && be->order_scan;
}

static int unsupported(ecom_store *store)
{
    return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no orders (contract "
                      "version %d; orders need 3)", store->be->name, store->be->version);
}

/* ---- reading and writing ---- */

typedef struct read_state {
    ecom_order *o;
} read_state;

static int read_fn(void *ctx, const ecom_order_rec *rec, uint64_t version, const void *key,
                   size_t key_len)
{
    read_state *st = ctx;
    ECOM__UNUSED(key);
    ECOM__UNUSED(key_len);
    ecom_order_free(st->o);
    st->o = NULL;
    return ecom__order_decode(&st->o, rec, version);
}

int ecom__order_read(ecom_order **out, ecom_store *store, const char *id)
{
    *out = NULL;
    if (!orders_supported(store))
        return unsupported(store);
    read_state st = {NULL};
    int rc = store->be->order_get(store->be, id, read_fn, &st);
    if (rc == ECOM_OK && st.o == NULL)
        rc = ECOM_ENOTFOUND;
    if (rc == ECOM_OK) {
        *out = st.o;
        return ECOM_OK;
    }
    ecom_order_free(st.o);
    switch (rc) {
    case ECOM_ENOTFOUND: return ecom__fail(store, rc, "order '%s' not found", id);
    case ECOM_ECORRUPT:
        return ecom__fail(store, rc, "order '%s': its stored record does not decode", id);
    case ECOM_ENOMEM: return ecom__fail(store, rc, "out of memory reading order '%s'", id);
    default:
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "reading order '%s': %s", id, ecom_strerror(rc));
    }
}

/* Says why the backend refused the write of o. */
static int explain_write(ecom_store *store, const ecom_order *o, const ecom_order_op *op,
                         const ecom_inventory_op *inv, size_t n)
{
    int rc = op->result;
    for (size_t i = 0; i < n; i++) {
        if (inv[i].result != rc)
            continue;
        ecom__inv_explain(store, &inv[i]);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
        return ecom__fail(store, ecom_errcode(store), "order '%s': %s", o->id, msg);
    }
    switch (rc) {
    case ECOM_ECONFLICT:
        return ecom__fail(store, rc, "order '%s' is no longer at version %llu (stale write)",
                          o->id, (unsigned long long)op->expected_version);
    case ECOM_ENOTFOUND: return ecom__fail(store, rc, "order '%s' not found", o->id);
    case ECOM_EEXISTS: return ecom__fail(store, rc, "order '%s' already exists", o->id);
    case ECOM_EUNSUPPORTED: return unsupported(store);
    default:
        return ecom_errcode(store) == rc
                   ? rc
                   : ecom__fail(store, rc, "writing order '%s': %s", o->id, ecom_strerror(rc));
    }
}

/* Encodes o into an order write, and commits it alone or in one batch after begin
 * (the checkout's idempotency key, claimed by the same request: see idem_holder). */
/* Writes the order, after `begin` (claiming its key) if given, and with the `then`
 * ops chained after it: applied in the same unit only if the order write was. */
static int write_order(ecom_store *store, ecom_order *o, ecom_order_op_kind kind,
                       ecom_inventory_op *inv, size_t n, const char *idem_key,
                       ecom_idem_op *begin, const ecom__order_then *then,
                       const char *event_name)
{
    if (!orders_supported(store))
        return unsupported(store);
    char event[40];
    snprintf(event, sizeof event, "order.%s",
             event_name ? event_name
                        : kind == ECOM_ORDER_CREATE ? "created" : state_name(o->state));
    ecom__buf data = {0};
    void *narrow = NULL;
    ecom_inventory_op *given = NULL;
    int rc = ecom__order_encode(&data, o);
    if (rc == ECOM_OK && n && (given = ecom__inventory_array(store, inv, n, &narrow)) == NULL)
        rc = ECOM_ENOMEM;
    if (rc != ECOM_OK) {
        ecom__buf_free(&data);
        if (begin) /* the key was not claimed: its holder is not this request */
            begin->op_result = rc;
        return ecom__fail(store, rc, "out of memory writing order '%s'", o->id);
    }
    for (size_t i = 0; i < n; i++)
        given[i].result = ECOM_OK;
    ecom_order_op op = {
        .kind = kind,
        .rec = {o->id, o->user, (int)o->state, o->created_at, data.data, data.len},
        .expected_version = kind == ECOM_ORDER_CREATE ? 0 : o->version,
        .event = event,
        .inventory = given,
        .inventory_count = n,
        .idem_key = kind == ECOM_ORDER_CREATE ? idem_key : NULL,
        .idem_holder = begin ? begin->holder : 0,
    };
    ecom__write_kind kinds[ECOM__GROUP_MAX];
    void *ops[ECOM__GROUP_MAX];
    size_t count = 0;
    if (begin) {
        kinds[count] = ECOM__WRITE_IDEM;
        ops[count++] = begin;
    }
    size_t anchor = count;
    kinds[count] = ECOM__WRITE_ORDER;
    ops[count++] = &op;
    for (size_t i = 0; then && i < then->n; i++) {
        kinds[count] = then->kinds[i];
        ops[count++] = then->ops[i];
    }
    ecom__commit_chain(store, kinds, ops, count, anchor);
    ecom__inventory_array_done(store, inv, n, narrow);
    rc = begin && begin->op_result != ECOM_OK ? begin->op_result : op.result;
    ecom__buf_free(&data);
    if (rc == ECOM_OK) {
        o->version = op.version;
        return ECOM_OK;
    }
    if (begin && (begin->op_result != ECOM_OK || begin->state != ECOM_IDEM_NEW ||
                  begin->order_id[0]))
        return begin->op_result != ECOM_OK ? begin->op_result : ECOM_EBUSY;
    op.result = rc;
    return explain_write(store, o, &op, inv, n);
}

int ecom__order_write(ecom_store *store, ecom_order *o, ecom_order_op_kind kind,
                      ecom_inventory_op *inv, size_t n, const char *idem_key)
{
    return write_order(store, o, kind, inv, n, idem_key, NULL, NULL, NULL);
}

int ecom__order_write_event(ecom_store *store, ecom_order *o, const char *event)
{
    return write_order(store, o, ECOM_ORDER_UPDATE, NULL, 0, NULL, NULL, NULL, event);
}

int ecom__order_write_then(ecom_store *store, ecom_order *o, ecom_inventory_op *inv, size_t n,
                           const ecom__order_then *then)
{
    return write_order(store, o, ECOM_ORDER_UPDATE, inv, n, NULL, NULL, then, NULL);
}

int ecom__order_create_claimed(ecom_store *store, ecom_order *o, ecom_inventory_op *inv,
                               size_t n, const char *idem_key, ecom_idem_op *begin)
{
    return write_order(store, o, ECOM_ORDER_CREATE, inv, n, idem_key, begin, NULL, NULL);
}

size_t ecom__order_stock_ops(ecom_inventory_op *ops, char (*claim_sales)[ECOM_ID_MAX + 1],
                             size_t cap, const ecom_order *o, bool commit)
{
    size_t n = 0;
    if (o->reservation_id && o->reservation_id[0] && n < cap)
        ops[n++] = (ecom_inventory_op){.kind = commit ? ECOM_INV_COMMIT : ECOM_INV_RELEASE,
                                       .id = o->reservation_id};
    for (size_t i = 0; i < o->claim_count && n < cap; i++) {
        uint64_t ticket;
        /* Checkout stored only claims it parsed; ecom_check reports any other. */
        if (!ecom__claim_parse(o->claims[i], claim_sales[n], &ticket))
            continue;
        ops[n] = (ecom_inventory_op){.kind = commit ? ECOM_INV_FLASH_COMMIT
                                                    : ECOM_INV_FLASH_RELEASE,
                                     .id = claim_sales[n], .ticket = ticket,
                                     .key = o->id}; /* the order the claim is tied to */
        n++;
    }
    return n;
}

/* ---- the moves: one worker ---- */

typedef struct change change;
struct change {
    /* Applies the move to o, a fresh copy at the expected version: changes it, may
     * queue stock operations in inv. Reports on store why not. */
    int (*apply)(ecom_store *store, ecom_order *o, change *c);
    /* Optional: 1 if the move was already made (an idempotent retry), 0 if not, or an
     * error. Runs before the version check: a retry may come with the old version. */
    int (*done)(ecom_store *store, const ecom_order *o, change *c);
    void *ctx;
    const char *who, *why;
    ecom_inventory_op *inv; /* room for inv_cap ops */
    char (*sales)[ECOM_ID_MAX + 1];
    size_t inv_cap, inv_count;
    const char *event; /* the event's name after "order."; NULL: the order's state */
};

static int illegal(ecom_store *store, const ecom_order *o, ecom_order_state to)
{
    return ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: it cannot move to %s", o->id,
                      state_name(o->state), state_name(to));
}

static int push(ecom_store *store, ecom_order *o, ecom_order_state to, const change *c,
                const char *why)
{
    int rc = ecom__order_push(o, to, ecom__now(store), c->who, why);
    return rc ? ecom__fail(store, rc, "out of memory moving order '%s'", o->id) : ECOM_OK;
}


static int run_change(ecom_store *store, const char *id, uint64_t expected, change *c)
{
    for (int attempt = 1;; attempt++) {
        ecom_order *o = NULL;
        int rc = ecom__order_read(&o, store, id);
        if (rc != ECOM_OK)
            return rc;
        int done = c->done ? c->done(store, o, c) : 0;
        bool stale = false;
        if (done < 0) {
            rc = done;
        } else if (done == 0 && expected != ECOM_VERSION_ANY && o->version != expected) {
            stale = true;
            rc = ecom__fail(store, ECOM_ECONFLICT, "order '%s' is at version %llu, not %llu "
                            "(stale write)", id, (unsigned long long)o->version,
                            (unsigned long long)expected);
        } else if (done == 0) {
            c->inv_count = 0;
            rc = c->apply(store, o, c);
            if (rc == ECOM_OK)
                rc = write_order(store, o, ECOM_ORDER_UPDATE, c->inv, c->inv_count, NULL,
                                 NULL, NULL, c->event);
        }
        ecom_order_free(o);
        if (rc == ECOM_OK)
            ecom__clear(store); /* a lost race was not the answer */
        if (rc != ECOM_ECONFLICT || stale || expected != ECOM_VERSION_ANY ||
            attempt == ORDER_RETRIES)
            return rc;
    }
}

/* Checks the arguments every move shares. */
static int check_move_args(ecom_store *store, const char *id, const char *who, const char *why)
{
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, who, "who");
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, why, "why");
    if (rc == ECOM_OK && !orders_supported(store))
        rc = unsupported(store);
    return rc;
}

static const char *who_or_system(const char *who)
{
    return who && *who ? who : "system";
}

int ecom_order_get(ecom_order **out, ecom_store *store, const char *id)
{
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    return rc == ECOM_OK ? ecom__order_read(out, store, id) : rc;
}

/* ---- transition ---- */

static int apply_transition(ecom_store *store, ecom_order *o, change *c)
{
    ecom_order_state to = *(const ecom_order_state *)c->ctx;
    if (!ecom__order_can_move(o->state, to))
        return illegal(store, o, to);
    return push(store, o, to, c, c->why);
}

int ecom_order_transition(ecom_store *store, const char *id, uint64_t expected_version,
                          ecom_order_state to, const char *who, const char *why)
{
    int rc = check_move_args(store, id, who, why);
    if (rc != ECOM_OK)
        return rc;
    /* Every other move needs more than a state: stock, shipped units or money. */
    if (to != ECOM_ORDER_FULFILLING && to != ECOM_ORDER_DELIVERED)
        return ecom__fail(store, ECOM_ESTATE, "order '%s': ecom_order_transition moves only "
                          "to fulfilling or delivered, not to %s (ship, cancel and refund "
                          "have calls of their own)", id, state_name(to));
    change c = {.apply = apply_transition, .ctx = &to, .who = who_or_system(who), .why = why};
    return run_change(store, id, expected_version, &c);
}

/* ---- ship ---- */

typedef struct ship_args {
    const char *const *skus;
    const int64_t *quantities;
    size_t n;
} ship_args;

/* The key of the refund a cancel of order id makes. */
static void cancel_refund_key(char *out, size_t size, const char *id)
{
    snprintf(out, size, CANCEL_REFUND_PREFIX "%s", id);
}

/* Whether a cancel has reserved its refund of the order and not yet ended. */
static bool cancel_refund_pending(const ecom_order *o)
{
    char key[ECOM_ID_MAX + 16];
    cancel_refund_key(key, sizeof key, o->id);
    const ecom__order_refund *r = ecom__order_find_refund(o, key);
    return r != NULL && r->pending;
}

static int apply_ship(ecom_store *store, ecom_order *o, change *c)
{
    const ship_args *a = c->ctx;
    /* A paid order goes to fulfilling first (ecom_order_transition): shipping is a
     * step of fulfilment, and the state machine has no paid -> shipped move. */
    if (o->state != ECOM_ORDER_FULFILLING && o->state != ECOM_ORDER_PARTIALLY_SHIPPED)
        return ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: only a fulfilling or "
                          "partially shipped order ships (move a paid order to fulfilling "
                          "first)", o->id, state_name(o->state));
    /* A cancel's refund is being paid out: shipping now would leave the buyer both the
     * goods and the money. Once the cancel ends (done, or its refund declined), retry. */
    if (cancel_refund_pending(o))
        return ecom__fail(store, ECOM_EBUSY, "order '%s' is being cancelled (its refund is "
                          "pending); retry when the cancel has ended", o->id);
    int64_t units = 0, left = 0;
    if (a->n == 0) {
        for (size_t j = 0; j < o->line_count; j++) {
            units += o->lines[j].quantity - o->lines[j].shipped;
            o->lines[j].shipped = o->lines[j].quantity;
        }
        if (units <= 0)
            return ecom__fail(store, ECOM_EQUANTITY, "order '%s' has nothing left to ship",
                              o->id);
    }
    for (size_t i = 0; i < a->n; i++) {
        size_t j = 0;
        while (j < o->line_count && strcmp(o->lines[j].sku, a->skus[i]) != 0)
            j++;
        if (j == o->line_count)
            return ecom__fail(store, ECOM_EQUANTITY, "order '%s' has no line of SKU '%s' "
                              "(skus[%zu])", o->id, a->skus[i], i);
        ecom__order_line *l = &o->lines[j];
        if (a->quantities[i] > l->quantity - l->shipped)
            return ecom__fail(store, ECOM_EQUANTITY, "order '%s': %lld of SKU '%s' to ship "
                              "but %lld left (quantities[%zu])", o->id,
                              (long long)a->quantities[i], l->sku,
                              (long long)(l->quantity - l->shipped), i);
        l->shipped += a->quantities[i];
        units += a->quantities[i];
    }
    for (size_t j = 0; j < o->line_count; j++)
        left += o->lines[j].quantity - o->lines[j].shipped;
    ecom_order_state to = left == 0 ? ECOM_ORDER_SHIPPED : ECOM_ORDER_PARTIALLY_SHIPPED;
    if (!ecom__order_can_move(o->state, to))
        return illegal(store, o, to);
    char why[80];
    snprintf(why, sizeof why, "%lld units shipped, %lld left", (long long)units,
             (long long)left);
    return push(store, o, to, c, why);
}

int ecom_order_ship(ecom_store *store, const char *id, uint64_t expected_version,
                    const char *const *skus, const int64_t *quantities, size_t n,
                    const char *who)
{
    int rc = check_move_args(store, id, who, NULL);
    if (rc != ECOM_OK)
        return rc;
    if (n > 0 && (skus == NULL || quantities == NULL))
        return ecom__fail(store, ECOM_EINVAL, "%s: NULL with n = %zu", skus ? "quantities"
                                                                            : "skus", n);
    if (n > ECOM__ORDER_LINES_MAX * (size_t)ECOM_CART_QUANTITY_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "n: %zu entries is more than an order holds", n);
    for (size_t i = 0; i < n && rc == ECOM_OK; i++) {
        char field[32];
        snprintf(field, sizeof field, "skus[%zu]", i);
        rc = ecom__check_id_arg(store, skus[i], field);
        snprintf(field, sizeof field, "quantities[%zu]", i);
        if (rc == ECOM_OK)
            rc = ecom__check_quantity(store, quantities[i], field);
    }
    if (rc != ECOM_OK)
        return rc;
    ship_args a = {skus, quantities, n};
    change c = {.apply = apply_ship, .ctx = &a, .who = who_or_system(who)};
    return run_change(store, id, expected_version, &c);
}

/* ---- money back: a refund is reserved, made, then confirmed ---- */

/*
 * A refund is three steps, so that two at once can never pay out more than was paid:
 * the refund is first reserved on the order (pending, by compare-and-set, against
 * what is left after the other pending ones), then made through the provider, then
 * confirmed on the order (or forgotten if the provider refused it). A crash or a
 * timeout between them leaves it pending: the same call again (same refund key)
 * finishes it, and the provider, asked under the same key, pays it once.
 */

typedef struct refund_args {
    int64_t amount;  /* a cancel's: what was left when it was reserved */
    const char *key; /* the refund's key on the order */
} refund_args;

/* The provider's key of a refund: the order's id with the refund's key, so that one
 * key used on two orders makes two refunds, not one answered twice. */
static void provider_key(char *out, size_t size, const ecom_order *o, const char *key)
{
    snprintf(out, size, "refund-%s:%s", o->id, key);
}

/* Asks the provider for the refund reserved on o under key. *declined says whether
 * a failure is the provider's refusal (final) rather than an error (retry). */
static int provider_refund(ecom_store *store, const ecom_order *o,
                           const ecom__order_refund *r, bool *declined)
{
    *declined = o->charge_id[0] == '\0'; /* final: no provider can refund no charge */
    if (*declined)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s' has no charge to refund", o->id);
    const ecom_payment_provider *pp = ecom__payments(store);
    ecom_payment_result res = {0};
    char key[32 + ECOM_ID_MAX + REFUND_KEY_MAX];
    provider_key(key, sizeof key, o, r->key);
    int rc = pp->refund(pp->ctx, o->charge_id, r->amount, key, &res);
    if (rc == ECOM_ETIMEOUT)
        return ecom__fail(store, rc, "order '%s': the payment provider did not answer the "
                          "refund of %lld; retry with the same refund key", o->id,
                          (long long)r->amount);
    if (rc != ECOM_OK)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the refund of %lld failed (%s); "
                          "retry with the same refund key", o->id, (long long)r->amount,
                          ecom_strerror(rc));
    if (!res.approved) {
        *declined = true;
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the refund of %lld was declined "
                          "(%s)", o->id, (long long)r->amount,
                          res.reason[0] ? res.reason : "no reason given");
    }
    return ECOM_OK;
}

/* Whether the refund's key is on the order already: 1 with the same amount (or any,
 * for a cancel's), 0 if not, ECOM_EIDEMPOTENCY with another amount. */
static int refund_known(ecom_store *store, const ecom_order *o, change *c)
{
    const refund_args *a = c->ctx;
    const ecom__order_refund *r = ecom__order_find_refund(o, a->key);
    if (r == NULL)
        return 0;
    if (a->amount == 0 || r->amount == a->amount)
        return 1;
    return ecom__fail(store, ECOM_EIDEMPOTENCY, "order '%s': refund key '%s' was used for a "
                      "refund of %lld, not %lld", o->id, a->key, (long long)r->amount,
                      (long long)a->amount);
}

/* What may still be refunded: the total less the confirmed and the pending refunds. */
static int64_t left_to_refund(const ecom_order *o)
{
    return o->total - o->refunded - ecom__order_pending_refunds(o);
}

/* Reserves a->amount under a->key on o, pending (step 1). */
static int reserve(ecom_store *store, ecom_order *o, change *c, const refund_args *a)
{
    int rc = ecom__order_add_refund(o, a->key, a->amount, true);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "out of memory refunding order '%s'", o->id);
    c->event = "refund_pending";
    return ECOM_OK;
}

/* Every order that was paid and not cancelled or refunded in full. */
static bool refundable(const ecom_order *o)
{
    return o->state != ECOM_ORDER_PENDING_PAYMENT && o->state != ECOM_ORDER_CANCELLED &&
           o->state != ECOM_ORDER_REFUNDED;
}

/* Step 1: the refund reserved, pending, if what is left allows it. */
static int apply_reserve(ecom_store *store, ecom_order *o, change *c)
{
    const refund_args *a = c->ctx;
    if (!refundable(o))
        return ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: only a paid order, not "
                          "cancelled or refunded in full, can be refunded", o->id,
                          state_name(o->state));
    int64_t left = left_to_refund(o);
    if (a->amount > left)
        return ecom__fail(store, ECOM_EPRICE, "amount: %lld is more than the %lld left to "
                          "refund on order '%s'%s", (long long)a->amount, (long long)left,
                          o->id, ecom__order_pending_refunds(o) ? " (some refunds are "
                          "pending)" : "");
    return reserve(store, o, c, a);
}

/* Step 3, confirmed: the refund counts, and the order moves to refunded (all of it,
 * once shipped) or partially_refunded (once delivered) where the state machine allows;
 * any other keeps its state (not shipped yet, in transit, cancelled meanwhile), and
 * the money is recorded. */
static int confirm_done(ecom_store *store, const ecom_order *o, change *c)
{
    const refund_args *a = c->ctx;
    const ecom__order_refund *r = ecom__order_find_refund(o, a->key);
    if (r == NULL)
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s': refund '%s' is no longer "
                          "pending (refused meanwhile)", o->id, a->key);
    return r->pending ? 0 : 1;
}

static int apply_confirm(ecom_store *store, ecom_order *o, change *c)
{
    const refund_args *a = c->ctx;
    int rc = ecom__order_confirm_refund(o, a->key);
    if (rc == ECOM_EPRICE)
        return ecom__fail(store, rc, "order '%s': refunded would overflow", o->id);
    ecom_order_state to = o->refunded == o->total ? ECOM_ORDER_REFUNDED
                                                  : ECOM_ORDER_PARTIALLY_REFUNDED;
    if (!ecom__order_can_move(o->state, to)) {
        c->event = "refund_confirmed";
        return ECOM_OK;
    }
    return push(store, o, to, c, c->why);
}

/* Step 3, refused: the reservation is forgotten. */
static int dropped(ecom_store *store, const ecom_order *o, change *c)
{
    (void)store;
    const ecom__order_refund *r = ecom__order_find_refund(o, ((refund_args *)c->ctx)->key);
    return r == NULL || !r->pending;
}

static int apply_drop(ecom_store *store, ecom_order *o, change *c)
{
    (void)store;
    ecom__order_drop_refund(o, ((refund_args *)c->ctx)->key);
    c->event = "refund_refused";
    return ECOM_OK;
}

/* After rc failed: runs c, and answers rc with its message (and suffix), or c's error. */
static int record_failure(ecom_store *store, const char *id, change *c, int rc,
                          const char *suffix)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
    int recorded = run_change(store, id, ECOM_VERSION_ANY, c);
    return recorded == ECOM_OK ? ecom__fail(store, rc, "%s%s", msg, suffix) : recorded;
}

/* Steps 2 and 3 for the refund reserved under a->key: made through the provider, then
 * confirmed (with confirm, the move that goes with it) or, refused, forgotten. */
static int settle_refund(ecom_store *store, const char *id, refund_args *a, change *confirm)
{
    ecom_order *o = NULL;
    int rc = ecom__order_read(&o, store, id);
    if (rc != ECOM_OK)
        return rc;
    const ecom__order_refund *r = ecom__order_find_refund(o, a->key);
    bool declined = false;
    if (r == NULL)
        rc = ecom__fail(store, ECOM_ECONFLICT, "order '%s': refund '%s' is no longer pending "
                        "(refused meanwhile)", id, a->key);
    else if (r->pending)
        rc = provider_refund(store, o, r, &declined);
    ecom_order_free(o);
    if (rc == ECOM_OK && (rc = run_change(store, id, ECOM_VERSION_ANY, confirm)) != ECOM_OK &&
        confirm->apply != apply_confirm) {
        /* The move that was to confirm it cannot be made now (a cancel after the order
         * moved on): the money went out, so the refund is confirmed alone. */
        change alone = {.apply = apply_confirm, .done = confirm_done, .ctx = a,
                        .who = confirm->who, .why = confirm->why};
        return record_failure(store, id, &alone, rc, " (its refund was made and is recorded)");
    }
    if (rc == ECOM_OK || !declined)
        return rc;
    change drop = {.apply = apply_drop, .done = dropped, .ctx = a, .who = confirm->who};
    return record_failure(store, id, &drop, rc, "");
}

/* ---- cancel ---- */

/* The units of a paid order were sold (its holds committed): a cancel returns them to
 * stock at the order's location, each line a "return" in the ledger. */
static size_t return_ops(change *c, const ecom_order *o, const char *note)
{
    size_t n = 0;
    for (size_t i = 0; i < o->line_count && n < c->inv_cap; i++) {
        int64_t q = o->lines[i].quantity - o->lines[i].shipped;
        if (q <= 0)
            continue;
        c->inv[n++] = (ecom_inventory_op){.kind = ECOM_INV_ADJUST, .sku = o->lines[i].sku,
                                          .location = o->location,
                                          .adjust_kind = ECOM_ADJUST_RETURN, .quantity = q,
                                          .text = note, .reference = o->id};
    }
    return n;
}

int ecom__void_order_charge(ecom_store *store, const ecom_order *o)
{
    if (o->payment_key[0] == '\0')
        return ECOM_OK;
    const ecom_payment_provider *pp = ecom__payments(store);
    ecom_payment_result res = {0};
    int rc = pp->lookup(pp->ctx, o->payment_key, &res);
    if (rc == ECOM_ENOTFOUND || (rc == ECOM_OK && !res.approved)) {
        ecom__clear(store);
        return ECOM_OK;
    }
    if (rc == ECOM_OK) {
        char key[ECOM_ID_MAX + 16];
        snprintf(key, sizeof key, "void-cancel-%s", o->id);
        char charge[sizeof res.charge_id];
        snprintf(charge, sizeof charge, "%s", res.charge_id);
        int64_t amount = res.amount > 0 ? res.amount : o->total;
        rc = pp->void_charge(pp->ctx, charge, key, &res);
        if (rc == ECOM_OK && res.approved)
            return ECOM_OK;
        /* A declined void stays declined under its key (a captured charge often cannot
         * be voided): the money goes back as a refund of it all, under a key of its own. */
        if (rc == ECOM_OK) {
            snprintf(key, sizeof key, "refund-void-%s", o->id);
            rc = pp->refund(pp->ctx, charge, amount, key, &res);
            if (rc == ECOM_OK && res.approved)
                return ECOM_OK;
        }
    }
    return ecom__fail(store, rc == ECOM_ETIMEOUT ? rc : ECOM_EPAYMENT, "order '%s': cannot "
                      "tell or undo what its payment took (%s); retry", o->id,
                      rc == ECOM_OK ? "the void and the refund were declined"
                                    : ecom_strerror(rc));
}

/* ECOM_OK if o may be cancelled now (by its state, and nothing shipped); else why not. */
static int cancellable(ecom_store *store, const ecom_order *o)
{
    if (o->state != ECOM_ORDER_PENDING_PAYMENT && o->state != ECOM_ORDER_PAID &&
        o->state != ECOM_ORDER_FULFILLING)
        return ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: only an order pending "
                          "payment, paid or fulfilling (nothing shipped) can be cancelled",
                          o->id, state_name(o->state));
    for (size_t i = 0; i < o->line_count; i++)
        if (o->lines[i].shipped > 0)
            return ecom__fail(store, ECOM_ESTATE, "order '%s': SKU '%s' has shipped units; "
                              "a shipped order cannot be cancelled", o->id, o->lines[i].sku);
    return ECOM_OK;
}

static int apply_cancel(ecom_store *store, ecom_order *o, change *c)
{
    int cannot = cancellable(store, o);
    if (cannot != ECOM_OK)
        return cannot;
    const char *why = c->why && *c->why ? c->why : "cancelled";
    if (o->state == ECOM_ORDER_PENDING_PAYMENT) /* cancel_unpaid's, read as paid */
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s' is pending payment; retry the "
                          "cancel", o->id);
    /* What was left was refunded before this (reserve_cancel, settle_refund), under the
     * cancel's key: confirmed here, with the cancel. */
    const refund_args *a = c->ctx;
    int rc = a ? ecom__order_confirm_refund(o, a->key) : ECOM_ENOTFOUND;
    if (rc == ECOM_EPRICE)
        return ecom__fail(store, rc, "order '%s': refunded would overflow", o->id);
    if (left_to_refund(o) > 0)
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s': %lld is not refunded yet; "
                          "retry the cancel", o->id, (long long)(o->total - o->refunded));
    c->inv_count = return_ops(c, o, "order cancelled");
    o->reason = ecom__order_strdup(o, why);
    if (o->reason == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory cancelling order '%s'", o->id);
    return push(store, o, ECOM_ORDER_CANCELLED, c, why);
}

/* A paid order's cancel refunds what is left first: reserved under the cancel's key
 * (the order must still be cancellable), made through the provider, then confirmed by
 * the cancel itself (apply_cancel), in the same unit as the stock's return. */
static int reserve_cancel(ecom_store *store, ecom_order *o, change *c)
{
    refund_args *a = c->ctx;
    int cannot = cancellable(store, o);
    if (cannot != ECOM_OK)
        return cannot;
    if (o->state == ECOM_ORDER_PENDING_PAYMENT) /* nothing was paid: nothing to refund */
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s' is pending payment; retry the "
                          "cancel", o->id);
    /* Another refund still pending may yet be refused, and then its money would stay
     * with a cancelled order: the cancel waits until every refund is settled. */
    if (ecom__order_pending_refunds(o) > 0)
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s': refunds are pending; retry the "
                          "cancel when they are done", o->id);
    a->amount = left_to_refund(o);
    if (a->amount <= 0) /* refunded in full since cancel_refunds read it */
        return ecom__fail(store, ECOM_ECONFLICT, "order '%s' was refunded meanwhile; retry "
                          "the cancel", o->id);
    return reserve(store, o, c, a);
}

/* How a cancel of the order (as read now) goes. */
typedef enum cancel_plan {
    CANCEL_UNPAID,    /* pending payment: marked, voided, cancelled (cancel_unpaid) */
    CANCEL_REFUNDING, /* paid or fulfilling with money left to refund, or whose cancel's
                         refund was reserved already: refunded first */
    CANCEL_PLAIN      /* the rest: one move (or the reason it cannot be made) */
} cancel_plan;

static int plan_cancel(ecom_store *store, const char *id, const char *key, cancel_plan *plan)
{
    ecom_order *o = NULL;
    int rc = ecom__order_read(&o, store, id);
    if (rc != ECOM_OK)
        return rc;
    if (o->state == ECOM_ORDER_PENDING_PAYMENT)
        *plan = CANCEL_UNPAID;
    else if (ecom__order_find_refund(o, key) != NULL ||
             ((o->state == ECOM_ORDER_PAID || o->state == ECOM_ORDER_FULFILLING) &&
              o->total > o->refunded))
        *plan = CANCEL_REFUNDING;
    else
        *plan = CANCEL_PLAIN;
    ecom_order_free(o);
    return ECOM_OK;
}

/* An order pending payment may be charged at any moment: ecom__cancel_and_void marks
 * it, voids what was taken, then cancels it. One already marked is finished whatever
 * version is given (the cancel was decided): that is how a cancel whose void failed is
 * retried. ECOM_ECONFLICT with *moved: it left pending_payment meanwhile. */
static int cancel_unpaid(ecom_store *store, const char *id, uint64_t expected,
                         const char *who, const char *why, bool *moved)
{
    ecom_order *o = NULL;
    int rc = ecom__order_read(&o, store, id);
    if (rc != ECOM_OK)
        return rc;
    bool marked = ecom__order_cancelling(o);
    *moved = o->state != ECOM_ORDER_PENDING_PAYMENT;
    if (*moved)
        rc = ecom__fail(store, ECOM_ECONFLICT, "order '%s' is %s now, no longer pending "
                        "payment: read it again", id, state_name(o->state));
    else if (!marked && expected != ECOM_VERSION_ANY && o->version != expected)
        rc = ecom__fail(store, ECOM_ECONFLICT, "order '%s' is at version %llu, not %llu "
                        "(stale write)", id, (unsigned long long)o->version,
                        (unsigned long long)expected);
    else if ((rc = ecom__cancel_and_void(store, o, who, why)) == ECOM_ECONFLICT && !marked)
        *moved = true; /* the mark lost its compare-and-set */
    ecom_order_free(o);
    return rc;
}

/* After a cancel from pending_payment, or a repeated cancel of such an order (which
 * is how a failed void is retried): voids what the order's payment took. */
static int void_cancelled(ecom_store *store, const char *id)
{
    ecom_order *o = NULL;
    int rc = ecom__order_read(&o, store, id);
    if (rc == ECOM_OK && o->state == ECOM_ORDER_CANCELLED && !ecom__order_was_paid(o))
        rc = ecom__void_order_charge(store, o);
    ecom_order_free(o);
    return rc;
}

int ecom_order_cancel(ecom_store *store, const char *id, uint64_t expected_version,
                      const char *who, const char *why)
{
    int rc = check_move_args(store, id, who, why);
    if (rc != ECOM_OK)
        return rc;
    size_t cap = ECOM__ORDER_LINES_MAX + ECOM__ORDER_CLAIMS_MAX + 1;
    char key[ECOM_ID_MAX + 16];
    cancel_refund_key(key, sizeof key, id);
    refund_args a = {0, key};
    change c = {.apply = apply_cancel, .ctx = &a, .who = who_or_system(who), .why = why,
                .inv_cap = cap};
    c.inv = ecom__calloc(cap, sizeof *c.inv);
    c.sales = ecom__calloc(cap, sizeof *c.sales);
    if (c.inv == NULL || c.sales == NULL)
        rc = ecom__fail(store, ECOM_ENOMEM, "out of memory cancelling order '%s'", id);
    cancel_plan plan = CANCEL_PLAIN;
    for (int attempt = 1; rc == ECOM_OK; attempt++) {
        bool moved = false;
        if ((rc = plan_cancel(store, id, key, &plan)) != ECOM_OK || plan != CANCEL_UNPAID)
            break;
        rc = cancel_unpaid(store, id, expected_version, c.who, why, &moved);
        if (rc != ECOM_ECONFLICT || !moved || expected_version != ECOM_VERSION_ANY ||
            attempt == ORDER_RETRIES)
            break;
        rc = ECOM_OK; /* paid, or marked by another cancel, meanwhile: plan again */
    }
    if (rc == ECOM_OK && plan == CANCEL_PLAIN) {
        rc = run_change(store, id, expected_version, &c);
        if (rc == ECOM_ESTATE) { /* cancelled already: a charge may have landed since */
            char msg[256];
            snprintf(msg, sizeof msg, "%s", ecom_errmsg(store));
            int voided = void_cancelled(store, id);
            rc = voided != ECOM_OK ? voided : ecom__fail(store, ECOM_ESTATE, "%s", msg);
        }
    } else if (rc == ECOM_OK && plan == CANCEL_REFUNDING) {
        change reserve = {.apply = reserve_cancel, .done = refund_known, .ctx = &a,
                          .who = c.who, .why = why};
        rc = run_change(store, id, expected_version, &reserve);
        if (rc == ECOM_OK)
            rc = settle_refund(store, id, &a, &c);
    }
    ecom__free(c.inv);
    ecom__free(c.sales);
    return rc;
}

/* ---- refund ---- */

int ecom_order_refund(ecom_store *store, const char *id, uint64_t expected_version,
                      int64_t amount, const char *refund_key, const char *who, const char *why)
{
    char msg[200];
    int rc = check_move_args(store, id, who, why);
    if (rc != ECOM_OK)
        return rc;
    if (refund_key == NULL)
        return ecom__fail(store, ECOM_EINVAL, "refund_key: NULL");
    rc = ecom__check_text(refund_key, REFUND_KEY_MAX, false, true, "refund_key", msg, sizeof msg);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "%s", msg);
    if (strncmp(refund_key, CANCEL_REFUND_PREFIX, strlen(CANCEL_REFUND_PREFIX)) == 0)
        return ecom__fail(store, ECOM_EINVAL, "refund_key '%s': keys starting '%s' are the "
                          "store's own (a cancel's refund)", refund_key, CANCEL_REFUND_PREFIX);
    if (amount <= 0)
        return ecom__fail(store, ECOM_EPRICE, "amount: %lld; a refund is at least 1",
                          (long long)amount);
    refund_args a = {amount, refund_key};
    change reserve = {.apply = apply_reserve, .done = refund_known, .ctx = &a,
                      .who = who_or_system(who), .why = why};
    change confirm = {.apply = apply_confirm, .done = confirm_done, .ctx = &a,
                      .who = reserve.who, .why = why};
    rc = run_change(store, id, expected_version, &reserve);
    return rc == ECOM_OK ? settle_refund(store, id, &a, &confirm) : rc;
}
