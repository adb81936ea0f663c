/* Writing JSON with cJSON: see json_build.h. */
#include "json_build.h"

cJSON *ecom__jb_add(ecom__jb *b, cJSON *parent, const char *key, cJSON *item)
{
    if (item == NULL) {
        b->ok = false;
        return NULL;
    }
    if (parent == NULL) {
        cJSON_Delete(item);
        return NULL;
    }
    if (key)
        cJSON_AddItemToObjectCS(parent, key, item);
    else
        cJSON_AddItemToArray(parent, item);
    return item;
}
