#!/bin/bash
# openssl ocsp against the running kagid (RFC 6960, POST): good, revoked
# with time and reason, certificateHold at once (R-CARD-4) and good again
# after unhold, unknown for a serial never issued; SHA-1 and SHA-256
# CertIDs; every response verifies against the delegated OCSP signer.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup

csr_ec "$W/a.csr"
kagi ca issue --profile server --csr "$W/a.csr" --dns a.ward.example --out "$W/a.crt" >/dev/null 2>&1 ||
	fail "issuance failed"
A=$(serial_of "$W/a.crt")

[ "$(ocsp_status "$W/a.crt")" = good ] || fail "fresh certificate not good: $(cat "$W/ocsp.out")"
[ "$(ocsp_status "$W/a.crt" -no_nonce)" = good ] || fail "no-nonce request not good"
[ "$(ocsp_status "$W/a.crt" -no_nonce)" = good ] || fail "cached answer not good"
[ "$(ocsp_status "$W/a.crt" -sha256)" = good ] || fail "SHA-256 CertID not good"
# the responder is the delegated signer, whose certificate is in the response
openssl ocsp -issuer "$CA/issuing.crt" -cert "$W/a.crt" -url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" \
	-CAfile "$W/chain.pem" -resp_text >"$W/full.out" 2>&1 || fail "ocsp with -CAfile failed"
grep -q 'Response verify OK' "$W/full.out" || fail "response does not chain to our root"
grep -q 'Responder Id: ' "$W/full.out" || fail "no responder id"
grep -q 'OCSP No Check' "$W/full.out" || fail "signer certificate lacks ocsp-nocheck"

# hold: revoked (certificateHold) at once, even for a cached no-nonce answer
kagi ca revoke "$A" --reason certificateHold >/dev/null || fail "hold failed"
[ "$(ocsp_status "$W/a.crt" -no_nonce)" = revoked ] || fail "held certificate not revoked over OCSP"
grep -q 'Reason: certificateHold' "$W/ocsp.out" || fail "hold reason missing: $(cat "$W/ocsp.out")"
kagi ca unhold "$A" >/dev/null || fail "unhold failed"
[ "$(ocsp_status "$W/a.crt" -no_nonce)" = good ] || fail "released certificate not good"

kagi ca revoke "$A" --reason keyCompromise >/dev/null || fail "revoke failed"
[ "$(ocsp_status "$W/a.crt")" = revoked ] || fail "revoked certificate not revoked over OCSP"
grep -q 'Reason: keyCompromise' "$W/ocsp.out" || fail "reason missing: $(cat "$W/ocsp.out")"
grep -q 'Revocation Time: ' "$W/ocsp.out" || fail "revocation time missing"
[ "$(ocsp_status "$W/a.crt" -sha256)" = revoked ] || fail "SHA-256 CertID not revoked"

# unknown: a serial kagid never issued, under our issuer
openssl ocsp -issuer "$CA/issuing.crt" -serial 0x1234567890ABCDEF -url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" \
	-VAfile "$CA/ocsp.crt" >"$W/unk.out" 2>&1 || fail "openssl ocsp -serial failed: $(cat "$W/unk.out")"
grep -q 'Response verify OK' "$W/unk.out" || fail "unknown response does not verify"
grep -q ': unknown' "$W/unk.out" || fail "never-issued serial not unknown: $(cat "$W/unk.out")"
# the CA certificates themselves are not issued by the issuing CA
openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$(serial_of "$CA/issuing.crt")" \
	-url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" -VAfile "$CA/ocsp.crt" >"$W/unk2.out" 2>&1 || true
grep -q ': unknown' "$W/unk2.out" || fail "issuing CA serial not unknown"
kagid_stop
echo "PASS ocsp_against_kagid"
