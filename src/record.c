/*
 * The record codec: the compact binary form a backend stores for a product's
 * content, and the index fields a backend maintains.
 *
 * Format version 1, every integer a LEB128 varint (signed ones zigzag-encoded),
 * every string a varint byte length then the bytes (no NUL):
 *
 *   u8      format version (1)
 *   str     title, description, brand, category
 *   svarint status
 *   varint  attribute count, then per attribute:
 *             str name, varint value count, str value...
 *   varint  variant count, then per variant:
 *             str sku, svarint weight_g,
 *             varint option count, (str name, str value)...,
 *             varint price count, (3 bytes currency, svarint amount)...
 *
 * The id, version and timestamps are not in the record: the backend keeps them.
 * Decoding trusts nothing (the bytes come from disk): every length and count is
 * checked against the bytes left, strings may not hold NUL, and trailing bytes
 * are an error. It runs in two passes over the record, one to check it and
 * measure the memory it needs, one to fill a product whose arena is one chunk of
 * that size: a decode is two allocations.
 */
#include <stdalign.h>
#include <string.h>

#include "codec.h"
#include "internal.h"

#define RECORD_FORMAT 1

/* The fewest bytes each repeated item takes, to reject counts that the bytes
 * left cannot hold before allocating for them. */
#define MIN_ATTRIBUTE 2 /* name length, value count */
#define MIN_VALUE 1
#define MIN_VARIANT 4 /* sku length, weight, option count, price count */
#define MIN_OPTION 2
#define MIN_PRICE 4 /* currency, amount */

/* ---- encoding ---- */

static void put_variant(ecom__writer *w, const ecom__variant *var)
{
    ecom__put_str(w, var->sku);
    ecom__put_svarint(w, var->weight_g);
    ecom__put_uvarint(w, var->option_count);
    for (size_t i = 0; i < var->option_count; i++) {
        ecom__put_str(w, var->options[i].name);
        ecom__put_str(w, var->options[i].value);
    }
    ecom__put_uvarint(w, var->price_count);
    for (size_t i = 0; i < var->price_count; i++) {
        ecom__put_bytes(w, var->prices[i].currency, 3);
        ecom__put_svarint(w, var->prices[i].amount);
    }
}

static void put_product(ecom__writer *w, const ecom_product *p)
{
    unsigned char format = RECORD_FORMAT;
    ecom__put_bytes(w, &format, 1);
    ecom__put_str(w, p->title);
    ecom__put_str(w, p->description);
    ecom__put_str(w, p->brand);
    ecom__put_str(w, p->category);
    ecom__put_svarint(w, (int)p->status); /* the enum may be unsigned */
    ecom__put_uvarint(w, p->attribute_count);
    for (size_t i = 0; i < p->attribute_count; i++) {
        const ecom__attribute *a = &p->attributes[i];
        ecom__put_str(w, a->name);
        ecom__put_uvarint(w, a->value_count);
        for (size_t j = 0; j < a->value_count; j++)
            ecom__put_str(w, a->values[j]);
    }
    ecom__put_uvarint(w, p->variant_count);
    for (size_t v = 0; v < p->variant_count; v++)
        put_variant(w, &p->variants[v]);
}

/* Measures first so that the buffer grows once. */
int ecom__record_encode(ecom__buf *out, const ecom_product *p)
{
    if (out == NULL || p == NULL)
        return ECOM_EINVAL;
    ecom__writer measure = {NULL, 0};
    put_product(&measure, p);
    int rc = ecom__buf_reserve(out, measure.n);
    if (rc)
        return rc;
    ecom__writer w = {out, 0};
    put_product(&w, p);
    return ECOM_OK;
}

/* ---- decoding ---- */

static int get_attribute(ecom__reader *r, ecom__attribute *a)
{
    ecom__attribute tmp;
    if (a == NULL)
        a = &tmp;
    int rc = ecom__get_str(r, &a->name);
    if (rc == ECOM_OK)
        rc = ecom__get_count(r, MIN_VALUE, &a->value_count);
    if (rc)
        return rc;
    a->value_cap = a->value_count;
    a->values = ecom__get_array(r, a->value_count, sizeof *a->values, &rc);
    for (size_t j = 0; rc == ECOM_OK && j < a->value_count; j++) {
        const char *dummy;
        rc = ecom__get_str(r, a->values ? &a->values[j] : &dummy);
    }
    return rc;
}

static int get_options(ecom__reader *r, ecom__variant *var)
{
    int rc = ecom__get_count(r, MIN_OPTION, &var->option_count);
    if (rc)
        return rc;
    var->option_cap = var->option_count;
    var->options = ecom__get_array(r, var->option_count, sizeof *var->options, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < var->option_count; i++) {
        ecom__option dummy;
        ecom__option *o = var->options ? &var->options[i] : &dummy;
        rc = ecom__get_str(r, &o->name);
        if (rc == ECOM_OK)
            rc = ecom__get_str(r, &o->value);
    }
    return rc;
}

static int get_prices(ecom__reader *r, ecom__variant *var)
{
    int rc = ecom__get_count(r, MIN_PRICE, &var->price_count);
    if (rc)
        return rc;
    var->price_cap = var->price_count;
    var->prices = ecom__get_array(r, var->price_count, sizeof *var->prices, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < var->price_count; i++) {
        ecom__price dummy;
        ecom__price *pr = var->prices ? &var->prices[i] : &dummy;
        if (ecom__reader_left(r) < 3 || memchr(r->at, '\0', 3))
            return ECOM_ECORRUPT;
        memcpy(pr->currency, r->at, 3);
        pr->currency[3] = '\0';
        r->at += 3;
        rc = ecom__get_svarint(r, &pr->amount);
    }
    return rc;
}

