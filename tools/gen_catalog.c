/*
 * ecom-gen-catalog: writes a synthetic, realistic product catalog as JSON Lines.
 *
 * Deterministic for a seed (its own splitmix64 PRNG, never rand()), and a prefix of
 * a longer run for the same seed. Every product it writes passes the limits in
 * ecom.h, so an import of its output rejects nothing. Fast enough for a million
 * products in a few seconds: output is built with memcpy into one buffer, no printf.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- PRNG ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n); the modulo bias is irrelevant for n this small. */
static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

static size_t rng_between(size_t lo, size_t hi)
{
    return lo + rng_below(hi - lo + 1);
}

/* ---- word lists ---- */

/* Eight departments, five sections each, five leaves each: 200 leaf categories. */
static const char *const sections[] = {
    "electronics/audio: headphones earbuds speakers soundbars turntables",
    "electronics/computers: laptops desktops monitors keyboards mice",
    "electronics/phones: smartphones phone-cases chargers screen-protectors power-banks",
    "electronics/cameras: mirrorless-cameras action-cameras lenses tripods drones",
    "electronics/tv-video: televisions projectors streaming-players wall-mounts remotes",
    "home-kitchen/cookware: frying-pans saucepans dutch-ovens woks baking-sheets",
    "home-kitchen/small-appliances: blenders coffee-makers toasters kettles air-fryers",
    "home-kitchen/furniture: sofas armchairs coffee-tables bookcases desks",
    "home-kitchen/bedding: bed-sheets duvets pillows mattress-toppers blankets",
    "home-kitchen/decor: lamps rugs mirrors vases wall-clocks",
    "clothing/mens: tees jeans jackets sweaters shirts",
    "clothing/womens: dresses blouses skirts cardigans coats",
    "clothing/kids: onesies pajamas hoodies leggings rain-jackets",
    "clothing/shoes: running-shoes sneakers boots sandals loafers",
    "clothing/accessories: belts hats scarves gloves wallets",
    "sports-outdoors/fitness: dumbbells yoga-mats kettlebells resistance-bands jump-ropes",
    "sports-outdoors/camping: tents sleeping-bags camp-stoves lanterns backpacks",
    "sports-outdoors/cycling: road-bikes bike-helmets bike-lights bike-locks cycling-gloves",
    "sports-outdoors/water-sports: wetsuits snorkels paddle-boards swim-goggles life-jackets",
    "sports-outdoors/team-sports: footballs basketballs baseball-gloves hockey-sticks "
    "shin-guards",
    "beauty-health/skincare: moisturizers cleansers serums sunscreens face-masks",
    "beauty-health/haircare: shampoos conditioners hair-dryers straighteners hair-brushes",
    "beauty-health/makeup: lipsticks mascaras foundations eyeliners blushes",
    "beauty-health/personal-care: electric-toothbrushes razors trimmers deodorants "
    "body-lotions",
    "beauty-health/wellness: vitamins protein-powders massage-guns thermometers scales",
    "toys-games/building: building-sets magnetic-tiles marble-runs wooden-blocks "
    "construction-kits",
    "toys-games/board-games: strategy-games party-games puzzles card-games chess-sets",
    "toys-games/outdoor-play: scooters swings trampolines water-guns kites",
    "toys-games/dolls-figures: dolls action-figures dollhouses plush-toys playsets",
    "toys-games/learning: science-kits robot-kits globes flash-cards microscopes",
    "garden-tools/garden: lawn-mowers hedge-trimmers hoses planters garden-gloves",
    "garden-tools/power-tools: drills circular-saws sanders impact-drivers jigsaws",
    "garden-tools/hand-tools: hammers screwdrivers wrenches pliers tape-measures",
    "garden-tools/outdoor-living: grills patio-chairs fire-pits hammocks umbrellas",
    "garden-tools/lighting: light-bulbs floodlights string-lights flashlights solar-lights",
    "pet-supplies/dogs: dog-beds dog-leashes dog-collars dog-toys dog-bowls",
    "pet-supplies/cats: cat-trees litter-boxes scratching-posts cat-toys cat-carriers",
    "pet-supplies/fish: aquariums filters heaters fish-food aquarium-lights",
    "pet-supplies/birds: bird-cages bird-feeders perches bird-toys nesting-boxes",
    "pet-supplies/small-pets: hamster-cages hay-feeders exercise-wheels hideouts "
    "water-bottles",
};

