/*
 * Text analysis for search: tokens (splitting, case and accent folding in Latin,
 * Greek and Cyrillic, CJK, apostrophes, invalid UTF-8, the length cut, positions,
 * early stop), folding of whole strings, stemming, and one-typo variants. Every
 * code point and random bytes too: tokens are always valid UTF-8, folded text
 * folds to itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "search.h"
#include "support/support.h"

#define MAX_TOKENS 64

typedef struct {
    size_t count;
    char token[MAX_TOKENS][ECOM__TOKEN_MAX + 1];
    uint32_t position[MAX_TOKENS];
    int stop_at; /* return 7 on this call (1-based); 0: never */
} tokens;

static int collect(void *ctx, const char *token, size_t len, uint32_t position)
{
    tokens *t = ctx;
    assert_true(len > 0 && len <= ECOM__TOKEN_MAX);
    assert_true(ecom__utf8_invalid_at(token, len) < 0);
    if (t->count < MAX_TOKENS) {
        memcpy(t->token[t->count], token, len);
        t->token[t->count][len] = '\0';
        t->position[t->count] = position;
    }
    t->count++;
    return t->stop_at > 0 && (size_t)t->stop_at == t->count ? 7 : 0;
}

static tokens *split(const char *text)
{
    static tokens t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ecom__text_tokens(text, strlen(text), ECOM__TEXT_QUERY, collect, &t), 0);
    return &t;
}

/* Checks that text gives exactly the tokens listed (NULL-terminated). */
static void expect_tokens(const char *text, ...)
{
    tokens *t = split(text);
    va_list ap;
    va_start(ap, text);
    size_t i = 0;
    for (const char *want; (want = va_arg(ap, const char *)) != NULL; i++) {
        if (i >= t->count)
            fail_msg("\"%s\": token %zu missing, want \"%s\"", text, i, want);
        if (strcmp(t->token[i], want) != 0)
            fail_msg("\"%s\": token %zu is \"%s\", want \"%s\"", text, i, t->token[i], want);
        assert_int_equal(t->position[i], i);
    }
    va_end(ap);
    if (t->count != i)
        fail_msg("\"%s\": %zu tokens, want %zu", text, t->count, i);
}

static void test_search_text__ascii(void **state)
{
    (void)state;
    expect_tokens("Hello, World!", "hello", "world", NULL);
    expect_tokens("  USB3 hub 4K-TV\tx86_64\n", "usb3", "hub", "4k", "tv", "x86", "64", NULL);
    expect_tokens("", NULL);
    expect_tokens(" .,;:!?-_/()[]{}\"@#$%^&*+=<>|~`\\ ", NULL);
    expect_tokens("a", "a", NULL);
    expect_tokens("AbC09zZ", "abc09zz", NULL);
}

static void test_search_text__accents(void **state)
{
    (void)state;
    expect_tokens("Café", "cafe", NULL);
    expect_tokens("Cafe\xcc\x81 au lait", "cafe", "au", "lait", NULL); /* e + U+0301 */
    expect_tokens("Ærø", "aero", NULL);
    expect_tokens("Straße STRASSE", "strasse", "strasse", NULL);
    expect_tokens("naïve", "naive", NULL);
    expect_tokens("ŁÓDŹ łódź", "lodz", "lodz", NULL);
    expect_tokens("Señor Çava Øre Åse", "senor", "cava", "ore", "ase", NULL);
    expect_tokens("Þór Đorđe Œuvre", "thor", "dorde", "oeuvre", NULL);
    expect_tokens("Việt Nam Phở", "viet", "nam", "pho", NULL);
    expect_tokens("ﬁle ＡＢＣ１２３", "file", "abc123", NULL); /* ligature, fullwidth */
    expect_tokens("Kaf\xc2\xad" "fee", "kaffee", NULL);                /* soft hyphen */
    expect_tokens("10 m² ½", "10", "m2", NULL);
}

static void test_search_text__greek_cyrillic(void **state)
{
    (void)state;
    expect_tokens("ΕΛΛΗΝΙΚΆ Ελληνικά", "ελληνικα", "ελληνικα", NULL);
    expect_tokens("ΟΔΟΣ οδός", "οδοσ", "οδοσ", NULL);
    expect_tokens("Ϊ ΰ ἄνθρωπος", "ι", "υ", "ανθρωποσ", NULL);
    expect_tokens("МОСКВА Москва", "москва", "москва", NULL);
    expect_tokens("Ёлка ЙОГУРТ Київ", "елка", "йогурт", "київ", NULL);
    expect_tokens("Ѓ ѓ Ӂ ӂ Ӏ", "ѓ", "ѓ", "ӂ", "ӂ", "ӏ", NULL);
}

