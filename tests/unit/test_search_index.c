/*
 * The search index (search_index.c, search_exec.c and their helpers): relevance on a
 * hand-made catalog, totals and facets against brute force, updates and compaction,
 * cursor paging while products change, snapshots, request checks, memory per
 * product, and out-of-memory at every allocation of a put and a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_index.h"
#include "support/support.h"

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return (size_t)(rng_next() % n);
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct spec {
    const char *id, *title, *brand, *desc, *cat;
    int64_t usd, eur; /* -1: none */
    const char *colors[3];
    const char *size;
    int64_t created;
    bool draft;
} spec;

/* A product from a spec: two variants, the second 500 dearer (so that the lowest
 * price is the first's). */
static ecom_product *build(const spec *s)
{
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, s->id), ECOM_OK);
    assert_int_equal(ecom_product_set_title(p, s->title ? s->title : s->id), ECOM_OK);
    assert_int_equal(ecom_product_set_description(p, s->desc ? s->desc : ""), ECOM_OK);
    assert_int_equal(ecom_product_set_brand(p, s->brand ? s->brand : ""), ECOM_OK);
    assert_int_equal(ecom_product_set_category(p, s->cat ? s->cat : ""), ECOM_OK);
    assert_int_equal(ecom_product_set_status(p, s->draft ? ECOM_STATUS_DRAFT : ECOM_STATUS_ACTIVE),
                     ECOM_OK);
    for (size_t i = 0; i < 3 && s->colors[i]; i++)
        assert_int_equal(ecom_product_add_attribute(p, "color", s->colors[i]), ECOM_OK);
    if (s->size)
        assert_int_equal(ecom_product_add_attribute(p, "size", s->size), ECOM_OK);
    for (size_t v = 0; v < 2; v++) {
        char sku[80];
        size_t idx;
        snprintf(sku, sizeof sku, "%s-%zu", s->id, v);
        assert_int_equal(ecom_product_add_variant(p, sku, 100, &idx), ECOM_OK);
        if (s->usd >= 0)
            assert_int_equal(
                ecom_product_variant_set_price(p, idx, "USD", s->usd + 500 * (int64_t)v), ECOM_OK);
        if (s->eur >= 0)
            assert_int_equal(
                ecom_product_variant_set_price(p, idx, "EUR", s->eur + 500 * (int64_t)v), ECOM_OK);
    }
    p->created_at = s->created;
    return p;
}

static void put_spec(ecom__sindex *ix, const spec *s, bool in_stock)
{
    ecom_product *p = build(s);
    assert_int_equal(ecom__sindex_put(ix, p, in_stock), ECOM_OK);
    ecom_product_free(p);
}

static ecom_search_result *run(ecom__sindex *ix, const ecom_search_request *req)
{
    ecom_search_result *r = NULL;
    char msg[256] = "";
    int rc = ecom__sindex_run(&r, ix, req, msg, sizeof msg);
    if (rc != ECOM_OK)
        fail_msg("run: %d %s", rc, msg);
    return r;
}

static ecom_search_result *run_text(ecom__sindex *ix, const char *text)
{
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.text = text;
    req.limit = 100;
    return run(ix, &req);
}

static size_t rank_of(const ecom_search_result *r, const char *id)
{
    for (size_t i = 0; i < ecom_search_result_count(r); i++)
        if (strcmp(ecom_search_result_id(r, i), id) == 0)
            return i;
    return SIZE_MAX;
}

static char *json_of(ecom__sindex *ix, const ecom_search_request *req)
{
    ecom_search_result *r = run(ix, req);
    char *s = NULL;
    assert_int_equal(ecom_search_result_to_json(&s, r), ECOM_OK);
    ecom_search_result_free(r);
    return s;
}

/* ---- 1. relevance ---- */

/* id, title, brand, description, category, USD price */
typedef struct shop_item {
    const char *id, *title, *brand, *desc, *cat;
    int64_t usd;
} shop_item;

static const shop_item shop[] = {
    {"p01", "Run Shoe", "Stride", "Light trainer for road runs", "clothing/shoes/running", 8900},
    {"p02", "Trail Running Shoes", "Peak", "Grip for mud and rock", "clothing/shoes/trail", 12000},
    {"p03", "Wireless Headphones", "Sonic", "Noise cancelling, over-ear", "electronics/audio",
     19900},
    {"p04", "Studio Headphones", "Audix", "Flat response for mixing", "electronics/audio", 9900},
    {"p05", "Bluetooth Speaker", "Sonic", "Pairs with headphones and phones", "electronics/audio",
     4900},
    {"p06", "Leather Wallet", "Oak & Co", "Slim bifold", "clothing/accessories", 3900},
    {"p07", "Canvas Backpack", "Oak & Co", "Fits a laptop", "clothing/accessories", 5900},
    {"p08", "Laptop Stand", "Deskly", "Aluminum stand for any laptop", "office", 2900},
    {"p09", "Coffee Maker", "Brewmaster", "Twelve cups, glass carafe", "kitchen", 6900},
    {"p10", "Espresso Machine", "Brewmaster", "Coffee at home", "kitchen", 29900},
    {"p11", "Yoga Mat", "Zenfit", "Non slip", "sports", 2500},
    {"p12", "Running Socks", "Stride", "Cushioned socks for runners", "clothing/socks", 1200},
    {"p13", "Rain Jacket", "Peak", "Waterproof shell", "clothing/jackets", 14900},
    {"p14", "Desk Lamp", "Deskly", "LED lamp with a standard bulb", "office", 3500},
    {"p15", "Water Bottle", "Zenfit", "Keeps drinks cold", "sports", 1900},
    {"p16", "Sonic Earbuds", "Sonic", "True wireless", "electronics/audio", 12900},
    {"p17", "Headphone Case", "Oak & Co", "Hard shell case", "electronics/accessories", 1500},
    {"p18", "Chess Set", "Kingly", "Wooden pieces", "toys", 4500},
    {"p19", "Hiking Boots", "Peak", "Waterproof leather boots", "clothing/shoes/hiking", 17900},
    {"p20", "Travel Mug", "Brewmaster", "Coffee on the go", "kitchen", 2200},
};

static spec shop_spec(size_t i)
{
    const shop_item *it = &shop[i];
    spec s = {it->id, it->title, it->brand, it->desc, it->cat, it->usd, -1, {0}, 0, 0, 0};
    return s;
}

static ecom__sindex *shop_index(void)
{
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    for (size_t i = 0; i < ARRAY_LEN(shop); i++) {
        spec s = shop_spec(i);
        put_spec(ix, &s, true);
    }
    assert_int_equal(ecom__sindex_prepare(ix), ECOM_OK);
    assert_int_equal(ecom__sindex_products(ix), ARRAY_LEN(shop));
    return ix;
}

