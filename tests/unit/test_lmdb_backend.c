/* The LMDB backend driven through its vtable: writes, reads, indexes, the event
 * log, check, map growth, threads and processes. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../backends/lmdb/lmdb_backend.h"
#include "internal.h"
#include "support/support.h"

/* ---- fixtures ---- */

typedef struct fixture {
    char dir[512];
    char uri[600];
    ecom_backend *be;
} fixture;

static void make_dir(fixture *f)
{
    test_fresh_store_dir(f->dir, sizeof f->dir, f->uri, sizeof f->uri, "lmdb_backend");
}

static void remove_dir(const char *dir)
{
    test_remove_store_dir(dir);
}

static int open_be(fixture *f, uint64_t map_size)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.map_size = map_size;
    opts.no_sync = 1;
    return ecom__lmdb_factory.open(&f->be, NULL, f->uri, &opts);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    make_dir(f);
    if (open_be(f, 0) != ECOM_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->be)
        f->be->close(f->be);
    remove_dir(f->dir);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    f->be->close(f->be);
    f->be = NULL;
    assert_int_equal(open_be(f, 0), ECOM_OK);
}

/* ---- helpers ---- */

static ecom_product_write item(const char *id, const char *cat, const char *const *skus,
                               size_t n, ecom_write_mode mode, uint64_t expected,
                               const char *data)
{
    ecom_product_write w = {{id, cat, ECOM_STATUS_ACTIVE, n, skus, data, strlen(data)},
                            mode, expected, 0, 0, {0, 0, 0}};
    return w;
}

static int put1(ecom_backend *be, const char *id, const char *cat, const char *sku,
                ecom_write_mode mode, uint64_t expected, const char *data, int64_t now,
                ecom_product_write *out)
{
    const char *skus[1] = {sku};
    ecom_product_write w = item(id, cat, skus, sku ? 1 : 0, mode, expected, data);
    int rc = be->product_write(be, &w, 1, now);
    if (out)
        *out = w;
    return rc == ECOM_OK ? w.result : rc;
}

typedef struct got {
    int calls;
    char id[80], category[300], sku0[80];
    char data[4096];
    size_t data_len, sku_count;
    int status;
    ecom_product_meta meta;
    char keys[64][400];
    size_t key_lens[64];
    char ids[64][80];
    int stop_after; /* return 1 after this many calls (0: never) */
    int fail_with;  /* return this error on the first call */
} got;

static int got_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                  const void *key, size_t key_len)
{
    got *g = ctx;
    if (g->fail_with)
        return g->fail_with;
    if (g->calls < 64) {
        memcpy(g->keys[g->calls], key, key_len);
        g->key_lens[g->calls] = key_len;
        snprintf(g->ids[g->calls], sizeof g->ids[0], "%s", rec->id);
    }
    g->calls++;
    snprintf(g->id, sizeof g->id, "%s", rec->id);
    snprintf(g->category, sizeof g->category, "%s", rec->category);
    snprintf(g->sku0, sizeof g->sku0, "%s", rec->sku_count ? rec->skus[0] : "");
    g->sku_count = rec->sku_count;
    g->status = rec->status;
    g->data_len = rec->data_len < sizeof g->data ? rec->data_len : sizeof g->data;
    memcpy(g->data, rec->data, g->data_len);
    g->meta = *meta;
    return g->stop_after && g->calls >= g->stop_after ? 1 : 0;
}

typedef struct reports {
    int count, products;
    char last[1024];
    char all[8192];
    ecom_check_sink sink;
} reports;

static void report_fn(ecom_check_sink *sink, const char *message)
{
    reports *r = (reports *)((char *)sink - offsetof(reports, sink));
    r->count++;
    snprintf(r->last, sizeof r->last, "%s", message);
    size_t used = strlen(r->all);
    snprintf(r->all + used, sizeof r->all - used, "%s\n", message);
}

static void product_fn(ecom_check_sink *sink, const ecom_product_rec *rec,
                       const ecom_product_meta *meta)
{
    reports *r = (reports *)((char *)sink - offsetof(reports, sink));
    (void)rec;
    (void)meta;
    r->products++;
}

static reports *run_check(ecom_backend *be)
{
    static reports r;
    memset(&r, 0, sizeof r);
    r.sink.report = report_fn;
    r.sink.product = product_fn;
    assert_int_equal(be->check(be, &r.sink), ECOM_OK);
    return &r;
}

