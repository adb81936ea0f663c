/* Inventory writes: locations, adjustments, reservations, the sweeper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"

int ecom__inv_enter(ecom_store *store)
{
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    if (store->be->version < 2 || store->be->inventory_apply == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no inventory",
                          store->be->name);
    return ECOM_OK;
}

int ecom__check_quantity(ecom_store *store, int64_t q, const char *field)
{
    if (q == 0)
        return ecom__fail(store, ECOM_EQUANTITY, "%s: 0; must be at least 1", field);
    if (q < 0)
        return ecom__fail(store, ECOM_EQUANTITY, "%s: %lld is negative", field, (long long)q);
    if (q > ECOM_QUANTITY_MAX)
        return ecom__fail(store, ECOM_EQUANTITY, "%s: %lld is above the maximum %lld", field,
                          (long long)q, (long long)ECOM_QUANTITY_MAX);
    return ECOM_OK;
}

int ecom__check_note(ecom_store *store, const char *s, const char *field)
{
    char msg[200];
    int rc = s ? ecom__check_text(s, ECOM__NOTE_MAX, false, false, field, msg, sizeof msg)
               : ECOM_OK;
    return rc ? ecom__fail(store, rc, "%s", msg) : ECOM_OK;
}

const char *ecom__location(const char *location)
{
    return location ? location : ECOM_LOCATION_DEFAULT;
}

/* What an operation was about, for messages: "reservation 'r1'", "SKU 'x' at 'default'". */
static void describe(char *out, size_t size, const ecom_inventory_op *op)
{
    switch (op->kind) {
    case ECOM_INV_LOCATION_ADD:
        snprintf(out, size, "location '%s'", op->id);
        break;
    case ECOM_INV_ADJUST:
    case ECOM_INV_SET_SAFETY:
    case ECOM_INV_SET_ON_HAND:
        snprintf(out, size, "SKU '%s' at '%s'", op->sku, op->location);
        break;
    case ECOM_INV_SET_BACKORDER:
        snprintf(out, size, "SKU '%s'", op->sku);
        break;
    case ECOM_INV_RESERVE:
    case ECOM_INV_COMMIT:
    case ECOM_INV_RELEASE:
    case ECOM_INV_EXTEND:
        snprintf(out, size, "reservation '%s'", op->id);
        break;
    case ECOM_INV_FLASH_RELEASE:
    case ECOM_INV_FLASH_COMMIT:
    case ECOM_INV_FLASH_BIND:
        snprintf(out, size, "claim '%s:%llu'", op->id, (unsigned long long)op->ticket);
        break;
    default:
        snprintf(out, size, "sale '%s'", op->id ? op->id : "");
        break;
    }
}

/* For a reservation short of stock: how much there was. */
static int explain_insufficient(ecom_store *store, const ecom_inventory_op *op, const char *what)
{
    const char *sku = op->kind == ECOM_INV_RESERVE && op->failed_line < op->line_count
                          ? op->line_skus[op->failed_line]
                          : op->sku;
    int64_t wanted = op->kind == ECOM_INV_RESERVE && op->failed_line < op->line_count
                         ? op->line_quantities[op->failed_line]
                         : op->quantity;
    ecom_stock_rec rec = {0};
    if (sku == NULL || store->be->stock_get(store->be, sku, op->location, &rec) != ECOM_OK)
        return ecom__fail(store, ECOM_EINSUFFICIENT, "%s: not enough stock", what);
    if (op->kind == ECOM_INV_ADJUST || op->kind == ECOM_INV_SET_ON_HAND)
        return ecom__fail(store, ECOM_EINSUFFICIENT,
                          "%s: on hand %lld cannot go below the %lld reserved (or below 0)",
                          what, (long long)rec.on_hand, (long long)rec.reserved);
    int64_t sellable = rec.on_hand - rec.reserved - rec.safety;
    return ecom__fail(store, ECOM_EINSUFFICIENT, "%s: SKU '%s' has %lld sellable at '%s', "
                      "%lld wanted", what, sku, (long long)(sellable > 0 ? sellable : 0),
                      op->location, (long long)wanted);
}

static int state_fn(void *ctx, const ecom_reservation_rec *rec)
{
    *(int *)ctx = rec->state;
    return ECOM_OK;
}