static void test_search_index__relevance(void **state)
{
    (void)state;
    ecom__sindex *ix = shop_index();

    /* title matches outrank the description match */
    ecom_search_result *r = run_text(ix, "headphones ");
    assert_int_equal(ecom_search_result_total(r), 4);
    size_t desc = rank_of(r, "p05");
    assert_int_equal(desc, 3);
    assert_true(rank_of(r, "p03") < desc && rank_of(r, "p04") < desc && rank_of(r, "p17") < desc);
    assert_true(ecom_search_result_score(r, 0) >= ecom_search_result_score(r, 1));
    assert_true(ecom_search_result_score(r, 2) > ecom_search_result_score(r, 3));
    ecom_search_result_free(r);

    /* a brand word: the product with it in title and brand first */
    r = run_text(ix, "sonic");
    assert_int_equal(ecom_search_result_total(r), 3);
    assert_string_equal(ecom_search_result_id(r, 0), "p16");
    ecom_search_result_free(r);

    /* stemming: "running shoes" finds "Run Shoe"; AND leaves out "Running Socks" */
    r = run_text(ix, "running shoes ");
    assert_int_equal(ecom_search_result_total(r), 2);
    assert_true(rank_of(r, "p01") != SIZE_MAX && rank_of(r, "p02") != SIZE_MAX);
    ecom_search_result_free(r);

    /* type-ahead and typo */
    const char *same[] = {"headph", "headphnes ", "HEADPHONES"};
    for (size_t i = 0; i < ARRAY_LEN(same); i++) {
        r = run_text(ix, same[i]);
        assert_int_equal(ecom_search_result_total(r), 4);
        assert_int_equal(rank_of(r, "p05"), 3);
        ecom_search_result_free(r);
    }
    /* a finished word is no prefix */
    r = run_text(ix, "headph ");
    assert_int_equal(ecom_search_result_total(r), 0);
    ecom_search_result_free(r);

    /* AND */
    r = run_text(ix, "coffee maker ");
    assert_int_equal(ecom_search_result_total(r), 1);
    assert_string_equal(ecom_search_result_id(r, 0), "p09");
    ecom_search_result_free(r);
    r = run_text(ix, "waterproof boots");
    assert_int_equal(ecom_search_result_total(r), 1);
    assert_string_equal(ecom_search_result_id(r, 0), "p19");
    ecom_search_result_free(r);

    /* exact beats prefix: "stand" is p08's word, a prefix of p14's "standard" */
    r = run_text(ix, "stand");
    assert_int_equal(ecom_search_result_total(r), 2);
    assert_string_equal(ecom_search_result_id(r, 0), "p08");
    ecom_search_result_free(r);

    /* plural and singular are one stem */
    r = run_text(ix, "lamps ");
    assert_int_equal(ecom_search_result_total(r), 1);
    assert_string_equal(ecom_search_result_id(r, 0), "p14");
    ecom_search_result_free(r);

    /* no text: everything, by id, score 0 */
    r = run_text(ix, NULL);
    assert_int_equal(ecom_search_result_total(r), ARRAY_LEN(shop));
    assert_string_equal(ecom_search_result_id(r, 0), "p01");
    assert_string_equal(ecom_search_result_id(r, 19), "p20");
    assert_true(ecom_search_result_score(r, 0) == 0);
    assert_int_equal(ecom_search_result_price(r, 0), 8900);
    ecom_search_result_free(r);

    /* matches() agrees */
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.text = "headph";
    assert_true(ecom__sindex_matches(ix, &req, "p05"));
    assert_false(ecom__sindex_matches(ix, &req, "p06"));
    assert_false(ecom__sindex_matches(ix, &req, "nope"));
    req.category = "electronics";
    req.price_max = 10000;
    assert_true(ecom__sindex_matches(ix, &req, "p04"));
    assert_false(ecom__sindex_matches(ix, &req, "p03"));
    ecom__sindex_free(ix);

    /* exact beats typo: "table" is one edit from "cable" */
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    spec t1 = {"t1", "Cable Organizer", "", "", "", 100, -1, {0}, 0, 0, 0};
    spec t2 = {"t2", "Table Organizer", "", "", "", 100, -1, {0}, 0, 0, 0};
    put_spec(ix, &t1, true);
    put_spec(ix, &t2, true);
    const char *order[][2] = {{"table ", "t2"}, {"cable ", "t1"}};
    for (size_t i = 0; i < 2; i++) {
        r = run_text(ix, order[i][0]);
        assert_int_equal(ecom_search_result_total(r), 2);
        assert_string_equal(ecom_search_result_id(r, 0), order[i][1]);
        assert_true(ecom_search_result_score(r, 0) > 1.9 * ecom_search_result_score(r, 1));
        ecom_search_result_free(r);
    }
    ecom__sindex_free(ix);
}

/* A typo finds words one edit away, never words only a variant's stem leads to
 * ("wireness" stems to wire: "wireless" must not find "Wired"); and a product
 * matching every word exactly ranks above one that needs a typo, however rare the
 * typo's word. */
static void test_search_index__typos_rank_below_exact(void **state)
{
    (void)state;
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    const spec specs[] = {
        {"w1", "Wireless Headphones", "Sony", NULL, NULL, 100, -1, {NULL}, NULL, 1, false},
        {"w2", "Wireless Headphones Pro", "Bose", NULL, NULL, 100, -1, {NULL}, NULL, 2, false},
        {"w3", "Wired Headphones", "Sony", NULL, NULL, 100, -1, {NULL}, NULL, 3, false},
        {"w4", "Wirelss Speaker Headphones", "Zed", NULL, NULL, 100, -1, {NULL}, NULL, 4, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(specs); i++)
        put_spec(ix, &specs[i], true);
    /* many products with "wireless" make it common; "wirelss" (a typo in w4's own
     * title) stays rare, so its BM25 alone would rank w4 first */
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%02d", i);
        spec filler = {id, "Wireless Charger", "Anker", NULL, NULL, 100, -1, {NULL}, NULL, 10, false};
        put_spec(ix, &filler, true);
    }
    assert_int_equal(ecom__sindex_prepare(ix), ECOM_OK);
    ecom_search_result *r = run_text(ix, "wireless headphones ");
    assert_int_equal(ecom_search_result_total(r), 3); /* w1, w2 exact; w4 by a typo */
    assert_int_equal(rank_of(r, "w3"), SIZE_MAX);
    assert_int_equal(rank_of(r, "w4"), 2);
    assert_true(ecom_search_result_score(r, 2) > 0); /* a BM25, not the rank's tiers */
    ecom_search_result_free(r);
    ecom__sindex_free(ix);
}

/* Chinese, Japanese and Korean titles, found by the words inside their runs, by one
 * character, and while the last word is being typed; a Latin word next to them too. */
