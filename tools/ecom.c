/*
 * The ecom command-line tool: the command table, argument parsing, help, opening
 * the store, and the error and output helpers every command shares. The commands
 * themselves live in cli_product.c, cli_store.c, cli_inventory.c, cli_flash.c,
 * cli_cart.c, cli_orders.c and cli_search.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define EXIT_CODES_HELP                                                                  \
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found,\n"                         \
    "            4 conflict (stale version, id exists, SKU taken, illegal order move,\n" \
    "              idempotency key reused for another request, retry later),\n"         \
    "            5 invalid input (also an empty or stale cart), 6 not enough stock,\n"   \
    "            7 already ended or expired, 8 payment declined,\n"                      \
    "            9 payment provider failed or timed out: retry with the same key.\n"

enum store_mode { STORE_NONE, STORE_READ, STORE_WRITE };

typedef struct cli_command {
    const char *group; /* "product" for `ecom product get`; NULL for `ecom import` */
    const char *name;
    cli_handler run;
    enum store_mode store;
    cli_opts opts; /* OPT_* it accepts besides the global ones */
    size_t min_pos, max_pos;
    const char *synopsis; /* arguments, as in the usage line */
    const char *summary;
    const char *help; /* options and examples */
} cli_command;

static const cli_command commands[] = {
    {NULL, "import", cmd_import, STORE_WRITE, OPT_STRICT, 1, 1, "FILE.jsonl [--strict]",
     "import products from JSON Lines (\"-\": stdin)",
     "Upserts each line's product in atomic batches. A bad line is rejected alone and\n"
     "reported on stderr as \"line N: <reason>\"; the good lines are kept. Progress\n"
     "goes to stderr when it is a terminal. Ends with \"imported N, updated N,\n"
     "rejected N\" on stdout.\n\n"
     "  --strict   exit 5 if any line was rejected (the good lines are still kept)\n"
     "  --json     print the summary as JSON, with the first 1000 rejections\n\n"
     "Example: ecom --store lmdb:./var/store import catalog.jsonl\n"},
    {NULL, "export", cmd_export, STORE_READ, 0, 0, 0, "",
     "write every product as JSON Lines to stdout",
     "Reads one consistent snapshot; the output imports back unchanged.\n\n"
     "Example: ecom export > backup.jsonl\n"},
    {"product", "get", cmd_product_get, STORE_READ, 0, 1, 1, "ID",
     "show a product",
     "  --json   print the product as JSON (with version and timestamps)\n\n"
     "Example: ecom product get p0000042 --json\n"},
    {"product", "put", cmd_product_put, STORE_WRITE, OPT_EXPECT | OPT_UPSERT, 0, 1,
     "[FILE|-] [--expect-version N | --upsert]",
     "create or update a product from JSON",
     "Without options the product is created and must not exist yet (exit 4 if it\n"
     "does).\n\n"
     "  --expect-version N   update the product only if its stored version is N\n"
     "                       (exit 4 if it changed since, 3 if it does not exist)\n"
     "  --upsert             create or replace, whatever the stored version\n"
     "  --json               print the stored product as JSON\n\n"
     "Example: ecom product get p1 --json | sed 's/Old/New/' |\n"
     "         ecom product put --expect-version 3\n"},
    {"product", "delete", cmd_product_delete, STORE_WRITE, OPT_EXPECT, 1, 1,
     "ID [--expect-version N]", "delete a product and free its SKU codes",
     "  --expect-version N   delete only if the stored version is N (else exit 4)\n\n"
     "Example: ecom product delete p0000042 --expect-version 2\n"},
    {"product", "archive", cmd_product_archive, STORE_WRITE, OPT_EXPECT, 1, 1,
     "ID [--expect-version N]", "set a product's status to archived",
     "  --expect-version N   archive only if the stored version is N (else exit 4)\n\n"
     "Example: ecom product archive p0000042\n"},
    {"product", "list", cmd_product_list, STORE_READ,
     OPT_CATEGORY | OPT_STATUS | OPT_LIMIT | OPT_CURSOR, 0, 0,
     "[--category PATH] [--status S] [--limit N] [--cursor C]",
     "list products one page at a time",
     "Lists in id order, or by category then id with --category. Prints the cursor\n"
     "of the next page last; pass it back with --cursor.\n\n"
     "  --category PATH   this category and everything under it\n"
     "  --status S        draft, active or archived\n"
     "  --limit N         products per page, 1..1000 (default 100)\n"
     "  --cursor C        the next page after a previous listing\n"
     "  --json            print {\"products\":[...],\"next_cursor\":\"...\"|null}\n\n"
     "Example: ecom product list --category electronics/audio --limit 20\n"},
    {"sku", "get", cmd_sku_get, STORE_READ, 0, 1, 1, "SKU",
     "show a SKU's variant and its product",
     "  --json   print {\"sku\":...,\"variant\":N,\"product\":{...}}\n\n"
     "Example: ecom sku get p0000042-2\n"},
    {NULL, "search", cmd_search, STORE_READ,
     OPT_FACET | OPT_FILTER | OPT_SORT | OPT_LIMIT | OPT_CURSOR, 0, 1,
     "[QUERY] [--facet NAME]... [--filter NAME=VALUE]... [OPTIONS]",
     "search the active products: words, filters and facets",
     "QUERY is written in the search query language (docs/search.md): words, all of\n"
     "which must match (the last one also as a prefix unless the query ends with a\n"
     "space), and NAME:VALUE terms: brand:B, category:PATH, price:LO..HI, currency:C,\n"
     "in:stock, sort:S, facet:NAME, limit:N, or an attribute (color:black). A value\n"
     "with spaces is quoted: brand:\"bang & olufsen\". The options add the same terms\n"
     "(--filter brand=sony is brand:sony), so they mix freely with the query. Without\n"
     "QUERY every active product matches.\n\n"
     "Prints \"N products match\", a row per hit on the page (rank, id, lowest variant\n"
     "price, relevance score), a line per facet with each value's count, and the\n"
     "cursor of the next page. A malformed query exits 5 with the library's message,\n"
     "which names the term at fault and its byte offset.\n\n"
     "  --facet NAME          count the matches by category, brand, price or an\n"
     "                        attribute; repeat for several\n"
     "  --filter NAME=VALUE   only the matches with this value: category=PATH,\n"
     "                        brand=B, price=LO..HI (major units: 20..150, 20..,\n"
     "                        ..150), currency=C (for prices; default USD), in=stock,\n"
     "                        or an attribute (color=black); repeat for several\n"
     "                        (brands, and values of one attribute, are alternatives)\n"
     "  --sort S              relevance (the default), price, -price or newest\n"
     "  --limit N             hits per page, 1..100 (default 20)\n"
     "  --cursor C            the next page of an earlier search with the same query\n"
     "  --json                print {\"total\",\"hits\":[{\"id\",\"score\",\"price\"}...],\n"
     "                        \"facets\":{\"brand\":[[\"sony\",12]...]},\"cursor\"} (prices\n"
     "                        in minor units; cursor null on the last page)\n\n"
     "An option value holding a '\"' cannot be written in the query language: exit 2.\n\n"
     "Example: ecom search \"wireless headphones\" --facet brand \\\n"
     "           --filter category=electronics/audio --sort price\n"
     "         ecom search 'headphones brand:sony in:stock price:20..150' --json\n"},
    {"category", "tree", cmd_category_tree, STORE_READ, 0, 0, 0, "",
     "show categories with direct and total counts",
     "  --json   print {\"categories\":[{\"path\",\"depth\",\"direct\",\"total\"}...]}\n\n"
     "Example: ecom category tree | head -20\n"},
    {"events", "tail", cmd_events_tail, STORE_READ, OPT_AFTER | OPT_MAX | OPT_FOLLOW, 0, 0,
     "[--after SEQ] [--max N] [--follow]", "show the event log",
     "Without --after, shows the newest N events; with it, the first N after SEQ.\n\n"
     "  --after SEQ   start after this sequence number\n"
     "  --max N       how many events to show first (default 10)\n"
     "  --follow      then keep printing new events (polls every 200 ms) until\n"
     "                interrupted (SIGINT or SIGTERM ends it cleanly, exit 0)\n"
     "  --json        print {\"events\":[...],\"last_seq\":N}; with --follow, one\n"
     "                JSON object per event and line\n\n"
     "Example: ecom events tail --after 1200 --follow\n"},
    {"stock", "get", cmd_stock_get, STORE_READ, OPT_LOCATION, 1, 1, "SKU [--location L]",
     "show a SKU's stock at a location",
     "Shows on_hand, reserved, available (on_hand - reserved), safety, sellable\n"
     "(available - safety, never below 0) and the backorder policy. A SKU never\n"
     "stocked at the location shows zeros. Exit 3 if no product has the SKU.\n\n"
     "  --location L   the stock location (default: \"default\")\n"
     "  --json         print {\"sku\",\"location\",\"on_hand\",\"reserved\",\"available\",\n"
     "                 \"safety\",\"sellable\",\"backorder\":\"deny\"|\"allow\"}\n\n"
     "Example: ecom stock get p0000042-1 --json\n"},
    {"stock", "set", cmd_stock_set, STORE_WRITE, OPT_LOCATION | OPT_REASON, 2, 2,
     "SKU N [--location L] [--reason R]", "set on_hand to an absolute count",
     "Logs the difference as a correction. Refused (exit 6) below what is reserved.\n"
     "Then shows the stock as 'stock get' does.\n\n"
     "  --location L   the stock location (default: \"default\")\n"
     "  --reason R     free text kept in the ledger (up to 256 bytes)\n\n"
     "Example: ecom stock set p0000042-1 120 --reason \"stocktake 2024-05\"\n"},
    {"stock", "adjust", cmd_stock_adjust, STORE_WRITE, OPT_LOCATION | OPT_REASON | OPT_REFERENCE,
     3, 3, "SKU receive|correct|damage|return QTY [OPTIONS]",
     "change on_hand by a quantity",
     "receive and return add QTY, damage subtracts it; QTY is 1..1000000000.\n"
     "correct adds a signed QTY (-5 takes five away). Refused (exit 6) if on_hand\n"
     "would go below what is reserved. Then shows the stock as 'stock get' does.\n\n"
     "  --location L      the stock location (default: \"default\")\n"
     "  --reason R        free text kept in the ledger (up to 256 bytes)\n"
     "  --reference REF   e.g. a delivery note or RMA number (up to 256 bytes)\n"
     "  --json            print the stock as 'stock get --json' does\n\n"
     "Example: ecom stock adjust p0000042-1 receive 50 --reference PO-1187\n"
     "         ecom stock adjust p0000042-1 correct -2 --reason \"count\"\n"},
    {"stock", "safety", cmd_stock_safety, STORE_WRITE, OPT_LOCATION, 2, 2,
     "SKU N [--location L]", "set the safety stock held back from sale",
     "Then shows the stock as 'stock get' does.\n\n"
     "  --location L   the stock location (default: \"default\")\n\n"
     "Example: ecom stock safety p0000042-1 5\n"},
    {"stock", "backorder", cmd_stock_backorder, STORE_WRITE, 0, 2, 2, "SKU allow|deny",
     "let reservations exceed stock, or not",
     "Applies to the SKU at every location; deny (never oversell) is the default.\n"
     "Then shows the stock at the default location as 'stock get' does.\n\n"
     "Example: ecom stock backorder p0000042-1 allow\n"},
    {"stock", "limit", cmd_stock_limit, STORE_WRITE, 0, 2, 2, "SKU N",
     "set the most units of a SKU one cart or order may hold",
     "N is the purchase limit; 0 means none (the default). Carts refuse a line over\n"
     "it (exit 5) and a merge caps the line at it. Prints the limit.\n\n"
     "  --json   print {\"sku\":\"SKU\",\"purchase_limit\":N}\n\n"
     "Example: ecom stock limit p0000042-1 2\n"},
    {"location", "add", cmd_location_add, STORE_WRITE, 0, 1, 2, "CODE [NAME]",
     "add a stock location",
     "CODE is 1..64 characters of [A-Za-z0-9._-]; NAME is up to 128 bytes of UTF-8.\n"
     "Exit 4 if the location exists. Prints \"added CODE\".\n\n"
     "  --json   print {\"id\":\"CODE\",\"result\":\"added\"}\n\n"
     "Example: ecom location add wh-east \"East warehouse\"\n"},
    {"location", "list", cmd_location_list, STORE_READ, 0, 0, 0, "", "list stock locations",
     "  --json   print {\"locations\":[{\"code\",\"name\"}...]}\n"},
    {NULL, "reserve", cmd_reserve, STORE_WRITE, OPT_ID | OPT_TTL | OPT_LOCATION, 1,
     CLI_MAX_POSITIONAL, "--id ID [--ttl SECONDS] [--location L] SKU:QTY...",
     "hold stock for a buyer: all lines or none",
     "Lines of the same SKU are added up. If any SKU is short, nothing is held and\n"
     "the exit code is 6. A retry with the same ID and lines is answered with the\n"
     "same reservation (exit 0); the same ID with other lines exits 4. Then shows\n"
     "the reservation as 'reservation get' does.\n\n"
     "  --id ID         the reservation's id, chosen by the caller (required)\n"
     "  --ttl SECONDS   how long the hold lasts, up to 30 days (default 900)\n"
     "  --location L    the stock location (default: \"default\")\n\n"
     "Example: ecom reserve --id cart-8812 p0000042-1:2 p0000107-3:1\n"},
    {"reservation", "get", cmd_reservation_get, STORE_READ, 0, 1, 1, "ID",
     "show a reservation",
     "Its state is held, committed, released or expired (a hold past its expiry\n"
     "reads as expired even before 'ecom expire' runs).\n\n"
     "  --json   print {\"id\",\"location\",\"state\",\"created_at\",\"expires_at\",\n"
     "           \"lines\":[{\"sku\",\"quantity\"}...]} (times in ms since the epoch)\n\n"
     "Example: ecom reservation get cart-8812\n"},
    {"reservation", "commit", cmd_reservation_commit, STORE_WRITE, 0, 1, 1, "ID",
     "sell a held reservation",
     "on_hand and reserved go down. A reservation ends once: exit 7 if it has\n"
     "already been committed, released or has expired.\n\n"
     "  --json   print {\"id\":\"ID\",\"result\":\"committed\"}\n\n"
     "Example: ecom reservation commit cart-8812\n"},
    {"reservation", "release", cmd_reservation_release, STORE_WRITE, 0, 1, 1, "ID",
     "give a held reservation's stock back",
     "A reservation ends once: exit 7 if it has already ended.\n\n"
     "  --json   print {\"id\":\"ID\",\"result\":\"released\"}\n\n"
     "Example: ecom reservation release cart-8812\n"},
    {"reservation", "extend", cmd_reservation_extend, STORE_WRITE, OPT_TTL, 1, 1,
     "ID --ttl SECONDS", "move a held reservation's expiry to now + SECONDS",
     "Exit 7 if it has already ended or expired. Then shows the reservation as\n"
     "'reservation get' does.\n\n"
     "  --ttl SECONDS   the new time to live, up to 30 days (required)\n\n"
     "Example: ecom reservation extend cart-8812 --ttl 600\n"},
    {NULL, "expire", cmd_expire, STORE_WRITE, OPT_NOW, 0, 0, "[--now MS]",
     "end the holds past their expiry",
     "Ends every reservation and flash-sale claim whose expiry has come, returns\n"
     "their stock, closes every flash sale whose end time has come, and prints\n"
     "\"expired N\" (holds ended and sales closed). Expiry is also enforced when\n"
     "stock is next judged, so this only tidies up; run it every few seconds.\n\n"
     "  --now MS   judge expiry as of this time, in ms since the epoch\n"
     "             (default: the store's clock)\n"
     "  --json     print {\"expired\":N,\"now\":MS}\n\n"
     "Example: ecom expire\n"},
    {"flash", "open", cmd_flash_open, STORE_WRITE,
     OPT_SKU | OPT_UNITS | OPT_LOCATION | OPT_STARTS | OPT_ENDS | OPT_USER_LIMIT |
         OPT_CLAIM_TTL | OPT_ADMIT,
     1, 1,
     "SALE --sku SKU --units N [OPTIONS]",
     "open a flash sale of N units of one SKU",
     "Moves N sellable units into the sale's pool (exit 6 if there are fewer).\n"
     "Then shows the sale as 'flash status' does.\n\n"
     "  --sku SKU                the SKU on sale (required)\n"
     "  --units N                units in the pool, 1..1000000000 (required)\n"
     "  --location L             the stock location (default: \"default\")\n"
     "  --starts-at MS           start, in ms since the epoch (default: now)\n"
     "  --ends-at MS             end, in ms since the epoch (default: never)\n"
     "  --per-user-limit N       units one user may claim over the sale (default:\n"
     "                           no limit)\n"
     "  --claim-ttl SECONDS      how long an admitted claim holds its units\n"
     "                           (default 600)\n"
     "  --admit-per-second N     claims checkout can take per second; faster claims\n"
     "                           are queued, FIFO (default: no queue)\n\n"
     "Example: ecom flash open drop-42 --sku p0000042-1 --units 100 --per-user-limit 2\n"},
    {"flash", "claim", cmd_flash_claim, STORE_WRITE, OPT_USER | OPT_KEY | OPT_QTY, 1, 1,
     "SALE --user U --key K [--qty N]", "claim units of a flash sale",
     "Prints the outcome: admitted (the units are held until the claim expires),\n"
     "queued (held, waiting its turn: position and estimated wait), sold_out,\n"
     "limit (over the per-user limit), not_started or ended. A retry with the same\n"
     "user and key returns the same claim as it stands (committed, released or\n"
     "expired once it has ended). Exit 0 when the claim holds units, 6 when sold\n"
     "out or over the limit, 7 when the sale has not started or has ended, or the\n"
     "claim has.\n\n"
     "  --user U   the buyer (required)\n"
     "  --key K    an idempotency key, unique per attempt (required)\n"
     "  --qty N    units to claim (default 1)\n"
     "  --json     print {\"outcome\",\"claim_id\"(null without units),\"quantity\",\n"
     "             \"position\",\"wait_ms\",\"admit_at\",\"expires_at\"}\n\n"
     "Example: ecom flash claim drop-42 --user u123 --key 7f3a --qty 2\n"},
    {"flash", "poll", cmd_flash_poll, STORE_READ, 0, 1, 1, "CLAIM_ID",
     "show a claim's state now",
     "A queued claim reads admitted once its turn has come; an ended one reads\n"
     "expired, released or committed. Exit 0 whatever the state.\n\n"
     "  --json   print the same object as 'flash claim --json'\n\n"
     "Example: ecom flash poll drop-42:17\n"},
    {"flash", "release", cmd_flash_release, STORE_WRITE, 0, 1, 1, "CLAIM_ID",
     "give a claim's units back to the sale",
     "Exit 7 if the claim has already ended.\n\n"
     "  --json   print {\"id\":\"CLAIM_ID\",\"result\":\"released\"}\n\n"
     "Example: ecom flash release drop-42:17\n"},
    {"flash", "commit", cmd_flash_commit, STORE_WRITE, 0, 1, 1, "CLAIM_ID",
     "sell a claim's units",
     "Exit 7 if the claim has already ended or expired, 4 if it is still queued\n"
     "(poll until it is admitted).\n\n"
     "  --json   print {\"id\":\"CLAIM_ID\",\"result\":\"committed\"}\n\n"
     "Example: ecom flash commit drop-42:17\n"},
    {"flash", "status", cmd_flash_status, STORE_READ, 0, 1, 1, "SALE", "show a sale's figures",
     "  --json   print {\"sale\",\"sku\",\"location\",\"open\",\"units\",\"remaining\",\"held\",\n"
     "           \"sold\",\"claims\",\"starts_at\",\"ends_at\",\"per_user_limit\",\n"
     "           \"claim_ttl_ms\",\"admit_per_second\"}\n\n"
     "Example: ecom flash status drop-42\n"},
    {"flash", "close", cmd_flash_close, STORE_WRITE, 0, 1, 1, "SALE", "close a flash sale",
     "What is left in the pool goes back to stock; live claims stay valid until\n"
     "they end.\n\n"
     "  --json   print {\"id\":\"SALE\",\"result\":\"closed\"}\n\n"
     "Example: ecom flash close drop-42\n"},
    {"cart", "add", cmd_cart_add, STORE_WRITE, OPT_CURRENCY, 3, 3, "CART SKU QTY [--currency C]",
     "add units of a SKU to a cart",
     "CART is user:<id> (a signed-in buyer's cart) or guest:<token> (an anonymous\n"
     "one); the id or token is 1..64 characters of [A-Za-z0-9._-].\n"
     "Adds QTY (1..999 per line) to the SKU's line, priced from the catalog in the\n"
     "cart's currency; the first line sets that currency. Exit 3 if no product has\n"
     "the SKU, 5 if it is not active, has no price in the currency, the cart is in\n"
     "another currency, or a bound or the SKU's purchase limit would be exceeded.\n"
     "Then shows the cart as 'cart get' does.\n\n"
     "  --currency C   the ISO 4217 currency of the price (default USD)\n"
     "  --json         print the cart as 'cart get --json' does\n\n"
     "Example: ecom cart add guest:b7f2 p0000042-1 2\n"},
    {"cart", "set", cmd_cart_set, STORE_WRITE, OPT_CURRENCY, 3, 3, "CART SKU QTY [--currency C]",
     "set a cart line's quantity (0 removes it)",
     "Sets the line to QTY (0..999) and refreshes its price from the catalog: this\n"
     "is how a buyer accepts a price that changed (checkout refuses a stale line).\n"
     "Errors as 'cart add'. Then shows the cart.\n\n"
     "  --currency C   the ISO 4217 currency of the price (default USD)\n"
     "  --json         print the cart as 'cart get --json' does\n\n"
     "Example: ecom cart set user:u123 p0000042-1 3\n"},
    {"cart", "remove", cmd_cart_remove, STORE_WRITE, 0, 2, 2, "CART SKU",
     "remove a line from a cart",
     "Exit 3 if the cart has no line for the SKU. Then shows the cart.\n\n"
     "  --json   print the cart as 'cart get --json' does\n\n"
     "Example: ecom cart remove user:u123 p0000042-1\n"},
    {"cart", "get", cmd_cart_get, STORE_READ, 0, 1, 1, "CART", "show a cart",
     "CART is user:<id> (a signed-in buyer's cart) or guest:<token> (an anonymous\n"
     "one); the id or token is 1..64 characters of [A-Za-z0-9._-].\n"
     "Shows each line with its quantity, the unit price seen when it was last added\n"
     "or set, and the line's total, then the subtotal. A missing or expired cart\n"
     "is empty (carts expire after 30 idle days for guests, 90 for users).\n\n"
     "  --json   print {\"cart\",\"currency\",\"updated_at\",\"lines\":[{\"sku\",\n"
     "           \"quantity\",\"unit_price\",\"line_total\"}...],\"subtotal\"}\n"
     "           (money in minor units; currency \"\" when empty)\n\n"
     "Example: ecom cart get user:u123 --json\n"},
    {"cart", "clear", cmd_cart_clear, STORE_WRITE, 0, 1, 1, "CART", "empty a cart",
     "Empties the cart (fine if it was empty). Then shows it.\n\n"
     "  --json   print the cart as 'cart get --json' does\n\n"
     "Example: ecom cart clear guest:b7f2\n"},
    {"cart", "merge", cmd_cart_merge, STORE_WRITE, 0, 2, 2, "GUEST_CART USER_CART",
     "merge a guest's cart into a user's at login",
     "In one atomic step: quantities of the same SKU are added up (capped at 999\n"
     "and at the SKU's purchase limit) and the guest cart is deleted. Merging an\n"
     "empty or missing guest cart changes nothing. Exit 5, nothing merged, if the\n"
     "two carts are in different currencies or together would hold more than 100\n"
     "lines (no line is dropped). Then shows the user's cart.\n\n"
     "  --json   print the user's cart as 'cart get --json' does\n\n"
     "Example: ecom cart merge guest:b7f2 user:u123\n"},
    {NULL, "checkout", cmd_checkout, STORE_WRITE, OPT_CART | OPT_USER | OPT_TOKEN | OPT_KEY |
     OPT_CLAIM | OPT_LOCATION, 0, 0,
     "--user U --token TOKEN --key KEY [--cart CART] [--claim ID]... [--location L]",
     "buy a cart: price it, hold its stock, charge, and print the order",
     "Prices the cart (lines, then the store's --shipping-fee and --tax-rate-bp),\n"
     "holds the stock of every line (all or none), creates the order, charges the\n"
     "payment token, then commits the stock and marks the order paid; the cart is\n"
     "emptied. Prints the order as 'order get' does.\n\n"
     "KEY makes it safe to retry: the same key and request print the same order,\n"
     "never charged twice; the same key with another request exits 4.\n\n"
     "Refusals: exit 5 for an empty cart, a stale one (a price changed or a\n"
     "product is no longer active: 'cart set' the line to accept) or a line over\n"
     "its SKU's purchase limit (lowered since it was added), 6 for stock,\n"
     "8 when the payment is declined (the order is printed, cancelled, and the stock\n"
     "went back), 9 when the provider failed or did not answer (the order is\n"
     "printed, pending payment: retry with the same key, or run 'ecom recover'),\n"
     "4 while another checkout with the key is still running.\n\n"
     "The CLI charges through the library's built-in test provider, which decides\n"
     "by token: tok_approve, tok_decline, tok_error (provider failure),\n"
     "tok_timeout (charged, but the answer is lost).\n\n"
     "  --cart CART     the cart to buy: user:<id> or guest:<token> (default user:U)\n"
     "  --user U        the buyer; orders are listed per user (required)\n"
     "  --token TOKEN   the payment token from the buyer's client (required)\n"
     "  --key KEY       the idempotency key: 1..128 printable ASCII characters,\n"
     "                  unique per purchase attempt (required)\n"
     "  --claim ID      a flash-sale claim standing in for its SKU's line; repeat\n"
     "                  for several\n"
     "  --location L    the stock location (default: \"default\")\n"
     "  --json          print the order as 'order get --json' does\n\n"
     "Example: ecom --shipping-fee 499 --tax-rate-bp 825 checkout --user u123 \\\n"
     "           --token tok_approve --key 5d1c-checkout-1   (buys the cart user:u123)\n"},
    {"order", "get", cmd_order_get, STORE_READ, 0, 1, 1, "ID", "show an order",
     "Shows its state, version, lines (with units shipped), totals in the order's\n"
     "currency, the charge, why it was declined or cancelled, and its history: each\n"
     "move with when, who and why. Exit 3 if there is no such order.\n\n"
     "  --json   print the order as ecom_order_to_json writes it: {\"id\",\"user\",\n"
     "           \"state\",\"version\",\"created_at\",\"currency\",\"location\",\n"
     "           \"subtotal\",\"shipping\",\"tax\",\"total\",\"refunded\",\"charge_id\",\n"
     "           \"reason\",\"reservation_id\",\"lines\":[{\"sku\",\"quantity\",\n"
     "           \"unit_price\",\"shipped\"}],\"claims\",\"refunds\":[{\"key\",\"amount\"}],\n"
     "           \"history\":[{\"state\",\"time\",\"who\",\"why\"}]}\n\n"
     "Example: ecom order get o0192f3a1b2c3d4e5f6\n"},
    {"order", "list", cmd_order_list, STORE_READ, OPT_USER | OPT_STATE | OPT_LIMIT | OPT_CURSOR,
     0, 0, "[--user U] [--state S] [--limit N] [--cursor C]",
     "list orders, newest first, a page at a time",
     "One row per order: id, state, total, user, created. Prints the cursor of the\n"
     "next page last; pass it back with --cursor.\n\n"
     "  --user U     only this buyer's orders\n"
     "  --state S    pending_payment, paid, fulfilling, partially_shipped, shipped,\n"
     "               delivered, cancelled, refunded or partially_refunded\n"
     "  --limit N    orders per page, 1..1000 (default 100)\n"
     "  --cursor C   the next page after a previous listing\n"
     "  --json       print {\"orders\":[...],\"next_cursor\":\"...\"|null}\n\n"
     "Example: ecom order list --user u123 --state paid\n"},
    {"order", "fulfil", cmd_order_fulfil, STORE_WRITE, OPT_EXPECT | OPT_WHO | OPT_WHY, 1, 1,
     "ID [--expect-version N] [--who W] [--why T]", "start fulfilling a paid order",
     "Moves the order from paid to fulfilling. An illegal move (the order is not\n"
     "paid) exits 4. Every move is recorded in the order's history and logged as\n"
     "an event (order.<state>). Then shows the order as 'order get' does.\n\n"
     "  --expect-version N   move only if the order's version is N (else exit 4)\n"
     "  --who W              who made the move, kept in the history (default: cli)\n"
     "  --why T              why, kept in the history\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom order fulfil o0192f3a1b2c3d4e5f6 --who warehouse-7\n"},
    {"order", "ship", cmd_order_ship, STORE_WRITE, OPT_EXPECT | OPT_WHO, 1, CLI_MAX_POSITIONAL,
     "ID [SKU:QTY...] [--expect-version N] [--who W]", "ship some or all of an order",
     "Ships QTY units of each SKU given, or everything not shipped yet when no line\n"
     "is given: the order becomes partially_shipped or shipped. Exit 5 for more\n"
     "units than are left to ship, 4 for an illegal move (the order is not\n"
     "fulfilling or partially shipped). Then shows the order.\n\n"
     "  --expect-version N   ship only if the order's version is N (else exit 4)\n"
     "  --who W              who shipped, kept in the history (default: cli)\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom order ship o0192f3a1b2c3d4e5f6 p0000042-1:1\n"},
    {"order", "deliver", cmd_order_deliver, STORE_WRITE, OPT_EXPECT | OPT_WHO | OPT_WHY, 1, 1,
     "ID [--expect-version N] [--who W] [--why T]", "mark a shipped order delivered",
     "Moves the order from shipped to delivered; any other state exits 4. Then\n"
     "shows the order.\n\n"
     "  --expect-version N   move only if the order's version is N (else exit 4)\n"
     "  --who W              who made the move (default: cli)\n"
     "  --why T              why, kept in the history\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom order deliver o0192f3a1b2c3d4e5f6 --why \"signed for\"\n"},
    {"order", "cancel", cmd_order_cancel, STORE_WRITE, OPT_EXPECT | OPT_WHO | OPT_WHY, 1, 1,
     "ID [--why T] [--expect-version N] [--who W]", "cancel an order not yet shipped",
     "Its stock goes back, and a paid order is refunded. Exit 4 once the order has\n"
     "shipped (refund it instead). Then shows the order.\n\n"
     "  --why T              why, kept in the history and as the order's reason\n"
     "  --expect-version N   cancel only if the order's version is N (else exit 4)\n"
     "  --who W              who cancelled (default: cli)\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom order cancel o0192f3a1b2c3d4e5f6 --why \"customer asked\"\n"},
    {"order", "refund", cmd_order_refund, STORE_WRITE,
     OPT_KEY | OPT_EXPECT | OPT_WHO | OPT_WHY, 2, 2,
     "ID AMOUNT --key KEY [--why T] [--expect-version N] [--who W]",
     "refund part or all of a paid order",
     "Refunds AMOUNT minor units through the payment provider: a shipped or\n"
     "delivered order becomes refunded once all it paid is back, a delivered one\n"
     "partially_refunded before that; any other keeps its state and is still\n"
     "fulfilled (cancel it to stop it). KEY makes it safe to retry: a refund with the\n"
     "same key is made once. Exit 5 if AMOUNT is not positive or above what is left\n"
     "to refund, 4 if the order was never paid, is cancelled or is refunded in full,\n"
     "9 if the provider failed or timed out (retry with the same key). Then shows\n"
     "the order.\n\n"
     "  --key KEY            the refund's idempotency key (required)\n"
     "  --why T              why, kept in the history\n"
     "  --expect-version N   refund only if the order's version is N (else exit 4)\n"
     "  --who W              who refunded (default: cli)\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom order refund o0192f3a1b2c3d4e5f6 1500 --key rf-8812-1\n"},
    {"payments", "list", cmd_payments_list, STORE_READ, OPT_ORDER, 0, 0, "--order ID",
     "list the test provider's records for an order",
     "The built-in test payment provider records every call it answers: one row\n"
     "per record, oldest first, with the charge id, the kind (charge: the\n"
     "authorization; capture, refund or void), the amount in minor units and\n"
     "whether it was approved.\n\n"
     "  --order ID   the order (required)\n"
     "  --json       print {\"order\",\"payments\":[{\"charge_id\",\"kind\",\"amount\",\n"
     "               \"approved\":true|false}...]}\n\n"
     "Example: ecom payments list --order o0192f3a1b2c3d4e5f6\n"},
    {NULL, "notify", cmd_notify, STORE_WRITE, OPT_CHARGE | OPT_REASON, 2, 2,
     "ORDER_ID approved|declined [--charge CHARGE_ID] [--reason R]",
     "deliver a payment provider's notification",
     "The provider says how the order's payment ended. It goes through the same\n"
     "completion path as a checkout retry, so the order is completed once:\n"
     "approved marks it paid (and sells its stock), declined cancels it (and\n"
     "returns the stock). A notification for an order already past payment exits\n"
     "4 (it is stale), unless it agrees with what happened. Then shows the order.\n\n"
     "  --charge CHARGE_ID   the provider's charge id (required with approved)\n"
     "  --reason R           why it was declined\n"
     "  --json               print the order as 'order get --json' does\n\n"
     "Example: ecom notify o0192f3a1b2c3d4e5f6 approved --charge ch_81f2\n"},
    {NULL, "recover", cmd_recover, STORE_WRITE, OPT_OLDER, 0, 0, "[--older-than SECONDS]",
     "finish checkouts abandoned mid-way",
     "Every order still pending payment and older than SECONDS is completed from\n"
     "the payment provider's record (paid if it charged, cancelled if it declined)\n"
     "or, if the provider never saw it, cancelled with its stock returned. Prints\n"
     "\"recovered N\". Run it every few minutes, and after a crash.\n\n"
     "  --older-than SECONDS   leave younger orders alone: their checkout may still\n"
     "                         be running (default 300)\n"
     "  --json                 print {\"recovered\":N}\n\n"
     "Example: ecom recover --older-than 600\n"},
    {NULL, "purge", cmd_purge, STORE_WRITE, OPT_NOW, 0, 0, "[--now MS]",
     "drop expired idempotency keys and idle carts",
     "Drops checkout keys older than their time to live (24 h) and carts idle past\n"
     "theirs (30 days for guests, 90 for users). Prints \"purged N\".\n\n"
     "  --now MS   judge as of this time, in ms since the epoch (default: the\n"
     "             store's clock)\n"
     "  --json     print {\"purged\":N,\"now\":MS}\n\n"
     "Example: ecom purge\n"},
    {"consumer", "read", cmd_consumer_read, STORE_READ, OPT_MAX, 1, 1, "NAME [--max N]",
     "read the events a named consumer has not acknowledged",
     "A consumer reads the event log from its own durable position: what it has\n"
     "not acknowledged it reads again, so it sees every event at least once. Reading\n"
     "does not move the position; 'consumer ack' does. NAME is 1..64 characters of\n"
     "[A-Za-z0-9._-]. Events are shown as 'events tail' shows them.\n\n"
     "  --max N   how many events to read (default 100)\n"
     "  --json    print {\"consumer\",\"events\":[...],\"last_seq\"} where last_seq is\n"
     "            the last event read (the position when none): pass it to ack\n\n"
     "Example: ecom consumer read mailer --max 20\n"},
    {"consumer", "ack", cmd_consumer_ack, STORE_WRITE, 0, 2, 2, "NAME SEQ",
     "acknowledge a consumer's events up to SEQ",
     "The next read starts after SEQ. Acknowledging less than before changes\n"
     "nothing. Then shows the position as 'consumer position' does.\n\n"
     "  --json   print {\"consumer\":\"NAME\",\"position\":SEQ}\n\n"
     "Example: ecom consumer ack mailer 4212\n"},
    {"consumer", "position", cmd_consumer_position, STORE_READ, 0, 1, 1, "NAME",
     "show how far a consumer has acknowledged",
     "0 for a consumer that has acknowledged nothing yet.\n\n"
     "  --json   print {\"consumer\":\"NAME\",\"position\":SEQ}\n\n"
     "Example: ecom consumer position mailer\n"},
    {NULL, "check", cmd_check, STORE_READ, 0, 0, 0, "",
     "check consistency; exit 1 on any violation",
     "Prints each violation found, one per line.\n\n"
     "  --json   print {\"violations\":N,\"messages\":[...]}\n"},
    {NULL, "version", cmd_version, STORE_NONE, 0, 0, 0, "",
     "print the tool's and the library's versions", ""},
};

