#!/bin/bash
# The proxy channel breaks in the middle of a stream (the replication link
# goes down for 2 s): the primary's output stays held (the client's stream
# stalls), every frame released was confirmed by the secondary, the
# reconnection shows the messages that were lost and a checkpoint is asked
# for; solo mode then lets the stream finish, with the right bytes.
set -euo pipefail
. "$(dirname "$0")/topo.sh"
topo_up

stream_start

ns_exec hostA ip link set repA down
sleep 1.5
p1=$(received)
sleep 1
p2=$(received)
expect_eq "bytes the client's TCP received with the channel down (stalled)" \
	"$p2" "$p1"
expect_ge "channel breaks seen by the primary" "$(ctr A channel.disconnects)" 1
expect_eq "released == confirmed by the comparator" "$(ctr A compare.released)" \
	"$(ctr A proxy.released)"
expect_eq "released by a commit" "$(ctr A compare.late_released)" 0
expect_ge "checkpoint requests (hold timeout)" "$(ctr A checkpoint.requests_hold_timeout)" 1

ns_exec hostA ip link set repA up
px_wait_up
expect_ge "lost messages reported on reconnection" "$(ctr A channel.tx_missed)" 1
expect_ge "checkpoint requests (channel)" "$(ctr A checkpoint.requests_channel)" 1
sleep 0.5
expect_eq "still stalled after the reconnection" "$(received)" "$p2"

px A mode solo >/dev/null
stream_finish
pass "after solo mode the stream completed with the right 20 MB"
