/*
 * Asynchronous fulfilment: examples/fulfillment_worker.c run as real
 * processes (its source is compiled in here with its main renamed, and each run is a
 * fork()ed child, so that several workers can run at once against one LMDB store),
 * and the event-log consumers it reads through.
 *
 * The store is set up through the public API with a host payment provider whose
 * refunds can be made to time out: that is how a cancel's refund is left pending
 * (ecom_order_cancel answers ECOM_ETIMEOUT; ecom_order_ship then answers ECOM_EBUSY
 * until the cancel is called again, ecom.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/support.h"

/* The example worker, its main renamed. */
int worker_main(int argc, char **argv);
#define main worker_main
#include "../../examples/fulfillment_worker.c"
#undef main

/* ---- a clock an hour in the past (orders taken by a "dead" worker long ago) ---- */

static _Atomic int64_t clock_ms;

static int64_t past_clock(void *ctx)
{
    (void)ctx;
    return atomic_fetch_add(&clock_ms, 1);
}

/* ---- a host payment provider whose refunds can time out ---- */

static int refunds_time_out;

static void approve(ecom_payment_result *out, const char *charge, int64_t amount)
{
    memset(out, 0, sizeof *out);
    out->approved = 1;
    out->captured = 1;
    out->amount = amount;
    snprintf(out->charge_id, sizeof out->charge_id, "%s", charge);
}

static int h_authorize(void *ctx, const ecom_payment_request *req, ecom_payment_result *out)
{
    (void)ctx;
    char charge[72];
    snprintf(charge, sizeof charge, "ch_%.60s", req->order_id);
    approve(out, charge, req->amount);
    return ECOM_OK;
}

static int h_capture(void *ctx, const char *charge_id, int64_t amount, const char *key,
                     ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    approve(out, charge_id, amount);
    return ECOM_OK;
}

static int h_void(void *ctx, const char *charge_id, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    approve(out, charge_id, 0);
    return ECOM_OK;
}

static int h_refund(void *ctx, const char *charge_id, int64_t amount, const char *key,
                    ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    if (refunds_time_out) {
        memset(out, 0, sizeof *out);
        return ECOM_ETIMEOUT;
    }
    approve(out, charge_id, amount);
    return ECOM_OK;
}

static int h_lookup(void *ctx, const char *key, ecom_payment_result *out)
{
    (void)ctx;
    (void)key;
    (void)out;
    return ECOM_ENOTFOUND;
}

static ecom_payment_provider host = {ECOM_PAYMENT_PROVIDER_VERSION, "fulfillment-host", NULL,
                                     h_authorize, h_capture, h_void, h_refund, h_lookup};

/* ---- fixture ---- */

typedef struct fixture {
    char dir[512], uri[600];
    ecom_store *s;
} fixture;

static fixture fx;

static void reopen(fixture *f)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    opts.clock = past_clock;
    opts.payments = &host;
    f->s = NULL;
    assert_int_equal(ecom_store_open(&f->s, f->uri, &opts), ECOM_OK);
}

static int setup(void **state)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&clock_ms, (int64_t)ts.tv_sec * 1000 - 3600 * 1000); /* an hour ago */
    refunds_time_out = 0;
    test_fresh_store_dir(fx.dir, sizeof fx.dir, fx.uri, sizeof fx.uri, "fulfillment_worker");
    reopen(&fx);
    test_create_product(fx.s, "{\"id\":\"p1\",\"title\":\"Mug\",\"status\":\"active\","
                              "\"variants\":[{\"sku\":\"mug\",\"prices\":{\"USD\":1000}},"
                              "{\"sku\":\"cup\",\"prices\":{\"USD\":300}}]}");
    test_receive(fx.s, "mug", 10000);
    test_receive(fx.s, "cup", 10000);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    f->s = NULL;
    test_remove_store_dir(f->dir);
    return 0;
}

/* ---- helpers ---- */

/* Buys 2 mugs and 1 cup as user (paid); the order's id into id. */
static void buy(ecom_store *s, const char *user, char *id)
{
    char cart[80], key[80];
    snprintf(cart, sizeof cart, "user:%s", user);
    snprintf(key, sizeof key, "key-%s", user);
    assert_int_equal(ecom_cart_add(s, cart, "mug", 2, "USD"), ECOM_OK);
    assert_int_equal(ecom_cart_add(s, cart, "cup", 1, "USD"), ECOM_OK);
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = cart;
    r.user = user;
    r.payment_token = "tok_approve";
    ecom_order *o = NULL;
    int rc = ecom_checkout(&o, s, &r, key);
    if (rc != ECOM_OK)
        fail_msg("checkout: %s (%s)", ecom_strerror(rc), ecom_errmsg(s));
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    snprintf(id, ECOM_ID_MAX + 1, "%s", ecom_order_id(o));
    ecom_order_free(o);
}