/* KIND_LIST: a repeatable string option, collected into a cli_list. */
typedef enum opt_kind { KIND_FLAG, KIND_U64, KIND_I64, KIND_STR, KIND_LIST } opt_kind;

typedef struct cli_option {
    const char *name;
    cli_opts bit;
    opt_kind kind;
    size_t offset; /* where a value goes in cli_args */
} cli_option;

static const cli_option options[] = {
    {"--store", OPT_STORE, KIND_STR, offsetof(cli_args, store_uri)},
    {"--json", OPT_JSON, KIND_FLAG, 0},
    {"--help", OPT_HELP, KIND_FLAG, 0},
    {"--expect-version", OPT_EXPECT, KIND_U64, offsetof(cli_args, expect_version)},
    {"--upsert", OPT_UPSERT, KIND_FLAG, 0},
    {"--category", OPT_CATEGORY, KIND_STR, offsetof(cli_args, category)},
    {"--status", OPT_STATUS, KIND_STR, offsetof(cli_args, status)},
    {"--limit", OPT_LIMIT, KIND_U64, offsetof(cli_args, limit)},
    {"--cursor", OPT_CURSOR, KIND_STR, offsetof(cli_args, cursor)},
    {"--after", OPT_AFTER, KIND_U64, offsetof(cli_args, after)},
    {"--max", OPT_MAX, KIND_U64, offsetof(cli_args, max)},
    {"--follow", OPT_FOLLOW, KIND_FLAG, 0},
    {"--strict", OPT_STRICT, KIND_FLAG, 0},
    {"--location", OPT_LOCATION, KIND_STR, offsetof(cli_args, location)},
    {"--reason", OPT_REASON, KIND_STR, offsetof(cli_args, reason)},
    {"--reference", OPT_REFERENCE, KIND_STR, offsetof(cli_args, reference)},
    {"--id", OPT_ID, KIND_STR, offsetof(cli_args, id)},
    {"--ttl", OPT_TTL, KIND_I64, offsetof(cli_args, ttl)},
    {"--now", OPT_NOW, KIND_I64, offsetof(cli_args, now)},
    {"--sku", OPT_SKU, KIND_STR, offsetof(cli_args, sku)},
    {"--units", OPT_UNITS, KIND_I64, offsetof(cli_args, units)},
    {"--starts-at", OPT_STARTS, KIND_I64, offsetof(cli_args, starts_at)},
    {"--ends-at", OPT_ENDS, KIND_I64, offsetof(cli_args, ends_at)},
    {"--per-user-limit", OPT_USER_LIMIT, KIND_I64, offsetof(cli_args, per_user_limit)},
    {"--claim-ttl", OPT_CLAIM_TTL, KIND_I64, offsetof(cli_args, claim_ttl)},
    {"--admit-per-second", OPT_ADMIT, KIND_I64, offsetof(cli_args, admit_per_second)},
    {"--user", OPT_USER, KIND_STR, offsetof(cli_args, user)},
    {"--key", OPT_KEY, KIND_STR, offsetof(cli_args, key)},
    {"--qty", OPT_QTY, KIND_I64, offsetof(cli_args, qty)},
    {"--currency", OPT_CURRENCY, KIND_STR, offsetof(cli_args, currency)},
    {"--cart", OPT_CART, KIND_STR, offsetof(cli_args, cart)},
    {"--token", OPT_TOKEN, KIND_STR, offsetof(cli_args, token)},
    {"--claim", OPT_CLAIM, KIND_LIST, offsetof(cli_args, claims)},
    {"--who", OPT_WHO, KIND_STR, offsetof(cli_args, who)},
    {"--why", OPT_WHY, KIND_STR, offsetof(cli_args, why)},
    {"--state", OPT_STATE, KIND_STR, offsetof(cli_args, state)},
    {"--order", OPT_ORDER, KIND_STR, offsetof(cli_args, order)},
    {"--charge", OPT_CHARGE, KIND_STR, offsetof(cli_args, charge)},
    {"--older-than", OPT_OLDER, KIND_I64, offsetof(cli_args, older_than)},
    {"--shipping-fee", OPT_SHIPPING, KIND_I64, offsetof(cli_args, shipping_fee)},
    {"--tax-rate-bp", OPT_TAX, KIND_I64, offsetof(cli_args, tax_rate_bp)},
    {"--facet", OPT_FACET, KIND_LIST, offsetof(cli_args, facets)},
    {"--filter", OPT_FILTER, KIND_LIST, offsetof(cli_args, filters)},
    {"--sort", OPT_SORT, KIND_STR, offsetof(cli_args, sort)},
};

