/*
 * Completion: the one way an order leaves pending_payment. The checkout pays
 * (authorize, capture) and completes; the provider's notification and the recovery
 * sweep complete from the provider's record of that same payment. Every path ends in
 * complete_paid or cancel_pending, a compare-and-set from pending_payment, so only one
 * of them wins, and the provider is always called with the order's own idempotency
 * keys, so it charges once. A path that finds the order cancelled under it voids what
 * the payment took. A cancel of an order pending payment (ecom__cancel_and_void) marks
 * it first, so that no path pays it while its charge is voided, and every path that
 * meets the mark finishes that cancel.
 */
#include <stdio.h>
#include <string.h>

#include "inventory.h"
#include "orders.h"

/* The longest charge id a provider can hand back (ecom_payment_result.charge_id). */
#define ECOM__CHARGE_ID_MAX (sizeof ((ecom_payment_result *)0)->charge_id - 1)

/* ---- paying, and the one completion path ---- */

/* Cancels a pending order: its holds go back. A hold that already ended (expired, or a
 * claim gone with its sale) needs no release and is no reason to keep the order open:
 * its release is dropped, and the others are written again. */
static int cancel_pending_by(ecom_store *store, ecom_order *o, const char *who, const char *why)
{
    ecom_inventory_op ops[ECOM__ORDER_CLAIMS_MAX + 1];
    char sales[ECOM__ORDER_CLAIMS_MAX + 1][ECOM_ID_MAX + 1];
    size_t n = ecom__order_stock_ops(ops, sales, ECOM__ORDER_CLAIMS_MAX + 1, o, false);
    o->reason = ecom__order_strdup(o, why);
    if (o->reason == NULL)
        return ecom__fail(store, ECOM_ENOMEM, "out of memory");
    int rc = ecom__order_push(o, ECOM_ORDER_CANCELLED, ecom__now(store), who, why);
    if (rc != ECOM_OK)
        return ecom__fail(store, rc, "out of memory");
    for (;;) {
        rc = ecom__order_write(store, o, ECOM_ORDER_UPDATE, ops, n, NULL);
        if ((rc != ECOM_EEXPIRED && rc != ECOM_EENDED && rc != ECOM_ENOTFOUND) || n == 0)
            return rc; /* written, or the order's own refusal */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (ops[i].result != rc)
                ops[kept++] = ops[i];
        /* A backend that names no refused release (the contract promises the write's
         * result only): then every release is dropped, as an older core did. */
        n = kept == n ? 0 : kept;
    }
}

static int cancel_pending(ecom_store *store, ecom_order *o, const char *why)
{
    return cancel_pending_by(store, o, "checkout", why);
}

bool ecom__ended_cancelled(int rc)
{
    return rc == ECOM_EDECLINED || rc == ECOM_EEXPIRED || rc == ECOM_EENDED ||
           rc == ECOM_ESTATE;
}

bool ecom__order_cancelling(const ecom_order *o)
{
    return o->state == ECOM_ORDER_PENDING_PAYMENT && o->reason[0] != '\0';
}

int ecom__cancel_and_void(ecom_store *store, ecom_order *o, const char *who, const char *why)
{
    int rc = ECOM_OK;
    if (!ecom__order_cancelling(o)) { /* step 1: the mark, by compare-and-set */
        o->reason = ecom__order_strdup(o, why && *why ? why : "cancelled");
        rc = o->reason ? ecom__order_write_event(store, o, "cancelling")
                       : ecom__fail(store, ECOM_ENOMEM, "out of memory");
        if (rc != ECOM_OK)
            return rc;
    }
    if ((rc = ecom__void_order_charge(store, o)) != ECOM_OK) /* step 2 */
        return rc;
    rc = cancel_pending_by(store, o, who, o->reason); /* step 3 */
    if (rc != ECOM_ECONFLICT)
        return rc;
    ecom_order *now = NULL; /* another path finished it first: fine if cancelled */
    rc = ecom__order_read(&now, store, o->id);
    if (rc == ECOM_OK && now->state != ECOM_ORDER_CANCELLED)
        rc = ecom__fail(store, ECOM_ECONFLICT, "order '%s' moved while it was cancelled; "
                        "retry", o->id);
    ecom_order_free(now);
    return rc;
}

