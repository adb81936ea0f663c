/*
 * The search index's insides, shared by its files: search_dict.c (tables),
 * search_index.c, search_analyze.c and search_compact.c (the write side),
 * search_plan.c, search_exec.c, search_facets.c, search_page.c and search_result.c
 * (running a request), search_snapshot.c.
 *
 * Thread rules: ecom__sindex_put, _remove, _set_stock and _prepare change the index
 * and need exclusive access (the owner's write lock). ecom__sindex_run, _matches,
 * _products, _memory and _save only read it and may run at the same time as each
 * other (under the owner's read lock). Readers never write shared state: the only
 * thing they take from the index is a stemmer from its pool, under pool_lock.
 *
 * Layout. A product is a document with a number; every put gives it a fresh number
 * (the old one becomes a tombstone), so postings only ever grow at their end and stay
 * sorted. What a document holds is kept column by column, each array indexed by doc
 * number; variable-length parts (prices, attribute values, the doc's terms) live in
 * pools, found through an offsets array of ndocs + 1 entries (append-only, so a doc's
 * part is [off[d], off[d + 1])). Postings are per term: doc numbers ascending (uint32)
 * and, packed in a uint16, the term's frequency in title, brand and description.
 * Tombstones are dropped by a compaction once they reach a quarter of the docs.
 */
#ifndef ECOM_SEARCH_INDEX_H
#define ECOM_SEARCH_INDEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "search.h"

#define ECOM__NONE UINT32_MAX
/* Doc numbers stay below this (the id map stores doc + 1 in 32 bits). */
#define ECOM__DOCS_MAX (UINT32_MAX - 2)
/* Words of a request's text (more is ECOM_EQUERY). */
#define ECOM__QUERY_WORDS_MAX 32
/* Terms a word may expand to by prefix, and by one typo (the most frequent win). */
#define ECOM__EXPAND_MAX 64

/* The fields, and how a posting packs a term's frequency in each of them: title in
 * the top 5 bits, brand in the next 3, description in the low 8 (saturating). */
enum { ECOM__F_TITLE = 0, ECOM__F_BRAND = 1, ECOM__F_DESC = 2, ECOM__FIELDS = 3 };
#define ECOM__TF_TITLE(tf) ((unsigned)(tf) >> 11)
#define ECOM__TF_BRAND(tf) (((unsigned)(tf) >> 8) & 7u)
#define ECOM__TF_DESC(tf) ((unsigned)(tf)&255u)
/* A doc's field lengths in tokens, packed: title 8 bits, brand 8, description 16. */
#define ECOM__LEN_TITLE(l) ((l) >> 24)
#define ECOM__LEN_BRAND(l) (((l) >> 16) & 255u)
#define ECOM__LEN_DESC(l) ((l)&65535u)

/* Price facet buckets: lower bounds 0, 10, 25, 50, 100, 250, 500, 1000 major units. */
#define ECOM__PRICE_BUCKETS 8

/* ---- helpers (search_dict.c) ---- */

/* Makes *p hold at least need elements of elem bytes (growing by half again, so a
 * large array wastes at most a third). ECOM_ENOMEM leaves *p and *cap as they were. */
int ecom__grow(void **p, size_t *cap, size_t need, size_t elem);

static inline uint64_t ecom__fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *s = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * UINT64_C(0x100000001b3);
    return h;
}
#define ECOM__FNV_INIT UINT64_C(0xcbf29ce484222325)

static inline uint32_t ecom__strhash(const char *s, size_t len)
{
    uint64_t h = ecom__fnv1a(s, len, ECOM__FNV_INIT);
    return (uint32_t)(h ^ (h >> 32));
}

static inline bool ecom__bit(const uint64_t *bits, uint32_t i)
{
    return (bits[i >> 6] >> (i & 63)) & 1;
}
static inline void ecom__bit_set(uint64_t *bits, uint32_t i, bool on)
{
    if (on)
        bits[i >> 6] |= UINT64_C(1) << (i & 63);
    else
        bits[i >> 6] &= ~(UINT64_C(1) << (i & 63));
}

