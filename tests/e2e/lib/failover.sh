# shellcheck shell=bash
# tests/e2e/lib/failover.sh: the failover tests' common part (sourced).
# A real COLO pair (qemu-scripts/lab.sh) with colo-heartbeat on both hosts
# and a witness, under the checker's load (qemu-scripts/colo-checker.py):
#
#   fo_up                   the lab, heartbeats, LAN captures, the checker
#   fo_fail WHAT CMD...     note the time (CLOCK_MONOTONIC), inject CMD
#   fo_finish               more load, stop the checker: its verdict must
#                           be PASS (no acknowledged increment lost or
#                           repeated, answers only ever moving forward)
#   fo_one_server A|B|none  the LAN captures: after the failure, output of
#                           the VM left through one host only, and never
#                           through A again once it left through B
. "$(dirname "${BASH_SOURCE[0]}")/../../../qemu-scripts/lab.sh"

CHECKER=$LAB_ROOT/qemu-scripts/colo-checker.py
FO_LOAD=${FO_LOAD:---long 4 --new 2 --http 1}

fo_acked() {
	sed -n 's/.* acked=\([0-9]*\).*/\1/p' "$NS_TMP/checker.log" | tail -n 1
}

fo_up() {
	LAB_HEARTBEAT=1 lab_up "$1"
	pass "COLO running, heartbeats up: A $(hb_field A state), B $(hb_field B state)"
	fo_load
}

# fo_load: the LAN captures and the checker's load (fo_up's second half)
fo_load() {
	local f="src host $VM4 or src host $VM6" d
	for d in lanA lanB; do
		ns_capture_start lan $d "$NS_TMP/$d.pcap" in "$f" ||
			fail "cannot capture on $d"
		FO_CAPS+=("$NS_LASTPID" "$NS_TMP/$d.pcap")
	done
	# shellcheck disable=SC2086
	ns_spawn cli "$NS_TMP/checker.log" "$NS_PYTHON" "$CHECKER" run --addr $VM4 \
		$FO_LOAD --until-file "$NS_TMP/checker.stop" \
		--fail-file "$NS_TMP/failures" --out "$NS_TMP/checker.json" --progress
	FO_CHECKER=$NS_LASTPID
	local i
	for i in $(seq 150); do
		(($(fo_acked || echo 0) >= 20)) 2>/dev/null && break
		sleep 0.2
	done
	(($(fo_acked) >= 20)) || fail "the checker's load did not start: $(tail -3 "$NS_TMP/checker.log")"
	pass "load running: $(fo_acked) increments acknowledged"
}

# a figure for the reader (and bench/failover.sh), not a check
fo_info() { echo "info: $*"; }

# fo_hooks_saw NODE EVENT [TERM]: the hook ran for that transition
# (qemu-scripts/lab-hook.sh's log, with the daemon's COLO_* environment)
fo_hooks_saw() {
	local pat="node=$1 event=$2 "
	local i
	[[ -n ${3:-} ]] && pat="$pat.* term=$3 "
	for i in $(seq 50); do	# hooks run after the transition, in order
		grep -q -- "$pat" "$NS_TMP/hooks.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q -- "$pat" "$NS_TMP/hooks.log" ||
		fail "no hook run for node $1 entering $2${3:+ at term $3}: $(cat "$NS_TMP/hooks.log")"
	pass "hook ran: node $1 entered $2${3:+ (term $3)}"
}

fo_now() { "$NS_PYTHON" -c 'import time; print(time.monotonic())'; }

fo_fail() {
	local what=$1; shift
	echo "$(fo_now) $what" >>"$NS_TMP/failures"
	"$@"
	pass "injected: $what"
}

# fo_wait_state A|B STATE: the survivor's heartbeat reaches STATE
fo_wait_state() {
	hb_wait_state "$1" "$2" 15 ||
		fail "heartbeat $1 is $(hb_field "$1" state), not $2: $(tail -5 "$NS_TMP/hb$1.log")"
	pass "heartbeat $1: $2 (term $(hb_field "$1" term)): $(hb_field "$1" why)"
}

# fo_wait_serving A|B: that heartbeat serves alone at term 2 (the primary
# is "primary" before and after: its term tells the failover happened)
fo_wait_serving() {
	local i
	for i in $(seq 300); do
		[[ $(hb_field "$1" state) == primary && $(hb_field "$1" term) == 2 ]] && break
		sleep 0.05
	done
	[[ $(hb_field "$1" state) == primary && $(hb_field "$1" term) == 2 ]] ||
		{ fo_diag; fail "heartbeat $1 did not fail over: $(hb_field "$1" state), term $(hb_field "$1" term)"; }
	pass "heartbeat $1 serves alone at term 2: $(hb_field "$1" why)"
}