/* o was found marked as being cancelled: this path finishes the cancel (so a crash or a
 * failed void between the steps is carried on by whoever meets the order next), and
 * says so. */
static int finish_cancelling(ecom_store *store, ecom_order *o)
{
    int rc = ecom__cancel_and_void(store, o, "checkout", o->reason);
    if (rc == ECOM_ECONFLICT) /* moved under it: a retry sees how (a key stays open) */
        return ecom__fail(store, ECOM_EBUSY, "order '%s' is being cancelled elsewhere; "
                          "retry", o->id);
    return rc == ECOM_OK ? ecom__fail(store, ECOM_ESTATE, "order '%s' was cancelled: %s",
                                      o->id, o->reason)
                         : rc;
}

/* The order as stored, in place of the copy in hand, when it may have been marked as
 * being cancelled since that copy was read: ECOM_OK, or an error reported. */
static int reread(ecom_store *store, ecom_order **order)
{
    ecom_order *now = NULL;
    int rc = ecom__order_read(&now, store, (*order)->id);
    if (rc != ECOM_OK)
        return rc;
    ecom_order_free(*order);
    *order = now;
    return ECOM_OK;
}

/* The order was found cancelled (by ecom_order_cancel, the recovery sweep or a
 * decline) while a payment for it ran: what that payment took is voided, and the
 * caller hears why. An order paid before its cancel was refunded by it: no void. */
int ecom__cancelled_meanwhile(ecom_store *store, const ecom_order *o)
{
    int rc = ecom__order_was_paid(o) ? ECOM_OK : ecom__void_order_charge(store, o);
    if (rc != ECOM_OK)
        return rc;
    return ecom__fail(store, ECOM_ESTATE, "order '%s' was cancelled: %s", o->id, o->reason);
}

/* What a paid order bought leaves its cart: a TAKE of its lines, so that what the
 * buyer added while paying stays (a backend before version 5 can only clear it). */
typedef struct cart_take {
    ecom_cart_op op;
    const char *skus[ECOM__ORDER_LINES_MAX];
    int64_t quantities[ECOM__ORDER_LINES_MAX];
} cart_take;

static void cart_take_init(cart_take *t, ecom_store *store, const ecom_order *o)
{
    for (size_t i = 0; i < o->line_count; i++) {
        t->skus[i] = o->lines[i].sku;
        t->quantities[i] = o->lines[i].quantity;
    }
    t->op = (ecom_cart_op){.kind = store->be->version >= 5 ? ECOM_CART_TAKE : ECOM_CART_CLEAR,
                           .cart = o->cart, .ttl_ms = ecom__cart_ttl(store, o->cart),
                           .skus = t->skus, .quantities = t->quantities,
                           .line_count = o->line_count};
}

/*
 * The one completion path: pending_payment -> paid with the charge, committing the
 * stock and taking what it bought from its cart in the same unit, and then's writes
 * (the checkout's: finish the key) only if that is applied. Whoever completes it (the
 * checkout, its retry, a notification, the recovery sweep) does all of it once; who
 * loses the race finds the order already paid and reports success.
 */
static int complete_paid(ecom_store *store, ecom_order **order, const char *charge_id,
                         const ecom__order_then *then)
{
    ecom_order *o = *order;
    ecom_inventory_op ops[ECOM__ORDER_CLAIMS_MAX + 1];
    char sales[ECOM__ORDER_CLAIMS_MAX + 1][ECOM_ID_MAX + 1];
    size_t n = ecom__order_stock_ops(ops, sales, ECOM__ORDER_CLAIMS_MAX + 1, o, true);
    ecom__order_then all = {.n = 0};
    cart_take take;
    if (o->cart[0]) { /* "" for an order made before orders named their cart */
        cart_take_init(&take, store, o);
        all.kinds[all.n] = ECOM__WRITE_CART;
        all.ops[all.n++] = &take.op;
    }
    for (size_t i = 0; then && i < then->n; i++) {
        all.kinds[all.n] = then->kinds[i];
        all.ops[all.n++] = then->ops[i];
    }
    o->charge_id = ecom__order_strdup(o, charge_id);
    int rc = o->charge_id ? ecom__order_push(o, ECOM_ORDER_PAID, ecom__now(store), "checkout",
                                             "payment approved")
                          : ECOM_ENOMEM;
    if (rc == ECOM_OK)
        rc = ecom__order_write_then(store, o, ops, n, &all);
    if (rc != ECOM_ECONFLICT)
        return rc;
    /* Someone else moved it: read what they did. */
    ecom_order *now = NULL;
    rc = ecom__order_read(&now, store, o->id);
    if (rc != ECOM_OK)
        return rc;
    ecom_order_free(o);
    *order = now;
    if (ecom__order_cancelling(now))
        return finish_cancelling(store, now);
    if (now->state == ECOM_ORDER_PENDING_PAYMENT)
        return ecom__fail(store, ECOM_EBUSY, "order '%s' is being completed elsewhere", now->id);
    if (now->state == ECOM_ORDER_CANCELLED)
        return ecom__cancelled_meanwhile(store, now);
    return ECOM_OK;
}

