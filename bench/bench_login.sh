#!/bin/bash
# Terminal login benchmark (issue 5; docs/BENCHMARKS.md "Terminal login"),
# all in one run so the ratios compare like with like:
#   1. card + PIN login wall time through pam_kagi (warm kagi-cardd, kagid on
#      loopback, mTLS) against pam_pkcs11 and pam_p11 configured for the SAME
#      SoftHSM2 token and certificate, each as `pamtester SERVICE alice
#      authenticate` under pam_wrapper (+ nss_wrapper, so pam_p11 finds the
#      user's home in the temp dir), timed by hyperfine, with pam_permit as
#      the floor (process + pam_wrapper); and the bare C_Login + C_Sign on
#      that token in one process (bench_login p11);
#   2. FIDO2 login through pam_kagi against pam_u2f with the same software
#      authenticator (tests/softfido): kagi-cardd reaches it through its
#      insecure_fido_test_io_module, pam_u2f through bench_u2f_shim.so
#      (LD_PRELOAD: libfido2's device search and open point at the same io
#      functions and state file);
#   3. login decisions/s at kagid with 50 concurrent mTLS clients (terminal
#      certificate, keep-alive): begin + finish with the password factor in
#      the lgwan zone at the policy's default hash cost, and GET /v1/health
#      through the same client as the floor (bench_login load).
# Never touches /etc: PAM service files, pam_pkcs11.conf, the CA directory,
# the user's home and the u2f authfile all live in a private temp dir.
# Usage: bench/bench_login.sh [BUILD_DIR]     (KAGI_BIN overrides BUILD_DIR/bin)
# The PAM timings run in LOGIN_ROUNDS rounds (each: every module in turn,
# LOGIN_RUNS / LOGIN_ROUNDS runs each) and each module's median is over all
# its runs, so a change of machine load during the run (other builds) falls
# on every module alike instead of on whichever block it happened to hit.
# Env: LOGIN_RUNS (30 per PAM module), LOGIN_ROUNDS (3), LOAD_CLIENTS (50), LOAD_SECS (15),
#      LOAD_MAX (3000 decisions), HEALTH_SECS (5)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
KAGI_BIN=${KAGI_BIN:-$B/bin}
KAGI_BUILD=${KAGI_BUILD:-$(cd "$KAGI_BIN/.." && pwd)}
KAGI_SRC=$SRC
export KAGI_BIN KAGI_BUILD KAGI_SRC
RUNS=${LOGIN_RUNS:-30}
ROUNDS=${LOGIN_ROUNDS:-3}
[ "$ROUNDS" -ge 1 ] && [ "$RUNS" -ge "$ROUNDS" ] || need "LOGIN_RUNS must be >= LOGIN_ROUNDS >= 1"
PER_ROUND=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
RUNS=$(( PER_ROUND * ROUNDS ))
LOAD_CLIENTS=${LOAD_CLIENTS:-50}
LOAD_SECS=${LOAD_SECS:-15}
LOAD_MAX=${LOAD_MAX:-3000}
HEALTH_SECS=${HEALTH_SECS:-5}
SECDIR=/lib/x86_64-linux-gnu/security
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
NSS_WRAPPER_LIB=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so
SHIM=$KAGI_BUILD/lib/bench_u2f_shim.so
FIDO_MODULE=$KAGI_BUILD/lib/softfido_module.so

need() { echo "bench_login.sh: $*" >&2; exit 2; }
for p in kagi kagid kagi-cardd cardtoken softfido_tool bench_login; do
	[ -x "$KAGI_BIN/$p" ] || need "build $p first ($KAGI_BIN)"
done
for f in "$KAGI_BUILD/lib/pam_kagi.so" "$SHIM" "$FIDO_MODULE"; do
	[ -f "$f" ] || need "build $(basename "$f") first ($KAGI_BUILD/lib)"
done
for f in "$SECDIR/pam_pkcs11.so" "$SECDIR/pam_p11.so" "$SECDIR/pam_u2f.so" "$NSS_WRAPPER_LIB"; do
	[ -f "$f" ] || need "$f missing: run scripts/install-deps (libpam-pkcs11 libpam-p11 libpam-u2f libnss-wrapper)"
