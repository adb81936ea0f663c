/*
 * The search index as a file, to start from instead of rebuilding.
 *
 * Format (version 2: runs of han, kana and hangul give pairs of characters; a
 * version 1 file, made before, is not used), in the byte order of the machine that
 * wrote it:
 *   header   "ECOMSIDX", u32 version, u32 0x01020304 (byte order), u64 applied_seq
 *   payload  counts; the per-doc columns; the pools; the interning tables (strings
 *            and offsets); their side arrays; each term's postings; each attribute
 *            value's docs
 *   trailer  u64 payload bytes, u64 FNV-1a 64 of header and payload
 * What can be derived is not stored: id sort keys, live document frequencies, field
 * length sums, every hash table and the sorted dictionary are rebuilt on load. A load
 * checks the checksum and every number it will index with, so a damaged, truncated or
 * foreign file gives ECOM_ECORRUPT, never a bad read.
 */
#include <string.h>

#include "search_index.h"

static const char magic[8] = {'E', 'C', 'O', 'M', 'S', 'I', 'D', 'X'};
#define FORMAT_VERSION 2u
#define BYTE_ORDER_MARK 0x01020304u
/* Arrays are read in steps that grow with what was read, so a lying length in a
 * truncated file costs at most about twice the file in memory. */
#define READ_STEP (1u << 20)

/* ---- writing ---- */

typedef struct writer {
    FILE *f;
    uint64_t hash, bytes;
    bool failed;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n) {
        w->failed = true;
        return;
    }
    w->hash = ecom__fnv1a(p, n, w->hash);
    w->bytes += n;
}

static void put_u32(writer *w, uint32_t v)
{
    put(w, &v, sizeof v);
}

static void put_u64(writer *w, uint64_t v)
{
    put(w, &v, sizeof v);
}

static void put_strtab(writer *w, const ecom__strtab *t)
{
    put_u32(w, t->count);
    put_u64(w, t->chars_len);
    put(w, t->chars, t->chars_len);
    if (t->count > 0)
        put(w, t->off, ((size_t)t->count + 1) * sizeof *t->off);
}

int ecom__sindex_save(const ecom__sindex *ix, FILE *f, uint64_t applied_seq)
{
    if (ix == NULL || f == NULL)
        return ECOM_EINVAL;
    writer w = {f, ECOM__FNV_INIT, 0, false};
    put(&w, magic, sizeof magic);
    put_u32(&w, FORMAT_VERSION);
    put_u32(&w, BYTE_ORDER_MARK);
    put_u64(&w, applied_seq);
    uint64_t header = w.bytes;
    size_t nd = ix->ndocs;
    put_u32(&w, ix->ndocs);
    put_u32(&w, ix->nlive);
    put_u64(&w, ix->ids_len);
    put_u64(&w, ix->p_len);
    put_u64(&w, ix->a_len);
    put_u64(&w, ix->fwd_len);
    put(&w, ix->d_id, nd * 4);
    put(&w, ix->d_created, nd * 8);
    put(&w, ix->d_brand, nd * 4);
    put(&w, ix->d_cat, nd * 4);
    put(&w, ix->d_lens, nd * 4);
    uint32_t zero = 0;
    const uint32_t *offs[] = {ix->d_price, ix->d_attr, ix->d_fwd};
    for (size_t i = 0; i < 3; i++)
        put(&w, offs[i] ? offs[i] : &zero, (nd + 1) * 4);
    put(&w, ix->live, (nd + 63) / 64 * 8);
    put(&w, ix->stock, (nd + 63) / 64 * 8);
    put(&w, ix->ids, ix->ids_len);
    put(&w, ix->p_cur, ix->p_len * 2);
    put(&w, ix->p_amt, ix->p_len * 8);
    put(&w, ix->a_val, ix->a_len * 4);
    put(&w, ix->fwd, ix->fwd_len);
    const ecom__strtab *tabs[] = {&ix->terms, &ix->brands, &ix->cats, &ix->anames,
                                  &ix->avals, &ix->curs,   &ix->disp};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        put_strtab(&w, tabs[i]);
    put(&w, ix->brand_disp, (size_t)ix->brands.count * 4);
    put(&w, ix->cat_parent, (size_t)ix->cats.count * 4);
    put(&w, ix->aval_name, (size_t)ix->avals.count * 4);
    put(&w, ix->aval_disp, (size_t)ix->avals.count * 4);
    for (uint32_t t = 0; t < ix->terms.count; t++) {
        const ecom__term *ti = &ix->tinfo[t];
        put_u32(&w, ti->n);
        put(&w, ti->docs, (size_t)ti->n * 4);
        put(&w, ecom__term_tf(ti), (size_t)ti->n * 2);
    }
    for (uint32_t v = 0; v < ix->avals.count; v++) {
        const struct ecom__list *l = &ix->apost[v];
        put_u32(&w, l->n);
        put(&w, l->docs, (size_t)l->n * 4);
    }
    uint64_t payload = w.bytes - header, hash = w.hash;
    put_u64(&w, payload);
    if (!w.failed && fwrite(&hash, sizeof hash, 1, f) != 1)
        w.failed = true;
    if (w.failed || fflush(f) != 0)
        return ECOM_EIO;
    return ECOM_OK;
}