/* The stock could not be committed after the payment (the hold expired while the buyer
 * paid): the order is cancelled and its charge voided. From the order as stored: the
 * one in hand carries the paid entry that was not written. */
static int undo_payment(ecom_store *store, ecom_order **order, int why)
{
    ecom_order *o = NULL;
    int rc = ecom__order_read(&o, store, (*order)->id);
    if (rc != ECOM_OK)
        return rc;
    ecom_order_free(*order);
    *order = o;
    if (o->state == ECOM_ORDER_CANCELLED)
        return ecom__cancelled_meanwhile(store, o);
    if (o->state != ECOM_ORDER_PENDING_PAYMENT)
        return ECOM_OK; /* completed elsewhere after all */
    rc = ecom__cancel_and_void(store, o, "checkout", "stock hold ended before payment "
                               "completed");
    if (rc == ECOM_ECONFLICT) /* moved under it: a retry sees how (a key stays open) */
        return ecom__fail(store, ECOM_EBUSY, "order '%s' moved while its payment was undone; "
                          "retry", o->id);
    return rc == ECOM_OK ? ecom__fail(store, why, "order '%s': the stock hold ended while "
                                                  "paying; the charge was voided", o->id)
                         : rc;
}

/* A payment the order cannot be paid with, though approved: its capture was declined
 * (the authorization expired, say: the same key would be declined again), or the
 * provider approved another amount than the order's total (a partial authorization).
 * The order is cancelled like a declined payment, what the payment took given back. */
static int refuse_payment(ecom_store *store, ecom_order *o, const char *why)
{
    int rc = ecom__cancel_and_void(store, o, "checkout", why);
    if (rc == ECOM_ECONFLICT) /* moved under it: a retry sees how (a key stays open) */
        return ecom__fail(store, ECOM_EBUSY, "order '%s' moved while its refused payment was "
                          "recorded; retry", o->id);
    return rc == ECOM_OK ? ecom__fail(store, ECOM_EDECLINED, "order '%s': %s; the payment was "
                                      "voided and the stock went back", o->id, why)
                         : rc;
}

/* A payment call that failed may have taken money all the same (its answer lost). If
 * the order was marked or cancelled meanwhile (a sweep that found no payment yet, a
 * cancel), nothing will come for it any more, so what the call took is voided now (the
 * cancel finished if only marked), and the answer is the cancel's. A sweep marks the
 * order before its void looks the payment up again, so one of the two sees the charge:
 * this call finds the mark, or the void's lookup comes after the charge. Otherwise the
 * failure stands, and a retry with the same key carries the order on. */
static int payment_failed(ecom_store *store, const ecom_order *o, int rc, const char *what)
{
    ecom_order *now = NULL;
    if (ecom__order_read(&now, store, o->id) == ECOM_OK &&
        (now->state == ECOM_ORDER_CANCELLED || ecom__order_cancelling(now))) {
        int cancelled = now->state == ECOM_ORDER_CANCELLED ? ecom__cancelled_meanwhile(store, now)
                                                           : finish_cancelling(store, now);
        ecom_order_free(now);
        return cancelled;
    }
    ecom_order_free(now);
    return ecom__fail(store, rc, "order '%s': %s; retry with the same key", o->id, what);
}

/* Captures an approved authorization (with the order's own key) unless the provider
 * captured it already, and completes the order (with then, see complete_paid). */
