/*
 * The search index's write side: products in (analyzed by search_analyze.c into a
 * document), out and restocked; the id map; the pool of stemmers that readers
 * borrow; the index's size. The layout is described in search_index.h.
 *
 * A put first does everything that can fail (analysis, interning, making room in
 * every array it will write), then commits with nothing left to fail: an error leaves
 * the index as it was, give or take unused dictionary entries.
 */
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

/* ---- stemmers ---- */

ecom__stemmer *ecom__sindex_stemmer_take(ecom__sindex *ix)
{
    ecom__stemmer *s = NULL;
    pthread_mutex_lock(&ix->pool_lock);
    if (ix->pool_len > 0)
        s = ix->pool[--ix->pool_len];
    pthread_mutex_unlock(&ix->pool_lock);
    if (s == NULL && ecom__stemmer_new(&s) != ECOM_OK)
        return NULL;
    return s;
}

void ecom__sindex_stemmer_give(ecom__sindex *ix, ecom__stemmer *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&ix->pool_lock);
    if (ix->pool_len < ECOM__STEM_POOL) {
        ix->pool[ix->pool_len++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&ix->pool_lock);
    ecom__stemmer_free(s);
}

/* ---- new, free, size ---- */

ecom__sindex *ecom__sindex_alloc(void)
{
    ecom__sindex *ix = ecom__calloc(1, sizeof *ix);
    if (ix == NULL)
        return NULL;
    if (pthread_mutex_init(&ix->pool_lock, NULL) != 0) {
        ecom__free(ix);
        return NULL;
    }
    ix->stamp = 1;
    return ix;
}

int ecom__sindex_new(ecom__sindex **out)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    ecom__sindex *ix = ecom__sindex_alloc();
    if (ix == NULL)
        return ECOM_ENOMEM;
    int rc = ecom__stemmer_new(&ix->wstem);
    if (rc == ECOM_OK)
        rc = ecom__sindex_tables_init(ix);
    if (rc != ECOM_OK) {
        ecom__sindex_free(ix);
        return rc;
    }
    *out = ix;
    return ECOM_OK;
}

void ecom__sindex_free(ecom__sindex *ix)
{
    if (ix == NULL)
        return;
    void *arrays[] = {ix->d_id,       ix->d_idkey,   ix->d_created, ix->d_brand,    ix->d_cat,
                      ix->d_lens,     ix->d_price,   ix->d_attr,    ix->d_fwd,      ix->live,
                      ix->stock,      ix->ids,       ix->p_cur,     ix->p_amt,      ix->a_val,
                      ix->fwd,        ix->id_slots,  ix->sorted,    ix->brand_disp, ix->cat_parent,
                      ix->aval_name,  ix->aval_disp, ix->tok_term,  ix->t_stamp,    ix->t_slot,
                      ix->wterms,     ix->wvals,     ix->live_cat,  ix->live_brand, ix->live_aval,
                      ix->live_price, ix->cur_bounds};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        ecom__free(arrays[i]);
    for (uint32_t t = 0; ix->tinfo && t < ix->terms.count; t++)
        ecom__free(ix->tinfo[t].docs);
    for (size_t v = 0; v < ix->apost_cap; v++)
        ecom__free(ix->apost[v].docs);
    ecom__free(ix->apost);
    ecom__free(ix->tinfo);
    ecom__strtab *tabs[] = {&ix->terms, &ix->brands, &ix->cats, &ix->anames,
                            &ix->avals, &ix->curs,   &ix->disp, &ix->tokens};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        ecom__strtab_free(tabs[i]);
    if (ix->wstem)
        ecom__stemmer_free(ix->wstem);
    for (size_t i = 0; i < ix->pool_len; i++)
        ecom__stemmer_free(ix->pool[i]);
    pthread_mutex_destroy(&ix->pool_lock);
    ecom__free(ix);
}

size_t ecom__sindex_products(const ecom__sindex *ix)
{
    return ix ? ix->nlive : 0;
}

