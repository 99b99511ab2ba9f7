#!/bin/bash
# Over mTLS kagi checks kagid's certificate against [client] ca: with a CA
# kagid's certificate does not chain to, the connection is refused (exit 6)
# and no request reaches kagid.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
start_kagid
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/other-ca.key" -out "$T/other-ca.crt" -subj "/CN=other CA" \
	-days 2 2>/dev/null
sed -e '/^\[client\]/,$ { /^socket = /d }' \
	-e "/^\[client\]/,\$ s|^ca = .*|ca = $T/other-ca.crt|" "$CONF" >"$DEP/other.conf"
chmod 640 "$DEP/other.conf"
grep -q "^ca = $T/other-ca.crt" "$DEP/other.conf" || fail "other.conf lacks the other CA"
before=$(grep -c 'path=/v1/status' "$DEP/kagid.log" || true)
expect_rc 6 "$KAGI" --config "$DEP/other.conf" status
grep -q "cannot reach kagid at https://127.0.0.1:$PORT" "$T/err" || fail "message: $(cat "$T/err")"
after=$(grep -c 'path=/v1/status' "$DEP/kagid.log" || true)
[ "$before" = "$after" ] || fail "a request reached kagid through an unverified TLS connection"
# The right CA works (the test above is not vacuous).
sed -e '/^\[client\]/,$ { /^socket = /d }' "$CONF" >"$DEP/mtls.conf"; chmod 640 "$DEP/mtls.conf"
expect_rc 0 "$KAGI" --config "$DEP/mtls.conf" status
stop_kagid
echo "ok: untrusted_server_cert"