static uint64_t last_seq(ecom_backend *be)
{
    uint64_t seq = 99;
    assert_int_equal(be->events_last_seq(be, &seq), ECOM_OK);
    return seq;
}

typedef struct evs {
    int n;
    ecom_event_rec ev[64];
    char type[64][32], key[64][80];
} evs;

static int ev_fn(void *ctx, const ecom_event_rec *e)
{
    evs *v = ctx;
    if (v->n < 64) {
        v->ev[v->n] = *e;
        snprintf(v->type[v->n], sizeof v->type[0], "%s", e->type);
        snprintf(v->key[v->n], sizeof v->key[0], "%s", e->key);
    }
    v->n++;
    return 0;
}

/* ---- cases ---- */

static void test_lmdb_backend__bad_uris(void **state)
{
    (void)state;
    static const char *const bad[] = {"lmdb://host/x", "lmdb:", "lmdb://", "lmdb:///tmp/x?y=1",
                                      "lmdb:/tmp/x#frag", "file:/tmp/x", "lmdb://host"};
    ecom_options opts = ECOM_OPTIONS_INIT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ecom_backend *be = (ecom_backend *)&opts; /* must be reset to NULL */
        assert_int_equal(ecom__lmdb_factory.open(&be, NULL, bad[i], &opts), ECOM_EURI);
        assert_null(be);
    }
    assert_true(ecom__lmdb_factory.version >= 2 && ecom__lmdb_factory.version <= ECOM_BACKEND_VERSION);
    assert_string_equal(ecom__lmdb_factory.scheme, "lmdb");
}

static void test_lmdb_backend__missing_dir(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/a/b", f.dir);
    char uri[800];
    snprintf(uri, sizeof uri, "lmdb:%s", sub);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.create = 0;
    ecom_backend *be = NULL;
    assert_int_equal(ecom__lmdb_factory.open(&be, NULL, uri, &opts), ECOM_ENOTFOUND);
    assert_null(be);
    opts.read_only = 1;
    opts.create = 1;
    assert_int_equal(ecom__lmdb_factory.open(&be, NULL, uri, &opts), ECOM_ENOTFOUND);
    /* create makes every missing level (lmdb:/abs form) */
    opts = (ecom_options)ECOM_OPTIONS_INIT;
    assert_int_equal(ecom__lmdb_factory.open(&be, NULL, uri, &opts), ECOM_OK);
    assert_string_equal(be->name, "lmdb");
    be->close(be);
    remove_dir(sub);
    snprintf(sub, sizeof sub, "%s/a", f.dir);
    rmdir(sub);
    rmdir(f.dir);
}

static void test_lmdb_backend__relative_uri(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f.dir), 0);
    ecom_options opts = ECOM_OPTIONS_INIT;
    ecom_backend *be = NULL;
    assert_int_equal(ecom__lmdb_factory.open(&be, NULL, "lmdb:rel/store", &opts), ECOM_OK);
    be->close(be);
    struct stat st;
    assert_int_equal(stat("rel/store/data.mdb", &st), 0);
    remove_dir("rel/store");
    rmdir("rel");
    assert_int_equal(chdir(cwd), 0);
    rmdir(f.dir);
}

static void test_lmdb_backend__create_get(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    const char *skus[] = {"p1-red", "p1-blue"};
    ecom_product_write w = item("p1", "audio/headphones", skus, 2, ECOM_WRITE_CREATE, 0,
                                "opaque\x01\x02 bytes");
    assert_int_equal(be->product_write(be, &w, 1, 1000), ECOM_OK);
    assert_int_equal(w.result, ECOM_OK);
    assert_int_equal(w.created, 1);
    assert_int_equal(w.meta.version, 1);
    assert_int_equal(w.meta.created_at, 1000);
    assert_int_equal(w.meta.updated_at, 1000);

    got g = {0};
    assert_int_equal(be->product_get(be, "p1", got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.id, "p1");
    assert_string_equal(g.category, "audio/headphones");
    assert_int_equal(g.sku_count, 2);
    assert_string_equal(g.sku0, "p1-red");
    assert_int_equal(g.status, ECOM_STATUS_ACTIVE);
    assert_int_equal(g.data_len, strlen("opaque\x01\x02 bytes"));
    assert_memory_equal(g.data, "opaque\x01\x02 bytes", g.data_len);
    assert_int_equal(g.meta.version, 1);
    assert_int_equal(g.key_lens[0], 2);
    assert_memory_equal(g.keys[0], "p1", 2);

    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_get_by_sku(be, "p1-blue", got_fn, &g), ECOM_OK);
    assert_string_equal(g.id, "p1");
    assert_int_equal(be->product_get(be, "nope", got_fn, &g), ECOM_ENOTFOUND);
    assert_int_equal(be->product_get_by_sku(be, "nope", got_fn, &g), ECOM_ENOTFOUND);
    g.fail_with = ECOM_EJSON;
    assert_int_equal(be->product_get(be, "p1", got_fn, &g), ECOM_EJSON);
    assert_int_equal(run_check(be)->count, 0);
}