/* --shipping-fee and --tax-rate-bp set the store's options, so every command takes
 * them; they matter to the commands that price an order (checkout). */
#define GLOBAL_OPTS (OPT_JSON | OPT_STORE | OPT_HELP | OPT_SHIPPING | OPT_TAX)
#define MAX_WORDS (2 + CLI_MAX_POSITIONAL)

/* The command line, split into words (command, subcommand, arguments) and options. */
typedef struct parsed {
    cli_args args;
    const char *words[MAX_WORDS];
    size_t nwords;
} parsed;

/* ---- errors ---- */

int cli_exit_code(int err)
{
    switch (err) {
    case ECOM_OK:
        return CLI_OK;
    case ECOM_ENOTFOUND:
        return CLI_NOTFOUND;
    case ECOM_EEXISTS:
    case ECOM_ECONFLICT:
    case ECOM_EDUPSKU:
    case ECOM_EIDEMPOTENCY: /* the key names another request: pick a new key */
    case ECOM_ESTATE:       /* the order's state does not allow the move */
        return CLI_CONFLICT;
    case ECOM_EURI:
    case ECOM_EUNSUPPORTED:
        return CLI_USAGE;
    case ECOM_EBUSY:
        return CLI_CONFLICT; /* retryable: a claim still queued, a record kept changing */
    case ECOM_ESKU:
    case ECOM_ELOCATION:
        return CLI_NOTFOUND;
    case ECOM_EINSUFFICIENT:
        return CLI_INSUFFICIENT;
    case ECOM_EENDED:
    case ECOM_EEXPIRED:
        return CLI_ENDED;
    case ECOM_EDECLINED:
        return CLI_DECLINED;
    case ECOM_ETIMEOUT:
    case ECOM_EPAYMENT:
        return CLI_PAYMENT;
    case ECOM_EINVAL:
    case ECOM_EQUANTITY:
    case ECOM_EJSON:
    case ECOM_EUTF8:
    case ECOM_EPRICE:
    case ECOM_ECURRENCY:
    case ECOM_EMIXEDCURRENCY: /* a line in another currency than the cart's */
    case ECOM_ETOOLONG:
    case ECOM_EBADID:
    case ECOM_EFIELD:
    case ECOM_ELIMIT:
    case ECOM_ECATEGORY:
    case ECOM_ESTATUS:
    case ECOM_EEMPTY:       /* a cart to fix before checkout: */
    case ECOM_ESTALE:       /* its prices changed, */
    case ECOM_EUNAVAILABLE: /* or a product is no longer sold */
    case ECOM_EQUERY:       /* a malformed search query or request */
        return CLI_INVALID;
    default:
        return CLI_FAILURE;
    }
}

