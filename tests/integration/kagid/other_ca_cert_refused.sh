#!/bin/bash
# A client certificate from another CA (made here with the openssl CLI) is
# refused in the handshake, before any handler runs.  Control: the same
# certificate verifies against its own CA, so only the issuer is wrong.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
O=$KAGID_TMP/other
mkdir -p "$O"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/O=kagi/CN=kagi bootstrap TLS CA" -keyout "$O/ca.key" -out "$O/ca.crt" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>/dev/null || fail "cannot make the other CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=kagi/CN=kagi-admin" \
	-keyout "$O/c.key" -out "$O/c.csr" 2>/dev/null || fail "cannot make a CSR"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$O/ext"
openssl x509 -req -in "$O/c.csr" -CA "$O/ca.crt" -CAkey "$O/ca.key" -CAcreateserial \
	-days 30 -extfile "$O/ext" -out "$O/c.crt" 2>/dev/null || fail "cannot issue the client certificate"
openssl verify -purpose sslclient -CAfile "$O/ca.crt" "$O/c.crt" >/dev/null ||
	fail "control: other-CA certificate does not verify against its own CA"
kagid_start "$D"
kagid_expect_tls_refused "certificate from another CA" --cert "$O/c.crt" --key "$O/c.key"
grep -qF 'event=tls_refused alert="unknown CA"' "$D/kagid.log" || fail "kagid did not log the refusal: want event=tls_refused alert=\"unknown CA\""
kagid_stop
echo "PASS other_ca_cert_refused"
