#!/bin/bash
# Enrolment wall time at the counter, split by step (issue 6;
# docs/BENCHMARKS.md "Enrolment at the counter").  kagid on loopback,
# kagi-cardd with SoftHSM2 as the card module (the test set-up of
# tests/integration/enrol), one blank initialised token in the "reader" per
# run; `kagi --json enrol STAFF --yes --pin-fd 3` times each step itself
# (person, card, check, keygen, issue, write, activate); this script also
# times the whole command (process start, config, TLS-free local socket to
# kagid).  Between runs cardd is restarted with the next blank card (not
# timed).  Prints the median and max of each step over BENCH_ENROL_RUNS
# (default 15) enrolments.
# Usage: bench/bench_enrol.sh [BUILD_DIR]     (KAGI_BIN overrides BUILD_DIR/bin)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
KAGI_BIN=${KAGI_BIN:-$B/bin}
KAGI_BUILD=${KAGI_BUILD:-$(cd "$KAGI_BIN/.." && pwd)}
KAGI_SRC=$SRC
export KAGI_BIN KAGI_BUILD KAGI_SRC
RUNS=${BENCH_ENROL_RUNS:-15}
need() { echo "bench_enrol.sh: $*" >&2; exit 2; }
for p in kagi kagid kagi-cardd cardtoken; do
	[ -x "$KAGI_BIN/$p" ] || need "build $p first ($KAGI_BIN)"
done
for c in jq openssl; do command -v "$c" >/dev/null || need "$c is needed"; done

. "$SRC/tests/integration/login/lib.sh"
login_setup mynumber >/dev/null
. "$SRC/tests/integration/enrol/lib.sh"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "   $(dpkg-query -W -f='${Package} ${Version}\n' softhsm2 libssl3 | paste -sd, | sed 's/,/, /g'); $RUNS enrolments"

R=$LOGIN_TMP/bench
mkdir -p "$R"
enrol_pins "$R/pins" "$CARD_PIN" "$CARD_PIN"
for i in $(seq "$RUNS"); do
	no=$((6000 + i))
	kk person add "$no" --name "Bench $no" --employment regular
	kk user add "b$no" --kind personal --person "$no"
	cardd_stop
	rm -rf "$C/card/tokens"/*
	enrol_card_blank "bench-$i"
	cardd_up
	t0=$(date +%s%N)
	SOFTHSM2_CONF=$D/hsm/softhsm2.conf "$KAGI_BIN/kagi" --json enrol "$no" --yes \
		--pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$R/pins" \
		>"$R/run.$i.json" 2>"$R/run.$i.err" || { cat "$R/run.$i.err" >&2; lfail "enrol $no failed"; }
	t1=$(date +%s%N)
	jq -e '.card.state == "active"' <"$R/run.$i.json" >/dev/null || lfail "run $i: card not active"
	jq -r --arg w "$(( (t1 - t0) / 1000 ))" \
		'[.steps[] | {(.step): .ms}] | add + {"total": ($w | tonumber / 1000)} | to_entries[] | "\(.key) \(.value)"' \
		<"$R/run.$i.json" >>"$R/all.txt"
done

printf '%-10s %10s %10s   (ms over %d enrolments, key type %s)\n' step median max "$RUNS" \
	"$(jq -r .key_type <"$R/run.1.json")"
for s in person card check keygen issue write activate total; do
	sort -g <(awk -v s="$s" '$1 == s {print $2}' "$R/all.txt") >"$R/$s.txt"
	n=$(wc -l <"$R/$s.txt")
	[ "$n" -gt 0 ] || continue
	med=$(awk -v n="$n" 'NR == int((n + 1) / 2) {printf "%.1f", $1}' "$R/$s.txt")
	max=$(tail -n1 "$R/$s.txt" | awk '{printf "%.1f", $1}')
	printf '%-10s %10s %10s\n' "$s" "$med" "$max"
done
steps_sum=$(awk '$1 != "total" {s += $2} END {printf "%.1f", s / '"$RUNS"'}' "$R/all.txt")
echo "mean of the steps' sum: $steps_sum ms; total = the whole kagi command (process start included)"
