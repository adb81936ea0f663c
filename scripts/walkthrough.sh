#!/bin/sh
# The demo behind `make run`: a fresh store in ./var/demo-store, 10,000 generated
# products imported with the ecom CLI, then a narrated tour of its commands: the
# catalog, then stock, a reservation and a flash sale, then a purchase from a guest's
# cart to delivery.
# Usage: scripts/walkthrough.sh BUILD_DIR
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
ECOM_BIN="$BUILD/tools/ecom"
GEN_BIN="$BUILD/tools/ecom-gen-catalog"
for bin in "$ECOM_BIN" "$GEN_BIN"; do
    [ -x "$bin" ] || { echo "walkthrough: $bin is missing; build first" >&2; exit 1; }
done

# Every command below finds the store here, as a user's shell would.
ECOM_STORE="lmdb://$VAR/demo-store"
export ECOM_STORE

ecom() { "$ECOM_BIN" "$@"; }

say() { printf '\n== %s\n' "$*"; }

# Shows a command as the user would type it, then runs it.
show() {
    printf '$ %s\n' "$*"
    "$@"
}

# Like show, printing only the output lines that match a pattern (an order is long).
show_only() {
    pattern=$1
    shift
    printf '$ %s\n' "$*"
    "$@" | grep -E "$pattern"
}

# Like show, for a command that is meant to be refused: its exit code goes in $rc.
refused() {
    set +e
    show "$@"
    rc=$?
    set -e
}

rm -rf "$VAR/demo-store"
mkdir -p "$VAR"
cd "$VAR"

say "Generating a demo catalog of 10,000 products (deterministic for a seed)"
echo '$ ecom-gen-catalog --count 10000 --seed 42 > demo-catalog.jsonl'
"$GEN_BIN" --count 10000 --seed 42 >demo-catalog.jsonl
head -c 300 demo-catalog.jsonl
echo " ..."

say "Importing it into a fresh LMDB store ($ECOM_STORE)"
show ecom import demo-catalog.jsonl

say "The category tree, with products filed directly and in the whole subtree (top of it)"
ecom category tree | head -n 16
echo "..."

CATEGORY=electronics/audio/headphones
say "Products in one category, a page of 5"
show ecom product list --category "$CATEGORY" --limit 5
ID=$(ecom product list --category "$CATEGORY" --limit 1 | awk 'NR == 1 { print $1 }')

say "One product"
show ecom product get "$ID"

say "The same product, found by one of its SKU codes"
show ecom sku get "$ID-1"

say "Searching: words, a category filter, facets over every match, sorted by price"
show ecom search "premium headphones" --facet brand --facet price \
    --filter category=electronics/audio --sort price --limit 5

say "Searching as a shopper types: one typo forgiven, the last word a prefix"
show ecom search "premium headphnes sol" --limit 3

VERSION=$(ecom product get "$ID" | awk '/^version:/ { print $2 }')
ecom product get "$ID" --json |
    sed 's/"title":"\([^"]*\)"/"title":"\1 (2nd edition)"/' >demo-product.json
say "An update that names the version it read ($VERSION): accepted"
show ecom product put demo-product.json --expect-version "$VERSION"

say "The same update again: version $VERSION is stale now, so it is refused (exit 4)"
refused ecom product put demo-product.json --expect-version "$VERSION"
echo "(exit code $rc: reload the product and try again)"

say "Archiving it"
show ecom product archive "$ID"
ecom product get "$ID" | grep -E '^(status|version):'

say "The last 5 events: every change is logged in the same transaction"
show ecom events tail --max 5

SKU=$(ecom product list --category "$CATEGORY" --limit 2 | awk 'NR == 2 { print $1 }')-1
say "Inventory: receiving 5 units of $SKU"
show ecom stock adjust "$SKU" receive 5 --reference PO-1001

say "A buyer's cart holds 2 of them for 15 minutes (all lines of a cart, or none)"
show ecom reserve --id cart-1 "$SKU:2"

say "Checkout commits the reservation: the 2 units are sold"
show ecom reservation commit cart-1
show ecom stock get "$SKU"

say "A flash sale of the 3 units left, one per buyer; four buyers claim"
show ecom flash open drop-1 --sku "$SKU" --units 3 --per-user-limit 1
for buyer in ana ben cy; do
    show ecom flash claim drop-1 --user "$buyer" --key "$buyer-1"
done
refused ecom flash claim drop-1 --user dee --key dee-1
echo "(exit code $rc: sold out, and nothing was oversold)"
show ecom flash status drop-1

GUEST_SKU=$(ecom product list --category "$CATEGORY" --status active --limit 3 | awk 'NR == 3 { print $1 }')-1
USER_SKU=$(ecom product list --status active --limit 1 | awk 'NR == 1 { print $1 }')-1
ecom stock adjust "$GUEST_SKU" receive 10 >/dev/null
ecom stock adjust "$USER_SKU" receive 10 >/dev/null
say "A purchase. A visitor, not signed in yet, puts $GUEST_SKU in a guest cart"
show ecom cart add guest:visitor-7 "$GUEST_SKU" 1

say "Ana had saved $USER_SKU in her cart last week; she signs in: the carts merge"
ecom cart add user:ana "$USER_SKU" 2 >/dev/null
show ecom cart merge guest:visitor-7 user:ana

say "A 'mailer' consumer, which will send order e-mails, starts at the end of the event log"
LAST=$(ecom events tail --max 0 --json | sed 's/.*"last_seq":\([0-9]*\).*/\1/')
show ecom consumer ack mailer "$LAST"

STORE_OPTS="--shipping-fee 499 --tax-rate-bp 825"
say "Checkout with a 4.99 shipping fee and 8.25% tax: priced, stock held, card charged, paid"
# shellcheck disable=SC2086 # STORE_OPTS holds two options
show_only '^(id|state|total):' ecom $STORE_OPTS checkout --cart user:ana --user ana \
    --token tok_approve --key ana-cart-1
ORDER=$(ecom order list --user ana --limit 1 | awk 'NR == 1 { print $1 }')

say "The order, with its lines, totals and history"
show ecom order get "$ORDER"

say "Fulfilment: the warehouse picks it, ships it, the carrier delivers it"
show_only '^state:' ecom order fulfil "$ORDER" --who warehouse
show_only '^state:' ecom order ship "$ORDER" --who warehouse
show_only '^state:' ecom order deliver "$ORDER" --who carrier --why signed

say "What the (built-in test) payment provider recorded: one charge, authorized and captured"
show ecom payments list --order "$ORDER"

say "Ana's browser retries the checkout with the same key: the same order, charged once"
# shellcheck disable=SC2086
show_only '^(id|state):' ecom $STORE_OPTS checkout --cart user:ana --user ana \
    --token tok_approve --key ana-cart-1
show ecom payments list --order "$ORDER"

say "The mailer reads what happened since it started, then acknowledges it"
show ecom consumer read mailer
SEQ=$(ecom consumer read mailer --json | sed 's/.*"last_seq":\([0-9]*\).*/\1/')
show ecom consumer ack mailer "$SEQ"

say "A consistency check of the whole store (catalog, stock, holds, ledger and orders)"
show ecom check

say "Done. Try it yourself:"
echo "  export ECOM_STORE=$ECOM_STORE"
echo "  $ECOM_BIN --help"
