/*
 * Example: a fulfillment worker that ships every paid order it reads from the event log.
 *
 *   fulfillment_worker STORE_URI [--once] [--consumer NAME]
 *
 * Reads the event log as a named consumer (default "fulfillment"). For each
 * "order.paid" event it takes the order (paid -> fulfilling, a compare-and-set on the
 * order's version) and ships everything left. Several workers may run at once, in
 * threads or processes, under the same consumer name: each reads every event, but only
 * one wins the compare-and-set for an order; the others see ECOM_ECONFLICT or
 * ECOM_ESTATE and skip it. Events are acknowledged after each batch, so a worker that
 * dies mid-batch leaves them to be read again (at least once); an order already taken
 * is skipped then.
 *
 * Not handled here: an order a worker took (fulfilling) but did not ship because it
 * died between the two steps stays in fulfilling; list them with
 * `ecom order list --state fulfilling` and ship them by hand or from a sweep.
 *
 * Runs until SIGINT or SIGTERM; with --once, reads until it has caught up, then exits.
 * Exit status: 0, 1 on an error of the store, 2 on bad usage.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecom.h"

#define BATCH 100          /* events per read */
#define IDLE_SLEEP_MS 200  /* pause when the log has nothing new */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what we want */
}

/*
 * Handles one paid order. Returns ECOM_OK when it was shipped here or is not ours to
 * ship (another worker took it, or it moved on: cancelled, refunded); an error code
 * when the store failed, so that the batch is not acknowledged and is read again.
 */
static int fulfill(ecom_store *store, const char *order_id, const char *who)
{
    ecom_order *order = NULL;
    int rc = ecom_order_get(&order, store, order_id);
    if (rc == ECOM_ENOTFOUND) {
        printf("%s: order %s: not found, skipped\n", who, order_id);
        return ECOM_OK;
    }
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: order %s: %s\n", who, order_id, ecom_errmsg(store));
        return rc;
    }
    if (ecom_order_get_state(order) != ECOM_ORDER_PAID) {
        /* Already taken (fulfilling, shipped) or no longer to ship (cancelled, ...). */
        printf("%s: order %s: %s, skipped\n", who, order_id,
               ecom_order_state_name(ecom_order_get_state(order)));
        ecom_order_free(order);
        return ECOM_OK;
    }

    /* Take it: paid -> fulfilling, only if nobody changed it since we read it. */
    uint64_t version = ecom_order_version(order);
    ecom_order_free(order);
    order = NULL;
    rc = ecom_order_transition(store, order_id, version, ECOM_ORDER_FULFILLING, who,
                               "picked by the fulfillment worker");
    if (rc == ECOM_ECONFLICT || rc == ECOM_ESTATE) {
        printf("%s: order %s: taken by another worker, skipped\n", who, order_id);
        return ECOM_OK;
    }
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: order %s: to fulfilling: %s\n", who, order_id, ecom_errmsg(store));
        return rc;
    }

    /* It is ours now. Read it again for its new version, and ship everything left
     * (n = 0); the version guards against an operator changing it meanwhile. */
    int64_t units = 0;
    rc = ecom_order_get(&order, store, order_id);
    if (rc == ECOM_OK) {
        for (size_t i = 0; i < ecom_order_line_count(order); i++)
            units += ecom_order_line_quantity(order, i) - ecom_order_line_shipped(order, i);
        rc = ecom_order_ship(store, order_id, ecom_order_version(order), NULL, NULL, 0, who);
    }
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: order %s: taken but not shipped: %s\n", who, order_id,
                ecom_errmsg(store));
        ecom_order_free(order);
        /* A conflict here means someone else moved our order: nothing to retry. */
        return rc == ECOM_ECONFLICT || rc == ECOM_ESTATE ? ECOM_OK : rc;
    }
    printf("%s: order %s: shipped %" PRId64 " units in %zu lines to %s (total %" PRId64
           " %s, in minor units)\n", who, order_id, units, ecom_order_line_count(order),
           ecom_order_user(order), ecom_order_total(order), ecom_order_currency(order));
    ecom_order_free(order);
    return ECOM_OK;
}

/* Reads one batch, handles its paid orders, acknowledges it. Sets *count to the events
 * read. Returns ECOM_OK or the error that stopped the batch (left unacknowledged). */
static int run_batch(ecom_store *store, const char *consumer, const char *who, size_t *count)
{
    ecom_events *events = NULL;
    *count = 0;
    int rc = ecom_consumer_read(&events, store, consumer, BATCH);
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: reading the events: %s\n", who, ecom_errmsg(store));
        return rc;
    }
    size_t n = ecom_events_count(events);
    for (size_t i = 0; i < n && rc == ECOM_OK; i++)
        if (strcmp(ecom_events_type(events, i), "order.paid") == 0)
            rc = fulfill(store, ecom_events_key(events, i), who);
    if (rc == ECOM_OK && n > 0) {
        rc = ecom_consumer_ack(store, consumer, ecom_events_seq(events, n - 1));
        if (rc != ECOM_OK)
            fprintf(stderr, "%s: acknowledging: %s\n", who, ecom_errmsg(store));
    }
    ecom_events_free(events);
    fflush(stdout); /* one line per order, even when several workers share a terminal */
    *count = n;
    return rc;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s STORE_URI [--once] [--consumer NAME]\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *consumer = "fulfillment";
    int once = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            once = 1;
        else if (strcmp(argv[i], "--consumer") == 0 && i + 1 < argc)
            consumer = argv[++i];
        else if (argv[i][0] != '-' && uri == NULL)
            uri = argv[i];
        else
            return usage(argv[0]);
    }
    if (uri == NULL)
        return usage(argv[0]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Who made each move, in the orders' history: this worker, by process. */
    char who[96];
    snprintf(who, sizeof who, "%s-%ld", consumer, (long)getpid());

    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.create = 0; /* a worker serves an existing store; a typo must not make a new one */
    ecom_store *store = NULL;
    int rc = ecom_store_open(&store, uri, &opts);
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: opening %s: %s\n", who, uri, store ? ecom_errmsg(store)
                                                                : ecom_strerror(rc));
        ecom_store_close(store);
        return 1;
    }

    while (!stopping) {
        size_t count = 0;
        rc = run_batch(store, consumer, who, &count);
        if (rc != ECOM_OK && once)
            break;
        if (count == BATCH && rc == ECOM_OK)
            continue; /* more may be waiting */
        if (once && rc == ECOM_OK)
            break;    /* caught up */
        sleep_ms(rc == ECOM_OK ? IDLE_SLEEP_MS : 5 * IDLE_SLEEP_MS); /* back off on errors */
    }
    ecom_store_close(store);
    return rc == ECOM_OK ? 0 : 1;
}
