#!/bin/bash
# bench/run.sh (make bench): the benchmark harness's front door. Runs the
# parts below in order, each as its own script, records them in one run
# directory and reports every figure against the baseline of the same run:
#
#   cmp       the comparator library alone (build/bench/cmp_bench), against
#             a plain memcmp of each frame pair
#   compare   ours against QEMU's own colo-compare on identical frames
#             (bench/compare-qemu.sh; the library alone beside them)
#   datapath  the proxy pair against the direct path and an accept-all queue
#             (bench/datapath.sh: iperf3, request/response p50/p99)
#   colo      real QEMU COLO per service against the PVM alone (bench/colo.sh:
#             latency, checkpoints per request, checkpoint pauses)
#   failover  failover time after a silent death of host A (bench/failover.sh)
#   relay     the checkpoint stream with and without colo-relay (bench/relay.sh)
#
# usage: bench/run.sh [--only PARTS] [--skip PARTS] [--quick] [-o DIR] [--no-plots]
#        bench/run.sh --report DIR
#   --only a,b   run these parts only (comma-separated; make bench BENCH_PARTS=a,b)
#   --skip a,b   run every part but these
#   --quick      a short run, to check that everything is wired (minutes);
#                its figures are not worth quoting (make bench BENCH_QUICK=1)
#   -o DIR       the run directory (default bench/results/run-DATE)
#   --no-plots   no PNG (and no gnuplot install)
#   --report DIR redo run.json, summary.md and the plots of the run in DIR
# Parameters of the default set (about 8 minutes on this 2-core machine,
# once the lab QEMU and guest are built), reduced where a part's own
# default is long; each can be overridden from the environment:
#   BENCH_CMP_SECONDS=0.5          cmp_bench seconds per point       (quick 0.1)
#   BENCH_COMPARE_ARGS=""          cmp_vs_qemu options: its defaults, the
#                                  48 points, 5 rounds each          (quick: 1 round of 3 points)
#   BENCH_DATAPATH_ARGS="-t 5 -r 3 -n 2000"  datapath.sh's defaults  (quick -t 2 -r 1 -n 300)
#   BENCH_SCALE=2                  colo.sh request counts x2 (60 checkpoints) (quick 1)
#   FO_RUNS=10                     failover runs, not 20             (quick 1)
#   BENCH_ROUNDS=2 BENCH_CKPTS=20  relay rounds and forced checkpoints
#                                  per phase: relay.sh's defaults    (quick 1 and 3)
#   BENCH_GUARD=SECONDS            stop a part past this time (default 5 to
#                                  10 times its usual time, by part)
# Writes into the run directory: each part's own files (moved there from
# bench/results), PART.log (its output), run.json (machine, versions,
# parameters, each part's status, time and summary), summary.md (printed at
# the end), PNG plots of the distributions and their data under data/.
# A failed part is reported as such and the others still run.
# Exit status: 0 every part ran and was valid, 1 a part failed, 2 usage or
# set-up error, 130 interrupted. Needs root (network namespaces, apt-get).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
export B=${B:-build}
ALL_PARTS=(cmp compare datapath colo failover relay)
NEEDS_ROOT=" datapath colo failover relay "	# namespaces
NEEDS_LAB=" colo failover relay "		# the lab QEMU and guest
declare -A DESC=(
	[cmp]="the comparator library alone vs memcmp"
	[compare]="ours vs QEMU's colo-compare"
	[datapath]="the proxy pair vs the direct path and an accept-all queue"
	[colo]="real QEMU COLO per service vs the PVM alone"
	[failover]="failover time after a silent host death"
	[relay]="checkpoint stream with and without colo-relay"
)

usage() {
	sed -n '/^# usage:/,/^# Parameters/{/^# Parameters/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit "${1:-2}"
}
die() { echo "bench/run.sh: $*" >&2; exit 2; }

ONLY='' SKIP='' QUICK=${BENCH_QUICK:-} RUN='' PLOTS=1 REPORT_DIR='' INTERRUPTED=''
while (($#)); do
	case $1 in
	--only) ONLY=${2:?}; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--skip) SKIP=${2:?}; shift ;;
	--skip=*) SKIP=${1#*=} ;;
	--quick) QUICK=1 ;;
	-o) RUN=${2:?}; shift ;;
	--no-plots) PLOTS='' ;;
	--report) REPORT_DIR=${2:?}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench/run.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
[[ $QUICK == 0 ]] && QUICK=''