/* Nouns the plain "drop the s" rule gets wrong; NULL means keep the word as it is. */
static const char *const irregular[][2] = {
    {"lenses", "lens"},     {"mice", "mouse"},    {"scarves", "scarf"},
    {"onesies", "onesie"},  {"hoodies", "hoodie"}, {"headphones", NULL},
    {"earbuds", NULL},      {"jeans", NULL},      {"pajamas", NULL},
    {"leggings", NULL},     {"goggles", NULL},    {"pliers", NULL},
    {"fish-food", NULL},
};

static const char *const brand_heads[] = {
    "Nor", "Vel", "Astra", "Bri", "Cor", "Lum", "Pax", "Quin",
    "Sol", "Terra", "Vanta", "Zen", "Oro", "Kai", "Hal",
};
static const char *const brand_tails[] = {
    "dex", "ora", "io", "wave", "line", "craft", "ent", "mark", "ly", "nova",
};

static const char *const adjectives[] = {
    "Compact", "Premium", "Classic", "Essential", "Pro", "Deluxe", "Everyday",
    "Portable", "Heavy-Duty", "Eco", "Smart", "Modern", "Vintage", "Rugged",
    "Slim", "Advanced", "Signature", "Urban", "Outdoor", "Studio", "Travel",
    "Elite", "Sport", "Natural", "Soft", "Durable", "Ergonomic", "Minimalist",
    "Handcrafted", "Performance", "Lightweight", "Quiet", "Bold", "Family",
    "Comfort", "Precision", "Original", "Ultra", "Nordic", "Coastal",
};

static const char *const vocabulary[] = {
    "built", "to", "last", "with", "a", "clean", "design", "that", "fits",
    "any", "space", "made", "from", "carefully", "selected", "materials", "for",
    "everyday", "use", "easy", "care", "and", "reliable", "performance", "the",
    "perfect", "gift", "tested", "by", "our", "team", "in", "real", "conditions",
    "comfortable", "grip", "balanced", "weight", "quick", "setup", "no", "tools",
    "needed", "backed", "warranty", "thoughtful", "details", "throughout", "quiet",
    "operation", "energy", "efficient", "long", "lasting", "finish", "resists",
    "scratches", "stains", "simple", "to", "clean", "versatile", "home", "office",
    "travel", "outdoors", "designed", "comfort", "style", "value", "premium",
    "feel", "at", "an", "honest", "price", "responsibly", "sourced", "packaging",
    "recyclable", "compact", "storage", "when", "not", "in", "use",
};

static const char *const colors[] = {
    "black", "white", "gray", "navy", "red", "green", "blue", "beige",
    "brown", "olive", "teal", "burgundy",
};
static const char *const materials[] = {
    "cotton", "steel", "aluminum", "plastic", "wood", "leather", "glass",
    "bamboo", "ceramic", "nylon", "polyester", "rubber",
};
static const char *const sizes[] = {"S", "M", "L", "XL"};
static const char *const origins[] = {
    "Germany", "Italy", "Portugal", "Vietnam", "Mexico", "Japan", "Poland",
    "Canada", "Turkey", "India",
};

/* ---- the category table, parsed once from `sections` ---- */

typedef struct leaf {
    char path[128]; /* "electronics/audio/headphones" */
    char noun[64];  /* "Headphones" */
} leaf;

static leaf leaves[256];
static size_t leaf_count;

/* Title-cases a slug word by word ("hair-brush" -> "Hair Brush"). */
static void noun_from_slug(char *out, size_t size, const char *slug, size_t len)
{
    size_t n = 0;
    int start = 1;
    for (size_t i = 0; i < len && n + 1 < size; i++) {
        char c = slug[i] == '-' ? ' ' : slug[i];
        out[n++] = start && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        start = c == ' ';
    }
    out[n] = '\0';
}