size_t ecom__sindex_memory(const ecom__sindex *ix)
{
    if (ix == NULL)
        return 0;
    size_t m = sizeof *ix;
    m += ix->dcap * (4 + 8 + 8 + 4 + 4 + 4) + (ix->dcap + 1) * 3 * 4;
    m += ix->bits_cap * 2 * 8;
    m += ix->ids_cap + ix->p_cap * (2 + 8) + ix->a_cap * 4 + ix->fwd_cap;
    m += ix->id_slots ? ((size_t)ix->id_mask + 1) * 8 : 0;
    m += ix->tinfo_cap * sizeof *ix->tinfo + ix->sorted_cap * 4 + ix->post_bytes;
    m += ix->brand_cap * 4 + ix->cat_cap * 4 + ix->aval_cap * 8;
    m += ix->tok_cap * 4 + ix->stamp_cap * 8 + ix->wterms_cap * sizeof *ix->wterms +
         ix->wvals_cap * 4;
    m += (ix->live_cat_cap + ix->live_brand_cap + ix->live_aval_cap + ix->live_price_cap) * 4 +
         ix->cur_bounds_cap * 8;
    m += ix->apost_cap * sizeof *ix->apost + ix->apost_bytes;
    const ecom__strtab *tabs[] = {&ix->terms, &ix->brands, &ix->cats, &ix->anames,
                                  &ix->avals, &ix->curs,   &ix->disp, &ix->tokens};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        m += ecom__strtab_memory(tabs[i]);
    return m;
}

/* ---- the id map ---- */

/* The slot holding id's doc, or the empty slot where it would go. */
static uint32_t id_slot(const ecom__sindex *ix, const char *id, size_t len, uint32_t h)
{
    for (uint32_t i = h & ix->id_mask;; i = (i + 1) & ix->id_mask) {
        uint64_t e = ix->id_slots[i];
        if (e == 0)
            return i;
        if ((uint32_t)(e >> 32) == h) {
            const char *s = ecom__sindex_id(ix, (uint32_t)e - 1);
            if (strncmp(s, id, len) == 0 && s[len] == '\0')
                return i;
        }
    }
}

uint32_t ecom__sindex_doc(const ecom__sindex *ix, const char *id, size_t len)
{
    if (ix->id_slots == NULL)
        return ECOM__NONE;
    uint64_t e = ix->id_slots[id_slot(ix, id, len, ecom__strhash(id, len))];
    return e ? (uint32_t)e - 1 : ECOM__NONE;
}

/* Room for one more id in the map. */
static int id_reserve(ecom__sindex *ix)
{
    size_t slots = ix->id_slots ? (size_t)ix->id_mask + 1 : 0;
    if (((size_t)ix->nlive + 1) * 2 <= slots)
        return ECOM_OK;
    size_t n = slots ? slots * 2 : 1024;
    if (n > (size_t)UINT32_MAX + 1)
        return ECOM_ENOMEM;
    uint64_t *s = ecom__calloc(n, sizeof *s);
    if (s == NULL)
        return ECOM_ENOMEM;
    uint32_t mask = (uint32_t)(n - 1);
    for (size_t i = 0; i < slots; i++) {
        uint64_t e = ix->id_slots[i];
        if (e == 0)
            continue;
        uint32_t j = (uint32_t)(e >> 32) & mask;
        while (s[j])
            j = (j + 1) & mask;
        s[j] = e;
    }
    ecom__free(ix->id_slots);
    ix->id_slots = s;
    ix->id_mask = mask;
    return ECOM_OK;
}

/* Empties slot i, moving back the entries after it that probed past it. */
static void id_delete_slot(ecom__sindex *ix, uint32_t i)
{
    uint32_t mask = ix->id_mask;
    for (uint32_t j = (i + 1) & mask; ix->id_slots[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)(ix->id_slots[j] >> 32) & mask;
        /* the entry at j may move to i if i lies on its probe path: home..j */
        bool on_path = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (on_path) {
            ix->id_slots[i] = ix->id_slots[j];
            i = j;
        }
    }
    ix->id_slots[i] = 0;
}

int ecom__sindex_rebuild_ids(ecom__sindex *ix)
{
    ecom__free(ix->id_slots);
    ix->id_slots = NULL;
    ix->id_mask = 0;
    size_t n = 1024;
    while (n < (size_t)ix->nlive * 2)
        n *= 2;
    ix->id_slots = ecom__calloc(n, sizeof *ix->id_slots);
    if (ix->id_slots == NULL)
        return ECOM_ENOMEM;
    ix->id_mask = (uint32_t)(n - 1);
    for (uint32_t d = 0; d < ix->ndocs; d++) {
        if (!ecom__bit(ix->live, d))
            continue;
        const char *id = ecom__sindex_id(ix, d);
        size_t len = strlen(id);
        uint32_t h = ecom__strhash(id, len), i = id_slot(ix, id, len, h);
        if (ix->id_slots[i])
            return ECOM_ECORRUPT;
        ix->id_slots[i] = (uint64_t)h << 32 | (uint64_t)(d + 1);
    }
    return ECOM_OK;
}

/* ---- room ---- */