/* A reservation that ended by expiry answers a late commit or extend with "expired",
 * whether the expiry happened just now or in an earlier sweep. */
static int ended_code(ecom_store *store, const ecom_inventory_op *op)
{
    int state = -1;
    if (op->kind != ECOM_INV_COMMIT && op->kind != ECOM_INV_EXTEND)
        return ECOM_EENDED;
    if (store->be->reservation_get(store->be, op->id, state_fn, &state) != ECOM_OK)
        return ECOM_EENDED;
    return state == ECOM_RESERVATION_EXPIRED ? ECOM_EEXPIRED : ECOM_EENDED;
}

static int explain(ecom_store *store, const ecom_inventory_op *op)
{
    char what[200];
    describe(what, sizeof what, op);
    int result = op->result == ECOM_EENDED ? ended_code(store, op) : op->result;
    switch (result) {
    case ECOM_ESKU: {
        const char *sku = op->kind == ECOM_INV_RESERVE && op->failed_line < op->line_count
                              ? op->line_skus[op->failed_line]
                              : op->sku;
        return ecom__fail(store, op->result, "%s: SKU '%s' is not in the catalog", what,
                          sku ? sku : "");
    }
    case ECOM_ELOCATION:
        return ecom__fail(store, op->result, "%s: location '%s' does not exist", what,
                          op->location ? op->location : "");
    case ECOM_EINSUFFICIENT:
        return explain_insufficient(store, op, what);
    case ECOM_ECONFLICT:
        return ecom__fail(store, op->result,
                          "%s already exists with other lines or another location", what);
    case ECOM_ENOTFOUND:
        return ecom__fail(store, op->result, "%s not found", what);
    case ECOM_EEXISTS:
        return ecom__fail(store, op->result, "%s already exists", what);
    case ECOM_EENDED:
        return ecom__fail(store, result, "%s has already ended", what);
    case ECOM_EEXPIRED:
        return ecom__fail(store, result, "%s has expired; its stock went back", what);
    case ECOM_EBUSY: /* queued, or (the backend names it) tied to an order being paid */
        if (ecom_errcode(store) == op->result)
            return op->result;
        return ecom__fail(store, op->result, "%s is still queued", what);
    default:
        if (ecom_errcode(store) == op->result)
            return op->result; /* the backend said it better */
        return ecom__fail(store, op->result, "%s: %s", what, ecom_strerror(op->result));
    }
}

int ecom__inv_run(ecom_store *store, ecom_inventory_op *op)
{
    op->result = ECOM_OK;
    int rc = ecom__committer_submit(store, op);
    return rc == ECOM_OK ? rc : explain(store, op);
}

static int check_sku_and_location(ecom_store *store, const char *sku, const char **location)
{
    int rc = ecom__check_id_arg(store, sku, "sku");
    if (rc == ECOM_OK && *location)
        rc = ecom__check_id_arg(store, *location, "location");
    *location = ecom__location(*location);
    return rc;
}

int ecom_location_add(ecom_store *store, const char *code, const char *name)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, code, "location");
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, name, "name");
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = ECOM_INV_LOCATION_ADD, .id = code, .text = name ? name : ""};
    return ecom__inv_run(store, &op);
}

int ecom_stock_adjust(ecom_store *store, const char *sku, const char *location,
                      ecom_adjust_kind kind, int64_t quantity, const char *reason,
                      const char *reference)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = check_sku_and_location(store, sku, &location);
    if (rc != ECOM_OK)
        return rc;
    int64_t delta = quantity;
    switch (kind) {
    case ECOM_ADJUST_RECEIVE:
    case ECOM_ADJUST_RETURN:
        rc = ecom__check_quantity(store, quantity, "quantity");
        break;
    case ECOM_ADJUST_DAMAGE:
        rc = ecom__check_quantity(store, quantity, "quantity");
        delta = -quantity;
        break;
    case ECOM_ADJUST_CORRECT:
        /* A signed difference: its size is what must be in range. */
        rc = quantity == INT64_MIN ? ecom__fail(store, ECOM_EQUANTITY, "quantity: out of range")
                                   : ecom__check_quantity(store, llabs(quantity), "quantity");
        break;
    default:
        return ecom__fail(store, ECOM_EINVAL, "kind: %d is not an adjustment kind", (int)kind);
    }
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, reason, "reason");
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, reference, "reference");
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = ECOM_INV_ADJUST, .sku = sku, .location = location,
                            .adjust_kind = kind, .quantity = delta,
                            .text = reason ? reason : "", .reference = reference ? reference : ""};
    return ecom__inv_run(store, &op);
}