/* ---- reading ---- */

typedef struct reader {
    FILE *f;
    uint64_t hash, bytes;
    int rc;
} reader;

static bool get(reader *r, void *p, size_t n)
{
    if (r->rc != ECOM_OK)
        return false;
    if (n > 0 && fread(p, 1, n, r->f) != n) {
        r->rc = ferror(r->f) ? ECOM_EIO : ECOM_ECORRUPT;
        return false;
    }
    r->hash = ecom__fnv1a(p, n, r->hash);
    r->bytes += n;
    return true;
}

static uint32_t get_u32(reader *r)
{
    uint32_t v = 0;
    get(r, &v, sizeof v);
    return v;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v = 0;
    get(r, &v, sizeof v);
    return v;
}

/* Reads count elements of size bytes into a new array (NULL for none). */
static void *get_array(reader *r, uint64_t count, size_t size)
{
    if (r->rc != ECOM_OK || count == 0)
        return NULL;
    if (count > SIZE_MAX / size / 2) {
        r->rc = ECOM_ECORRUPT;
        return NULL;
    }
    size_t total = (size_t)count * size, got = 0;
    char *buf = NULL;
    while (got < total) {
        size_t step = got > READ_STEP ? got : READ_STEP;
        step = step < total - got ? step : total - got;
        char *q = ecom__realloc(buf, got + step);
        if (q == NULL) {
            r->rc = ECOM_ENOMEM;
            break;
        }
        buf = q;
        if (!get(r, buf + got, step))
            break;
        got += step;
    }
    if (r->rc != ECOM_OK) {
        ecom__free(buf);
        return NULL;
    }
    return buf;
}

static void corrupt(reader *r)
{
    if (r->rc == ECOM_OK)
        r->rc = ECOM_ECORRUPT;
}

/* off[0..n] ascends from 0 to end. */
static void check_offsets(reader *r, const uint32_t *off, size_t n, uint64_t end)
{
    if (r->rc != ECOM_OK)
        return;
    if (off[0] != 0 || off[n] != end)
        corrupt(r);
    for (size_t i = 0; i < n && r->rc == ECOM_OK; i++)
        if (off[i] > off[i + 1])
            corrupt(r);
}

/* binary: the strings may hold NULs (attribute values' keys start with a name id). */
static void get_strtab(reader *r, ecom__strtab *t, bool binary)
{
    uint32_t count = get_u32(r);
    uint64_t len = get_u64(r);
    if (r->rc != ECOM_OK)
        return;
    if (len > UINT32_MAX || count >= UINT32_MAX - 2 || (count == 0) != (len == 0)) {
        corrupt(r);
        return;
    }
    t->chars = get_array(r, len, 1);
    t->chars_len = t->chars_cap = (size_t)len;
    t->off = get_array(r, count ? (uint64_t)count + 1 : 0, 4);
    t->off_cap = count ? (size_t)count + 1 : 0;
    t->count = count;
    if (r->rc != ECOM_OK || count == 0)
        return;
    check_offsets(r, t->off, count, len);
    for (uint32_t i = 0; i < count && r->rc == ECOM_OK; i++) {
        size_t a = t->off[i], b = t->off[i + 1];
        if (b == a || t->chars[b - 1] != '\0' || (!binary && memchr(t->chars + a, '\0', b - a - 1)))
            corrupt(r);
    }
    if (r->rc == ECOM_OK)
        r->rc = ecom__strtab_rehash(t);
}

