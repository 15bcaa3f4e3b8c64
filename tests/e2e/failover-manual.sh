#!/bin/bash
# tests/e2e/failover-manual.sh: coloctl failover, by hand, under load.
#   1. on the secondary while the primary serves: refused, quoting why
#      (a takeover would make two servers); nothing changes
#   2. on the primary: it goes on alone at the next term (the witness
#      grants a primary that), the secondary sees the newer term and
#      fences itself; the checker finds nothing lost or repeated
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up fomf$$
if out=$(hb B failover 2>&1); then
	fail "a takeover by hand was accepted while the primary serves: $out"
fi
echo "$out" | grep -q "the primary is alive and serving" ||
	fail "unexpected refusal: $out"
pass "coloctl failover on the secondary refused: $out"
expect_eq "B's state" "$(hb_field B state)" secondary
expect_eq "witness grants" "$(hb_field W grants)" 0

fo_fail "coloctl failover on the primary" hb A failover
fo_wait_serving A
fo_wait_state B fenced
fo_finish 5
fo_one_server A
expect_eq "A's proxy mode" "$(px A status | sed -n 's/^mode //p')" solo
fo_svm_stopped
