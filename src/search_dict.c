/*
 * The search index's tables: growing arrays, interning tables (terms, brands,
 * categories, attribute values, currencies, display strings), and the dictionary's
 * lookups by whole term and by prefix.
 */
#include <stdlib.h>
#include <string.h>

#include "search_index.h"

/* Longest folded brand or attribute value compared (longer ones are cut). */
#define FOLD_MAX 1024

int ecom__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return ECOM_OK;
    size_t n = *cap + *cap / 2;
    if (n < need)
        n = need;
    if (n < 8)
        n = 8;
    if (n > SIZE_MAX / elem)
        return ECOM_ENOMEM;
    void *q = ecom__realloc(*p, n * elem);
    if (q == NULL)
        return ECOM_ENOMEM;
    *p = q;
    *cap = n;
    return ECOM_OK;
}

/* ---- interning tables ---- */

static void slot_put(uint64_t *slots, uint32_t mask, uint32_t hash, uint32_t id)
{
    uint32_t i = hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (uint64_t)hash << 32 | (uint64_t)(id + 1);
}

static int strtab_resize(ecom__strtab *t, size_t nslots)
{
    if (nslots > (size_t)UINT32_MAX + 1)
        return ECOM_ENOMEM;
    uint64_t *slots = ecom__calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return ECOM_ENOMEM;
    uint32_t mask = (uint32_t)(nslots - 1);
    if (t->slots) {
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slots[i])
                slot_put(slots, mask, (uint32_t)(t->slots[i] >> 32), (uint32_t)t->slots[i] - 1);
    }
    ecom__free(t->slots);
    t->slots = slots;
    t->mask = mask;
    return ECOM_OK;
}

uint32_t ecom__strtab_find(const ecom__strtab *t, const char *s, size_t len)
{
    if (t->slots == NULL)
        return ECOM__NONE;
    uint32_t h = ecom__strhash(s, len);
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t e = t->slots[i];
        if (e == 0)
            return ECOM__NONE;
        if ((uint32_t)(e >> 32) != h)
            continue;
        uint32_t id = (uint32_t)e - 1;
        if (ecom__strtab_len(t, id) == len && memcmp(ecom__strtab_str(t, id), s, len) == 0)
            return id;
    }
}

int ecom__strtab_intern(ecom__strtab *t, const char *s, size_t len, uint32_t *id, bool *added)
{
    if (added)
        *added = false;
    uint32_t found = ecom__strtab_find(t, s, len);
    if (found != ECOM__NONE) {
        *id = found;
        return ECOM_OK;
    }
    if (t->count >= UINT32_MAX - 2 || len >= UINT32_MAX - 1 - t->chars_len)
        return ECOM_ENOMEM;
    int rc = ecom__grow((void **)&t->chars, &t->chars_cap, t->chars_len + len + 1, 1);
    if (rc == ECOM_OK)
        rc = ecom__grow((void **)&t->off, &t->off_cap, (size_t)t->count + 2, sizeof *t->off);
    if (rc == ECOM_OK && ((size_t)t->count + 1) * 2 > (t->slots ? (size_t)t->mask + 1 : 0))
        rc = strtab_resize(t, t->slots ? ((size_t)t->mask + 1) * 2 : 16);
    if (rc != ECOM_OK)
        return rc;
    memcpy(t->chars + t->chars_len, s, len);
    t->chars[t->chars_len + len] = '\0';
    t->off[t->count] = (uint32_t)t->chars_len;
    t->chars_len += len + 1;
    t->off[t->count + 1] = (uint32_t)t->chars_len;
    slot_put(t->slots, t->mask, ecom__strhash(s, len), t->count);
    *id = t->count++;
    if (added)
        *added = true;
    return ECOM_OK;
}

int ecom__strtab_rehash(ecom__strtab *t)
{
    ecom__free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    if (t->count == 0)
        return ECOM_OK;
    size_t n = 16;
    while (n < (size_t)t->count * 2)
        n *= 2;
    int rc = strtab_resize(t, n);
    if (rc != ECOM_OK)
        return rc;
    for (uint32_t id = 0; id < t->count; id++) {
        const char *s = ecom__strtab_str(t, id);
        size_t len = ecom__strtab_len(t, id);
        if (ecom__strtab_find(t, s, len) != ECOM__NONE)
            return ECOM_ECORRUPT;
        slot_put(t->slots, t->mask, ecom__strhash(s, len), id);
    }
    return ECOM_OK;
}

