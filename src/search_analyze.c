/*
 * What a put makes of a product before it touches the index: its terms (tokens
 * stemmed once each: a cache maps tokens seen to their terms) with their frequency
 * per field, its field lengths, its lowest price per currency, its attribute values,
 * brand and category, all interned. It runs under the write path, with the index's
 * own stemmer.
 */
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

/* Tokens remembered with their term; forgotten all at once beyond this many. */
#define TOKEN_CACHE_MAX (1u << 20)

typedef struct analysis {
    ecom__sindex *ix;
    int field;
    uint32_t tokens;
    int rc;
} analysis;

void ecom__sindex_token_cache_reset(ecom__sindex *ix)
{
    ecom__strtab_free(&ix->tokens);
    ecom__free(ix->tok_term);
    ix->tok_term = NULL;
    ix->tok_cap = 0;
}

/* The term of a folded token: from the cache, or stemmed and interned. */
static int token_term(ecom__sindex *ix, const char *tok, size_t len, uint32_t *term)
{
    uint32_t k = ecom__strtab_find(&ix->tokens, tok, len);
    if (k != ECOM__NONE) {
        *term = ix->tok_term[k];
        return ECOM_OK;
    }
    char stem[ECOM__TOKEN_MAX + 1];
    size_t slen = ecom__stem(ix->wstem, tok, len, stem);
    uint32_t n = ix->terms.count;
    int rc = ecom__grow((void **)&ix->tinfo, &ix->tinfo_cap, (size_t)n + 1, sizeof *ix->tinfo);
    if (rc == ECOM_OK && ix->stamp_cap < (size_t)n + 1) {
        size_t cap = ix->stamp_cap;
        rc = ecom__grow((void **)&ix->t_stamp, &cap, (size_t)n + 1, sizeof *ix->t_stamp);
        if (rc == ECOM_OK && cap != ix->stamp_cap) {
            size_t cap2 = ix->stamp_cap;
            rc = ecom__grow((void **)&ix->t_slot, &cap2, cap, sizeof *ix->t_slot);
            if (rc == ECOM_OK) {
                memset(ix->t_stamp + ix->stamp_cap, 0, (cap - ix->stamp_cap) * sizeof *ix->t_stamp);
                ix->stamp_cap = cap;
            }
        }
    }
    bool added = false;
    if (rc == ECOM_OK)
        rc = ecom__strtab_intern(&ix->terms, stem, slen, term, &added);
    if (rc != ECOM_OK)
        return rc;
    if (added) {
        ix->tinfo[*term] = (ecom__term){NULL, 0, 0, 0};
        ix->t_stamp[*term] = 0;
    }
    /* The cache is only a shortcut: failing to remember is no failure. */
    if (ix->tokens.count >= TOKEN_CACHE_MAX)
        ecom__sindex_token_cache_reset(ix);
    if (ecom__grow((void **)&ix->tok_term, &ix->tok_cap, (size_t)ix->tokens.count + 1,
                   sizeof *ix->tok_term) == ECOM_OK &&
        ecom__strtab_intern(&ix->tokens, tok, len, &k, NULL) == ECOM_OK)
        ix->tok_term[k] = *term;
    return ECOM_OK;
}

static int on_token(void *ctx, const char *tok, size_t len, uint32_t position)
{
    ECOM__UNUSED(position);
    analysis *a = ctx;
    ecom__sindex *ix = a->ix;
    uint32_t term;
    a->rc = token_term(ix, tok, len, &term);
    if (a->rc == ECOM_OK && ix->t_stamp[term] != ix->stamp)
        a->rc = ecom__grow((void **)&ix->wterms, &ix->wterms_cap, ix->wterms_len + 1,
                           sizeof *ix->wterms);
    if (a->rc != ECOM_OK)
        return 1;
    a->tokens++;
    if (ix->t_stamp[term] != ix->stamp) {
        ix->t_stamp[term] = ix->stamp;
        ix->t_slot[term] = (uint32_t)ix->wterms_len;
        ix->wterms[ix->wterms_len++] = (struct ecom__wterm){term, 0};
    }
    uint16_t *tf = &ix->wterms[ix->t_slot[term]].tf;
    if (a->field == ECOM__F_TITLE && ECOM__TF_TITLE(*tf) < 31)
        *tf = (uint16_t)(*tf + (1u << 11));
    else if (a->field == ECOM__F_BRAND && ECOM__TF_BRAND(*tf) < 7)
        *tf = (uint16_t)(*tf + (1u << 8));
    else if (a->field == ECOM__F_DESC && ECOM__TF_DESC(*tf) < 255)
        *tf = (uint16_t)(*tf + 1u);
    return 0;
}