static int grow_docs(ecom__sindex *ix, size_t need)
{
    if (need > ix->dcap) {
        size_t cap = ix->dcap + ix->dcap / 2;
        cap = cap < need ? need : cap;
        cap = cap < 64 ? 64 : cap;
        void **plain[] = {(void **)&ix->d_id,    (void **)&ix->d_idkey, (void **)&ix->d_created,
                          (void **)&ix->d_brand, (void **)&ix->d_cat,   (void **)&ix->d_lens};
        size_t plain_size[] = {4, 8, 8, 4, 4, 4};
        for (size_t i = 0; i < 6; i++) {
            void *q = ecom__realloc(*plain[i], cap * plain_size[i]);
            if (q == NULL)
                return ECOM_ENOMEM;
            *plain[i] = q;
        }
        uint32_t **offs[] = {&ix->d_price, &ix->d_attr, &ix->d_fwd};
        for (size_t i = 0; i < 3; i++) {
            uint32_t *q = ecom__realloc(*offs[i], (cap + 1) * 4);
            if (q == NULL)
                return ECOM_ENOMEM;
            if (ix->dcap == 0)
                q[0] = 0;
            *offs[i] = q;
        }
        ix->dcap = cap;
    }
    size_t words = (need + 63) / 64;
    if (words > ix->bits_cap) {
        size_t cap = words + words / 2;
        uint64_t *live = ecom__realloc(ix->live, cap * 8);
        if (live == NULL)
            return ECOM_ENOMEM;
        ix->live = live;
        uint64_t *stock = ecom__realloc(ix->stock, cap * 8);
        if (stock == NULL)
            return ECOM_ENOMEM;
        ix->stock = stock;
        memset(live + ix->bits_cap, 0, (cap - ix->bits_cap) * 8);
        memset(stock + ix->bits_cap, 0, (cap - ix->bits_cap) * 8);
        ix->bits_cap = cap;
    }
    return ECOM_OK;
}

/* Room for one more posting; the tf half moves up to its new place. */
static int posting_reserve(ecom__sindex *ix, ecom__term *t)
{
    if (t->n < t->cap)
        return ECOM_OK;
    size_t cap = (size_t)t->cap + t->cap / 2 + 2;
    if (cap > UINT32_MAX)
        return ECOM_ENOMEM;
    uint32_t *docs = ecom__realloc(t->docs, cap * 6);
    if (docs == NULL)
        return ECOM_ENOMEM;
    memmove(docs + cap, docs + t->cap, (size_t)t->n * 2);
    ix->post_bytes += (cap - t->cap) * 6;
    t->docs = docs;
    t->cap = (uint32_t)cap;
    return ECOM_OK;
}

/* Grows a zeroed array. */
static int grow_zero(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t old = *cap;
    int rc = ecom__grow(p, cap, need, elem);
    if (rc == ECOM_OK && *cap > old)
        memset((char *)*p + old * elem, 0, (*cap - old) * elem);
    return rc;
}

/* The live counts cover every category, brand, attribute value and currency. */
static int reserve_counts(ecom__sindex *ix)
{
    int rc = grow_zero((void **)&ix->live_cat, &ix->live_cat_cap, ix->cats.count, 4);
    if (rc == ECOM_OK)
        rc = grow_zero((void **)&ix->live_brand, &ix->live_brand_cap, ix->brands.count, 4);
    if (rc == ECOM_OK)
        rc = grow_zero((void **)&ix->live_aval, &ix->live_aval_cap, ix->avals.count, 4);
    if (rc == ECOM_OK)
        rc = grow_zero((void **)&ix->live_price, &ix->live_price_cap,
                       (size_t)ix->curs.count * ECOM__PRICE_BUCKETS, 4);
    if (rc == ECOM_OK)
        rc = grow_zero((void **)&ix->apost, &ix->apost_cap, ix->avals.count, sizeof *ix->apost);
    return rc;
}

/* Room for one more doc in an attribute value's list. */
static int list_reserve(ecom__sindex *ix, struct ecom__list *l)
{
    if (l->n < l->cap)
        return ECOM_OK;
    size_t cap = (size_t)l->cap + l->cap / 2 + 2;
    if (cap > UINT32_MAX)
        return ECOM_ENOMEM;
    uint32_t *docs = ecom__realloc(l->docs, cap * sizeof *docs);
    if (docs == NULL)
        return ECOM_ENOMEM;
    ix->apost_bytes += (cap - l->cap) * sizeof *docs;
    l->docs = docs;
    l->cap = (uint32_t)cap;
    return ECOM_OK;
}