static void test_lmdb_backend__modes(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    ecom_product_write w;
    assert_int_equal(put1(be, "p1", "a", "s1", ECOM_WRITE_CREATE, 0, "v1", 100, &w), ECOM_OK);
    assert_int_equal(put1(be, "p1", "a", "s1", ECOM_WRITE_CREATE, 0, "v1", 100, &w),
                     ECOM_EEXISTS);
    assert_int_equal(w.meta.version, 1); /* a refusal still says what is stored */
    assert_int_equal(put1(be, "p2", "a", "s2", ECOM_WRITE_UPDATE, 1, "x", 100, NULL),
                     ECOM_ENOTFOUND);
    assert_int_equal(put1(be, "p1", "a", "s1", ECOM_WRITE_UPDATE, 7, "x", 100, NULL),
                     ECOM_ECONFLICT);
    assert_int_equal(put1(be, "p1", "b", "s1b", ECOM_WRITE_UPDATE, 1, "v2", 200, &w), ECOM_OK);
    assert_int_equal(w.created, 0);
    assert_int_equal(w.meta.version, 2);
    assert_int_equal(w.meta.created_at, 100);
    assert_int_equal(w.meta.updated_at, 200);
    assert_int_equal(put1(be, "p1", "b", "s1b", ECOM_WRITE_UPDATE, ECOM_VERSION_ANY, "v3", 300,
                          &w),
                     ECOM_OK);
    assert_int_equal(w.meta.version, 3);
    assert_int_equal(put1(be, "p1", "b", "s1b", ECOM_WRITE_UPSERT, 42, "v4", 400, &w), ECOM_OK);
    assert_int_equal(w.meta.version, 4);
    assert_int_equal(put1(be, "p3", "", NULL, ECOM_WRITE_UPSERT, 0, "v", 500, &w), ECOM_OK);
    assert_int_equal(w.created, 1);
    assert_int_equal(w.meta.version, 1);

    /* the old sku is free again, the new one taken */
    got g = {0};
    assert_int_equal(be->product_get_by_sku(be, "s1", got_fn, &g), ECOM_ENOTFOUND);
    assert_int_equal(be->product_get_by_sku(be, "s1b", got_fn, &g), ECOM_OK);
    assert_string_equal(g.category, "b");
    assert_int_equal(last_seq(be), 5);
    evs v = {0};
    assert_int_equal(be->events_read(be, 0, 100, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 5);
    assert_string_equal(v.type[0], "product.created");
    assert_string_equal(v.type[1], "product.updated");
    assert_int_equal(v.ev[1].version, 2);
    assert_int_equal(v.ev[1].time, 200);
    assert_string_equal(v.key[4], "p3");
    assert_int_equal(v.ev[4].seq, 5);
    assert_int_equal(run_check(be)->count, 0);
}

static void test_lmdb_backend__batch_dup_sku(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(put1(be, "x", "c", "taken", ECOM_WRITE_CREATE, 0, "x", 1, NULL), ECOM_OK);
    const char *s1[] = {"a1"}, *s2[] = {"b1", "taken"}, *s3[] = {"c1"};
    ecom_product_write w[3] = {item("a", "c", s1, 1, ECOM_WRITE_CREATE, 0, "a"),
                               item("b", "c", s2, 2, ECOM_WRITE_CREATE, 0, "b"),
                               item("c", "c/d", s3, 1, ECOM_WRITE_CREATE, 0, "c")};
    assert_int_equal(be->product_write(be, w, 3, 2), ECOM_OK);
    assert_int_equal(w[0].result, ECOM_OK);
    assert_int_equal(w[1].result, ECOM_EDUPSKU);
    assert_int_equal(w[2].result, ECOM_OK);
    got g = {0};
    assert_int_equal(be->product_get(be, "b", got_fn, &g), ECOM_ENOTFOUND);
    assert_int_equal(be->product_get_by_sku(be, "b1", got_fn, &g), ECOM_ENOTFOUND);
    assert_int_equal(be->product_get_by_sku(be, "taken", got_fn, &g), ECOM_OK);
    assert_string_equal(g.id, "x");
    assert_int_equal(last_seq(be), 3);

    /* a sku freed by an earlier item is free for a later one of the same call */
    const char *nx[] = {"x2"}, *ny[] = {"taken"};
    ecom_product_write m[2] = {item("x", "c", nx, 1, ECOM_WRITE_UPDATE, 1, "x"),
                               item("y", "c", ny, 1, ECOM_WRITE_CREATE, 0, "y")};
    assert_int_equal(be->product_write(be, m, 2, 3), ECOM_OK);
    assert_int_equal(m[0].result, ECOM_OK);
    assert_int_equal(m[1].result, ECOM_OK);
    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_get_by_sku(be, "taken", got_fn, &g), ECOM_OK);
    assert_string_equal(g.id, "y");
    reports *r = run_check(be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, 4);
}

