/* Example: open a store, read one product, print its title and first price. */
#include <inttypes.h>
#include <stdio.h>

#include "ecom.h"

int main(int argc, char **argv)
{
    ecom_store *store = NULL;
    ecom_product *product = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: %s STORE_URI PRODUCT_ID\n", argv[0]);
        return 2;
    }
    int rc = ecom_store_open(&store, argv[1], NULL);
    if (rc == ECOM_OK)
        rc = ecom_catalog_get(&product, store, argv[2]);
    if (rc == ECOM_OK) {
        char currency[4] = "";
        /* Money is an integer count of minor units (cents), never a float. */
        int64_t amount = ecom_product_variant_price_at(product, 0, 0, currency);
        printf("%s: %" PRId64 " %s (minor units)\n", ecom_product_title(product), amount,
               currency);
    } else {
        fprintf(stderr, "error: %s\n", ecom_errmsg(store));
    }
    ecom_product_free(product);
    ecom_store_close(store);
    return rc == ECOM_OK ? 0 : 1;
}
