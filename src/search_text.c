/*
 * Text analysis for search: UTF-8 text into folded tokens, the same folding for
 * whole strings, English stemming (Snowball's, through libstemmer), and the
 * one-typo variants of a token.
 *
 * Folding is for matching, not Unicode normalization:
 *   - lower case; accents and other diacritics removed, precomposed (é) or as
 *     combining marks (e + U+0301); some letters spelled out: ß ss, æ ae, œ oe,
 *     þ th, ĳ ij, ǆ dz, ﬁ fi; đ ð d, ł l, ø o. Greek loses tonos and dialytika and
 *     final sigma is σ; Cyrillic ё and ѐ are е, ѝ is и (й, ї, ў stay letters of
 *     their own, as their languages treat them); Arabic alef forms are alef, ة is
 *     ه, ى is ي, and harakat and tatweel go.
 *   - digits of other scripts (Arabic-Indic, Devanagari, Thai, fullwidth, ...) are
 *     ASCII digits; fullwidth Latin letters are ASCII letters; ¹ ² ³ are 1 2 3.
 *   - letters with no Latin base (CJK, kana, Hangul, Hebrew, Arabic, Indic, Thai,
 *     ...) are kept as they are. Code points the tables do not name as letters or
 *     digits (punctuation, symbols, emoji, scripts not listed) separate words.
 *   - an apostrophe (' U+2019 U+02BC) between two letters is dropped: "women's"
 *     is "womens". Soft hyphens, zero-width joiners, direction marks and
 *     variation selectors are dropped without separating (a zero-width space
 *     separates).
 *   - kana voicing marks are not accents: が stays が.
 * Chinese and Japanese run words together, and Korean glues particles to them, so a
 * run of han, kana or hangul gives its overlapping pairs of characters, as search
 * engines do with such text: 無線耳機 is 無線 線耳 耳機. A query finds a run by its
 * pairs; the index also gets each character, so a one-character query finds it.
 * Invalid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, truncated sequences,
 * stray continuation bytes) separates, one byte at a time.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libstemmer.h>

#include "internal.h"
#include "search.h"

/* What one code point is to a tokenizer. */
enum {
    K_SEP,    /* separates words */
    K_IGNORE, /* dropped without separating */
    K_APOS,   /* joins two letters, else separates */
    K_SLASH,  /* '/': separates tokens; kept by ecom__text_fold for category paths */
    K_LETTER, /* from here on: part of a word, with folded bytes */
    K_DIGIT,
    K_PAIRED, /* a character of a script written without spaces (han, kana, hangul) */
    K_JOINS,  /* a kana voicing mark: part of the character before it */
};

/* The most bytes one code point folds to (a code point in UTF-8, or "ffi"). */
#define FOLD_MAX 4

/* ASCII: the folded letter or digit, ' ' for anything else. */
static const char ascii_fold[129] = "                "
                                    "                "
                                    "                "
                                    "0123456789      "
                                    " abcdefghijklmno"
                                    "pqrstuvwxyz     "
                                    " abcdefghijklmno"
                                    "pqrstuvwxyz     ";

/*
 * Tables of one mark per code point, 16 to a row:
 *   a-z  the folded letter: itself in Latin tables; in Greek tables the Greek
 *        lower-case letter at that offset from α (a α, b β, ..., s σ, ..., y ω)
 *   A-Z  two Latin letters (digraphs below)
 *   =    a letter kept as it is
 *   ^    a capital whose lower case is the next code point
 *   .    not a letter: separates
 */
static const char digraphs[26][3] = {
    ['A' - 'A'] = "ae", ['B' - 'A'] = "db", ['D' - 'A'] = "dz", ['H' - 'A'] = "hv",
    ['I' - 'A'] = "ij", ['L' - 'A'] = "lj", ['N' - 'A'] = "nj", ['O' - 'A'] = "oe",
    ['Q' - 'A'] = "qp", ['S' - 'A'] = "ss", ['T' - 'A'] = "th", ['U' - 'A'] = "ou",
    ['W' - 'A'] = "ll",
};

/* U+00C0..U+02AF: Latin-1 letters, Latin Extended-A and B, IPA. Letters without
 * an accent-free base fold to the nearest Latin letter when one of the pair is
 * used in an orthography (Ɓ ɓ b, Ɛ ɛ e, Ɔ ɔ o, Ʒ ʒ z). */