int ecom__sindex_live_counts(ecom__sindex *ix)
{
    return reserve_counts(ix);
}

static void count_live(ecom__sindex *ix, uint32_t d, uint32_t delta)
{
    ix->live_cat[ix->d_cat[d]] += delta;
    ix->live_brand[ix->d_brand[d]] += delta;
    for (uint32_t i = ix->d_attr[d]; i < ix->d_attr[d + 1]; i++)
        ix->live_aval[ix->a_val[i]] += delta;
    for (uint32_t i = ix->d_price[d]; i < ix->d_price[d + 1]; i++) {
        size_t cur = ix->p_cur[i];
        const int64_t *bounds = ix->cur_bounds + cur * ECOM__PRICE_BUCKETS;
        ix->live_price[cur * ECOM__PRICE_BUCKETS + ecom__price_bucket(bounds, ix->p_amt[i])] +=
            delta;
    }
}

static int reserve(ecom__sindex *ix, const ecom__doc_parts *dp, size_t id_len, bool is_new)
{
    if (ix->ndocs >= ECOM__DOCS_MAX)
        return ECOM_ELIMIT;
    size_t fwd_need = ix->fwd_len + ix->wterms_len * 5;
    if (ix->ids_len + id_len + 1 > UINT32_MAX || ix->p_len + dp->nprices > UINT32_MAX ||
        ix->a_len + dp->nvals > UINT32_MAX || fwd_need > UINT32_MAX)
        return ECOM_ELIMIT;
    int rc = grow_docs(ix, (size_t)ix->ndocs + 1);
    if (rc == ECOM_OK)
        rc = ecom__grow((void **)&ix->ids, &ix->ids_cap, ix->ids_len + id_len + 1, 1);
    if (rc == ECOM_OK && ix->p_len + dp->nprices > ix->p_cap) {
        size_t cap = ix->p_cap;
        rc = ecom__grow((void **)&ix->p_cur, &cap, ix->p_len + dp->nprices, 2);
        if (rc == ECOM_OK) {
            size_t cap2 = ix->p_cap;
            rc = ecom__grow((void **)&ix->p_amt, &cap2, cap, 8);
            if (rc == ECOM_OK)
                ix->p_cap = cap;
        }
    }
    if (rc == ECOM_OK)
        rc = ecom__grow((void **)&ix->a_val, &ix->a_cap, ix->a_len + dp->nvals, 4);
    if (rc == ECOM_OK)
        rc = ecom__grow((void **)&ix->fwd, &ix->fwd_cap, fwd_need, 1);
    for (size_t i = 0; rc == ECOM_OK && i < ix->wterms_len; i++)
        rc = posting_reserve(ix, &ix->tinfo[ix->wterms[i].term]);
    if (rc == ECOM_OK && is_new)
        rc = id_reserve(ix);
    if (rc == ECOM_OK)
        rc = reserve_counts(ix);
    for (size_t i = 0; rc == ECOM_OK && i < dp->nvals; i++)
        rc = list_reserve(ix, &ix->apost[ix->wvals[i]]);
    return rc;
}

/* ---- commit ---- */

static uint32_t doc_len(uint32_t lens, int f)
{
    return f == ECOM__F_TITLE   ? ECOM__LEN_TITLE(lens)
           : f == ECOM__F_BRAND ? ECOM__LEN_BRAND(lens)
                                : ECOM__LEN_DESC(lens);
}

static void tombstone(ecom__sindex *ix, uint32_t d)
{
    ecom__bit_set(ix->live, d, false);
    ix->nlive--;
    count_live(ix, d, UINT32_MAX); /* minus one, wrapping */
    for (int f = 0; f < ECOM__FIELDS; f++)
        ix->sumlen[f] -= doc_len(ix->d_lens[d], f);
    for (size_t pos = ix->d_fwd[d]; pos < ix->d_fwd[d + 1];)
        ix->tinfo[ecom__varint(ix->fwd, &pos)].df--;
}

