/* Listing orders, newest first, a page at a time, with cursors as list.c makes them. */
#include <string.h>

#include "orders.h"

#define ORDER_LIST_DEFAULT 100
#define ORDER_LIST_MAX 1000
/* A cursor is a kind letter and the hex of a backend key, bounded by user + id + time
 * (the user being an id, as checkout takes it), led for kind 'c' by a state byte. */
#define CURSOR_KEY_MAX (1 + ECOM_ID_MAX + ECOM_ID_MAX + 32)

struct ecom_order_page {
    ecom_order **orders;
    size_t count;
    char *next_cursor;
};

typedef struct list_state {
    ecom_order_page *page;
    size_t limit;
    const char *user;
    int state;
    ecom__buf last_key; /* key of the last order put in the page */
    bool more;
} list_state;

/*
 * The scan each filter makes walks its own index, so its keys resume only it: the
 * kind letter says which, and the backend refuses a key outside the user's or the
 * state's part of its index. A scan by user and state walks the user's index and
 * filters on the state, so its keys do not name the state: the cursor carries it
 * itself, as a byte before the key ('c'), and a listing with another state (or none)
 * refuses it rather than resume at a position in orders it never filtered.
 *
 * Kind 'c' was 'b' before the cursor carried the state. Cursors are short-lived paging
 * tokens, and a 'b' one cannot say which state it was made for (taking it on trust is
 * the very skip the state byte closes), so 'b' cursors are refused as of another
 * listing (ECOM_EINVAL): a client holding one across the upgrade starts again from the
 * first page. The letter 'b' is not used again, so the refusal stays certain.
 */
static char cursor_kind(const ecom_order_list_options *opts)
{
    bool by_user = opts->user != NULL, by_state = opts->state >= 0;
    return by_user ? (by_state ? 'c' : 'u') : (by_state ? 's' : 'a');
}

static int list_fn(void *ctx, const ecom_order_rec *rec, uint64_t version, const void *key,
                   size_t key_len)
{
    list_state *st = ctx;
    /* The backend filters; this only guards against one that does not. */
    if ((st->state >= 0 && rec->state != st->state) ||
        (st->user && strcmp(rec->user, st->user) != 0))
        return 0;
    if (st->page->count == st->limit) {
        st->more = true; /* one more match exists: the page is not the last */
        return 1;
    }
    ecom_order *o = NULL;
    int rc = ecom__order_decode(&o, rec, version);
    if (rc != ECOM_OK)
        return rc;
    st->page->orders[st->page->count++] = o;
    st->last_key.len = 0;
    return ecom__buf_put(&st->last_key, key, key_len);
}

static int check_options(ecom_store *store, const ecom_order_list_options *opts)
{
    char msg[160];
    if (opts->version != ECOM_ORDER_LIST_OPTIONS_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "ecom_order_list_options version %d; "
                          "expected %d", opts->version, ECOM_ORDER_LIST_OPTIONS_VERSION);
    if (opts->limit > ORDER_LIST_MAX)
        return ecom__fail(store, ECOM_EINVAL, "limit: %zu is above %d", opts->limit,
                          ORDER_LIST_MAX);
    if (opts->state != -1 && ecom_order_state_name((ecom_order_state)opts->state) == NULL)
        return ecom__fail(store, ECOM_ESTATE, "state: %d is not an order state", opts->state);
    /* Orders' users are ids (checkout checks them so): one that is not can have no
     * orders, and is refused as checkout would refuse it. */
    if (opts->user) {
        int rc = ecom__check_id(opts->user, "user", msg, sizeof msg);
        if (rc != ECOM_OK)
            return ecom__fail(store, rc, "%s", msg);
    }
    return ECOM_OK;
}

int ecom_order_list(ecom_order_page **out, ecom_store *store, const ecom_order_list_options *opts)
{
    static const ecom_order_list_options defaults = ECOM_ORDER_LIST_OPTIONS_INIT;
    if (out == NULL)
        return store ? ecom__fail(store, ECOM_EINVAL, "out: NULL") : ECOM_EINVAL;
    *out = NULL;
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    opts = opts ? opts : &defaults;
    if ((rc = check_options(store, opts)) != ECOM_OK)
        return rc;
    if (store->be->version < 3 || store->be->order_scan == NULL)
        return ecom__fail(store, ECOM_EUNSUPPORTED, "the %s backend has no orders (contract "
                          "version %d; orders need 3)", store->be->name, store->be->version);

    char kind = cursor_kind(opts);
    list_state st = {.limit = opts->limit ? opts->limit : ORDER_LIST_DEFAULT,
                     .user = opts->user, .state = opts->state};
    ecom__buf after = {0};
    ecom_order_scan scan = {.user = opts->user, .state = opts->state};
    if (opts->cursor) {
        rc = ecom__cursor_decode(&after, opts->cursor, kind, CURSOR_KEY_MAX);
        size_t skip = kind == 'c' ? 1 : 0; /* the state byte, checked here */
        if (rc == ECOM_OK && skip &&
            (after.len <= skip || (unsigned char)after.data[0] != (unsigned char)opts->state))
            rc = ECOM_EINVAL;
        if (rc != ECOM_OK) {
            rc = rc == ECOM_ENOMEM ? ecom__fail(store, rc, "out of memory")
                                   : ecom__fail(store, rc, "cursor: not a cursor of an order "
                                                "listing with these filters");
            goto cleanup;
        }
        scan.after = after.data + skip;
        scan.after_len = after.len - skip;
    }
    st.page = ecom__calloc(1, sizeof *st.page);
    if (st.page)
        st.page->orders = ecom__calloc(st.limit, sizeof *st.page->orders);
    if (st.page == NULL || st.page->orders == NULL) {
        rc = ecom__fail(store, ECOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = store->be->order_scan(store->be, &scan, list_fn, &st);
    if (rc == ECOM_OK && st.more) {
        ecom__buf tagged = {0};
        const ecom__buf *key = &st.last_key;
        if (kind == 'c') {
            rc = ecom__buf_putc(&tagged, (char)(unsigned char)opts->state);
            if (rc == ECOM_OK)
                rc = ecom__buf_put(&tagged, st.last_key.data, st.last_key.len);
            key = &tagged;
        }
        if (rc == ECOM_OK && (st.page->next_cursor = ecom__cursor_encode(kind, key)) == NULL)
            rc = ECOM_ENOMEM;
        ecom__buf_free(&tagged);
    }
    if (rc != ECOM_OK && ecom_errcode(store) != rc)
        ecom__fail(store, rc, "listing orders: %s", ecom_strerror(rc));
cleanup:
    ecom__buf_free(&after);
    ecom__buf_free(&st.last_key);
    if (rc == ECOM_OK)
        *out = st.page;
    else
        ecom_order_page_free(st.page);
    return rc;
}

size_t ecom_order_page_count(const ecom_order_page *page)
{
    return page ? page->count : 0;
}

const ecom_order *ecom_order_page_order(const ecom_order_page *page, size_t i)
{
    return page && i < page->count ? page->orders[i] : NULL;
}

const char *ecom_order_page_next_cursor(const ecom_order_page *page)
{
    return page ? page->next_cursor : NULL;
}

void ecom_order_page_free(ecom_order_page *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->count; i++)
        ecom_order_free(page->orders[i]);
    ecom__free(page->orders);
    ecom__free(page->next_cursor);
    ecom__free(page);
}
