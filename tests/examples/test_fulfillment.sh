#!/bin/sh
# End-to-end test of examples/fulfillment_worker: 20 paid orders made with the ecom CLI,
# three workers run at once (--once, round after round) until all are shipped; then each
# order was shipped by exactly one worker, its history has one fulfilling and one
# shipped entry, and `ecom check` is clean. An order left fulfilling by a worker that
# died is kept while its lease runs and shipped by the next worker after it. Last, a
# worker without --once stops cleanly on SIGTERM.
# Run by ctest as: test_fulfillment.sh <ecom binary> <fulfillment_worker binary> <tmpdir>
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 ECOM FULFILLMENT_WORKER TMPDIR" >&2
    exit 2
fi
ECOM=$1
WORKER=$2
TMP=$3
case $TMP in /*) ;; *) TMP=$(pwd)/$TMP ;; esac
STORE="lmdb://$TMP/store"
ORDERS=20
WORKERS=3
TIMEOUT_S=30
STEP="setup"
unset ECOM_STORE || true

finish() {
    rc=$?
    if [ $rc -eq 0 ]; then
        rm -rf "$TMP"
        echo "fulfillment test: all steps passed"
    else
        echo "fulfillment test: FAILED in step '$STEP' (exit $rc); files kept in $TMP" >&2
    fi
}
trap finish EXIT

step() {
    STEP=$1
    echo "== $STEP"
}

fail() {
    echo "FAIL [$STEP]: $*" >&2
    if [ -s "$TMP/err" ]; then
        echo "--- stderr of the last command:" >&2
        head -20 "$TMP/err" >&2
    fi
    exit 1
}

# ok ARGS...: the CLI on the test store must succeed; stdout in $TMP/out.
ok() {
    "$ECOM" --store "$STORE" "$@" >"$TMP/out" 2>"$TMP/err" || fail "ecom $*: exit $?"
}

# py EXPR: a Python expression over the last stdout parsed as JSON (j).
py() {
    python3 -c "import json,sys; j=json.load(sys.stdin); print(($1))" <"$TMP/out" ||
        fail "not JSON: $(head -c 300 "$TMP/out")"
}

# How many orders are in state $1 (one page: there are only $ORDERS).
count_orders() {
    ok order list --state "$1" --limit 1000 --json
    py "len(j['orders'])"
}

rm -rf "$TMP"
mkdir -p "$TMP"

# ---------------------------------------------------------------------------
step "a store with 3 products in stock and $ORDERS paid orders"
for p in 1 2 3; do
    printf '{"id":"p%d","title":"Product %d","status":"active","variants":[{"sku":"p%d-a","prices":{"USD":%d}}]}\n' \
        "$p" "$p" "$p" $((p * 1000)) >"$TMP/p$p.json"
    ok product put "$TMP/p$p.json"
    ok stock adjust "p$p-a" receive 1000
done
i=1
while [ $i -le $ORDERS ]; do
    ok cart add "user:b$i" "p$((i % 3 + 1))-a" $((i % 4 + 1))
    if [ $((i % 2)) -eq 0 ]; then
        ok cart add "user:b$i" "p$(((i + 1) % 3 + 1))-a" 1
    fi
    ok checkout --cart "user:b$i" --user "b$i" --token tok_approve --key "fulfil-test-$i"
    i=$((i + 1))
done
[ "$(count_orders paid)" -eq $ORDERS ] || fail "expected $ORDERS paid orders"

# ---------------------------------------------------------------------------
step "$WORKERS workers at once, --once, until every order is shipped"
deadline=$(($(date +%s) + TIMEOUT_S))
round=0
while :; do
    round=$((round + 1))
    pids=""
    w=1
    while [ $w -le $WORKERS ]; do
        "$WORKER" "$STORE" --once >"$TMP/worker$w.$round.out" 2>"$TMP/worker$w.$round.err" &
        pids="$pids $!"
        w=$((w + 1))
    done
    for pid in $pids; do
        wait "$pid" || fail "a worker exited with $? in round $round: $(cat "$TMP"/worker*."$round".err)"
    done
    shipped=$(count_orders shipped)
    [ "$shipped" -eq $ORDERS ] && break
    [ "$(date +%s)" -lt $deadline ] || fail "$shipped of $ORDERS shipped after ${TIMEOUT_S} s"
    sleep 0.2
done
echo "   $ORDERS shipped after $round round(s)"

# ---------------------------------------------------------------------------
step "each order shipped by exactly one worker"
cat "$TMP"/worker*.out >"$TMP/log"
[ -s "$TMP/log" ] || fail "the workers logged nothing"
grep ': shipped ' "$TMP/log" | sed 's/^[^:]*: order \([^:]*\): shipped .*/\1/' | sort >"$TMP/shipped_ids"
[ "$(wc -l <"$TMP/shipped_ids")" -eq $ORDERS ] ||
    fail "$(wc -l <"$TMP/shipped_ids") 'shipped' lines for $ORDERS orders"