static void test_search_index__cjk(void **state)
{
    (void)state;
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    const spec specs[] = {
        {"c1", "无线蓝牙耳机", "索尼", NULL, NULL, 100, -1, {NULL}, NULL, 1, false},
        {"c2", "有线耳机", "森海塞尔", NULL, NULL, 100, -1, {NULL}, NULL, 2, false},
        {"c3", "蓝牙音箱", "索尼", NULL, NULL, 100, -1, {NULL}, NULL, 3, false},
        {"c4", "iPhone15用ケース", "アップル", NULL, NULL, 100, -1, {NULL}, NULL, 4, false},
        {"c5", "서울에서 만든 가방", "서울가방", NULL, NULL, 100, -1, {NULL}, NULL, 5, false},
        {"c6", "猫", "ペット", NULL, NULL, 100, -1, {NULL}, NULL, 6, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(specs); i++)
        put_spec(ix, &specs[i], true);
    assert_int_equal(ecom__sindex_prepare(ix), ECOM_OK);
    struct {
        const char *text;
        const char *ids; /* the matches, in any order */
    } cases[] = {
        {"耳机 ", "c1 c2"},          /* inside a run and a whole run */
        {"蓝牙 ", "c1 c3"},
        {"蓝牙耳机 ", "c1"},         /* every pair must match */
        {"无线耳机 ", ""},           /* 无线 and 耳机 are there, 线耳 is not */
        {"机 ", "c1 c2"},            /* one character: the index has each */
        {"蓝牙耳", "c1"},            /* typing: the last pair is a prefix */
        {"索尼 蓝牙 ", "c1 c3"},     /* brand and title */
        {"ケース iphone15 ", "c4"},  /* kana and the Latin word before them */
        {"서울 ", "c5"},             /* a Korean word with its particle glued on */
        {"猫 ", "c6"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        ecom_search_result *r = run_text(ix, cases[i].text);
        char got[64] = "";
        size_t n = ecom_search_result_count(r);
        for (size_t k = 0; k < ARRAY_LEN(specs); k++)
            if (rank_of(r, specs[k].id) != SIZE_MAX) {
                if (got[0])
                    strcat(got, " ");
                strcat(got, specs[k].id);
            }
        if (strcmp(got, cases[i].ids) != 0 || n != ecom_search_result_total(r))
            fail_msg("\"%s\": found \"%s\", want \"%s\"", cases[i].text, got, cases[i].ids);
        ecom_search_result_free(r);
    }
    ecom__sindex_free(ix);
}

static void test_search_index__json(void **state)
{
    (void)state;
    ecom__sindex *ix = shop_index();
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    const char *facets[] = {"brand", "category", "price", "nothing"};
    req.category = "electronics";
    req.facets = facets;
    req.facet_count = ARRAY_LEN(facets);
    req.sort = ECOM_SORT_PRICE_ASC;
    req.limit = 2;
    char *json = json_of(ix, &req);
    const char *want =
        "{\"total\":5,\"hits\":[{\"id\":\"p17\",\"score\":0,\"price\":1500},"
        "{\"id\":\"p05\",\"score\":0,\"price\":4900}],\"facets\":{\"brand\":[[\"Sonic\",3],"
        "[\"Audix\",1],[\"Oak & Co\",1]],\"category\":[[\"electronics\",5],"
        "[\"electronics/audio\",4],[\"electronics/accessories\",1]],\"price\":[["
        "\"1000..2500\",1],[\"2500..5000\",1],[\"5000..10000\",1],[\"10000..25000\",2]],"
        "\"nothing\":[]},\"cursor\":\"";
    assert_memory_equal(json, want, strlen(want));
    ecom_free(json);

    /* a copy for a cache says so */
    ecom_search_result *r = run(ix, &req), *c = NULL;
    assert_int_equal(ecom__search_result_copy(&c, r, true), ECOM_OK);
    assert_int_equal(ecom_search_result_cached(r), 0);
    assert_int_equal(ecom_search_result_cached(c), 1);
    assert_string_equal(ecom_search_result_cursor(c), ecom_search_result_cursor(r));
    assert_string_equal(ecom_search_result_facet_value(c, 0, 2), "Oak & Co");
    assert_null(ecom_search_result_facet_value(c, 0, 3));
    assert_null(ecom_search_result_id(c, 2));
    assert_int_equal(ecom_search_result_price(c, 2), -1);
    ecom_search_result_free(r);
    ecom_search_result_free(c);
    ecom__sindex_free(ix);
}

/* ---- 2. facets and totals against brute force ---- */

static const char *const words[] = {"red", "blue", "lamp", "desk", "sofa", "mug",  "cup",
                                    "bag", "hat",  "sock", "belt", "ring", "bowl", "fan",
                                    "pen", "ink",  "box",  "jar",  "rug",  "tile"};
static const char *const brands[] = {"Acme", "Bolt", "Crest", "Dune", "Écho", "Flux"};
static const char *const colors[] = {"red", "green", "blue", "black"};
static const char *const sizes[] = {"s", "m", "l"};

#define GEN_DOCS 3000
#define STEMS_MAX 24

typedef struct gdoc {
    spec s;
    char id[16], title[64], desc[96], cat[16];
    bool stock;
    char stems[STEMS_MAX][ECOM__TOKEN_MAX + 1];
    size_t nstems;
} gdoc;

typedef struct stem_ctx {
    ecom__stemmer *st;
    char (*out)[ECOM__TOKEN_MAX + 1];
    size_t n, max;
} stem_ctx;

static int add_stem(void *ctx, const char *tok, size_t len, uint32_t pos)
{
    (void)pos;
    stem_ctx *c = ctx;
    char s[ECOM__TOKEN_MAX + 1];
    ecom__stem(c->st, tok, len, s);
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->out[i], s) == 0)
            return 0;
    assert_true(c->n < c->max);
    strcpy(c->out[c->n++], s);
    return 0;
}

static void random_text(char *out, size_t size, size_t nwords)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nwords; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " " : "",
                              words[below(ARRAY_LEN(words))]);
}

static void gen_doc(gdoc *g, size_t i, ecom__stemmer *st)
{
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "g%05zu", i);
    random_text(g->title, sizeof g->title, 2 + below(3));
    random_text(g->desc, sizeof g->desc, 3 + below(6));
    size_t levels = below(4);
    char *c = g->cat;
    for (size_t l = 0; l < levels; l++)
        c += sprintf(c, "%s%c", l ? "/" : "", (char)("xmp"[l] + (char)below(2)));
    g->s.id = g->id;
    g->s.title = g->title;
    g->s.desc = g->desc;
    g->s.cat = g->cat;
    g->s.brand = below(10) ? brands[below(ARRAY_LEN(brands))] : "";
    g->s.usd = below(10) ? (int64_t)(100 + below(200000)) : -1;
    g->s.eur = below(2) ? (int64_t)(100 + below(200000)) : -1;
    size_t nc = below(3);
    for (size_t k = 0; k < nc; k++)
        g->s.colors[k] = colors[(i + k) % ARRAY_LEN(colors)];
    g->s.size = below(3) ? sizes[below(ARRAY_LEN(sizes))] : NULL;
    g->s.created = (int64_t)below(50);
    g->s.draft = below(10) == 0;
    g->stock = below(2);
    stem_ctx sc = {st, g->stems, 0, STEMS_MAX};
    const char *fields[] = {g->title, g->s.brand, g->desc};
    for (size_t f = 0; f < 3; f++)
        ecom__text_tokens(fields[f], strlen(fields[f]), ECOM__TEXT_INDEX, add_stem, &sc);
    g->nstems = sc.n;
}

typedef struct expect {
    char value[32];
    uint64_t hits;
} expect;

static void expect_add(expect *e, size_t *n, size_t max, const char *value)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(e[i].value, value) == 0) {
            e[i].hits++;
            return;
        }
    }
    assert_true(*n < max);
    snprintf(e[*n].value, sizeof e[*n].value, "%s", value);
    e[(*n)++].hits = 1;
}

typedef struct greq {
    ecom_search_request req;
    char text[64];
    char qstems[4][ECOM__TOKEN_MAX + 1];
    size_t nq;
    char cat[16];
    const char *brands[2];
    ecom_search_attr attrs[3];
} greq;

static const char *fold_ascii(const char *s, char *buf)
{
    size_t i = 0;
    for (; s[i]; i++)
        buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    buf[i] = '\0';
    return buf;
}