static void check_ids(reader *r, const uint32_t *a, size_t n, uint32_t limit)
{
    for (size_t i = 0; i < n && r->rc == ECOM_OK; i++)
        if (a[i] >= limit)
            corrupt(r);
}

static void get_docs(reader *r, ecom__sindex *ix)
{
    ix->ndocs = get_u32(r);
    ix->nlive = get_u32(r);
    uint64_t ids_len = get_u64(r), p_len = get_u64(r), a_len = get_u64(r), fwd_len = get_u64(r);
    if (r->rc != ECOM_OK)
        return;
    if (ix->ndocs > ECOM__DOCS_MAX || ix->nlive > ix->ndocs || ids_len > UINT32_MAX ||
        p_len > UINT32_MAX || a_len > UINT32_MAX || fwd_len > UINT32_MAX) {
        corrupt(r);
        return;
    }
    size_t nd = ix->ndocs, words = (nd + 63) / 64;
    ix->dcap = nd;
    ix->d_id = get_array(r, nd, 4);
    ix->d_created = get_array(r, nd, 8);
    ix->d_brand = get_array(r, nd, 4);
    ix->d_cat = get_array(r, nd, 4);
    ix->d_lens = get_array(r, nd, 4);
    ix->d_price = get_array(r, nd + 1, 4);
    ix->d_attr = get_array(r, nd + 1, 4);
    ix->d_fwd = get_array(r, nd + 1, 4);
    ix->bits_cap = words;
    ix->live = get_array(r, words, 8);
    ix->stock = get_array(r, words, 8);
    ix->ids = get_array(r, ids_len, 1);
    ix->ids_len = ix->ids_cap = (size_t)ids_len;
    ix->p_cur = get_array(r, p_len, 2);
    ix->p_amt = get_array(r, p_len, 8);
    ix->p_len = ix->p_cap = (size_t)p_len;
    ix->a_val = get_array(r, a_len, 4);
    ix->a_len = ix->a_cap = (size_t)a_len;
    ix->fwd = get_array(r, fwd_len, 1);
    ix->fwd_len = ix->fwd_cap = (size_t)fwd_len;
    if (r->rc != ECOM_OK)
        return;
    check_offsets(r, ix->d_price, nd, p_len);
    check_offsets(r, ix->d_attr, nd, a_len);
    check_offsets(r, ix->d_fwd, nd, fwd_len);
    if (nd > 0 && (ix->ids_len == 0 || ix->ids[ix->ids_len - 1] != '\0'))
        corrupt(r);
    check_ids(r, ix->d_id, nd, (uint32_t)ix->ids_len);
    uint64_t live = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t beyond = nd % 64 && i + 1 == words ? ~UINT64_C(0) << (nd % 64) : 0;
        if ((ix->live[i] & beyond) || (ix->stock[i] & beyond))
            corrupt(r);
        live += (uint64_t)__builtin_popcountll(ix->live[i]);
    }
    if (live != ix->nlive)
        corrupt(r);
}