/* Operations that set one non-negative count of a stock row. */
static int set_count(ecom_store *store, ecom_inventory_op_kind kind, const char *sku,
                     const char *location, int64_t value, const char *reason, const char *field)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = check_sku_and_location(store, sku, &location);
    if (rc == ECOM_OK && (value < 0 || value > ECOM_QUANTITY_MAX))
        rc = ecom__fail(store, ECOM_EQUANTITY, "%s: %lld is not in 0..%lld", field,
                        (long long)value, (long long)ECOM_QUANTITY_MAX);
    if (rc == ECOM_OK)
        rc = ecom__check_note(store, reason, "reason");
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = kind, .sku = sku, .location = location, .quantity = value,
                            .adjust_kind = ECOM_ADJUST_CORRECT, .text = reason ? reason : "",
                            .reference = ""};
    return ecom__inv_run(store, &op);
}

int ecom_stock_set(ecom_store *store, const char *sku, const char *location, int64_t on_hand,
                   const char *reason)
{
    return set_count(store, ECOM_INV_SET_ON_HAND, sku, location, on_hand, reason, "on_hand");
}

int ecom_stock_set_safety(ecom_store *store, const char *sku, const char *location,
                          int64_t safety)
{
    return set_count(store, ECOM_INV_SET_SAFETY, sku, location, safety, NULL, "safety");
}

int ecom_stock_set_backorder(ecom_store *store, const char *sku, ecom_backorder_policy policy)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, sku, "sku");
    if (rc == ECOM_OK && policy != ECOM_BACKORDER_DENY && policy != ECOM_BACKORDER_ALLOW)
        rc = ecom__fail(store, ECOM_EINVAL, "policy: %d is not a backorder policy", (int)policy);
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = ECOM_INV_SET_BACKORDER, .sku = sku,
                            .location = ECOM_LOCATION_DEFAULT, .quantity = policy};
    return ecom__inv_run(store, &op);
}

/* ---- reservations ---- */

typedef struct line {
    const char *sku;
    int64_t quantity;
} line;

static int compare_lines(const void *a, const void *b)
{
    return strcmp(((const line *)a)->sku, ((const line *)b)->sku);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* Sorts the lines by SKU and sums repeats, so a bundle is judged as one total and
 * the same request in any order has the same fingerprint. */
static int normalize_lines(ecom_store *store, line *lines, size_t *n)
{
    qsort(lines, *n, sizeof *lines, compare_lines);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (kept && strcmp(lines[kept - 1].sku, lines[i].sku) == 0) {
            lines[kept - 1].quantity += lines[i].quantity; /* both <= 10^9: no overflow */
            if (lines[kept - 1].quantity > ECOM_QUANTITY_MAX)
                return ecom__fail(store, ECOM_EQUANTITY,
                                  "quantities of SKU '%s' add up to more than %lld",
                                  lines[i].sku, (long long)ECOM_QUANTITY_MAX);
        } else {
            lines[kept++] = lines[i];
        }
    }
    *n = kept;
    return ECOM_OK;
}

static int check_lines(ecom_store *store, line *lines, const char *const *skus,
                       const int64_t *quantities, size_t n)
{
    char field[48];
    for (size_t i = 0; i < n; i++) {
        snprintf(field, sizeof field, "lines[%zu].sku", i);
        int rc = ecom__check_id_arg(store, skus[i], field);
        snprintf(field, sizeof field, "lines[%zu].quantity", i);
        if (rc == ECOM_OK)
            rc = ecom__check_quantity(store, quantities[i], field);
        if (rc != ECOM_OK)
            return rc;
        lines[i] = (line){skus[i], quantities[i]};
    }
    return ECOM_OK;
}