#define LATIN_FIRST 0xC0
#define LATIN_END 0x2B0
static const char latin[LATIN_END - LATIN_FIRST + 1] =
    "aaaaaaAceeeeiiii" /* 00C0 */
    "dnooooo.ouuuuyTS" /* 00D0 */
    "aaaaaaAceeeeiiii" /* 00E0 */
    "dnooooo.ouuuuyTy" /* 00F0 */
    "aaaaaaccccccccdd" /* 0100 */
    "ddeeeeeeeeeegggg" /* 0110 */
    "gggghhhhiiiiiiii" /* 0120 */
    "iiIIjjkkklllllll" /* 0130 */
    "lllnnnnnnnnnoooo" /* 0140 */
    "ooOOrrrrrrssssss" /* 0150 */
    "ssttttttuuuuuuuu" /* 0160 */
    "uuuuwwyyyzzzzzzs" /* 0170 */
    "bbbb^=occdddd=ee" /* 0180 */
    "effggHiikkl=mnno" /* 0190 */
    "oo^=ppr^=s=ttttu" /* 01A0 */
    "uuvyyzzz^=z=^==w" /* 01B0 */
    "....DDDLLLNNNaai" /* 01C0: the clicks ǀ ǁ ǂ ǃ pass for punctuation */
    "ioouuuuuuuuuueaa" /* 01D0 */
    "aaAAggggkkoooozz" /* 01E0 */
    "jDDDggHwnnaaAAoo" /* 01F0 */
    "aaaaeeeeiiiioooo" /* 0200 */
    "rrrruuuusstt^=hh" /* 0210 */
    "ndUUzzaaeeoooooo" /* 0220 */
    "ooyylntjBQacclts" /* 0230 */
    "z^=buveejjqqrryy" /* 0240 */
    "aaabocddeeeeeeej" /* 0250 */
    "gggg=hhhiiilll=m" /* 0260 */
    "mmnnnoO==rrrrrrr" /* 0270 */
    "rrssj=sttuuvvwyy" /* 0280 */
    "zzzz===c=beghjkl" /* 0290 */
    "q===============" /* 02A0 */;

/* U+1E00..U+1EFF: Latin Extended Additional (Vietnamese among others). */
static const char latin_additional[256 + 1] = "aabbbbbbccdddddd" /* 1E00 */
                                              "ddddeeeeeeeeeeff" /* 1E10 */
                                              "gghhhhhhhhhhiiii" /* 1E20 */
                                              "kkkkkkllllllllmm" /* 1E30 */
                                              "mmmmnnnnnnnnoooo" /* 1E40 */
                                              "oooopppprrrrrrrr" /* 1E50 */
                                              "sssssssssstttttt" /* 1E60 */
                                              "ttuuuuuuuuuuvvvv" /* 1E70 */
                                              "wwwwwwwwwwxxxxyy" /* 1E80 */
                                              "zzzzzzhtwyasssS=" /* 1E90 */
                                              "aaaaaaaaaaaaaaaa" /* 1EA0 */
                                              "aaaaaaaaeeeeeeee" /* 1EB0 */
                                              "eeeeeeeeiiiioooo" /* 1EC0 */
                                              "oooooooooooooooo" /* 1ED0 */
                                              "oooouuuuuuuuuuuu" /* 1EE0 */
                                              "uuyyyyyyyyWWvvyy" /* 1EF0 */;

/* U+0370..U+03FF: Greek and Coptic (Greek-table marks). */
static const char greek[144 + 1] = "^=^=..^=...===.=" /* 0370 */
                                   "......a.egi.o.uy" /* 0380 */
                                   "iabcdefghijklmno" /* 0390 */
                                   "pq.stuvwxyiuaegi" /* 03A0 */
                                   "uabcdefghijklmno" /* 03B0 */
                                   "pqsstuvwxyiuouy=" /* 03C0 */
                                   "bhuuuvp=^=^=^=^=" /* 03D0 */
                                   "^=^=^=^=^=^=^=^=" /* 03E0 */
                                   "jqs=he.^=s^=q===" /* 03F0 */;

/* U+1F00..U+1FFF: polytonic Greek, to the bare letter. */
static const char greek_extended[256 + 1] = "aaaaaaaaaaaaaaaa" /* 1F00 */
                                            "eeeeee..eeeeee.." /* 1F10 */
                                            "gggggggggggggggg" /* 1F20 */
                                            "iiiiiiiiiiiiiiii" /* 1F30 */
                                            "oooooo..oooooo.." /* 1F40 */
                                            "uuuuuuuu.u.u.u.u" /* 1F50 */
                                            "yyyyyyyyyyyyyyyy" /* 1F60 */
                                            "aaeeggiioouuyy.." /* 1F70 */
                                            "aaaaaaaaaaaaaaaa" /* 1F80 */
                                            "gggggggggggggggg" /* 1F90 */
                                            "yyyyyyyyyyyyyyyy" /* 1FA0 */
                                            "aaaaa.aaaaaaa.i." /* 1FB0 */
                                            "..ggg.ggeeggg..." /* 1FC0 */
                                            "iiii..iiiiii...." /* 1FD0 */
                                            "uuuuqquuuuuuq..." /* 1FE0 */
                                            "..yyy.yyooyyy..." /* 1FF0 */;

/* The rest, by ranges (sorted, disjoint); what none names separates. */
enum { R_KEEP, R_IGNORE, R_DIGIT, R_SHIFT, R_PAIR, R_FULLWIDTH, R_LIGATURE, R_PAIRED, R_JOINS };
typedef struct {
    uint32_t lo, hi;
    uint8_t kind;
    int32_t arg; /* R_DIGIT: the zero; R_SHIFT: added to the code point */
} text_range;

