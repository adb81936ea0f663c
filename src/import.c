/* Streaming JSON Lines import: parse, validate, upsert in atomic batches. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"

#define ECOM__IMPORT_BATCH 1000
#define ECOM__IMPORT_BATCH_MAX 100000
#define ECOM__LINE_MAX (4u << 20) /* longer lines are rejected, not buffered */
#define ECOM__READ_CHUNK (64u << 10)

/* Reads a file a line at a time through a fixed window: memory stays flat. */
typedef struct line_reader {
    int fd;
    ecom__buf buf;
    size_t start;      /* first unread byte in buf */
    uint64_t consumed; /* bytes handed out so far */
    bool eof;
} line_reader;

/* Next line (without its newline) in line and len. Returns 1 for a line, 0 at the end,
 * ECOM_ETOOLONG for an overlong line (skipped), or an error. */
static int next_line(line_reader *r, const char **line, size_t *len)
{
    bool overlong = false;
    for (;;) {
        char *begin = r->buf.data + r->start;
        size_t avail = r->buf.len - r->start;
        char *nl = avail ? memchr(begin, '\n', avail) : NULL;
        if (nl || (r->eof && avail)) {
            size_t n = nl ? (size_t)(nl - begin) : avail;
            r->start += n + (nl != NULL);
            r->consumed += n + (nl != NULL);
            if (overlong)
                return ECOM_ETOOLONG;
            *line = begin;
            *len = n;
            return 1;
        }
        if (r->eof)
            return overlong ? ECOM_ETOOLONG : 0;
        /* Slide what is left to the front, then read more. */
        if (avail)
            memmove(r->buf.data, begin, avail);
        r->buf.len = avail;
        r->start = 0;
        if (avail >= ECOM__LINE_MAX) {
            overlong = true;
            r->consumed += avail;
            r->buf.len = 0;
        }
        int rc = ecom__buf_reserve(&r->buf, ECOM__READ_CHUNK);
        if (rc != ECOM_OK)
            return rc;
        ssize_t got;
        do
            got = read(r->fd, r->buf.data + r->buf.len, ECOM__READ_CHUNK);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return ECOM_EIO;
        r->buf.len += (size_t)got;
        r->eof = got == 0;
    }
}

typedef struct import_batch {
    ecom_store *store;
    const ecom_import_options *opts;
    ecom_import_stats *stats;
    ecom_product **products;
    ecom__prepared *prepared;
    ecom_product_write *writes; /* the prepared writes side by side, for the backend */
    uint64_t *lines;
    size_t count, cap;
    bool stopped; /* on_reject asked to stop */
} import_batch;

static void reject(import_batch *b, uint64_t line, int code, const char *message)
{
    b->stats->rejected++;
    if (b->opts->on_reject && b->opts->on_reject(b->opts->ctx, line, code, message) != 0)
        b->stopped = true;
}

static void batch_clear(import_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        ecom__write_release(&b->prepared[i]);
        ecom_product_free(b->products[i]);
    }
    b->count = 0;
}

static int batch_flush(import_batch *b)
{
    if (b->count == 0)
        return ECOM_OK;
    ecom_backend *be = b->store->be;
    ecom_product_write *writes = b->writes;
    for (size_t i = 0; i < b->count; i++) {
        writes[i] = b->prepared[i].write;
        writes[i].mode = ECOM_WRITE_UPSERT;
        writes[i].expected_version = ECOM_VERSION_ANY;
    }
    int rc = be->product_write(be, writes, b->count, ecom__now(b->store));
    for (size_t i = 0; rc == ECOM_OK && i < b->count; i++) {
        if (writes[i].result == ECOM_OK) {
            writes[i].created ? b->stats->imported++ : b->stats->updated++;
            continue;
        }
        ecom__write_explain(b->store, &writes[i], ECOM_VERSION_ANY);
        reject(b, b->lines[i], writes[i].result, ecom_errmsg(b->store));
    }
    batch_clear(b);
    return rc;
}