int ecom_reserve(ecom_store *store, const char *id, const char *const *skus,
                 const int64_t *quantities, size_t n, const char *location, int64_t ttl_ms)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc == ECOM_OK && location)
        rc = ecom__check_id_arg(store, location, "location");
    if (rc != ECOM_OK)
        return rc;
    location = ecom__location(location);
    if (n == 0 || skus == NULL || quantities == NULL)
        return ecom__fail(store, ECOM_EINVAL, "reservation '%s': no lines", id);
    if (n > ECOM__LINES_MAX)
        return ecom__fail(store, ECOM_ELIMIT, "reservation '%s': %zu lines, more than %d", id, n,
                          ECOM__LINES_MAX);
    if (ttl_ms < 1 || ttl_ms > ECOM__TTL_MAX)
        return ecom__fail(store, ECOM_EINVAL, "ttl_ms: %lld is not in 1..%lld", (long long)ttl_ms,
                          (long long)ECOM__TTL_MAX);
    line lines[ECOM__LINES_MAX];
    const char *line_skus[ECOM__LINES_MAX];
    int64_t line_quantities[ECOM__LINES_MAX];
    if ((rc = check_lines(store, lines, skus, quantities, n)) != ECOM_OK ||
        (rc = normalize_lines(store, lines, &n)) != ECOM_OK)
        return rc;
    uint64_t fingerprint = fnv1a(UINT64_C(0xcbf29ce484222325), location, strlen(location) + 1);
    for (size_t i = 0; i < n; i++) {
        line_skus[i] = lines[i].sku;
        line_quantities[i] = lines[i].quantity;
        fingerprint = fnv1a(fingerprint, lines[i].sku, strlen(lines[i].sku) + 1);
        fingerprint = fnv1a(fingerprint, &lines[i].quantity, sizeof lines[i].quantity);
    }
    ecom_inventory_op op = {.kind = ECOM_INV_RESERVE, .id = id, .location = location,
                            .line_count = n, .line_skus = line_skus,
                            .line_quantities = line_quantities, .fingerprint = fingerprint,
                            .ttl_ms = ttl_ms};
    return ecom__inv_run(store, &op);
}

static int end_reservation(ecom_store *store, ecom_inventory_op_kind kind, const char *id,
                           int64_t ttl_ms)
{
    int rc = ecom__inv_enter(store);
    if (rc == ECOM_OK)
        rc = ecom__check_id_arg(store, id, "id");
    if (rc != ECOM_OK)
        return rc;
    ecom_inventory_op op = {.kind = kind, .id = id, .location = ECOM_LOCATION_DEFAULT,
                            .ttl_ms = ttl_ms};
    return ecom__inv_run(store, &op);
}

int ecom_reservation_commit(ecom_store *store, const char *id)
{
    return end_reservation(store, ECOM_INV_COMMIT, id, 0);
}

int ecom_reservation_release(ecom_store *store, const char *id)
{
    return end_reservation(store, ECOM_INV_RELEASE, id, 0);
}

int ecom_reservation_extend(ecom_store *store, const char *id, int64_t ttl_ms)
{
    if (store && store->be && (ttl_ms < 1 || ttl_ms > ECOM__TTL_MAX))
        return ecom__fail(store, ECOM_EINVAL, "ttl_ms: %lld is not in 1..%lld", (long long)ttl_ms,
                          (long long)ECOM__TTL_MAX);
    return end_reservation(store, ECOM_INV_EXTEND, id, ttl_ms);
}

/* The sweeper: ends due holds a bounded batch at a time, so one call never holds the
 * write lock for long. */
#define ECOM__EXPIRE_BATCH 1000

int ecom_inventory_expire(uint64_t *expired, ecom_store *store, int64_t now)
{
    if (expired)
        *expired = 0;
    int rc = ecom__inv_enter(store);
    if (rc != ECOM_OK)
        return rc;
    for (;;) {
        ecom_inventory_op op = {.kind = ECOM_INV_EXPIRE, .limit = ECOM__EXPIRE_BATCH,
                                .location = ECOM_LOCATION_DEFAULT};
        /* Not through group commit: the sweep's own `now` is what decides. */
        rc = store->be->inventory_apply(store->be, &op, 1, now);
        if (rc == ECOM_OK)
            rc = op.result;
        if (rc != ECOM_OK)
            return ecom_errcode(store) == rc ? rc
                                             : ecom__fail(store, rc, "expiry sweep: %s",
                                                          ecom_strerror(rc));
        if (expired)
            *expired += op.count;
        if (op.count < ECOM__EXPIRE_BATCH)
            return ECOM_OK;
    }
}

int ecom__inv_explain(ecom_store *store, const ecom_inventory_op *op)
{
    return explain(store, op);
}
