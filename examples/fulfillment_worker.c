/*
 * Example: a fulfillment worker that ships every paid order it reads from the event log.
 *
 *   fulfillment_worker STORE_URI [--once] [--consumer NAME] [--lease-ms MS]
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
 * A worker that dies between taking an order and shipping it leaves the order in
 * fulfilling. So every worker also sweeps: an order fulfilling for longer than the lease
 * (--lease-ms, 5 minutes by default) is shipped by whoever sees it first. That ship is a
 * compare-and-set on the version the sweep read, so if the first worker was only slow,
 * one of the two ships it and the other is told it moved. An order whose cancel is
 * paying its refund does not ship (ECOM_EBUSY): it is left fulfilling, cancelled when
 * the cancel ends, shipped by a later sweep if the refund is declined instead (one that
 * failed stays pending, and the order unshipped, until the cancel is called again).
 *
 * Runs until SIGINT or SIGTERM; with --once, reads until it has caught up, then exits.
 * Exit status: 0, 1 on an error of the store, 2 on bad usage.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecom.h"

#define BATCH 100          /* events per read */
#define IDLE_SLEEP_MS 200  /* pause when the log has nothing new */
#define LEASE_MS 300000    /* how long an order may stay fulfilling before a sweep ships it */

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

/* Wall-clock ms, the clock the store stamps an order's history with. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Ships everything left of order, as read (its version guards against anyone having
 * moved it since), and logs it with `how`. Returns ECOM_OK also when someone else moved
 * it meanwhile: there is nothing to retry then.
 */
static int ship_rest(ecom_store *store, const ecom_order *order, const char *who,
                     const char *how)
{
    const char *id = ecom_order_id(order);
    int64_t units = 0;
    for (size_t i = 0; i < ecom_order_line_count(order); i++)
        units += ecom_order_line_quantity(order, i) - ecom_order_line_shipped(order, i);
    int rc = ecom_order_ship(store, id, ecom_order_version(order), NULL, NULL, 0, who);
    if (rc == ECOM_ECONFLICT || rc == ECOM_ESTATE) {
        printf("%s: order %s: moved by someone else before it was shipped here, skipped\n",
               who, id);
        return ECOM_OK;
    }
    if (rc == ECOM_EBUSY) {
        /* A cancel is paying its refund: not a failure of the store, and not ours to
         * ship now. It stays fulfilling; if the cancel fails, a later sweep ships it. */
        printf("%s: order %s: being cancelled, not shipped (left to the sweep)\n", who, id);
        return ECOM_OK;
    }
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: order %s: taken but not shipped: %s\n", who, id,
                ecom_errmsg(store));
        return rc;
    }
    printf("%s: order %s: shipped %" PRId64 " units in %zu lines to %s (total %" PRId64
           " %s, in minor units)%s\n", who, id, units, ecom_order_line_count(order),
           ecom_order_user(order), ecom_order_total(order), ecom_order_currency(order), how);
    return ECOM_OK;
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

    /* It is ours now. Read it again for its new version, and ship everything left. */
    rc = ecom_order_get(&order, store, order_id);
    if (rc != ECOM_OK) {
        fprintf(stderr, "%s: order %s: taken but not shipped: %s\n", who, order_id,
                ecom_errmsg(store));
        return rc; /* left fulfilling: the lease sweep ships it */
    }
    rc = ship_rest(store, order, who, "");
    ecom_order_free(order);
    return rc;
}

/* Ships one order of a sweep if it has been fulfilling for lease_ms or more. */
static int sweep_one(ecom_store *store, const ecom_order *order, const char *who,
                     int64_t lease_ms, int64_t now)
{
    size_t h = ecom_order_history_count(order);
    if (h == 0 || ecom_order_history_state(order, h - 1) != ECOM_ORDER_FULFILLING)
        return ECOM_OK;
    int64_t since = ecom_order_history_time(order, h - 1);
    if (now - since < lease_ms)
        return ECOM_OK; /* its worker may still be at it */
    char how[200];
    snprintf(how, sizeof how, ", taken over from %s (fulfilling for %" PRId64 " s)",
             ecom_order_history_who(order, h - 1), (now - since) / 1000);
    return ship_rest(store, order, who, how);
}

/* Ships every order left fulfilling for lease_ms or more, a page at a time. */
static int sweep(ecom_store *store, const char *who, int64_t lease_ms)
{
    int64_t now = now_ms();
    char cursor[512] = "";
    int rc = ECOM_OK;
    do {
        ecom_order_list_options lo = ECOM_ORDER_LIST_OPTIONS_INIT;
        lo.state = ECOM_ORDER_FULFILLING;
        lo.cursor = cursor[0] ? cursor : NULL;
        ecom_order_page *page = NULL;
        if ((rc = ecom_order_list(&page, store, &lo)) != ECOM_OK) {
            fprintf(stderr, "%s: listing fulfilling orders: %s\n", who, ecom_errmsg(store));
            return rc;
        }
        for (size_t i = 0; i < ecom_order_page_count(page) && rc == ECOM_OK; i++)
            rc = sweep_one(store, ecom_order_page_order(page, i), who, lease_ms, now);
        const char *next = ecom_order_page_next_cursor(page);
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        ecom_order_page_free(page);
    } while (rc == ECOM_OK && cursor[0]);
    fflush(stdout);
    return rc;
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

/* A count of ms, or -1 if text is not one. */
static int64_t parse_ms(const char *text)
{
    char *end = NULL;
    long long ms = strtoll(text, &end, 10);
    return end != text && *end == '\0' && ms >= 0 ? (int64_t)ms : -1;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s STORE_URI [--once] [--consumer NAME] [--lease-ms MS]\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *consumer = "fulfillment";
    int once = 0;
    int64_t lease_ms = LEASE_MS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            once = 1;
        else if (strcmp(argv[i], "--consumer") == 0 && i + 1 < argc)
            consumer = argv[++i];
        else if (strcmp(argv[i], "--lease-ms") == 0 && i + 1 < argc)
            lease_ms = parse_ms(argv[++i]);
        else if (argv[i][0] != '-' && uri == NULL)
            uri = argv[i];
        else
            return usage(argv[0]);
    }
    if (uri == NULL || lease_ms < 0)
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

    /* Sweeps when caught up, at most every quarter of the lease (and once with --once). */
    int64_t swept_at = INT64_MIN / 2, sweep_every = lease_ms / 4;
    while (!stopping) {
        size_t count = 0;
        rc = run_batch(store, consumer, who, &count);
        if (rc != ECOM_OK && once)
            break;
        if (count == BATCH && rc == ECOM_OK)
            continue; /* more may be waiting */
        if (rc == ECOM_OK && now_ms() - swept_at >= sweep_every) {
            swept_at = now_ms();
            rc = sweep(store, who, lease_ms);
        }
        if (once)
            break; /* caught up and swept, or failed */
        sleep_ms(rc == ECOM_OK ? IDLE_SLEEP_MS : 5 * IDLE_SLEEP_MS); /* back off on errors */
    }
    ecom_store_close(store);
    return rc == ECOM_OK ? 0 : 1;
}
