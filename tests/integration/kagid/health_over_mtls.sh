#!/bin/bash
# GET /v1/health over HTTPS with the admin client certificate (curl as an
# independent client); TLS 1.2 is refused (TLS 1.3 only).
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"

kagid_curl_tls /v1/health -o "$KAGID_TMP/h.json" -w '%{http_code}' >"$KAGID_TMP/code" ||
	fail "curl over mTLS failed"
[ "$(cat "$KAGID_TMP/code")" = 200 ] || fail "health HTTP status $(cat "$KAGID_TMP/code")"
[ "$(json_get "$KAGID_TMP/h.json" .status)" = ok ] || fail "health status not ok: $(cat "$KAGID_TMP/h.json")"
json_get "$KAGID_TMP/h.json" .version >/dev/null || fail "health lacks version"
json_get "$KAGID_TMP/h.json" .time | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
	fail "health time is not UTC RFC 3339"
kagid_curl_tls /v1/whoami -o "$KAGID_TMP/w.json"
[ "$(json_get "$KAGID_TMP/w.json" .transport)" = tls ] || fail "whoami transport not tls"
json_get "$KAGID_TMP/w.json" .subject | grep -q 'CN=kagi-admin' || fail "whoami subject lacks CN=kagi-admin"
want=$(openssl x509 -in "$D/tls/admin.crt" -noout -serial | sed 's/^serial=//')
[ "$(json_get "$KAGID_TMP/w.json" .serial)" = "$want" ] || fail "whoami serial != certificate serial $want"

# the negotiated protocol is TLS 1.3 (openssl s_client as a second client)
openssl s_client -connect "127.0.0.1:$KAGID_PORT" -CAfile "$D/tls/ca.crt" \
	-cert "$D/tls/admin.crt" -key "$D/tls/admin.key" -verify_return_error \
	</dev/null >"$KAGID_TMP/s13" 2>&1 || fail "s_client TLS 1.3 handshake failed"
grep -q 'TLSv1.3' "$KAGID_TMP/s13" || fail "not TLS 1.3"

# TLS 1.2 is refused even with a good certificate
if openssl s_client -connect "127.0.0.1:$KAGID_PORT" -tls1_2 -CAfile "$D/tls/ca.crt" \
	-cert "$D/tls/admin.crt" -key "$D/tls/admin.key" </dev/null >"$KAGID_TMP/s12" 2>&1; then
	fail "TLS 1.2 handshake succeeded"
fi
grep -q 'Cipher is (NONE)\|alert\|no protocols available\|wrong version' "$KAGID_TMP/s12" ||
	fail "TLS 1.2 failure not at the handshake: $(tail -5 "$KAGID_TMP/s12")"
rc=0; curl -s --max-time 10 --tls-max 1.2 --cacert "$D/tls/ca.crt" --cert "$D/tls/admin.crt" \
	--key "$D/tls/admin.key" "https://127.0.0.1:$KAGID_PORT/v1/health" >/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "curl --tls-max 1.2 got an answer"

# plain HTTP listener: health only
curl -sf "http://127.0.0.1:$KAGID_HTTP_PORT/v1/health" | grep -q '"status":"ok"' || fail "plain HTTP health failed"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KAGID_HTTP_PORT/v1/status")
[ "$code" = 404 ] || fail "plain HTTP serves /v1/status (HTTP $code)"
grep -qF 'event=tls_refused alert="protocol version"' "$D/kagid.log" || fail "kagid did not log the refusal: want event=tls_refused alert=\"protocol version\""
kagid_stop
echo "PASS health_over_mtls"
