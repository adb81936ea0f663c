/*
 * Product validation: the limits of ecom.h's Products section, each fault kind
 * with its own code and a message that names the field by path
 * ("variants[2].prices.EUR: -5 is negative"). Also strict UTF-8, the field
 * checkers the rest of the core reuses, and status names.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Room for a field path such as "variants[255].options.<64-byte name>". */
#define PATH_MAX_LEN 160
/* How much of a user-supplied name or value a message quotes. */
#define QUOTE_MAX 48

/* snprintf for field paths, where cutting a long path short is the intent. */
static void fmt_path(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

int ecom__msg(char *msg, size_t msg_size, int code, const char *fmt, ...)
{
    if (msg == NULL || msg_size == 0)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    return code;
}

void ecom__quote(char *out, size_t out_size, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (out_size == 0)
        return;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '\\';
        size_t need = plain ? 1 : 4;
        /* Keep room for "..." and the NUL in case more follows. */
        if (o + need + 4 > out_size) {
            if (o + 4 <= out_size) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* ---- UTF-8 ---- */

/* Length of the valid sequence at s[i..len), or 0 if it is not valid: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (len - i < n)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF)
            return 0;
    return n;
}

long ecom__utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(u, i, len);
        if (n == 0)
            return (long)i;
        i += n;
    }
    return -1;
}

/* The first control character of valid UTF-8 s: C0 (except \t \n \r when
 * multiline), DEL and C1 (U+0080..U+009F, encoded C2 80..C2 9F). Returns its
 * offset or -1, and its code point in *cp. */
static long control_at(const char *s, size_t len, bool multiline, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = u[i];
        if (c < 0x20) {
            if (multiline && (c == '\t' || c == '\n' || c == '\r'))
                continue;
            *cp = c;
            return (long)i;
        }
        if (c == 0x7f) {
            *cp = c;
            return (long)i;
        }
        if (c == 0xC2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) {
            *cp = u[i + 1];
            return (long)i;
        }
    }
    return -1;
}

/* ---- field checkers ---- */

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool slug_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int bad_byte(char *msg, size_t msg_size, int code, const char *field, const char *s,
                    size_t at, const char *allowed)
{
    char shown[8];
    ecom__quote(shown, sizeof shown, s + at, 1);
    return ecom__msg(msg, msg_size, code, "%s: '%s' at byte %zu is not allowed (%s)", field,
                     shown, at, allowed);
}

static int too_long(char *msg, size_t msg_size, const char *field, size_t len, size_t max)
{
    return ecom__msg(msg, msg_size, ECOM_ETOOLONG, "%s: %zu bytes, longer than %zu", field,
                     len, max);
}

int ecom__check_id(const char *s, const char *field, char *msg, size_t msg_size)
{
    if (s == NULL || s[0] == '\0')
        return ecom__msg(msg, msg_size, ECOM_EFIELD, "%s: missing (1..%d bytes required)",
                         field, ECOM_ID_MAX);
    size_t len = strlen(s);
    if (len > ECOM_ID_MAX)
        return too_long(msg, msg_size, field, len, ECOM_ID_MAX);
    if (!alnum((unsigned char)s[0]))
        return bad_byte(msg, msg_size, ECOM_EBADID, field, s, 0,
                        "must start with a letter or digit");
    for (size_t i = 1; i < len; i++)
        if (!id_char((unsigned char)s[i]))
            return bad_byte(msg, msg_size, ECOM_EBADID, field, s, i, "use A-Z a-z 0-9 . _ -");
    return ECOM_OK;
}

int ecom__check_text(const char *s, size_t max, bool multiline, bool required,
                     const char *field, char *msg, size_t msg_size)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0)
        return required ? ecom__msg(msg, msg_size, ECOM_EFIELD, "%s: missing", field)
                        : ECOM_OK;
    if (len > max)
        return too_long(msg, msg_size, field, len, max);
    long bad = ecom__utf8_invalid_at(s, len);
    if (bad >= 0)
        return ecom__msg(msg, msg_size, ECOM_EUTF8, "%s: not valid UTF-8 at byte %ld", field,
                         bad);
    unsigned cp = 0;
    bad = control_at(s, len, multiline, &cp);
    if (bad >= 0)
        return ecom__msg(msg, msg_size, ECOM_EUTF8,
                         "%s: control character U+%04X at byte %ld", field, cp, bad);
    return ECOM_OK;
}