static void test_search_text__cjk(void **state)
{
    (void)state;
    /* han, kana and hangul runs: their overlapping pairs (a query's view) */
    expect_tokens("東京 タワー ソウル 서울 ひらがな", "東京", "タワ", "ワー", "ソウ", "ウル", "서울",
                  "ひら", "らが", "がな", NULL);
    expect_tokens("東京タワー", "東京", "京タ", "タワ", "ワー", NULL);
    expect_tokens("无线蓝牙耳机", "无线", "线蓝", "蓝牙", "牙耳", "耳机", NULL);
    expect_tokens("서울에서", "서울", "울에", "에서", NULL); /* a particle glued on */
    expect_tokens("猫 犬", "猫", "犬", NULL);               /* a run of one: itself */
    expect_tokens("人々", "人々", NULL);                    /* the iteration mark is part of it */
    expect_tokens("ソニー・ミュージック", "ソニ", "ニー", "ミュ", "ュー", "ージ", "ジッ", "ック",
                  NULL); /* nakaguro separates */
    expect_tokens("京都。大阪、奈良", "京都", "大阪", "奈良", NULL);
    /* where the script changes, so does the token */
    expect_tokens("iPhone15用ケース", "iphone15", "用ケ", "ケー", "ース", NULL);
    expect_tokens("耳机X1", "耳机", "x1", NULL);
    /* a voicing mark, precomposed or combining, is part of its kana */
    expect_tokens("ガラス がらす", "ガラ", "ラス", "がら", "らす", NULL);
    expect_tokens("か\xe3\x82\x99き", "か\xe3\x82\x99き", NULL); /* か + U+3099, き */
    expect_tokens("\xe3\x82\x99", "\xe3\x82\x99", NULL); /* a mark alone: itself */
    expect_tokens("עברית العربية हिन्दी ไทย", "עברית", "العربيه", "हिन्दी", "ไทย", NULL);
    expect_tokens("٣٤ ४२ ๕", "34", "42", "5", NULL);
    expect_tokens("أحمد إلكترونيات مكتبة", "احمد", "الكترونيات", "مكتبه", NULL);
    expect_tokens("I ❤ NY 🍕", "i", "ny", NULL);
}

/* The index's view of a paired run: each character as well as each pair. */
static void test_search_text__cjk_index(void **state)
{
    (void)state;
    tokens t = {0};
    const char *text = "耳机 蓝牙耳机 猫";
    assert_int_equal(ecom__text_tokens(text, strlen(text), ECOM__TEXT_INDEX, collect, &t), 0);
    const char *want[] = {"耳", "机", "耳机", "蓝", "牙", "蓝牙", "耳", "牙耳", "机", "耳机", "猫"};
    assert_int_equal(t.count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < t.count; i++) {
        assert_string_equal(t.token[i], want[i]);
        assert_int_equal(t.position[i], i);
    }
}

static void test_search_text__apostrophes(void **state)
{
    (void)state;
    expect_tokens("women's don’t L'Oréal", "womens", "dont", "loreal", NULL);
    expect_tokens("rock'n'roll", "rocknroll", NULL);
    expect_tokens("'quoted' ’tis", "quoted", "tis", NULL);
    expect_tokens("90's 5'11 it' s a''b", "90", "s", "5", "11", "it", "s", "a", "b", NULL);
}