/*
 * An interning table: byte strings (up to 4 GiB in all) numbered 0, 1, 2... in the
 * order first added, found by hash (linear probing, at most half full).
 */
typedef struct ecom__strtab {
    char *chars; /* the strings, each followed by a NUL */
    size_t chars_len, chars_cap;
    uint32_t *off; /* off[i]: where string i starts; off[count] = chars_len */
    size_t off_cap;
    uint32_t count;
    uint64_t *slots; /* hash << 32 | (id + 1); 0 = empty */
    uint32_t mask;   /* slot count - 1; slots is NULL while count is 0 */
} ecom__strtab;

int ecom__strtab_intern(ecom__strtab *t, const char *s, size_t len, uint32_t *id, bool *added);
uint32_t ecom__strtab_find(const ecom__strtab *t, const char *s, size_t len); /* or NONE */
/* Rebuilds the slots from the strings (after a load): ECOM_ECORRUPT on a duplicate. */
int ecom__strtab_rehash(ecom__strtab *t);
void ecom__strtab_free(ecom__strtab *t);
size_t ecom__strtab_memory(const ecom__strtab *t);
static inline const char *ecom__strtab_str(const ecom__strtab *t, uint32_t id)
{
    return t->chars + t->off[id];
}
static inline size_t ecom__strtab_len(const ecom__strtab *t, uint32_t id)
{
    return t->off[id + 1] - t->off[id] - 1;
}

/* ---- the index ---- */

/* A term's postings: docs[0..n) ascending, and tf[0..n) stored at docs + cap. */
typedef struct ecom__term {
    uint32_t *docs;
    uint32_t n, cap;
    uint32_t df; /* live docs among the postings */
} ecom__term;

static inline uint16_t *ecom__term_tf(const ecom__term *t)
{
    return (uint16_t *)(t->docs + t->cap);
}

#define ECOM__STEM_POOL 16

struct ecom__sindex {
    /* documents: doc numbers 0..ndocs-1, nlive of them live */
    uint32_t ndocs, nlive;
    size_t dcap;            /* room of the per-doc arrays (the offset arrays: dcap + 1) */
    uint32_t *d_id;         /* offset of the NUL-terminated id in ids */
    uint64_t *d_idkey;      /* the id's first 8 bytes, big-endian: sorts as the id does */
    int64_t *d_created;     /* created_at */
    uint32_t *d_brand;      /* brands id (0: none) */
    uint32_t *d_cat;        /* cats id (0: none) */
    uint32_t *d_lens;       /* field lengths, packed (ECOM__LEN_*) */
    uint32_t *d_price;      /* [d, d + 1): the doc's lowest price per currency in p_cur/p_amt */
    uint32_t *d_attr;       /* [d, d + 1): the doc's attribute values (avals ids) in a_val */
    uint32_t *d_fwd;        /* [d, d + 1): the doc's distinct terms, varints, in fwd */
    uint64_t *live, *stock; /* bits by doc number */
    size_t bits_cap;        /* words in live and stock */

    char *ids; /* product ids, NUL-terminated */
    size_t ids_len, ids_cap;
    uint16_t *p_cur; /* currencies id */
    int64_t *p_amt;
    size_t p_len, p_cap;
    uint32_t *a_val; /* ascending within a doc */
    size_t a_len, a_cap;
    uint8_t *fwd;
    size_t fwd_len, fwd_cap;

    /* id -> live doc: hash << 32 | (doc + 1), linear probing, at most half full */
    uint64_t *id_slots;
    uint32_t id_mask;

    /* the dictionary: stems; sorted[0..nsorted) are the ids below nsorted by string
     * (for prefixes); ids from nsorted on were added since and are searched one by one */
    ecom__strtab terms;
    ecom__term *tinfo;
    size_t tinfo_cap;
    uint32_t *sorted;
    uint32_t nsorted;
    size_t sorted_cap;
    size_t post_bytes; /* held by all postings */