int cli_fail_msg(int err, const char *message)
{
    fprintf(stderr, "ecom: %s\n", message && *message ? message : ecom_strerror(err));
    return cli_exit_code(err);
}

int cli_fail(cli *c, int err)
{
    return cli_fail_msg(err, c->store ? ecom_errmsg(c->store) : NULL);
}

int cli_usage_error(const char *message)
{
    fprintf(stderr, "ecom: %s\nTry 'ecom --help'.\n", message);
    return CLI_USAGE;
}

/* ---- output ---- */

int cli_print_json(cJSON *item)
{
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (text == NULL)
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    puts(text);
    cJSON_free(text);
    return CLI_OK;
}

int cli_json_add_u64(cJSON *obj, const char *name, uint64_t value)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, value);
    return cJSON_AddRawToObject(obj, name, buf) ? 0 : -1;
}

int cli_json_add_i64(cJSON *obj, const char *name, int64_t value)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, value);
    return cJSON_AddRawToObject(obj, name, buf) ? 0 : -1;
}

void cli_format_time(char *buf, size_t size, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" PRId64 " ms", ms);
        return;
    }
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(ms % 1000));
}

/* ISO 4217 minor-unit exponents other than 2. */
static int currency_decimals(const char *currency)
{
    static const char zero[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF "
                               "XOF XPF";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    static const char four[] = "CLF UYW";
    if (strlen(currency) != 3)
        return 2;
    if (strstr(zero, currency))
        return 0;
    if (strstr(three, currency))
        return 3;
    return strstr(four, currency) ? 4 : 2;
}

void cli_format_money(char *buf, size_t size, int64_t amount, const char *currency)
{
    int decimals = currency_decimals(currency);
    int64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals == 0)
        snprintf(buf, size, "%" PRId64 " %s", amount, currency);
    else
        snprintf(buf, size, "%" PRId64 ".%0*" PRId64 " %s", amount / scale, decimals,
                 amount % scale, currency);
}

