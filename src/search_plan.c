/*
 * A request made ready to run on one index: checked (every field named in the
 * message), its words turned into the terms they match (the exact stem; the last
 * word's prefixes, for type-ahead; one-typo variants of long words), its filters
 * into lookups by category, brand and attribute value ids, and a hash of it all,
 * normalized, for its cursors.
 */
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

#define WEIGHT_EXACT 1.0f
#define WEIGHT_PREFIX 0.6f
#define WEIGHT_TYPO 0.5f
/* Prefix matching starts at this many characters, typo matching at this many. */
#define PREFIX_MIN_CHARS 2
#define TYPO_MIN_CHARS 5

/* ---- checking a request ---- */

static int count_word(void *ctx, const char *token, size_t len, uint32_t position)
{
    ECOM__UNUSED(token);
    ECOM__UNUSED(len);
    ECOM__UNUSED(position);
    return ++*(size_t *)ctx > ECOM__QUERY_WORDS_MAX;
}

static int check_strings(const ecom_search_request *req, char *msg, size_t size)
{
    if (req->brand_count > ECOM_SEARCH_FILTERS_MAX)
        return ecom__msg(msg, size, ECOM_EQUERY, "brands: %zu, more than %d", req->brand_count,
                         ECOM_SEARCH_FILTERS_MAX);
    if (req->brand_count && req->brands == NULL)
        return ecom__msg(msg, size, ECOM_EINVAL, "brands: NULL with brand_count %zu",
                         req->brand_count);
    for (size_t i = 0; i < req->brand_count; i++)
        if (req->brands[i] == NULL)
            return ecom__msg(msg, size, ECOM_EINVAL, "brands[%zu]: NULL", i);
    if (req->attr_count > ECOM_SEARCH_FILTERS_MAX)
        return ecom__msg(msg, size, ECOM_EQUERY, "attrs: %zu, more than %d", req->attr_count,
                         ECOM_SEARCH_FILTERS_MAX);
    if (req->attr_count && req->attrs == NULL)
        return ecom__msg(msg, size, ECOM_EINVAL, "attrs: NULL with attr_count %zu",
                         req->attr_count);
    for (size_t i = 0; i < req->attr_count; i++) {
        if (req->attrs[i].name == NULL || req->attrs[i].value == NULL)
            return ecom__msg(msg, size, ECOM_EINVAL, "attrs[%zu].%s: NULL", i,
                             req->attrs[i].name ? "value" : "name");
        if (req->attrs[i].name[0] == '\0')
            return ecom__msg(msg, size, ECOM_EQUERY, "attrs[%zu].name: empty", i);
    }
    if (req->facet_count > ECOM_SEARCH_FILTERS_MAX)
        return ecom__msg(msg, size, ECOM_EQUERY, "facets: %zu, more than %d", req->facet_count,
                         ECOM_SEARCH_FILTERS_MAX);
    if (req->facet_count && req->facets == NULL)
        return ecom__msg(msg, size, ECOM_EINVAL, "facets: NULL with facet_count %zu",
                         req->facet_count);
    for (size_t i = 0; i < req->facet_count; i++) {
        if (req->facets[i] == NULL)
            return ecom__msg(msg, size, ECOM_EINVAL, "facets[%zu]: NULL", i);
        if (req->facets[i][0] == '\0')
            return ecom__msg(msg, size, ECOM_EQUERY, "facets[%zu]: empty", i);
    }
    return ECOM_OK;
}