static void get_tables(reader *r, ecom__sindex *ix)
{
    ecom__strtab *tabs[] = {&ix->terms, &ix->brands, &ix->cats, &ix->anames,
                            &ix->avals, &ix->curs,   &ix->disp};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        get_strtab(r, tabs[i], tabs[i] == &ix->avals);
    if (r->rc != ECOM_OK)
        return;
    if (ix->brands.count == 0 || ecom__strtab_len(&ix->brands, 0) != 0 || ix->cats.count == 0 ||
        ecom__strtab_len(&ix->cats, 0) != 0 || ix->curs.count > UINT16_MAX + 1u) {
        corrupt(r);
        return;
    }
    ix->brand_disp = get_array(r, ix->brands.count, 4);
    ix->brand_cap = ix->brands.count;
    ix->cat_parent = get_array(r, ix->cats.count, 4);
    ix->cat_cap = ix->cats.count;
    ix->aval_name = get_array(r, ix->avals.count, 4);
    ix->aval_disp = get_array(r, ix->avals.count, 4);
    ix->aval_cap = ix->avals.count;
    if (r->rc != ECOM_OK)
        return;
    check_ids(r, ix->brand_disp, ix->brands.count, ix->disp.count);
    check_ids(r, ix->aval_name, ix->avals.count, ix->anames.count);
    check_ids(r, ix->aval_disp, ix->avals.count, ix->disp.count);
    if (ix->cat_parent[0] != ECOM__NONE)
        corrupt(r);
    for (uint32_t c = 1; c < ix->cats.count; c++)
        if (ix->cat_parent[c] != ECOM__NONE && ix->cat_parent[c] >= c)
            corrupt(r);
    check_ids(r, ix->d_brand, ix->ndocs, ix->brands.count);
    check_ids(r, ix->d_cat, ix->ndocs, ix->cats.count);
    check_ids(r, ix->a_val, ix->a_len, ix->avals.count);
    for (size_t i = 0; i < ix->p_len && r->rc == ECOM_OK; i++)
        if (ix->p_cur[i] >= ix->curs.count)
            corrupt(r);
}

static void get_postings(reader *r, ecom__sindex *ix)
{
    uint32_t nt = ix->terms.count;
    ix->tinfo = ecom__calloc(nt ? nt : 1, sizeof *ix->tinfo);
    if (ix->tinfo == NULL) {
        r->rc = ECOM_ENOMEM;
        ix->terms.count = 0; /* nothing to free per term */
        return;
    }
    ix->tinfo_cap = nt ? nt : 1;
    for (uint32_t t = 0; t < nt && r->rc == ECOM_OK; t++) {
        ecom__term *ti = &ix->tinfo[t];
        uint32_t n = get_u32(r);
        if (r->rc != ECOM_OK || n > ix->ndocs) {
            corrupt(r);
            return;
        }
        if (n == 0)
            continue;
        ti->docs = ecom__malloc((size_t)n * 6);
        if (ti->docs == NULL) {
            r->rc = ECOM_ENOMEM;
            return;
        }
        ti->cap = ti->n = n;
        ix->post_bytes += (size_t)n * 6;
        get(r, ti->docs, (size_t)n * 4);
        get(r, ecom__term_tf(ti), (size_t)n * 2);
        for (uint32_t i = 0; i < n && r->rc == ECOM_OK; i++)
            if (ti->docs[i] >= ix->ndocs || (i > 0 && ti->docs[i] <= ti->docs[i - 1]))
                corrupt(r);
    }
}

static void get_lists(reader *r, ecom__sindex *ix)
{
    uint32_t nv = ix->avals.count;
    ix->apost = ecom__calloc(nv ? nv : 1, sizeof *ix->apost);
    if (ix->apost == NULL) {
        r->rc = ECOM_ENOMEM;
        return;
    }
    ix->apost_cap = nv ? nv : 1;
    for (uint32_t v = 0; v < nv && r->rc == ECOM_OK; v++) {
        struct ecom__list *l = &ix->apost[v];
        uint32_t n = get_u32(r);
        if (r->rc != ECOM_OK || n > ix->ndocs) {
            corrupt(r);
            return;
        }
        l->docs = get_array(r, n, 4);
        l->n = l->cap = l->docs ? n : 0;
        ix->apost_bytes += (size_t)l->n * 4;
        for (uint32_t i = 0; i < l->n && r->rc == ECOM_OK; i++)
            if (l->docs[i] >= ix->ndocs || (i > 0 && l->docs[i] <= l->docs[i - 1]))
                corrupt(r);
    }
}

/* Decodes every doc's term list (bounded), counting live docs per term and the
 * field lengths of live docs. */
