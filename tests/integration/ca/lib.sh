# Helpers for the CA integration tests (source after set -euo pipefail).
# A real kagid on loopback with its SoftHSM2 token and LMDB store; openssl,
# GnuTLS certtool and python3-cryptography as independent verifiers.
#   ca_setup              deployment in $D, kagid running, KAGI_CONFIG set,
#                         $CA = $D/ca, $W = scratch dir
#   kagi ARGS             the built kagi
#   api METHOD PATH [JSON]  raw API call over the local socket (body on stdout)
#   mk_person NO NAME SECTION; mk_user LOGIN NO; disable_user LOGIN
#   csr_ec OUT [CURVE]; csr_rsa OUT BITS   (key in OUT.key)
#   serial_of CERT        upper-case hex serial
#   ext CERT NAME         one extension's value lines, joined with "; "
#   snapshot FILE         kagi ca list --json + audit head (for "nothing changed")
. "${KAGI_SRC:?}/tests/lib/kagid.sh"

kagi() { "$KAGI_BIN/kagi" "$@"; }

ca_setup() {
	kagid_tmpdir
	D=$KAGID_TMP/d
	kagid_write_conf "$D"
	kagid_init "$D"
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
	CA=$D/ca
	W=$KAGID_TMP/w
	mkdir -p "$W"
	cat "$CA/root.crt" "$CA/issuing.crt" >"$W/chain.pem"
}

api() {
	local m=$1 p=$2
	if [ $# -ge 3 ]; then
		kagid_curl_unix "$p" -X "$m" -H 'Content-Type: application/json' -d "$3"
	else
		kagid_curl_unix "$p" -X "$m"
	fi
}

mk_person() {
	api POST /v1/persons "{\"staff_no\":\"$1\",\"name\":\"$2\",\"section\":\"$3\",\"employment\":\"regular\"}" \
		>"$W/person.out" || fail "cannot add person $1: $(cat "$W/person.out")"
	grep -q '"error"' "$W/person.out" && fail "person add $1: $(cat "$W/person.out")"
	return 0
}

mk_user() {
	api POST /v1/users "{\"login\":\"$1\",\"kind\":\"personal\",\"person\":\"$2\"}" \
		>"$W/user.out" || fail "cannot add user $1"
	grep -q '"error"' "$W/user.out" && fail "user add $1: $(cat "$W/user.out")"
	return 0
}

disable_user() {
	api POST "/v1/users/disable/$1" '{}' >"$W/dis.out" || fail "cannot disable $1"
	grep -q '"error"' "$W/dis.out" && fail "disable $1: $(cat "$W/dis.out")"
	return 0
}

csr_ec() {
	openssl req -new -newkey ec -pkeyopt "ec_paramgen_curve:${2:-P-256}" -nodes \
		-keyout "$1.key" -subj "/CN=ignored by the CA" -out "$1" 2>/dev/null ||
		fail "openssl req (EC ${2:-P-256}) failed"
}

csr_rsa() {
	openssl req -new -newkey "rsa:$2" -nodes -keyout "$1.key" \
		-subj "/CN=ignored by the CA" -out "$1" 2>/dev/null || fail "openssl req (RSA $2) failed"
}

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

# "X509v3 Key Usage: critical\n    Digital Signature" -> "critical; Digital Signature"
ext() {
	openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null | awk '
		NR == 1 { sub(/^[^:]*:[ ]*/, ""); v = $0; next }
		{ sub(/^[ ]+/, ""); if ($0 == "") next; v = (v == "" ? $0 : v "; " $0) }
		END { print v }'
}

# The extension OIDs of a certificate, sorted, one line (python3-cryptography).
ext_oids() {
	python3 - "$1" <<'PY'
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
print(" ".join(sorted(e.oid.dotted_string for e in c.extensions)))
PY
}

verify_chain() {
	local c=$1
	openssl verify -CAfile "$CA/root.crt" -untrusted "$CA/issuing.crt" "$c" >"$W/v.out" 2>&1 ||
		fail "openssl verify failed for $c: $(cat "$W/v.out")"
	# GnuTLS: the whole chain up to our self-signed root, then against
	# the root as the only trusted CA
	cat "$c" "$CA/issuing.crt" "$CA/root.crt" >"$W/chain-c.pem"
	certtool --verify-chain --infile "$W/chain-c.pem" >"$W/ct.out" 2>&1 ||
		fail "certtool --verify-chain failed for $c: $(tail -5 "$W/ct.out")"
	grep -q 'Chain verification output: Verified' "$W/ct.out" ||
		fail "certtool did not say Verified for $c"
	cat "$c" "$CA/issuing.crt" >"$W/chain-c2.pem"
	certtool --verify --load-ca-certificate "$CA/root.crt" --infile "$W/chain-c2.pem" \
		>"$W/ct2.out" 2>&1 || fail "certtool --verify against the root failed for $c: $(tail -5 "$W/ct2.out")"
}

snapshot() {
	kagi --json ca list >"$1.list" || fail "kagi ca list failed"
	api GET /v1/status | jq -r '.audit.head_seq' >"$1.head"
}

same_snapshot() {
	local a=$1 b=$2 what=$3
	cmp -s "$a.list" "$b.list" || fail "$what: the certificate list changed"
	cmp -s "$a.head" "$b.head" || fail "$what: the audit log grew ($(cat "$a.head") -> $(cat "$b.head"))"
}

ocsp_status() {
	# ocsp_status CERT -> good|revoked|unknown (with -VAfile; fails on bad signature)
	openssl ocsp "${@:2}" -issuer "$CA/issuing.crt" -cert "$1" \
		-url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" -VAfile "$CA/ocsp.crt" >"$W/ocsp.out" 2>&1 ||
		fail "openssl ocsp failed: $(cat "$W/ocsp.out")"
	grep -q 'Response verify OK' "$W/ocsp.out" || fail "OCSP response did not verify: $(cat "$W/ocsp.out")"
	sed -n "s|^$1: ||p" "$W/ocsp.out" | head -1
}
