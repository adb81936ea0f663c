/*
 * Flash-sale claim ids and the claim structs' versions, through the public API only.
 * A claim id has one spelling, "sale:ticket" with the ticket in plain decimal: any
 * other ("fs:01", "fs:+1") is refused by every call that takes one, so checkout cannot
 * name one claim twice and have its order's completion skip a spelling it does not
 * read. Callers built against version 1 of ecom_claim_result and ecom_claim_request
 * (before `user`) keep working, and nothing is written past their structs. Checkout
 * refuses claims on a backend before contract version 5, which does not say whose a
 * claim is, in those words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecom.h"
#include "ecom_backend.h"
#include "support/support.h"

/* ---- the structs as a caller built against version 1 lays them out ---- */

typedef struct claim_result_v1 {
    int version;
    ecom_claim_outcome outcome;
    char claim_id[96];
    int64_t quantity;
    uint64_t position;
    int64_t wait_ms;
    int64_t admit_at;
    int64_t expires_at;
} claim_result_v1;

_Static_assert(sizeof(claim_result_v1) == offsetof(ecom_claim_result, user),
               "version 1 of ecom_claim_result ends where user begins");

typedef struct claim_request_v1 {
    int version;
    const char *sale;
    const char *user;
    const char *key;
    int64_t quantity;
    ecom_claim_done_fn done;
    void *data;
    int status;
    claim_result_v1 result;
    void *internal[72];
} claim_request_v1;

#define CANARY 0xA5
#define CANARY_SIZE 128 /* more than version 2 adds to either struct */

/* A version-1 struct with guard bytes right after it. */
typedef struct guarded_result {
    claim_result_v1 r;
    unsigned char canary[CANARY_SIZE];
} guarded_result;

typedef struct guarded_request {
    claim_request_v1 req;
    unsigned char canary[CANARY_SIZE];
} guarded_request;

static void assert_canary(const unsigned char *canary)
{
    for (size_t i = 0; i < CANARY_SIZE; i++)
        if (canary[i] != CANARY)
            fail_msg("byte %zu past the version-1 struct was written", i);
}

static guarded_result *v1_result(void)
{
    guarded_result *g = malloc(sizeof *g);
    assert_non_null(g);
    memset(g, CANARY, sizeof *g);
    memset(&g->r, 0, sizeof g->r);
    g->r.version = 1;
    return g;
}

/* ---- fixture: a store with a sale "fs" of 2 tv and ann's claim fs:1 ---- */

typedef struct fixture {
    char dir[512];
    ecom_store *s;
} fixture;

