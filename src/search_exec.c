/*
 * Running a request on the index: the cheapest word's postings give the candidates,
 * the filters narrow them, and the other words' postings intersect them (galloping,
 * merging, or through an array by doc number, by their sizes) while BM25F scores add
 * up. Facets and the page are counted over the matches (search_facets.c,
 * search_page.c); the request was made ready in search_plan.c.
 */
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

/* Postings from this long on are intersected through an array by doc number. */
#define DENSE_MIN 65536

/* ---- matching ---- */

const double ecom__field_weight[ECOM__FIELDS] = {3.0, 2.0, 1.0};

/* One field's weighted BM25 before idf: from the request's table when it covers. */
static inline double field_bm25(const ecom__plan *q, int f, unsigned tf, unsigned len)
{
    if (tf < ECOM__BM25_TF && len < ECOM__BM25_LEN)
        return q->bm25[((size_t)f * ECOM__BM25_TF + tf) * ECOM__BM25_LEN + len];
    return ecom__field_weight[f] * (ECOM__BM25_K1 + 1) * tf / (tf + q->ka + q->kb[f] * len);
}

/* BM25F-lite: the fields' BM25 weighted and added. Most postings are description
 * only, so that one comes first and the others behind one test. */
static inline double bm25f(const ecom__plan *q, const ecom__alt *a, unsigned tf, uint32_t d)
{
    uint32_t lens = q->ix->d_lens[d];
    double s = field_bm25(q, ECOM__F_DESC, ECOM__TF_DESC(tf), ECOM__LEN_DESC(lens));
    if (tf >> 8) {
        s += field_bm25(q, ECOM__F_TITLE, ECOM__TF_TITLE(tf), ECOM__LEN_TITLE(lens));
        s += field_bm25(q, ECOM__F_BRAND, ECOM__TF_BRAND(tf), ECOM__LEN_BRAND(lens));
    }
    return a->bonus + a->idf * s;
}