    ecom__strtab brands;  /* folded; 0 is "" */
    uint32_t *brand_disp; /* disp id: the brand as first seen */
    size_t brand_cap;
    ecom__strtab cats;    /* paths; 0 is "" */
    uint32_t *cat_parent; /* ECOM__NONE for a top level (and for 0) */
    size_t cat_cap;
    ecom__strtab anames; /* attribute names */
    ecom__strtab avals;  /* 4 bytes of name id, then the folded value */
    uint32_t *aval_name, *aval_disp;
    size_t aval_cap;
    ecom__strtab curs; /* currency codes */
    ecom__strtab disp; /* display strings of brands and attribute values */

    uint64_t sumlen[ECOM__FIELDS]; /* total field lengths over live docs */
    /* live docs per category (not rolled up), brand, attribute value, and price bucket
     * of each currency (cur * ECOM__PRICE_BUCKETS + bucket): a request matching most
     * docs counts its facets over the rest and subtracts */
    uint32_t *live_cat, *live_brand, *live_aval, *live_price;
    size_t live_cat_cap, live_brand_cap, live_aval_cap, live_price_cap;
    int64_t *cur_bounds; /* by currency: its price buckets' lower bounds */
    size_t cur_bounds_cap;
    /* by attribute value: the docs that have it, ascending (tombstones included until
     * a compaction), for facets over many matches */
    struct ecom__list {
        uint32_t *docs;
        uint32_t n, cap;
    } * apost;
    size_t apost_cap, apost_bytes;

    /* the write path's own: stemmer, token -> term cache, scratch */
    ecom__stemmer *wstem;
    ecom__strtab tokens;
    uint32_t *tok_term;
    size_t tok_cap;
    uint32_t *t_stamp, *t_slot; /* by term: the last put that saw it, and where */
    size_t stamp_cap;
    uint32_t stamp;
    struct ecom__wterm {
        uint32_t term;
        uint16_t tf;
    } * wterms;
    size_t wterms_len, wterms_cap;
    uint32_t *wvals; /* a put's attribute values */
    size_t wvals_cap;

    /* the readers' stemmers */
    pthread_mutex_t pool_lock;
    ecom__stemmer *pool[ECOM__STEM_POOL];
    size_t pool_len;
};

/* Term lookup (search_dict.c). */
uint32_t ecom__sindex_term(const ecom__sindex *ix, const char *s, size_t len);
/* Calls fn for every term starting with prefix (ids unordered). */
int ecom__sindex_prefix(const ecom__sindex *ix, const char *prefix, size_t len,
                        int (*fn)(void *ctx, uint32_t term), void *ctx);
/* Sorts the dictionary for prefix lookups (write path). */
int ecom__sindex_sort_terms(ecom__sindex *ix);

/* Interning, write path (search_dict.c). */
int ecom__sindex_brand(ecom__sindex *ix, const char *brand, uint32_t *id);
int ecom__sindex_cat(ecom__sindex *ix, const char *path, uint32_t *id);
int ecom__sindex_aval(ecom__sindex *ix, const char *name, const char *value, uint32_t *id);
/* Finds a folded attribute value of attribute name id (or NONE). */
uint32_t ecom__sindex_find_aval(const ecom__sindex *ix, uint32_t name, const char *folded,
                                size_t len);

/* Stemmers for readers (search_index.c): NULL when memory ran out. */
ecom__stemmer *ecom__sindex_stemmer_take(ecom__sindex *ix);
void ecom__sindex_stemmer_give(ecom__sindex *ix, ecom__stemmer *s);

/* The live doc of a product id, or NONE. */
uint32_t ecom__sindex_doc(const ecom__sindex *ix, const char *id, size_t len);
/* Builds the id map from the live docs (after a load): ECOM_ECORRUPT if an id is
 * live twice. */