static void commit(ecom__sindex *ix, const ecom_product *p, const ecom__doc_parts *dp,
                   bool in_stock, uint32_t slot, uint32_t h)
{
    uint32_t d = ix->ndocs;
    size_t id_len = strlen(p->id);
    ix->d_id[d] = (uint32_t)ix->ids_len;
    memcpy(ix->ids + ix->ids_len, p->id, id_len + 1);
    ix->ids_len += id_len + 1;
    ix->d_idkey[d] = ecom__idkey(p->id);
    ix->d_created[d] = p->created_at;
    ix->d_brand[d] = dp->brand;
    ix->d_cat[d] = dp->cat;
    ix->d_lens[d] = dp->lens;
    for (size_t i = 0; i < dp->nprices; i++) {
        ix->p_cur[ix->p_len] = dp->prices[i].cur;
        ix->p_amt[ix->p_len++] = dp->prices[i].amount;
    }
    ix->d_price[d + 1] = (uint32_t)ix->p_len;
    if (dp->nvals)
        memcpy(ix->a_val + ix->a_len, ix->wvals, dp->nvals * 4);
    for (size_t i = 0; i < dp->nvals; i++) {
        struct ecom__list *l = &ix->apost[ix->wvals[i]];
        l->docs[l->n++] = d;
    }
    ix->a_len += dp->nvals;
    ix->d_attr[d + 1] = (uint32_t)ix->a_len;
    for (size_t i = 0; i < ix->wterms_len; i++) {
        const struct ecom__wterm *w = &ix->wterms[i];
        ecom__term *t = &ix->tinfo[w->term];
        t->docs[t->n] = d;
        ecom__term_tf(t)[t->n] = w->tf;
        t->n++;
        t->df++;
        ix->fwd_len += ecom__varint_put(ix->fwd + ix->fwd_len, w->term);
    }
    ix->d_fwd[d + 1] = (uint32_t)ix->fwd_len;
    ecom__bit_set(ix->live, d, true);
    ecom__bit_set(ix->stock, d, in_stock);
    for (int f = 0; f < ECOM__FIELDS; f++)
        ix->sumlen[f] += doc_len(dp->lens, f);
    count_live(ix, d, 1);
    ix->ndocs++;
    ix->nlive++;
    uint64_t e = ix->id_slots[slot];
    if (e)
        tombstone(ix, (uint32_t)e - 1);
    ix->id_slots[slot] = (uint64_t)h << 32 | (uint64_t)(d + 1);
}

/* Keeps the sorted view of the dictionary near: new terms are searched one by one. */
static void maybe_sort_terms(ecom__sindex *ix)
{
    uint32_t tail = ix->terms.count - ix->nsorted;
    if (tail > 1024 + ix->nsorted / 8)
        ecom__sindex_sort_terms(ix); /* on ENOMEM, tried again later */
}

int ecom__sindex_put(ecom__sindex *ix, const ecom_product *p, bool in_stock)
{
    if (ix == NULL || p == NULL || p->id == NULL || p->id[0] == '\0' || strlen(p->id) > ECOM_ID_MAX)
        return ECOM_EINVAL;
    if (p->status != ECOM_STATUS_ACTIVE)
        return ecom__sindex_remove(ix, p->id);
    ecom__doc_parts dp;
    int rc = ecom__sindex_analyze(ix, p, &dp);
    size_t id_len = strlen(p->id);
    bool is_new = ecom__sindex_doc(ix, p->id, id_len) == ECOM__NONE;
    if (rc == ECOM_OK)
        rc = reserve(ix, &dp, id_len, is_new);
    if (rc != ECOM_OK)
        return rc;
    uint32_t h = ecom__strhash(p->id, id_len);
    commit(ix, p, &dp, in_stock, id_slot(ix, p->id, id_len, h), h);
    ecom__sindex_maybe_compact(ix);
    maybe_sort_terms(ix);
    return ECOM_OK;
}

int ecom__sindex_remove(ecom__sindex *ix, const char *id)
{
    if (ix == NULL || id == NULL)
        return ECOM_EINVAL;
    if (ix->id_slots == NULL)
        return ECOM_OK;
    size_t len = strlen(id);
    uint32_t slot = id_slot(ix, id, len, ecom__strhash(id, len));
    uint64_t e = ix->id_slots[slot];
    if (e == 0)
        return ECOM_OK;
    tombstone(ix, (uint32_t)e - 1);
    id_delete_slot(ix, slot);
    ecom__sindex_maybe_compact(ix);
    return ECOM_OK;
}

int ecom__sindex_set_stock(ecom__sindex *ix, const char *id, bool in_stock)
{
    if (ix == NULL || id == NULL)
        return ECOM_EINVAL;
    uint32_t d = ecom__sindex_doc(ix, id, strlen(id));
    if (d == ECOM__NONE)
        return ECOM_ENOTFOUND;
    ecom__bit_set(ix->stock, d, in_stock);
    return ECOM_OK;
}

int ecom__sindex_prepare(ecom__sindex *ix)
{
    if (ix == NULL)
        return ECOM_EINVAL;
    ecom__sindex_maybe_compact(ix);
    return ecom__sindex_sort_terms(ix);
}