int ecom__sindex_check(const ecom_search_request *req, char *msg, size_t size)
{
    if (req == NULL)
        return ecom__msg(msg, size, ECOM_EINVAL, "request: NULL");
    if (req->version != ECOM_SEARCH_REQUEST_VERSION)
        return ecom__msg(msg, size, ECOM_EVERSION, "version: %d, this library knows %d",
                         req->version, ECOM_SEARCH_REQUEST_VERSION);
    if (req->limit > ECOM_SEARCH_LIMIT_MAX)
        return ecom__msg(msg, size, ECOM_EQUERY, "limit: %zu, more than %d", req->limit,
                         ECOM_SEARCH_LIMIT_MAX);
    if (req->price_min < -1 || req->price_max < -1)
        return ecom__msg(msg, size, ECOM_EQUERY, "%s: %lld is negative (-1: no bound)",
                         req->price_min < -1 ? "price_min" : "price_max",
                         (long long)(req->price_min < -1 ? req->price_min : req->price_max));
    if (req->price_min >= 0 && req->price_max >= 0 && req->price_min > req->price_max)
        return ecom__msg(msg, size, ECOM_EQUERY, "price_min: %lld is above price_max %lld",
                         (long long)req->price_min, (long long)req->price_max);
    if (req->sort < ECOM_SORT_RELEVANCE || req->sort > ECOM_SORT_NEWEST)
        return ecom__msg(msg, size, ECOM_EQUERY, "sort: %d is not an ecom_search_sort", req->sort);
    if (req->in_stock != 0 && req->in_stock != 1)
        return ecom__msg(msg, size, ECOM_EQUERY, "in_stock: %d, expected 0 or 1", req->in_stock);
    if (req->currency && !ecom_currency_valid(req->currency)) {
        char q[32];
        ecom__quote(q, sizeof q, req->currency, strlen(req->currency));
        return ecom__msg(msg, size, ECOM_ECURRENCY, "currency: \"%s\" is not an ISO 4217 code", q);
    }
    if (req->category && strlen(req->category) > ECOM__CATEGORY_MAX)
        return ecom__msg(msg, size, ECOM_EQUERY, "category: longer than %d bytes",
                         ECOM__CATEGORY_MAX);
    int rc = check_strings(req, msg, size);
    if (rc != ECOM_OK)
        return rc;
    size_t words = 0;
    if (req->text &&
        ecom__text_tokens(req->text, strlen(req->text), ECOM__TEXT_QUERY, count_word, &words))
        return ecom__msg(msg, size, ECOM_EQUERY, "text: more than %d words", ECOM__QUERY_WORDS_MAX);
    return ECOM_OK;
}

/* ---- the words ---- */

/* Natural logarithm, for idf (the library links no libm): x = m * 2^e with m near 1,
 * then ln m = 2 atanh((m - 1) / (m + 1)) by its series. */