static const text_range ranges[] = {
    {0x0531, 0x0556, R_SHIFT, 0x30}, /* Armenian capitals */
    {0x0559, 0x0559, R_KEEP, 0},
    {0x0560, 0x0588, R_KEEP, 0},
    {0x0591, 0x05BD, R_IGNORE, 0}, /* Hebrew points and accents */
    {0x05BF, 0x05BF, R_IGNORE, 0},
    {0x05C1, 0x05C2, R_IGNORE, 0},
    {0x05C4, 0x05C5, R_IGNORE, 0},
    {0x05C7, 0x05C7, R_IGNORE, 0},
    {0x05D0, 0x05EA, R_KEEP, 0},
    {0x05EF, 0x05F2, R_KEEP, 0},
    {0x0610, 0x061A, R_IGNORE, 0}, /* Arabic marks */
    {0x061C, 0x061C, R_IGNORE, 0},
    {0x0620, 0x063F, R_KEEP, 0},
    {0x0640, 0x0640, R_IGNORE, 0}, /* tatweel only stretches a word */
    {0x0641, 0x064A, R_KEEP, 0},
    {0x064B, 0x065F, R_IGNORE, 0}, /* harakat */
    {0x0660, 0x0669, R_DIGIT, 0x0660},
    {0x066E, 0x066F, R_KEEP, 0},
    {0x0670, 0x0670, R_IGNORE, 0},
    {0x0671, 0x06D3, R_KEEP, 0},
    {0x06D5, 0x06D5, R_KEEP, 0},
    {0x06D6, 0x06DC, R_IGNORE, 0},
    {0x06DF, 0x06E8, R_IGNORE, 0},
    {0x06EA, 0x06ED, R_IGNORE, 0},
    {0x06EE, 0x06EF, R_KEEP, 0},
    {0x06F0, 0x06F9, R_DIGIT, 0x06F0},
    {0x06FA, 0x06FC, R_KEEP, 0},
    {0x06FF, 0x06FF, R_KEEP, 0},
    {0x0710, 0x074F, R_KEEP, 0}, /* Syriac */
    {0x0780, 0x07B1, R_KEEP, 0}, /* Thaana */
    /* U+0900..U+0DFF, the Indic blocks: indic() */
    {0x0E01, 0x0E3A, R_KEEP, 0}, /* Thai */
    {0x0E40, 0x0E4E, R_KEEP, 0},
    {0x0E50, 0x0E59, R_DIGIT, 0x0E50},
    {0x0E81, 0x0ECE, R_KEEP, 0}, /* Lao */
    {0x0ED0, 0x0ED9, R_DIGIT, 0x0ED0},
    {0x0EDC, 0x0EDF, R_KEEP, 0},
    {0x0F00, 0x0F00, R_KEEP, 0}, /* Tibetan */
    {0x0F20, 0x0F29, R_DIGIT, 0x0F20},
    {0x0F40, 0x0FBC, R_KEEP, 0},
    {0x1000, 0x103F, R_KEEP, 0}, /* Myanmar */
    {0x1040, 0x1049, R_DIGIT, 0x1040},
    {0x1050, 0x108F, R_KEEP, 0},
    {0x1090, 0x1099, R_DIGIT, 0x1090},
    {0x109A, 0x109D, R_KEEP, 0},
    {0x10A0, 0x10C5, R_SHIFT, 0x1C60}, /* Georgian Asomtavruli to Nuskhuri */
    {0x10C7, 0x10C7, R_SHIFT, 0x1C60},
    {0x10CD, 0x10CD, R_SHIFT, 0x1C60},
    {0x10D0, 0x10FA, R_KEEP, 0},
    {0x10FC, 0x10FF, R_KEEP, 0},
    {0x1100, 0x11FF, R_KEEP, 0}, /* Hangul Jamo */
    {0x1200, 0x135A, R_KEEP, 0}, /* Ethiopic */
    {0x135D, 0x135F, R_IGNORE, 0},
    {0x1369, 0x137C, R_KEEP, 0},
    {0x1380, 0x138F, R_KEEP, 0},
    {0x13A0, 0x13F5, R_KEEP, 0},       /* Cherokee: capitals are its case-folded form */
    {0x13F8, 0x13FD, R_SHIFT, -0x8},
    {0x1401, 0x166C, R_KEEP, 0},       /* Canadian syllabics */
    {0x166F, 0x167F, R_KEEP, 0},
    {0x1780, 0x17D3, R_KEEP, 0},       /* Khmer */
    {0x17D7, 0x17D7, R_KEEP, 0},
    {0x17DC, 0x17DD, R_KEEP, 0},
    {0x17E0, 0x17E9, R_DIGIT, 0x17E0},
    {0x180B, 0x180F, R_IGNORE, 0},     /* Mongolian */
    {0x1810, 0x1819, R_DIGIT, 0x1810},
    {0x1820, 0x1878, R_KEEP, 0},
    {0x1880, 0x18AA, R_KEEP, 0},
    {0x1AB0, 0x1AFF, R_IGNORE, 0},     /* combining marks */
    {0x1C90, 0x1CBA, R_SHIFT, -0xBC0}, /* Georgian Mtavruli to Mkhedruli */
    {0x1CBD, 0x1CBF, R_SHIFT, -0xBC0},
    {0x1DC0, 0x1DFF, R_IGNORE, 0},     /* combining marks */
    /* U+1E00..U+1FFF: latin_additional, greek_extended */
    {0x200C, 0x200F, R_IGNORE, 0},     /* zero-width (non-)joiner, direction marks */
    {0x202A, 0x202E, R_IGNORE, 0},     /* bidirectional embeddings */
    {0x2060, 0x206F, R_IGNORE, 0},     /* word joiner, invisible operators, isolates */
    {0x20D0, 0x20FF, R_IGNORE, 0},     /* combining marks */
    {0x2C00, 0x2C2F, R_SHIFT, 0x30},   /* Glagolitic */
    {0x2C30, 0x2C5F, R_KEEP, 0},
    {0x2C60, 0x2C7F, R_KEEP, 0},       /* Latin Extended-C */
    {0x2C80, 0x2CE3, R_PAIR, 0},       /* Coptic */
    {0x2CE4, 0x2CE4, R_KEEP, 0},
    {0x2CEB, 0x2CEE, R_KEEP, 0},
    {0x2CEF, 0x2CF1, R_IGNORE, 0},
    {0x2CF2, 0x2CF3, R_PAIR, 0},
    {0x2D00, 0x2D25, R_KEEP, 0},       /* Georgian Nuskhuri */
    {0x2D27, 0x2D27, R_KEEP, 0},
    {0x2D2D, 0x2D2D, R_KEEP, 0},
    {0x2D30, 0x2D67, R_KEEP, 0},       /* Tifinagh */
    {0x2D6F, 0x2D6F, R_KEEP, 0},
    {0x2D80, 0x2DDE, R_KEEP, 0},       /* Ethiopic Extended */
    {0x2DE0, 0x2DFF, R_IGNORE, 0},     /* combining Cyrillic */
    {0x3005, 0x3007, R_PAIRED, 0},     /* 々 〆 〇 */
    {0x302A, 0x302F, R_IGNORE, 0},
    {0x3031, 0x3035, R_PAIRED, 0},     /* kana repeat marks */
    {0x303B, 0x303C, R_PAIRED, 0},
    {0x3041, 0x3096, R_PAIRED, 0},     /* Hiragana */
    {0x3099, 0x309A, R_JOINS, 0},      /* (semi-)voiced sound marks change the kana */
    {0x309D, 0x309F, R_PAIRED, 0},
    {0x30A1, 0x30FA, R_PAIRED, 0},     /* Katakana; ・ U+30FB separates */
    {0x30FC, 0x30FF, R_PAIRED, 0},
    {0x3105, 0x312F, R_KEEP, 0},       /* Bopomofo */
    {0x3131, 0x318E, R_KEEP, 0},       /* Hangul compatibility jamo */
    {0x31A0, 0x31BF, R_KEEP, 0},
    {0x31F0, 0x31FF, R_PAIRED, 0},
    {0x3400, 0x4DBF, R_PAIRED, 0},     /* CJK ideographs, extension A */
    {0x4E00, 0x9FFF, R_PAIRED, 0},     /* CJK ideographs */
    {0xA000, 0xA48C, R_KEEP, 0},       /* Yi */
    {0xA640, 0xA66D, R_PAIR, 0},       /* Cyrillic Extended-B */
    {0xA66E, 0xA66E, R_KEEP, 0},
    {0xA66F, 0xA672, R_IGNORE, 0},
    {0xA674, 0xA67D, R_IGNORE, 0},
    {0xA67F, 0xA67F, R_KEEP, 0},
    {0xA680, 0xA69B, R_PAIR, 0},
    {0xA69C, 0xA69D, R_KEEP, 0},
    {0xA69E, 0xA69F, R_IGNORE, 0},
    {0xA722, 0xA72F, R_PAIR, 0},       /* Latin Extended-D */
    {0xA730, 0xA731, R_KEEP, 0},
    {0xA732, 0xA76F, R_PAIR, 0},
    {0xA770, 0xA7FF, R_KEEP, 0},
    {0xA960, 0xA97C, R_KEEP, 0},       /* Hangul Jamo Extended-A */
    {0xAB70, 0xABBF, R_SHIFT, -0x97D0}, /* Cherokee small letters */
    {0xAC00, 0xD7A3, R_PAIRED, 0},     /* Hangul syllables */
    {0xD7B0, 0xD7FB, R_KEEP, 0},
    {0xF900, 0xFAFF, R_PAIRED, 0},     /* CJK compatibility ideographs */
    {0xFB00, 0xFB06, R_LIGATURE, 0},   /* ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ */
    {0xFB13, 0xFB17, R_KEEP, 0},
    {0xFB1D, 0xFB4F, R_KEEP, 0},       /* Hebrew presentation forms */
    {0xFB50, 0xFBB1, R_KEEP, 0},       /* Arabic presentation forms */
    {0xFBD3, 0xFD3D, R_KEEP, 0},
    {0xFD50, 0xFDC7, R_KEEP, 0},
    {0xFDF0, 0xFDFB, R_KEEP, 0},
    {0xFE00, 0xFE0F, R_IGNORE, 0},     /* variation selectors */
    {0xFE20, 0xFE2F, R_IGNORE, 0},     /* combining half marks */
    {0xFE70, 0xFEFC, R_KEEP, 0},
    {0xFEFF, 0xFEFF, R_IGNORE, 0},     /* byte order mark */
    {0xFF10, 0xFF19, R_FULLWIDTH, 0},
    {0xFF21, 0xFF3A, R_FULLWIDTH, 0},
    {0xFF41, 0xFF5A, R_FULLWIDTH, 0},
    {0xFF66, 0xFF9F, R_PAIRED, 0},     /* halfwidth Katakana */
    {0xFFA0, 0xFFDC, R_KEEP, 0},       /* halfwidth Hangul */
    {0x10400, 0x10427, R_SHIFT, 0x28}, /* Deseret */
    {0x10428, 0x1044F, R_KEEP, 0},
    {0x20000, 0x323AF, R_PAIRED, 0},   /* CJK ideographs, extensions B to H */
    {0xE0000, 0xE007F, R_IGNORE, 0},   /* tags */
    {0xE0100, 0xE01EF, R_IGNORE, 0},   /* variation selectors */
};