int ecom__sindex_rebuild_ids(ecom__sindex *ix);
/* Makes room in the live counts for every table entry (zeroed). */
int ecom__sindex_live_counts(ecom__sindex *ix);
/* Interns "" as brand 0 and category 0 (a new index). */
/* A zeroed index with its lock, nothing else (search_index.c); NULL without memory. */
ecom__sindex *ecom__sindex_alloc(void);
int ecom__sindex_tables_init(ecom__sindex *ix);

static inline const char *ecom__sindex_id(const ecom__sindex *ix, uint32_t d)
{
    return ix->ids + ix->d_id[d];
}

/* The doc's lowest price in currency cur; false if it has none. */
static inline bool ecom__sindex_price(const ecom__sindex *ix, uint32_t d, uint32_t cur,
                                      int64_t *amount)
{
    for (uint32_t i = ix->d_price[d], e = ix->d_price[d + 1]; i < e; i++) {
        if (ix->p_cur[i] == cur) {
            *amount = ix->p_amt[i];
            return true;
        }
    }
    return false;
}

/* Reads one varint of the doc-terms pool at *pos. */
static inline uint32_t ecom__varint(const uint8_t *p, size_t *pos)
{
    uint32_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = p[(*pos)++];
        v |= (uint32_t)(b & 127u) << shift;
        shift += 7;
    } while (b & 128u);
    return v;
}