done
for c in pamtester hyperfine jq openssl curl; do
	command -v "$c" >/dev/null || need "$c is needed (scripts/install-deps)"
done

. "$SRC/tests/lib/kagid.sh"
. "$SRC/tests/integration/login/lib.sh"
login_tmpdir
kagid_tmpdir
trap _login_cleanup EXIT
T=$LOGIN_TMP
D=$KAGID_TMP/d
C=$T/cardd
OUT=$T/out
KN=0
mkdir -p "$C" "$OUT"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "   $(dpkg-query -W -f='${Package} ${Version}\n' libpam-pkcs11 libpam-p11 libpam-u2f libfido2-1 softhsm2 | paste -sd, | sed 's/,/, /g')"

# ---- kagid: terminals in the My Number (card, FIDO) and LGWAN (password) zones
kagid_write_conf "$D"
sed -i 's/^log = stderr$/log = stderr\nlog_level = warn/' "$D/kagi.conf"
kagid_init "$D"
# FIDO registration of the software authenticator (as tests/integration/login/login_fido.sh)
sed -i -e 's/^; aaguids = \(.*\)$/aaguids = \1/' -e 's/^self_attestation = no$/self_attestation = yes/' "$D/policy.ini"
kagid_start "$D"
export KAGI_CONFIG=$D/kagi.conf
HASH_COST=$(awk -F' = ' '/^hash_cost/ {print $2; exit}' "$D/policy.ini")

terminal() { # NAME ZONE DIR: registered terminal with its certificate in DIR
	kk terminal add "$1" --zone "$2"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$1" -keyout "$3/terminal.key" -out "$3/terminal.csr" >/dev/null 2>&1 ||
		lfail "terminal CSR"
	chmod 0600 "$3/terminal.key"
	kk ca issue --profile terminal --csr "$3/terminal.csr" --for-device "$1" --out "$3/terminal.crt"
	cp "$D/tls/ca.crt" "$3/ca.crt"
}
terminal term-01 mynumber "$C"
mkdir -p "$T/lgwan"
terminal term-02 lgwan "$T/lgwan"

# ---- the staff card: SoftHSM2 token, key made on it, staff-logon certificate
softhsm_conf "$C/card"
export SOFTHSM2_CONF=$C/card/softhsm2.conf
CARD_SOFTHSM2_CONF=$SOFTHSM2_CONF
login_user alice 2001
card_make card-alice alice p256
CERT=$C/card-alice.crt
printf '%s\n' "$CARD_PIN" >"$T/pin"

# the same user for the peers: nss_wrapper passwd with a home in the temp dir
HOME_A=$T/home/alice
mkdir -p "$HOME_A/.eid"
printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:0:0:alice:%s:/bin/sh\n' "$HOME_A" >"$T/passwd"
printf 'root:x:0:\n' >"$T/group"
# pam_p11: the certificate in ~/.eid/authorized_certificates
cp "$CERT" "$HOME_A/.eid/authorized_certificates"
chmod 0700 "$HOME_A/.eid"
# pam_pkcs11: our CA certificates (hashed), the certificate's digest mapped to alice
mkdir -p "$T/p11/cacerts" "$T/p11/crls"
cp "$D/ca/root.crt" "$D/ca/issuing.crt" "$T/p11/cacerts/"
openssl rehash "$T/p11/cacerts" >/dev/null 2>&1 || c_rehash "$T/p11/cacerts" >/dev/null
openssl verify -CApath "$T/p11/cacerts" "$CERT" >/dev/null || lfail "the card certificate does not chain to the CA in $T/p11/cacerts"
echo "$(openssl x509 -in "$CERT" -noout -fingerprint -sha1 | sed 's/^.*=//') -> alice" >"$T/p11/digest_mapping"
cat >"$T/p11/pam_pkcs11.conf" <<CONF
pam_pkcs11 {
  nullok = false;
  debug = false;
  use_first_pass = false;
  try_first_pass = false;
  use_authtok = false;
  card_only = true;
  wait_for_card = false;
  use_pkcs11_module = softhsm;
  pkcs11_module softhsm {
    module = $SOFTHSM;
    description = "SoftHSM2";
    slot_num = 0;
    ca_dir = $T/p11/cacerts;
    crl_dir = $T/p11/crls;
    support_threads = false;
    cert_policy = ca,signature;
  }
  use_mappers = digest;
  mapper_search_path = /lib/x86_64-linux-gnu/pam_pkcs11;
  mapper digest {
    debug = false;
    module = internal;
    algorithm = "sha1";
    mapfile = file://$T/p11/digest_mapping;
  }
}
CONF