static const char ligatures[7][4] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};

/* ---- UTF-8 ---- */

/* The code point at s (avail bytes), and its length; 0 for invalid UTF-8. */
static inline size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        *cp = (uint32_t)(c & 0x1F) << 6 | (uint32_t)(s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0; /* overlong, or a surrogate */
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
              (uint32_t)(s[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
            return 0; /* overlong, or beyond U+10FFFF */
        *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (uint32_t)(s[3] & 0x3F);
        return 4;
    }
    return 0; /* C0, C1, F5..FF, or a continuation byte */
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The length of s cut to at most max bytes without splitting a character. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

/* ---- folding one code point ---- */

static int letter(char *out, size_t *n, uint32_t cp)
{
    *n = utf8_put(out, cp);
    return K_LETTER;
}

static int digit(char *out, size_t *n, uint32_t value)
{
    out[0] = (char)('0' + value);
    *n = 1;
    return K_DIGIT;
}

/* A mark of the tables above; greek_base is α for the Greek tables, 0 for Latin. */
static int marked(char m, uint32_t cp, uint32_t greek_base, char *out, size_t *n)
{
    if (m >= 'a' && m <= 'z') {
        if (greek_base)
            return letter(out, n, greek_base + (uint32_t)(m - 'a'));
        out[0] = m;
        *n = 1;
        return K_LETTER;
    }
    if (m >= 'A' && m <= 'Z') {
        memcpy(out, digraphs[m - 'A'], 2);
        *n = 2;
        return K_LETTER;
    }
    if (m == '=')
        return letter(out, n, cp);
    if (m == '^')
        return letter(out, n, cp + 1);
    return K_SEP;
}

/* U+0080..U+00BF: a few letters and digits among the signs. */
static int latin1_signs(uint32_t cp, char *out, size_t *n)
{
    switch (cp) {
    case 0xAA: /* ª */
        return marked('a', cp, 0, out, n);
    case 0xBA: /* º */
        return marked('o', cp, 0, out, n);
    case 0xB5: /* micro sign */
        return letter(out, n, 0x3BC);
    case 0xB9:
        return digit(out, n, 1);
    case 0xB2:
    case 0xB3:
        return digit(out, n, cp - 0xB0);
    case 0xAD: /* soft hyphen */
        return K_IGNORE;
    default:
        return K_SEP;
    }
}

/* U+0400..U+052F. */
static int cyrillic(uint32_t cp, char *out, size_t *n)
{
    if (cp == 0x482)
        return K_SEP; /* thousands sign */
    if (cp >= 0x483 && cp <= 0x489)
        return K_IGNORE; /* combining titlo and friends */
    if (cp < 0x410)
        cp += 0x50; /* Ѐ..Џ */
    else if (cp < 0x430)
        cp += 0x20; /* А..Я */
    else if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) || cp >= 0x4D0)
        cp |= 1; /* pairs, capital first */
    else if (cp == 0x4C0)
        cp = 0x4CF; /* palochka */
    else if (cp >= 0x4C1 && cp <= 0x4CE)
        cp += cp & 1; /* pairs, capital second */
    if (cp == 0x450 || cp == 0x451)
        cp = 0x435; /* ѐ ё: е */
    else if (cp == 0x45D)
        cp = 0x438; /* ѝ: и */
    return letter(out, n, cp);
}

