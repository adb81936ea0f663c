/* The LMDB backend's one entry point: the factory the core lists for "lmdb:" URIs. */
#ifndef ECOM_LMDB_BACKEND_H
#define ECOM_LMDB_BACKEND_H

#include "ecom_backend.h"

/* Opens lmdb:///abs/dir, lmdb:/abs/dir or lmdb:relative/dir. */
extern const ecom_backend_factory ecom__lmdb_factory;

#endif /* ECOM_LMDB_BACKEND_H */