int ecom__check_slug(const char *s, size_t max, const char *field, char *msg, size_t msg_size)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0)
        return ecom__msg(msg, msg_size, ECOM_EFIELD, "%s: missing", field);
    if (len > max)
        return too_long(msg, msg_size, field, len, max);
    for (size_t i = 0; i < len; i++)
        if (!slug_char((unsigned char)s[i]))
            return bad_byte(msg, msg_size, ECOM_EBADID, field, s, i, "use a-z 0-9 _ -");
    return ECOM_OK;
}

int ecom__check_category(const char *s, const char *field, char *msg, size_t msg_size)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0)
        return ECOM_OK;
    if (len > ECOM__CATEGORY_MAX)
        return too_long(msg, msg_size, field, len, ECOM__CATEGORY_MAX);
    size_t depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '/' && c != '\0') {
            bool ok = i == start ? (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                                 : slug_char(c);
            if (!ok)
                return bad_byte(msg, msg_size, ECOM_ECATEGORY, field, s, i,
                                "each level is [a-z0-9][a-z0-9_-]*");
            continue;
        }
        if (i == start)
            return ecom__msg(msg, msg_size, ECOM_ECATEGORY, "%s: empty level at byte %zu",
                             field, i);
        if (++depth > ECOM__CATEGORY_DEPTH_MAX)
            return ecom__msg(msg, msg_size, ECOM_ECATEGORY, "%s: more than %d levels", field,
                             ECOM__CATEGORY_DEPTH_MAX);
        start = i + 1;
    }
    return ECOM_OK;
}

/* ---- status ---- */

static const char *const status_names[] = {"draft", "active", "archived"};

const char *ecom__status_name(int status)
{
    if (status < 0 || status > ECOM_STATUS_ARCHIVED)
        return NULL;
    return status_names[status];
}

int ecom__status_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i <= ECOM_STATUS_ARCHIVED; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the product ---- */

/* The two fields of a message about a duplicate: where, and where first. */
static int duplicate(char *msg, size_t msg_size, int code, const char *field, const char *value,
                     const char *first)
{
    char shown[QUOTE_MAX];
    ecom__quote(shown, sizeof shown, value, strlen(value));
    return ecom__msg(msg, msg_size, code, "%s: \"%s\" is given twice (first at %s)", field,
                     shown, first);
}

static void path_key(char *out, size_t size, const char *prefix, const char *key)
{
    char shown[QUOTE_MAX];
    ecom__quote(shown, sizeof shown, key, strlen(key));
    fmt_path(out, size, "%s.%s", prefix, shown);
}

/*
 * Field paths cost a printf each, and a valid product needs none, so each check
 * below runs first without a message (field NULL, msg NULL) and only on failure
 * builds the path and runs again to write the message: checks are pure.
 */

static int check_attribute_name(const ecom_product *p, size_t i, char *msg, size_t msg_size)
{
    const ecom__attribute *a = &p->attributes[i];
    char field[PATH_MAX_LEN];
    if (ecom__check_slug(a->name, ECOM__NAME_MAX, NULL, NULL, 0) != ECOM_OK) {
        fmt_path(field, sizeof field, "attributes[%zu]", i);
        return ecom__check_slug(a->name, ECOM__NAME_MAX, field, msg, msg_size);
    }
    for (size_t k = 0; k < i; k++) {
        if (strcmp(p->attributes[k].name, a->name) == 0) {
            char first[32];
            fmt_path(field, sizeof field, "attributes[%zu]", i);
            fmt_path(first, sizeof first, "attributes[%zu]", k);
            return duplicate(msg, msg_size, ECOM_EFIELD, field, a->name, first);
        }
    }
    return ECOM_OK;
}

static int check_attribute_value(const ecom__attribute *a, size_t j, char *msg, size_t msg_size)
{
    char prefix[PATH_MAX_LEN], field[PATH_MAX_LEN + 8];
    int rc = ecom__check_text(a->values[j], ECOM__VALUE_MAX, false, true, NULL, NULL, 0);
    size_t dup = j;
    for (size_t k = 0; rc == ECOM_OK && k < j && dup == j; k++)
        if (strcmp(a->values[k], a->values[j]) == 0)
            dup = k;
    if (rc == ECOM_OK && dup == j)
        return ECOM_OK;
    path_key(prefix, sizeof prefix, "attributes", a->name);
    fmt_path(field, sizeof field, "%s[%zu]", prefix, j);
    if (rc)
        return ecom__check_text(a->values[j], ECOM__VALUE_MAX, false, true, field, msg,
                                msg_size);
    char first[PATH_MAX_LEN + 8];
    fmt_path(first, sizeof first, "%s[%zu]", prefix, dup);
    return duplicate(msg, msg_size, ECOM_EFIELD, field, a->values[j], first);
}