void ecom__strtab_free(ecom__strtab *t)
{
    ecom__free(t->chars);
    ecom__free(t->off);
    ecom__free(t->slots);
    memset(t, 0, sizeof *t);
}

size_t ecom__strtab_memory(const ecom__strtab *t)
{
    return t->chars_cap + t->off_cap * sizeof *t->off +
           (t->slots ? ((size_t)t->mask + 1) * sizeof *t->slots : 0);
}

/* ---- the dictionary ---- */

uint32_t ecom__sindex_term(const ecom__sindex *ix, const char *s, size_t len)
{
    return ecom__strtab_find(&ix->terms, s, len);
}

/* Orders a term's string against a prefix: < 0, 0 when the term starts with it, > 0. */
static int prefix_cmp(const ecom__strtab *t, uint32_t id, const char *prefix, size_t len)
{
    size_t tlen = ecom__strtab_len(t, id);
    int c = memcmp(ecom__strtab_str(t, id), prefix, tlen < len ? tlen : len);
    if (c != 0)
        return c;
    return tlen < len ? -1 : 0;
}

int ecom__sindex_prefix(const ecom__sindex *ix, const char *prefix, size_t len,
                        int (*fn)(void *ctx, uint32_t term), void *ctx)
{
    const ecom__strtab *t = &ix->terms;
    size_t lo = 0, hi = ix->nsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (prefix_cmp(t, ix->sorted[mid], prefix, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < ix->nsorted && prefix_cmp(t, ix->sorted[i], prefix, len) == 0; i++) {
        int rc = fn(ctx, ix->sorted[i]);
        if (rc)
            return rc;
    }
    for (uint32_t id = ix->nsorted; id < t->count; id++) {
        if (prefix_cmp(t, id, prefix, len) == 0) {
            int rc = fn(ctx, id);
            if (rc)
                return rc;
        }
    }
    return 0;
}

typedef struct sort_entry {
    const char *s;
    uint32_t id;
} sort_entry;

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const sort_entry *)a)->s, ((const sort_entry *)b)->s);
}

int ecom__sindex_sort_terms(ecom__sindex *ix)
{
    uint32_t n = ix->terms.count;
    if (ix->nsorted == n)
        return ECOM_OK;
    int rc = ecom__grow((void **)&ix->sorted, &ix->sorted_cap, n, sizeof *ix->sorted);
    if (rc != ECOM_OK)
        return rc;
    sort_entry *e = ecom__calloc(n, sizeof *e);
    if (e == NULL)
        return ECOM_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        e[i] = (sort_entry){ecom__strtab_str(&ix->terms, i), i};
    qsort(e, n, sizeof *e, compare_entries);
    for (uint32_t i = 0; i < n; i++)
        ix->sorted[i] = e[i].id;
    ix->nsorted = n;
    ecom__free(e);
    return ECOM_OK;
}

/* ---- brands, categories, attribute values ---- */

/* Interns a key whose display string (first seen) is disp_s, keeping disp ids in
 * (*map)[id]. Display first: a failure then leaves at worst an unused display string. */
static int intern_displayed(ecom__sindex *ix, ecom__strtab *keys, uint32_t **map, size_t *cap,
                            const char *key, size_t key_len, const char *disp_s, uint32_t *id)
{
    *id = ecom__strtab_find(keys, key, key_len);
    if (*id != ECOM__NONE)
        return ECOM_OK;
    int rc = ecom__grow((void **)map, cap, (size_t)keys->count + 1, sizeof **map);
    uint32_t d = 0;
    if (rc == ECOM_OK)
        rc = ecom__strtab_intern(&ix->disp, disp_s, strlen(disp_s), &d, NULL);
    if (rc == ECOM_OK)
        rc = ecom__strtab_intern(keys, key, key_len, id, NULL);
    if (rc == ECOM_OK)
        (*map)[*id] = d;
    return rc;
}

