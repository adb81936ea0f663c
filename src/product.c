/*
 * The product handle: making and freeing it, its getters (NULL- and index-safe)
 * and setters (copying into the product's arena, arrays growing by doubling).
 */
#include <string.h>

#include "internal.h"

/* Empty strings share this one instead of taking arena space. */
static const char empty_string[] = "";

/* Copies s into p's arena and points *field at the copy. */
static int set_string(ecom_product *p, const char **field, const char *s)
{
    if (p == NULL || s == NULL)
        return ECOM_EINVAL;
    size_t n = strlen(s);
    if (n == 0) {
        *field = empty_string;
        return ECOM_OK;
    }
    char *copy = ecom__arena_strndup(&p->arena, s, n);
    if (copy == NULL)
        return ECOM_ENOMEM;
    *field = copy;
    return ECOM_OK;
}

/*
 * Returns an array with room for count + 1 elements: arr itself if it has room,
 * else a copy twice as big (the old one stays in the arena until the product is
 * freed). NULL when memory runs out; *cap is updated only on success.
 */
static void *grow(ecom__arena *a, void *arr, size_t count, size_t *cap, size_t elem)
{
    if (count < *cap)
        return arr;
    size_t ncap = *cap ? *cap : 2;
    if (ncap > SIZE_MAX / 2 / elem)
        return NULL;
    ncap *= 2;
    void *n = ecom__arena_alloc(a, ncap * elem);
    if (n == NULL)
        return NULL;
    if (count)
        memcpy(n, arr, count * elem);
    *cap = ncap;
    return n;
}

int ecom_product_new(ecom_product **out, const char *id)
{
    if (out == NULL)
        return ECOM_EINVAL;
    *out = NULL;
    if (id == NULL)
        return ECOM_EINVAL;
    ecom_product *p = ecom__calloc(1, sizeof *p);
    if (p == NULL)
        return ECOM_ENOMEM;
    p->id = p->title = p->description = p->brand = p->category = empty_string;
    p->status = ECOM_STATUS_DRAFT;
    if (set_string(p, &p->id, id) != ECOM_OK) {
        ecom_product_free(p);
        return ECOM_ENOMEM;
    }
    *out = p;
    return ECOM_OK;
}

void ecom_product_free(ecom_product *p)
{
    if (p == NULL)
        return;
    ecom__arena_free(&p->arena);
    ecom__free(p);
}

/* ---- getters ---- */

const char *ecom_product_id(const ecom_product *p)
{
    return p ? p->id : NULL;
}

const char *ecom_product_title(const ecom_product *p)
{
    return p ? p->title : NULL;
}

const char *ecom_product_description(const ecom_product *p)
{
    return p ? p->description : NULL;
}

const char *ecom_product_brand(const ecom_product *p)
{
    return p ? p->brand : NULL;
}

const char *ecom_product_category(const ecom_product *p)
{
    return p ? p->category : NULL;
}

ecom_product_status ecom_product_get_status(const ecom_product *p)
{
    return p ? p->status : ECOM_STATUS_DRAFT;
}

uint64_t ecom_product_version(const ecom_product *p)
{
    return p ? p->version : 0;
}

int64_t ecom_product_created_at(const ecom_product *p)
{
    return p ? p->created_at : 0;
}

int64_t ecom_product_updated_at(const ecom_product *p)
{
    return p ? p->updated_at : 0;
}

static const ecom__attribute *attribute_at(const ecom_product *p, size_t i)
{
    return p && i < p->attribute_count ? &p->attributes[i] : NULL;
}

static const ecom__variant *variant_at(const ecom_product *p, size_t v)
{
    return p && v < p->variant_count ? &p->variants[v] : NULL;
}

size_t ecom_product_attribute_count(const ecom_product *p)
{
    return p ? p->attribute_count : 0;
}

const char *ecom_product_attribute_name(const ecom_product *p, size_t i)
{
    const ecom__attribute *a = attribute_at(p, i);
    return a ? a->name : NULL;
}

size_t ecom_product_attribute_value_count(const ecom_product *p, size_t i)
{
    const ecom__attribute *a = attribute_at(p, i);
    return a ? a->value_count : 0;
}

const char *ecom_product_attribute_value(const ecom_product *p, size_t i, size_t j)
{
    const ecom__attribute *a = attribute_at(p, i);
    return a && j < a->value_count ? a->values[j] : NULL;
}

size_t ecom_product_variant_count(const ecom_product *p)
{
    return p ? p->variant_count : 0;
}

const char *ecom_product_variant_sku(const ecom_product *p, size_t v)
{
    const ecom__variant *var = variant_at(p, v);
    return var ? var->sku : NULL;
}

int64_t ecom_product_variant_weight(const ecom_product *p, size_t v)
{
    const ecom__variant *var = variant_at(p, v);
    return var ? var->weight_g : 0;
}