static double ln(double x)
{
    int e = 0;
    while (x > 1.4142135623730951) {
        x /= 2;
        e++;
    }
    while (x < 0.7071067811865476) {
        x *= 2;
        e--;
    }
    double s = (x - 1) / (x + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2 * sum + e * 0.6931471805599453;
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

typedef struct word_text {
    char s[ECOM__TOKEN_MAX + 1];
    size_t len;
} word_text;

typedef struct words_ctx {
    word_text *w;
    size_t n;
} words_ctx;

static int take_word(void *ctx, const char *token, size_t len, uint32_t position)
{
    ECOM__UNUSED(position);
    words_ctx *c = ctx;
    if (c->n == ECOM__QUERY_WORDS_MAX)
        return 1;
    len = len > ECOM__TOKEN_MAX ? ECOM__TOKEN_MAX : len;
    memcpy(c->w[c->n].s, token, len);
    c->w[c->n].s[len] = '\0';
    c->w[c->n++].len = len;
    return 0;
}

/* Adds term to the word being built (from `first`), keeping the best weight. */
static int add_alt(ecom__plan *q, size_t first, uint32_t term, float weight)
{
    for (size_t i = first; i < q->nalts; i++) {
        if (q->alts[i].term == term) {
            if (weight > q->alts[i].weight)
                q->alts[i].weight = weight;
            return ECOM_OK;
        }
    }
    int rc = ecom__grow((void **)&q->alts, &q->alts_cap, q->nalts + 1, sizeof *q->alts);
    if (rc != ECOM_OK)
        return rc;
    q->alts[q->nalts++] = (ecom__alt){term, weight, 0, 0};
    return ECOM_OK;
}

/* Candidate terms of a prefix or of typos: all found, then the most frequent kept. */
typedef struct expansion {
    const ecom__sindex *ix;
    ecom__stemmer *stemmer;
    const char *stem; /* the word's own stem (typos) */
    size_t stem_len;
    uint32_t *terms;
    size_t n, cap;
    bool dedupe; /* typo variants find a term more than once; a prefix walk does not */
    int rc;
} expansion;

static int expansion_add(void *ctx, uint32_t term)
{
    expansion *e = ctx;
    for (size_t i = 0; e->dedupe && i < e->n; i++)
        if (e->terms[i] == term)
            return 0;
    e->rc = ecom__grow((void **)&e->terms, &e->cap, e->n + 1, sizeof *e->terms);
    if (e->rc != ECOM_OK)
        return 1;
    e->terms[e->n++] = term;
    return 0;
}

typedef struct ranked_term {
    uint32_t df, term;
    const char *s;
} ranked_term;

static int compare_ranked(const void *a, const void *b)
{
    const ranked_term *x = a, *y = b;
    if (x->df != y->df)
        return x->df > y->df ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* Adds to the word, with weight, the ECOM__EXPAND_MAX found terms with the most live
 * docs (ties by string). */
static int expansion_keep(ecom__plan *q, expansion *e, size_t first, float weight)
{
    const ecom__sindex *ix = q->ix;
    size_t n = e->n;
    e->n = 0;
    if (n > ECOM__EXPAND_MAX) {
        ranked_term *r = ecom__calloc(n, sizeof *r);
        if (r == NULL)
            return ECOM_ENOMEM;
        for (size_t i = 0; i < n; i++)
            r[i] = (ranked_term){ix->tinfo[e->terms[i]].df, e->terms[i],
                                 ecom__strtab_str(&ix->terms, e->terms[i])};
        qsort(r, n, sizeof *r, compare_ranked);
        n = ECOM__EXPAND_MAX;
        for (size_t i = 0; i < n; i++)
            e->terms[i] = r[i].term;
        ecom__free(r);
    }
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < n; i++)
        if (ix->tinfo[e->terms[i]].df > 0)
            rc = add_alt(q, first, e->terms[i], weight);
    return rc;
}

/* Whether a and b are at most one edit apart (deletion, insertion, substitution or
 * a swap of neighbours), byte by byte. */
static bool within_one_edit(const char *a, size_t al, const char *b, size_t bl)
{
    if (al > bl)
        return within_one_edit(b, bl, a, al);
    if (bl - al > 1)
        return false;
    size_t i = 0;
    while (i < al && a[i] == b[i])
        i++;
    if (i == al)
        return true; /* equal, or b has one byte more at the end */
    if (al == bl)
        return memcmp(a + i + 1, b + i + 1, al - i - 1) == 0 || /* substitution */
               (i + 1 < al && a[i] == b[i + 1] && a[i + 1] == b[i] &&
                memcmp(a + i + 2, b + i + 2, al - i - 2) == 0); /* swap */
    return memcmp(a + i, b + i + 1, al - i) == 0; /* b has one byte more at i */
}

/* A variant one edit from the word: the term it is, or the term of its stem when that
 * stem is itself one edit from the word's stem ("headphnes" finds headphon through
 * "headphones"; "wireless" must not find wire through "wireness"). */
static int on_variant(void *ctx, const char *variant, size_t len)
{
    expansion *e = ctx;
    uint32_t t = ecom__sindex_term(e->ix, variant, len);
    if (t != ECOM__NONE && expansion_add(e, t))
        return 1;
    char stem[ECOM__TOKEN_MAX + 1];
    size_t slen =
        ecom__stem(e->stemmer, variant, len > ECOM__TOKEN_MAX ? ECOM__TOKEN_MAX : len, stem);
    if (!within_one_edit(stem, slen, e->stem, e->stem_len))
        return 0;
    t = ecom__sindex_term(e->ix, stem, slen);
    return t != ECOM__NONE && expansion_add(e, t);
}

static int expand_word(ecom__plan *q, expansion *e, const word_text *w, bool prefix)
{
    ecom__sindex *ix = q->ix;
    size_t first = q->nalts;
    char stem[ECOM__TOKEN_MAX + 1];
    size_t slen = ecom__stem(e->stemmer, w->s, w->len, stem);
    uint32_t t = ecom__sindex_term(ix, stem, slen);
    int rc = t != ECOM__NONE ? add_alt(q, first, t, WEIGHT_EXACT) : ECOM_OK;
    if (t != ECOM__NONE && rc == ECOM_OK)
        q->alts[first].bonus = ECOM__EXACT_BONUS; /* the word's first alternative */
    e->stem = stem;
    e->stem_len = slen;
    size_t chars = utf8_chars(w->s, w->len);
    /* Type-ahead: a prefix can stand for thousands of terms; the 64 most frequent
     * are kept, which a longer prefix narrows. */
    if (rc == ECOM_OK && prefix && chars >= PREFIX_MIN_CHARS) {
        e->dedupe = false;
        ecom__sindex_prefix(ix, w->s, w->len, expansion_add, e);
        rc = e->rc != ECOM_OK ? e->rc : expansion_keep(q, e, first, WEIGHT_PREFIX);
    }
    if (rc == ECOM_OK && chars >= TYPO_MIN_CHARS) {
        e->dedupe = true;
        ecom__text_edits1(w->s, w->len, on_variant, e);
        rc = e->rc != ECOM_OK ? e->rc : expansion_keep(q, e, first, WEIGHT_TYPO);
    }
    if (rc != ECOM_OK)
        return rc;
    ecom__word *word = &q->words[q->nwords++];
    word->first = first;
    word->count = q->nalts - first;
    word->cost = 0;
    for (size_t i = first; i < q->nalts; i++)
        word->cost += ix->tinfo[q->alts[i].term].n;
    if (word->count == 0)
        q->empty = true;
    return ECOM_OK;
}

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    return ecom__fnv1a(data, len, h);
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    return ecom__fnv1a(&v, sizeof v, h);
}

static int plan_words(ecom__plan *q)
{
    const char *text = q->req->text ? q->req->text : "";
    size_t len = strlen(text);
    word_text w[ECOM__QUERY_WORDS_MAX];
    words_ctx wc = {w, 0};
    ecom__text_tokens(text, len, ECOM__TEXT_QUERY, take_word, &wc);
    /* the last word is still being typed unless a space follows it */
    bool prefix = len > 0 && strchr(" \t\r\n", text[len - 1]) == NULL;
    q->hash = mix(q->hash, "w", 1);
    for (size_t i = 0; i < wc.n; i++)
        q->hash = mix(q->hash, w[i].s, w[i].len + 1);
    q->hash = mix_u64(q->hash, prefix);
    if (wc.n == 0)
        return ECOM_OK;
    expansion e = {q->ix, ecom__sindex_stemmer_take(q->ix), NULL, 0, NULL, 0, 0, false, ECOM_OK};
    if (e.stemmer == NULL)
        return ECOM_ENOMEM;
    int rc = ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < wc.n; i++)
        rc = expand_word(q, &e, &w[i], prefix && i + 1 == wc.n);
    ecom__sindex_stemmer_give(q->ix, e.stemmer);
    ecom__free(e.terms);
    if (rc != ECOM_OK)
        return rc;
    /* idf over the live docs, times the kind of match */
    double n = q->ix->nlive;
    for (size_t i = 0; i < q->nalts; i++) {
        double df = q->ix->tinfo[q->alts[i].term].df;
        q->alts[i].idf = q->alts[i].weight * ln(1 + (n - df + 0.5) / (df + 0.5));
    }
    for (int f = 0; f < ECOM__FIELDS; f++) {
        double avg = q->ix->nlive ? (double)q->ix->sumlen[f] / q->ix->nlive : 0;
        q->kb[f] = ECOM__BM25_K1 * ECOM__BM25_B / (avg > 0 ? avg : 1);
    }
    q->ka = ECOM__BM25_K1 * (1 - ECOM__BM25_B);
    if (!q->score)
        return ECOM_OK;
    size_t per_field = ECOM__BM25_TF * ECOM__BM25_LEN;
    q->bm25 = ecom__malloc(ECOM__FIELDS * per_field * sizeof *q->bm25);
    if (q->bm25 == NULL)
        return ECOM_ENOMEM;
    for (int f = 0; f < ECOM__FIELDS; f++)
        for (unsigned tf = 0; tf < ECOM__BM25_TF; tf++)
            for (unsigned l = 0; l < ECOM__BM25_LEN; l++)
                q->bm25[(size_t)f * per_field + tf * ECOM__BM25_LEN + l] =
                    ecom__field_weight[f] * (ECOM__BM25_K1 + 1) * tf / (tf + q->ka + q->kb[f] * l);
    return ECOM_OK;
}

