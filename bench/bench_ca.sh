#!/bin/bash
# CA benchmarks, all in one run so the ratios compare like with like
# (docs/BENCHMARKS.md "CA"):
#   1. issuance through kagid's API (bench_ca issue: libcurl keep-alive over
#      the local socket, SoftHSM2 P-256, each certificate + audit record in
#      one committed LMDB transaction) vs `openssl ca` issuing the same
#      server profile in a loop (software key, one process per certificate);
#   2. OCSP responses/s with wrk (POST, 1,000 different no-nonce requests in
#      rotation) against kagid and against `openssl ocsp -index ... -port`
#      with the same 1,000-certificate population;
#   3. CRL generation with 100,000 revoked entries (bench_ca crl).
# Usage: bench/bench_ca.sh [BUILD_DIR]   (default: build)
# Env: ISSUE_N (2000), OPENSSL_CA_N (300), OCSP_SECS (10), WRK_CONN (32)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
BIN=$B/bin
ISSUE_N=${ISSUE_N:-2000}
OPENSSL_CA_N=${OPENSSL_CA_N:-300}
OCSP_SECS=${OCSP_SECS:-10}
WRK_CONN=${WRK_CONN:-32}
OCSP_SEQ_N=${OCSP_SEQ_N:-3000}
for p in kagi kagid bench_ca; do
	[ -x "$BIN/$p" ] || { echo "bench_ca.sh: build $p first ($BIN)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "bench_ca.sh: wrk is needed" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/kagi-bench-ca.XXXXXX")
KPID= OPID=
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true
	[ -n "$OPID" ] && kill "$OPID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
HP=$(port); AP=$(port)
"$BIN/kagi" --quiet init --dir "$T/d" --port "$AP" --http-port "$HP" >/dev/null 2>&1
sed -i 's/^log = stderr$/log = stderr\nlog_level = warn/' "$T/d/kagi.conf"
export KAGI_CONFIG=$T/d/kagi.conf
"$BIN/kagid" --foreground --config "$KAGI_CONFIG" >"$T/kagid.log" 2>&1 &
KPID=$!
for _ in $(seq 100); do [ -S "$T/d/run/kagid.sock" ] && break; sleep 0.1; done
CA=$T/d/ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.key" \
	-subj /CN=bench -out "$T/k.csr" 2>/dev/null

echo "== 1. issuance (profile server, P-256)"
"$BIN/bench_ca" issue "$T/d/run/kagid.sock" "$T/k.csr" 20 warm >/dev/null 2>&1
"$BIN/bench_ca" issue "$T/d/run/kagid.sock" "$T/k.csr" "$ISSUE_N" h >"$T/serials" 2>"$T/issue.out"
cat "$T/issue.out"
KAGI_RATE=$(sed -n 's/.*: \([0-9.]*\)\/s$/\1/p' "$T/issue.out")

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
echo "ratio kagid/openssl ca: $(python3 -c "print(round($KAGI_RATE / $OSSL_RATE, 1))")x"

echo "== 2. OCSP (1,000 certificates, no-nonce POST requests in rotation)"
mkdir -p "$T/req"
head -1000 "$T/serials" >"$T/pop"
i=0
while read -r s; do
	i=$((i + 1))
	openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$s" -no_nonce -reqout "$T/req/$i.der" >/dev/null 2>&1
done <"$T/pop"
cat >"$T/post.lua" <<LUA
local bodies = {}
local n = 0
init = function(args)
  for i = 1, 1000 do
    local f = io.open("$T/req/" .. i .. ".der", "rb")
    if f then n = n + 1; bodies[n] = f:read("*a"); f:close() end
  end
end
local k = 0
request = function()
  k = k % n + 1
  return wrk.format("POST", "/ocsp", {["Content-Type"] = "application/ocsp-request"}, bodies[k])
