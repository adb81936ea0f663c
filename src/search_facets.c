/*
 * Facets: counts over every match of a request (not only its page) by category
 * (rolled up: a product in a/b/c counts for a, a/b and a/b/c), brand, price bucket or
 * attribute value; and the currency exponents that scale the price buckets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

/* Values a facet lists at most (the most frequent). */
#define FACET_VALUES_MAX 100

/* Price buckets' lower bounds in major units; the last is open-ended. */
static const int64_t bucket_major[ECOM__PRICE_BUCKETS] = {0, 10, 25, 50, 100, 250, 500, 1000};

/* Places for the values of each attribute facet in the plan's acounts. */
static int init_attrs(ecom__plan *q)
{
    const ecom__sindex *ix = q->ix;
    size_t total = 0;
    bool shared[ECOM_SEARCH_FILTERS_MAX] = {false};
    for (size_t k = 0; k < q->nfacets; k++) {
        ecom__facet_acc *f = &q->facets[k];
        if (f->kind != ECOM__FACET_ATTR)
            continue;
        size_t same = 0;
        while (same < k &&
               !(q->facets[same].kind == ECOM__FACET_ATTR && q->facets[same].name == f->name))
            same++;
        if (same < k) { /* the same attribute twice: one count serves both */
            f->base = q->facets[same].base;
            f->ncounts = q->facets[same].ncounts;
            shared[k] = true;
            continue;
        }
        f->base = total;
        for (uint32_t v = 0; v < ix->avals.count; v++)
            f->ncounts += ix->aval_name[v] == f->name;
        total += f->ncounts;
    }
    if (total == 0)
        return ECOM_OK;
    q->nacounts = total + 1;
    q->aslot = ecom__malloc((ix->avals.count ? ix->avals.count : 1) * sizeof *q->aslot);
    q->acounts = ecom__calloc(q->nacounts, sizeof *q->acounts);
    q->aval_of = ecom__malloc(total * sizeof *q->aval_of);
    if (q->aslot == NULL || q->acounts == NULL || q->aval_of == NULL)
        return ECOM_ENOMEM;
    for (uint32_t v = 0; v < ix->avals.count; v++)
        q->aslot[v] = (uint32_t)total;
    for (size_t k = 0; k < q->nfacets; k++) {
        ecom__facet_acc *f = &q->facets[k];
        if (f->kind != ECOM__FACET_ATTR || shared[k])
            continue;
        size_t at = f->base;
        for (uint32_t v = 0; v < ix->avals.count && at < f->base + f->ncounts; v++) {
            if (ix->aval_name[v] == f->name && q->aslot[v] == total) {
                q->aslot[v] = (uint32_t)at;
                q->aval_of[at++] = v;
            }
        }
    }
    return ECOM_OK;
}

void ecom__price_bounds(const char *code, int64_t bounds[ECOM__PRICE_BUCKETS])
{
    int64_t scale = 1;
    for (int e = ecom__currency_digits(code); e > 0; e--)
        scale *= 10;
    for (size_t b = 0; b < ECOM__PRICE_BUCKETS; b++)
        bounds[b] = bucket_major[b] * scale;
}

int ecom__facets_init(ecom__plan *q)
{
    const ecom__sindex *ix = q->ix;
    const ecom_search_request *req = q->req;
    for (size_t i = 0; i < req->facet_count; i++) {
        const char *name = req->facets[i];
        ecom__facet_acc *f = &q->facets[q->nfacets++];
        memset(f, 0, sizeof *f);
        if (strcmp(name, "category") == 0) {
            f->kind = ECOM__FACET_CAT;
            f->ncounts = ix->cats.count;
        } else if (strcmp(name, "brand") == 0) {
            f->kind = ECOM__FACET_BRAND;
            f->ncounts = ix->brands.count;
        } else if (strcmp(name, "price") == 0) {
            f->kind = ECOM__FACET_PRICE;
            f->ncounts = ECOM__PRICE_BUCKETS;
            ecom__price_bounds(req->currency ? req->currency : "USD", f->bounds);
        } else {
            f->name = ecom__strtab_find(&ix->anames, name, strlen(name));
            /* an attribute no product has: a facet without values */
            f->kind = f->name == ECOM__NONE ? ECOM__FACET_EMPTY : ECOM__FACET_ATTR;
            continue;
        }
        f->counts = ecom__calloc(f->ncounts, sizeof *f->counts);
        if (f->counts == NULL)
            return ECOM_ENOMEM;
    }
    return init_attrs(q);
}