/* ---- the filters ---- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Mixes a set of hashes into the request's, in an order of their own. */
static uint64_t mix_set(uint64_t h, uint64_t *set, size_t n)
{
    qsort(set, n, sizeof *set, compare_u64);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || set[i] != set[i - 1])
            h = mix_u64(h, set[i]);
    return mix_u64(h, UINT64_MAX);
}

static int plan_category(ecom__plan *q)
{
    const ecom__sindex *ix = q->ix;
    const char *cat = q->req->category ? q->req->category : "";
    char path[ECOM__CATEGORY_MAX + 1];
    size_t len = strlen(cat);
    while (len > 0 && cat[len - 1] == '/')
        len--;
    for (size_t i = 0; i < len; i++)
        path[i] = cat[i] >= 'A' && cat[i] <= 'Z' ? (char)(cat[i] - 'A' + 'a') : cat[i];
    q->hash = mix(q->hash, path, len);
    q->hash = mix(q->hash, "/c", 2);
    if (len == 0)
        return ECOM_OK;
    uint32_t c = ecom__strtab_find(&ix->cats, cat, len);
    if (c == ECOM__NONE)
        c = ecom__strtab_find(&ix->cats, path, len);
    if (c == ECOM__NONE) {
        q->empty = true;
        return ECOM_OK;
    }
    q->cat_ok = ecom__calloc(ix->cats.count, 1);
    if (q->cat_ok == NULL)
        return ECOM_ENOMEM;
    /* a parent's id is below its children's */
    for (uint32_t i = c; i < ix->cats.count; i++)
        q->cat_ok[i] = i == c || (ix->cat_parent[i] != ECOM__NONE && q->cat_ok[ix->cat_parent[i]]);
    return ECOM_OK;
}