static int check_attribute(const ecom_product *p, size_t i, char *msg, size_t msg_size)
{
    const ecom__attribute *a = &p->attributes[i];
    int rc = check_attribute_name(p, i, msg, msg_size);
    if (rc)
        return rc;
    if (a->value_count == 0 || a->value_count > ECOM__VALUES_MAX) {
        char field[PATH_MAX_LEN];
        path_key(field, sizeof field, "attributes", a->name);
        if (a->value_count == 0)
            return ecom__msg(msg, msg_size, ECOM_ELIMIT, "%s: no values (1..%d required)",
                             field, ECOM__VALUES_MAX);
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "%s: %zu values, more than %d", field,
                         a->value_count, ECOM__VALUES_MAX);
    }
    for (size_t j = 0; j < a->value_count; j++) {
        rc = check_attribute_value(a, j, msg, msg_size);
        if (rc)
            return rc;
    }
    return ECOM_OK;
}

static int check_option(const ecom__variant *var, size_t i, size_t v, char *msg,
                        size_t msg_size)
{
    const ecom__option *o = &var->options[i];
    char field[PATH_MAX_LEN], prefix[PATH_MAX_LEN];
    if (ecom__check_text(o->name, ECOM__NAME_MAX, false, true, NULL, NULL, 0) != ECOM_OK) {
        fmt_path(field, sizeof field, "variants[%zu].options[%zu]", v, i);
        return ecom__check_text(o->name, ECOM__NAME_MAX, false, true, field, msg, msg_size);
    }
    for (size_t k = 0; k < i; k++) {
        if (strcmp(var->options[k].name, o->name) == 0) {
            char first[PATH_MAX_LEN];
            fmt_path(field, sizeof field, "variants[%zu].options[%zu]", v, i);
            fmt_path(first, sizeof first, "variants[%zu].options[%zu]", v, k);
            return duplicate(msg, msg_size, ECOM_EFIELD, field, o->name, first);
        }
    }
    if (ecom__check_text(o->value, ECOM__VALUE_MAX, false, true, NULL, NULL, 0) == ECOM_OK)
        return ECOM_OK;
    fmt_path(prefix, sizeof prefix, "variants[%zu].options", v);
    path_key(field, sizeof field, prefix, o->name);
    return ecom__check_text(o->value, ECOM__VALUE_MAX, false, true, field, msg, msg_size);
}

static int check_price(const ecom__variant *var, size_t i, size_t v, char *msg,
                       size_t msg_size)
{
    const ecom__price *pr = &var->prices[i];
    bool known = ecom_currency_valid(pr->currency);
    size_t dup = i;
    for (size_t k = 0; known && k < i && dup == i; k++)
        if (strcmp(var->prices[k].currency, pr->currency) == 0)
            dup = k;
    if (known && dup == i && pr->amount >= 0 && pr->amount <= ECOM_PRICE_MAX)
        return ECOM_OK;
    char prefix[PATH_MAX_LEN], field[PATH_MAX_LEN];
    fmt_path(prefix, sizeof prefix, "variants[%zu].prices", v);
    path_key(field, sizeof field, prefix, pr->currency);
    if (!known)
        return ecom__msg(msg, msg_size, ECOM_ECURRENCY, "%s: not an ISO 4217 currency code",
                         field);
    if (dup != i) {
        char first[PATH_MAX_LEN];
        fmt_path(first, sizeof first, "%s[%zu]", prefix, dup);
        return duplicate(msg, msg_size, ECOM_EFIELD, field, pr->currency, first);
    }
    if (pr->amount < 0)
        return ecom__msg(msg, msg_size, ECOM_EPRICE, "%s: %lld is negative", field,
                         (long long)pr->amount);
    return ecom__msg(msg, msg_size, ECOM_EPRICE, "%s: %lld is more than %lld", field,
                     (long long)pr->amount, (long long)ECOM_PRICE_MAX);
}