/* Arabic letters as Arabic search usually normalizes them: alef with hamza or
 * madda is alef, teh marbuta is heh, alef maksura is yeh. */
static uint32_t arabic_base(uint32_t cp)
{
    switch (cp) {
    case 0x622:
    case 0x623:
    case 0x625:
    case 0x671:
        return 0x627;
    case 0x629:
        return 0x647;
    case 0x649:
        return 0x64A;
    default:
        return cp;
    }
}

/* U+0900..U+0DFF: Devanagari to Sinhala, whose digits all sit at 0x66 of a block. */
static int indic(uint32_t cp, char *out, size_t *n)
{
    if (cp == 0x964 || cp == 0x965)
        return K_SEP; /* danda, double danda */
    uint32_t low = cp & 0x7F;
    if (low >= 0x66 && low <= 0x6F)
        return digit(out, n, low - 0x66);
    return letter(out, n, cp);
}

static int ranged(uint32_t cp, char *out, size_t *n)
{
    size_t lo = 0, hi = sizeof ranges / sizeof ranges[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp > ranges[mid].hi)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == sizeof ranges / sizeof ranges[0] || cp < ranges[lo].lo)
        return K_SEP;
    const text_range *r = &ranges[lo];
    switch (r->kind) {
    case R_KEEP:
        return letter(out, n, cp);
    case R_PAIRED:
    case R_JOINS:
        *n = utf8_put(out, cp);
        return r->kind == R_PAIRED ? K_PAIRED : K_JOINS;
    case R_IGNORE:
        return K_IGNORE;
    case R_DIGIT:
        return digit(out, n, cp - (uint32_t)r->arg);
    case R_SHIFT:
        return letter(out, n, cp + (uint32_t)r->arg);
    case R_PAIR:
        return letter(out, n, cp | 1);
    case R_FULLWIDTH: {
        char c = ascii_fold[cp - 0xFEE0];
        out[0] = c;
        *n = 1;
        return c <= '9' ? K_DIGIT : K_LETTER;
    }
    default: { /* R_LIGATURE */
        const char *l = ligatures[cp - 0xFB00];
        *n = strlen(l);
        memcpy(out, l, *n);
        return K_LETTER;
    }
    }
}

