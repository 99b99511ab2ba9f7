#!/bin/bash
# CA benchmarks, all in one run so the ratios compare like with like
# (docs/BENCHMARKS.md "CA"):
#   1. issuance through kagid's API (bench_ca issue over the local socket,
#      SoftHSM2 P-256; each certificate + audit record is a member of a
#      group commit, answered only after its batch is durable) at
#      concurrency 1 and ISSUE_CONC, vs `openssl ca` issuing the same
#      server profile in a loop (software key, one process per certificate);
#   2. OCSP responses/s with ONE load client for every responder (bench_ca
#      load: CONC connections, keep-alive or one request per connection,
#      1,000 different no-nonce POST requests in rotation) against kagid
#      and against `openssl ocsp -index ... -port` (single process, and
#      -multi 2 on this 2-core machine) with the same 1,000 certificates;
#   3. CRL generation with 100,000 revoked entries (bench_ca crl).
# Usage: bench/bench_ca.sh [BUILD_DIR]   (default: build)
# Env: ISSUE_N (2000), ISSUE_CONC (16), GC_MS ([ca] group_commit_ms, 0),
#      OPENSSL_CA_N (300), OCSP_SECS (5), OCSP_CONCS ("1 8 32")
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
BIN=$B/bin
ISSUE_N=${ISSUE_N:-2000}
ISSUE_CONC=${ISSUE_CONC:-16}
GC_MS=${GC_MS:-0}
OPENSSL_CA_N=${OPENSSL_CA_N:-300}
OCSP_SECS=${OCSP_SECS:-5}
OCSP_CONCS=${OCSP_CONCS:-1 8 32}
for p in kagi kagid bench_ca; do
	[ -x "$BIN/$p" ] || { echo "bench_ca.sh: build $p first ($BIN)" >&2; exit 2; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/kagi-bench-ca.XXXXXX")
KPID= OPID=
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true
	[ -n "$OPID" ] && ossl_stop
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rate_of() { sed -n 's/.*: [0-9]* ok in [0-9.]* s: \([0-9.]*\)\/s .*/\1/p' "$1"; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
trap 'echo "== load average at end: $(cut -d" " -f1-3 /proc/loadavg)"; cleanup' EXIT
HP=$(port); AP=$(port)
"$BIN/kagi" --quiet init --dir "$T/d" --port "$AP" --http-port "$HP" >/dev/null 2>&1
sed -i 's/^log = stderr$/log = stderr\nlog_level = warn/' "$T/d/kagi.conf"
printf '\n[ca]\ngroup_commit_ms = %s\n' "$GC_MS" >>"$T/d/kagi.conf"
export KAGI_CONFIG=$T/d/kagi.conf
"$BIN/kagid" --foreground --config "$KAGI_CONFIG" >"$T/kagid.log" 2>&1 &
KPID=$!
for _ in $(seq 100); do [ -S "$T/d/run/kagid.sock" ] && break; sleep 0.1; done
CA=$T/d/ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.key" \
	-subj /CN=bench -out "$T/k.csr" 2>/dev/null

echo "== 1. issuance (profile server, P-256; [ca] group_commit_ms = $GC_MS)"
"$BIN/bench_ca" issue "$T/d/run/kagid.sock" "$T/k.csr" 20 warm >/dev/null 2>&1
"$BIN/bench_ca" issue "$T/d/run/kagid.sock" "$T/k.csr" "$ISSUE_N" s 1 >"$T/serials1" 2>"$T/issue1.out"
head -1 "$T/issue1.out"
"$BIN/bench_ca" issue "$T/d/run/kagid.sock" "$T/k.csr" "$ISSUE_N" h "$ISSUE_CONC" >"$T/serials" 2>"$T/issue.out"
head -1 "$T/issue.out"
KAGI_RATE1=$(rate_of "$T/issue1.out")
KAGI_RATE=$(rate_of "$T/issue.out")
# what was answered is what is stored
"$BIN/kagi" --json ca list --profile server | python3 -c '
import json, sys
have = {c["serial"] for c in json.load(sys.stdin)["certs"]}
told = [l.strip() for f in sys.argv[1:] for l in open(f) if l.strip()]
missing = [s for s in told if s not in have]
assert not missing, "answered but not stored: %r" % missing[:5]
print("all %d answered serials are in kagi ca list" % len(told))' "$T/serials1" "$T/serials"
"$BIN/kagi" audit verify

# openssl ca with the same profile: software P-256 CA key
mkdir -p "$T/oca/new"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/oca/ca.key" \
	-subj "/O=kagi/CN=openssl bench CA" -days 3650 -out "$T/oca/ca.crt" 2>/dev/null
: >"$T/oca/index.txt"
echo 1000 >"$T/oca/serial"
cat >"$T/oca/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
dir = $T/oca
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
serial = \$dir/serial
default_md = sha256
default_days = 397
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = server
rand_serial = yes
[anything]
commonName = supplied
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:h.bench.example
crlDistributionPoints = URI:http://127.0.0.1/crl/issuing.crl
authorityInfoAccess = OCSP;URI:http://127.0.0.1/ocsp, caIssuers;URI:http://127.0.0.1/ca/issuing.crt
CNF
t0=$(date +%s.%N)
for i in $(seq "$OPENSSL_CA_N"); do
	openssl ca -batch -config "$T/oca/ca.cnf" -in "$T/k.csr" -out "$T/oca/c.pem" \
		-subj "/CN=h$i.bench.example" -notext >/dev/null 2>&1
done
t1=$(date +%s.%N)
OSSL_RATE=$(python3 -c "print(round($OPENSSL_CA_N / ($t1 - $t0), 1))")
echo "openssl ca: $OPENSSL_CA_N certificates in $(python3 -c "print(round($t1 - $t0, 3))") s: $OSSL_RATE/s"
echo "ratio kagid/openssl ca: $(python3 -c "print(round($KAGI_RATE / $OSSL_RATE, 1))")x" \
	"(concurrency $ISSUE_CONC); $(python3 -c "print(round($KAGI_RATE1 / $OSSL_RATE, 1))")x (concurrency 1)"

echo "== 2. OCSP (1,000 certificates, no-nonce POST requests in rotation)"
mkdir -p "$T/req"
head -1000 "$T/serials" >"$T/pop"
i=0
while read -r s; do
	i=$((i + 1))
	openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$s" -no_nonce -reqout "$T/req/$i.der" >/dev/null 2>&1
done <"$T/pop"
# one response checked by openssl, so the benchmark measured real answers
openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$(head -1 "$T/pop")" -no_nonce -url "http://127.0.0.1:$HP/ocsp" \
	-VAfile "$CA/ocsp.crt" 2>&1 | grep -q ': good' || { echo "kagid OCSP answer not good" >&2; exit 1; }

# openssl ocsp responder with the same population (software signer key)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rs.key" \
	-subj "/CN=openssl responder" -days 30 -out "$T/rs.crt" 2>/dev/null
exp=$(date -u -d '+1 year' +%y%m%d%H%M%SZ)
while read -r s; do printf 'V\t%s\t\t%s\tunknown\t/CN=%s\n' "$exp" "$s" "$s"; done <"$T/pop" >"$T/index.txt"
echo "unique_subject = no" >"$T/index.txt.attr"
ossl_start() { # extra responder options
	OP=$(port)
	openssl ocsp -index "$T/index.txt" -port "$OP" -rsigner "$T/rs.crt" -rkey "$T/rs.key" \
		-CA "$CA/issuing.crt" -nmin 240 "$@" >/dev/null 2>"$T/ossl-ocsp.err" &
	OPID=$!
	local good=0
	for _ in $(seq 50); do
		sleep 0.2
		if openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$(head -1 "$T/pop")" -no_nonce \
			-url "http://127.0.0.1:$OP/" -VAfile "$T/rs.crt" >"$T/ossl-check.out" 2>&1 &&
			grep -q ': good' "$T/ossl-check.out"; then good=1; break; fi
	done
	[ "$good" = 1 ] || { echo "openssl responder answer not good: $(cat "$T/ossl-check.out" "$T/ossl-ocsp.err")" >&2; exit 1; }
}
ossl_stop() {
	# `-multi` workers first, by their parent's pid: OpenSSL 3.0's parent
	# does not leave its waitpid() loop on SIGTERM (restarted syscall)
	local kids
	kids=$(ps -o pid= --ppid "$OPID" 2>/dev/null || true)
	[ -n "$kids" ] && kill -KILL $kids 2>/dev/null || true
	kill -KILL "$OPID" 2>/dev/null || true
	wait "$OPID" 2>/dev/null || true
	OPID=
}
# load TAG HOSTPORT PATH CONC MODE: one run of the common client
load() {
	"$BIN/bench_ca" load "$2" "$3" "$T/req" "$4" "$OCSP_SECS" "$5" >"$T/load-$1-$4-$5.txt" || true
	echo "$1 conc=$4 $5: $(sed 's/^[^:]*: //' "$T/load-$1-$4-$5.txt")"
}
"$BIN/bench_ca" load "127.0.0.1:$HP" /ocsp "$T/req" 8 2 keepalive >/dev/null   # warm kagid's cache
for mode in keepalive close; do
	for c in $OCSP_CONCS; do
		load kagid "127.0.0.1:$HP" /ocsp "$c" "$mode"
	done
done
ossl_start
for mode in keepalive close; do
	for c in $OCSP_CONCS; do
		load ossl1 "127.0.0.1:$OP" / "$c" "$mode"
	done
done
ossl_stop
ossl_start -multi 2
for mode in keepalive close; do
	for c in $OCSP_CONCS; do
		load ossl2 "127.0.0.1:$OP" / "$c" "$mode"
	done
done
ossl_stop
echo "-- ratios, same client, same concurrency (kagid / openssl -multi 2; kagid / openssl single process)"
for mode in keepalive close; do
	for c in $OCSP_CONCS; do
		k=$(rate_of "$T/load-kagid-$c-$mode.txt"); o2=$(rate_of "$T/load-ossl2-$c-$mode.txt")
		o1=$(rate_of "$T/load-ossl1-$c-$mode.txt")
		echo "conc=$c $mode: $(python3 -c "print(round(${k:-0} / max(${o2:-0}, 0.001), 1))")x;" \
			"$(python3 -c "print(round(${k:-0} / max(${o1:-0}, 0.001), 1))")x"
	done
done

echo "== 3. CRL with 100,000 revoked entries"
BENCH_CRL_OUT=$T/100k.crl BENCH_CA_OUT=$T/100k-ca.pem "$BIN/bench_ca" crl 100000
openssl crl -inform DER -in "$T/100k.crl" -CAfile "$T/100k-ca.pem" -noout 2>&1 | grep -q 'verify OK' ||
	{ echo "100k CRL does not verify" >&2; exit 1; }
echo "(openssl crl -verify: OK)"
