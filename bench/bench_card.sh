#!/bin/bash
# Card login on the virtual CAC through OpenSC (issue 6; docs/BENCHMARKS.md
# "Card login on the virtual CAC (issue 6)"), all in one run:
#   the real PC/SC stack of the tests (tests/lib/pcscd.sh): a private pcscd
#   with a vpcd reader, the virtual CAC (libcacard, RSA-2048, staff-logon
#   certificate from kagi's CA), OpenSC's opensc-pkcs11.so for everyone;
#   `pamtester SERVICE alice authenticate` under pam_wrapper (+ nss_wrapper)
#   with the PIN on stdin, wall time per login:
#   - pam_kagi, warm: kagi-cardd running with the card's certificates cached
#     (kagid on loopback, mTLS; the card signs kagid's challenge);
#   - pam_pkcs11 (its own pam_pkcs11.conf via config_file=, cert_policy
#     ca,signature, digest mapper) on the same card, cold (the card removed
#     and re-inserted before every login, outside the timing) and warm (the
#     card stays in the reader);
#   - the floor: pamtester + pam_wrapper + pam_permit.
# Medians of BENCH_CARD_RUNS (default 25, >= 20) logins each; ratios printed.
# Goal: pam_kagi warm <= 0.3 x pam_pkcs11's median.
# Never touches /etc or the system pcscd (private /run under unshare -m).
# Usage: bench/bench_card.sh [BUILD_DIR]     (KAGI_BIN overrides BUILD_DIR/bin)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
KAGI_BIN=${KAGI_BIN:-$B/bin}
KAGI_BUILD=${KAGI_BUILD:-$(cd "$KAGI_BIN/.." && pwd)}
KAGI_SRC=$SRC
export KAGI_BIN KAGI_BUILD KAGI_SRC
RUNS=${BENCH_CARD_RUNS:-25}
[ "$RUNS" -ge 20 ] || RUNS=20
SECDIR=/lib/x86_64-linux-gnu/security
NSS_WRAPPER_LIB=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so

need() { echo "bench_card.sh: $*" >&2; exit 2; }
for p in kagi kagid kagi-cardd; do
	[ -x "$KAGI_BIN/$p" ] || need "build $p first ($KAGI_BIN)"
done
[ -x "$KAGI_BUILD/tests/vcard/kagi-test-vcard" ] || need "build kagi_test_vcard first"
[ -f "$KAGI_BUILD/lib/pam_kagi.so" ] || need "build pam_kagi first"
for f in "$SECDIR/pam_pkcs11.so" "$NSS_WRAPPER_LIB" /usr/sbin/pcscd; do
	[ -e "$f" ] || need "$f missing: run scripts/install-deps"
done
for c in pamtester certutil openssl jq unshare; do
	command -v "$c" >/dev/null || need "$c is needed (scripts/install-deps)"
done

. "$SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$SRC/tests/integration/card/lib.sh"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "   $(dpkg-query -W -f='${Package} ${Version}\n' libpam-pkcs11 opensc-pkcs11 pcscd vsmartcard-vpcd libcacard0 | paste -sd, | sed 's/,/, /g')"

card_stack_setup alice
T=$LOGIN_TMP
vcard_insert
cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
sed -i -e "s|^pkcs11_module = .*|pkcs11_module = $OPENSC_PKCS11|" \
	-e 's/^log_level = debug$/log_level = warn/' "$C/kagi.conf"
cardd_start "$C"
CERT=$VCARD_CERT
printf '%s\n' "$VCARD_PIN" >"$T/pin"