int cli_print_result(const cli *c, const char *id, const char *result)
{
    if (!c->args.json) {
        printf("%s %s\n", result, id);
        return CLI_OK;
    }
    cJSON *obj = cJSON_CreateObject();
    if (obj && (!cJSON_AddStringToObject(obj, "id", id) ||
                !cJSON_AddStringToObject(obj, "result", result))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return cli_print_json(obj);
}

int cli_apply(cli *c, int (*fn)(ecom_store *, const char *), const char *result)
{
    int rc = fn(c->store, c->args.pos[0]);
    return rc == ECOM_OK ? cli_print_result(c, c->args.pos[0], result) : cli_fail(c, rc);
}

const char *cli_status_name(ecom_product_status status)
{
    switch (status) {
    case ECOM_STATUS_DRAFT:
        return "draft";
    case ECOM_STATUS_ACTIVE:
        return "active";
    case ECOM_STATUS_ARCHIVED:
        return "archived";
    }
    return "unknown";
}

/* ---- help ---- */

static void print_command_line(FILE *f, const cli_command *cmd)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s%s %s", cmd->group ? cmd->group : "",
             cmd->group ? " " : "", cmd->name, cmd->synopsis);
    /* A long synopsis gets a line of its own rather than pushing the summary off. */
    if (strlen(name) >= 30)
        fprintf(f, "  %s\n  %-30s %s\n", name, "", cmd->summary);
    else
        fprintf(f, "  %-30s %s\n", name, cmd->summary);
}

