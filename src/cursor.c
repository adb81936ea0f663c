/* Page cursors: a letter naming the kind of listing, then the hex of a backend key. */
#include <string.h>

#include "internal.h"

static const char hex_digits[] = "0123456789abcdef";

char *ecom__cursor_encode(char kind, const ecom__buf *key)
{
    char *s = ecom__malloc(2 + key->len * 2);
    if (s == NULL)
        return NULL;
    s[0] = kind;
    for (size_t i = 0; i < key->len; i++) {
        unsigned char c = (unsigned char)key->data[i];
        s[1 + 2 * i] = hex_digits[c >> 4];
        s[2 + 2 * i] = hex_digits[c & 15];
    }
    s[1 + key->len * 2] = '\0';
    return s;
}

static int hex_value(char c)
{
    const char *p = c ? strchr(hex_digits, c) : NULL;
    return p ? (int)(p - hex_digits) : -1;
}

int ecom__cursor_decode(ecom__buf *out, const char *cursor, char kind, size_t key_max)
{
    size_t len = strlen(cursor);
    if (len < 3 || len % 2 == 0 || cursor[0] != kind || (len - 1) / 2 > key_max)
        return ECOM_EINVAL;
    for (size_t i = 1; i < len; i += 2) {
        int hi = hex_value(cursor[i]), lo = hex_value(cursor[i + 1]);
        if (hi < 0 || lo < 0)
            return ECOM_EINVAL;
        int rc = ecom__buf_putc(out, (char)(hi << 4 | lo));
        if (rc != ECOM_OK)
            return rc;
    }
    return ECOM_OK;
}
