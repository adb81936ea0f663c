/*
 * ISO 4217: the table of active alphabetic currency codes and the lookup.
 *
 * List one of ISO 4217 as of the 2024/2025 amendments, funds codes (BOV, CHE,
 * CHW, CLF, COU, MXV, USN, UYI, UYW) and the X-codes of metals and bond units
 * included, since ISO lists them as currencies. Left out: XTS (reserved for
 * testing) and XXX ("no currency"), which no price can be in. Codes in a
 * transition (ANG/XCG, SLL/SLE, ZWL/ZWG) are kept on both sides so that stored
 * prices stay valid. Withdrawn codes (HRK, ...) are not accepted.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Sorted, so that bsearch finds a code in 8 comparisons. */
static const char currencies[][4] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
    "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP",
    "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU",
    "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
    "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG",
    "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
};

static int compare_code(const void *key, const void *elem)
{
    return memcmp(key, elem, 3);
}

int ecom_currency_valid(const char *code)
{
    if (code == NULL || strlen(code) != 3)
        return 0;
    size_t n = sizeof currencies / sizeof currencies[0];
    return bsearch(code, currencies, n, sizeof currencies[0], compare_code) != NULL;
}

/*
 * Digits after the decimal point (ISO 4217's minor unit). Codes ISO gives no minor
 * unit (metals, bond units, XDR, XSU, XUA) count as 2, like every code not listed.
 */
int ecom__currency_digits(const char *code)
{
    static const char zero[][4] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                                   "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"};
    static const char three[][4] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
    static const char four[][4] = {"CLF", "UYW"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (memcmp(code, zero[i], 4) == 0)
            return 0;
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++)
        if (memcmp(code, three[i], 4) == 0)
            return 3;
    for (size_t i = 0; i < sizeof four / sizeof four[0]; i++)
        if (memcmp(code, four[i], 4) == 0)
            return 4;
    return 2;
}