static void print_tool_help(FILE *f)
{
    fputs("usage: ecom [--store URI] [--json] COMMAND [ARGS]\n\n"
          "The command-line tool of libecom: import, export, inspect and edit a store.\n\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        print_command_line(f, &commands[i]);
    fputs("\nOptions for every command:\n"
          "  --store URI        the store, e.g. lmdb:./var/store or lmdb:///srv/store\n"
          "                     (default: the ECOM_STORE environment variable)\n"
          "  --json             machine-readable output\n"
          "  --help             help for the tool or for a command (ecom product --help)\n"
          "  --shipping-fee N   the store's flat shipping fee per order, in minor units\n"
          "                     of the order's currency (default 0); checkout uses it\n"
          "  --tax-rate-bp N    the store's tax rate in basis points: 825 is 8.25%\n"
          "                     (default 0); checkout uses it\n\n" EXIT_CODES_HELP,
          f);
}

static void print_group_help(FILE *f, const char *group)
{
    fprintf(f, "usage: ecom [--store URI] %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (commands[i].group && strcmp(commands[i].group, group) == 0)
            print_command_line(f, &commands[i]);
    }
    fprintf(f, "\nRun 'ecom %s SUBCOMMAND --help' for details.\n" EXIT_CODES_HELP, group);
}

static void print_command_help(FILE *f, const cli_command *cmd)
{
    fprintf(f, "usage: ecom [--store URI] [--json] %s%s%s %s\n\n%s.\n", cmd->group ? cmd->group : "",
            cmd->group ? " " : "", cmd->name, cmd->synopsis, cmd->summary);
    if (*cmd->help)
        fprintf(f, "\n%s", cmd->help);
    fputs("\n" EXIT_CODES_HELP, f);
}

/* ---- parsing ---- */

static int parse_u64(const char *s, uint64_t *v)
{
    /* Digits only: strtoull alone would skip leading white space and take a sign
       after it (" -1" wrapping to 2^64 - 1). */
    if (!(s[0] >= '0' && s[0] <= '9'))
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int cli_parse_i64(const char *s, const char *what, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    int digits = s[0] == '-' ? s[1] >= '0' && s[1] <= '9' : s[0] >= '0' && s[0] <= '9';
    if (errno || !digits || *end) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s must be %s, not '%.60s'", what,
                 digits && errno == ERANGE ? "a 64-bit integer" : "a whole number", s);
        return cli_usage_error(msg);
    }
    *v = x;
    return CLI_OK;
}