size_t ecom_product_variant_option_count(const ecom_product *p, size_t v)
{
    const ecom__variant *var = variant_at(p, v);
    return var ? var->option_count : 0;
}

const char *ecom_product_variant_option_name(const ecom_product *p, size_t v, size_t i)
{
    const ecom__variant *var = variant_at(p, v);
    return var && i < var->option_count ? var->options[i].name : NULL;
}

const char *ecom_product_variant_option_value(const ecom_product *p, size_t v, size_t i)
{
    const ecom__variant *var = variant_at(p, v);
    return var && i < var->option_count ? var->options[i].value : NULL;
}

size_t ecom_product_variant_price_count(const ecom_product *p, size_t v)
{
    const ecom__variant *var = variant_at(p, v);
    return var ? var->price_count : 0;
}

int64_t ecom_product_variant_price_at(const ecom_product *p, size_t v, size_t i,
                                      char currency[4])
{
    const ecom__variant *var = variant_at(p, v);
    if (var == NULL || i >= var->price_count) {
        if (currency)
            currency[0] = '\0';
        return 0;
    }
    if (currency)
        memcpy(currency, var->prices[i].currency, 4);
    return var->prices[i].amount;
}

static ecom__price *find_price(const ecom__variant *var, const char *currency)
{
    for (size_t i = 0; i < var->price_count; i++)
        if (strcmp(var->prices[i].currency, currency) == 0)
            return &var->prices[i];
    return NULL;
}

int ecom_product_variant_price(int64_t *amount, const ecom_product *p, size_t v,
                               const char *currency)
{
    if (amount == NULL || p == NULL || currency == NULL)
        return ECOM_EINVAL;
    const ecom__variant *var = variant_at(p, v);
    const ecom__price *price = var ? find_price(var, currency) : NULL;
    if (price == NULL)
        return ECOM_ENOTFOUND;
    *amount = price->amount;
    return ECOM_OK;
}

long ecom_product_find_variant(const ecom_product *p, const char *sku)
{
    if (p == NULL || sku == NULL)
        return -1;
    for (size_t v = 0; v < p->variant_count; v++)
        if (strcmp(p->variants[v].sku, sku) == 0)
            return (long)v;
    return -1;
}

/* ---- setters ---- */

int ecom_product_set_title(ecom_product *p, const char *title)
{
    return p ? set_string(p, &p->title, title) : ECOM_EINVAL;
}

int ecom_product_set_description(ecom_product *p, const char *description)
{
    return p ? set_string(p, &p->description, description) : ECOM_EINVAL;
}

int ecom_product_set_brand(ecom_product *p, const char *brand)
{
    return p ? set_string(p, &p->brand, brand) : ECOM_EINVAL;
}

int ecom_product_set_category(ecom_product *p, const char *category)
{
    return p ? set_string(p, &p->category, category) : ECOM_EINVAL;
}

int ecom_product_set_status(ecom_product *p, ecom_product_status status)
{
    if (p == NULL)
        return ECOM_EINVAL;
    /* An unknown value is kept: validation reports it as ECOM_ESTATUS. */
    p->status = status;
    return ECOM_OK;
}

static ecom__attribute *find_attribute(ecom_product *p, const char *name)
{
    for (size_t i = 0; i < p->attribute_count; i++)
        if (strcmp(p->attributes[i].name, name) == 0)
            return &p->attributes[i];
    return NULL;
}

/* Every fallible step comes before the counts change, so a failure leaves the
 * product as it was (a grown array holds the same elements). */
int ecom_product_add_attribute(ecom_product *p, const char *name, const char *value)
{
    if (p == NULL || name == NULL || value == NULL)
        return ECOM_EINVAL;
    const char *vcopy;
    if (set_string(p, &vcopy, value) != ECOM_OK)
        return ECOM_ENOMEM;
    ecom__attribute *a = find_attribute(p, name);
    if (a == NULL) {
        ecom__attribute *arr = grow(&p->arena, p->attributes, p->attribute_count,
                                    &p->attribute_cap, sizeof *arr);
        if (arr == NULL)
            return ECOM_ENOMEM;
        p->attributes = arr;
        ecom__attribute fresh = {0};
        if (set_string(p, &fresh.name, name) != ECOM_OK)
            return ECOM_ENOMEM;
        fresh.values = grow(&p->arena, NULL, 0, &fresh.value_cap, sizeof *fresh.values);
        if (fresh.values == NULL)
            return ECOM_ENOMEM;
        a = &p->attributes[p->attribute_count++];
        *a = fresh;
    }
    const char **values = grow(&p->arena, a->values, a->value_count, &a->value_cap,
                               sizeof *values);
    if (values == NULL)
        return ECOM_ENOMEM;
    a->values = values;
    a->values[a->value_count++] = vcopy;
    return ECOM_OK;
}