[ -z "$(uniq -d "$TMP/shipped_ids")" ] || fail "shipped twice: $(uniq -d "$TMP/shipped_ids")"
grep -i 'error\|not shipped' "$TMP"/worker*.err && fail "a worker reported an error"

# ---------------------------------------------------------------------------
step "every order shipped in full, with one fulfilling and one shipped entry"
ok order list --state shipped --limit 1000 --json
py "'\n'.join(o['id'] for o in j['orders'])" | sort >"$TMP/listed_ids"
[ "$(wc -l <"$TMP/listed_ids")" -eq $ORDERS ] || fail "$(wc -l <"$TMP/listed_ids") orders listed as shipped"
cmp -s "$TMP/listed_ids" "$TMP/shipped_ids" || fail "the shipped orders are not the ones the workers logged"
while read -r id; do
    ok order get "$id" --json
    got=$(py "(j['state'], [h['state'] for h in j['history']].count('fulfilling'), [h['state'] for h in j['history']].count('shipped'), all(l['shipped'] == l['quantity'] for l in j['lines']))")
    [ "$got" = "('shipped', 1, 1, True)" ] || fail "order $id: (state, fulfilling, shipped, all lines shipped) = $got"
done <"$TMP/listed_ids"

# ---------------------------------------------------------------------------
step "ecom check is clean"
ok check

# ---------------------------------------------------------------------------
step "an order a worker took and never shipped: kept within the lease, shipped after it"
ok cart add "user:late" p1-a 2
ok checkout --cart "user:late" --user late --token tok_approve --key fulfil-test-late --json
LATE=$(py "j['id']")
ok order fulfil "$LATE" --who dead-worker --why "took it, then died"
"$WORKER" "$STORE" --once >"$TMP/sweep1.out" 2>"$TMP/sweep1.err" ||
    fail "worker within the lease: exit $?: $(cat "$TMP/sweep1.err")"
ok order get "$LATE" --json
[ "$(py "j['state']")" = fulfilling ] || fail "shipped within the lease: $(cat "$TMP/sweep1.out")"
"$WORKER" "$STORE" --once --lease-ms 0 >"$TMP/sweep2.out" 2>"$TMP/sweep2.err" ||
    fail "worker past the lease: exit $?: $(cat "$TMP/sweep2.err")"
grep -q "order $LATE: shipped .*taken over from dead-worker" "$TMP/sweep2.out" ||
    fail "no take-over logged: $(cat "$TMP/sweep2.out")"
ok order get "$LATE" --json
got=$(py "(j['state'], [h['who'] for h in j['history'] if h['state'] in ('fulfilling', 'shipped')])")
case $got in
    "('shipped', ['dead-worker', 'fulfillment-"*"'])") ;;
    *) fail "after the sweep: $got" ;;
esac
"$WORKER" "$STORE" --lease-ms nope >/dev/null 2>&1 && fail "--lease-ms nope was accepted"
ok check

# ---------------------------------------------------------------------------
step "a worker without --once stops on SIGTERM with exit 0"
"$WORKER" "$STORE" >"$TMP/loop.out" 2>"$TMP/loop.err" &
pid=$!
sleep 0.5
kill -TERM "$pid"
wait "$pid" || fail "the worker exited with $? on SIGTERM: $(cat "$TMP/loop.err")"
