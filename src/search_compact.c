/*
 * Compaction: once a quarter of the doc numbers are tombstones, the live docs are
 * renumbered 0..nlive-1 in order, every column and pool moves down in place, postings
 * and attribute value lists drop their tombstones, and terms no live doc has leave
 * the dictionary. It allocates first and then cannot fail, so running out of memory
 * only postpones it.
 */
#include <string.h>

#include "search_index.h"

/* Docs below this never trigger a compaction. */
#define COMPACT_MIN 64

/* Drops the tombstones of one posting list, renumbering the docs; shrinks it when
 * more than half is empty. */
static void compact_postings(ecom__sindex *ix, ecom__term *t, const uint32_t *remap)
{
    uint16_t *tf = ecom__term_tf(t);
    uint32_t j = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t d = remap[t->docs[i]];
        if (d != ECOM__NONE) {
            t->docs[j] = d;
            tf[j++] = tf[i];
        }
    }
    t->n = j;
    if ((size_t)t->cap <= (size_t)j * 2 + 4)
        return;
    uint32_t cap = j + j / 4 + 2;
    memmove(t->docs + cap, tf, (size_t)j * 2);
    ix->post_bytes -= (size_t)(t->cap - cap) * 6;
    t->cap = cap;
    uint32_t *docs = ecom__realloc(t->docs, (size_t)cap * 6);
    if (docs)
        t->docs = docs;
}

/* Drops the tombstones of an attribute value's list, renumbering the docs. */
static void compact_list(ecom__sindex *ix, struct ecom__list *l, const uint32_t *remap)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (remap[l->docs[i]] != ECOM__NONE)
            l->docs[j++] = remap[l->docs[i]];
    l->n = j;
    if ((size_t)l->cap <= (size_t)j * 2 + 4)
        return;
    uint32_t cap = j + j / 4 + 2;
    ix->apost_bytes -= (size_t)(l->cap - cap) * sizeof *l->docs;
    l->cap = cap;
    uint32_t *docs = ecom__realloc(l->docs, (size_t)cap * sizeof *docs);
    if (docs)
        l->docs = docs;
}

/* Renumbers the live docs 0..nlive-1 in order; every part moves down in place. */
static void compact_docs(ecom__sindex *ix, const uint32_t *remap, const uint32_t *tremap)
{
    size_t ids_w = 0, p_w = 0, a_w = 0, f_w = 0;
    for (uint32_t d = 0; d < ix->ndocs; d++) {
        uint32_t j = remap[d];
        if (j == ECOM__NONE)
            continue;
        const char *id = ecom__sindex_id(ix, d);
        size_t len = strlen(id) + 1;
        memmove(ix->ids + ids_w, id, len);
        ix->d_id[j] = (uint32_t)ids_w;
        ids_w += len;
        ix->d_idkey[j] = ix->d_idkey[d];
        ix->d_created[j] = ix->d_created[d];
        ix->d_brand[j] = ix->d_brand[d];
        ix->d_cat[j] = ix->d_cat[d];
        ix->d_lens[j] = ix->d_lens[d];
        for (uint32_t i = ix->d_price[d]; i < ix->d_price[d + 1]; i++, p_w++) {
            ix->p_cur[p_w] = ix->p_cur[i];
            ix->p_amt[p_w] = ix->p_amt[i];
        }
        uint32_t a0 = ix->d_attr[d], a1 = ix->d_attr[d + 1];
        if (a1 > a0)
            memmove(ix->a_val + a_w, ix->a_val + a0, (size_t)(a1 - a0) * 4);
        a_w += a1 - a0;
        /* a term's new id is never above its old one, so its varint is never longer
         * and the writes stay behind the reads */
        for (size_t pos = ix->d_fwd[d]; pos < ix->d_fwd[d + 1];)
            f_w += ecom__varint_put(ix->fwd + f_w, tremap[ecom__varint(ix->fwd, &pos)]);
        /* d's offsets are read above before j's are written: j <= d */
        ix->d_price[j + 1] = (uint32_t)p_w;
        ix->d_attr[j + 1] = (uint32_t)a_w;
        ix->d_fwd[j + 1] = (uint32_t)f_w;
        ecom__bit_set(ix->stock, j, ecom__bit(ix->stock, d));
    }
    ix->ids_len = ids_w;
    ix->p_len = p_w;
    ix->a_len = a_w;
    ix->fwd_len = f_w;
}

static int compact(ecom__sindex *ix)
{
    uint32_t nt = ix->terms.count;
    uint32_t *remap = ecom__malloc((size_t)ix->ndocs * 4 + 4);
    uint32_t *tremap = ecom__malloc((size_t)nt * 4 + 4);
    ecom__strtab terms = {0};
    int rc = remap && tremap ? ECOM_OK : ECOM_ENOMEM;
    for (uint32_t t = 0; rc == ECOM_OK && t < nt; t++) {
        tremap[t] = ECOM__NONE;
        if (ix->tinfo[t].df > 0)
            rc = ecom__strtab_intern(&terms, ecom__strtab_str(&ix->terms, t),
                                     ecom__strtab_len(&ix->terms, t), &tremap[t], NULL);
    }
    if (rc != ECOM_OK) {
        ecom__free(remap);
        ecom__free(tremap);
        ecom__strtab_free(&terms);
        return rc;
    }
    /* nothing fails from here on */
    uint32_t j = 0;
    for (uint32_t d = 0; d < ix->ndocs; d++)
        remap[d] = ecom__bit(ix->live, d) ? j++ : ECOM__NONE;
    for (uint32_t t = 0; t < nt; t++) {
        ecom__term *ti = &ix->tinfo[t];
        if (tremap[t] == ECOM__NONE) {
            ix->post_bytes -= (size_t)ti->cap * 6;
            ecom__free(ti->docs);
            continue;
        }
        compact_postings(ix, ti, remap);
        ix->tinfo[tremap[t]] = *ti;
    }
    compact_docs(ix, remap, tremap);
    for (size_t v = 0; v < ix->apost_cap; v++)
        compact_list(ix, &ix->apost[v], remap);
    for (uint32_t w = 0; w < (ix->ndocs + 63) / 64; w++)
        ix->live[w] = 0;
    for (uint32_t d = 0; d < j; d++)
        ecom__bit_set(ix->live, d, true);
    for (uint32_t d = j; d < ix->ndocs; d++)
        ecom__bit_set(ix->stock, d, false);
    for (size_t i = 0; i <= ix->id_mask; i++) {
        uint64_t e = ix->id_slots[i];
        if (e)
            ix->id_slots[i] = (e >> 32) << 32 | (uint64_t)(remap[(uint32_t)e - 1] + 1);
    }
    ix->ndocs = j;
    ecom__strtab_free(&ix->terms);
    ix->terms = terms;
    ix->nsorted = 0;
    ecom__sindex_token_cache_reset(ix);
    if (ix->t_stamp)
        memset(ix->t_stamp, 0, ix->stamp_cap * sizeof *ix->t_stamp);
    ix->stamp = 1;
    ecom__free(remap);
    ecom__free(tremap);
    ecom__sindex_sort_terms(ix); /* on ENOMEM, prefixes search the terms one by one */
    return ECOM_OK;
}

void ecom__sindex_maybe_compact(ecom__sindex *ix)
{
    uint32_t dead = ix->ndocs - ix->nlive;
    if (ix->ndocs >= COMPACT_MIN && dead > ix->ndocs / 4)
        compact(ix); /* on ENOMEM the tombstones wait for the next try */
}