/* What code point cp (>= 0x80) is, and its folded bytes in out (*n of them). */
static int fold_cp(uint32_t cp, char *out, size_t *n)
{
    if (cp < LATIN_FIRST)
        return latin1_signs(cp, out, n);
    if (cp < LATIN_END)
        return marked(latin[cp - LATIN_FIRST], cp, 0, out, n);
    if (cp < 0x370) /* modifier letters and combining diacritics */
        return cp == 0x2BC ? K_APOS : K_IGNORE;
    if (cp < 0x400)
        return marked(greek[cp - 0x370], cp, 0x3B1, out, n);
    if (cp < 0x530)
        return cyrillic(cp, out, n);
    if (cp >= 0x622 && cp <= 0x671 && arabic_base(cp) != cp)
        return letter(out, n, arabic_base(cp));
    if (cp >= 0x900 && cp < 0xE00)
        return indic(cp, out, n);
    if (cp >= 0x1E00 && cp < 0x1F00)
        return marked(latin_additional[cp - 0x1E00], cp, 0, out, n);
    if (cp >= 0x1F00 && cp < 0x2000)
        return marked(greek_extended[cp - 0x1F00], cp, 0x3B1, out, n);
    if (cp == 0x2019)
        return K_APOS;
    return ranged(cp, out, n);
}

/* Reads the character at *pos and moves past it: its kind, and for letters and
 * digits its folded bytes. Invalid UTF-8 is one separating byte. */
static inline int next_char(const unsigned char *s, size_t len, size_t *pos, char *out,
                            size_t *n)
{
    size_t i = *pos;
    unsigned char c = s[i];
    if (c < 0x80) {
        *pos = i + 1;
        char f = ascii_fold[c];
        if (f != ' ') {
            out[0] = f;
            *n = 1;
            return c <= '9' ? K_DIGIT : K_LETTER;
        }
        return c == '\'' ? K_APOS : c == '/' ? K_SLASH : K_SEP;
    }
    uint32_t cp = 0;
    size_t used = utf8_decode(s + i, len - i, &cp);
    if (used == 0) {
        *pos = i + 1;
        return K_SEP;
    }
    *pos = i + used;
    return fold_cp(cp, out, n);
}

/* Does a letter follow at pos (for an apostrophe inside a word)? */
static bool letter_at(const unsigned char *s, size_t len, size_t pos)
{
    char f[FOLD_MAX];
    size_t n = 0;
    return pos < len && next_char(s, len, &pos, f, &n) == K_LETTER;
}

/* ---- tokens and folded strings ---- */

/* One character of a paired run and the voicing marks that join it (cut beyond). */
#define UNIT_MAX 16

/* A run of han, kana or hangul being cut into pairs. A pair is given once the
 * character after it starts, since a voicing mark may still join its second. */
typedef struct paired_run {
    char unit[2][UNIT_MAX]; /* the character before the last, and the last */
    size_t len[2];
    int units;              /* how many of the two are held: 0, 1 or 2 */
    size_t count;           /* characters in the run */
} paired_run;

typedef struct token_walk {
    ecom__token_fn fn;
    void *ctx;
    int flags;
    uint32_t position;
    paired_run run;
} token_walk;

static int give(token_walk *w, const char *tok, size_t len)
{
    return w->fn(w->ctx, tok, len, w->position++);
}

/* The pair the two held characters make. */
static int give_pair(token_walk *w)
{
    char tok[2 * UNIT_MAX];
    paired_run *r = &w->run;
    memcpy(tok, r->unit[0], r->len[0]);
    memcpy(tok + r->len[0], r->unit[1], r->len[1]);
    return give(w, tok, r->len[0] + r->len[1]);
}

/* The last character held, alone. */
static int give_last(token_walk *w)
{
    paired_run *r = &w->run;
    return give(w, r->unit[r->units - 1], r->len[r->units - 1]);
}