/* The first index from `from` on where a[i] >= x. */
static inline size_t gallop(const uint32_t *a, size_t n, size_t from, uint32_t x)
{
    size_t lo = from, hi = from, step = 1;
    while (hi < n && a[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Candidates: docs ascending with their scores so far; best holds what the word
 * being intersected gives each (-1: nothing yet). */
typedef struct cands {
    uint32_t *docs;
    double *scores, *best;
    size_t n;
} cands;

static inline void hit(const ecom__plan *q, cands *c, const ecom__alt *a, size_t i, unsigned tf)
{
    double s = q->score ? bm25f(q, a, tf, c->docs[i]) : 0;
    if (s > c->best[i])
        c->best[i] = s;
}

/* Each candidate the alternative's postings hold gets, in best, the better of what it
 * had and the alternative's score. */
static int intersect(const ecom__plan *q, cands *c, const ecom__alt *a)
{
    const ecom__term *t = &q->ix->tinfo[a->term];
    const uint32_t *p = t->docs;
    const uint16_t *tf = ecom__term_tf(t);
    size_t np = t->n, i = 0, j = 0;
    if (np > 8 * c->n) {
        for (; i < c->n && j < np; i++) {
            j = gallop(p, np, j, c->docs[i]);
            if (j < np && p[j] == c->docs[i])
                hit(q, c, a, i, tf[j]);
        }
    } else if (c->n > 8 * np) {
        for (; j < np && i < c->n; j++) {
            i = gallop(c->docs, c->n, i, p[j]);
            if (i < c->n && c->docs[i] == p[j])
                hit(q, c, a, i, tf[j]);
        }
    } else if (np >= DENSE_MIN) {
        /* long lists of like sizes: the postings' tf by doc number, read back in the
         * candidates' order, no branches */
        uint16_t *by_doc = ecom__calloc(q->ix->ndocs, sizeof *by_doc);
        if (by_doc == NULL)
            return ECOM_ENOMEM;
        for (j = 0; j < np; j++)
            by_doc[p[j]] = tf[j];
        for (i = 0; i < c->n; i++) {
            unsigned f = by_doc[c->docs[i]];
            double s = q->score ? bm25f(q, a, f, c->docs[i]) : 0, b = c->best[i];
            c->best[i] = f && s > b ? s : b;
        }
        ecom__free(by_doc);
    } else if (q->score) {
        /* lists of like sizes: steps without branches, a score computed at each (for
         * nothing when the docs differ, which costs less than guessing wrong) */
        while (i < c->n && j < np) {
            uint32_t x = c->docs[i], y = p[j];
            double s = bm25f(q, a, tf[j], x), b = c->best[i];
            c->best[i] = x == y && s > b ? s : b;
            i += x <= y;
            j += y <= x;
        }
    } else {
        while (i < c->n && j < np) {
            uint32_t x = c->docs[i], y = p[j];
            c->best[i] = x == y ? 0 : c->best[i];
            i += x <= y;
            j += y <= x;
        }
    }
    return ECOM_OK;
}

/* The attribute filters through the values' doc lists, when they are shorter than
 * reading the candidates' values: a bitmap per group of values (any of), the groups
 * and-ed, the candidates looked up. False when not worth it (or without memory). */
static bool filter_attrs_by_lists(const ecom__plan *q, cands *c)
{
    const ecom__sindex *ix = q->ix;
    uint64_t by_lists = 0;
    for (size_t i = 0; i < q->nfvals; i++)
        by_lists += ix->apost[q->fvals[i]].n;
    size_t words = ((size_t)ix->ndocs + 63) / 64;
    if (ix->ndocs == 0 || by_lists + words >= (uint64_t)c->n * ix->a_len / ix->ndocs)
        return false;
    uint64_t *all = ecom__malloc(words * sizeof *all), *group = ecom__malloc(words * sizeof *group);
    if (all == NULL || group == NULL) {
        ecom__free(all);
        ecom__free(group);
        return false;
    }
    for (size_t i = 0; i < q->nfvals; i++) {
        if (i == 0 || q->fgroup[i] != q->fgroup[i - 1])
            memset(group, 0, words * sizeof *group);
        const struct ecom__list *l = &ix->apost[q->fvals[i]];
        for (uint32_t k = 0; k < l->n; k++)
            group[l->docs[k] >> 6] |= UINT64_C(1) << (l->docs[k] & 63);
        if (i + 1 < q->nfvals && q->fgroup[i + 1] == q->fgroup[i])
            continue;
        for (size_t w = 0; w < words; w++)
            all[w] = q->fgroup[i] == 0 ? group[w] : all[w] & group[w];
    }
    size_t j = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t d = c->docs[i];
        c->docs[j] = d;
        if (c->scores)
            c->scores[j] = c->scores[i];
        j += (all[d >> 6] >> (d & 63)) & 1;
    }
    c->n = j;
    ecom__free(all);
    ecom__free(group);
    return true;
}

/* Keeps the candidates that pass the filters from `first` on: one filter at a time,
 * the cheapest first, each a pass without branches over what the others left. */
static void filter(const ecom__plan *q, cands *c, int first)
{
    for (int f = first; f < ECOM__FILTERS; f++) {
        if (!ecom__plan_has(q, f))
            continue;
        if (f == ECOM__FILTER_ATTRS && filter_attrs_by_lists(q, c))
            continue;
        size_t j = 0;
        for (size_t i = 0; i < c->n; i++) {
            uint32_t d = c->docs[i];
            c->docs[j] = d;
            if (c->scores)
                c->scores[j] = c->scores[i];
            j += ecom__plan_filter(q, f, d);
        }
        c->n = j;
    }
}

/* The first word's matches that pass the filters, with their scores. A word with
 * several alternatives: the union of their postings is marked in a bitmap, read out
 * in order, and each alternative then scores the candidates it holds. */
static int drive(const ecom__plan *q, cands *c, const ecom__word *w)
{
    const ecom__sindex *ix = q->ix;
    if (w->count == 1) {
        const ecom__alt *a = &q->alts[w->first];
        const ecom__term *t = &ix->tinfo[a->term];
        const uint16_t *tf = ecom__term_tf(t);
        /* appended always, kept or not: no branch on what cannot be guessed. The
         * posting's index rides in scores until the filters are done, so that only
         * what they keep is scored. */
        const uint64_t *stock = q->in_stock ? ix->stock : ix->live;
        for (uint32_t i = 0; i < t->n; i++) {
            uint32_t d = t->docs[i];
            c->docs[c->n] = d;
            c->scores[c->n] = i;
            c->n += ecom__bit(ix->live, d) & ecom__bit(stock, d);
        }
        filter(q, c, ECOM__FILTER_STOCK + 1);
        for (size_t i = 0; i < c->n; i++) {
            uint32_t at = (uint32_t)c->scores[i];
            c->scores[i] = q->score ? bm25f(q, a, tf[at], c->docs[i]) : 0;
        }
        return ECOM_OK;
    }
    size_t words = ((size_t)ix->ndocs + 63) / 64;
    uint64_t *bits = ecom__calloc(words ? words : 1, sizeof *bits);
    if (bits == NULL)
        return ECOM_ENOMEM;
    for (size_t k = 0; k < w->count; k++) {
        const ecom__term *t = &ix->tinfo[q->alts[w->first + k].term];
        for (uint32_t i = 0; i < t->n; i++)
            bits[t->docs[i] >> 6] |= UINT64_C(1) << (t->docs[i] & 63);
    }
    for (size_t k = 0; k < words; k++) {
        uint64_t b = bits[k] & ix->live[k] & (q->in_stock ? ix->stock[k] : ~UINT64_C(0));
        for (; b; b &= b - 1)
            c->docs[c->n++] = (uint32_t)(k * 64) + (uint32_t)__builtin_ctzll(b);
    }
    ecom__free(bits);
    filter(q, c, ECOM__FILTER_STOCK + 1);
    for (size_t i = 0; i < c->n; i++)
        c->best[i] = -1;
    int rc = ECOM_OK;
    for (size_t k = 0; rc == ECOM_OK && k < w->count; k++)
        rc = intersect(q, c, &q->alts[w->first + k]);
    for (size_t i = 0; i < c->n; i++)
        c->scores[i] = c->best[i];
    return rc;
}

/* Every word's matches that pass the filters, with their scores: into *c. */
static int match_words(const ecom__plan *q, cands *c)
{
    size_t order[ECOM__QUERY_WORDS_MAX];
    for (size_t i = 0; i < q->nwords; i++) {
        size_t j = i;
        for (; j > 0 && q->words[order[j - 1]].cost > q->words[i].cost; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    const ecom__word *first = &q->words[order[0]];
    size_t cap = first->cost < q->ix->ndocs ? (size_t)first->cost : q->ix->ndocs;
    c->docs = ecom__malloc(cap * sizeof *c->docs);
    c->scores = ecom__malloc(cap * sizeof *c->scores);
    c->best = ecom__malloc(cap * sizeof *c->best);
    if (c->docs == NULL || c->scores == NULL || c->best == NULL)
        return ECOM_ENOMEM;
    int rc = drive(q, c, first);
    for (size_t k = 1; rc == ECOM_OK && k < q->nwords && c->n > 0; k++) {
        const ecom__word *w = &q->words[order[k]];
        for (size_t i = 0; i < c->n; i++)
            c->best[i] = -1;
        for (size_t a = 0; rc == ECOM_OK && a < w->count; a++)
            rc = intersect(q, c, &q->alts[w->first + a]);
        /* keeps the candidates the word matched, without branches */
        size_t j = 0;
        for (size_t i = 0; i < c->n; i++) {
            c->docs[j] = c->docs[i];
            c->scores[j] = c->scores[i] + c->best[i];
            j += c->best[i] >= 0;
        }
        c->n = j;
    }
    return rc;
}

static void cands_free(cands *c)
{
    ecom__free(c->docs);
    ecom__free(c->scores);
    ecom__free(c->best);
}

/* Every live doc passing the filters (a request without words). */
static int scan_all(const ecom__plan *q, cands *c)
{
    const ecom__sindex *ix = q->ix;
    c->docs = ecom__malloc((ix->nlive ? ix->nlive : 1) * sizeof *c->docs);
    if (c->docs == NULL)
        return ECOM_ENOMEM;
    for (uint32_t w = 0; w < (ix->ndocs + 63) / 64; w++) {
        uint64_t bits = ix->live[w] & (q->in_stock ? ix->stock[w] : ~UINT64_C(0));
        for (; bits; bits &= bits - 1)
            c->docs[c->n++] = w * 64 + (uint32_t)__builtin_ctzll(bits);
    }
    filter(q, c, ECOM__FILTER_STOCK + 1);
    return ECOM_OK;
}

int ecom__sindex_run(ecom_search_result **out, ecom__sindex *ix, const ecom_search_request *req,
                     char *errmsg, size_t errmsg_size)
{
    if (out == NULL || ix == NULL)
        return ecom__msg(errmsg, errmsg_size, ECOM_EINVAL, "%s: NULL", out ? "index" : "out");
    *out = NULL;
    int rc = ecom__sindex_check(req, errmsg, errmsg_size);
    if (rc != ECOM_OK)
        return rc;
    ecom__plan q;
    ecom__page pg = {0};
    cands c = {0};
    ecom__rbuild b = {0};
    size_t total = 0;
    rc = ecom__plan_build(&q, ix, req, req->sort == ECOM_SORT_RELEVANCE);
    if (rc == ECOM_OK)
        rc = ecom__page_init(&pg, &q, errmsg, errmsg_size);
    if (rc == ECOM_OK)
        rc = ecom__facets_init(&q);
    if (rc == ECOM_OK && !q.empty) {
        rc = q.nwords ? match_words(&q, &c) : scan_all(&q, &c);
        if (rc == ECOM_OK) {
            ecom__facets_matches(&q, c.docs, c.n);
            ecom__page_offer(&pg, c.docs, c.scores, c.n);
            total = c.n;
        }
    }
    if (rc == ECOM_OK)
        rc = ecom__rbuild_start(&b, total);
    if (rc == ECOM_OK) {
        ecom__page_emit(&pg, &q, &b);
        ecom__facets_emit(&q, &b);
        *out = ecom__rbuild_finish(&b, &rc);
    }
    cands_free(&c);
    ecom__page_free(&pg);
    ecom__plan_free(&q);
    if (rc == ECOM_ENOMEM)
        ecom__msg(errmsg, errmsg_size, rc, "out of memory");
    return rc;
}

/* Is doc d in one of the word's alternatives' postings? */
static bool word_has(const ecom__plan *q, const ecom__word *w, uint32_t d)
{
    for (size_t i = 0; i < w->count; i++) {
        const ecom__term *t = &q->ix->tinfo[q->alts[w->first + i].term];
        size_t j = gallop(t->docs, t->n, 0, d);
        if (j < t->n && t->docs[j] == d)
            return true;
    }
    return false;
}

bool ecom__sindex_matches(ecom__sindex *ix, const ecom_search_request *req, const char *id)
{
    if (ix == NULL || req == NULL || id == NULL)
        return false;
    uint32_t d = ecom__sindex_doc(ix, id, strlen(id));
    if (d == ECOM__NONE || ecom__sindex_check(req, NULL, 0) != ECOM_OK)
        return false;
    ecom__plan q;
    int rc = ecom__plan_build(&q, ix, req, false);
    /* without memory to tell, say yes: the caller then drops what it cached */
    bool yes = rc != ECOM_OK || (!q.empty && ecom__plan_passes(&q, d));
    for (size_t i = 0; rc == ECOM_OK && yes && i < q.nwords; i++)
        yes = word_has(&q, &q.words[i], d);
    ecom__plan_free(&q);
    return yes;
}