/* Parses and prepares one line into the batch, or rejects it. */
static int batch_add(import_batch *b, uint64_t line_no, const char *line, size_t len)
{
    char msg[256];
    ecom_product *p = NULL;
    int rc = ecom_product_from_json(&p, line, len, msg, sizeof msg);
    if (rc == ECOM_ENOMEM)
        return rc;
    if (rc != ECOM_OK) {
        reject(b, line_no, rc, msg);
        return ECOM_OK;
    }
    rc = ecom__write_prepare(b->store, &b->prepared[b->count], p);
    if (rc != ECOM_OK) {
        ecom_product_free(p);
        if (rc == ECOM_ENOMEM)
            return rc;
        reject(b, line_no, rc, ecom_errmsg(b->store));
        return ECOM_OK;
    }
    b->products[b->count] = p;
    b->lines[b->count++] = line_no;
    return b->count == b->cap ? batch_flush(b) : ECOM_OK;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int open_input(ecom_store *store, const char *path, int *fd)
{
    if (strcmp(path, "-") == 0) {
        *fd = STDIN_FILENO;
        return ECOM_OK;
    }
    do
        *fd = open(path, O_RDONLY | O_CLOEXEC);
    while (*fd < 0 && errno == EINTR);
    if (*fd < 0)
        return ecom__fail(store, ECOM_EIO, "cannot open '%s': %s", path, strerror(errno));
    return ECOM_OK;
}

static int run_import(import_batch *b, line_reader *r, uint64_t total_bytes)
{
    const ecom_import_options *opts = b->opts;
    int rc;
    const char *line = NULL;
    size_t len = 0;
    uint64_t flushed_at = 0;
    while (!b->stopped && (rc = next_line(r, &line, &len)) != 0) {
        uint64_t line_no = ++b->stats->lines;
        if (rc == ECOM_ETOOLONG) {
            reject(b, line_no, rc, "line: longer than 4 MiB");
            continue;
        }
        if (rc < 0)
            return rc;
        if (!blank(line, len) && (rc = batch_add(b, line_no, line, len)) != ECOM_OK)
            return rc;
        if (opts->on_progress && b->count == 0 && b->stats->lines != flushed_at) {
            flushed_at = b->stats->lines;
            opts->on_progress(opts->ctx, b->stats->lines, r->consumed, total_bytes);
        }
    }
    if ((rc = batch_flush(b)) != ECOM_OK)
        return rc;
    if (opts->on_progress)
        opts->on_progress(opts->ctx, b->stats->lines, r->consumed, total_bytes);
    return ECOM_OK;
}

int ecom_catalog_import(ecom_import_stats *stats, ecom_store *store, const char *path,
                        const ecom_import_options *opts)
{
    static const ecom_import_options defaults = ECOM_IMPORT_OPTIONS_INIT;
    ecom_import_stats ignored;
    stats = stats ? stats : &ignored;
    memset(stats, 0, sizeof *stats);
    int rc = ecom__enter(store);
    if (rc != ECOM_OK)
        return rc;
    opts = opts ? opts : &defaults;
    if (opts->version != ECOM_IMPORT_OPTIONS_VERSION)
        return ecom__fail(store, ECOM_EVERSION, "ecom_import_options version %d; expected %d",
                          opts->version, ECOM_IMPORT_OPTIONS_VERSION);
    if (path == NULL)
        return ecom__fail(store, ECOM_EINVAL, "path: NULL");
    if (opts->batch_size > ECOM__IMPORT_BATCH_MAX)
        return ecom__fail(store, ECOM_EINVAL, "batch_size: %zu is above %d", opts->batch_size,
                          ECOM__IMPORT_BATCH_MAX);

    import_batch b = {.store = store, .opts = opts, .stats = stats,
                      .cap = opts->batch_size ? opts->batch_size : ECOM__IMPORT_BATCH};
    line_reader r = {.fd = -1};
    b.products = ecom__calloc(b.cap, sizeof *b.products);
    b.prepared = ecom__calloc(b.cap, sizeof *b.prepared);
    b.writes = ecom__calloc(b.cap, sizeof *b.writes);
    b.lines = ecom__calloc(b.cap, sizeof *b.lines);
    if (b.products == NULL || b.prepared == NULL || b.writes == NULL || b.lines == NULL) {
        rc = ecom__fail(store, ECOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = open_input(store, path, &r.fd)) != ECOM_OK)
        goto cleanup;
    struct stat st;
    uint64_t total = fstat(r.fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    rc = run_import(&b, &r, total);
    if (rc == ECOM_EIO)
        ecom__fail(store, rc, "reading '%s': %s", path, strerror(errno));
    else if (rc != ECOM_OK && ecom_errcode(store) != rc)
        ecom__fail(store, rc, "import of '%s' stopped at line %llu: %s", path,
                   (unsigned long long)stats->lines, ecom_strerror(rc));
cleanup:
    if (b.prepared && b.products)
        batch_clear(&b);
    if (r.fd > STDIN_FILENO)
        close(r.fd);
    ecom__buf_free(&r.buf);
    ecom__free(b.products);
    ecom__free(b.prepared);
    ecom__free(b.writes);
    ecom__free(b.lines);
    return rc;
}
