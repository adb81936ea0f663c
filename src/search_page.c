/*
 * One page of a search: the request's total order (a sort key, then the product id),
 * the best `limit` matches after the cursor kept in a bounded heap, and the cursors.
 *
 * A cursor is "1", the sort as a digit, the last hit's sort key (16 hex digits), a
 * hash of the normalized request (8 hex digits) and the last hit's id in hex. The
 * next page holds the matches strictly after that key and id, so products that do
 * not change are neither skipped nor repeated while others change (by relevance with
 * words, only while the other products leave the term statistics alone: scores move
 * with them).
 */
#include <string.h>

#include "search_index.h"

#define LIMIT_DEFAULT 20
#define CURSOR_FIXED 26 /* "1", sort digit, key, hash */

static const char hex[] = "0123456789abcdef";

/* Smaller is first. Every key is below UINT64_MAX but "no price", which goes last. */
static uint64_t sort_key(const ecom__page *pg, uint32_t d, double score)
{
    int64_t amount = 0;
    switch (pg->sort) {
    case ECOM_SORT_PRICE_ASC:
    case ECOM_SORT_PRICE_DESC:
        if (pg->cur == ECOM__NONE || !ecom__sindex_price(pg->ix, d, pg->cur, &amount))
            return UINT64_MAX;
        amount = amount < 0 ? 0 : amount > ECOM_PRICE_MAX ? ECOM_PRICE_MAX : amount;
        return pg->sort == ECOM_SORT_PRICE_ASC ? (uint64_t)amount
                                               : (uint64_t)(ECOM_PRICE_MAX - amount);
    case ECOM_SORT_NEWEST:
        return ~((uint64_t)pg->ix->d_created[d] ^ (UINT64_C(1) << 63));
    default: {
        /* a score is >= 0, and the bits of non-negative doubles sort as they do */
        uint64_t bits;
        memcpy(&bits, &score, sizeof bits);
        return ~bits;
    }
    }
}

static int order(const ecom__sindex *ix, uint64_t ka, uint32_t da, uint64_t kb, uint32_t db)
{
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (ix->d_idkey[da] != ix->d_idkey[db])
        return ix->d_idkey[da] < ix->d_idkey[db] ? -1 : 1;
    return strcmp(ecom__sindex_id(ix, da), ecom__sindex_id(ix, db));
}

/* Is doc d (with key) after the cursor? */
static bool after_cursor(const ecom__page *pg, uint64_t key, uint32_t d)
{
    if (key != pg->ckey)
        return key > pg->ckey;
    uint64_t k = pg->ix->d_idkey[d];
    if (k != pg->cidkey)
        return k > pg->cidkey;
    return strcmp(ecom__sindex_id(pg->ix, d), pg->cid) > 0;
}

static bool hex_in(const char *s, size_t n, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(hex, s[i]) : NULL;
        if (p == NULL)
            return false;
        *v = *v << 4 | (uint64_t)(p - hex);
    }
    return true;
}

static uint32_t request_hash(const ecom__plan *q)
{
    return (uint32_t)(q->hash ^ (q->hash >> 32));
}

static int read_cursor(ecom__page *pg, const ecom__plan *q, const char *c, char *msg, size_t size)
{
    size_t len = strlen(c), idlen = (len - CURSOR_FIXED) / 2;
    uint64_t hash;
    if (len < CURSOR_FIXED + 2 || (len - CURSOR_FIXED) % 2 || idlen > ECOM_ID_MAX || c[0] != '1' ||
        c[1] < '0' || c[1] > '3' || !hex_in(c + 2, 16, &pg->ckey) || !hex_in(c + 18, 8, &hash))
        return ecom__msg(msg, size, ECOM_EQUERY, "cursor: malformed");
    for (size_t i = 0; i < idlen; i++) {
        uint64_t b;
        if (!hex_in(c + CURSOR_FIXED + 2 * i, 2, &b) || b == 0)
            return ecom__msg(msg, size, ECOM_EQUERY, "cursor: malformed");
        pg->cid[i] = (char)b;
    }
    pg->cid[idlen] = '\0';
    if (c[1] - '0' != pg->sort || hash != request_hash(q))
        return ecom__msg(msg, size, ECOM_EQUERY, "cursor: from another request");
    pg->cidkey = ecom__idkey(pg->cid);
    pg->has_cursor = true;
    return ECOM_OK;
}