/* A new character of the run (f, n bytes): the one before it is complete. */
static int paired_add(token_walk *w, const char *f, size_t n)
{
    paired_run *r = &w->run;
    int rc = 0;
    if (r->units > 0 && (w->flags & ECOM__TEXT_INDEX))
        rc = give_last(w);
    if (rc == 0 && r->units == 2)
        rc = give_pair(w);
    if (r->units == 2) {
        memcpy(r->unit[0], r->unit[1], r->len[1]);
        r->len[0] = r->len[1];
    }
    r->units = r->units == 0 ? 1 : 2;
    memcpy(r->unit[r->units - 1], f, n);
    r->len[r->units - 1] = n;
    r->count++;
    return rc;
}

/* A voicing mark: part of the last character (dropped if that is full). */
static void paired_join(token_walk *w, const char *f, size_t n)
{
    paired_run *r = &w->run;
    size_t *len = &r->len[r->units - 1];
    if (*len + n <= UNIT_MAX) {
        memcpy(r->unit[r->units - 1] + *len, f, n);
        *len += n;
    }
}

/* The run ends: what the last character completes (and a run of one character is
 * that character, for queries too). */
static int paired_end(token_walk *w)
{
    paired_run *r = &w->run;
    int rc = 0;
    if (r->units > 0 && ((w->flags & ECOM__TEXT_INDEX) || r->count == 1))
        rc = give_last(w);
    if (rc == 0 && r->units == 2)
        rc = give_pair(w);
    memset(r, 0, sizeof *r);
    return rc;
}

int ecom__text_tokens(const char *text, size_t len, int flags, ecom__token_fn fn, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    token_walk w = {.fn = fn, .ctx = ctx, .flags = flags};
    char tok[ECOM__TOKEN_MAX];
    size_t n = 0, i = 0;
    bool full = false;         /* the token was cut: the rest of the run is dropped */
    bool after_letter = false; /* the run's last character was a letter */
    int rc = 0;
    while (i < len && rc == 0) {
        /* ASCII letters and digits first: most of any catalog's text */
        char a = s[i] < 0x80 ? ascii_fold[s[i]] : ' ';
        if (a != ' ') {
            if (w.run.units && (rc = paired_end(&w)) != 0)
                break;
            if (!full && n < ECOM__TOKEN_MAX)
                tok[n++] = a;
            else
                full = true;
            after_letter = s[i] > '9';
            i++;
            continue;
        }
        char f[FOLD_MAX];
        size_t flen = 0;
        int kind = next_char(s, len, &i, f, &flen);
        if (kind == K_JOINS && w.run.units) {
            paired_join(&w, f, flen);
            continue;
        }
        if (kind == K_PAIRED || kind == K_JOINS) {
            if (n > 0 && (rc = give(&w, tok, n)) != 0)
                break;
            n = 0;
            full = false;
            after_letter = false;
            rc = paired_add(&w, f, flen);
            continue;
        }
        if (kind == K_IGNORE)
            continue;
        if (w.run.units && (rc = paired_end(&w)) != 0)
            break;
        if (kind >= K_LETTER) {
            if (!full && n + flen <= ECOM__TOKEN_MAX) {
                for (size_t k = 0; k < flen; k++)
                    tok[n++] = f[k];
            } else {
                full = true;
            }
            after_letter = kind == K_LETTER;
            continue;
        }
        if (kind == K_APOS && after_letter && letter_at(s, len, i))
            continue;
        if (n > 0 && (rc = give(&w, tok, n)) != 0)
            break;
        n = 0;
        full = false;
        after_letter = false;
    }
    if (rc == 0 && w.run.units)
        rc = paired_end(&w);
    if (rc == 0 && n > 0)
        rc = give(&w, tok, n);
    return rc;
}

size_t ecom__text_fold(char *out, size_t size, const char *text, size_t len)
{
    if (size == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)text;
    size_t cap = size - 1, n = 0, i = 0;
    bool space = false; /* a separator is pending: written before the next letter */
    bool after_letter = false;
    while (i < len) {
        char f[FOLD_MAX];
        size_t flen = 0;
        int kind = next_char(s, len, &i, f, &flen);
        if (kind >= K_LETTER) {
            if (n + flen + (space ? 1 : 0) > cap)
                break;
            if (space)
                out[n++] = ' ';
            memcpy(out + n, f, flen);
            n += flen;
            space = false;
            after_letter = kind == K_LETTER;
            continue;
        }
        if (kind == K_IGNORE)
            continue;
        if (kind == K_APOS && after_letter && letter_at(s, len, i))
            continue;
        after_letter = false;
        if (kind == K_SLASH) {
            /* "a / b" is "a/b": separators around a slash go */
            if (n + 1 > cap)
                break;
            out[n++] = '/';
            space = false;
        } else if (n > 0 && out[n - 1] != '/') {
            space = true;
        }
    }
    out[n] = '\0';
    return n;
}

/* ---- stemming ---- */

struct ecom__stemmer {
    struct sb_stemmer *sb;
};

