/* Listing products a page at a time, with cursors that survive changes. */
#include <string.h>

#include "catalog.h"

#define ECOM__LIST_DEFAULT 100
#define ECOM__LIST_MAX 1000
/* A cursor is a kind letter and the hex of a backend key: bounded by id + category. */
#define ECOM__CURSOR_KEY_MAX (ECOM__CATEGORY_MAX + ECOM_ID_MAX + 8)

struct ecom_page {
    ecom_product **products;
    size_t count;
    char *next_cursor;
};

typedef struct list_state {
    ecom_page *page;
    size_t limit;
    int status;
    char kind;
    ecom__buf last_key; /* key of the last product put in the page */
    bool more;
} list_state;

static int list_fn(void *ctx, const ecom_product_rec *rec, const ecom_product_meta *meta,
                   const void *key, size_t key_len)
{
    list_state *st = ctx;
    if (st->status >= 0 && rec->status != st->status)
        return 0;
    if (st->page->count == st->limit) {
        st->more = true; /* one more match exists: the page is not the last */
        return 1;
    }
    ecom_product *p = NULL;
    int rc = ecom__record_decode(&p, rec, meta);
    if (rc != ECOM_OK)
        return rc;
    st->page->products[st->page->count++] = p;
    st->last_key.len = 0;
    return ecom__buf_put(&st->last_key, key, key_len);
}

static int check_options(ecom_store *store, const ecom_list_options *opts)
{
    char msg[160];
    if (opts->version != ECOM_LIST_OPTIONS_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "ecom_list_options version %d; expected %d",
                          opts->version, ECOM_LIST_OPTIONS_VERSION);
    if (opts->limit > ECOM__LIST_MAX)
        return ecom__fail(store, ECOM_EINVAL, "limit: %zu is above %d", opts->limit,
                          ECOM__LIST_MAX);
    if (opts->status != -1 && ecom__status_name(opts->status) == NULL)
        return ecom__fail(store, ECOM_ESTATUS, "status: %d is not a product status",
                          opts->status);
    if (opts->category && *opts->category) {
        int rc = ecom__check_category(opts->category, "category", msg, sizeof msg);
        if (rc != ECOM_OK)
            return ecom__fail(store, rc, "%s", msg);
    }
    return ECOM_OK;
}

int ecom_catalog_list(ecom_page **out, ecom_store *store, const ecom_list_options *opts)
{
    static const ecom_list_options defaults = ECOM_LIST_OPTIONS_INIT;
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    opts = opts ? opts : &defaults;
    if ((rc = check_options(store, opts)) != ECOM_OK)
        return rc;

    bool by_category = opts->category && *opts->category;
    list_state st = {.limit = opts->limit ? opts->limit : ECOM__LIST_DEFAULT,
                     .status = opts->status,
                     .kind = by_category ? 'c' : 'i'};
    ecom__buf after = {0};
    ecom_scan scan = {.category = by_category ? opts->category : NULL};
    if (opts->cursor) {
        rc = ecom__cursor_decode(&after, opts->cursor, st.kind, ECOM__CURSOR_KEY_MAX);
        if (rc != ECOM_OK) {
            rc = rc == ECOM_ENOMEM ? ecom__fail(store, rc, "out of memory")
                                   : ecom__fail(store, rc, "cursor: not a cursor of a %s listing",
                                                by_category ? "category" : "plain");
            goto cleanup;
        }
        scan.after = after.data;
        scan.after_len = after.len;
    }
    st.page = ecom__calloc(1, sizeof *st.page);
    if (st.page)
        st.page->products = ecom__calloc(st.limit, sizeof *st.page->products);
    if (st.page == NULL || st.page->products == NULL) {
        rc = ecom__fail(store, ECOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = store->be->product_scan(store->be, &scan, list_fn, &st);
    if (rc == ECOM_OK && st.more) {
        st.page->next_cursor = ecom__cursor_encode(st.kind, &st.last_key);
        if (st.page->next_cursor == NULL)
            rc = ECOM_ENOMEM;
    }
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        ecom__fail(store, rc, "listing products: %s", ecom_strerror(rc));
cleanup:
    ecom__buf_free(&after);
    ecom__buf_free(&st.last_key);
    if (rc == ECOM_OK)
        *out = st.page;
    else
        ecom_page_free(st.page);
    return rc;
}

size_t ecom_page_count(const ecom_page *page)
{
    return page ? page->count : 0;
}

const ecom_product *ecom_page_product(const ecom_page *page, size_t i)
{
    return page && i < page->count ? page->products[i] : NULL;
}

const char *ecom_page_next_cursor(const ecom_page *page)
{
    return page ? page->next_cursor : NULL;
}

void ecom_page_free(ecom_page *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->count; i++)
        ecom_product_free(page->products[i]);
    ecom__free(page->products);
    ecom__free(page->next_cursor);
    ecom__free(page);
}