void ecom__facets_free(ecom__plan *q)
{
    for (size_t i = 0; i < q->nfacets; i++)
        ecom__free(q->facets[i].counts);
    q->nfacets = 0;
    ecom__free(q->aslot);
    ecom__free(q->acounts);
    ecom__free(q->aval_of);
    q->aslot = q->acounts = q->aval_of = NULL;
}

static void count_prices(const ecom__plan *q, ecom__facet_acc *f, const uint32_t *docs, size_t n)
{
    if (q->cur == ECOM__NONE)
        return;
    for (size_t i = 0; i < n; i++) {
        int64_t amount;
        if (ecom__sindex_price(q->ix, docs[i], q->cur, &amount))
            f->counts[ecom__price_bucket(f->bounds, amount)]++;
    }
}

void ecom__facets_count(ecom__plan *q, const uint32_t *docs, size_t n)
{
    const ecom__sindex *ix = q->ix;
    for (size_t k = 0; k < q->nfacets; k++) {
        ecom__facet_acc *f = &q->facets[k];
        uint32_t *counts = f->counts;
        if (f->kind == ECOM__FACET_CAT) {
            for (size_t i = 0; i < n; i++)
                counts[ix->d_cat[docs[i]]]++;
        } else if (f->kind == ECOM__FACET_BRAND) {
            for (size_t i = 0; i < n; i++)
                counts[ix->d_brand[docs[i]]]++;
        } else if (f->kind == ECOM__FACET_PRICE) {
            count_prices(q, f, docs, n);
        }
    }
    if (q->aslot == NULL || q->ainverted)
        return;
    const uint32_t *aslot = q->aslot, *a_val = ix->a_val, *d_attr = ix->d_attr;
    uint32_t *acounts = q->acounts;
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = d_attr[docs[i]], e = d_attr[docs[i] + 1]; j < e; j++)
            acounts[aslot[a_val[j]]]++;
}

typedef struct fvalue {
    uint64_t hits;
    const char *s;
} fvalue;

static int compare_values(const void *a, const void *b)
{
    const fvalue *x = a, *y = b;
    if (x->hits != y->hits)
        return x->hits > y->hits ? -1 : 1;
    return strcmp(x->s, y->s);
}

/*
 * Attribute facets two ways: each counted doc's values are read (all of them, of
 * every attribute: some 3 ns a value), or each wanted value's doc list is read and
 * its docs looked up in a bitmap of the matches (under 1 ns a doc). The second wins
 * over many matches: its cost does not depend on them.
 */
static void count_attrs_inverted(ecom__plan *q, const uint32_t *docs, size_t n, size_t counted)
{
    const ecom__sindex *ix = q->ix;
    uint64_t by_lists = 0;
    for (size_t k = 0; k + 1 < q->nacounts; k++)
        by_lists += ix->apost[q->aval_of[k]].n;
    uint64_t by_docs = ix->ndocs ? (uint64_t)counted * ix->a_len * 3 / ix->ndocs : 0;
    if (by_lists >= by_docs)
        return;
    size_t words = ((size_t)ix->ndocs + 63) / 64;
    uint64_t *bits = ecom__calloc(words ? words : 1, sizeof *bits);
    if (bits == NULL)
        return; /* the docs' way then */
    for (size_t i = 0; i < n; i++)
        bits[docs[i] >> 6] |= UINT64_C(1) << (docs[i] & 63);
    for (size_t k = 0; k + 1 < q->nacounts; k++) {
        const struct ecom__list *l = &ix->apost[q->aval_of[k]];
        uint32_t c = 0;
        for (uint32_t i = 0; i < l->n; i++)
            c += (uint32_t)(bits[l->docs[i] >> 6] >> (l->docs[i] & 63)) & 1;
        q->acounts[k] = c;
    }
    ecom__free(bits);
    q->ainverted = true;
}

void ecom__facets_matches(ecom__plan *q, const uint32_t *docs, size_t n)
{
    const ecom__sindex *ix = q->ix;
    if (q->nfacets == 0)
        return;
    bool most = n > ix->nlive / 2;
    if (q->aslot)
        count_attrs_inverted(q, docs, n, most ? ix->nlive - n : n);
    if (!most) {
        ecom__facets_count(q, docs, n);
        return;
    }
    /* the live docs not among docs: the live bitmap without them, a batch at a time */
    size_t words = ((size_t)ix->ndocs + 63) / 64;
    uint64_t *rest = ecom__malloc((words ? words : 1) * sizeof *rest);
    if (rest == NULL) {
        ecom__facets_count(q, docs, n); /* the long way */
        return;
    }
    memcpy(rest, ix->live, words * sizeof *rest);
    for (size_t i = 0; i < n; i++)
        rest[docs[i] >> 6] &= ~(UINT64_C(1) << (docs[i] & 63));
    q->complement = true;
    uint32_t batch[1024];
    size_t nb = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = rest[w]; bits; bits &= bits - 1) {
            batch[nb++] = (uint32_t)(w * 64) + (uint32_t)__builtin_ctzll(bits);
            if (nb == sizeof batch / sizeof batch[0]) {
                ecom__facets_count(q, batch, nb);
                nb = 0;
            }
        }
    }
    ecom__facets_count(q, batch, nb);
    ecom__free(rest);
}