end
LUA
wrk -t2 -c"$WRK_CONN" -d3s -s "$T/post.lua" "http://127.0.0.1:$HP/ocsp" >/dev/null   # warm the cache
wrk -t2 -c"$WRK_CONN" -d"${OCSP_SECS}s" --latency -s "$T/post.lua" "http://127.0.0.1:$HP/ocsp" >"$T/wrk-kagid.txt"
echo "-- kagid:"; grep -E 'Requests/sec|99%|50%|Non-2xx|Socket errors' "$T/wrk-kagid.txt" || true
wrk -t2 -c8 -d"${OCSP_SECS}s" --latency -s "$T/post.lua" "http://127.0.0.1:$HP/ocsp" >"$T/wrk-kagid8.txt"
echo "-- kagid, 8 connections:"; grep -E 'Requests/sec|99%|50%|Non-2xx|Socket errors' "$T/wrk-kagid8.txt" || true
# one response checked by openssl, so the benchmark measured real answers
openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$(head -1 "$T/pop")" -no_nonce -url "http://127.0.0.1:$HP/ocsp" \
	-VAfile "$CA/ocsp.crt" 2>&1 | grep -q ': good' || { echo "kagid OCSP answer not good" >&2; exit 1; }

# openssl ocsp responder with the same population (software signer key)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rs.key" \
	-subj "/CN=openssl responder" -days 30 -out "$T/rs.crt" 2>/dev/null
exp=$(date -u -d '+1 year' +%y%m%d%H%M%SZ)
while read -r s; do printf 'V\t%s\t\t%s\tunknown\t/CN=%s\n' "$exp" "$s" "$s"; done <"$T/pop" >"$T/index.txt"
echo "unique_subject = no" >"$T/index.txt.attr"
OP=$(port)
openssl ocsp -index "$T/index.txt" -port "$OP" -rsigner "$T/rs.crt" -rkey "$T/rs.key" \
	-CA "$CA/issuing.crt" -nmin 240 >/dev/null 2>"$T/ossl-ocsp.err" &
OPID=$!
good=0
for _ in $(seq 50); do
	sleep 0.2
	if openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$(head -1 "$T/pop")" -no_nonce \
		-url "http://127.0.0.1:$OP/" -VAfile "$T/rs.crt" >"$T/ossl-check.out" 2>&1 &&
		grep -q ': good' "$T/ossl-check.out"; then good=1; break; fi
done
[ "$good" = 1 ] || { echo "openssl responder answer not good: $(cat "$T/ossl-check.out" "$T/ossl-ocsp.err")" >&2; exit 1; }
# wrk cannot drive `openssl ocsp -port` (it serves one HTTP/1.0 connection
# at a time and stalls on a kept-alive one), so both responders also get the
# same small client: one request per connection, one at a time.
"$BIN/bench_ca" ocsp "http://127.0.0.1:$OP/" "$T/req" "$OCSP_SEQ_N" | tee "$T/seq-ossl.txt"
"$BIN/bench_ca" ocsp "http://127.0.0.1:$HP/ocsp" "$T/req" "$OCSP_SEQ_N" | tee "$T/seq-kagid.txt"
KR=$(sed -n 's/.*: \([0-9.]*\)\/s p50.*/\1/p' "$T/seq-kagid.txt")
OR=$(sed -n 's/.*: \([0-9.]*\)\/s p50.*/\1/p' "$T/seq-ossl.txt")
KW=$(awk '/Requests\/sec/{print $2}' "$T/wrk-kagid.txt")
echo "ratio kagid/openssl ocsp, same client: $(python3 -c "print(round($KR / max($OR, 0.001), 1))")x;" \
	"kagid under wrk vs openssl: $(python3 -c "print(round($KW / max($OR, 0.001), 1))")x"
kill "$OPID" 2>/dev/null || true
OPID=

echo "== 3. CRL with 100,000 revoked entries"
BENCH_CRL_OUT=$T/100k.crl BENCH_CA_OUT=$T/100k-ca.pem "$BIN/bench_ca" crl 100000
openssl crl -inform DER -in "$T/100k.crl" -CAfile "$T/100k-ca.pem" -noout 2>&1 | grep -q 'verify OK' ||
	{ echo "100k CRL does not verify" >&2; exit 1; }
echo "(openssl crl -verify: OK)"
