/*
 * Fuzz target for the parsers of outside bytes: ecom_product_from_json, and
 * ecom__record_decode (records come from disk). Whatever parses must round-trip:
 * JSON -> product -> JSON -> product, and product -> record -> product, equal
 * each time; anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int known_errors[] = {ECOM_EJSON,     ECOM_EFIELD,    ECOM_EUTF8,  ECOM_ETOOLONG,
                                   ECOM_EBADID,    ECOM_EPRICE,    ECOM_ECURRENCY,
                                   ECOM_EDUPSKU,   ECOM_ELIMIT,    ECOM_ECATEGORY,
                                   ECOM_ESTATUS};

static void check_error(int rc, const char *msg)
{
    for (size_t i = 0; i < sizeof known_errors / sizeof known_errors[0]; i++)
        if (rc == known_errors[i] && msg[0] != '\0' && strlen(msg) < 256)
            return;
    abort();
}

/* product -> record -> product must give the same product. */
static void record_round_trip(const ecom_product *p)
{
    ecom__buf b = {0};
    if (ecom__record_encode(&b, p) != ECOM_OK)
        abort();
    ecom_product_rec rec = {0};
    rec.id = ecom_product_id(p);
    rec.data = b.data;
    rec.data_len = b.len;
    ecom_product *q = NULL;
    if (ecom__record_decode(&q, &rec, NULL) != ECOM_OK || !ecom__product_equal(p, q))
        abort();
    ecom_product_free(q);
    ecom__buf_free(&b);
}

static void json_round_trip(const ecom_product *p)
{
    char *text = NULL, *again = NULL;
    if (ecom_product_to_json(&text, p) != ECOM_OK)
        abort();
    ecom_product *q = NULL;
    char msg[256] = "";
    if (ecom_product_from_json(&q, text, strlen(text), msg, sizeof msg) != ECOM_OK)
        abort();
    if (!ecom__product_equal(p, q))
        abort();
    if (ecom_product_to_json(&again, q) != ECOM_OK || strcmp(text, again) != 0)
        abort();
    ecom_free(text);
    ecom_free(again);
    ecom_product_free(q);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    ecom_product *p = NULL;
    char msg[256] = "";
    int rc = ecom_product_from_json(&p, (const char *)data, size, msg, sizeof msg);
    if (rc != ECOM_OK) {
        if (p != NULL)
            abort();
        check_error(rc, msg);
        return;
    }
    if (ecom_product_validate(p, NULL, 0) != ECOM_OK)
        abort();
    json_round_trip(p);
    record_round_trip(p);
    ecom_product_free(p);
}

static void fuzz_record(const uint8_t *data, size_t size)
{
    ecom_product_rec rec = {0};
    rec.id = "fuzz";
    rec.data = data;
    rec.data_len = size;
    ecom_product *p = NULL;
    int rc = ecom__record_decode(&p, &rec, NULL);
    if (rc != ECOM_OK) {
        if (rc != ECOM_ECORRUPT || p != NULL)
            abort();
        return;
    }
    record_round_trip(p);
    /* Whatever a damaged record holds, validation judges it without crashing. */
    char msg[256];
    (void)ecom_product_validate(p, msg, sizeof msg);
    ecom_product_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_json(data, size);
    fuzz_record(data, size);
    return 0;
}