static void test_search_text__invalid_utf8(void **state)
{
    (void)state;
    expect_tokens("a\xc0\xafz", "a", "z", NULL);             /* overlong '/' */
    expect_tokens("a\xe0\x80\xafz", "a", "z", NULL);         /* overlong, 3 bytes */
    expect_tokens("a\xf0\x80\x80\xafz", "a", "z", NULL);     /* overlong, 4 bytes */
    expect_tokens("abc\xe2\x82", "abc", NULL);               /* truncated at the end */
    expect_tokens("abc\xf0\x9f\x98", "abc", NULL);
    expect_tokens("\xc3", NULL);
    expect_tokens("x\x80\xbfy\x80", "x", "y", NULL);         /* lone continuations */
    expect_tokens("a\xed\xa0\x80z\xed\xbf\xbf", "a", "z", NULL); /* surrogates */
    expect_tokens("a\xf4\x90\x80\x80z", "a", "z", NULL);     /* beyond U+10FFFF */
    expect_tokens("a\xf5\x80\x80\x80z\xfe\xff", "a", "z", NULL);
    expect_tokens("\xc3" "\xa9t\xc3\xa9\xc3", "ete", NULL);  /* é t é, then a lone lead */

    /* Random bytes: never a crash, every token valid UTF-8 of at most 64 bytes. */
    srand(42);
    unsigned char buf[300];
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < len; i++) {
            int r = rand();
            /* bias towards the bytes of multi-byte sequences */
            buf[i] = (unsigned char)(r % 3 == 0 ? 0x80 + (r >> 8) % 0x80 : (r >> 8) % 256);
        }
        tokens t = {0};
        assert_int_equal(ecom__text_tokens((const char *)buf, len, round % 2, collect, &t), 0);
        char out[128];
        size_t n = ecom__text_fold(out, sizeof out, (const char *)buf, len);
        assert_true(n < sizeof out);
        assert_int_equal(strlen(out), n);
        assert_true(ecom__utf8_invalid_at(out, n) < 0);
    }
}

static void test_search_text__long_token(void **state)
{
    (void)state;
    char text[512];
    char want[ECOM__TOKEN_MAX + 1];

    memset(text, 'A', 70);
    strcpy(text + 70, " next");
    memset(want, 'a', 64);
    want[64] = '\0';
    expect_tokens(text, want, "next", NULL);

    /* 63 bytes and a 2-byte letter: cut before it, and the rest of the run dropped */
    memset(text, 'a', 63);
    strcpy(text + 63, "жbbb next");
    want[63] = '\0';
    expect_tokens(text, want, "next", NULL);

    /* 32 two-byte letters fill 64 bytes exactly; a 33rd is cut */
    text[0] = '\0';
    for (int i = 0; i < 33; i++)
        strcat(text, "Ж");
    want[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(want, "ж");
    expect_tokens(text, want, NULL);

    /* three-byte letters (Thai): 21 of them, 63 bytes */
    text[0] = '\0';
    for (int i = 0; i < 30; i++)
        strcat(text, "ก");
    want[0] = '\0';
    for (int i = 0; i < 21; i++)
        strcat(want, "ก");
    expect_tokens(text, want, NULL);

    /* a long run of ideographs is never cut: it is pairs, 29 of them for 30 */
    text[0] = '\0';
    for (int i = 0; i < 30; i++)
        strcat(text, "東");
    tokens *t = split(text);
    assert_int_equal(t->count, 29);
    for (size_t i = 0; i < t->count; i++)
        assert_string_equal(t->token[i], "東東");

    /* "ss" of ß does not fit in the last byte: cut before it */
    memset(text, 'a', 63);
    strcpy(text + 63, "ß");
    memset(want, 'a', 63);
    want[63] = '\0';
    expect_tokens(text, want, NULL);
}

static void test_search_text__positions(void **state)
{
    (void)state;
    tokens *t = split("one, two;; three ... four");
    assert_int_equal(t->count, 4);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(t->position[i], i);
    /* a run of marks alone is no token and takes no position */
    t = split("a \xcc\x81 b");
    assert_int_equal(t->count, 2);
    assert_string_equal(t->token[1], "b");
    assert_int_equal(t->position[1], 1);
}

static void test_search_text__stop(void **state)
{
    (void)state;
    const char *text = "alpha beta gamma delta";
    tokens t = {.stop_at = 2};
    assert_int_equal(ecom__text_tokens(text, strlen(text), ECOM__TEXT_QUERY, collect, &t), 7);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.token[1], "beta");
    /* the last token too */
    t = (tokens){.stop_at = 4};
    assert_int_equal(ecom__text_tokens(text, strlen(text), ECOM__TEXT_QUERY, collect, &t), 7);
    assert_int_equal(t.count, 4);
}