static bool gen_match(const greq *q, const gdoc *g)
{
    if (g->s.draft)
        return false;
    for (size_t i = 0; i < q->nq; i++) {
        size_t k = 0;
        while (k < g->nstems && strcmp(g->stems[k], q->qstems[i]) != 0)
            k++;
        if (k == g->nstems)
            return false;
    }
    const ecom_search_request *r = &q->req;
    if (r->category) {
        size_t l = strlen(r->category);
        if (strncmp(g->cat, r->category, l) != 0 || (g->cat[l] != '\0' && g->cat[l] != '/'))
            return false;
    }
    if (r->brand_count) {
        bool any = false;
        for (size_t i = 0; i < r->brand_count; i++) {
            char a[32], b[32];
            any |= strcmp(fold_ascii(r->brands[i], a), fold_ascii(g->s.brand, b)) == 0;
        }
        if (!any)
            return false;
    }
    if (r->price_min >= 0 || r->price_max >= 0) {
        int64_t p = strcmp(r->currency, "USD") == 0 ? g->s.usd : g->s.eur;
        if (p < 0 || (r->price_min >= 0 && p < r->price_min) ||
            (r->price_max >= 0 && p > r->price_max))
            return false;
    }
    if (r->in_stock && !g->stock)
        return false;
    /* attributes: any of the colors asked, and any of the sizes asked */
    bool color_asked = false, color_ok = false, size_asked = false, size_ok = false;
    for (size_t i = 0; i < r->attr_count; i++) {
        char a[32];
        fold_ascii(r->attrs[i].value, a);
        if (strcmp(r->attrs[i].name, "color") == 0) {
            color_asked = true;
            for (size_t k = 0; k < 3 && g->s.colors[k]; k++)
                color_ok |= strcmp(a, g->s.colors[k]) == 0;
        } else {
            size_asked = true;
            size_ok |= g->s.size && strcmp(a, g->s.size) == 0;
        }
    }
    return (!color_asked || color_ok) && (!size_asked || size_ok);
}

static int64_t gen_price(const greq *q, const gdoc *g)
{
    return strcmp(q->req.currency, "USD") == 0 ? g->s.usd : g->s.eur;
}