static void recount(reader *r, ecom__sindex *ix)
{
    ix->cur_bounds =
        ecom__calloc((size_t)ix->curs.count * ECOM__PRICE_BUCKETS + 1, sizeof *ix->cur_bounds);
    ix->cur_bounds_cap = (size_t)ix->curs.count * ECOM__PRICE_BUCKETS + 1;
    r->rc = ix->cur_bounds ? ecom__sindex_live_counts(ix) : ECOM_ENOMEM;
    for (uint32_t c = 0; c < ix->curs.count && r->rc == ECOM_OK; c++)
        ecom__price_bounds(ecom__strtab_str(&ix->curs, c),
                           ix->cur_bounds + (size_t)c * ECOM__PRICE_BUCKETS);
    for (uint32_t d = 0; d < ix->ndocs && r->rc == ECOM_OK; d++) {
        bool live = ecom__bit(ix->live, d);
        ix->d_idkey[d] = ecom__idkey(ecom__sindex_id(ix, d));
        if (live) {
            ix->live_cat[ix->d_cat[d]]++;
            ix->live_brand[ix->d_brand[d]]++;
            for (uint32_t i = ix->d_attr[d]; i < ix->d_attr[d + 1]; i++)
                ix->live_aval[ix->a_val[i]]++;
            for (uint32_t i = ix->d_price[d]; i < ix->d_price[d + 1]; i++) {
                size_t cur = ix->p_cur[i];
                const int64_t *bounds = ix->cur_bounds + cur * ECOM__PRICE_BUCKETS;
                ix->live_price[cur * ECOM__PRICE_BUCKETS +
                               ecom__price_bucket(bounds, ix->p_amt[i])]++;
            }
            uint32_t l = ix->d_lens[d];
            ix->sumlen[ECOM__F_TITLE] += ECOM__LEN_TITLE(l);
            ix->sumlen[ECOM__F_BRAND] += ECOM__LEN_BRAND(l);
            ix->sumlen[ECOM__F_DESC] += ECOM__LEN_DESC(l);
        }
        size_t pos = ix->d_fwd[d], end = ix->d_fwd[d + 1];
        while (pos < end && r->rc == ECOM_OK) {
            uint32_t v = 0;
            unsigned shift = 0;
            uint8_t b;
            do {
                b = ix->fwd[pos++];
                v |= (uint32_t)(b & 127u) << shift;
                shift += 7;
            } while ((b & 128u) && pos < end && shift < 32);
            if ((b & 128u) || v >= ix->terms.count)
                corrupt(r);
            else if (live)
                ix->tinfo[v].df++;
        }
    }
}

int ecom__sindex_load(ecom__sindex **out, FILE *f, uint64_t *applied_seq)
{
    if (out == NULL || f == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    ecom__sindex *ix = ecom__sindex_alloc();
    if (ix == NULL)
        return ECOM_ENOMEM;
    reader r = {f, ECOM__FNV_INIT, 0, ECOM_OK};
    char m[8];
    uint64_t seq = 0;
    if (get(&r, m, sizeof m) && (memcmp(m, magic, sizeof m) != 0 || get_u32(&r) != FORMAT_VERSION ||
                                 get_u32(&r) != BYTE_ORDER_MARK))
        corrupt(&r);
    seq = get_u64(&r);
    uint64_t header = r.bytes;
    get_docs(&r, ix);
    get_tables(&r, ix);
    if (r.rc == ECOM_OK) {
        ix->d_idkey = ecom__calloc(ix->ndocs ? ix->ndocs : 1, sizeof *ix->d_idkey);
        if (ix->d_idkey == NULL)
            r.rc = ECOM_ENOMEM;
    }
    if (r.rc == ECOM_OK)
        get_postings(&r, ix);
    if (r.rc == ECOM_OK)
        get_lists(&r, ix);
    uint64_t payload = r.bytes - header, hash = r.hash;
    if (r.rc == ECOM_OK && get_u64(&r) != payload)
        corrupt(&r);
    uint64_t stored = 0;
    if (r.rc == ECOM_OK && (!get(&r, &stored, sizeof stored) || stored != hash || fgetc(f) != EOF))
        corrupt(&r);
    if (r.rc == ECOM_OK)
        recount(&r, ix);
    if (r.rc == ECOM_OK)
        r.rc = ecom__sindex_rebuild_ids(ix);
    if (r.rc == ECOM_OK)
        r.rc = ecom__stemmer_new(&ix->wstem);
    if (r.rc == ECOM_OK)
        r.rc = ecom__sindex_sort_terms(ix);
    if (r.rc != ECOM_OK) {
        ecom__sindex_free(ix);
        return r.rc;
    }
    if (applied_seq)
        *applied_seq = seq;
    *out = ix;
    return ECOM_OK;
}