pam_service kagi "auth required $PAM_KAGI socket=$C/cardd.sock"
pam_service pkcs11 "auth required $SECDIR/pam_pkcs11.so config_file=$T/p11/pam_pkcs11.conf"
pam_service p11 "auth required $SECDIR/pam_p11.so $SOFTHSM"
# the floor: pamtester + pam_wrapper + a module that decides nothing
pam_service permit "auth required $SECDIR/pam_permit.so"

# Every PAM run: pam_wrapper (private service dir) + nss_wrapper, pamtester.
PAMREST="PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$T/pam.d NSS_WRAPPER_PASSWD=$T/passwd NSS_WRAPPER_GROUP=$T/group SOFTHSM2_CONF=$SOFTHSM2_CONF LC_ALL=C"
PAMENV="env LD_PRELOAD=$PAM_WRAPPER_LIB:$NSS_WRAPPER_LIB $PAMREST"
pamt() { # SERVICE [extra env...]: one login as alice, PIN on stdin
	local svc=$1; shift
	$PAMENV "$@" pamtester -v "$svc" alice authenticate <"$T/pin"
}
check_login() { # SERVICE [env]: must succeed before it is timed
	local out
	out=$(pamt "$@" 2>&1) || lfail "$1 login failed: $out"
	grep -q 'successfully authenticated' <<<"$out" || lfail "$1 login: $out"
}
# median_ms NAME COMMAND: the median (ms) over every run of COMMAND in the
# rounds' JSON files NAME.1.json ... NAME.$ROUNDS.json
median_ms() {
	local f files=()
	for f in $(seq "$ROUNDS"); do files+=("$1.$f.json"); done
	jq -s -r --arg c "$2" '[.[].results[] | select(.command == $c) | .times[]] | sort |
		(if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) * 1000' \
		"${files[@]}"
}
# rounds NAME ARGS...: hyperfine ARGS in $ROUNDS rounds of $PER_ROUND runs
rounds() {
	local name=$1 r
	shift
	for r in $(seq "$ROUNDS"); do
		hyperfine --style basic --warmup 1 --runs "$PER_ROUND" \
			--export-json "$name.$r.json" "$@" || return 1
	done
}

# cardd for the card: warm (one login reads the card, the rest use its cache)
cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
sed -i 's/^log_level = debug$/log_level = warn/' "$C/kagi.conf"
cardd_start "$C"
for s in kagi pkcs11 p11; do check_login "$s"; done
# wrong PIN is refused by every module (the comparison is between real checks)
printf '000000\n' >"$T/badpin"
for s in kagi pkcs11 p11; do
	$PAMENV pamtester "$s" alice authenticate <"$T/badpin" >/dev/null 2>&1 &&
		lfail "$s accepted a wrong PIN"
done
check_login kagi # the card still works (and cardd is warm again)

echo "== 1. card + PIN login (SoftHSM2 P-256 token, staff-logon certificate from kagi's CA), $RUNS runs each in $ROUNDS rounds"
rounds "$T/card" \
	-n pam_kagi "$PAMENV pamtester kagi alice authenticate <$T/pin" \
	-n pam_pkcs11 "$PAMENV pamtester pkcs11 alice authenticate <$T/pin" \
	-n pam_p11 "$PAMENV pamtester p11 alice authenticate <$T/pin" \
	-n pam_permit "$PAMENV pamtester permit alice authenticate <$T/pin" >"$T/card.txt" 2>&1 ||
	{ cat "$T/card.txt" >&2; lfail "hyperfine (card)"; }