static void expect(ecom_store *s, int rc, int code, const char *needle)
{
    if (rc != code)
        fail_msg("got %d (%s), wanted %d", rc, ecom_errmsg(s), code);
    if (needle && strstr(ecom_errmsg(s), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", ecom_errmsg(s), needle);
}

static void must(ecom_store *s, int rc)
{
    expect(s, rc, ECOM_OK, NULL);
}

static ecom_store *open_store(fixture *f, const char *scheme)
{
    char uri[600], full[620];
    test_fresh_store_dir(f->dir, sizeof f->dir, uri, sizeof uri, "flash_claims");
    snprintf(full, sizeof full, "%s%s", scheme, uri);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.no_sync = 1;
    ecom_store *s = NULL;
    assert_int_equal(ecom_store_open(&s, full, &opts), ECOM_OK);
    const char *json = "{\"id\":\"p1\",\"title\":\"TV\",\"status\":\"active\",\"variants\":["
                       "{\"sku\":\"tv\",\"prices\":{\"USD\":50000}}]}";
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_from_json(&p, json, strlen(json), NULL, 0), ECOM_OK);
    must(s, ecom_catalog_create(s, p));
    ecom_product_free(p);
    must(s, ecom_stock_adjust(s, "tv", NULL, ECOM_ADJUST_RECEIVE, 5, "in", ""));
    ecom_flash_options fo = ECOM_FLASH_OPTIONS_INIT;
    fo.sku = "tv";
    fo.units = 2;
    must(s, ecom_flash_open(s, "fs", &fo));
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    must(s, ecom_flash_claim(&c, s, "fs", "ann", 1, "k-ann"));
    assert_int_equal(c.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(c.claim_id, "fs:1");
    return s;
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    f.s = open_store(&f, "");
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecom_store_close(f->s);
    test_remove_store_dir(f->dir);
    return 0;
}

static ecom_claim_outcome outcome_of(ecom_store *s, const char *claim_id)
{
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    must(s, ecom_flash_poll(&c, s, claim_id));
    return c.outcome;
}

static int64_t reserved(ecom_store *s)
{
    ecom_stock *st = NULL;
    must(s, ecom_stock_get(&st, s, "tv", NULL));
    int64_t n = ecom_stock_reserved(st);
    ecom_stock_free(st);
    return n;
}

/* ---- one spelling per claim ---- */

static void test_flash_claims__only_the_canonical_spelling_names_a_claim(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    assert_int_equal(outcome_of(s, "fs:1"), ECOM_CLAIM_ADMITTED);
    const char *bad[] = {"fs:01", "fs:001", "fs:+1", "fs: 1", "fs:1 ", "fs:1x", "fs:-1",
                         "fs:0", "fs:", ":1", "fs", "fs:0x1", "fs:18446744073709551616",
                         "fs:99999999999999999999999", NULL};
    for (size_t i = 0; bad[i]; i++) {
        ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
        expect(s, ecom_flash_poll(&c, s, bad[i]), ECOM_EINVAL, "is not of the form SALE:TICKET");
        expect(s, ecom_flash_release(s, bad[i]), ECOM_EINVAL, "is not of the form SALE:TICKET");
        expect(s, ecom_flash_commit(s, bad[i]), ECOM_EINVAL, "is not of the form SALE:TICKET");
    }
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    expect(s, ecom_flash_poll(&c, s, NULL), ECOM_EINVAL, NULL);
    /* None of them touched fs:1. */
    assert_int_equal(outcome_of(s, "fs:1"), ECOM_CLAIM_ADMITTED);
    assert_int_equal(reserved(s), 2);
}

/* ---- callers built against version 1 ---- */

static void test_flash_claims__version_1_results_are_filled_up_to_their_end(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    /* A claim answered from storage: bob gets the last unit. */
    guarded_result *g = v1_result();
    must(s, ecom_flash_claim((ecom_claim_result *)&g->r, s, "fs", "bob", 1, "k-bob"));
    assert_int_equal(g->r.version, 1);
    assert_int_equal(g->r.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(g->r.claim_id, "fs:2");
    assert_int_equal(g->r.quantity, 1);
    assert_true(g->r.expires_at > 0);
    assert_canary(g->canary);
    /* Its retry, and a poll. */
    memset(&g->r, 0, sizeof g->r);
    g->r.version = 1;
    must(s, ecom_flash_claim((ecom_claim_result *)&g->r, s, "fs", "bob", 1, "k-bob"));
    assert_string_equal(g->r.claim_id, "fs:2");
    assert_canary(g->canary);
    memset(&g->r, 0, sizeof g->r);
    g->r.version = 1;
    must(s, ecom_flash_poll((ecom_claim_result *)&g->r, s, "fs:1"));
    assert_int_equal(g->r.version, 1);
    assert_int_equal(g->r.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(g->r.claim_id, "fs:1");
    assert_int_equal(g->r.quantity, 1);
    assert_canary(g->canary);
    /* Sold out: first from storage, then from memory. */
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k-late%d", i);
        memset(&g->r, 0, sizeof g->r);
        g->r.version = 1;
        must(s, ecom_flash_claim((ecom_claim_result *)&g->r, s, "fs", "carol", 1, key));
        assert_int_equal(g->r.version, 1);
        assert_int_equal(g->r.outcome, ECOM_CLAIM_SOLD_OUT);
        assert_canary(g->canary);
    }
    free(g);
    /* Version 2 callers see the claimer. */
    ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
    must(s, ecom_flash_poll(&c, s, "fs:2"));
    assert_int_equal(c.version, 2);
    assert_string_equal(c.user, "bob");
}

typedef struct done_box {
    _Atomic int calls;
} done_box;

static void count_done(ecom_claim_request *req)
{
    done_box *box = req->data;
    atomic_fetch_add(&box->calls, 1);
}

/* Waits (at most 20 s) for a submitted request's done. */
static void await_done(done_box *box)
{
    for (int i = 0; i < 20000 && atomic_load(&box->calls) == 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    assert_int_equal(atomic_load(&box->calls), 1);
}

static guarded_request *v1_request(const char *user, const char *key, done_box *box)
{
    guarded_request *g = malloc(sizeof *g);
    assert_non_null(g);
    memset(g, CANARY, sizeof *g);
    memset(&g->req, 0, sizeof g->req);
    g->req = (claim_request_v1){.version = 1, .sale = "fs", .user = user, .key = key,
                                .quantity = 1, .done = count_done, .data = box, .status = -999};
    return g;
}

static void test_flash_claims__version_1_requests_are_answered_in_their_layout(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    /* Through the committer: bob gets the last unit. */
    done_box box = {0};
    guarded_request *g = v1_request("bob", "k-bob", &box);
    must(s, ecom_flash_claim_submit(s, (ecom_claim_request *)&g->req));
    await_done(&box);
    assert_int_equal(g->req.status, ECOM_OK);
    assert_int_equal(g->req.version, 1);
    assert_int_equal(g->req.result.version, 1);
    assert_int_equal(g->req.result.outcome, ECOM_CLAIM_ADMITTED);
    assert_string_equal(g->req.result.claim_id, "fs:2");
    assert_int_equal(g->req.result.quantity, 1);
    assert_canary(g->canary);
    free(g);
    /* Sold out, from storage and then from memory (done before submit returns). */
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k-late%d", i);
        done_box late = {0};
        g = v1_request("carol", key, &late);
        must(s, ecom_flash_claim_submit(s, (ecom_claim_request *)&g->req));
        await_done(&late);
        assert_int_equal(g->req.status, ECOM_OK);
        assert_int_equal(g->req.result.version, 1);
        assert_int_equal(g->req.result.outcome, ECOM_CLAIM_SOLD_OUT);
        assert_canary(g->canary);
        free(g);
    }
    assert_int_equal(outcome_of(s, "fs:2"), ECOM_CLAIM_ADMITTED);
}

static void test_flash_claims__unknown_versions_are_refused(void **state)
{
    fixture *f = *state;
    ecom_store *s = f->s;
    const int versions[] = {0, ECOM_CLAIM_RESULT_VERSION + 1, -1};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        ecom_claim_result c = ECOM_CLAIM_RESULT_INIT;
        c.version = versions[i];
        expect(s, ecom_flash_claim(&c, s, "fs", "bob", 1, "k-bob"), ECOM_EVERSION,
               "ecom_claim_result version");
        expect(s, ecom_flash_poll(&c, s, "fs:1"), ECOM_EVERSION, "ecom_claim_result version");
        done_box box = {0};
        ecom_claim_request req = {.version = versions[i], .sale = "fs", .user = "bob",
                                  .key = "k-bob", .quantity = 1, .done = count_done,
                                  .data = &box};
        expect(s, ecom_flash_claim_submit(s, &req), ECOM_EVERSION, "ecom_claim_request version");
        assert_int_equal(atomic_load(&box.calls), 0);
    }
    ecom_flash_status st = {.version = ECOM_FLASH_STATUS_VERSION};
    must(s, ecom_flash_status_get(&st, s, "fs"));
    assert_int_equal(st.claims, 1); /* bob never claimed */
}

/* ---- a backend before contract version 5 ---- */

static int (*lmdb_claim_get)(ecom_backend *, const char *, uint64_t, int64_t,
                             ecom_claim_result *);

static int (*lmdb_inventory_apply)(ecom_backend *, ecom_inventory_op *, size_t, int64_t);
static int (*lmdb_cart_apply)(ecom_backend *, ecom_cart_op *, size_t, int64_t);
static int (*lmdb_order_apply)(ecom_backend *, ecom_order_op *, size_t, int64_t);

static int v4_order_apply(ecom_backend *be, ecom_order_op *ops, size_t n, int64_t now)
{
    return test_old_order_apply(be, lmdb_order_apply, ops, n, now);
}

/* As a version 4 backend reads ops: at their older size (support.h). */
static int v4_inventory_apply(ecom_backend *be, ecom_inventory_op *ops, size_t n, int64_t now)
{
    return test_old_inventory_apply(be, lmdb_inventory_apply, ops, n, now);
}

static int v4_cart_apply(ecom_backend *be, ecom_cart_op *ops, size_t n, int64_t now)
{
    return test_old_cart_apply(be, lmdb_cart_apply, ops, n, now);
}

/* As a version 4 backend answers: the claim, without its claimer. */
static int v4_claim_get(ecom_backend *be, const char *sale, uint64_t ticket, int64_t now,
                        ecom_claim_result *out)
{
    int rc = lmdb_claim_get(be, sale, ticket, now, out);
    out->user[0] = '\0';
    return rc;
}

/* "v4:lmdb://...": the LMDB backend presenting contract version 4. */
static int v4_open(ecom_backend **out, ecom_store *store, const char *uri,
                   const ecom_options *opts)
{
    int rc = ecom_backend_lookup("lmdb")->open(out, store, uri + 3, opts);
    if (rc == ECOM_OK) {
        (*out)->version = 4;
        lmdb_claim_get = (*out)->claim_get;
        (*out)->claim_get = v4_claim_get;
        lmdb_inventory_apply = (*out)->inventory_apply;
        (*out)->inventory_apply = v4_inventory_apply;
        lmdb_cart_apply = (*out)->cart_apply;
        (*out)->cart_apply = v4_cart_apply;
        lmdb_order_apply = (*out)->order_apply;
        (*out)->order_apply = v4_order_apply;
        (*out)->write_batch = NULL; /* its items would need widening too (support.h) */
    }
    return rc;
}

static int64_t orders_of(ecom_store *s, const char *user)
{
    ecom_order_list_options opts = ECOM_ORDER_LIST_OPTIONS_INIT;
    opts.user = user;
    ecom_order_page *page = NULL;
    must(s, ecom_order_list(&page, s, &opts));
    int64_t n = (int64_t)ecom_order_page_count(page);
    ecom_order_page_free(page);
    return n;
}

static void test_flash_claims__checkout_needs_contract_version_5_for_claims(void **state)
{
    (void)state;
    static const ecom_backend_factory v4 = {ECOM_BACKEND_VERSION, "v4", v4_open};
    assert_int_equal(ecom_backend_register(&v4), ECOM_OK);
    fixture f;
    memset(&f, 0, sizeof f);
    ecom_store *s = open_store(&f, "v4:");
    must(s, ecom_cart_add(s, "user:ann", "tv", 1, "USD"));
    ecom_checkout_request r = ECOM_CHECKOUT_REQUEST_INIT;
    r.cart = "user:ann";
    r.user = "ann";
    r.payment_token = "tok_approve";
    const char *claims[] = {"fs:1"};
    r.claims = claims;
    r.claim_count = 1;
    ecom_order *o = NULL;
    expect(s, ecom_checkout(&o, s, &r, "k1"), ECOM_EUNSUPPORTED,
           "the lmdb backend (contract version 4) cannot tell whose claim this is; claims "
           "need version 5");
    assert_null(o);
    assert_int_equal(orders_of(s, "ann"), 0);
    assert_int_equal(outcome_of(s, "fs:1"), ECOM_CLAIM_ADMITTED);
    assert_int_equal(reserved(s), 2);
    /* Without claims it buys from stock, under the same key. */
    r.claims = NULL;
    r.claim_count = 0;
    must(s, ecom_checkout(&o, s, &r, "k1"));
    assert_int_equal(ecom_order_get_state(o), ECOM_ORDER_PAID);
    ecom_order_free(o);
    ecom_store_close(s);
    test_remove_store_dir(f.dir);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_flash_claims__##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(only_the_canonical_spelling_names_a_claim),
        T(version_1_results_are_filled_up_to_their_end),
        T(version_1_requests_are_answered_in_their_layout),
        T(unknown_versions_are_refused),
        cmocka_unit_test(test_flash_claims__checkout_needs_contract_version_5_for_claims),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