int ecom_product_add_variant(ecom_product *p, const char *sku, int64_t weight_g, size_t *index)
{
    if (p == NULL || sku == NULL)
        return ECOM_EINVAL;
    ecom__variant fresh = {0};
    if (set_string(p, &fresh.sku, sku) != ECOM_OK)
        return ECOM_ENOMEM;
    fresh.weight_g = weight_g;
    ecom__variant *arr = grow(&p->arena, p->variants, p->variant_count, &p->variant_cap,
                              sizeof *arr);
    if (arr == NULL)
        return ECOM_ENOMEM;
    p->variants = arr;
    if (index)
        *index = p->variant_count;
    p->variants[p->variant_count++] = fresh;
    return ECOM_OK;
}

static ecom__variant *variant_mut(ecom_product *p, size_t v)
{
    return p && v < p->variant_count ? &p->variants[v] : NULL;
}

int ecom_product_variant_set_option(ecom_product *p, size_t v, const char *name,
                                    const char *value)
{
    ecom__variant *var = variant_mut(p, v);
    if (var == NULL || name == NULL || value == NULL)
        return ECOM_EINVAL;
    const char *vcopy;
    if (set_string(p, &vcopy, value) != ECOM_OK)
        return ECOM_ENOMEM;
    for (size_t i = 0; i < var->option_count; i++) {
        if (strcmp(var->options[i].name, name) == 0) {
            var->options[i].value = vcopy;
            return ECOM_OK;
        }
    }
    ecom__option opt = {NULL, vcopy};
    if (set_string(p, &opt.name, name) != ECOM_OK)
        return ECOM_ENOMEM;
    ecom__option *arr = grow(&p->arena, var->options, var->option_count, &var->option_cap,
                             sizeof *arr);
    if (arr == NULL)
        return ECOM_ENOMEM;
    var->options = arr;
    var->options[var->option_count++] = opt;
    return ECOM_OK;
}

int ecom_product_variant_set_price(ecom_product *p, size_t v, const char *currency,
                                   int64_t amount)
{
    ecom__variant *var = variant_mut(p, v);
    if (var == NULL || currency == NULL)
        return ECOM_EINVAL;
    /* The code must fit the fixed 4-byte slot; whether ISO 4217 knows it is for
     * validation to say. */
    if (strlen(currency) != 3)
        return ECOM_ECURRENCY;
    ecom__price *existing = find_price(var, currency);
    if (existing) {
        existing->amount = amount;
        return ECOM_OK;
    }
    ecom__price *arr = grow(&p->arena, var->prices, var->price_count, &var->price_cap,
                            sizeof *arr);
    if (arr == NULL)
        return ECOM_ENOMEM;
    var->prices = arr;
    ecom__price *price = &var->prices[var->price_count++];
    memcpy(price->currency, currency, 4);
    price->amount = amount;
    return ECOM_OK;
}

/* ---- comparison ---- */

static bool attribute_equal(const ecom__attribute *a, const ecom__attribute *b)
{
    if (strcmp(a->name, b->name) != 0 || a->value_count != b->value_count)
        return false;
    for (size_t j = 0; j < a->value_count; j++)
        if (strcmp(a->values[j], b->values[j]) != 0)
            return false;
    return true;
}

static bool variant_equal(const ecom__variant *a, const ecom__variant *b)
{
    if (strcmp(a->sku, b->sku) != 0 || a->weight_g != b->weight_g ||
        a->option_count != b->option_count || a->price_count != b->price_count)
        return false;
    for (size_t i = 0; i < a->option_count; i++)
        if (strcmp(a->options[i].name, b->options[i].name) != 0 ||
            strcmp(a->options[i].value, b->options[i].value) != 0)
            return false;
    for (size_t i = 0; i < a->price_count; i++)
        if (strcmp(a->prices[i].currency, b->prices[i].currency) != 0 ||
            a->prices[i].amount != b->prices[i].amount)
            return false;
    return true;
}

bool ecom__product_equal(const ecom_product *a, const ecom_product *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (strcmp(a->id, b->id) != 0 || strcmp(a->title, b->title) != 0 ||
        strcmp(a->description, b->description) != 0 || strcmp(a->brand, b->brand) != 0 ||
        strcmp(a->category, b->category) != 0 || a->status != b->status ||
        a->attribute_count != b->attribute_count || a->variant_count != b->variant_count)
        return false;
    for (size_t i = 0; i < a->attribute_count; i++)
        if (!attribute_equal(&a->attributes[i], &b->attributes[i]))
            return false;
    for (size_t v = 0; v < a->variant_count; v++)
        if (!variant_equal(&a->variants[v], &b->variants[v]))
            return false;
    return true;
}