static int analyze_text(ecom__sindex *ix, const ecom_product *p, ecom__doc_parts *dp)
{
    if (++ix->stamp == UINT32_MAX) {
        if (ix->t_stamp)
            memset(ix->t_stamp, 0, ix->stamp_cap * sizeof *ix->t_stamp);
        ix->stamp = 1;
    }
    ix->wterms_len = 0;
    const char *texts[ECOM__FIELDS] = {p->title, p->brand, p->description};
    uint32_t lens[ECOM__FIELDS];
    for (int f = 0; f < ECOM__FIELDS; f++) {
        analysis a = {ix, f, 0, ECOM_OK};
        const char *s = texts[f] ? texts[f] : "";
        ecom__text_tokens(s, strlen(s), ECOM__TEXT_INDEX, on_token, &a);
        if (a.rc != ECOM_OK)
            return a.rc;
        lens[f] = a.tokens;
    }
    uint32_t max[ECOM__FIELDS] = {255, 255, 65535};
    for (int f = 0; f < ECOM__FIELDS; f++)
        lens[f] = lens[f] < max[f] ? lens[f] : max[f];
    dp->lens = lens[ECOM__F_TITLE] << 24 | lens[ECOM__F_BRAND] << 16 | lens[ECOM__F_DESC];
    return ECOM_OK;
}

static int analyze_prices(ecom__sindex *ix, const ecom_product *p, ecom__doc_parts *dp)
{
    size_t cap = sizeof dp->prices / sizeof dp->prices[0];
    dp->nprices = 0;
    for (size_t v = 0; v < p->variant_count; v++) {
        const ecom__variant *var = &p->variants[v];
        for (size_t i = 0; i < var->price_count; i++) {
            const ecom__price *pr = &var->prices[i];
            if (!ecom_currency_valid(pr->currency))
                continue;
            uint32_t cur;
            bool added;
            int rc = ecom__grow((void **)&ix->cur_bounds, &ix->cur_bounds_cap,
                                ((size_t)ix->curs.count + 1) * ECOM__PRICE_BUCKETS,
                                sizeof *ix->cur_bounds);
            if (rc == ECOM_OK)
                rc = ecom__strtab_intern(&ix->curs, pr->currency, 3, &cur, &added);
            if (rc != ECOM_OK)
                return rc;
            if (added)
                ecom__price_bounds(pr->currency,
                                   ix->cur_bounds + (size_t)cur * ECOM__PRICE_BUCKETS);
            size_t k = 0;
            while (k < dp->nprices && dp->prices[k].cur != cur)
                k++;
            if (k == dp->nprices) {
                if (k == cap)
                    continue;
                dp->nprices++;
                dp->prices[k].cur = (uint16_t)cur;
                dp->prices[k].amount = pr->amount;
            } else if (pr->amount < dp->prices[k].amount) {
                dp->prices[k].amount = pr->amount;
            }
        }
    }
    return ECOM_OK;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int analyze_attrs(ecom__sindex *ix, const ecom_product *p, ecom__doc_parts *dp)
{
    dp->nvals = 0;
    for (size_t i = 0; i < p->attribute_count; i++) {
        const ecom__attribute *at = &p->attributes[i];
        for (size_t j = 0; j < at->value_count; j++) {
            uint32_t id;
            int rc = ecom__sindex_aval(ix, at->name, at->values[j], &id);
            if (rc == ECOM_OK)
                rc = ecom__grow((void **)&ix->wvals, &ix->wvals_cap, dp->nvals + 1,
                                sizeof *ix->wvals);
            if (rc != ECOM_OK)
                return rc;
            ix->wvals[dp->nvals++] = id;
        }
    }
    if (dp->nvals > 1)
        qsort(ix->wvals, dp->nvals, sizeof *ix->wvals, compare_u32);
    size_t n = 0;
    for (size_t i = 0; i < dp->nvals; i++)
        if (n == 0 || ix->wvals[n - 1] != ix->wvals[i])
            ix->wvals[n++] = ix->wvals[i];
    dp->nvals = n;
    return ECOM_OK;
}

int ecom__sindex_analyze(ecom__sindex *ix, const ecom_product *p, ecom__doc_parts *dp)
{
    int rc = analyze_text(ix, p, dp);
    if (rc == ECOM_OK)
        rc = analyze_prices(ix, p, dp);
    if (rc == ECOM_OK)
        rc = analyze_attrs(ix, p, dp);
    if (rc == ECOM_OK)
        rc = ecom__sindex_brand(ix, p->brand ? p->brand : "", &dp->brand);
    if (rc == ECOM_OK)
        rc = ecom__sindex_cat(ix, p->category ? p->category : "", &dp->cat);
    return rc;
}