static int get_variant(ecom__reader *r, ecom__variant *var)
{
    ecom__variant tmp;
    if (var == NULL)
        var = &tmp;
    int rc = ecom__get_str(r, &var->sku);
    if (rc == ECOM_OK)
        rc = ecom__get_svarint(r, &var->weight_g);
    if (rc == ECOM_OK)
        rc = get_options(r, var);
    if (rc == ECOM_OK)
        rc = get_prices(r, var);
    return rc;
}

static int get_status(ecom__reader *r, ecom_product_status *out)
{
    int64_t status;
    int rc = ecom__get_svarint(r, &status);
    if (rc)
        return rc;
    if (status < INT32_MIN || status > INT32_MAX)
        return ECOM_ECORRUPT;
    *out = (ecom_product_status)status;
    return ECOM_OK;
}

/* One pass over the record; see reader. */
static int get_product(ecom__reader *r, ecom_product *p)
{
    ecom_product tmp;
    if (p == NULL)
        p = &tmp;
    if (ecom__reader_left(r) < 1 || *r->at != RECORD_FORMAT)
        return ECOM_ECORRUPT;
    r->at++;
    int rc = ecom__get_str(r, &p->title);
    if (rc == ECOM_OK)
        rc = ecom__get_str(r, &p->description);
    if (rc == ECOM_OK)
        rc = ecom__get_str(r, &p->brand);
    if (rc == ECOM_OK)
        rc = ecom__get_str(r, &p->category);
    if (rc == ECOM_OK)
        rc = get_status(r, &p->status);
    if (rc == ECOM_OK)
        rc = ecom__get_count(r, MIN_ATTRIBUTE, &p->attribute_count);
    if (rc)
        return rc;
    p->attribute_cap = p->attribute_count;
    p->attributes = ecom__get_array(r, p->attribute_count, sizeof *p->attributes, &rc);
    for (size_t i = 0; rc == ECOM_OK && i < p->attribute_count; i++)
        rc = get_attribute(r, p->attributes ? &p->attributes[i] : NULL);
    if (rc == ECOM_OK)
        rc = ecom__get_count(r, MIN_VARIANT, &p->variant_count);
    if (rc)
        return rc;
    p->variant_cap = p->variant_count;
    p->variants = ecom__get_array(r, p->variant_count, sizeof *p->variants, &rc);
    for (size_t v = 0; rc == ECOM_OK && v < p->variant_count; v++)
        rc = get_variant(r, p->variants ? &p->variants[v] : NULL);
    if (rc == ECOM_OK && r->at != r->end)
        rc = ECOM_ECORRUPT;
    return rc;
}

int ecom__record_decode(ecom_product **out, const ecom_product_rec *rec,
                        const ecom_product_meta *meta)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (rec == NULL || rec->id == NULL || (rec->data == NULL && rec->data_len != 0))
        return ECOM_EINVAL;
    if (rec->data_len == 0)
        return ECOM_ECORRUPT; /* not even the format byte (and data may be NULL) */
    const unsigned char *data = rec->data;
    ecom__reader r = {data, data + rec->data_len, NULL, 0};
    int rc = get_product(&r, NULL);
    size_t id_len = strlen(rec->id);
    if (rc == ECOM_OK)
        rc = ecom__reader_need(&r, id_len + 1);
    if (rc)
        return rc;

    ecom_product *p;
    rc = ecom_product_new(&p, "");
    if (rc)
        return rc;
    rc = ecom__arena_reserve(&p->arena, r.need);
    if (rc)
        goto fail;
    if (id_len) {
        char *id = ecom__arena_strndup(&p->arena, rec->id, id_len);
        if (id == NULL) {
            rc = ECOM_ENOMEM;
            goto fail;
        }
        p->id = id;
    }
    ecom__reader fill = {data, data + rec->data_len, &p->arena, 0};
    rc = get_product(&fill, p);
    if (rc)
        goto fail;
    if (meta) {
        p->version = meta->version;
        p->created_at = meta->created_at;
        p->updated_at = meta->updated_at;
    }
    *out = p;
    return ECOM_OK;
fail:
    ecom_product_free(p);
    return rc;
}

int ecom__record_index(ecom_product_rec *rec, const char ***skus_storage, const ecom_product *p)
{
    if (rec == NULL || skus_storage == NULL || p == NULL)
        return ECOM_EINVAL;
    *skus_storage = NULL;
    rec->id = p->id;
    rec->category = p->category;
    rec->status = (int)p->status;
    rec->sku_count = 0;
    rec->skus = NULL;
    if (p->variant_count == 0)
        return ECOM_OK;
    const char **skus = ecom__calloc(p->variant_count, sizeof *skus);
    if (skus == NULL)
        return ECOM_ENOMEM;
    for (size_t v = 0; v < p->variant_count; v++)
        skus[v] = p->variants[v].sku;
    rec->sku_count = p->variant_count;
    rec->skus = skus;
    *skus_storage = skus;
    return ECOM_OK;
}