int cli_parse_u64(const char *s, const char *what, uint64_t *v)
{
    if (parse_u64(s, v) == 0)
        return CLI_OK;
    char msg[200];
    snprintf(msg, sizeof msg, "%s must be a whole number from 0 to %" PRIu64 ", not '%.60s'",
             what, UINT64_MAX, s);
    return cli_usage_error(msg);
}

int cli_seconds_to_ms(int64_t seconds, const char *opt, int64_t *ms)
{
    if (seconds > INT64_MAX / 1000) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s %" PRId64 ": too many seconds", opt, seconds);
        return cli_usage_error(msg);
    }
    *ms = seconds * 1000;
    return CLI_OK;
}

uint64_t cli_expected_version(const cli_args *args)
{
    return (args->given & OPT_EXPECT) ? args->expect_version : ECOM_VERSION_ANY;
}

void cli_free_lines(cli_lines *l)
{
    free(l->text);
    free(l->skus);
    free(l->quantities);
}

/* Splits word i ("SKU:QTY") into line i; copy has room for it. */
static int split_line(cli_lines *l, size_t i, const char *word, char *copy)
{
    memcpy(copy, word, strlen(word) + 1);
    char *colon = strrchr(copy, ':');
    if (colon == NULL || colon == copy) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%.60s' is not SKU:QTY", word);
        return cli_usage_error(msg);
    }
    *colon = '\0';
    l->skus[i] = copy;
    return cli_parse_i64(colon + 1, "QTY", &l->quantities[i]);
}

int cli_parse_lines(cli_lines *l, const char *const *words, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(words[i]) + 1;
    l->n = n;
    l->text = malloc(total);
    l->skus = calloc(n ? n : 1, sizeof *l->skus);
    l->quantities = calloc(n ? n : 1, sizeof *l->quantities);
    if (l->text == NULL || l->skus == NULL || l->quantities == NULL)
        return cli_fail_msg(ECOM_ENOMEM, NULL);
    char *copy = l->text;
    for (size_t i = 0; i < n; i++) {
        int rc = split_line(l, i, words[i], copy);
        if (rc != CLI_OK)
            return rc;
        copy += strlen(words[i]) + 1;
    }
    return CLI_OK;
}

/* Appends a KIND_LIST option's value to the cli_list at field. Returns 0 or -1. */
static int append_list_option(const char *value, char *field)
{
    cli_list *list = (cli_list *)(void *)field;
    if (list->n >= CLI_MAX_CLAIMS)
        return -1;
    list->items[list->n++] = value;
    return 0;
}

/* The largest value a KIND_U64 or KIND_I64 option takes. --expect-version stops
   short of ECOM_VERSION_ANY, which would turn its compare-and-set off. */
static uint64_t option_max(const cli_option *opt)
{
    if (opt->bit == OPT_EXPECT)
        return ECOM_VERSION_ANY - 1;
    return opt->kind == KIND_U64 ? UINT64_MAX : (uint64_t)INT64_MAX;
}

/* Stores a KIND_U64 or KIND_I64 option's value at field. Returns 0 or -1. */
static int parse_number_option(const cli_option *opt, const char *value, char *field)
{
    uint64_t v;
    if (parse_u64(value, &v) != 0 || v > option_max(opt))
        return -1;
    if (opt->kind == KIND_U64) {
        memcpy(field, &v, sizeof v);
        return 0;
    }
    int64_t i = (int64_t)v;
    memcpy(field, &i, sizeof i);
    return 0;
}

static const cli_option *find_option(const char *arg, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(options); i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, arg, len) == 0)
            return &options[i];
    }
    return NULL;
}