K=$(median_ms "$T/card" pam_kagi)
P=$(median_ms "$T/card" pam_pkcs11)
Q=$(median_ms "$T/card" pam_p11)
F=$(median_ms "$T/card" pam_permit)
BW=$("$KAGI_BIN/bench_login" p11 "$SOFTHSM" card-alice "$CARD_PIN" 200) || lfail "bench_login p11"
BWM=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$BW")
printf '%-34s median %8.1f ms\n' "pam_kagi (warm kagi-cardd)" "$K" "pam_pkcs11 (ca,signature)" "$P" \
	"pam_p11" "$Q" "floor: pamtester + pam_permit" "$F"
echo "bare in-process C_Login+C_Sign+C_Logout: $BW"
awk -v k="$K" -v p="$P" -v q="$Q" -v f="$F" -v bw="$BWM" 'BEGIN {
	printf "ratio pam_kagi / pam_pkcs11 = %.2f (goal <= 0.5)\n", k / p
	printf "ratio pam_kagi / pam_p11    = %.2f\n", k / q
	printf "pam_kagi above the bare C_Login+C_Sign: %.1f ms; above floor + bare: %.1f ms\n", k - bw, k - f - bw
}'
cardd_stop

# ---- 2. FIDO2: the same software authenticator for pam_kagi and pam_u2f
ST=$T/softfido.state
"$KAGI_BIN/softfido_tool" "$ST" new uv >/dev/null || lfail "softfido new"
"$KAGI_BIN/softfido_tool" "$ST" enrol kagi.local alice >"$T/reg.json" || lfail "softfido enrol (kagi)"
code=$(curl -sS -o "$T/reg.out" -w '%{http_code}' --unix-socket "$D/run/kagid.sock" \
	-X POST -H 'Content-Type: application/json' --data-binary @"$T/reg.json" \
	http://kagid/v1/users/fido/alice)
[ "$code" = 201 ] || [ "$code" = 200 ] || lfail "FIDO registration: HTTP $code $(cat "$T/reg.out")"
ORIGIN=pam://kagi-bench
"$KAGI_BIN/softfido_tool" "$ST" enrol "$ORIGIN" alice >"$T/u2f.json" || lfail "softfido enrol (pam_u2f)"
KEY=$("$KAGI_BIN/bench_login" u2fkey "$T/u2f.json") || lfail "bench_login u2fkey"
# presence + verification: the same as kagi's My Number zone (fido_uv = required)
printf 'alice:%s,es256,+presence+verification\n' "$KEY" >"$T/u2f_keys"
pam_service u2f "auth required $SECDIR/pam_u2f.so authfile=$T/u2f_keys origin=$ORIGIN appid=$ORIGIN userverification=1"
# the card leaves the reader: cardd offers the FIDO key only
rm -rf "$C/card/tokens"/*
CARDD_FIDO=on CARDD_FIDO_MODULE=$FIDO_MODULE CARDD_FIDO_DEVICE=$ST \
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
sed -i 's/^log_level = debug$/log_level = warn/' "$C/kagi.conf"
cardd_start "$C"
PAMENV_U2F="env LD_PRELOAD=$PAM_WRAPPER_LIB:$NSS_WRAPPER_LIB:$SHIM $PAMREST BENCH_SOFTFIDO_STATE=$ST"
check_login kagi
out=$($PAMENV_U2F pamtester -v u2f alice authenticate </dev/null 2>&1) || lfail "pam_u2f login failed: $out"
grep -q 'successfully authenticated' <<<"$out" || lfail "pam_u2f login: $out"
# not touched: both refuse
"$KAGI_BIN/softfido_tool" "$ST" up 0
$PAMENV pamtester kagi alice authenticate </dev/null >/dev/null 2>&1 && lfail "pam_kagi: FIDO without touch accepted"
$PAMENV_U2F pamtester u2f alice authenticate </dev/null >/dev/null 2>&1 && lfail "pam_u2f: FIDO without touch accepted"
"$KAGI_BIN/softfido_tool" "$ST" up 1

echo "== 2. FIDO2 login (software authenticator, ES256, UP + built-in UV), $RUNS runs each in $ROUNDS rounds"
rounds "$T/fido" \
	-n pam_kagi "$PAMENV pamtester kagi alice authenticate </dev/null" \
	-n pam_u2f "$PAMENV_U2F pamtester u2f alice authenticate </dev/null" >"$T/fido.txt" 2>&1 ||
	{ cat "$T/fido.txt" >&2; lfail "hyperfine (FIDO)"; }
FK=$(median_ms "$T/fido" pam_kagi)
FU=$(median_ms "$T/fido" pam_u2f)
printf '%-34s median %8.1f ms\n' "pam_kagi (warm kagi-cardd)" "$FK" "pam_u2f" "$FU"
awk -v k="$FK" -v u="$FU" 'BEGIN { printf "ratio pam_kagi / pam_u2f = %.2f (goal <= 1.2)\n", k / u }'
cardd_stop

# ---- 3. login decisions/s at kagid, 50 concurrent terminal clients
NUSERS=$LOAD_CLIENTS
[ "$NUSERS" -le 100 ] || NUSERS=100
PW='Bench-Login-2026!x'
t0=$(date +%s.%N)
for i in $(seq 0 $((NUSERS - 1))); do
	u=$(printf 'load%02d' "$i")
	login_user "$u" "$((3000 + i))"
	code=$(curl -sS -o "$T/pw.out" -w '%{http_code}' --cert "$T/lgwan/terminal.crt" \
		--key "$T/lgwan/terminal.key" --cacert "$T/lgwan/ca.crt" \
		-H 'Content-Type: application/json' \
		--data "{\"login\":\"$u\",\"old\":\"$TEMP\",\"new\":\"$PW\"}" \
		"https://127.0.0.1:$KAGID_PORT/v1/login/password")
	[ "$code" = 200 ] || lfail "password change for $u: HTTP $code $(cat "$T/pw.out")"
done
# the card factor for the same accounts: one staff-logon key, a certificate each
mkdir -p "$T/load"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/load/key.pem" \
	-subj /CN=load -out "$T/load/load.csr" >/dev/null 2>&1 || lfail "load CSR"
for i in $(seq 0 $((NUSERS - 1))); do
	u=$(printf 'load%02d' "$i")
	kk ca issue --profile staff-logon --csr "$T/load/load.csr" --for "$u" --out "$T/load/$u.crt"
done
echo "== 3. login decisions at kagid ($LOAD_CLIENTS clients, mTLS with term-02's certificate, keep-alive; $NUSERS accounts, yescrypt cost $HASH_COST; set-up $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s)"
L=("$KAGI_BIN/bench_login" load "https://127.0.0.1:$KAGID_PORT" "$T/lgwan/terminal.crt"
	"$T/lgwan/terminal.key" "$T/lgwan/ca.crt")
"${L[@]}" health "$LOAD_CLIENTS" 1 500 >/dev/null || lfail "health warm-up"
"${L[@]}" health "$LOAD_CLIENTS" "$HEALTH_SECS" 1000000 || lfail "health load"
"${L[@]}" card 1 3 300 load "$NUSERS" "$T/load/key.pem" || lfail "card login, one client"
"${L[@]}" card "$LOAD_CLIENTS" "$LOAD_SECS" "$LOAD_MAX" load "$NUSERS" "$T/load/key.pem" || lfail "card login load"
"${L[@]}" password 1 3 300 load "$NUSERS" "$PW" || lfail "password login, one client"
"${L[@]}" password "$LOAD_CLIENTS" "$LOAD_SECS" "$LOAD_MAX" load "$NUSERS" "$PW" || lfail "password login load"
echo "kagid VmHWM $(awk '/VmHWM/ {print $2 " kB"}' "/proc/$KAGID_PID/status")"
kagid_stop
echo "bench_login: done"
