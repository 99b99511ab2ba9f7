#!/bin/bash
# HR benchmark (docs/BENCHMARKS.md "HR clean-up"): plan and apply an HR
# feed of 10,000 people in which 1,000 leave, each leaver with a personal
# account, 2 staff-logon certificates and a FIDO credential.
#   persons: one initial `kagi hr plan/apply` of 10,000 active people (API)
#   accounts: `kagi user add` for the 1,000 leavers (API)
#   certificates: `kagi ca issue` twice per leaver (API, one CSR reused)
#   FIDO: bench_hr fido (store API with kagid stopped: no API registers them)
# Then the measured run: `kagi hr plan` and `kagi hr apply` wall time and
# peak memory (/usr/bin/time -v of the CLI; kagid's VmHWM from /proc), and
# the yescrypt hash time at the policy's cost (peer: mkpasswd -m yescrypt
# from the whois package when installed).
# Usage: bench/bench_hr.sh [BUILD_DIR]   Env: HR_N (10000), HR_LEAVE (1000)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
BIN=${KAGI_BIN:-$B/bin}
N=${HR_N:-10000}
L=${HR_LEAVE:-1000}
for p in kagi kagid bench_hr; do
	[ -x "$BIN/$p" ] || { echo "bench_hr.sh: build $p first ($BIN)" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/kagi-bench-hr.XXXXXX")
KPID=
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
K() { "$BIN/kagi" "$@"; }
start() {
	"$BIN/kagid" --foreground --config "$T/d/kagi.conf" >>"$T/kagid.log" 2>&1 &
	KPID=$!
	for _ in $(seq 100); do
		curl -sf --unix-socket "$T/d/run/kagid.sock" http://k/v1/health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "kagid did not start" >&2; exit 1
}
stop() { kill "$KPID"; wait "$KPID" || true; KPID=; }
hwm() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$KPID/status"; }
timed() { # LABEL CMD...: wall time and peak RSS of the command
	local label=$1; shift
	/usr/bin/time -v "$@" >"$T/out" 2>"$T/time" || { cat "$T/out" "$T/time" >&2; exit 1; }
	printf '%-28s wall %s s, CLI peak RSS %s kB, kagid VmHWM %s\n' "$label" \
		"$(awk -F': ' '/Elapsed/ {print $2}' "$T/time" | awk -F: '{print ($1*60+$2)}')" \
		"$(awk -F': ' '/Maximum resident/ {print $2}' "$T/time")" "$(hwm)"
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
K --quiet init --dir "$T/d" --port "$(port)" --http-port "$(port)" >/dev/null
COST=$(awk -F' = ' '/^hash_cost/ {print $2; exit}' "$T/d/policy.ini")
sed -i 's/^log = stderr$/log = stderr\nlog_level = warn/' "$T/d/kagi.conf"
# seeding only: accounts hash their temporary password at cost 1
sed -i 's/^hash_cost = .*/hash_cost = 1/' "$T/d/policy.ini"
export KAGI_CONFIG=$T/d/kagi.conf
start

gen_feed() { # FILE LEAVERS
	awk -v n="$N" -v l="$2" 'BEGIN {
		print "staff_no,name,kana,section,employment,status,effective_date"
		for (i = 0; i < n; i++)
			printf "S%05d,職員 %d,ショクイン,総務部総務課,regular,%s,2027-03-31\n", i, i,
			    (i < l ? "retired" : "active")
	}' >"$1"
}
gen_feed "$T/feed0.csv" 0
t0=$(date +%s.%N)
K hr plan "$T/feed0.csv" --out "$T/plan0.json" >/dev/null
K hr apply "$T/plan0.json" >/dev/null
echo "seed: $N persons by hr plan+apply in $(echo "$(date +%s.%N) - $t0" | bc) s"
t0=$(date +%s.%N)
for i in $(seq 0 $((L - 1))); do
	K --quiet user add "$(printf 'u%05d' "$i")" --kind personal --person "$(printf 'S%05d' "$i")" >/dev/null
done
echo "seed: $L accounts by kagi user add in $(echo "$(date +%s.%N) - $t0" | bc) s"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
	-subj /CN=x -out "$T/c.csr" 2>/dev/null
t0=$(date +%s.%N)
certs=0
if K help ca issue >/dev/null 2>&1; then
	for i in $(seq 0 $((L - 1))); do
		for _ in 1 2; do
			K --quiet ca issue --profile staff-logon --csr "$T/c.csr" --for "$(printf 'u%05d' "$i")" \
				--out "$T/cert.pem" >/dev/null
			certs=$((certs + 1))
		done
	done
	echo "seed: $certs certificates by kagi ca issue in $(echo "$(date +%s.%N) - $t0" | bc) s"
else
	echo "seed: no CA service in this build: accounts only, no certificates"
fi
stop
"$BIN/bench_hr" fido "$T/d/data" u "$L" >/dev/null
echo "seed: $L FIDO credentials (store API)"
sed -i "s/^hash_cost = .*/hash_cost = $COST/" "$T/d/policy.ini"
start

gen_feed "$T/feed1.csv" "$L"
timed "hr plan ($N people, $L leave)" "$BIN/kagi" hr plan "$T/feed1.csv" --out "$T/plan1.json"
echo "  plan: $(jq -c .summary "$T/plan1.json")  ($(stat -c %s "$T/plan1.json") bytes)"
timed "hr apply" "$BIN/kagi" hr apply "$T/plan1.json"
timed "hr apply again (no-op)" "$BIN/kagi" hr apply "$T/plan1.json"
K audit verify
stop

echo "== password hash at the configured cost ($COST)"
"$BIN/bench_hr" pwhash "$COST" 20
if command -v mkpasswd >/dev/null; then
	t0=$(date +%s.%N)
	for _ in $(seq 20); do mkpasswd -m yescrypt -R "$COST" 'correct horse battery staple' >/dev/null; done
	echo "peer mkpasswd -m yescrypt -R $COST: $(echo "($(date +%s.%N) - $t0) * 1000 / 20" | bc) ms per hash (one process each)"
else
	echo "peer mkpasswd (package whois) is not installed on this machine: no peer figure"
fi
