#!/bin/bash
# kagid --init on a fresh directory creates the whole deployment with safe
# modes, a real SoftHSM2 token, a TLS identity that openssl verifies, and a
# deploy.init audit record; a second --init is refused and changes nothing.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"

mode() { stat -c %a "$D/$1"; }
expect_mode() {
	[ -e "$D/$1" ] || fail "$1 was not created"
	[ "$(mode "$1")" = "$2" ] || fail "$1 has mode $(mode "$1"), want $2"
}
expect_mode hsm/pin 600
expect_mode hsm/pin.so 600
expect_mode hsm/softhsm2.conf 600
expect_mode hsm/tokens 700
expect_mode tls/ca.key 600
expect_mode tls/kagid.key 600
expect_mode tls/admin.key 600
expect_mode data 700
expect_mode run 750
[ -f "$D/tls/ca.crt" ] && [ -f "$D/tls/kagid.crt" ] && [ -f "$D/tls/admin.crt" ] ||
	fail "certificates missing"
[ -f "$D/policy.ini" ] || fail "policy.ini missing"
[ -f "$D/data/data.mdb" ] || fail "no LMDB environment in data/"
grep -q "SO PIN" "$D/init.out" && grep -qi "offline" "$D/init.out" ||
	fail "output does not tell to move the SO PIN file offline"
[ "$(wc -c <"$D/hsm/pin")" -eq 17 ] || fail "user PIN file is not 16 characters + newline"
grep -Eq '^[2-9A-HJ-NP-Za-km-z]{16}$' "$D/hsm/pin" || fail "user PIN has ambiguous characters"
cmp -s "$D/hsm/pin" "$D/hsm/pin.so" && fail "user PIN and SO PIN are equal"

# the token exists in our private SoftHSM2 (independent tool)
SOFTHSM2_CONF=$D/hsm/softhsm2.conf softhsm2-util --show-slots >"$KAGID_TMP/slots" 2>&1 ||
	fail "softhsm2-util --show-slots failed: $(cat "$KAGID_TMP/slots")"
grep -Eq 'Label:[[:space:]]+kagi[[:space:]]*$' "$KAGID_TMP/slots" || fail "token 'kagi' not listed"
grep -q 'User PIN init.: *yes' "$KAGID_TMP/slots" || fail "token user PIN not initialised"

# TLS identity checked by openssl
openssl verify -CAfile "$D/tls/ca.crt" "$D/tls/kagid.crt" "$D/tls/admin.crt" ||
	fail "openssl verify failed"
openssl verify -purpose sslserver -CAfile "$D/tls/ca.crt" "$D/tls/kagid.crt" >/dev/null ||
	fail "server certificate not valid for serverAuth"
openssl verify -purpose sslclient -CAfile "$D/tls/ca.crt" "$D/tls/admin.crt" >/dev/null ||
	fail "admin certificate not valid for clientAuth"
openssl x509 -in "$D/tls/ca.crt" -noout -text >"$KAGID_TMP/ca.txt"
grep -A1 'Basic Constraints: critical' "$KAGID_TMP/ca.txt" | grep -q 'CA:TRUE' || fail "CA lacks critical CA:TRUE"
grep -q 'Certificate Sign, CRL Sign' "$KAGID_TMP/ca.txt" || fail "CA keyUsage wrong"
grep -q 'Subject Key Identifier' "$KAGID_TMP/ca.txt" || fail "CA lacks SKI"
grep -q 'ASN1 OID: prime256v1' "$KAGID_TMP/ca.txt" || fail "CA key is not P-256"
openssl x509 -in "$D/tls/kagid.crt" -noout -ext subjectAltName >"$KAGID_TMP/san.txt"
for want in 'DNS:localhost' 'IP Address:127.0.0.1' 'IP Address:0:0:0:0:0:0:0:1'; do
	grep -q "$want" "$KAGID_TMP/san.txt" || fail "server SAN lacks $want: $(cat "$KAGID_TMP/san.txt")"
done
openssl x509 -in "$D/tls/admin.crt" -noout -subject | grep -q 'CN *= *kagi-admin' ||
	fail "admin certificate CN is not kagi-admin"
openssl pkey -in "$D/tls/kagid.key" -pubout >"$KAGID_TMP/k.pub" 2>/dev/null &&
	openssl x509 -in "$D/tls/kagid.crt" -noout -pubkey | cmp -s - "$KAGID_TMP/k.pub" ||
	fail "kagid.key does not match kagid.crt"

# deploy.init is in the audit log (read through kagid's own API)
kagid_start "$D"
kagid_curl_unix '/v1/audit/export?format=jsonl' >"$KAGID_TMP/audit.jsonl"
grep -q '"action":"deploy.init"' "$KAGID_TMP/audit.jsonl" || fail "no deploy.init audit record"
grep '"action":"deploy.init"' "$KAGID_TMP/audit.jsonl" | grep -q '"actor":"kagid"' ||
	fail "deploy.init actor is not kagid"
kagid_stop

# a second --init is refused and changes nothing
( cd "$D" && find . -path ./kagid.log -prune -o -type f -print0 | sort -z | xargs -0 sha256sum ) >"$KAGID_TMP/before"
rc=0
"$KAGID" --init --config "$D/kagi.conf" >"$KAGID_TMP/second.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "second --init succeeded"
grep -q 'already' "$KAGID_TMP/second.out" || fail "second --init gave no clear reason: $(cat "$KAGID_TMP/second.out")"
( cd "$D" && find . -path ./kagid.log -prune -o -type f -print0 | sort -z | xargs -0 sha256sum ) >"$KAGID_TMP/after"
diff "$KAGID_TMP/before" "$KAGID_TMP/after" >&2 || fail "second --init changed files"

# --json gives an object
E=$KAGID_TMP/e
kagid_write_conf "$E"
"$KAGID" --init --json --config "$E/kagi.conf" >"$KAGID_TMP/init.json" 2>/dev/null || fail "--init --json failed"
[ "$(json_get "$KAGID_TMP/init.json" .token)" = kagi ] || fail "--json output lacks token"
json_get "$KAGID_TMP/init.json" .so_pin_file >/dev/null || fail "--json output lacks so_pin_file"
echo "PASS init_creates_deployment"