static int check_sku(const ecom_product *p, size_t v, char *msg, size_t msg_size)
{
    const char *sku = p->variants[v].sku;
    char field[48];
    if (ecom__check_id(sku, NULL, NULL, 0) != ECOM_OK) {
        fmt_path(field, sizeof field, "variants[%zu].sku", v);
        return ecom__check_id(sku, field, msg, msg_size);
    }
    for (size_t k = 0; k < v; k++) {
        if (strcmp(p->variants[k].sku, sku) == 0) {
            char first[48];
            fmt_path(field, sizeof field, "variants[%zu].sku", v);
            fmt_path(first, sizeof first, "variants[%zu].sku", k);
            return duplicate(msg, msg_size, ECOM_EDUPSKU, field, sku, first);
        }
    }
    return ECOM_OK;
}

static int check_variant(const ecom_product *p, size_t v, char *msg, size_t msg_size)
{
    const ecom__variant *var = &p->variants[v];
    int rc = check_sku(p, v, msg, msg_size);
    if (rc)
        return rc;
    if (var->weight_g < 0 || var->weight_g > ECOM__WEIGHT_MAX)
        return ecom__msg(msg, msg_size, ECOM_EFIELD,
                         "variants[%zu].weight_g: %lld is outside 0..%lld", v,
                         (long long)var->weight_g, (long long)ECOM__WEIGHT_MAX);
    if (var->option_count > ECOM__OPTIONS_MAX)
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "variants[%zu].options: %zu, more than %d",
                         v, var->option_count, ECOM__OPTIONS_MAX);
    for (size_t i = 0; i < var->option_count; i++) {
        rc = check_option(var, i, v, msg, msg_size);
        if (rc)
            return rc;
    }
    if (var->price_count > ECOM__PRICES_MAX)
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "variants[%zu].prices: %zu, more than %d",
                         v, var->price_count, ECOM__PRICES_MAX);
    for (size_t i = 0; i < var->price_count; i++) {
        rc = check_price(var, i, v, msg, msg_size);
        if (rc)
            return rc;
    }
    return ECOM_OK;
}

static int check_texts(const ecom_product *p, char *msg, size_t msg_size)
{
    int rc = ecom__check_id(p->id, "id", msg, msg_size);
    if (rc == ECOM_OK)
        rc = ecom__check_text(p->title, ECOM__TITLE_MAX, false, true, "title", msg, msg_size);
    if (rc == ECOM_OK)
        rc = ecom__check_text(p->description, ECOM__DESCRIPTION_MAX, true, false,
                              "description", msg, msg_size);
    if (rc == ECOM_OK)
        rc = ecom__check_text(p->brand, ECOM__BRAND_MAX, false, false, "brand", msg, msg_size);
    if (rc == ECOM_OK)
        rc = ecom__check_category(p->category, "category", msg, msg_size);
    return rc;
}

int ecom_product_validate(const ecom_product *p, char *msg, size_t msg_size)
{
    if (p == NULL)
        return ecom__msg(msg, msg_size, ECOM_EINVAL, "product: NULL");
    int rc = check_texts(p, msg, msg_size);
    if (rc)
        return rc;
    if (ecom__status_name((int)p->status) == NULL)
        return ecom__msg(msg, msg_size, ECOM_ESTATUS,
                         "status: %d is not draft, active or archived", (int)p->status);
    if (p->attribute_count > ECOM__ATTRIBUTES_MAX)
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "attributes: %zu, more than %d",
                         p->attribute_count, ECOM__ATTRIBUTES_MAX);
    for (size_t i = 0; i < p->attribute_count; i++) {
        rc = check_attribute(p, i, msg, msg_size);
        if (rc)
            return rc;
    }
    if (p->variant_count == 0)
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "variants: none (1..%d required)",
                         ECOM__VARIANTS_MAX);
    if (p->variant_count > ECOM__VARIANTS_MAX)
        return ecom__msg(msg, msg_size, ECOM_ELIMIT, "variants: %zu, more than %d",
                         p->variant_count, ECOM__VARIANTS_MAX);
    for (size_t v = 0; v < p->variant_count; v++) {
        rc = check_variant(p, v, msg, msg_size);
        if (rc)
            return rc;
    }
    return ECOM_OK;
}
