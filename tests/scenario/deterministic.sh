#!/bin/bash
# Deterministic servers behind the proxy pair: many concurrent HTTP
# connections (IPv4 and IPv6), a bulk TCP stream and UDP echoes all arrive
# with the correct bytes, the two TCP stacks' sequence numbers are
# translated, and not one checkpoint is asked for.
set -euo pipefail
. "$(dirname "$0")/topo.sh"
# Two cores run the client, both VMs' servers (Python threads, 100
# connections at once) and both proxies: the SVM can trail the PVM by more
# than the default 200 ms without anything being wrong.  A lagging twin is
# not a divergence; 2 s keeps this test about correctness, not CPU load.
TOPO_EXTRA_CONF=$'[compare]\nhold_timeout = 2s'
topo_up

# busybox httpd: 8 concurrent GETs per family (its listen backlog is 9: more
# would overflow it at different moments in the two VMs, which is real
# non-determinism that a checkpoint must cover), checked by sha256
ns_run cli 60 "$NS_PYTHON" "$LABNET" http-get --align $VM4 80 "$NS_TMP/www/pvm" 8 \
	page.html big.bin || fail "IPv4 HTTP"
pass "8 concurrent IPv4 HTTP GETs"
ns_run cli 60 "$NS_PYTHON" "$LABNET" http-get --align $VM6 80 "$NS_TMP/www/pvm" 8 \
	page.html big.bin || fail "IPv6 HTTP"
pass "8 concurrent IPv6 HTTP GETs"
# our stream server (backlog 128): 100 concurrent connections per family
ns_run cli 60 "$NS_PYTHON" "$LABNET" streams $VM4 7000 100 200000 || fail "IPv4 streams"
pass "100 concurrent IPv4 streams of 200 kB"
ns_run cli 60 "$NS_PYTHON" "$LABNET" streams $VM6 7000 100 200000 || fail "IPv6 streams"
pass "100 concurrent IPv6 streams of 200 kB"
ns_run cli 60 "$NS_PYTHON" "$LABNET" bulk-client $VM4 7000 8000000 1000 0 0 || fail "bulk"
pass "8 MB stream"
ns_run cli 30 "$NS_PYTHON" "$LABNET" udp-client $VM4 7001 1 100 1400 || fail "UDP"
pass "UDP echoes"

expect_eq "checkpoint requests (primary)" "$(ctr_sum A checkpoint.requests_)" 0
expect_eq "comparator checkpoint requests" "$(ctr_sum A compare.request_)" 0
expect_ge "frames released after a match" "$(ctr A proxy.released)" 1000
expect_eq "released == compared and matched" "$(ctr A compare.released)" "$(ctr A proxy.released)"
expect_eq "released after a commit" "$(ctr A compare.late_released)" 0
expect_ge "offsets learnt from the primary's ISNs" "$(ctr B rewrite.learnt_hint)" 100
expect_ge "timestamp offsets learnt" "$(ctr B rewrite.ts_learnt)" 100
expect_ge "segments translated from the SVM" "$(ctr B proxy.rewritten_out)" 100
expect_ge "segments translated toward the SVM" "$(ctr B proxy.rewritten_in)" 100
expect_eq "channel gaps" "$(ctr A channel.rx_gaps)" 0
expect_eq "queue losses" "$(ctr A proxy.queue_loss)" 0