static ecom_order_state state_of(ecom_store *s, const char *id)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    ecom_order_state st = ecom_order_get_state(o);
    ecom_order_free(o);
    return st;
}

/* How many entries of state st the order's history has. */
static size_t history_entries(ecom_store *s, const char *id, ecom_order_state st)
{
    ecom_order *o = NULL;
    assert_int_equal(ecom_order_get(&o, s, id), ECOM_OK);
    size_t n = 0;
    for (size_t i = 0; i < ecom_order_history_count(o); i++)
        n += ecom_order_history_state(o, i) == st;
    ecom_order_free(o);
    return n;
}

/* The order taken by a worker that then died (paid -> fulfilling, never shipped). */
static void taken_by_dead_worker(ecom_store *s, const char *id)
{
    assert_int_equal(ecom_order_transition(s, id, ECOM_VERSION_ANY, ECOM_ORDER_FULFILLING,
                                           "dead-worker", "took it, then died"), ECOM_OK);
}

/* A cancel whose refund the provider does not answer: the refund stays pending under
 * the cancel's key and the order keeps its state (ecom.h: ship answers ECOM_EBUSY). */
static void cancel_with_refund_pending(ecom_store *s, const char *id)
{
    ecom_order_state before = state_of(s, id);
    refunds_time_out = 1;
    int rc = ecom_order_cancel(s, id, ECOM_VERSION_ANY, "support", "buyer asked");
    refunds_time_out = 0;
    assert_int_equal(rc, ECOM_ETIMEOUT);
    assert_int_equal(state_of(s, id), before);
    if (before == ECOM_ORDER_FULFILLING)
        assert_int_equal(ecom_order_ship(s, id, ECOM_VERSION_ANY, NULL, NULL, 0, "probe"),
                         ECOM_EBUSY);
}

/* A worker's run: its exit status and what it printed. */
typedef struct run {
    pid_t pid;
    int status; /* exit status; -1 if killed */
    char out[65536], err[16384];
    char out_path[700], err_path[700];
} run;

static void slurp(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    unlink(path);
}

/* Starts the worker in a child process on uri with args (NULL-terminated). The parent
 * must not hold the store open (LMDB and fork). */