# the same user for pam_pkcs11: nss_wrapper passwd with a home in the temp dir
mkdir -p "$T/home/alice"
printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:0:0:alice:%s:/bin/sh\n' "$T/home/alice" >"$T/passwd"
printf 'root:x:0:\n' >"$T/group"
# pam_pkcs11: our CA certificates (hashed), the certificate's digest mapped to alice
mkdir -p "$T/p11/cacerts" "$T/p11/crls"
cp "$D/ca/root.crt" "$D/ca/issuing.crt" "$T/p11/cacerts/"
openssl rehash "$T/p11/cacerts" >/dev/null 2>&1 || c_rehash "$T/p11/cacerts" >/dev/null
openssl verify -CApath "$T/p11/cacerts" "$CERT" >/dev/null || lfail "the card certificate does not chain to $T/p11/cacerts"
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
  use_pkcs11_module = opensc;
  pkcs11_module opensc {
    module = $OPENSC_PKCS11;
    description = "OpenSC";
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
pam_service permit "auth required $SECDIR/pam_permit.so"

pamt() { # SERVICE [PINFILE]: one login as alice
	env LD_PRELOAD="$PAM_WRAPPER_LIB:$NSS_WRAPPER_LIB" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$T/pam.d" NSS_WRAPPER_PASSWD="$T/passwd" \
		NSS_WRAPPER_GROUP="$T/group" LC_ALL=C \
		pamtester -v "$1" alice authenticate <"${2:-$T/pin}"
}
check_login() {
	local out
	out=$(pamt "$1" 2>&1) || lfail "$1 login failed: $out"
	grep -q 'successfully authenticated' <<<"$out" || lfail "$1 login: $out"
}
now_ns() { date +%s%N; }
# time_runs NAME SERVICE [cold]: RUNS logins, ms per login into $T/NAME.ms
time_runs() {
	local name=$1 svc=$2 cold=${3:-} i t0 t1
	: >"$T/$name.ms"
	for i in $(seq "$RUNS"); do
		if [ -n "$cold" ]; then vcard_remove; vcard_insert; fi
		t0=$(now_ns)
		pamt "$svc" >"$T/run.out" 2>&1 || { cat "$T/run.out" >&2; lfail "$name: login $i failed"; }
		t1=$(now_ns)
		echo "$(( (t1 - t0) / 1000 ))" >>"$T/$name.ms" # microseconds
	done
}
median_ms() { sort -n "$T/$1.ms" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'; }

for s in kagi pkcs11 permit; do check_login "$s"; done
# a wrong PIN is refused by both (the comparison is between real checks)
printf '000000\n' >"$T/badpin"
for s in kagi pkcs11; do
	pamt "$s" "$T/badpin" >/dev/null 2>&1 && lfail "$s accepted a wrong PIN"
done
check_login kagi # warm again after the wrong PIN (cardd forgets nothing here)

echo "== card + PIN login on the virtual CAC through OpenSC, $RUNS logins each"
for w in 1 2 3; do pamt kagi >/dev/null 2>&1; pamt pkcs11 >/dev/null 2>&1; done
time_runs kagi_warm kagi
time_runs pkcs11_warm pkcs11
time_runs permit permit
time_runs pkcs11_cold pkcs11 cold
# pam_kagi right after insertion too (cardd's cache is keyed by the card,
# so this is the reader/OpenSC re-detection cost, not a certificate read)
time_runs kagi_reinserted kagi cold
K=$(median_ms kagi_warm)
KR=$(median_ms kagi_reinserted)
PW=$(median_ms pkcs11_warm)
PC=$(median_ms pkcs11_cold)
F=$(median_ms permit)
printf '%-46s median %8.1f ms\n' "pam_kagi (warm kagi-cardd)" "$K" \
	"pam_kagi (card re-inserted before each login)" "$KR" \
	"pam_pkcs11 warm (card stays in the reader)" "$PW" \
	"pam_pkcs11 cold (card re-inserted before each)" "$PC" \
	"floor: pamtester + pam_permit" "$F"
# the bare card operation in one process, OpenSC loaded once (if built)
if [ -x "$KAGI_BIN/bench_login" ]; then
	label=$(pkcs11-tool --module "$OPENSC_PKCS11" -L 2>/dev/null | sed -n 's/^ *token label *: //p' | head -1)
	BW=$("$KAGI_BIN/bench_login" p11 "$OPENSC_PKCS11" "$label" "$VCARD_PIN" 50) ||
		lfail "bench_login p11 on the virtual CAC"
	echo "bare in-process C_Login+C_Sign+C_Logout on the virtual CAC: $BW"
fi
awk -v k="$K" -v pw="$PW" -v pc="$PC" 'BEGIN {
	printf "ratio pam_kagi warm / pam_pkcs11 warm = %.3f (goal <= 0.3): %s\n", k / pw, (k / pw <= 0.3) ? "met" : "NOT met"
	printf "ratio pam_kagi warm / pam_pkcs11 cold = %.3f (goal <= 0.3): %s\n", k / pc, (k / pc <= 0.3) ? "met" : "NOT met"
}'
cardd_stop
pcscd_stop