static const char *bucket_of(int64_t p, char *buf)
{
    static const int64_t b[] = {0, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
    size_t i = 7;
    while (i > 0 && p < b[i])
        i--;
    if (i == 7)
        sprintf(buf, "%lld..", (long long)b[i]);
    else
        sprintf(buf, "%lld..%lld", (long long)b[i], (long long)b[i + 1]);
    return buf;
}

static void gen_request(greq *q, ecom__stemmer *st)
{
    static const char *const facets[] = {"category", "brand", "price", "color"};
    memset(q, 0, sizeof *q);
    ecom_search_request init = ECOM_SEARCH_REQUEST_INIT;
    q->req = init;
    q->req.facets = facets;
    q->req.facet_count = 4;
    q->req.currency = below(2) ? "USD" : "EUR";
    q->req.limit = 10;
    q->req.sort = (int)(1 + below(3));
    if (below(2)) {
        random_text(q->text, sizeof q->text - 1, 1 + below(2));
        stem_ctx sc = {st, q->qstems, 0, 4};
        ecom__text_tokens(q->text, strlen(q->text), ECOM__TEXT_QUERY, add_stem, &sc);
        q->nq = sc.n;
        strcat(q->text, " ");
        q->req.text = q->text;
    }
    size_t filters = below(4);
    for (size_t f = 0; f < filters; f++) {
        switch (below(5)) {
        case 0: {
            size_t levels = 1 + below(3);
            char *c = q->cat;
            for (size_t l = 0; l < levels; l++)
                c += sprintf(c, "%s%c", l ? "/" : "", (char)("xmp"[l] + (char)below(2)));
            q->req.category = q->cat;
            break;
        }
        case 1:
            q->brands[0] = brands[below(ARRAY_LEN(brands))];
            q->brands[1] = below(2) ? "ACME" : "flux";
            q->req.brands = q->brands;
            q->req.brand_count = 1 + below(2);
            break;
        case 2:
            q->req.price_min = below(2) ? (int64_t)below(100000) : -1;
            q->req.price_max = q->req.price_min >= 0 ? q->req.price_min + (int64_t)below(100000)
                                                     : (int64_t)below(100000);
            break;
        case 3:
            q->req.in_stock = 1;
            break;
        default:
            q->attrs[0] = (ecom_search_attr){"color", colors[below(ARRAY_LEN(colors))]};
            q->attrs[1] = (ecom_search_attr){"color", "Blue"};
            q->req.attrs = q->attrs;
            q->req.attr_count = 1 + below(2);
            if (below(2))
                q->attrs[q->req.attr_count++] = (ecom_search_attr){"size", sizes[below(3)]};
            break;
        }
    }
}

static int compare_by_sort(const gdoc *a, const gdoc *b, const greq *q)
{
    int64_t x, y;
    if (q->req.sort == ECOM_SORT_NEWEST) {
        x = -a->s.created;
        y = -b->s.created;
    } else {
        x = gen_price(q, a);
        y = gen_price(q, b);
        x = x < 0 ? INT64_MAX : q->req.sort == ECOM_SORT_PRICE_DESC ? -x : x;
        y = y < 0 ? INT64_MAX : q->req.sort == ECOM_SORT_PRICE_DESC ? -y : y;
    }
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(a->id, b->id);
}

static size_t check_against_brute_force(ecom__sindex *ix, const gdoc *docs, size_t ndocs,
                                        const greq *q)
{
    expect e[4][64];
    size_t ne[4] = {0};
    size_t total = 0;
    const gdoc *top[10];
    size_t ntop = 0;
    for (size_t i = 0; i < ndocs; i++) {
        const gdoc *g = &docs[i];
        if (!gen_match(q, g))
            continue;
        total++;
        char buf[32];
        for (const char *c = g->cat; *c; c++)
            if (c[1] == '/' || c[1] == '\0') {
                snprintf(buf, sizeof buf, "%.*s", (int)(c - g->cat + 1), g->cat);
                expect_add(e[0], &ne[0], 64, buf);
            }
        if (g->s.brand[0])
            expect_add(e[1], &ne[1], 64, g->s.brand);
        if (gen_price(q, g) >= 0)
            expect_add(e[2], &ne[2], 64, bucket_of(gen_price(q, g), buf));
        for (size_t k = 0; k < 3 && g->s.colors[k]; k++)
            expect_add(e[3], &ne[3], 64, g->s.colors[k]);
        /* insertion into the top 10 by the request's order */
        size_t j = ntop < 10 ? ntop++ : 10;
        for (; j > 0 && compare_by_sort(g, top[j - 1], q) < 0; j--)
            if (j < 10)
                top[j] = top[j - 1];
        if (j < 10)
            top[j] = g;
    }
    ecom_search_result *r = run(ix, &q->req);
    assert_int_equal(ecom_search_result_total(r), total);
    assert_int_equal(ecom_search_result_facet_count(r), 4);
    for (size_t f = 0; f < 4; f++) {
        assert_int_equal(ecom_search_result_facet_size(r, f), ne[f]);
        for (size_t j = 0; j < ne[f]; j++) {
            const char *v = ecom_search_result_facet_value(r, f, j);
            size_t k = 0;
            while (k < ne[f] && strcmp(e[f][k].value, v) != 0)
                k++;
            if (k == ne[f])
                fail_msg("facet %zu: unexpected value %s", f, v);
            assert_int_equal(ecom_search_result_facet_hits(r, f, j), e[f][k].hits);
            if (j > 0 && f != 2)
                assert_true(ecom_search_result_facet_hits(r, f, j - 1) >=
                            ecom_search_result_facet_hits(r, f, j));
        }
    }
    assert_int_equal(ecom_search_result_count(r), ntop);
    for (size_t i = 0; i < ntop; i++)
        assert_string_equal(ecom_search_result_id(r, i), top[i]->id);
    ecom_search_result_free(r);
    return total;
}

static gdoc *gen_catalog(ecom__sindex *ix, ecom__stemmer *st)
{
    gdoc *docs = calloc(GEN_DOCS, sizeof *docs);
    assert_non_null(docs);
    for (size_t i = 0; i < GEN_DOCS; i++) {
        gen_doc(&docs[i], i, st);
        put_spec(ix, &docs[i].s, docs[i].stock);
    }
    return docs;
}

static void test_search_index__facets_brute_force(void **state)
{
    (void)state;
    rng_state = 42;
    ecom__sindex *ix = NULL;
    ecom__stemmer *st = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    assert_int_equal(ecom__stemmer_new(&st), ECOM_OK);
    gdoc *docs = gen_catalog(ix, st);
    size_t nonempty = 0;
    for (size_t n = 0; n < 100; n++) {
        greq q;
        gen_request(&q, st);
        nonempty += check_against_brute_force(ix, docs, GEN_DOCS, &q) > 0;
    }
    assert_true(nonempty > 50); /* the requests do find things */
    free(docs);
    ecom__stemmer_free(st);
    ecom__sindex_free(ix);
}

/* ---- 3. updates ---- */

static size_t total_of(ecom__sindex *ix, const char *text)
{
    ecom_search_result *r = run_text(ix, text);
    size_t n = ecom_search_result_total(r);
    ecom_search_result_free(r);
    return n;
}

static void test_search_index__updates(void **state)
{
    (void)state;
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    spec s = {"u1", "Red Lamp", "Acme", "", "home", 1000, -1, {0}, 0, 0, 0};
    put_spec(ix, &s, true);
    assert_int_equal(total_of(ix, "lamp "), 1);
    s.title = "Blue Sofa";
    put_spec(ix, &s, true);
    assert_int_equal(ecom__sindex_products(ix), 1);
    assert_int_equal(total_of(ix, "lamp "), 0);
    assert_int_equal(total_of(ix, "sofa "), 1);
    assert_int_equal(total_of(ix, NULL), 1);
    assert_int_equal(ecom__sindex_remove(ix, "u1"), ECOM_OK);
    assert_int_equal(ecom__sindex_remove(ix, "u1"), ECOM_OK);
    assert_int_equal(ecom__sindex_products(ix), 0);
    assert_int_equal(total_of(ix, "sofa "), 0);

    /* archived by a put of a product that is not active */
    spec a = {"u2", "Green Chair", "", "", "", 500, -1, {0}, 0, 0, 0};
    put_spec(ix, &a, true);
    assert_int_equal(total_of(ix, "chair "), 1);
    a.draft = true;
    put_spec(ix, &a, true);
    assert_int_equal(total_of(ix, "chair "), 0);
    assert_int_equal(ecom__sindex_products(ix), 0);

    /* stock */
    spec b = {"u3", "Yellow Kettle", "", "", "", 500, -1, {0}, 0, 0, 0};
    put_spec(ix, &b, false);
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.in_stock = 1;
    ecom_search_result *r = run(ix, &req);
    assert_int_equal(ecom_search_result_total(r), 0);
    ecom_search_result_free(r);
    assert_int_equal(ecom__sindex_set_stock(ix, "u3", true), ECOM_OK);
    r = run(ix, &req);
    assert_int_equal(ecom_search_result_total(r), 1);
    ecom_search_result_free(r);
    assert_int_equal(ecom__sindex_set_stock(ix, "nope", true), ECOM_ENOTFOUND);
    ecom__sindex_free(ix);
}

static void test_search_index__compaction(void **state)
{
    (void)state;
    rng_state = 7;
    enum { N = 300, ROUNDS = 6 };
    ecom__sindex *ix = NULL, *fresh = NULL;
    ecom__stemmer *st = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    assert_int_equal(ecom__sindex_new(&fresh), ECOM_OK);
    assert_int_equal(ecom__stemmer_new(&st), ECOM_OK);
    gdoc *docs = calloc(N, sizeof *docs);
    assert_non_null(docs);
    for (size_t round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t k = below(N);
            gen_doc(&docs[k], k, st);
            put_spec(ix, &docs[k].s, docs[k].stock);
            /* never more than a quarter of tombstones */
            if (ix->ndocs >= 64)
                assert_true(ix->ndocs - ix->nlive <= ix->ndocs / 4);
        }
    }
    assert_true(ix->ndocs < N * ROUNDS / 2); /* compacted */
    for (size_t i = 0; i < N; i++)
        if (docs[i].id[0])
            put_spec(fresh, &docs[i].s, docs[i].stock);
    assert_int_equal(ecom__sindex_products(ix), ecom__sindex_products(fresh));
    for (size_t n = 0; n < 40; n++) {
        greq q;
        gen_request(&q, st);
        q.req.sort = ECOM_SORT_RELEVANCE;
        q.req.limit = 100;
        ecom_search_result *a = run(ix, &q.req), *b = run(fresh, &q.req);
        assert_int_equal(ecom_search_result_total(a), ecom_search_result_total(b));
        assert_int_equal(ecom_search_result_count(a), ecom_search_result_count(b));
        for (size_t i = 0; i < ecom_search_result_count(a); i++) {
            double sa = ecom_search_result_score(a, i), sb = ecom_search_result_score(b, i);
            assert_true(sa - sb < 1e-9 && sb - sa < 1e-9);
            /* ids agree where no near tie lets rounding order them apart */
            bool apart_before = i == 0 || ecom_search_result_score(a, i - 1) - sa > 1e-9;
            bool apart_after = i + 1 == ecom_search_result_count(a) ||
                               sa - ecom_search_result_score(a, i + 1) > 1e-9;
            if (apart_before && apart_after)
                assert_string_equal(ecom_search_result_id(a, i), ecom_search_result_id(b, i));
        }
        for (size_t f = 0; f < 4; f++) {
            assert_int_equal(ecom_search_result_facet_size(a, f),
                             ecom_search_result_facet_size(b, f));
            for (size_t j = 0; j < ecom_search_result_facet_size(a, f); j++)
                assert_int_equal(ecom_search_result_facet_hits(a, f, j),
                                 ecom_search_result_facet_hits(b, f, j));
        }
        ecom_search_result_free(a);
        ecom_search_result_free(b);
    }
    free(docs);
    ecom__stemmer_free(st);
    ecom__sindex_free(ix);
    ecom__sindex_free(fresh);
}

/* ---- 4. cursors ---- */

#define PAGED 90

static void paged_spec(spec *s, char *id, char *title, size_t i)
{
    static const char *const nouns[] = {"lamp", "desk", "mug", "rug", "fan"};
    sprintf(id, "q%03zu", i);
    sprintf(title, "Item %s %s", nouns[below(5)], below(2) ? nouns[below(5)] : "");
    memset(s, 0, sizeof *s);
    s->id = id;
    s->title = title;
    s->usd = below(5) ? (int64_t)(1 + below(4)) * 100 : -1;
    s->eur = -1;
    s->created = (int64_t)below(4) * 1000;
}

/* Pages through req with limit 7; returns the ids (ids[i] is 8 bytes) and how many. If
 * change is set, calls it after each page. */
static size_t page_through(ecom__sindex *ix, ecom_search_request req, char (*ids)[8], size_t max,
                           void (*change)(ecom__sindex *))
{
    char cursor[256] = "";
    size_t n = 0;
    req.limit = 7;
    for (;;) {
        req.cursor = cursor[0] ? cursor : NULL;
        ecom_search_result *r = run(ix, &req);
        assert_true(ecom_search_result_count(r) <= 7);
        for (size_t i = 0; i < ecom_search_result_count(r); i++) {
            assert_true(n < max);
            snprintf(ids[n++], 8, "%s", ecom_search_result_id(r, i));
        }
        const char *c = ecom_search_result_cursor(r);
        bool more = c != NULL;
        if (more) {
            assert_true(strlen(c) < sizeof cursor);
            strcpy(cursor, c);
        }
        ecom_search_result_free(r);
        if (!more)
            return n;
        if (change)
            change(ix);
    }
}