/* Length of the singular of a plural slug ("wrenches" -> 6), or `replacement`. */
static size_t singular_len(const char *slug, size_t len, const char **replacement)
{
    *replacement = NULL;
    for (size_t i = 0; i < ARRAY_LEN(irregular); i++) {
        if (strlen(irregular[i][0]) == len && memcmp(irregular[i][0], slug, len) == 0) {
            *replacement = irregular[i][1];
            return len;
        }
    }
    static const char *const es_endings[] = {"ches", "shes", "sses", "xes"};
    for (size_t i = 0; i < ARRAY_LEN(es_endings); i++) {
        size_t e = strlen(es_endings[i]);
        if (len > e && memcmp(slug + len - e, es_endings[i], e) == 0)
            return len - 2;
    }
    return len > 1 && slug[len - 1] == 's' ? len - 1 : len;
}

static void add_leaf(const char *section, size_t section_len, const char *slug, size_t len)
{
    leaf *l = &leaves[leaf_count++];
    snprintf(l->path, sizeof l->path, "%.*s/%.*s", (int)section_len, section, (int)len, slug);
    const char *replacement;
    size_t n = singular_len(slug, len, &replacement);
    if (replacement)
        noun_from_slug(l->noun, sizeof l->noun, replacement, strlen(replacement));
    else
        noun_from_slug(l->noun, sizeof l->noun, slug, n);
}

static void build_leaves(void)
{
    for (size_t s = 0; s < ARRAY_LEN(sections); s++) {
        const char *colon = strchr(sections[s], ':');
        size_t section_len = (size_t)(colon - sections[s]);
        const char *p = colon + 1;
        while (*p) {
            p += strspn(p, " ");
            size_t len = strcspn(p, " ");
            if (len > 0 && leaf_count < ARRAY_LEN(leaves))
                add_leaf(sections[s], section_len, p, len);
            p += len;
        }
    }
}

/* ---- output buffer ---- */

typedef struct out {
    char data[1 << 20];
    size_t len;
    int failed;
} out;

static void out_flush(out *o)
{
    if (o->len > 0 && fwrite(o->data, 1, o->len, stdout) != o->len)
        o->failed = 1;
    o->len = 0;
}

/* Every product is far smaller than this margin, so a check per product suffices. */
#define OUT_MARGIN (64 * 1024)