/* Counts over the matches from counts over the others: what the live docs have
 * minus that. */
static void uncomplement(const ecom__plan *q, ecom__facet_acc *f)
{
    const ecom__sindex *ix = q->ix;
    if (f->kind == ECOM__FACET_CAT || f->kind == ECOM__FACET_BRAND) {
        const uint32_t *live = f->kind == ECOM__FACET_CAT ? ix->live_cat : ix->live_brand;
        for (size_t i = 0; i < f->ncounts; i++)
            f->counts[i] = live[i] - f->counts[i];
    } else if (f->kind == ECOM__FACET_PRICE) {
        for (size_t i = 0; i < f->ncounts; i++)
            f->counts[i] =
                q->cur == ECOM__NONE
                    ? 0
                    : ix->live_price[(size_t)q->cur * ECOM__PRICE_BUCKETS + i] - f->counts[i];
    }
}

static void emit_sorted(ecom__rbuild *b, fvalue *v, size_t n)
{
    qsort(v, n, sizeof *v, compare_values);
    for (size_t i = 0; i < n && i < FACET_VALUES_MAX; i++)
        ecom__rbuild_value(b, v[i].s, strlen(v[i].s), v[i].hits);
}

static void emit_counted(const ecom__plan *q, ecom__facet_acc *f, ecom__rbuild *b)
{
    const ecom__sindex *ix = q->ix;
    bool attr = f->kind == ECOM__FACET_ATTR;
    const uint32_t *counts = attr ? q->acounts + f->base : f->counts;
    if (f->kind == ECOM__FACET_CAT) {
        /* a parent's id is below its children's: children are added up first */
        for (uint32_t c = (uint32_t)f->ncounts; c-- > 1;)
            if (ix->cat_parent[c] != ECOM__NONE)
                f->counts[ix->cat_parent[c]] += f->counts[c];
    }
    /* entry 0 of categories and brands is "none" */
    uint32_t start = attr ? 0 : 1;
    size_t n = 0;
    for (uint32_t i = start; i < f->ncounts; i++)
        n += counts[i] > 0;
    fvalue *v = ecom__calloc(n ? n : 1, sizeof *v);
    if (v == NULL) {
        b->rc = ECOM_ENOMEM;
        return;
    }
    n = 0;
    for (uint32_t i = start; i < f->ncounts; i++) {
        if (counts[i] == 0)
            continue;
        const char *s = f->kind == ECOM__FACET_CAT ? ecom__strtab_str(&ix->cats, i)
                        : f->kind == ECOM__FACET_BRAND
                            ? ecom__strtab_str(&ix->disp, ix->brand_disp[i])
                            : ecom__strtab_str(&ix->disp, ix->aval_disp[q->aval_of[f->base + i]]);
        v[n++] = (fvalue){counts[i], s};
    }
    emit_sorted(b, v, n);
    ecom__free(v);
}

void ecom__facets_emit(ecom__plan *q, ecom__rbuild *b)
{
    if (q->complement) {
        for (size_t k = 0; k < q->nfacets; k++)
            uncomplement(q, &q->facets[k]);
        for (size_t i = 0; q->aval_of && !q->ainverted && i + 1 < q->nacounts; i++)
            q->acounts[i] = q->ix->live_aval[q->aval_of[i]] - q->acounts[i];
        q->complement = false;
    }
    for (size_t k = 0; k < q->nfacets; k++) {
        ecom__facet_acc *f = &q->facets[k];
        ecom__rbuild_facet(b, q->req->facets[k]);
        if (f->kind == ECOM__FACET_PRICE) {
            for (size_t i = 0; i < ECOM__PRICE_BUCKETS; i++) {
                if (f->counts[i] == 0)
                    continue;
                char s[48];
                if (i + 1 < ECOM__PRICE_BUCKETS)
                    snprintf(s, sizeof s, "%lld..%lld", (long long)f->bounds[i],
                             (long long)f->bounds[i + 1]);
                else
                    snprintf(s, sizeof s, "%lld..", (long long)f->bounds[i]);
                ecom__rbuild_value(b, s, strlen(s), f->counts[i]);
            }
        } else if (f->kind != ECOM__FACET_EMPTY) {
            emit_counted(q, f, b);
        }
    }
}
