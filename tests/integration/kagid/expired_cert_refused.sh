#!/bin/bash
# A client certificate from the right CA but expired is refused in the
# handshake, before any handler runs.  `openssl ca` sets past dates
# (-startdate/-enddate).  Control: the same issuance with current dates is
# accepted, so only the validity period is wrong.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
C=$KAGID_TMP/ca
mkdir -p "$C/new"
: >"$C/index.txt"
echo 1000 >"$C/serial"
cat >"$C/ca.cnf" <<CNF
[ca]
default_ca = c
[c]
database = $C/index.txt
new_certs_dir = $C/new
serial = $C/serial
default_md = sha256
policy = p
unique_subject = no
x509_extensions = ext
[p]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
issue() { # name startdate enddate
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/O=kagi/CN=$1" -keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
	openssl ca -batch -notext -config "$C/ca.cnf" -cert "$D/tls/ca.crt" -keyfile "$D/tls/ca.key" \
		-in "$C/$1.csr" -out "$C/$1.crt" -startdate "$2" -enddate "$3" >/dev/null 2>&1 ||
		fail "openssl ca could not issue $1"
}
issue expired 20200101000000Z 20200201000000Z
issue current "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" "$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)"
openssl verify -CAfile "$D/tls/ca.crt" "$C/expired.crt" >"$C/v" 2>&1 && fail "expired certificate verifies"
grep -q 'expired' "$C/v" || fail "the test certificate fails for another reason: $(cat "$C/v")"
openssl verify -CAfile "$D/tls/ca.crt" "$C/current.crt" >/dev/null || fail "control certificate does not verify"

kagid_start "$D"
kagid_expect_tls_refused "expired certificate" --cert "$C/expired.crt" --key "$C/expired.key"
# control: same CA, same profile, current dates -> served
kagid_curl_tls /v1/whoami --cert "$C/current.crt" --key "$C/current.key" -o "$C/w.json" ||
	fail "control certificate refused"
json_get "$C/w.json" .subject | grep -q 'CN=current' || fail "control whoami wrong: $(cat "$C/w.json")"
grep -qF 'event=tls_refused alert="certificate expired" verify="certificate has expired"' "$D/kagid.log" || fail "kagid did not log the refusal: want event=tls_refused alert=\"certificate expired\" verify=\"certificate has expired\""
kagid_stop
echo "PASS expired_cert_refused"