static void test_lmdb_backend__many_skus(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    enum { N = 300 }; /* past the stack array of sku pointers */
    static char names[N][16];
    const char *skus[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "big-%d", i);
        skus[i] = names[i];
    }
    ecom_product_write w = item("big", "x", skus, N, ECOM_WRITE_CREATE, 0, "data");
    assert_int_equal(be->product_write(be, &w, 1, 1), ECOM_OK);
    assert_int_equal(w.result, ECOM_OK);
    got g = {0};
    assert_int_equal(be->product_get_by_sku(be, "big-299", got_fn, &g), ECOM_OK);
    assert_int_equal(g.sku_count, N);
    /* drop half: the dropped ones leave the index */
    w = item("big", "x", skus, N / 2, ECOM_WRITE_UPDATE, 1, "data");
    assert_int_equal(be->product_write(be, &w, 1, 2), ECOM_OK);
    assert_int_equal(w.result, ECOM_OK);
    assert_int_equal(be->product_get_by_sku(be, "big-299", got_fn, &g), ECOM_ENOTFOUND);
    reports *r = run_check(be);
    assert_int_equal(r->count, 0);
}

static void test_lmdb_backend__delete(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(put1(be, "d1", "cat", "d1s", ECOM_WRITE_CREATE, 0, "x", 1, NULL), ECOM_OK);
    assert_int_equal(be->product_delete(be, "d1", 5, 2), ECOM_ECONFLICT);
    assert_int_equal(be->product_delete(be, "zz", ECOM_VERSION_ANY, 2), ECOM_ENOTFOUND);
    assert_int_equal(be->product_delete(be, "d1", 1, 3), ECOM_OK);
    got g = {0};
    assert_int_equal(be->product_get(be, "d1", got_fn, &g), ECOM_ENOTFOUND);
    assert_int_equal(be->product_get_by_sku(be, "d1s", got_fn, &g), ECOM_ENOTFOUND);
    evs v = {0};
    assert_int_equal(be->events_read(be, 1, 10, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.type[0], "product.deleted");
    assert_string_equal(v.key[0], "d1");
    assert_int_equal(v.ev[0].version, 0);
    assert_int_equal(v.ev[0].seq, 2);
    assert_int_equal(v.ev[0].time, 3);
    /* the sku is free, the id reusable, and the category gone from the list */
    assert_int_equal(put1(be, "d2", "", "d1s", ECOM_WRITE_CREATE, 0, "x", 4, NULL), ECOM_OK);
    assert_int_equal(run_check(be)->count, 0);
}

typedef struct cats {
    int n;
    char path[16][64];
    uint64_t count[16];
} cat_list;

static int cat_fn(void *ctx, const char *path, uint64_t products)
{
    cat_list *c = ctx;
    if (c->n < 16) {
        snprintf(c->path[c->n], sizeof c->path[0], "%s", path);
        c->count[c->n] = products;
    }
    c->n++;
    return 0;
}

static void fill_catalog(ecom_backend *be)
{
    static const char *const rows[][2] = {
        {"p5", "a/b"}, {"p1", "a/b"},   {"p3", "a/b/c"}, {"p2", "a/bc"},
        {"p4", "a"},   {"p6", ""},      {"p7", "a/b/c"}, {"p0", "z"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char sku[32];
        snprintf(sku, sizeof sku, "%s-sku", rows[i][0]);
        assert_int_equal(put1(be, rows[i][0], rows[i][1], sku, ECOM_WRITE_CREATE, 0, "d",
                              (int64_t)i, NULL),
                         ECOM_OK);
    }
}

static void test_lmdb_backend__scan(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    fill_catalog(be);
    ecom_scan all = {NULL, NULL, 0};
    got g = {0};
    assert_int_equal(be->product_scan(be, &all, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 8);
    for (int i = 0; i < 8; i++) {
        char want[16];
        snprintf(want, sizeof want, "p%d", i);
        assert_string_equal(g.ids[i], want);
    }
    /* resume after p3 */
    got first = g; /* the resume key must outlive the next scan's g */
    ecom_scan next = {"", first.keys[3], first.key_lens[3]};
    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_scan(be, &next, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 4);
    assert_string_equal(g.ids[0], "p4");
    /* stop early */
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    assert_int_equal(be->product_scan(be, &all, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 2);
    memset(&g, 0, sizeof g);
    g.fail_with = ECOM_ENOMEM;
    assert_int_equal(be->product_scan(be, &all, got_fn, &g), ECOM_ENOMEM);

    /* "a/b": itself, then its subtree; never "a/bc" */
    ecom_scan sub = {"a/b", NULL, 0};
    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_scan(be, &sub, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 4);
    assert_string_equal(g.ids[0], "p1");
    assert_string_equal(g.ids[1], "p5");
    assert_string_equal(g.ids[2], "p3");
    assert_string_equal(g.ids[3], "p7");
    got page = {0};
    ecom_scan resume = {"a/b", g.keys[1], g.key_lens[1]};
    assert_int_equal(be->product_scan(be, &resume, got_fn, &page), ECOM_OK);
    assert_int_equal(page.calls, 2);
    assert_string_equal(page.ids[0], "p3");
    assert_string_equal(page.ids[1], "p7");
    ecom_scan top = {"a", NULL, 0};
    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_scan(be, &top, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 6);
    ecom_scan none = {"q", NULL, 0};
    memset(&g, 0, sizeof g);
    assert_int_equal(be->product_scan(be, &none, got_fn, &g), ECOM_OK);
    assert_int_equal(g.calls, 0);
}

static void test_lmdb_backend__category_list(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    fill_catalog(be);
    cat_list c = {0};
    assert_int_equal(be->category_list(be, cat_fn, &c), ECOM_OK);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.path[0], "a");
    assert_string_equal(c.path[1], "a/b");
    assert_int_equal(c.count[1], 2);
    assert_string_equal(c.path[2], "a/b/c");
    assert_string_equal(c.path[3], "a/bc");
    assert_string_equal(c.path[4], "z");
    /* moving the only product of z out drops z */
    assert_int_equal(put1(be, "p0", "a", "p0-sku", ECOM_WRITE_UPDATE, 1, "d", 9, NULL), ECOM_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(be->category_list(be, cat_fn, &c), ECOM_OK);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.path[0], "a");
    assert_int_equal(c.count[0], 2);
    assert_int_equal(run_check(be)->count, 0);
}

static void test_lmdb_backend__events(void **state)
{
    fixture *f = *state;
    ecom_backend *be = f->be;
    assert_int_equal(last_seq(be), 0);
    evs v = {0};
    assert_int_equal(be->events_read(be, 0, 10, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 0);
    fill_catalog(be);
    assert_int_equal(last_seq(be), 8);
    assert_int_equal(be->events_read(be, 3, 2, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.ev[0].seq, 4);
    assert_int_equal(v.ev[1].seq, 5);
    memset(&v, 0, sizeof v);
    assert_int_equal(be->events_read(be, 8, 10, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(be->events_read(be, UINT64_MAX, 10, ev_fn, &v), ECOM_OK);
    assert_int_equal(be->events_read(be, 0, 0, ev_fn, &v), ECOM_OK);
    assert_int_equal(v.n, 0);
}

static void test_lmdb_backend__reopen_persists(void **state)
{
    fixture *f = *state;
    fill_catalog(f->be);
    reopen(f);
    got g = {0};
    assert_int_equal(f->be->product_get_by_sku(f->be, "p3-sku", got_fn, &g), ECOM_OK);
    assert_string_equal(g.category, "a/b/c");
    assert_int_equal(last_seq(f->be), 8);
    reports *r = run_check(f->be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, 8);
}

static MDB_dbi open_dbi(MDB_txn *t, const char *name)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(t, name, 0, &dbi), 0);
    return dbi;
}

/* Runs fn on the raw environment of the fixture's store (closed meanwhile). */
static void raw_edit(fixture *f, void (*fn)(MDB_txn *txn, MDB_dbi (*open)(MDB_txn *, const char *)))
{
    f->be->close(f->be);
    f->be = NULL;
    MDB_env *env;
    MDB_txn *txn;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    fn(txn, open_dbi);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(open_be(f, 0), ECOM_OK);
}

static void del_key(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
    MDB_val k = {len, (void *)key};
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
}

static void corrupt_sku_index(MDB_txn *txn, MDB_dbi (*open)(MDB_txn *, const char *))
{
    del_key(txn, open(txn, "skus"), "p3-sku", sizeof "p3-sku");
}

static void corrupt_the_rest(MDB_txn *txn, MDB_dbi (*open)(MDB_txn *, const char *))
{
    MDB_dbi skus = open(txn, "skus"), cats = open(txn, "cats");
    MDB_val k = {sizeof "ghost", "ghost"}, v = {sizeof "p404", "p404"};
    assert_int_equal(mdb_put(txn, skus, &k, &v, 0), 0);
    unsigned char five[8] = {5};
    k = (MDB_val){sizeof "a/bc", "a/bc"};
    v = (MDB_val){8, five};
    assert_int_equal(mdb_put(txn, cats, &k, &v, 0), 0);
    unsigned char seq4[8] = {0, 0, 0, 0, 0, 0, 0, 4};
    del_key(txn, open(txn, "events"), seq4, 8);
    del_key(txn, open(txn, "bycat"), "a/b/\0p1", sizeof "a/b/\0p1");
    v = (MDB_val){3, "bad"};
    k = (MDB_val){sizeof "p7", "p7"};
    assert_int_equal(mdb_put(txn, open(txn, "products"), &k, &v, 0), 0);
}

static void test_lmdb_backend__check_finds_corruption(void **state)
{
    fixture *f = *state;
    fill_catalog(f->be);
    raw_edit(f, corrupt_sku_index);
    reports *r = run_check(f->be);
    assert_int_equal(r->count, 1);
    assert_non_null(strstr(r->last, "'p3-sku'"));
    assert_non_null(strstr(r->last, "'p3'"));
    got g = {0};
    assert_int_equal(f->be->product_get_by_sku(f->be, "p3-sku", got_fn, &g), ECOM_ENOTFOUND);

    raw_edit(f, corrupt_the_rest);
    r = run_check(f->be);
    const char *want[] = {"sku 'ghost' points at missing product 'p404'",
                          "category 'a/bc' counts 5 products but 1 are filed there",
                          "seq 5 where 4 was expected",
                          "product 'p1' (category 'a/b') is missing from the category index",
                          "category 'a/b' counts 2 products but 1 are filed there",
                          "product 'p7': stored value does not parse"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(r->all, want[i]) == NULL)
            fail_msg("check did not report \"%s\"; it said:\n%s", want[i], r->all);
    assert_int_equal(r->products, 7);
    /* reads of the broken product say so */
    assert_int_equal(f->be->product_get(f->be, "p7", got_fn, &g), ECOM_ECORRUPT);
}

static void test_lmdb_backend__map_grows(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    assert_int_equal(open_be(&f, 64 << 10), ECOM_OK);
    char data[2048];
    memset(data, 'x', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 0; i < 3000; i++) {
        char id[32], sku[32];
        snprintf(id, sizeof id, "grow-%05d", i);
        snprintf(sku, sizeof sku, "grow-sku-%05d", i);
        assert_int_equal(put1(f.be, id, "bulk", sku, ECOM_WRITE_CREATE, 0, data, i, NULL),
                         ECOM_OK);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", f.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (off_t)(4 << 20)); /* 64 KiB grew well past */
    reports *r = run_check(f.be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, 3000);
    /* reopening with the tiny size still sees everything */
    f.be->close(f.be);
    assert_int_equal(open_be(&f, 64 << 10), ECOM_OK);
    assert_int_equal(last_seq(f.be), 3000);
    f.be->close(f.be);
    remove_dir(f.dir);
}

static int nested_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                     const void *key, size_t key_len)
{
    (void)meta;
    (void)key;
    (void)key_len;
    ecom_backend *be = ctx;
    got g = {0};
    /* a read inside a scan's callback: its own snapshot, same thread */
    assert_int_equal(be->product_get(be, rec->id, got_fn, &g), ECOM_OK);
    assert_string_equal(g.id, rec->id);
    return 0;
}

static void test_lmdb_backend__nested_and_read_only(void **state)
{
    fixture *f = *state;
    fill_catalog(f->be);
    ecom_scan all = {NULL, NULL, 0};
    assert_int_equal(f->be->product_scan(f->be, &all, nested_fn, f->be), ECOM_OK);
    f->be->close(f->be);
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.read_only = 1;
    assert_int_equal(ecom__lmdb_factory.open(&f->be, NULL, f->uri, &opts), ECOM_OK);
    got g = {0};
    assert_int_equal(f->be->product_get(f->be, "p1", got_fn, &g), ECOM_OK);
    assert_int_equal(put1(f->be, "new", "", NULL, ECOM_WRITE_CREATE, 0, "d", 1, NULL),
                     ECOM_EREADONLY);
    assert_int_equal(run_check(f->be)->count, 0);
}

/* ---- threads and processes ---- */

typedef struct worker {
    ecom_backend *be;
    int n, per;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char data[700];
    memset(data, 'd', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 0; i < w->per; i++) {
        char id[32], sku[32];
        snprintf(id, sizeof id, "t%d-%04d", w->n, i);
        snprintf(sku, sizeof sku, "t%d-sku-%04d", w->n, i);
        if (put1(w->be, id, i % 2 ? "odd" : "even", sku, ECOM_WRITE_UPSERT, 0, data, i, NULL))
            w->failures++;
        /* a shared product every thread updates: versions must not be lost */
        if (put1(w->be, "shared", "", NULL, ECOM_WRITE_UPSERT, 0, "s", i, NULL))
            w->failures++;
        got g = {0};
        if (w->be->product_get_by_sku(w->be, sku, got_fn, &g) || strcmp(g.id, id) != 0)
            w->failures++;
        ecom_scan sc = {i % 2 ? "odd" : "even", NULL, 0};
        memset(&g, 0, sizeof g);
        g.stop_after = 5;
        if (w->be->product_scan(w->be, &sc, got_fn, &g) != ECOM_OK || g.calls < 1)
            w->failures++;
    }
    return NULL;
}

static void test_lmdb_backend__threads(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    assert_int_equal(open_be(&f, 64 << 10), ECOM_OK); /* small: growth under load */
    enum { T = 4, PER = 300 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){f.be, i, PER, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    got g = {0};
    assert_int_equal(f.be->product_get(f.be, "shared", got_fn, &g), ECOM_OK);
    assert_int_equal(g.meta.version, T * PER);
    assert_int_equal(last_seq(f.be), 2 * T * PER);
    reports *r = run_check(f.be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, T * PER + 1);
    f.be->close(f.be);
    remove_dir(f.dir);
}

static int child_writes(const char *uri, int n, int per)
{
    ecom_options opts = ECOM_OPTIONS_INIT;
    opts.map_size = 256 << 10; /* each process grows its own map */
    ecom_backend *be = NULL;
    if (ecom__lmdb_factory.open(&be, NULL, uri, &opts) != ECOM_OK)
        return 1;
    int failures = 0;
    char data[900];
    memset(data, 'p', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 0; i < per; i++) {
        char id[32], sku[32];
        snprintf(id, sizeof id, "proc%d-%04d", n, i);
        snprintf(sku, sizeof sku, "proc%d-sku-%04d", n, i);
        failures += put1(be, id, "procs", sku, ECOM_WRITE_CREATE, 0, data, i, NULL) != 0;
        failures += put1(be, "both", "", NULL, ECOM_WRITE_UPSERT, 0, "b", i, NULL) != 0;
        got g = {0};
        failures += be->product_get(be, id, got_fn, &g) != 0;
    }
    be->close(be);
    return failures ? 2 : 0;
}

static void test_lmdb_backend__processes(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    enum { P = 2, PER = 400 };
    pid_t pids[P];
    for (int i = 0; i < P; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_writes(f.uri, i, PER));
    }
    for (int i = 0; i < P; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(open_be(&f, 0), ECOM_OK);
    reports *r = run_check(f.be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, P * PER + 1);
    assert_int_equal(last_seq(f.be), 2 * P * PER);
    got g = {0};
    assert_int_equal(f.be->product_get(f.be, "both", got_fn, &g), ECOM_OK);
    assert_int_equal(g.meta.version, P * PER);
    f.be->close(f.be);
    remove_dir(f.dir);
}

/* Another process grows the map past ours: our next read and write adopt its size. */
static void test_lmdb_backend__adopts_grown_map(void **state)
{
    (void)state;
    fixture f = {0};
    make_dir(&f);
    assert_int_equal(open_be(&f, 64 << 10), ECOM_OK);
    assert_int_equal(put1(f.be, "first", "", NULL, ECOM_WRITE_CREATE, 0, "x", 1, NULL), ECOM_OK);
    got g = {0};
    assert_int_equal(f.be->product_get(f.be, "first", got_fn, &g), ECOM_OK); /* caches a txn */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_writes(f.uri, 9, 1500));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    memset(&g, 0, sizeof g);
    assert_int_equal(f.be->product_get(f.be, "proc9-1499", got_fn, &g), ECOM_OK);
    assert_int_equal(put1(f.be, "last", "", NULL, ECOM_WRITE_CREATE, 0, "x", 2, NULL), ECOM_OK);
    reports *r = run_check(f.be);
    assert_int_equal(r->count, 0);
    assert_int_equal(r->products, 1500 + 3);
    f.be->close(f.be);
    remove_dir(f.dir);
}

/* ---- the store's format ---- */

/* Sets the store's recorded format (raw LMDB: the backend closed). */
static void set_format(const fixture *f, uint32_t format)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    unsigned char buf[4] = {(unsigned char)format, (unsigned char)(format >> 8),
                            (unsigned char)(format >> 16), (unsigned char)(format >> 24)};
    MDB_val k = {sizeof "format", (void *)"format"}, v = {sizeof buf, buf};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static uint32_t get_format(const fixture *f)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_RDONLY, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {sizeof "format", (void *)"format"}, v;
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    assert_int_equal(v.mv_size, 4);
    const unsigned char *b = v.mv_data;
    uint32_t format = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 24;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return format;
}

/* A format-1 store (written before forwards and bound claims) opens: read-only as it
 * is, writable raised to format 2, which an older libecom refuses rather than misread;
 * a format this libecom does not know is ECOM_EVERSION, naming both. */
static void test_lmdb_backend__store_format(void **state)
{
    fixture *f = *state;
    f->be->close(f->be);
    f->be = NULL;
    assert_int_equal(get_format(f), 2);
    set_format(f, 1);
    ecom_options ro = ECOM_OPTIONS_INIT;
    ro.read_only = 1;
    assert_int_equal(ecom__lmdb_factory.open(&f->be, NULL, f->uri, &ro), ECOM_OK);
    f->be->close(f->be);
    f->be = NULL;
    assert_int_equal(get_format(f), 1);
    assert_int_equal(open_be(f, 0), ECOM_OK);
    f->be->close(f->be);
    f->be = NULL;
    assert_int_equal(get_format(f), 2);
    set_format(f, 3);
    assert_int_equal(open_be(f, 0), ECOM_EVERSION);
    set_format(f, 0);
    assert_int_equal(open_be(f, 0), ECOM_EVERSION);
    set_format(f, 2);
    assert_int_equal(open_be(f, 0), ECOM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lmdb_backend__bad_uris),
        cmocka_unit_test(test_lmdb_backend__missing_dir),
        cmocka_unit_test(test_lmdb_backend__relative_uri),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__create_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__batch_dup_sku, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__many_skus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__category_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__reopen_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__check_finds_corruption, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__nested_and_read_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_backend__store_format, setup, teardown),
        cmocka_unit_test(test_lmdb_backend__map_grows),
        cmocka_unit_test(test_lmdb_backend__threads),
        cmocka_unit_test(test_lmdb_backend__processes),
        cmocka_unit_test(test_lmdb_backend__adopts_grown_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