static void worker_start(run *r, const char *uri, const char *const *args, int tag)
{
    memset(r, 0, sizeof *r);
    snprintf(r->out_path, sizeof r->out_path, "%s.w%d.out", fx.dir, tag);
    snprintf(r->err_path, sizeof r->err_path, "%s.w%d.err", fx.dir, tag);
    fflush(stdout);
    fflush(stderr);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int o = open(r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(99);
        dup2(o, 1);
        dup2(e, 2);
        char *argv[16];
        int argc = 0;
        argv[argc++] = (char *)"fulfillment_worker";
        argv[argc++] = (char *)uri;
        for (size_t i = 0; args && args[i] && argc < 15; i++)
            argv[argc++] = (char *)args[i];
        argv[argc] = NULL;
        int rc = worker_main(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
}

static void worker_wait(run *r)
{
    int st = 0;
    assert_int_equal(waitpid(r->pid, &st, 0), r->pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(r->out_path, r->out, sizeof r->out);
    slurp(r->err_path, r->err, sizeof r->err);
}

static int worker_once(run *r, const char *uri, const char *const *args)
{
    worker_start(r, uri, args, 0);
    worker_wait(r);
    print_message("worker exit %d\n--- stdout:\n%s--- stderr:\n%s---\n", r->status, r->out,
                  r->err);
    return r->status;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ======================================================================== */
/* The lease sweep and a cancel's pending refund                            */
/* ======================================================================== */

/*
 * Two orders were taken by a worker that died an hour ago, far past the 5-minute
 * lease: the sweep ships both ("an order fulfilling for longer than the lease is
 * shipped by whoever sees it first"), except one whose cancel is paying its refund
 * (ECOM_EBUSY): that one is left fulfilling, and the sweep goes on past it, exiting 0.
 * Once the cancel ends it is cancelled, and no later sweep ships it.
 */
static void test_fulfillment_worker__sweep_goes_past_an_order_being_cancelled(void **state)
{
    fixture *f = *state;
    char older[ECOM_ID_MAX + 1], newer[ECOM_ID_MAX + 1];
    buy(f->s, "ann", older);
    buy(f->s, "bob", newer);
    taken_by_dead_worker(f->s, older);
    taken_by_dead_worker(f->s, newer);
    cancel_with_refund_pending(f->s, newer);
    ecom_store_close(f->s);
    f->s = NULL;

    /* Twice, as a cron job would: the stuck order does not go away on its own. */
    run r;
    int status1 = worker_once(&r, f->uri, (const char *const[]){"--once", NULL});
    int status2 = worker_once(&r, f->uri, (const char *const[]){"--once", NULL});

    reopen(f);
    ecom_order_state st_older = state_of(f->s, older), st_newer = state_of(f->s, newer);
    print_message("after two sweeps: older order %s (wanted shipped), newer %s; exits %d, %d\n",
                  ecom_order_state_name(st_older), ecom_order_state_name(st_newer), status1,
                  status2);
    assert_int_equal(st_newer, ECOM_ORDER_FULFILLING); /* not shipped (EBUSY) */
    assert_int_equal(st_older, ECOM_ORDER_SHIPPED);
    assert_int_equal(status1, 0);
    assert_int_equal(status2, 0);
    assert_int_equal(count_of(r.out, "being cancelled, not shipped"), 1);

    /* The cancel, called again, ends; the next sweep leaves the cancelled order be. */
    test_must(f->s, ecom_order_cancel(f->s, newer, ECOM_VERSION_ANY, "support", NULL),
              "the cancel again");
    assert_int_equal(state_of(f->s, newer), ECOM_ORDER_CANCELLED);
    ecom_store_close(f->s);
    f->s = NULL;
    assert_int_equal(worker_once(&r, f->uri, (const char *const[]){"--once", NULL}), 0);
    reopen(f);
    assert_int_equal(state_of(f->s, newer), ECOM_ORDER_CANCELLED);
    assert_int_equal(history_entries(f->s, newer, ECOM_ORDER_SHIPPED), 0);
    test_assert_clean(f->s);
}

/*
 * The same in the worker's normal mode (no --once): it stays up and sweeps every
 * quarter of the lease (--lease-ms 400: several sweeps in 2 s); the older order is
 * shipped, the one being cancelled is passed over each time, and SIGTERM ends it with
 * exit 0.
 */
static void test_fulfillment_worker__looping_worker_ships_past_a_pending_cancel(void **state)
{
    fixture *f = *state;
    char older[ECOM_ID_MAX + 1], newer[ECOM_ID_MAX + 1];
    buy(f->s, "ann", older);
    buy(f->s, "bob", newer);
    taken_by_dead_worker(f->s, older);
    taken_by_dead_worker(f->s, newer);
    cancel_with_refund_pending(f->s, newer);
    ecom_store_close(f->s);
    f->s = NULL;

    run r;
    worker_start(&r, f->uri, (const char *const[]){"--lease-ms", "400", NULL}, 1);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    kill(r.pid, SIGTERM); /* the child we started */
    worker_wait(&r);
    print_message("worker exit %d\n--- stdout:\n%s--- stderr:\n%s---\n", r.status, r.out, r.err);

    reopen(f);
    ecom_order_state st_older = state_of(f->s, older);
    print_message("after 2 s of a looping worker: older order %s (wanted shipped); %zu "
                  "sweeps hit the pending cancel; exit %d on SIGTERM\n",
                  ecom_order_state_name(st_older),
                  count_of(r.out, "being cancelled"), r.status);
    assert_int_equal(st_older, ECOM_ORDER_SHIPPED);
    assert_int_equal(state_of(f->s, newer), ECOM_ORDER_FULFILLING);
    assert_true(count_of(r.out, "being cancelled, not shipped") >= 2);
    assert_int_equal(r.status, 0); /* "a worker without --once stops on SIGTERM with exit 0" */
}

/*
 * An order being cancelled (its cancel's refund pending) while still paid: the worker
 * reads its order.paid, takes it (paid -> fulfilling is allowed) and its shipment is
 * ECOM_EBUSY. That is the order moving on, not a failure of the store: the rest of the
 * batch is handled, the batch acknowledged, and the run exits 0.
 */
static void test_fulfillment_worker__a_busy_order_does_not_stop_the_batch(void **state)
{
    fixture *f = *state;
    char before[ECOM_ID_MAX + 1], busy[ECOM_ID_MAX + 1], after[ECOM_ID_MAX + 1];
    buy(f->s, "ann", before);
    buy(f->s, "bob", busy);
    cancel_with_refund_pending(f->s, busy); /* still paid, refund pending */
    buy(f->s, "cat", after);
    ecom_store_close(f->s);
    f->s = NULL;

    run r;
    int status = worker_once(&r, f->uri, (const char *const[]){"--once", NULL});

    reopen(f);
    ecom_order_state st_before = state_of(f->s, before), st_busy = state_of(f->s, busy),
                     st_after = state_of(f->s, after);
    print_message("orders before / being cancelled / after: %s / %s / %s; exit %d\n",
                  ecom_order_state_name(st_before), ecom_order_state_name(st_busy),
                  ecom_order_state_name(st_after), status);
    assert_int_equal(st_before, ECOM_ORDER_SHIPPED);
    assert_int_not_equal(st_busy, ECOM_ORDER_SHIPPED); /* rightly: EBUSY */
    assert_int_equal(st_after, ECOM_ORDER_SHIPPED);
    assert_int_equal(status, 0);
    uint64_t acked = 0, last = 0;
    test_must(f->s, ecom_consumer_position(&acked, f->s, "fulfillment"), "position");
    test_must(f->s, ecom_events_last_seq(&last, f->s), "last seq");
    assert_true(acked > 0 && acked <= last); /* the batch was acknowledged */
    test_assert_clean(f->s);
}

/* ======================================================================== */
/* Crashed workers, many pages, racing workers                               */
/* ======================================================================== */

/* 150 orders left fulfilling by a dead worker: one sweep ships every one of them,
 * over several listing pages while it moves them out of the state it lists. */
static void test_fulfillment_worker__sweep_pages_through_many(void **state)
{
    fixture *f = *state;
    enum { N = 150 };
    static char ids[N][ECOM_ID_MAX + 1];
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof user, "u%d", i);
        buy(f->s, user, ids[i]);
        taken_by_dead_worker(f->s, ids[i]);
    }
    ecom_store_close(f->s);
    f->s = NULL;
    run r;
    int status = worker_once(&r, f->uri, (const char *const[]){"--once", NULL});
    reopen(f);
    int shipped = 0;
    for (int i = 0; i < N; i++)
        shipped += state_of(f->s, ids[i]) == ECOM_ORDER_SHIPPED;
    print_message("%d of %d shipped by one sweep; exit %d\n", shipped, N, status);
    assert_int_equal(shipped, N);
    assert_int_equal(status, 0);
    test_assert_clean(f->s);
}

/* Four workers at once, --lease-ms 0 (every sweep races the workers taking orders),
 * round after round until all 40 orders ship: each shipped once, one fulfilling and
 * one shipped entry each, one "shipped" log line each. */
static void test_fulfillment_worker__workers_race_with_zero_lease(void **state)
{
    fixture *f = *state;
    enum { N = 40, W = 4 };
    static char ids[N][ECOM_ID_MAX + 1];
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof user, "r%d", i);
        buy(f->s, user, ids[i]);
    }
    ecom_store_close(f->s);
    f->s = NULL;
    static char log[W * 12][65536];
    static run rs[W];
    size_t logs = 0;
    int shipped = 0;
    for (int round = 0; round < 10 && shipped < N; round++) {
        for (int w = 0; w < W; w++)
            worker_start(&rs[w], f->uri, (const char *const[]){"--once", "--lease-ms", "0", NULL},
                         w);
        for (int w = 0; w < W; w++) {
            worker_wait(&rs[w]);
            if (rs[w].status != 0)
                print_message("round %d worker %d exit %d: %s\n", round, w, rs[w].status,
                              rs[w].err);
            assert_int_equal(rs[w].status, 0);
            snprintf(log[logs++], sizeof log[0], "%s", rs[w].out);
        }
        reopen(f);
        shipped = 0;
        for (int i = 0; i < N; i++)
            shipped += state_of(f->s, ids[i]) == ECOM_ORDER_SHIPPED;
        ecom_store_close(f->s);
        f->s = NULL;
    }
    reopen(f);
    assert_int_equal(shipped, N);
    for (int i = 0; i < N; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "order %s: shipped ", ids[i]);
        size_t lines = 0;
        for (size_t l = 0; l < logs; l++)
            lines += count_of(log[l], needle);
        assert_int_equal(lines, 1);
        assert_int_equal(history_entries(f->s, ids[i], ECOM_ORDER_FULFILLING), 1);
        assert_int_equal(history_entries(f->s, ids[i], ECOM_ORDER_SHIPPED), 1);
    }
    test_assert_clean(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fulfillment_worker__sweep_goes_past_an_order_being_cancelled,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fulfillment_worker__looping_worker_ships_past_a_pending_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fulfillment_worker__a_busy_order_does_not_stop_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fulfillment_worker__sweep_pages_through_many, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fulfillment_worker__workers_race_with_zero_lease, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
