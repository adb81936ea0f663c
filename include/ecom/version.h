/* libecom's version, in one place. */
#ifndef ECOM_VERSION_H
#define ECOM_VERSION_H

#define ECOM_VERSION_MAJOR 0
#define ECOM_VERSION_MINOR 1
#define ECOM_VERSION_PATCH 0
#define ECOM_VERSION_STRING "0.1.0"
/* One comparable number: 0xMMmmpp. */
#define ECOM_VERSION_NUMBER \
    ((ECOM_VERSION_MAJOR << 16) | (ECOM_VERSION_MINOR << 8) | ECOM_VERSION_PATCH)

#endif