/* Handles argv[*i], an option; consumes its value. Returns CLI_OK or CLI_USAGE. */
static int parse_option(parsed *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    if (strcmp(arg, "-h") == 0)
        arg = "--help";
    const cli_option *opt = find_option(arg, eq ? (size_t)(eq - arg) : strlen(arg));
    char msg[160];
    if (opt == NULL) {
        snprintf(msg, sizeof msg, "unknown option '%s'", argv[*i]);
        return cli_usage_error(msg);
    }
    p->args.given |= opt->bit;
    if (opt->kind == KIND_FLAG) {
        if (eq == NULL)
            return CLI_OK;
        snprintf(msg, sizeof msg, "%s takes no value", opt->name);
        return cli_usage_error(msg);
    }
    const char *value = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    char *field = (char *)&p->args + opt->offset;
    if (value && opt->kind == KIND_STR) {
        memcpy(field, &value, sizeof value);
        return CLI_OK;
    }
    if (value && opt->kind == KIND_LIST) {
        if (append_list_option(value, field) == 0)
            return CLI_OK;
        snprintf(msg, sizeof msg, "%s given more than %d times", opt->name, CLI_MAX_CLAIMS);
        return cli_usage_error(msg);
    }
    if (value && parse_number_option(opt, value, field) == 0)
        return CLI_OK;
    if (value == NULL)
        snprintf(msg, sizeof msg, "%s needs %s", opt->name,
                 opt->kind == KIND_STR || opt->kind == KIND_LIST ? "a value"
                                                                 : "a non-negative integer");
    else
        snprintf(msg, sizeof msg, "%s needs a non-negative integer up to %" PRIu64 ", not '%.60s'",
                 opt->name, option_max(opt), value);
    return cli_usage_error(msg);
}

static int parse_command_line(parsed *p, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        /* "-3" is a word: a negative quantity (stock adjust SKU correct -3). */
        if (arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9')) {
            int rc = parse_option(p, argc, argv, &i);
            if (rc != CLI_OK)
                return rc;
        } else if (p->nwords < MAX_WORDS) {
            p->words[p->nwords++] = arg;
        } else {
            return cli_usage_error("too many arguments");
        }
    }
    p->args.json = (p->args.given & OPT_JSON) != 0;
    return CLI_OK;
}

static int is_group(const char *word)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (commands[i].group && strcmp(commands[i].group, word) == 0)
            return 1;
    }
    return 0;
}

/* The command the words name; *used receives how many words name it. */
static const cli_command *find_command(const parsed *p, size_t *used)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        const cli_command *cmd = &commands[i];
        if (cmd->group == NULL && strcmp(cmd->name, p->words[0]) == 0) {
            *used = 1;
            return cmd;
        }
        if (cmd->group && p->nwords > 1 && strcmp(cmd->group, p->words[0]) == 0 &&
            strcmp(cmd->name, p->words[1]) == 0) {
            *used = 2;
            return cmd;
        }
    }
    return NULL;
}

/* Checks options and argument count against what cmd accepts. */
static int check_usage(const parsed *p, const cli_command *cmd, size_t npos)
{
    char msg[160];
    cli_opts extra = p->args.given & ~(cmd->opts | GLOBAL_OPTS);
    for (size_t i = 0; extra && i < ARRAY_LEN(options); i++) {
        if (extra & options[i].bit) {
            snprintf(msg, sizeof msg, "%s%s%s does not take %s", cmd->group ? cmd->group : "",
                     cmd->group ? " " : "", cmd->name, options[i].name);
            return cli_usage_error(msg);
        }
    }
    if (npos < cmd->min_pos || npos > cmd->max_pos) {
        snprintf(msg, sizeof msg, "usage: ecom %s%s%s %s", cmd->group ? cmd->group : "",
                 cmd->group ? " " : "", cmd->name, cmd->synopsis);
        return cli_usage_error(msg);
    }
    return CLI_OK;
}

/* ---- running ---- */

static int open_store(cli *c, enum store_mode mode)
{
    const char *uri = c->args.store_uri ? c->args.store_uri : getenv("ECOM_STORE");
    if (uri == NULL || *uri == '\0')
        return cli_usage_error("no store given: pass --store URI or set ECOM_STORE");
    ecom_options opts = ECOM_OPTIONS_INIT;
    if (c->args.tax_rate_bp > INT32_MAX)
        return cli_usage_error("--tax-rate-bp is too large");
    opts.shipping_fee = c->args.shipping_fee;
    opts.tax_rate_bp = (int32_t)c->args.tax_rate_bp;
    if (mode == STORE_READ) {
        /* Reading never creates: a mistyped path is an error, not a new empty store. */
        opts.create = 0;
        opts.read_only = 1;
    }
    int rc = ecom_store_open(&c->store, uri, &opts);
    if (rc != ECOM_OK) {
        rc = cli_fail(c, rc);
        ecom_store_close(c->store);
        c->store = NULL;
        return rc;
    }
    return CLI_OK;
}

/* Flushes standard output and turns any failed write on it, now or earlier (a
   puts of a long line fails at once and leaves only the stream's error flag), into
   exit 1 unless rc already tells of another failure. */
static int finish_output(int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    if (rc != CLI_OK) {
        fputs("ecom: writing standard output failed\n", stderr);
        return rc;
    }
    return cli_fail_msg(ECOM_EIO, "writing standard output failed");
}

static int run(const parsed *p, const cli_command *cmd, size_t used)
{
    cli c = {.args = p->args, .store = NULL};
    for (size_t i = used; i < p->nwords; i++)
        c.args.pos[c.args.npos++] = p->words[i];
    int rc = check_usage(p, cmd, c.args.npos);
    if (rc != CLI_OK)
        return rc;
    if (cmd->store != STORE_NONE && (rc = open_store(&c, cmd->store)) != CLI_OK)
        return rc;
    rc = cmd->run(&c);
    ecom_store_close(c.store);
    return finish_output(rc);
}

/* `ecom help X Y` is `ecom X Y --help`. */
static void rewrite_help_word(parsed *p)
{
    if (p->nwords > 0 && strcmp(p->words[0], "help") == 0) {
        memmove(p->words, p->words + 1, (p->nwords - 1) * sizeof p->words[0]);
        p->nwords--;
        p->args.given |= OPT_HELP;
    }
}

int main(int argc, char **argv)
{
    parsed p = {0};
    int rc = parse_command_line(&p, argc, argv);
    if (rc != CLI_OK)
        return rc;
    rewrite_help_word(&p);
    int help = (p.args.given & OPT_HELP) != 0;
    if (p.nwords == 0) {
        print_tool_help(help ? stdout : stderr);
        return help ? finish_output(CLI_OK) : CLI_USAGE;
    }
    size_t used = 0;
    const cli_command *cmd = find_command(&p, &used);
    if (cmd == NULL && is_group(p.words[0]) && (help || p.nwords == 1)) {
        print_group_help(help ? stdout : stderr, p.words[0]);
        return help ? finish_output(CLI_OK) : CLI_USAGE;
    }
    if (cmd == NULL) {
        char msg[160];
        snprintf(msg, sizeof msg, "unknown command '%s%s%s'", p.words[0],
                 is_group(p.words[0]) ? " " : "", is_group(p.words[0]) ? p.words[1] : "");
        return cli_usage_error(msg);
    }
    if (help) {
        print_command_help(stdout, cmd);
        return finish_output(CLI_OK);
    }
    return run(&p, cmd, used);
}

int cli_print_list_json(const char *name, size_t count, const char *next,
                        cli_item_json_fn item_json, const void *list)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *items = root ? cJSON_AddArrayToObject(root, name) : NULL;
    int rc = items == NULL ? ECOM_ENOMEM : ECOM_OK;
    for (size_t i = 0; rc == ECOM_OK && i < count; i++) {
        char *json = NULL;
        rc = item_json(&json, list, i);
        if (rc == ECOM_OK && !cJSON_AddItemToArray(items, cJSON_CreateRaw(json)))
            rc = ECOM_ENOMEM;
        ecom_free(json);
    }
    if (rc == ECOM_OK && !(next ? cJSON_AddStringToObject(root, "next_cursor", next)
                                : cJSON_AddNullToObject(root, "next_cursor")))
        rc = ECOM_ENOMEM;
    if (rc != ECOM_OK) {
        cJSON_Delete(root);
        return cli_fail_msg(rc, NULL);
    }
    return cli_print_json(root);
}