static void plan_brands(ecom__plan *q)
{
    const ecom_search_request *req = q->req;
    uint64_t set[ECOM_SEARCH_FILTERS_MAX];
    for (size_t i = 0; i < req->brand_count; i++) {
        char key[1024];
        size_t len = ecom__text_fold(key, sizeof key, req->brands[i], strlen(req->brands[i]));
        set[i] = mix(ECOM__FNV_INIT, key, len);
        uint32_t b = ecom__strtab_find(&q->ix->brands, key, len);
        size_t k = 0;
        while (k < q->nbrands && q->brands[k] != b)
            k++;
        if (b != ECOM__NONE && b != 0 && k == q->nbrands)
            q->brands[q->nbrands++] = b;
    }
    q->hash = mix_set(q->hash, set, req->brand_count);
    if (req->brand_count > 0 && q->nbrands == 0)
        q->empty = true;
}

typedef struct attr_filter {
    uint32_t name, val;
} attr_filter;

static int compare_filters(const void *a, const void *b)
{
    const attr_filter *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    return (x->val > y->val) - (x->val < y->val);
}

static int plan_attrs(ecom__plan *q)
{
    const ecom__sindex *ix = q->ix;
    const ecom_search_request *req = q->req;
    uint64_t set[ECOM_SEARCH_FILTERS_MAX];
    attr_filter f[ECOM_SEARCH_FILTERS_MAX];
    for (size_t i = 0; i < req->attr_count; i++) {
        const char *name = req->attrs[i].name, *value = req->attrs[i].value;
        char key[1024];
        size_t len = ecom__text_fold(key, sizeof key, value, strlen(value));
        set[i] = mix(mix(ECOM__FNV_INIT, name, strlen(name) + 1), key, len);
        f[i].name = ecom__strtab_find(&ix->anames, name, strlen(name));
        f[i].val =
            f[i].name == ECOM__NONE ? ECOM__NONE : ecom__sindex_find_aval(ix, f[i].name, key, len);
    }
    q->hash = mix_set(q->hash, set, req->attr_count);
    if (req->attr_count == 0)
        return ECOM_OK;
    qsort(f, req->attr_count, sizeof *f, compare_filters);
    q->amask = ecom__calloc(ix->avals.count ? ix->avals.count : 1, sizeof *q->amask);
    if (q->amask == NULL)
        return ECOM_ENOMEM;
    uint32_t group = 0;
    bool any = false; /* the group has a value some doc has */
    for (size_t i = 0; i < req->attr_count; i++) {
        if (f[i].val != ECOM__NONE) {
            q->amask[f[i].val] |= UINT32_C(1) << group;
            q->fvals[q->nfvals] = f[i].val;
            q->fgroup[q->nfvals++] = group;
            any = true;
        }
        if (i + 1 == req->attr_count || f[i + 1].name != f[i].name) {
            if (!any)
                q->empty = true;
            q->afull |= UINT32_C(1) << group;
            group++;
            any = false;
        }
    }
    return ECOM_OK;
}