static void put_mem(out *o, const char *s, size_t n)
{
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static void put(out *o, const char *s)
{
    put_mem(o, s, strlen(s));
}

static void put_u64(out *o, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        o->data[o->len++] = tmp[--n];
}

/* The words here never need JSON escaping: they are plain ASCII letters. */
static void put_str(out *o, const char *s)
{
    o->data[o->len++] = '"';
    put(o, s);
    o->data[o->len++] = '"';
}

/* ---- one product ---- */

static void put_id(out *o, uint64_t n)
{
    char id[32];
    snprintf(id, sizeof id, "p%07" PRIu64, n);
    put_str(o, id);
}

static void put_title(out *o, const char *brand, const leaf *l)
{
    char model[16];
    snprintf(model, sizeof model, "%c%c-%zu", (char)('A' + rng_below(26)),
             (char)('A' + rng_below(26)), rng_between(1, 99) * 10);
    put(o, "\"title\":\"");
    put(o, brand);
    put(o, " ");
    put(o, adjectives[rng_below(ARRAY_LEN(adjectives))]);
    put(o, " ");
    put(o, l->noun);
    put(o, " ");
    put(o, model);
    put(o, "\"");
}

/* 20 to 60 words in sentences of 5 to 12, each capitalized and ended by a period. */
static void put_description(out *o)
{
    size_t words = rng_between(20, 60), in_sentence = 0, sentence_len = rng_between(5, 12);
    put(o, ",\"description\":\"");
    for (size_t w = 0; w < words; w++) {
        const char *word = vocabulary[rng_below(ARRAY_LEN(vocabulary))];
        if (in_sentence == 0) {
            o->data[o->len++] = (char)(word[0] - 'a' + 'A');
            put(o, word + 1);
        } else {
            put(o, word);
        }
        if (++in_sentence == sentence_len || w + 1 == words) {
            put(o, w + 1 == words ? "." : ". ");
            in_sentence = 0;
            sentence_len = rng_between(5, 12);
        } else {
            put(o, " ");
        }
    }
    put(o, "\"");
}

static const char *pick_status(void)
{
    size_t r = rng_below(100);
    return r < 90 ? "active" : r < 97 ? "draft" : "archived";
}

/* Picks n distinct colors into picked (n <= 3). */
static void pick_colors(const char **picked, size_t n)
{
    size_t first = rng_below(ARRAY_LEN(colors)), step = rng_between(1, 4);
    for (size_t i = 0; i < n; i++)
        picked[i] = colors[(first + i * step) % ARRAY_LEN(colors)];
}

static void put_attributes(out *o, const char **picked, size_t ncolors)
{
    put(o, ",\"attributes\":{\"color\":[");
    for (size_t i = 0; i < ncolors; i++) {
        if (i)
            put(o, ",");
        put_str(o, picked[i]);
    }
    put(o, "],\"material\":[");
    put_str(o, materials[rng_below(ARRAY_LEN(materials))]);
    put(o, "],\"warranty_years\":[");
    put_str(o, rng_below(2) ? "1" : "2");
    put(o, "]");
    if (rng_below(2)) {
        put(o, ",\"origin\":[");
        put_str(o, origins[rng_below(ARRAY_LEN(origins))]);
        put(o, "]");
    }
    put(o, "}");
}

/* Distinct sizes make every variant's options distinct. */
static void put_variants(out *o, uint64_t n, const char **picked, size_t ncolors)
{
    size_t count = rng_between(1, 4);
    uint64_t base = rng_between(299, 49999), weight = rng_between(50, 25000);
    char sku[40];
    put(o, ",\"variants\":[");
    for (size_t v = 0; v < count; v++) {
        uint64_t usd = base + v * 500;
        snprintf(sku, sizeof sku, "p%07" PRIu64 "-%zu", n, v + 1);
        put(o, v ? ",{\"sku\":" : "{\"sku\":");
        put_str(o, sku);
        put(o, ",\"options\":{\"color\":");
        put_str(o, picked[v % ncolors]);
        put(o, ",\"size\":");
        put_str(o, sizes[v]);
        put(o, "},\"prices\":{\"USD\":");
        put_u64(o, usd);
        put(o, ",\"EUR\":");
        put_u64(o, usd * 92 / 100);
        put(o, "},\"weight_g\":");
        put_u64(o, weight + v * 50);
        put(o, "}");
    }
    put(o, "]");
}

static void put_product(out *o, uint64_t n)
{
    const leaf *l = &leaves[rng_below(leaf_count)];
    char brand[32];
    snprintf(brand, sizeof brand, "%s%s", brand_heads[rng_below(ARRAY_LEN(brand_heads))],
             brand_tails[rng_below(ARRAY_LEN(brand_tails))]);
    const char *picked[3];
    size_t ncolors = rng_between(1, 3);
    pick_colors(picked, ncolors);

    put(o, "{\"id\":");
    put_id(o, n);
    put(o, ",");
    put_title(o, brand, l);
    put_description(o);
    put(o, ",\"brand\":");
    put_str(o, brand);
    put(o, ",\"category\":");
    put_str(o, l->path);
    put(o, ",\"status\":");
    put_str(o, pick_status());
    put_attributes(o, picked, ncolors);
    put_variants(o, n, picked, ncolors);
    put(o, "}\n");
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fputs("usage: ecom-gen-catalog [--count N] [--seed S]\n"
          "Writes N products (default 1000) as JSON Lines to standard output,\n"
          "the same for the same seed (default 1).\n",
          f);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t count = 1000, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        uint64_t *target = strcmp(argv[i], "--count") == 0  ? &count
                           : strcmp(argv[i], "--seed") == 0 ? &seed
                                                            : NULL;
        if (target == NULL || i + 1 >= argc || parse_u64(argv[++i], target) != 0) {
            fprintf(stderr, "ecom-gen-catalog: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    build_leaves();
    rng_state = seed;

    static out o;
    for (uint64_t n = 1; n <= count && !o.failed; n++) {
        put_product(&o, n);
        if (o.len > sizeof o.data - OUT_MARGIN)
            out_flush(&o);
    }
    out_flush(&o);
    if (o.failed || fflush(stdout) != 0) {
        fprintf(stderr, "ecom-gen-catalog: write failed\n");
        return 1;
    }
    return 0;
}