static int capture_and_complete(ecom_store *store, ecom_order **order,
                                const ecom_payment_result *auth, const ecom__order_then *then)
{
    /* No capture for an order being cancelled: as stored now, if a capture is due (the
     * copy in hand may predate a mark; a capture done cannot always be voided). */
    int rc = auth->captured ? ECOM_OK : reread(store, order);
    if (rc != ECOM_OK)
        return rc;
    if (ecom__order_cancelling(*order))
        return finish_cancelling(store, *order);
    if ((*order)->state != ECOM_ORDER_PENDING_PAYMENT)
        return (*order)->state == ECOM_ORDER_CANCELLED ? ecom__cancelled_meanwhile(store, *order)
                                                      : ECOM_OK; /* completed elsewhere */
    if (auth->charge_id[0] == '\0') /* a provider's fault: nothing could refund it */
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the payment provider approved it "
                          "without a charge id; the order stays pending: retry", (*order)->id);
    char why[sizeof auth->reason + 64];
    if (auth->amount > 0 && auth->amount != (*order)->total) {
        snprintf(why, sizeof why, "the payment provider approved %lld, not the total %lld",
                 (long long)auth->amount, (long long)(*order)->total);
        return refuse_payment(store, *order, why);
    }
    const ecom_payment_provider *pp = ecom__payments(store);
    char key[ECOM__KEY_MAX + 1];
    snprintf(key, sizeof key, "capture-%s", (*order)->id);
    ecom_payment_result cap = {0};
    rc = auth->captured ? ECOM_OK
                        : pp->capture(pp->ctx, auth->charge_id, (*order)->total, key, &cap);
    if (rc != ECOM_OK)
        return payment_failed(store, *order, rc == ECOM_ETIMEOUT ? rc : ECOM_EPAYMENT,
                              "capture failed");
    if (!auth->captured && !cap.approved) {
        snprintf(why, sizeof why, "the payment provider declined its capture (%s)",
                 cap.reason[0] ? cap.reason : "no reason given");
        return refuse_payment(store, *order, why);
    }
    rc = complete_paid(store, order, auth->charge_id, then);
    if (rc == ECOM_EEXPIRED || rc == ECOM_EENDED)
        return undo_payment(store, order, rc);
    return rc;
}

/* Authorizes and captures the order's total with its own keys, then completes it;
 * then's writes ride on the completion (see complete_paid). */
int ecom__pay(ecom_store *store, ecom_order **order, const char *token,
              const ecom__order_then *then)
{
    ecom_order *o = *order;
    if (ecom__order_cancelling(o)) /* a retry meeting a cancel half made: not charged */
        return finish_cancelling(store, o);
    const ecom_payment_provider *pp = ecom__payments(store);
    /* Automatic capture where the provider offers it: one call instead of two. */
    ecom_payment_request req = {o->id, token, o->total, o->currency, o->payment_key, 1};
    ecom_payment_result res = {0};
    int rc = pp->authorize(pp->ctx, &req, &res);
    if (rc == ECOM_ETIMEOUT || rc == ECOM_EPAYMENT)
        return payment_failed(store, o, rc, rc == ECOM_ETIMEOUT ? "the payment provider did "
                                                                  "not answer"
                                                                : "the payment provider failed");
    /* The built-in provider's own store may fail (memory, backend, a damaged or missing
     * ledger): said as it is. Any other code is outside the contract, and must not pass
     * for the order's end (a decline): it is the provider's failure, retryable. */
    if (rc == ECOM_ENOMEM || rc == ECOM_EBACKEND || rc == ECOM_EBUSY || rc == ECOM_ECORRUPT ||
        rc == ECOM_EUNSUPPORTED)
        return ecom_errcode(store) == rc ? rc : ecom__fail(store, rc, "order '%s': payment: %s",
                                                           o->id, ecom_strerror(rc));
    if (rc != ECOM_OK)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the payment provider answered "
                          "'%s', which its contract does not allow (ECOM_OK, ECOM_ETIMEOUT or "
                          "ECOM_EPAYMENT); retry with the same key", o->id, ecom_strerror(rc));
    if (!res.approved) {
        rc = cancel_pending(store, o, res.reason[0] ? res.reason : "declined");
        if (rc == ECOM_ECONFLICT) /* marked or moved meanwhile: a retry sees how */
            return ecom__fail(store, ECOM_EBUSY, "order '%s' moved while its decline was "
                              "recorded; retry", o->id);
        return rc == ECOM_OK ? ecom__fail(store, ECOM_EDECLINED, "order '%s': payment declined "
                                          "(%s); the stock went back", o->id, o->reason)
                             : rc;
    }
    return capture_and_complete(store, order, &res, then);
}