/* Every code point, alone: valid UTF-8 out, and what comes out folds to itself. */
static void test_search_text__every_code_point(void **state)
{
    (void)state;
    size_t letters = 0;
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char in[8];
        size_t n;
        if (cp < 0x80) {
            in[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            in[0] = (char)(0xC0 | cp >> 6);
            in[1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            in[0] = (char)(0xE0 | cp >> 12);
            in[1] = (char)(0x80 | (cp >> 6 & 0x3F));
            in[2] = (char)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            in[0] = (char)(0xF0 | cp >> 18);
            in[1] = (char)(0x80 | (cp >> 12 & 0x3F));
            in[2] = (char)(0x80 | (cp >> 6 & 0x3F));
            in[3] = (char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        char once[16], twice[16];
        size_t n1 = ecom__text_fold(once, sizeof once, in, n);
        assert_true(n1 <= 4);
        assert_true(ecom__utf8_invalid_at(once, n1) < 0);
        size_t n2 = ecom__text_fold(twice, sizeof twice, once, n1);
        if (n1 != n2 || memcmp(once, twice, n1) != 0)
            fail_msg("U+%04X folds to \"%s\", which folds to \"%s\"", (unsigned)cp, once,
                     twice);
        if (n1 > 0 && strcmp(once, "/") != 0) {
            letters++;
            tokens t = {0};
            assert_int_equal(ecom__text_tokens(in, n, ECOM__TEXT_INDEX, collect, &t), 0);
            assert_int_equal(t.count, 1);
            assert_string_equal(t.token[0], once);
        }
    }
    assert_true(letters > 100000); /* CJK alone is more */
}

static void test_search_text__fold(void **state)
{
    (void)state;
    char out[128];
    struct {
        const char *in, *want;
    } cases[] = {
        {"Bang & Olufsen", "bang olufsen"},
        {"  Dr. Martens  ", "dr martens"},
        {"Levi's", "levis"},
        {"Café Royal™", "cafe royal"},
        {"STRAẞE", "strasse"},
        {"home/kitchen", "home/kitchen"},
        {"Home & Garden / Kitchen", "home garden/kitchen"},
        {"Électronique/Téléphones portables", "electronique/telephones portables"},
        {"/a//b/", "/a//b/"},
        {"...", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = ecom__text_fold(out, sizeof out, cases[i].in, strlen(cases[i].in));
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* cut at size - 1, on a character boundary, never leaving a trailing space */
    assert_int_equal(ecom__text_fold(out, 5, "abcdefgh", 8), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(ecom__text_fold(out, 4, "ж ж", strlen("ж ж")), 2);
    assert_string_equal(out, "ж");
    assert_int_equal(ecom__text_fold(out, 3, "abc", 3), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(ecom__text_fold(out, 3, "ab cd", 5), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(ecom__text_fold(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");
    assert_int_equal(ecom__text_fold(NULL, 0, "abc", 3), 0);
}

static void test_search_text__stem(void **state)
{
    (void)state;
    ecom__stemmer *s = NULL;
    assert_int_equal(ecom__stemmer_new(&s), ECOM_OK);
    struct {
        const char *in, *want;
    } cases[] = {
        {"running", "run"},    {"headphones", "headphon"}, {"batteries", "batteri"},
        {"cables", "cabl"},    {"2024", "2024"},           {"1080", "1080"},
        {"usb3", "usb3"},      {"", ""},
    };
    char out[ECOM__TOKEN_MAX + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = ecom__stem(s, cases[i].in, strlen(cases[i].in), out);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* the stemmer is reusable and output stays within the limit */
    char long_token[ECOM__TOKEN_MAX + 1];
    memset(long_token, 'x', ECOM__TOKEN_MAX);
    assert_true(ecom__stem(s, long_token, ECOM__TOKEN_MAX, out) <= ECOM__TOKEN_MAX);
    assert_int_equal(ecom__stem(s, "running", 7, out), 3);
    ecom__stemmer_free(s);
    ecom__stemmer_free(NULL);
}

static void test_search_text__stemmer_oom(void **state)
{
    (void)state;
    ecom__stemmer *s = (ecom__stemmer *)&s;
    test_alloc_countdown = 1;
    assert_int_equal(ecom__stemmer_new(&s), ECOM_ENOMEM);
    assert_null(s);
    test_alloc_countdown = 0;
    assert_int_equal(ecom__stemmer_new(&s), ECOM_OK);
    ecom__stemmer_free(s);
    assert_int_equal(test_alloc_live, 0);
}

typedef struct {
    size_t count;
    const char *token;
    size_t token_len;
    const char *find[8];
    bool found[8];
    size_t stop_at;
} variants;

static int on_variant(void *ctx, const char *v, size_t len)
{
    variants *w = ctx;
    w->count++;
    assert_true(len <= ECOM__TOKEN_MAX);
    assert_int_equal(v[len], '\0');
    assert_true(ecom__utf8_invalid_at(v, len) < 0);
    assert_false(len == w->token_len && memcmp(v, w->token, len) == 0);
    for (size_t i = 0; i < 8 && w->find[i]; i++)
        if (strlen(w->find[i]) == len && memcmp(w->find[i], v, len) == 0)
            w->found[i] = true;
    return w->stop_at && w->count == w->stop_at ? 9 : 0;
}

static size_t edits(variants *w, const char *token)
{
    w->token = token;
    w->token_len = strlen(token);
    assert_int_equal(ecom__text_edits1(token, w->token_len, on_variant, w), 0);
    return w->count;
}

static void test_search_text__edits1(void **state)
{
    (void)state;
    /* "abc": 3 deletions, 2 transpositions, 3 * 35 substitutions, 4 * 36 insertions */
    variants w = {.find = {"ac", "bac", "abd", "abcd", "bc", "acb", "xabc", "9bc"}};
    assert_int_equal(edits(&w, "abc"), 3 + 2 + 105 + 144);
    for (size_t i = 0; i < 8; i++)
        assert_true(w.found[i]);

    /* "aa": no swap of equal letters; "a" comes twice */
    w = (variants){0};
    assert_int_equal(edits(&w, "aa"), 2 + 0 + 70 + 108);

    /* whole characters: "éa" (3 bytes, 2 characters) */
    w = (variants){.find = {"a", "é", "aé", "xa", "éx", "éaz"}};
    assert_int_equal(edits(&w, "éa"), 2 + 1 + 36 + 35 + 3 * 36);
    for (size_t i = 0; i < 6; i++)
        assert_true(w.found[i]);

    /* the empty token: the one-letter insertions */
    w = (variants){0};
    assert_int_equal(edits(&w, ""), 36);

    /* at the limit: no insertions, nothing longer than 64 bytes */
    char max[ECOM__TOKEN_MAX + 1];
    memset(max, 'a', ECOM__TOKEN_MAX);
    max[ECOM__TOKEN_MAX] = '\0';
    w = (variants){0};
    assert_int_equal(edits(&w, max), 64 + 0 + 64 * 35);

    /* over the limit, only deletions that bring it back: 66 bytes, 2 of them 2-byte */
    char over[ECOM__TOKEN_MAX + 8];
    memset(over, 'a', 62);
    strcpy(over + 62, "жж");
    w = (variants){0};
    assert_int_equal(edits(&w, over), 2);
}

static void test_search_text__edits1_stop(void **state)
{
    (void)state;
    variants w = {.token = "abc", .token_len = 3, .stop_at = 3};
    assert_int_equal(ecom__text_edits1("abc", 3, on_variant, &w), 9);
    assert_int_equal(w.count, 3);
    /* stops inside the insertions too (the last group) */
    w = (variants){.token = "abc", .token_len = 3, .stop_at = 200};
    assert_int_equal(ecom__text_edits1("abc", 3, on_variant, &w), 9);
    assert_int_equal(w.count, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_text__ascii),
        cmocka_unit_test(test_search_text__accents),
        cmocka_unit_test(test_search_text__greek_cyrillic),
        cmocka_unit_test(test_search_text__cjk),
        cmocka_unit_test(test_search_text__cjk_index),
        cmocka_unit_test(test_search_text__apostrophes),
        cmocka_unit_test(test_search_text__invalid_utf8),
        cmocka_unit_test(test_search_text__long_token),
        cmocka_unit_test(test_search_text__positions),
        cmocka_unit_test(test_search_text__stop),
        cmocka_unit_test(test_search_text__every_code_point),
        cmocka_unit_test(test_search_text__fold),
        cmocka_unit_test(test_search_text__stem),
        cmocka_unit_test_setup_teardown(test_search_text__stemmer_oom, test_oom_setup,
                                        test_oom_teardown),
        cmocka_unit_test(test_search_text__edits1),
        cmocka_unit_test(test_search_text__edits1_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