# ---- the parts to run ------------------------------------------------------------
PARTS=()
for p in ${ONLY//,/ } ${SKIP//,/ }; do
	[[ " ${ALL_PARTS[*]} " == *" $p "* ]] ||
		die "unknown part '$p' (parts: ${ALL_PARTS[*]})"
done
for p in "${ALL_PARTS[@]}"; do
	[[ -n $ONLY && ",$ONLY," != *",$p,"* ]] && continue
	[[ ",$SKIP," == *",$p,"* ]] && continue
	PARTS+=("$p")
done
((${#PARTS[@]})) || die "no part left to run"

root_needed=''
for p in "${PARTS[@]}"; do [[ $NEEDS_ROOT == *" $p "* ]] && root_needed=$p; done
if [[ $(id -u) != 0 && -z $REPORT_DIR ]]; then
	[[ -z $root_needed ]] || die "must run as root: $root_needed and the other lab parts build network namespaces (sudo make bench, or --only cmp,compare)"
	echo "bench/run.sh: not root: fine for cmp and compare once the lab QEMU is built; no gnuplot install" >&2
fi

# ---- parameters -------------------------------------------------------------------
if [[ -n $QUICK ]]; then
	CMP_SECONDS=${BENCH_CMP_SECONDS:-0.1}
	COMPARE_ARGS=${BENCH_COMPARE_ARGS:--r 1 -p tcp:64:1:same -p tcp:1448:16:diff -p udp:512:256}
	DATAPATH_ARGS=${BENCH_DATAPATH_ARGS:--t 2 -r 1 -n 300}
	SCALE=${BENCH_SCALE:-1}
	FO_N=${FO_RUNS:-1}
	RELAY_ROUNDS=${BENCH_ROUNDS:-1} RELAY_CKPTS=${BENCH_CKPTS:-3}
else
	CMP_SECONDS=${BENCH_CMP_SECONDS:-0.5}
	COMPARE_ARGS=${BENCH_COMPARE_ARGS-}
	DATAPATH_ARGS=${BENCH_DATAPATH_ARGS:--t 5 -r 3 -n 2000}
	SCALE=${BENCH_SCALE:-2}
	FO_N=${FO_RUNS:-10}
	RELAY_ROUNDS=${BENCH_ROUNDS:-2} RELAY_CKPTS=${BENCH_CKPTS:-20}
fi
read -ra COMPARE_ARGV <<<"$COMPARE_ARGS"
read -ra DATAPATH_ARGV <<<"$DATAPATH_ARGS"

# part_cmd PART: the part's command line in CMD (an array) and a guard
# time in LIMIT (seconds, 5 to 10 times the part's usual time here, or
# BENCH_GUARD; the part is stopped past it, as a failure)
part_cmd() {
	case $1 in
	cmp)
		# shellcheck disable=SC2016 # expanded by that bash
		CMD=(bash -c 'set -o pipefail; "$1" "$2" | tee "$3"' cmp_bench
			"$B/bench/cmp_bench" "$CMP_SECONDS" "$RUN/cmp-$DATE.md")
		LIMIT=300 ;;
	compare)
		CMD=(bench/compare-qemu.sh "${COMPARE_ARGV[@]}")
		LIMIT=900 ;;
	datapath)
		CMD=(bench/datapath.sh -o "$RUN/datapath-$DATE.json" "${DATAPATH_ARGV[@]}")
		LIMIT=1200 ;;
	colo)
		CMD=(env BENCH_SCALE="$SCALE" bench/colo.sh)
		LIMIT=$((600 * SCALE + 600)) ;;
	failover)
		CMD=(env FO_RUNS="$FO_N" bench/failover.sh)
		LIMIT=$((FO_N * 120 + 300)) ;;
	relay)
		CMD=(env BENCH_ROUNDS="$RELAY_ROUNDS" BENCH_CKPTS="$RELAY_CKPTS" bench/relay.sh)
		LIMIT=$((RELAY_ROUNDS * 600 + 300)) ;;
	esac
	LIMIT=${BENCH_GUARD:-$LIMIT}
}

# part_params PART: the part's parameters as JSON
part_params() {
	case $1 in
	cmp) printf '{"seconds_per_point": %s}' "$CMP_SECONDS" ;;
	compare) printf '{"cmp_vs_qemu_args": "%s"}' "${COMPARE_ARGS:-(its defaults: 48 points, 5 rounds)}" ;;
	datapath) printf '{"datapath_args": "%s"}' "$DATAPATH_ARGS" ;;
	colo) printf '{"BENCH_SCALE": %s, "BENCH_OUTLIER_MS": %s}' "$SCALE" "${BENCH_OUTLIER_MS:-1000}" ;;
	failover) printf '{"FO_RUNS": %s, "LAB_HB_INTERVAL": "%s", "LAB_HB_TIMEOUT": "%s"}' \
		"$FO_N" "${LAB_HB_INTERVAL:-50ms}" "${LAB_HB_TIMEOUT:-200ms}" ;;
	relay) printf '{"BENCH_ROUNDS": %s, "BENCH_CKPTS": %s, "BENCH_LINK_RATE": "%s", "BENCH_RELAY_LEVEL": "%s"}' \
		"$RELAY_ROUNDS" "$RELAY_CKPTS" "${BENCH_LINK_RATE-1gbit}" "${BENCH_RELAY_LEVEL:-1}" ;;
	esac
}

T0=$SECONDS
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
say() { printf '[run %s] %s\n' "$(mmss $((SECONDS - T0)))" "$*"; }
on_signal() { INTERRUPTED=1; }	# the part is stopped from the loop

# ---- running a part ------------------------------------------------------------------
# stamp PART START: prefix each line with the part and its elapsed time
stamp() {
	trap '' INT
	local line
	while IFS= read -r line; do
		printf '[%s %s, run %s] %s\n' "$1" "$(mmss $((SECONDS - $2)))" \
			"$(mmss $((SECONDS - T0)))" "$line"
	done
}

# alive PID: PID (a child) still runs (not exited, not a zombie)
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}

# procs SID [all]: the live processes of a session but its leader (and but
# the `timeout` wrappers, which end with their child), or all of them
procs() {
	ps -s "$1" -o pid=,stat=,comm= 2>/dev/null | awk -v l="$1" -v all="${2:-}" '
		$2 !~ /^Z/ && (all != "" || ($1 != l && $3 != "timeout")) { print $1 }'
}

