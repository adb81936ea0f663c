/*
 * Writing JSON with cJSON where only node allocations can fail (keys are literals
 * added without a copy): the first failure clears ok, and every later add only frees
 * its node, so a writer adds everything and checks ok once at the end.
 */
#ifndef ECOM_JSON_BUILD_H
#define ECOM_JSON_BUILD_H

#include <stdbool.h>

#include <cJSON.h>

typedef struct ecom__jb {
    bool ok;
} ecom__jb;

/* Adds item to parent under key (an object) or at the end (key NULL, an array);
 * returns item, or NULL if item or parent is NULL (a failure already counted). */
cJSON *ecom__jb_add(ecom__jb *b, cJSON *parent, const char *key, cJSON *item);

#endif