int ecom__sindex_brand(ecom__sindex *ix, const char *brand, uint32_t *id)
{
    char key[FOLD_MAX];
    size_t len = ecom__text_fold(key, sizeof key, brand, strlen(brand));
    if (len == 0) {
        *id = 0;
        return ECOM_OK;
    }
    return intern_displayed(ix, &ix->brands, &ix->brand_disp, &ix->brand_cap, key, len, brand, id);
}

int ecom__sindex_cat(ecom__sindex *ix, const char *path, uint32_t *id)
{
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    uint32_t parent = ECOM__NONE;
    *id = 0;
    for (size_t i = 0; i < len; i++) {
        if (path[i + 1] != '/' && i + 1 != len)
            continue;
        uint32_t c = ecom__strtab_find(&ix->cats, path, i + 1);
        if (c == ECOM__NONE) {
            int rc = ecom__grow((void **)&ix->cat_parent, &ix->cat_cap, (size_t)ix->cats.count + 1,
                                sizeof *ix->cat_parent);
            if (rc == ECOM_OK)
                rc = ecom__strtab_intern(&ix->cats, path, i + 1, &c, NULL);
            if (rc != ECOM_OK)
                return rc;
            ix->cat_parent[c] = parent;
        }
        parent = c;
        *id = c;
    }
    return ECOM_OK;
}

/* key = the name id's 4 bytes, then the folded value. */
static size_t aval_key(char *key, size_t size, uint32_t name, const char *folded, size_t len)
{
    memcpy(key, &name, 4);
    if (len > size - 4)
        len = size - 4;
    memcpy(key + 4, folded, len);
    return 4 + len;
}

int ecom__sindex_aval(ecom__sindex *ix, const char *name, const char *value, uint32_t *id)
{
    uint32_t nid;
    int rc = ecom__strtab_intern(&ix->anames, name, strlen(name), &nid, NULL);
    if (rc != ECOM_OK)
        return rc;
    char folded[FOLD_MAX], key[FOLD_MAX + 4];
    size_t flen = ecom__text_fold(folded, sizeof folded, value, strlen(value));
    size_t klen = aval_key(key, sizeof key, nid, folded, flen);
    *id = ecom__strtab_find(&ix->avals, key, klen);
    if (*id != ECOM__NONE)
        return ECOM_OK;
    size_t cap = ix->aval_cap;
    rc = ecom__grow((void **)&ix->aval_name, &cap, (size_t)ix->avals.count + 1,
                    sizeof *ix->aval_name);
    if (rc == ECOM_OK && cap != ix->aval_cap) {
        /* both arrays share aval_cap: the second catches up before it is recorded */
        size_t cap2 = ix->aval_cap;
        rc = ecom__grow((void **)&ix->aval_disp, &cap2, cap, sizeof *ix->aval_disp);
        if (rc == ECOM_OK)
            ix->aval_cap = cap;
    }
    if (rc != ECOM_OK)
        return rc;
    uint32_t d = 0;
    rc = ecom__strtab_intern(&ix->disp, value, strlen(value), &d, NULL);
    if (rc == ECOM_OK)
        rc = ecom__strtab_intern(&ix->avals, key, klen, id, NULL);
    if (rc != ECOM_OK)
        return rc;
    ix->aval_name[*id] = nid;
    ix->aval_disp[*id] = d;
    return ECOM_OK;
}

uint32_t ecom__sindex_find_aval(const ecom__sindex *ix, uint32_t name, const char *folded,
                                size_t len)
{
    char key[FOLD_MAX + 4];
    size_t klen = aval_key(key, sizeof key, name, folded, len);
    return ecom__strtab_find(&ix->avals, key, klen);
}

int ecom__sindex_tables_init(ecom__sindex *ix)
{
    uint32_t id;
    int rc = intern_displayed(ix, &ix->brands, &ix->brand_disp, &ix->brand_cap, "", 0, "", &id);
    if (rc == ECOM_OK)
        rc = ecom__grow((void **)&ix->cat_parent, &ix->cat_cap, 1, sizeof *ix->cat_parent);
    if (rc == ECOM_OK)
        rc = ecom__strtab_intern(&ix->cats, "", 0, &id, NULL);
    if (rc == ECOM_OK)
        ix->cat_parent[0] = ECOM__NONE;
    return rc;
}