# stop_part SID: stop a part cleanly, every process by its id. The part's
# top script (the session leader) is stopped first, so that it starts
# nothing new and that no lab script loses its parent (an orphaned process
# group with a frozen "host" in it gets SIGHUP from the kernel, which kills
# a lab script before its traps tear its namespaces down); then CONT and
# TERM to the others (the lab scripts' traps clean up), then to the top
# script; KILL what is left after 90 s.
stop_part() {
	local pids i
	kill -STOP "$1" 2>/dev/null
	pids=$(procs "$1")
	# shellcheck disable=SC2086 # lists of ids
	[[ -z $pids ]] || { kill -CONT $pids; kill -TERM $pids; } 2>/dev/null
	# once only: what the lab scripts start while they clean up is theirs
	for ((i = 0; i < 60 && ${#pids}; i++)); do
		sleep 1
		pids=$(procs "$1")
	done
	kill -TERM "$1" 2>/dev/null; kill -CONT "$1" 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		pids=$(procs "$1" all)
		[[ -n $pids ]] || return 0
		sleep 1
	done
	say "  still running after TERM: KILL ${pids//$'\n'/ }"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
}

# part_files PART LOG MARKER: the files the part wrote (absolute paths): in
# the run directory, and in bench/results by the paths it printed, else by
# name and time
part_files() {
	local f
	{
		grep -oE "(bench/results|$RUN)/$1-[0-9]{8}-[0-9]{6}\.(json|md)" "$2" || true
		find bench/results "$RUN" -maxdepth 1 -name "$1-*" -newer "$3" 2>/dev/null
	} | while read -r f; do
		[[ $f == /* ]] || f=$ROOT/$f
		[[ -f $f ]] && echo "$f"
		[[ $f == *.json && -f ${f%.json}.md ]] && echo "${f%.json}.md"
	done | sort -u
}

# ---- the run directory ------------------------------------------------------------
# run_all: the run directory, the tools, every part in turn
run_all() {
	DATE=$(date +%Y%m%d-%H%M%S)
	[[ -n $RUN ]] || RUN=$ROOT/bench/results/run-$DATE
	mkdir -p "$RUN" || die "cannot create $RUN"
	RUN=$(cd "$RUN" && pwd)
	[[ -z $(ls -A "$RUN") ]] || die "$RUN is not empty"

	PART_PID=''
	trap on_signal INT TERM

	say "bench run: ${PARTS[*]}${QUICK:+ (quick: to check the wiring, not figures to quote)}"
	say "run directory: $RUN"

	# ---- tools: what is built, the lab QEMU and guest, gnuplot --------------------------
	need=("$B/bin/colo-proxy" "$B/bin/coloctl" "$B/bench/cmp_bench" "$B/bench/nfq_accept"
		"$B/bench/cmp_front" "$B/bench/cmp_vs_qemu")
	missing=()
	for f in "${need[@]}"; do [[ -x $f ]] || missing+=("$f"); done
	if ((${#missing[@]})); then
		say "building what is missing: ${missing[*]}"
		make --no-print-directory all "${missing[@]}" >"$RUN/build.log" 2>&1 ||
			die "make failed (see $RUN/build.log)"
	fi

	QEMU='' QEMU_VERSION='' QEMU_INFO=''
	lab=''
	for p in "${PARTS[@]}"; do
		[[ $p == compare || $NEEDS_LAB == *" $p "* ]] && lab=1
	done
	if [[ -n $lab ]]; then
		say "the lab QEMU and guest (built once: 3 to 6 minutes on a fresh machine)"
		if QEMU=$(qemu-scripts/build-qemu.sh 2>>"$RUN/build.log" | tail -n 1) && [[ -x $QEMU ]]; then
			QEMU_VERSION=$("$QEMU" -version | head -n 1)
			QEMU_INFO=$(tr '\n' ';' <"$(dirname "$(dirname "$QEMU")")/build-info.txt" 2>/dev/null)
			say "  $QEMU_VERSION"
		else
			say "  cannot build the lab QEMU (see $RUN/build.log); the parts that need it will fail"
			QEMU=''
		fi
		for p in "${PARTS[@]}"; do
			if [[ $NEEDS_LAB == *" $p "* ]]; then
				qemu-scripts/build-guest.sh >>"$RUN/build.log" 2>&1 ||
					say "  cannot build the lab guest (see $RUN/build.log)"
				break
			fi
		done
	fi

	GNUPLOT_NOTE=''
	if [[ -n $PLOTS ]] && ! command -v gnuplot >/dev/null; then
		if [[ $(id -u) == 0 ]]; then
			say "gnuplot is missing: installing gnuplot-nox (apt-get) for the plots"
			if ! apt-get install -y gnuplot-nox >>"$RUN/build.log" 2>&1; then
				apt-get update >>"$RUN/build.log" 2>&1
				apt-get install -y gnuplot-nox >>"$RUN/build.log" 2>&1 ||
					say "  could not install gnuplot-nox: no plots (see $RUN/build.log)"
			fi
			command -v gnuplot >/dev/null && GNUPLOT_NOTE="gnuplot-nox installed by this run"
		else
			say "gnuplot is missing (apt-get install gnuplot-nox, as root): no plots"
		fi
	fi

	{
		printf 'started\t%s\n' "$(date -Iseconds)"
		printf 'command\t%s\n' "$0${ONLY:+ --only $ONLY}${SKIP:+ --skip $SKIP}${QUICK:+ --quick}"
		printf 'quick\t%s\n' "${QUICK:+1}"
		printf 'parts\t%s\n' "${PARTS[*]}"
		printf 'uname\t%s\n' "$(uname -a)"
		printf 'qemu\t%s\n' "$QEMU_VERSION"
		printf 'qemu_path\t%s\n' "$QEMU"
		printf 'qemu_build\t%s\n' "$QEMU_INFO"
		printf 'cc\t%s\n' "$(${CC:-cc} --version 2>/dev/null | head -n 1)"
		printf 'colokit\t%s\n' "$(git describe --always --dirty 2>/dev/null || echo unknown)"
		printf 'python\t%s\n' "$(python3 --version 2>&1)"
		printf 'iperf3\t%s\n' "$(iperf3 --version 2>/dev/null | head -n 1)"
		printf 'gnuplot\t%s\n' "$(gnuplot --version 2>/dev/null)"
		printf 'gnuplot_note\t%s\n' "$GNUPLOT_NOTE"
		printf 'loadavg_start\t%s\n' "$(cat /proc/loadavg)"
	} >"$RUN/.meta"

	n=0
	for p in "${PARTS[@]}"; do
		n=$((n + 1))
		if [[ -n $INTERRUPTED ]]; then
			printf '%s\tskipped\t\t0\t\t%s\n' "$p" "$(part_params "$p")" >>"$RUN/.parts"
			continue
		fi
		part_cmd "$p"
		log=$RUN/$p.log marker=$RUN/.start-$p
		: >"$log"; touch "$marker"
		ns_before=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
		say "part $n/${#PARTS[@]}: $p, ${DESC[$p]}"
		say "  ${CMD[*]}"
		t=$SECONDS
		fifo=$RUN/.fifo; rm -f "$fifo"; mkfifo "$fifo"
		stamp "$p" "$t" <"$fifo" | tee -ai "$log" &
		reader=$!
		# a session of its own: Ctrl-C reaches run.sh only, which stops the
		# part as a whole (stop_part), as it does past the guard time
		setsid -w "${CMD[@]}" >"$fifo" 2>&1 </dev/null &
		PART_PID=$!
		stopped='' quiet=$SECONDS
		while alive "$PART_PID"; do
			if [[ -z $stopped && ( -n $INTERRUPTED || $((SECONDS - t)) -ge $LIMIT ) ]]; then
				[[ -n $INTERRUPTED ]] && stopped=interrupted || stopped=timeout
				say "  stopping $p ($stopped)"
				stop_part "$PART_PID"
				continue
			fi
			# a line every 30 s of silence
			if (($(date +%s) - $(stat -c %Y "$log") >= 30 && SECONDS - quiet >= 30)); then
				quiet=$SECONDS
				printf '[%s %s, run %s] ... still running\n' "$p" "$(mmss $((SECONDS - t)))" \
					"$(mmss $((SECONDS - T0)))"
			fi
			sleep 1
		done
		wait "$PART_PID"; rc=$?
		PART_PID=''
		for ((i = 0; i < 20; i++)); do kill -0 "$reader" 2>/dev/null || break; sleep 0.5; done
		kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null; rm -f "$fifo"
		secs=$((SECONDS - t))
		files=()
		while read -r f; do
			[[ -n $f ]] || continue
			[[ $(dirname "$f") == "$RUN" ]] || { mv "$f" "$RUN/" && f=$RUN/$(basename "$f"); }
			files+=("$(basename "$f")")
		done < <(part_files "$p" "$log" "$marker")
		rm -f "$marker"
		if [[ -n $stopped ]]; then status=$stopped
		elif ((rc == 0)); then status=ok
		else status=failed
		fi
		left=$(comm -13 <(echo "$ns_before") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | tr '\n' ' ')
		[[ -n $left ]] && say "  namespaces that appeared during $p and are still there (not necessarily its own): $left"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$status" "$rc" "$secs" "$(IFS=,; echo "${files[*]}")" \
			"$(part_params "$p")" >>"$RUN/.parts"
		say "  $p: $status (exit $rc) in $(mmss $secs); files: ${files[*]:-none}"
	done
	{
		printf 'loadavg_end\t%s\n' "$(cat /proc/loadavg)"
		printf 'wall_s\t%s\n' $((SECONDS - T0))
	} >>"$RUN/.meta"
}

# ---- report: run.json, summary.md, plots ---------------------------------------------------
# report: run.json, summary.md and the plots of the run directory
report() {
	say "report: run.json, summary.md${PLOTS:+, plots}"
	python3 - "$RUN" "$ROOT/bench/plot.gp" "$PLOTS" <<-'PY'
	import json, os, re, shutil, statistics, subprocess, sys

	run, plot_gp, want_plots = sys.argv[1], sys.argv[2], sys.argv[3]
	meta = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(run, ".meta")) if "\t" in l)
	parts = []
	for l in open(os.path.join(run, ".parts")):
	    name, status, rc, secs, files, params = l.rstrip("\n").split("\t")
	    parts.append({"part": name, "status": status, "exit": int(rc) if rc else None,
	                  "seconds": int(secs), "files": [f for f in files.split(",") if f],
	                  "parameters": json.loads(params)})
	DATA = os.path.join(run, "data")
	os.makedirs(DATA, exist_ok=True)
	PLOTS = []      # (png, gnuplot -e string)
	NOTES = []


	def pct(v, q):
	    """nearest-rank percentile"""
	    v = sorted(v)
	    if not v:
	        return None
	    return v[max(0, min(len(v) - 1, -(-len(v) * q // 100) - 1))]


	def f(v, k=1, unit=""):
	    return "-" if v is None else "%.*f%s" % (k, v, unit)


	def pfile(p, ext):
	    for x in p["files"]:
	        if x.endswith(ext):
	            return os.path.join(run, x)
	    return None


	def load(p):
	    j = pfile(p, ".json")
	    return json.load(open(j)) if j else None


	def q(s):
	    return s.replace("'", "''")


	def cdf(png, title, xlabel, series, logx=False):
	    """series: [(title, samples)]; one data file each"""
	    files = []
	    for i, (t, xs) in enumerate(series):
	        xs = sorted(x for x in xs if x is not None)
	        if not xs:
	            continue
	        fn = os.path.join(DATA, "%s.%d.dat" % (png[:-4], i))
	        with open(fn, "w") as o:
	            o.write('"value" "%s (n=%d, median %.4g)"\n' % (t.replace('"', "'"), len(xs), statistics.median(xs)))
	            o.write("%g 0\n" % xs[0])
	            for k, x in enumerate(xs):
	                o.write("%g %g\n" % (x, (k + 1) / len(xs)))
	        files.append(fn)
	    if files:
	        PLOTS.append((png, "kind='cdf'; out='%s'; files='%s'; ttl='%s'; xl='%s'; logx=%d" % (
	            q(os.path.join(run, png)), q(" ".join(files)), q(title), q(xlabel), 1 if logx else 0)))


	def md_table(head, rows):
	    num = lambda c: re.match(r"^[-+]?[0-9.]+( ?(x|ms|us))?( \(.*\))?$", str(c)) or str(c) in ("", "-")
	    right = [i > 0 and all(num(r[i]) for r in rows) for i in range(len(head))]
	    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if x else "---" for x in right) + "|"]
	    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
	    return out


	# ---- each part: (headline, baseline, section lines, summary dict) -------------------
	def s_cmp(p):
	    md = pfile(p, ".md")
	    rows = []
	    for l in open(md) if md else []:
	        c = [x.strip() for x in l.strip().strip("|").split("|")]
	        if len(c) == 6 and re.match(r"^[0-9]", c[1]):
	            rows.append({"workload": c[0], "pairs_per_s": float(c[1]), "ns_per_pair": float(c[2]),
	                         "payload_gbps": float(c[3]), "memcmp_ns_per_pair": float(c[4]),
	                         "cost_vs_memcmp": float(c[5].rstrip("x"))})
	    base = "a plain memcmp of the two frames of each pair, same run, same core"
	    if not rows:
	        return None, base, ["(no table)"], {}
	    doc = {"bench": "cmp_bench", "what": "the comparator library alone on paired frames",
	           "baseline": base, "seconds_per_point": p["parameters"].get("seconds_per_point"),
	           "rows": rows}
	    jn = os.path.basename(md)[:-3] + ".json"
	    json.dump(doc, open(os.path.join(run, jn), "w"), indent=1)
	    if jn not in p["files"]:
	        p["files"].append(jn)
	    std = [r for r in rows if "GSO" not in r["workload"]]
	    ns = [r["ns_per_pair"] for r in std]
	    x = [r["cost_vs_memcmp"] for r in std]
	    head = "%.0f-%.0f ns per frame pair (64-1448 B), %.1f-%.1fx the memcmp" % (min(ns), max(ns), min(x), max(x))
	    sec = ["Baseline: " + base + "."] + [""] + [l.rstrip("\n") for l in open(md) if l.startswith("|")]
	    return head, base, sec, {"ns_per_pair_min": min(ns), "ns_per_pair_max": max(ns),
	                             "cost_vs_memcmp_min": min(x), "cost_vs_memcmp_max": max(x), "rows": rows}


	def short(pt):
	    s = "%s%s x%d" % (pt["proto"], pt["payload"], pt["conns"])
	    if pt.get("segmentation") == "diff":
	        s += " diff"
	    return s


	def s_compare(p):
	    d = load(p)
	    base = "QEMU's own colo-compare (7.2, standalone) on the same frames, same kind of sockets, same run"
	    if not d:
	        return None, base, ["(no JSON)"], {}
	    win = d["parameters"].get("window", 256)
	    rows, dat, stat = [], [], []
	    for i, pt in enumerate(d["points"]):
	        s = pt.get("summary") or {}
	        smp = pt.get("samples", {})
	        inout = all(x.get("ok") and x.get("in_frames") == x.get("out_frames")
	                    for k in ("lib", "qemu", "ours") for x in smp.get(k, [])) and bool(smp)
	        w = pt.get("window", win)
	        label = short(pt) + ("" if w == win else " w%d" % w)
	        fr = s.get("fps_ratio")
	        goal = "met" if s.get("goal_fps") and s.get("goal_cpu") else (
	            "-" if fr is None else "MISSED (%s)" % ", ".join(
	                k for k, g in (("frames/s", s.get("goal_fps")), ("CPU", s.get("goal_cpu"))) if not g))
	        k = lambda v: None if v is None else v / 1e3
	        us = lambda v: None if v is None else v / 1e3
	        rows.append([pt["name"], f(k(s.get("qemu_fps"))), f(k(s.get("ours_fps"))),
	                     f(fr, 2, "x"), f(us(s.get("qemu_cpu_ns_per_frame")), 2),
	                     f(us(s.get("ours_cpu_ns_per_frame")), 2), f(s.get("cpu_ratio"), 3),
	                     f(k(s.get("lib_fps")), 0), "yes" if inout else "NO", goal])
	        stat.append({"point": pt["name"], "window": w, "fps_ratio": fr, "cpu_ratio": s.get("cpu_ratio"),
	                     "goal": goal == "met", "in_equals_out": inout})
	        if fr is not None:
	            dat.append('%d "%s" %g %g %g %g\n' % (len(dat), label, k(s["qemu_fps"]), k(s["ours_fps"]),
	                                                  k(s.get("lib_fps") or 0), fr))
	    dflt = [x for x in stat if x["window"] == win and x["fps_ratio"] is not None]
	    fr = [x["fps_ratio"] for x in dflt]
	    cr = [x["cpu_ratio"] for x in dflt if x["cpu_ratio"] is not None]
	    met = sum(x["goal"] for x in dflt)
	    allio = all(x["in_equals_out"] for x in stat)
	    head = ("ours/QEMU frames/s %.1f-%.1fx (median %.1fx), CPU per frame %.3f-%.3f of QEMU's; "
	            "goal (>= 5x and <= 0.20) met on %d of %d points at %d in flight" % (
	                min(fr), max(fr), statistics.median(fr), min(cr), max(cr), met, len(dflt), win)) if fr else "no point measured"
	    sec = ["Baseline: " + base + "; medians of %s rounds of %s timed frames per point; ratios ours/QEMU; "
	           "CPU: the comparator process, all threads (schedstat). Frames in = frames out checked on every "
	           "run before a rate: %s. Goal: >= 5x QEMU's frames/s and <= 1/5 of its CPU per frame." % (
	               d["parameters"].get("rounds"), d["parameters"].get("frames"),
	               "held on every point" if allio else "NOT held on some point (see the table)"), ""]
	    sec += md_table(["point", "QEMU kframes/s", "ours kframes/s", "ours/QEMU", "QEMU us CPU/frame",
	                     "ours us CPU/frame", "CPU ours/QEMU", "library alone kframes/s", "in = out", "goal"], rows)
	    sec += ["", "Full table (per-round ranges, Gbit/s, checkpoint requests, reordering): `%s`." %
	            os.path.basename(pfile(p, ".md") or "compare-DATE.md")]
	    if dat:
	        fn = os.path.join(DATA, "compare.dat")
	        open(fn, "w").writelines(dat)
	        PLOTS.append(("compare.png", "kind='compare'; out='%s'; data='%s'; ttl='%s'" % (
	            q(os.path.join(run, "compare.png")), q(fn),
	            q("Comparator end to end: ours vs QEMU's colo-compare, same frames (w = frames in flight, default %d)" % win))))
	    return head, base, sec, {"points": len(stat), "default_window_points": len(dflt), "goal_met": met,
	                             "fps_ratio_min": min(fr, default=None), "fps_ratio_median": statistics.median(fr) if fr else None,
	                             "fps_ratio_max": max(fr, default=None), "cpu_ratio_min": min(cr, default=None),
	                             "cpu_ratio_max": max(cr, default=None), "in_equals_out": allio, "per_point": stat}


	def s_datapath(p):
	    d = load(p)
	    base = "the direct path (bridge, no netfilter) and the floor (the PVM's port queued to an accept-all program), same topology, same run, rounds in rotating order"
	    if not d:
	        return None, base, ["(no JSON)"], {}
	    r = d.get("results", {})
	    rows = []
	    for path in ("direct", "floor", "pair"):
	        x = r.get(path)
	        if not x:
	            rows.append([path, "-", "-", "-", "-", "-", "-"])
	            continue
	        added = "-" if path == "direct" else "+%.1f" % x["added_p50_us"]
	        if path == "pair" and x.get("added_p50_vs_floor_added"):
	            added += " (%.1fx the floor's)" % x["added_p50_vs_floor_added"]
	        rows.append([path, f(x.get("gbps"), 2), f(x.get("ratio_to_direct"), 2), f(x.get("ratio_to_floor"), 2),
	                     f(x.get("rr_p50_us")), f(x.get("rr_p99_us")), added])
	    prm = d.get("parameters", {})
	    sec = ["Baseline: " + base + ". iperf3 client -> VM: the median of %s runs of %s s; request/response: "
	           "%s x %s sequential %s-byte round trips per path. Run %s, %s." % (
	               prm.get("runs"), prm.get("duration_s"), prm.get("runs"), prm.get("rr_n_per_round"),
	               prm.get("rr_size"), "complete" if d.get("complete") else "INCOMPLETE",
	               "valid" if d.get("valid") else "INVALID (an unexpected checkpoint request or loss)"), ""]
	    sec += md_table(["path", "Gbit/s", "/ direct", "/ floor", "rr p50 us", "rr p99 us", "added p50 us vs direct"], rows)
	    g = d.get("goals", {})
	    if g:
	        sec += ["", "Goals: " + "; ".join("%s: %s (%s)" % (k, v.get("verdict"), f(v.get("value"), 2)) for k, v in g.items())]
	    pr = r.get("pair", {})
	    head = ("pair %s Gbit/s = %s of the floor, %s of direct; rr p50 %s us (+%s over direct)" % (
	        f(pr.get("gbps"), 2), f(pr.get("ratio_to_floor"), 2), f(pr.get("ratio_to_direct"), 2),
	        f(pr.get("rr_p50_us")), f(pr.get("added_p50_us")))) if pr else "no pair result"
	    if not d.get("valid"):
	        head += " (INVALID run)"
	    series = []
	    for path in ("direct", "floor", "pair"):
	        xs = [v for b in d.get("paths", {}).get(path, {}).get("rr", {}).get("blocks", []) for v in b.get("samples_us", [])]
	        series.append((path, xs))
	    cdf("datapath-rr.png", "Datapath: request/response round trip, %s-byte, per path" % prm.get("rr_size"),
	        "round trip (us, log scale)", series, logx=True)
	    return head, base, sec, {"valid": d.get("valid"), "complete": d.get("complete"), "results": r, "goals": g}


	def s_colo(p):
	    d = load(p)
	    base = "the same workload against the PVM alone (SVM killed, COLO ended, proxy solo), same run"
	    if not d:
	        return None, base, ["(no JSON)"], {}
	    rows, ratios, maxes = [], [], []
	    o = d.get("outliers")       # absent from JSONs before the outlier check
	    thr = "%g" % o["threshold_ms"] if o else None
	    n_over = lambda x: "-" if x.get("outliers") is None else x["outliers"]
	    for name, s in d.get("services", {}).items():
	        P, S = s["paired"], s["solo"]
	        row = [name, P["requests"], f(P["checkpoints"] / P["requests"] if P["requests"] else None, 2),
	               f(P["p50_ms"]), f(P["p99_ms"]), f(P.get("max_ms")), f(S["p50_ms"]), f(S["p99_ms"]),
	               f(S.get("max_ms")), f(s.get("p50_ratio"), 2)]
	        if o:
	            row += [n_over(P), n_over(S)]
	        rows.append(row)
	        ratios.append("%s %.2f" % (name, s.get("p50_ratio") or 0))
	        maxes.append("%s %s/%s" % (name, f(P.get("max_ms")), f(S.get("max_ms"))))
	    k = d.get("checkpoint", {})
	    sec = ["Baseline: " + base + ". Two QEMU guests (TCG) on this machine, both proxies; sequential requests "
	           "(BENCH_SCALE %s)." % d.get("scale"), ""]
	    cols = ["service", "requests", "checkpoints / request", "p50 ms", "p99 ms", "max ms", "alone p50 ms",
	            "alone p99 ms", "alone max ms", "p50 x alone"]
	    if o:
	        cols += ["> %s ms" % thr, "> %s ms alone" % thr]
	    sec += md_table(cols, rows)
	    if o:
	        sec += ["", "Outlier check (requests slower than %s ms, BENCH_OUTLIER_MS; a measurement, not a failure): "
	                "%s." % (thr, o.get("verdict"))]
	    sec += ["", "Checkpoints (the proxy's records, %s): VM paused p50 %s ms, p99 %s ms; request to resume "
	            "p50 %s ms, p99 %s ms." % (k.get("count"), f(k.get("paused_p50_ms")), f(k.get("paused_p99_ms")),
	                                       f(k.get("waited_p50_ms")), f(k.get("waited_p99_ms")))]
	    paused = k.get("paused_ms") or [r.get("paused_us", 0) / 1000 for r in k.get("records", []) if r.get("paused_us")]
	    waited = k.get("waited_ms") or [r.get("wait_us", 0) / 1000 for r in k.get("records", []) if r.get("wait_us")]
	    if paused:
	        cdf("colo-checkpoints.png", "COLO checkpoints (the proxy's records)", "ms",
	            [("VM paused", paused), ("request to resume", waited)])
	    else:
	        NOTES.append("colo: its JSON has the checkpoint percentiles only, not the records: no distribution plot "
	                     "(bench/colo.sh would need to keep `paused`/`waited` in its `checkpoint` object)")
	    head = "p50 x alone: %s; " % ", ".join(ratios)
	    if o:       # max and the outlier check came together (colo.sh's JSON before them: neither)
	        head += "max ms paired/alone: %s; %s; " % (", ".join(maxes), o.get("verdict"))
	    head += "checkpoint pause p50 %s ms, p99 %s ms (%s checkpoints)" % (
	        f(k.get("paused_p50_ms")), f(k.get("paused_p99_ms")), k.get("count"))
	    return head, base, sec, {"services": d.get("services"), "checkpoint": k, "outliers": o}


	def s_failover(p):
	    d = load(p)
	    base = "the goal (p50 <= 300 ms at a 50 ms heartbeat) and the floor, the heartbeat timeout (%s) plus the claim and plan"
	    if not d:
	        return None, base % "200ms", ["(no JSON)"], {}
	    hb = d.get("heartbeat", {})
	    base = base % hb.get("timeout")
	    a, c = d.get("first_answer_ms", {}), d.get("claim_to_plan_done_ms", {})
	    sec = ["Baseline: " + base + ". %d runs of `%s` (%d failed), heartbeat every %s, timeout %s; each a fresh "
	           "COLO pair under the checker's load, then host A dies silently." % (
	               d.get("runs"), d.get("test"), d.get("failed_runs"), hb.get("interval"), hb.get("timeout")), ""]
	    sec += md_table(["", "p50", "p90", "max", "runs"], [
	        ["silent death of host A -> first answer from B", f(a.get("p50"), 1, " ms"), f(a.get("p90"), 1, " ms"),
	         f(a.get("max"), 1, " ms"), len(a.get("samples", []))],
	        ["B's claim -> takeover plan done", f(c.get("p50"), 1, " ms"), "", f(c.get("max"), 1, " ms"),
	         len(c.get("samples", []))]])
	    head = "first answer after the failure p50 %s, p90 %s, max %s ms over %d runs (%d failed)" % (
	        f(a.get("p50")), f(a.get("p90")), f(a.get("max")), len(a.get("samples", [])), d.get("failed_runs"))
	    cdf("failover.png", "Failover: silent death of host A (heartbeat %s / timeout %s)" % (hb.get("interval"), hb.get("timeout")),
	        "ms", [("death -> first answer from B", a.get("samples", [])),
	               ("B's claim -> takeover plan done", c.get("samples", []))])
	    return head, base, sec, {"first_answer_ms": a, "claim_to_plan_done_ms": c, "failed_runs": d.get("failed_runs")}


	def s_relay(p):
	    d = load(p)
	    base = "the direct COLO channel (no relay), same run, a fresh lab pair per round"
	    if not d:
	        return None, base, ["(no JSON)"], {}
	    md = pfile(p, ".md")
	    sec = [l.rstrip("\n") for l in open(md)] if md else ["(no table)"]
	    r = d.get("ratios", {})
	    head = "idle checkpoint %sx fewer bytes, initial sync %sx fewer; VM pause p50 relay/direct idle %s, busy %s" % (
	        f(r.get("idle_bytes_x")), f(r.get("sync_bytes_x")), f(r.get("idle_pause_ratio"), 2), f(r.get("busy_pause_ratio"), 2))
	    series = []
	    for ph in ("idle", "busy"):
	        for m in ("direct", "relay"):
	            series.append(("%s, %s" % (m, ph), [x for rd in d.get("rounds", []) if rd["mode"] == m
	                                                for x in rd[ph]["paused_ms"]]))
	    cdf("relay-pause.png", "Checkpoint pause (VM paused, the proxy's records): direct channel vs colo-relay, link %s" %
	        d.get("params", {}).get("replication_link"), "ms", series)
	    return head, base, sec, {"summary": d.get("summary"), "ratios": r, "goals": d.get("goals")}


	SUMMARY = {"cmp": s_cmp, "compare": s_compare, "datapath": s_datapath, "colo": s_colo,
	           "failover": s_failover, "relay": s_relay}
	TITLE = {"cmp": "Comparator library alone (`build/bench/cmp_bench`)",
	         "compare": "Against QEMU's colo-compare (`bench/compare-qemu.sh`)",
	         "datapath": "Datapath (`bench/datapath.sh`)", "colo": "The QEMU loop (`bench/colo.sh`)",
	         "failover": "Failover (`bench/failover.sh`)", "relay": "colo-relay (`bench/relay.sh`)"}

	sections, overview = [], []
	for p in parts:
	    head, base, sec, summ = None, "", [], {}
	    if p["status"] != "skipped":
	        try:
	            head, base, sec, summ = SUMMARY[p["part"]](p)
	        except Exception as e:   # a part's JSON not as expected: say so, go on
	            sec = ["(cannot summarise: %s: %s)" % (type(e).__name__, e)]
	    p["summary"], p["headline"], p["baseline"] = summ, head, base
	    st = p["status"] if p["status"] == "ok" else "**%s**" % p["status"].upper()
	    if p["status"] not in ("ok", "skipped"):
	        st += " (exit %s; `%s.log`)" % (p["exit"], p["part"])
	    overview.append([p["part"], st, "%d:%02d" % divmod(p["seconds"], 60), head or "-", base or "-"])
	    sections += ["", "## " + TITLE[p["part"]], "",
	                 "Status: %s, %d:%02d; files: %s." % (p["status"], *divmod(p["seconds"], 60),
	                                                       ", ".join("`%s`" % x for x in p["files"]) or "none"),
	                 "Parameters: %s." % ", ".join("%s=%s" % kv for kv in p["parameters"].items()), ""] + sec
	    if p["status"] not in ("ok", "skipped"):
	        tail = open(os.path.join(run, p["part"] + ".log"), errors="replace").read().splitlines()[-8:]
	        sections += ["", "Last lines of `%s.log`:" % p["part"], "", "```"] + tail + ["```"]

	# ---- plots --------------------------------------------------------------------------------
	made = []
	if want_plots and PLOTS:
	    gp = shutil.which("gnuplot")
	    if not gp:
	        NOTES.append("no gnuplot: no plots (apt-get install gnuplot-nox)")
	    for png, expr in PLOTS if gp else []:
	        r = subprocess.run([gp, "-e", expr, plot_gp], capture_output=True, text=True)
	        if r.returncode == 0 and os.path.exists(os.path.join(run, png)):
	            made.append(png)
	        else:
	            NOTES.append("plot %s failed: %s" % (png, r.stderr.strip().splitlines()[-1:] or r.returncode))

	# ---- run.json and summary.md ---------------------------------------------------------------
	failed = [p["part"] for p in parts if p["status"] not in ("ok",)]
	machine = {"hostname": os.uname().nodename, "uname": meta.get("uname"), "cpus": os.cpu_count(),
	           "loadavg_start": meta.get("loadavg_start"), "loadavg_end": meta.get("loadavg_end")}
	try:
	    machine["cpu_model"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
	    machine["mem_total_kb"] = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")))
	except (OSError, StopIteration):
	    pass
	doc = {"bench": "colokit bench/run.sh", "started": meta.get("started"), "command": meta.get("command"),
	       "quick": bool(meta.get("quick")), "wall_s": int(meta.get("wall_s", 0)), "machine": machine,
	       "versions": {k: meta.get(k) for k in ("colokit", "qemu", "qemu_path", "qemu_build", "cc", "python",
	                                              "iperf3", "gnuplot")},
	       "parameters": {p["part"]: p["parameters"] for p in parts},
	       "parts": {p["part"]: {k: p[k] for k in ("status", "exit", "seconds", "files", "headline", "baseline", "summary")}
	                 for p in parts},
	       "failed": failed, "plots": made, "notes": NOTES + ([meta["gnuplot_note"]] if meta.get("gnuplot_note") else [])}
	json.dump(doc, open(os.path.join(run, "run.json"), "w"), indent=1)

	w = int(meta.get("wall_s", 0))
	out = ["# colokit bench run %s%s" % (meta.get("started", ""), " (quick: wiring check, not figures to quote)" if meta.get("quick") else ""),
	       "", "`%s` on %s (%s CPUs, %s), %d:%02d wall. colokit %s; %s; %s." % (
	           meta.get("command"), machine.get("cpu_model", "?"), machine["cpus"], meta.get("uname", "").split()[2] if meta.get("uname") else "?",
	           w // 60, w % 60, meta.get("colokit"), meta.get("qemu") or "QEMU not used", meta.get("cc")),
	       "Every figure is measured against a baseline of the same run (named in each row).", ""]
	out += md_table(["part", "status", "time", "result", "baseline"], overview)
	if failed:
	    out += ["", "**Not ok: %s.**" % ", ".join(failed)]
	out += sections
	if made:
	    out += ["", "## Plots", ""] + ["- `%s`" % x for x in made]
	if doc["notes"]:
	    out += ["", "## Notes", ""] + ["- " + x for x in doc["notes"]]
	open(os.path.join(run, "summary.md"), "w").write("\n".join(out) + "\n")
	PY
	pyrc=$?
	if ((pyrc != 0)); then
		say "the report failed (python exit $pyrc; its inputs: $RUN/.meta, $RUN/.parts)"
		exit 1
	fi
}

if [[ -n $REPORT_DIR ]]; then
	RUN=$(cd "$REPORT_DIR" && pwd) || die "no directory $REPORT_DIR"
	[[ -f $RUN/.meta && -f $RUN/.parts ]] || die "$RUN: no .meta and .parts: not a run directory"
else
	run_all
fi
report
echo
cat "$RUN/summary.md"
echo
say "done in $(mmss $((SECONDS - T0))): $RUN"
[[ -n $INTERRUPTED ]] && exit 130
python3 -c 'import json,sys; sys.exit(1 if json.load(open(sys.argv[1]))["failed"] else 0)' "$RUN/run.json"