# after a checker violation: which host's LAN port carried each answer of
# a value acknowledged twice (time, ports, bytes), for the log of a run
# whose directory is gone
fo_answers_seen() {
	local vals d
	vals=$(sed -n 's/.*value \([0-9]*\) acknowledged [0-9]* times.*/\1/p' \
		"$NS_TMP/checker.log" | sort -un | head -n 5 | paste -sd'|') || true
	[[ -n $vals ]] || return 0
	for d in lanA lanB; do
		echo "---- answers with values ($vals) on $d" >&2
		tcpdump -r "$NS_TMP/$d.pcap" -nn -tt -A 2>/dev/null | awk -v re="counter ($vals)([^0-9]|$)" '
			/^[0-9]+\.[0-9]+ IP/ { h = $0; next }
			$0 ~ re { print h; print "    " $0 }' | head -n 40 >&2 || true
	done
}

fo_finish() {
	local rc=0 i
	sleep "${1:-5}"
	touch "$NS_TMP/checker.stop"
	wait "$FO_CHECKER" || rc=$?
	unset "NS_PIDS[$FO_CHECKER]"
	sed -n '/^requests/,$p' "$NS_TMP/checker.log"
	ns_capture_stop "${FO_CAPS[@]}" || true
	if ((rc != 0)); then
		fo_answers_seen
		fail "the checker found violations (exit $rc)"
	fi
	pass "checker: no acknowledged increment lost or repeated"
	FO_FIRST_ACK=$(sed -n 's/.*first ack after +\([0-9.]*\) ms.*/\1/p' "$NS_TMP/checker.log" | head -1)
	local after
	after=$(sed -n 's/.*, \([0-9]*\) acks in 5 s.*/\1/p' "$NS_TMP/checker.log" | tail -1)
	if ((${after:-0} == 0)); then
		fo_diag
		fail "no answer at all in the 5 s after the failure: the service did not come back"
	fi
	pass "service back: $after increments acknowledged in the 5 s after the failure"
}

# fo_survivor_answer A|B: ms from the (first) failure to the first answer
# that the survivor gave: acknowledged after the survivor's way to the LAN
# opened (for a takeover, the end of its bridge step: answers before it
# were the dead primary's, already on the wire)
fo_survivor_answer() {
	hb "$1" status --json | "$NS_PYTHON" -c '
import json, sys
st = json.load(sys.stdin)
plan = st.get("plan") or {}
t_fail = float(open(sys.argv[1]).read().split()[0])
served = t_fail
if plan.get("plan") == "takeover":
    for step in plan["steps"]:
        if step["step"].startswith("LAN port"):
            served = max(t_fail, plan["started_mono_s"] + step["ms"] / 1000)
acks = sorted(r["t_ack"] for r in json.load(open(sys.argv[2]))["requests"]
              if r["t_ack"] is not None and r["t_ack"] >= served)
print("%.1f" % ((acks[0] - t_fail) * 1000) if acks else "none")
' "$NS_TMP/failures" "$NS_TMP/checker.json"
}

# what the survivor looked like, when a test fails
fo_diag() {
	local h
	for h in A B; do
		echo "---- host $h: heartbeat, proxy, QEMU" >&2
		hb "$h" status >&2 2>&1 || true
		px "$h" status >&2 2>&1 || true
		ns_exec "host$h" "$COLOCTL" qemu "$NS_TMP/$([[ $h == A ]] && echo pvm || echo svm)-ctl.qmp" >&2 2>&1 || true
		tail -n 20 "$NS_TMP/hb$h.log" >&2
	done
}

# fo_svm_stopped: the fenced SVM does not run. "paused" (the fence's QMP
# stop), or "colo" when the fence came while QEMU had stopped it for a
# checkpoint that then failed: the stop finds it stopped already (seen in
# CI), and the heartbeat stops it again if QEMU ever resumes it.
fo_svm_stopped() {
	local st
	st=$(ns_exec hostB "$COLOCTL" qemu "$NS_TMP/svm-ctl.qmp" | sed -n 's/^run_state //p')
	[[ $st == paused || $st == colo ]] || fail "the SVM's run state: got $st, want paused (or colo)"
	pass "the SVM's run state = $st (stopped)"
}

# the first and last time (epoch seconds) the VM's output left through $1
fo_span() {
	tcpdump -r "$NS_TMP/$1.pcap" -n -tt 2>/dev/null |
		awk 'NR == 1 { f = $1 } { l = $1 } END { if (NR) print f, l, NR; else print "- - 0" }'
}

fo_one_server() {
	local a b
	read -r a_first a_last a_n < <(fo_span lanA)
	read -r b_first b_last b_n < <(fo_span lanB)
	echo "VM output via host A: $a_n frames ($a_first .. $a_last); via host B: $b_n frames ($b_first .. $b_last)"
	case $1 in
	A)
		expect_eq "frames of the VM that left through host B" "$b_n" 0 ;;
	B)
		((b_n > 0)) || fail "the survivor's output never reached the LAN"
		if ((a_n > 0)); then
			awk -v a="$a_last" -v b="$b_first" 'BEGIN { exit !(a < b) }' ||
				fail "host A still sent the VM's output ($a_last) after host B began ($b_first): two VMs answered"
		fi
		pass "the VM's output left through A until $a_last, through B only from $b_first" ;;
	esac
}