/* ---- the other two ways in: the provider's notification and the recovery sweep ---- */

/* An approval completes the order as recovery does, from the provider's own record of
 * the order's authorize (found by its payment key), captured unless the provider did:
 * the notification alone never marks an order paid. One the record does not bear out
 * leaves the order pending, for a later notification, retry or recovery. */
static int notified_approved(ecom_store *store, ecom_order **order)
{
    const ecom_payment_provider *pp = ecom__payments(store);
    const char *id = (*order)->id;
    ecom_payment_result res = {0};
    int rc = pp->lookup(pp->ctx, (*order)->payment_key, &res);
    if (rc == ECOM_ETIMEOUT)
        return ecom__fail(store, rc, "order '%s': the payment provider did not answer the "
                          "lookup of its payment; the order stays pending: retry", id);
    if (rc != ECOM_OK && rc != ECOM_ENOTFOUND)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the payment provider failed to "
                          "look up its payment (%s); the order stays pending: retry", id,
                          ecom_strerror(rc));
    if (rc == ECOM_ENOTFOUND || !res.approved)
        return ecom__fail(store, ECOM_EPAYMENT, "order '%s': the notification says approved, "
                          "the payment provider %s; the order stays pending: retry", id,
                          rc == ECOM_ENOTFOUND ? "has no record of its payment"
                                               : "says it was not");
    return capture_and_complete(store, order, &res, NULL);
}

int ecom_payment_notify(ecom_store *store, const char *order_id, int approved,
                        const char *charge_id, const char *reason)
{
    int rc = ecom__enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, order_id, "order_id");
    if (rc == ECOM_OK && approved && (charge_id == NULL || *charge_id == '\0'))
        rc = ecom__fail(store, ECOM_EINVAL, "charge_id: required when approved");
    if (rc == ECOM_OK && approved && strlen(charge_id) > ECOM__CHARGE_ID_MAX)
        rc = ecom__fail(store, ECOM_ETOOLONG, "charge_id: %zu bytes, longer than %zu",
                        strlen(charge_id), ECOM__CHARGE_ID_MAX);
    if (rc == ECOM_OK && !approved)
        rc = ecom__check_note(store, reason, "reason"); /* kept as the order's reason */
    if (rc != ECOM_OK)
        return rc;
    ecom_order *o = NULL;
    if ((rc = ecom__order_read(&o, store, order_id)) != ECOM_OK)
        return rc;
    if (o->state == ECOM_ORDER_CANCELLED) {
        rc = ecom__cancelled_meanwhile(store, o); /* voids what a late charge took */
    } else if (o->state != ECOM_ORDER_PENDING_PAYMENT) {
        rc = approved ? ECOM_OK
                      : ecom__fail(store, ECOM_ESTATE, "order '%s' is %s: the notification "
                                   "is stale", order_id, ecom_order_state_name(o->state));
    } else if (approved && ecom__order_cancelling(o)) { /* the cancel was decided */
        rc = finish_cancelling(store, o);
    } else if (approved) {
        rc = notified_approved(store, &o);
    } else {
        /* A decline the provider's record contradicts (out of order, or forged) must not
         * leave money with a cancelled order: whatever was taken is voided. */
        rc = ecom__cancel_and_void(store, o, "checkout", reason && *reason ? reason
                                                                           : "declined");
    }
    ecom_order_free(o);
    return rc;
}

/* Finishes one abandoned order from what the provider knows of its payment. */
static int recover_one(ecom_store *store, ecom_order **order)
{
    const ecom_payment_provider *pp = ecom__payments(store);
    ecom_payment_result res = {0};
    if (ecom__order_cancelling(*order)) /* a cancel half made: carried on */
        return ecom__cancel_and_void(store, *order, "checkout", (*order)->reason);
    int rc = pp->lookup(pp->ctx, (*order)->payment_key, &res);
    if (rc == ECOM_ENOTFOUND) /* marked first: a charge landing now is voided (payment_failed) */
        return ecom__cancel_and_void(store, *order, "checkout", "abandoned before payment");
    if (rc != ECOM_OK)
        return rc;
    if (!res.approved)
        return cancel_pending(store, *order, res.reason[0] ? res.reason : "declined");
    rc = capture_and_complete(store, order, &res, NULL);
    if (ecom__ended_cancelled(rc)) { /* finished, as much as paid is */
        ecom__clear(store);
        rc = ECOM_OK;
    }
    return rc;
}