static char changed[PAGED + 200][8];
static size_t nchanged, added;
static char paged_ids[PAGED][8], paged_titles[PAGED][64];

static void random_change(ecom__sindex *ix)
{
    size_t k = below(PAGED);
    switch (below(3)) {
    case 0: { /* new price and date */
        spec s;
        char id[8], title[64];
        paged_spec(&s, id, title, k);
        put_spec(ix, &s, true);
        snprintf(changed[nchanged++], 8, "%s", id);
        break;
    }
    case 1:
        assert_int_equal(ecom__sindex_remove(ix, paged_ids[k]), ECOM_OK);
        snprintf(changed[nchanged++], 8, "%s", paged_ids[k]);
        break;
    default: {
        spec s;
        char id[8], title[64];
        paged_spec(&s, id, title, 0);
        sprintf(id, "n%03zu", added++);
        put_spec(ix, &s, true);
        snprintf(changed[nchanged++], 8, "%s", id);
        break;
    }
    }
}

static bool was_changed(const char *id)
{
    for (size_t i = 0; i < nchanged; i++)
        if (strcmp(changed[i], id) == 0)
            return true;
    return false;
}

static ecom__sindex *paged_index(void)
{
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    for (size_t i = 0; i < PAGED; i++) {
        spec s;
        paged_spec(&s, paged_ids[i], paged_titles[i], i);
        put_spec(ix, &s, true);
    }
    return ix;
}

static void test_search_index__cursor_paging(void **state)
{
    (void)state;
    rng_state = 99;
    ecom__sindex *ix = paged_index();
    static char got[400][8];
    const int sorts[] = {ECOM_SORT_RELEVANCE, ECOM_SORT_PRICE_ASC, ECOM_SORT_PRICE_DESC,
                         ECOM_SORT_NEWEST};
    const char *texts[] = {NULL, "item ", "lamp"};
    for (size_t t = 0; t < ARRAY_LEN(texts); t++) {
        for (size_t s = 0; s < ARRAY_LEN(sorts); s++) {
            ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
            req.text = texts[t];
            req.sort = sorts[s];
            req.limit = 100;
            ecom_search_result *all = run(ix, &req);
            size_t n = page_through(ix, req, got, 400, NULL);
            assert_int_equal(n, ecom_search_result_total(all));
            for (size_t i = 0; i < n; i++)
                assert_string_equal(got[i], ecom_search_result_id(all, i));
            ecom_search_result_free(all);
        }
    }

    /* products change between pages: the unchanged ones come once each */
    for (size_t s = 0; s < ARRAY_LEN(sorts); s++) {
        ecom__sindex_free(ix);
        ix = paged_index();
        nchanged = 0;
        ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
        req.sort = sorts[s];
        req.limit = 100;
        ecom_search_result *all = run(ix, &req);
        size_t n = page_through(ix, req, got, 400, random_change);
        for (size_t i = 0; i < ecom_search_result_count(all); i++) {
            const char *id = ecom_search_result_id(all, i);
            if (was_changed(id))
                continue;
            size_t seen = 0;
            for (size_t j = 0; j < n; j++)
                seen += strcmp(got[j], id) == 0;
            if (seen != 1)
                fail_msg("sort %d: %s seen %zu times", sorts[s], id, seen);
        }
        ecom_search_result_free(all);
    }

    /* cursors of another request, and garbage */
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.text = "item ";
    req.sort = ECOM_SORT_PRICE_ASC;
    req.limit = 5;
    ecom_search_result *r = run(ix, &req);
    char cursor[256];
    assert_non_null(ecom_search_result_cursor(r));
    strcpy(cursor, ecom_search_result_cursor(r));
    ecom_search_result_free(r);
    req.cursor = cursor;
    r = run(ix, &req);
    ecom_search_result_free(r);
    char msg[128];
    ecom_search_request other = req;
    other.text = "lamp ";
    assert_int_equal(ecom__sindex_run(&r, ix, &other, msg, sizeof msg), ECOM_EQUERY);
    assert_null(r);
    assert_non_null(strstr(msg, "cursor"));
    other = req;
    other.sort = ECOM_SORT_PRICE_DESC;
    assert_int_equal(ecom__sindex_run(&r, ix, &other, msg, sizeof msg), ECOM_EQUERY);
    other = req;
    other.in_stock = 1;
    assert_int_equal(ecom__sindex_run(&r, ix, &other, msg, sizeof msg), ECOM_EQUERY);
    /* a page size or facets of its own are the same request */
    other = req;
    other.limit = 9;
    assert_int_equal(ecom__sindex_run(&r, ix, &other, msg, sizeof msg), ECOM_OK);
    ecom_search_result_free(r);
    const char *bad[] = {"garbage", "1", "1100000000000000000000000000", "x", "", cursor};
    cursor[strlen(cursor) - 1] = 'g';
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        other = req;
        other.cursor = bad[i];
        int rc = ecom__sindex_run(&r, ix, &other, msg, sizeof msg);
        if (bad[i][0] == '\0') {
            assert_int_equal(rc, ECOM_OK); /* "" is no cursor */
            ecom_search_result_free(r);
            continue;
        }
        assert_int_equal(rc, ECOM_EQUERY);
    }
    ecom__sindex_free(ix);
}

/* ---- 5. snapshots ---- */

static char *file_bytes(FILE *f, size_t *len)
{
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    *len = (size_t)n;
    return b;
}

static int load_bytes(const char *b, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(b, 1, len, f), len);
    rewind(f);
    ecom__sindex *ix = NULL;
    uint64_t seq = 0;
    int rc = ecom__sindex_load(&ix, f, &seq);
    fclose(f);
    ecom__sindex_free(ix);
    return rc;
}

static void test_search_index__snapshot(void **state)
{
    (void)state;
    rng_state = 5;
    ecom__sindex *ix = NULL;
    ecom__stemmer *st = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    assert_int_equal(ecom__stemmer_new(&st), ECOM_OK);
    gdoc *docs = calloc(400, sizeof *docs);
    for (size_t i = 0; i < 400; i++) {
        gen_doc(&docs[i], i % 300, st); /* the last 100 replace: tombstones */
        put_spec(ix, &docs[i].s, docs[i].stock);
    }
    ecom__sindex_remove(ix, "g00007");
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ecom__sindex_save(ix, f, 1234), ECOM_OK);
    rewind(f);
    ecom__sindex *back = NULL;
    uint64_t seq = 0;
    assert_int_equal(ecom__sindex_load(&back, f, &seq), ECOM_OK);
    assert_int_equal(seq, 1234);
    assert_int_equal(ecom__sindex_products(back), ecom__sindex_products(ix));
    for (size_t n = 0; n < 30; n++) {
        greq q;
        gen_request(&q, st);
        if (n % 3 == 0)
            q.req.text = "re"; /* a prefix */
        char *a = json_of(ix, &q.req), *b = json_of(back, &q.req);
        assert_string_equal(a, b);
        ecom_free(a);
        ecom_free(b);
    }
    /* the loaded index takes writes */
    put_spec(back, &docs[0].s, true);
    assert_int_equal(ecom__sindex_remove(back, "g00001"), ECOM_OK);
    assert_int_equal(ecom__sindex_products(back), ecom__sindex_products(ix) - 1);

    size_t len;
    char *bytes = file_bytes(f, &len);
    fclose(f);
    assert_int_equal(load_bytes(bytes, len), ECOM_OK);
    const size_t cuts[] = {0, 4, 8, 31, 40, len / 2, len - 9, len - 1};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++)
        assert_int_equal(load_bytes(bytes, cuts[i]), ECOM_ECORRUPT);
    for (size_t i = 0; i < 20; i++) {
        size_t at = i == 0 ? 0 : i == 1 ? 12 : below(len);
        bytes[at] ^= 0x20;
        assert_int_equal(load_bytes(bytes, len), ECOM_ECORRUPT);
        bytes[at] ^= 0x20;
    }
    char *longer = malloc(len + 1);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    assert_int_equal(load_bytes(longer, len + 1), ECOM_ECORRUPT);
    free(longer);
    free(bytes);
    free(docs);
    ecom__stemmer_free(st);
    ecom__sindex_free(back);
    ecom__sindex_free(ix);
}