int ecom__stemmer_new(ecom__stemmer **out)
{
    *out = NULL;
    ecom__stemmer *s = ecom__malloc(sizeof *s);
    if (s == NULL)
        return ECOM_ENOMEM;
    /* NULL encoding is UTF-8. libstemmer allocates with malloc, out of our hook's
     * sight; NULL from it can only mean no memory, English being built in. */
    s->sb = sb_stemmer_new("english", NULL);
    if (s->sb == NULL) {
        ecom__free(s);
        return ECOM_ENOMEM;
    }
    *out = s;
    return ECOM_OK;
}

void ecom__stemmer_free(ecom__stemmer *s)
{
    if (s == NULL)
        return;
    sb_stemmer_delete(s->sb);
    ecom__free(s);
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Numbers stay as they are ("2024" is no verb). Should libstemmer run out of
 * memory, the token is returned unstemmed: a missed match, not a failure. */
size_t ecom__stem(ecom__stemmer *s, const char *token, size_t len,
                  char out[ECOM__TOKEN_MAX + 1])
{
    const char *stem = len > 0 ? token : "";
    size_t n = len;
    if (len > 0 && len <= INT_MAX && !all_digits(token, len)) {
        const sb_symbol *r = sb_stemmer_stem(s->sb, (const sb_symbol *)token, (int)len);
        int rlen = r ? sb_stemmer_length(s->sb) : -1;
        if (rlen >= 0) {
            stem = (const char *)r;
            n = (size_t)rlen;
        }
    }
    n = utf8_cut(stem, n, ECOM__TOKEN_MAX);
    memcpy(out, stem, n);
    out[n] = '\0';
    return n;
}

/* ---- one-typo variants ---- */

/* The bytes of the character at i: a lead byte and the continuation bytes that
 * follow it, so that even damaged text is cut into whole pieces. */
static size_t char_len(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    size_t k = 1;
    while (k < want && i + k < len && (s[i + k] & 0xC0) == 0x80)
        k++;
    return k;
}

/*
 * Deletions, then transpositions, substitutions and insertions, in that order;
 * no variant equals the token (a swap of two equal characters or a substitution
 * by the same letter is skipped), but two edits may give the same string
 * ("aab" gives "ab" twice). Variants are NUL-terminated as well.
 */
int ecom__text_edits1(const char *token, size_t len, ecom__variant_fn fn, void *ctx)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    enum { ALPHABET = sizeof alphabet - 1, LONGEST_CHAR = 4 };
    if (len > ECOM__TOKEN_MAX + LONGEST_CHAR)
        return 0; /* no edit brings it within the limit */
    if (len == 0)
        token = ""; /* may be NULL then; memcpy must not see NULL */
    const unsigned char *s = (const unsigned char *)token;
    size_t at[ECOM__TOKEN_MAX + LONGEST_CHAR + 1]; /* where each character starts */
    size_t chars = 0;
    for (size_t i = 0; i < len; i += char_len(s, i, len))
        at[chars++] = i;
    at[chars] = len;
    char buf[ECOM__TOKEN_MAX + 1];
    int rc;

    for (size_t k = 0; k < chars; k++) {
        size_t vlen = len - (at[k + 1] - at[k]);
        if (vlen > ECOM__TOKEN_MAX)
            continue;
        memcpy(buf, token, at[k]);
        memcpy(buf + at[k], token + at[k + 1], len - at[k + 1]);
        buf[vlen] = '\0';
        if ((rc = fn(ctx, buf, vlen)) != 0)
            return rc;
    }
    if (len > ECOM__TOKEN_MAX)
        return 0; /* the other edits keep or grow the length */

    for (size_t k = 0; k + 1 < chars; k++) {
        size_t a = at[k + 1] - at[k], b = at[k + 2] - at[k + 1];
        if (a == b && memcmp(token + at[k], token + at[k + 1], a) == 0)
            continue;
        memcpy(buf, token, len);
        memcpy(buf + at[k], token + at[k + 1], b);
        memcpy(buf + at[k] + b, token + at[k], a);
        buf[len] = '\0';
        if ((rc = fn(ctx, buf, len)) != 0)
            return rc;
    }

    for (size_t k = 0; k < chars; k++) {
        size_t clen = at[k + 1] - at[k];
        size_t vlen = len - clen + 1;
        if (vlen > ECOM__TOKEN_MAX)
            continue;
        memcpy(buf, token, at[k]);
        memcpy(buf + at[k] + 1, token + at[k + 1], len - at[k + 1]);
        buf[vlen] = '\0';
        for (size_t c = 0; c < ALPHABET; c++) {
            if (clen == 1 && token[at[k]] == alphabet[c])
                continue;
            buf[at[k]] = alphabet[c];
            if ((rc = fn(ctx, buf, vlen)) != 0)
                return rc;
        }
    }

    if (len + 1 > ECOM__TOKEN_MAX)
        return 0;
    for (size_t k = 0; k <= chars; k++) {
        memcpy(buf, token, at[k]);
        memcpy(buf + at[k] + 1, token + at[k], len - at[k]);
        buf[len + 1] = '\0';
        for (size_t c = 0; c < ALPHABET; c++) {
            buf[at[k]] = alphabet[c];
            if ((rc = fn(ctx, buf, len + 1)) != 0)
                return rc;
        }
    }
    return 0;
}