/* The pending orders of one scan, collected to be recovered once the scan is over (a
 * scan reads one snapshot; recovery writes). */
#define ECOM__RECOVER_BATCH 100

typedef struct pending_batch {
    int64_t older_than;
    char ids[ECOM__RECOVER_BATCH][ECOM_ID_MAX + 1];
    size_t count;
    ecom__buf last_key; /* of the last order collected: the next scan resumes after it */
    bool more;
} pending_batch;

static int collect_pending(void *ctx, const ecom_order_rec *rec, uint64_t version,
                           const void *key, size_t key_len)
{
    pending_batch *b = ctx;
    (void)version;
    /* The backend filters; this only guards against one that does not. */
    if (rec->state != ECOM_ORDER_PENDING_PAYMENT || rec->created_at >= b->older_than)
        return 0;
    if (b->count == ECOM__RECOVER_BATCH) {
        b->more = true;
        return 1;
    }
    snprintf(b->ids[b->count++], sizeof b->ids[0], "%s", rec->id);
    b->last_key.len = 0;
    return ecom__buf_put(&b->last_key, key, key_len);
}

/* Recovers the orders of one batch (those still pending when their turn comes).
 * Returns how many were finished; one that could not be (the provider did not
 * answer) stays pending for the next sweep. */
static uint64_t recover_batch(ecom_store *store, const pending_batch *b)
{
    uint64_t done = 0;
    for (size_t i = 0; i < b->count; i++) {
        ecom_order *o = NULL;
        int rc = ecom__order_read(&o, store, b->ids[i]);
        if (rc == ECOM_OK && o->state == ECOM_ORDER_PENDING_PAYMENT)
            rc = recover_one(store, &o);
        ecom_order_free(o);
        done += rc == ECOM_OK;
    }
    return done;
}

/* Walks the pending orders created before older_than, newest first, a batch at a
 * time: each scan resumes after the last key of the one before, so every order is
 * visited once, however many younger ones were created meanwhile or old ones stay
 * pending. */
static int recover_older_than(uint64_t *recovered, ecom_store *store, int64_t older_than)
{
    pending_batch b = {.older_than = older_than};
    ecom__buf after = {0};
    int rc;
    do {
        ecom_order_scan scan = {.state = ECOM_ORDER_PENDING_PAYMENT, .older_than = older_than,
                                .after = after.data, .after_len = after.len};
        b.count = 0;
        b.more = false;
        if ((rc = store->be->order_scan(store->be, &scan, collect_pending, &b)) != ECOM_OK)
            break;
        ecom__buf resume = b.last_key; /* the next scan starts after this batch */
        b.last_key = after;
        after = resume;
        uint64_t done = recover_batch(store, &b);
        if (recovered)
            *recovered += done;
    } while (b.more);
    ecom__buf_free(&after);
    ecom__buf_free(&b.last_key);
    if (rc == ECOM_ENOMEM)
        return ecom__fail(store, rc, "out of memory");
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        return ecom__fail(store, rc, "recovery: listing pending orders: %s", ecom_strerror(rc));
    return rc;
}

int ecom_checkout_recover(uint64_t *recovered, ecom_store *store, int64_t older_than_ms)
{
    if (recovered)
        *recovered = 0;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (older_than_ms < 0)
        return ecom__fail(store, ECOM_EINVAL, "older_than_ms: negative");
    if (store->be->version < 3 || store->be->order_scan == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no checkout",
                          store->be->name);
    /* Orders created at or before now - older_than_ms: the scan's bound is exclusive,
     * and a bound of 0 would mean none. Order times are the store's clock, in ms since
     * the epoch: a cutoff outside them has no orders. */
    int64_t cutoff;
    if (__builtin_sub_overflow(ecom__now(store), older_than_ms, &cutoff) || cutoff < 0 ||
        cutoff == INT64_MAX)
        return ECOM_OK;
    return recover_older_than(recovered, store, cutoff + 1);
}