/* ---- 6. request checks ---- */

static void expect_error(ecom__sindex *ix, const ecom_search_request *req, int code,
                         const char *field)
{
    char msg[256] = "";
    assert_int_equal(ecom__sindex_check(req, msg, sizeof msg), code);
    if (strstr(msg, field) == NULL)
        fail_msg("message \"%s\" does not name %s", msg, field);
    ecom_search_result *r = NULL;
    assert_int_equal(ecom__sindex_run(&r, ix, req, msg, sizeof msg), code);
    assert_null(r);
}

static void test_search_index__request_checks(void **state)
{
    (void)state;
    ecom__sindex *ix = shop_index();
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    assert_int_equal(ecom__sindex_check(&req, NULL, 0), ECOM_OK);
    assert_int_equal(ecom__sindex_check(NULL, NULL, 0), ECOM_EINVAL);

    req.version = 2;
    expect_error(ix, &req, ECOM_EVERSION, "version");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.limit = 101;
    expect_error(ix, &req, ECOM_EQUERY, "limit");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.price_min = 500;
    req.price_max = 400;
    expect_error(ix, &req, ECOM_EQUERY, "price_min");
    req.price_min = -5;
    expect_error(ix, &req, ECOM_EQUERY, "price_min");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.currency = "XYZ";
    expect_error(ix, &req, ECOM_ECURRENCY, "currency");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.sort = 4;
    expect_error(ix, &req, ECOM_EQUERY, "sort");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.in_stock = 2;
    expect_error(ix, &req, ECOM_EQUERY, "in_stock");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.brand_count = 1;
    expect_error(ix, &req, ECOM_EINVAL, "brands");
    const char *many[ECOM_SEARCH_FILTERS_MAX + 1] = {0};
    for (size_t i = 0; i <= ECOM_SEARCH_FILTERS_MAX; i++)
        many[i] = "x";
    req.brands = many;
    req.brand_count = ECOM_SEARCH_FILTERS_MAX + 1;
    expect_error(ix, &req, ECOM_EQUERY, "brands");
    const char *with_null[] = {"a", NULL};
    req.brands = with_null;
    req.brand_count = 2;
    expect_error(ix, &req, ECOM_EINVAL, "brands[1]");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    ecom_search_attr attrs[] = {{"color", "red"}, {NULL, "x"}};
    req.attrs = attrs;
    req.attr_count = 2;
    expect_error(ix, &req, ECOM_EINVAL, "attrs[1].name");
    attrs[1] = (ecom_search_attr){"", "x"};
    expect_error(ix, &req, ECOM_EQUERY, "attrs[1].name");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    req.facets = with_null;
    req.facet_count = 2;
    expect_error(ix, &req, ECOM_EINVAL, "facets[1]");
    req.facets = many;
    req.facet_count = ECOM_SEARCH_FILTERS_MAX + 1;
    expect_error(ix, &req, ECOM_EQUERY, "facets");
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    char text[400] = "";
    for (int i = 0; i <= ECOM__QUERY_WORDS_MAX; i++)
        strcat(text, "word ");
    req.text = text;
    expect_error(ix, &req, ECOM_EQUERY, "text");

    /* what is fine: unknown facets and filters, a currency nobody prices in */
    req = (ecom_search_request)ECOM_SEARCH_REQUEST_INIT;
    const char *facets[] = {"weight"};
    ecom_search_attr size_xl = {"size", "xl"};
    req.facets = facets;
    req.facet_count = 1;
    req.currency = "JPY";
    ecom_search_result *r = run(ix, &req);
    assert_int_equal(ecom_search_result_total(r), ARRAY_LEN(shop));
    assert_int_equal(ecom_search_result_facet_size(r, 0), 0);
    assert_int_equal(ecom_search_result_price(r, 0), -1);
    ecom_search_result_free(r);
    req.attrs = &size_xl;
    req.attr_count = 1;
    r = run(ix, &req);
    assert_int_equal(ecom_search_result_total(r), 0);
    ecom_search_result_free(r);
    ecom__sindex_free(ix);
}

/* ---- 7. memory ---- */

static const char *const adjectives[] = {"Compact", "Premium",  "Classic",  "Essential",  "Pro",
                                         "Deluxe",  "Everyday", "Portable", "Heavy-Duty", "Eco",
                                         "Smart",   "Modern",   "Vintage",  "Rugged",     "Slim"};
static const char *const nouns[] = {
    "Headphones", "Laptop", "Blender", "Toaster", "Tent",    "Backpack", "Drill", "Hammer",
    "Lamp",       "Rug",    "Sofa",    "Kettle",  "Scooter", "Puzzle",   "Razor", "Jacket"};
static const char *const prose[] = {
    "built",    "to",        "last",        "with",       "a",           "clean",
    "design",   "that",      "fits",        "any",        "space",       "made",
    "from",     "carefully", "selected",    "materials",  "for",         "everyday",
    "use",      "easy",      "care",        "and",        "reliable",    "performance",
    "the",      "perfect",   "gift",        "tested",     "by",          "our",
    "team",     "in",        "real",        "conditions", "comfortable", "grip",
    "balanced", "weight",    "quick",       "setup",      "no",          "tools",
    "needed",   "backed",    "warranty",    "thoughtful", "details",     "throughout",
    "quiet",    "operation", "energy",      "efficient",  "long",        "lasting",
    "finish",   "resists",   "scratches",   "stains",     "simple",      "versatile",
    "home",     "office",    "travel",      "outdoors",   "designed",    "comfort",
    "style",    "value",     "premium",     "feel",       "at",          "an",
    "honest",   "price",     "responsibly", "sourced",    "packaging",   "recyclable",
    "compact",  "storage",   "when",        "not"};