int ecom__page_init(ecom__page *pg, const ecom__plan *q, char *errmsg, size_t errmsg_size)
{
    memset(pg, 0, sizeof *pg);
    pg->ix = q->ix;
    pg->sort = q->req->sort;
    pg->cur = q->cur;
    pg->limit = q->req->limit ? q->req->limit : LIMIT_DEFAULT;
    if (q->req->cursor && q->req->cursor[0]) {
        int rc = read_cursor(pg, q, q->req->cursor, errmsg, errmsg_size);
        if (rc != ECOM_OK)
            return rc;
    }
    pg->heap = ecom__calloc(pg->limit, sizeof *pg->heap);
    return pg->heap ? ECOM_OK : ECOM_ENOMEM;
}

void ecom__page_free(ecom__page *pg)
{
    ecom__free(pg->heap);
    pg->heap = NULL;
}

static bool worse(const ecom__page *pg, const ecom__hit *a, const ecom__hit *b)
{
    return order(pg->ix, a->key, a->doc, b->key, b->doc) > 0;
}

static void sift_down(const ecom__page *pg, ecom__hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && worse(pg, &h[l], &h[m]))
            m = l;
        if (l + 1 < n && worse(pg, &h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        ecom__hit tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

static inline void offer(ecom__page *pg, uint32_t d, double score)
{
    uint64_t key = sort_key(pg, d, score);
    if (pg->has_cursor && !after_cursor(pg, key, d))
        return;
    pg->after++;
    ecom__hit hit = {key, d, score};
    if (pg->n < pg->limit) {
        size_t i = pg->n++;
        while (i > 0 && worse(pg, &hit, &pg->heap[(i - 1) / 2])) {
            pg->heap[i] = pg->heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        pg->heap[i] = hit;
    } else if (worse(pg, &pg->heap[0], &hit)) {
        pg->heap[0] = hit;
        sift_down(pg, pg->heap, pg->n, 0);
    }
}

void ecom__page_offer(ecom__page *pg, const uint32_t *docs, const double *scores, size_t n)
{
    if (scores) {
        for (size_t i = 0; i < n; i++)
            offer(pg, docs[i], scores[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            offer(pg, docs[i], 0);
    }
}

static void put_hex(char *out, uint64_t v, size_t digits)
{
    for (size_t i = digits; i-- > 0; v >>= 4)
        out[i] = hex[v & 15];
}

void ecom__page_emit(ecom__page *pg, const ecom__plan *q, ecom__rbuild *b)
{
    /* heapsort: the worst goes to the end each time, leaving the page in order */
    for (size_t n = pg->n; n > 1; n--) {
        ecom__hit tmp = pg->heap[0];
        pg->heap[0] = pg->heap[n - 1];
        pg->heap[n - 1] = tmp;
        sift_down(pg, pg->heap, n - 1, 0);
    }
    for (size_t i = 0; i < pg->n; i++) {
        const ecom__hit *h = &pg->heap[i];
        int64_t price = -1;
        if (pg->cur != ECOM__NONE && !ecom__sindex_price(pg->ix, h->doc, pg->cur, &price))
            price = -1;
        /* the hit's BM25, without what its exact words add to its rank */
        double bm25 = h->score - ECOM__EXACT_BONUS * (double)(int64_t)(h->score / ECOM__EXACT_BONUS);
        ecom__rbuild_hit(b, ecom__sindex_id(pg->ix, h->doc),
                         pg->sort == ECOM_SORT_RELEVANCE ? bm25 : 0, price);
    }
    if (pg->after <= pg->limit || pg->n == 0)
        return;
    const ecom__hit *last = &pg->heap[pg->n - 1];
    const char *id = ecom__sindex_id(pg->ix, last->doc);
    size_t idlen = strlen(id);
    char c[CURSOR_FIXED + 2 * ECOM_ID_MAX + 1];
    if (idlen > ECOM_ID_MAX)
        idlen = ECOM_ID_MAX;
    c[0] = '1';
    c[1] = (char)('0' + pg->sort);
    put_hex(c + 2, last->key, 16);
    put_hex(c + 18, request_hash(q), 8);
    for (size_t i = 0; i < idlen; i++)
        put_hex(c + CURSOR_FIXED + 2 * i, (unsigned char)id[i], 2);
    c[CURSOR_FIXED + 2 * idlen] = '\0';
    ecom__rbuild_cursor(b, c);
}