static void plan_price(ecom__plan *q)
{
    const ecom_search_request *req = q->req;
    const char *code = req->currency ? req->currency : "USD";
    q->cur = ecom__strtab_find(&q->ix->curs, code, strlen(code));
    q->price_filter = req->price_min >= 0 || req->price_max >= 0;
    q->pmin = req->price_min >= 0 ? req->price_min : 0;
    q->pmax = req->price_max >= 0 ? req->price_max : INT64_MAX;
    if (q->price_filter && q->cur == ECOM__NONE)
        q->empty = true;
    q->in_stock = req->in_stock == 1;
    q->hash = mix(q->hash, code, 3);
    q->hash = mix_u64(q->hash, (uint64_t)req->price_min);
    q->hash = mix_u64(q->hash, (uint64_t)req->price_max);
    q->hash = mix_u64(q->hash, (uint64_t)req->in_stock);
    q->hash = mix_u64(q->hash, (uint64_t)req->sort);
}

void ecom__plan_free(ecom__plan *q)
{
    ecom__facets_free(q);
    ecom__free(q->alts);
    ecom__free(q->cat_ok);
    ecom__free(q->amask);
    ecom__free(q->bm25);
}

int ecom__plan_build(ecom__plan *q, ecom__sindex *ix, const ecom_search_request *req, bool score)
{
    memset(q, 0, sizeof *q);
    q->ix = ix;
    q->req = req;
    q->hash = ECOM__FNV_INIT;
    q->score = score;
    int rc = plan_words(q);
    if (rc == ECOM_OK)
        rc = plan_category(q);
    if (rc != ECOM_OK)
        return rc;
    plan_brands(q);
    rc = plan_attrs(q);
    plan_price(q);
    return rc;
}