/* A product like tools/gen_catalog.c's. */
static ecom_product *realistic(size_t n)
{
    char id[16], title[128], desc[1024], brand[16], cat[32], sku[24];
    snprintf(id, sizeof id, "p%07zu", n);
    snprintf(brand, sizeof brand, "%s%s",
             (const char *[]){"Nor", "Vel", "Astra", "Bri", "Cor"}[below(5)],
             (const char *[]){"dex", "ora", "io", "wave", "line", "craft"}[below(6)]);
    snprintf(title, sizeof title, "%s %s %s %c%c-%zu", brand,
             adjectives[below(ARRAY_LEN(adjectives))], nouns[below(ARRAY_LEN(nouns))],
             (char)('A' + below(26)), (char)('A' + below(26)), (1 + below(99)) * 10);
    size_t len = 0, nwords = 20 + below(41);
    for (size_t w = 0; w < nwords; w++)
        len += (size_t)snprintf(desc + len, sizeof desc - len, "%s%s", w ? " " : "",
                                prose[below(ARRAY_LEN(prose))]);
    snprintf(cat, sizeof cat, "dept%zu/sec%zu/leaf%zu", below(8), below(5), below(5));
    ecom_product *p = NULL;
    assert_int_equal(ecom_product_new(&p, id), ECOM_OK);
    ecom_product_set_title(p, title);
    ecom_product_set_description(p, desc);
    ecom_product_set_brand(p, brand);
    ecom_product_set_category(p, cat);
    ecom_product_set_status(p, ECOM_STATUS_ACTIVE);
    for (size_t c = 0, nc = 1 + below(3); c < nc; c++)
        ecom_product_add_attribute(p, "color", colors[(n + c) % ARRAY_LEN(colors)]);
    ecom_product_add_attribute(p, "material", prose[below(10)]);
    ecom_product_add_attribute(p, "warranty_years", below(2) ? "1" : "2");
    for (size_t v = 0, nv = 1 + below(4); v < nv; v++) {
        size_t idx;
        snprintf(sku, sizeof sku, "%s-%zu", id, v);
        ecom_product_add_variant(p, sku, 100, &idx);
        int64_t usd = (int64_t)(299 + below(50000));
        ecom_product_variant_set_price(p, idx, "USD", usd);
        ecom_product_variant_set_price(p, idx, "EUR", usd * 92 / 100);
    }
    return p;
}

static void test_search_index__memory(void **state)
{
    (void)state;
    rng_state = 11;
    enum { N = 20000 };
    ecom__sindex *ix = NULL;
    assert_int_equal(ecom__sindex_new(&ix), ECOM_OK);
    for (size_t i = 0; i < N; i++) {
        ecom_product *p = realistic(i);
        assert_int_equal(ecom__sindex_put(ix, p, true), ECOM_OK);
        ecom_product_free(p);
    }
    assert_int_equal(ecom__sindex_prepare(ix), ECOM_OK);
    assert_int_equal(ecom__sindex_products(ix), N);
    size_t per = ecom__sindex_memory(ix) / ecom__sindex_products(ix);
    print_message("index: %zu bytes per product\n", per);
    assert_true(per < 1024);
    ecom_search_result *r = run_text(ix, "compact headphones");
    assert_true(ecom_search_result_total(r) > 0);
    ecom_search_result_free(r);
    ecom__sindex_free(ix);
}

/* ---- readers at once ---- */

typedef struct reader_job {
    ecom__sindex *ix;
    char *want[6];
    int failures;
} reader_job;

static const char *const reader_texts[] = {"headph", "running shoes ", "headphnes ",
                                           "sonic",  "coffee",         NULL};

static void *reader_thread(void *arg)
{
    reader_job *job = arg;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < ARRAY_LEN(reader_texts); i++) {
            const char *facets[] = {"brand", "category", "price"};
            ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
            req.text = reader_texts[i];
            req.facets = facets;
            req.facet_count = 3;
            ecom_search_result *r = NULL;
            char *json = NULL;
            if (ecom__sindex_run(&r, job->ix, &req, NULL, 0) != ECOM_OK ||
                ecom_search_result_to_json(&json, r) != ECOM_OK || strcmp(json, job->want[i]) != 0)
                job->failures++;
            ecom_free(json);
            ecom_search_result_free(r);
        }
    }
    return NULL;
}

/* Queries from several threads at once (each stems with a stemmer of the pool) give
 * what they give alone. */
static void test_search_index__concurrent_readers(void **state)
{
    (void)state;
    ecom__sindex *ix = shop_index();
    reader_job jobs[4];
    for (size_t t = 0; t < 4; t++) {
        jobs[t].ix = ix;
        jobs[t].failures = 0;
        for (size_t i = 0; i < ARRAY_LEN(reader_texts); i++) {
            const char *facets[] = {"brand", "category", "price"};
            ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
            req.text = reader_texts[i];
            req.facets = facets;
            req.facet_count = 3;
            jobs[t].want[i] = json_of(ix, &req);
        }
    }
    pthread_t threads[4];
    for (size_t t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, reader_thread, &jobs[t]), 0);
    for (size_t t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
        for (size_t i = 0; i < ARRAY_LEN(reader_texts); i++)
            ecom_free(jobs[t].want[i]);
    }
    ecom__sindex_free(ix);
}

/* ---- out of memory ---- */

/* Every allocation of a put, then of a run, fails once in turn: each failure is a
 * clean ECOM_ENOMEM, and the index stays right. */
static void test_search_index__out_of_memory(void **state)
{
    (void)state;
    ecom__sindex *ix = shop_index();
    for (long n = 1;; n++) {
        spec s = shop_spec((size_t)n % ARRAY_LEN(shop));
        char id[16], title[64];
        snprintf(id, sizeof id, "oom%ld", n);
        snprintf(title, sizeof title, "Novel%ld gadget with Tokens%ld", n, n);
        s.id = id;
        s.title = title;
        ecom_product *p = build(&s);
        atomic_store(&test_alloc_countdown, n);
        int rc = ecom__sindex_put(ix, p, true);
        long left = atomic_exchange(&test_alloc_countdown, 0);
        ecom_product_free(p);
        if (rc == ECOM_OK) {
            assert_int_equal(total_of(ix, "gadget "), 1);
            if (left > 0)
                break;
            /* a failure that costs nothing but a shortcut (the token cache) */
            assert_int_equal(ecom__sindex_remove(ix, id), ECOM_OK);
            continue;
        }
        assert_int_equal(rc, ECOM_ENOMEM);
        assert_int_equal(total_of(ix, "gadget "), 0);
        assert_int_equal(ecom__sindex_products(ix), ARRAY_LEN(shop));
    }
    const char *facets[] = {"brand", "category", "price"};
    ecom_search_request req = ECOM_SEARCH_REQUEST_INIT;
    req.text = "headph";
    req.category = "electronics";
    req.facets = facets;
    req.facet_count = 3;
    req.limit = 2;
    char *want = json_of(ix, &req);
    for (long n = 1;; n++) {
        ecom_search_result *r = NULL;
        atomic_store(&test_alloc_countdown, n);
        int rc = ecom__sindex_run(&r, ix, &req, NULL, 0);
        long left = atomic_exchange(&test_alloc_countdown, 0);
        if (rc == ECOM_OK) {
            char *got = NULL;
            assert_int_equal(ecom_search_result_to_json(&got, r), ECOM_OK);
            assert_string_equal(got, want);
            ecom_free(got);
            ecom_search_result_free(r);
            if (left > 0)
                break;
            continue;
        }
        assert_int_equal(rc, ECOM_ENOMEM);
        assert_null(r);
    }
    ecom_free(want);
    ecom__sindex_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_index__relevance),
        cmocka_unit_test(test_search_index__typos_rank_below_exact),
        cmocka_unit_test(test_search_index__cjk),
        cmocka_unit_test(test_search_index__json),
        cmocka_unit_test(test_search_index__facets_brute_force),
        cmocka_unit_test(test_search_index__updates),
        cmocka_unit_test(test_search_index__compaction),
        cmocka_unit_test(test_search_index__cursor_paging),
        cmocka_unit_test(test_search_index__snapshot),
        cmocka_unit_test(test_search_index__request_checks),
        cmocka_unit_test(test_search_index__memory),
        cmocka_unit_test(test_search_index__concurrent_readers),
        cmocka_unit_test_setup_teardown(test_search_index__out_of_memory, test_oom_setup,
                                        test_oom_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