static inline size_t ecom__varint_put(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 128) {
        p[n++] = (uint8_t)(v | 128u);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The id's sort key: its first 8 bytes, big-endian, zero-padded. */
static inline uint64_t ecom__idkey(const char *id)
{
    uint64_t k = 0;
    for (int i = 0; i < 8; i++) {
        k <<= 8;
        if (*id)
            k |= (unsigned char)*id++;
    }
    return k;
}

/* The price buckets' lower bounds in minor units of currency code. */
void ecom__price_bounds(const char *code, int64_t bounds[ECOM__PRICE_BUCKETS]);
static inline unsigned ecom__price_bucket(const int64_t *bounds, int64_t amount)
{
    unsigned b = 0; /* without branches: prices fall in buckets at random */
    for (int k = 1; k < ECOM__PRICE_BUCKETS; k++)
        b += amount >= bounds[k];
    return b;
}

/* Runs the compaction if a quarter of the docs are tombstones (search_compact.c). */
void ecom__sindex_maybe_compact(ecom__sindex *ix);

/* ---- a put's analysis (search_analyze.c) ---- */

/* What a put writes besides terms and attribute values. */
typedef struct ecom__doc_parts {
    uint32_t brand, cat, lens;
    size_t nprices;
    struct {
        uint16_t cur;
        int64_t amount;
    } prices[192]; /* the lowest per currency: room for all of ISO 4217's */
    size_t nvals;
} ecom__doc_parts;

/* Analyzes p into dp and the write scratch (ix->wterms: its terms and frequencies;
 * ix->wvals: its attribute values, ascending), interning what is new. */
int ecom__sindex_analyze(ecom__sindex *ix, const ecom_product *p, ecom__doc_parts *dp);
/* Forgets the token -> term cache (term ids change in a compaction). */
void ecom__sindex_token_cache_reset(ecom__sindex *ix);

/* ---- running a request ---- */

#define ECOM__BM25_K1 1.2
#define ECOM__BM25_B 0.75
#define ECOM__BM25_TF 8
#define ECOM__BM25_LEN 256
extern const double ecom__field_weight[ECOM__FIELDS];

/* One term a word matches, and what a match is worth: idf times the kind of match's
 * weight (exact 1, prefix 0.6, typo 0.5). */
/* What a word matched exactly adds to a doc's score before BM25: more than BM25 can
 * give all the words of a query (at most ECOM__QUERY_WORDS_MAX times ~200), so a doc
 * matching more words exactly ranks first, whatever its typo and prefix matches. */
#define ECOM__EXACT_BONUS 16384.0

typedef struct ecom__alt {
    uint32_t term;
    float weight;
    double idf;
    double bonus; /* ECOM__EXACT_BONUS for the word's exact term, 0 for the others */
} ecom__alt;

typedef struct ecom__word {
    size_t first, count; /* its alternatives: alts[first, first + count) */
    uint64_t cost;       /* postings they hold */
} ecom__word;

enum { ECOM__FACET_EMPTY, ECOM__FACET_CAT, ECOM__FACET_BRAND, ECOM__FACET_PRICE, ECOM__FACET_ATTR };

typedef struct ecom__facet_acc {
    int kind;
    uint32_t name;    /* attribute name id */
    uint32_t *counts; /* by category, brand or price bucket; attributes: see the plan */
    size_t ncounts;
    size_t base; /* an attribute's values: plan's acounts[base, base + ncounts) */
    int64_t bounds[ECOM__PRICE_BUCKETS]; /* price buckets' lower bounds, minor units */
} ecom__facet_acc;

/* A request made ready to run against one index. */
typedef struct ecom__plan {
    ecom__sindex *ix;
    const ecom_search_request *req;
    ecom__word words[ECOM__QUERY_WORDS_MAX];
    size_t nwords;
    ecom__alt *alts;
    size_t nalts, alts_cap;
    bool empty;      /* a word or filter matches nothing */
    uint8_t *cat_ok; /* by category: in the filter's subtree (NULL: no filter) */
    uint32_t brands[ECOM_SEARCH_FILTERS_MAX];
    size_t nbrands; /* 0: no brand filter */
    uint32_t cur;   /* the request's currency, or NONE if no doc has a price in it */
    bool price_filter, in_stock;
    int64_t pmin, pmax;
    /* attribute filters, one group per name (a doc needs a value of each): amask has
     * by attribute value the bits of the groups it is in (NULL: no filter) */
    uint32_t *amask;
    uint32_t afull;
    uint32_t fvals[ECOM_SEARCH_FILTERS_MAX], fgroup[ECOM_SEARCH_FILTERS_MAX]; /* by group */
    size_t nfvals;
    bool score;                  /* sorted by relevance: BM25F scores wanted */
    double ka, kb[ECOM__FIELDS]; /* BM25 length normalization */
    /* a field's weighted BM25 (before idf) by tf < ECOM__BM25_TF and field length <
     * ECOM__BM25_LEN, computed once per request: no division per posting */
    double *bm25;
    uint64_t hash; /* of the normalized request, for cursors */
    ecom__facet_acc facets[ECOM_SEARCH_FILTERS_MAX];
    size_t nfacets;
    /* attribute facets are counted in one pass over a doc's values: aslot maps each
     * value to its place in acounts (the last place for values no facet wants), and
     * aval_of maps places back */
    uint32_t *aslot, *acounts, *aval_of;
    size_t nacounts;
    bool complement; /* the facets counted the live docs that do not match */
    bool ainverted;  /* attribute facets were counted from the values' doc lists */
} ecom__plan;

enum {
    ECOM__FILTER_STOCK,
    ECOM__FILTER_CAT,
    ECOM__FILTER_BRAND,
    ECOM__FILTER_ATTRS,
    ECOM__FILTER_PRICE,
    ECOM__FILTERS
};

/* Does doc d pass one of the plan's filters (which must be on)? */
static inline bool ecom__plan_filter(const ecom__plan *q, int filter, uint32_t d)
{
    const ecom__sindex *ix = q->ix;
    switch (filter) {
    case ECOM__FILTER_STOCK:
        return ecom__bit(ix->stock, d);
    case ECOM__FILTER_CAT:
        return q->cat_ok[ix->d_cat[d]] != 0;
    case ECOM__FILTER_BRAND: {
        bool any = false;
        for (size_t i = 0; i < q->nbrands; i++)
            any |= q->brands[i] == ix->d_brand[d];
        return any;
    }
    case ECOM__FILTER_ATTRS: {
        uint32_t m = 0;
        for (uint32_t i = ix->d_attr[d]; i < ix->d_attr[d + 1]; i++)
            m |= q->amask[ix->a_val[i]];
        return m == q->afull;
    }
    default: {
        int64_t amount = -1;
        bool has = ecom__sindex_price(ix, d, q->cur, &amount);
        return has & (amount >= q->pmin) & (amount <= q->pmax);
    }
    }
}

/* Which filters the plan has, cheapest first. */
static inline bool ecom__plan_has(const ecom__plan *q, int filter)
{
    switch (filter) {
    case ECOM__FILTER_STOCK:
        return q->in_stock;
    case ECOM__FILTER_CAT:
        return q->cat_ok != NULL;
    case ECOM__FILTER_BRAND:
        return q->nbrands > 0;
    case ECOM__FILTER_ATTRS:
        return q->amask != NULL;
    default:
        return q->price_filter;
    }
}

/* Does doc d pass all the plan's filters? */
static inline bool ecom__plan_passes(const ecom__plan *q, uint32_t d)
{
    for (int f = 0; f < ECOM__FILTERS; f++)
        if (ecom__plan_has(q, f) && !ecom__plan_filter(q, f, d))
            return false;
    return true;
}

/* Makes a checked request ready to run (search_plan.c), with BM25F scores or not.
 * ecom__plan_free after, even on failure. */
int ecom__plan_build(ecom__plan *q, ecom__sindex *ix, const ecom_search_request *req, bool score);
void ecom__plan_free(ecom__plan *q);

/* Facets (search_facets.c): accumulators for the request's facets, counting a batch
 * of matches, and the values into a result. */
int ecom__facets_init(ecom__plan *q);
void ecom__facets_count(ecom__plan *q, const uint32_t *docs, size_t n);
/* Counts the facets of the n matches docs (ascending): over them, or over the other
 * live docs when they are fewer. */
void ecom__facets_matches(ecom__plan *q, const uint32_t *docs, size_t n);
typedef struct ecom__rbuild ecom__rbuild;
void ecom__facets_emit(ecom__plan *q, ecom__rbuild *b);
void ecom__facets_free(ecom__plan *q);

/* A page of hits in the request's order, after its cursor (search_page.c). */
typedef struct ecom__hit {
    uint64_t key; /* the sort key: smaller first, then the id */
    uint32_t doc;
    double score;
} ecom__hit;

typedef struct ecom__page {
    const ecom__sindex *ix;
    int sort;
    uint32_t cur;
    size_t limit;
    ecom__hit *heap; /* the best limit so far, worst on top */
    size_t n;
    size_t after; /* matches after the cursor */
    bool has_cursor;
    uint64_t ckey, cidkey;
    char cid[ECOM_ID_MAX + 1];
} ecom__page;

/* Sets up a page (limit 0 = 20) and reads the request's cursor: ECOM_EQUERY for a
 * malformed one or one of another request. */
int ecom__page_init(ecom__page *pg, const ecom__plan *q, char *errmsg, size_t errmsg_size);
/* Offers matches (scores NULL: all 0) for the page. */
void ecom__page_offer(ecom__page *pg, const uint32_t *docs, const double *scores, size_t n);
/* Sorts the page and adds its hits and next cursor to the result. */
void ecom__page_emit(ecom__page *pg, const ecom__plan *q, ecom__rbuild *b);
void ecom__page_free(ecom__page *pg);

/* Building a result (search_result.c). Failures are sticky: finish reports them. */
struct ecom__rbuild {
    ecom_search_result *r;
    size_t hits_cap, facets_cap, values_cap, strings_cap;
    int rc;
};
int ecom__rbuild_start(ecom__rbuild *b, size_t total);
void ecom__rbuild_hit(ecom__rbuild *b, const char *id, double score, int64_t price);
void ecom__rbuild_facet(ecom__rbuild *b, const char *name);
void ecom__rbuild_value(ecom__rbuild *b, const char *value, size_t len, uint64_t hits);
void ecom__rbuild_cursor(ecom__rbuild *b, const char *cursor);
/* The result, or NULL with the failure in *rc; frees what it cannot return. */
ecom_search_result *ecom__rbuild_finish(ecom__rbuild *b, int *rc);

#endif
