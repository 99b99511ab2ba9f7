#!/bin/bash
# A TLS client without a certificate is refused in the handshake, before any
# handler runs.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
kagid_expect_tls_refused "no client certificate"
# printf 'GET /v1/health HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$KAGID_PORT" \
	-CAfile "$D/tls/ca.crt" -ign_eof >"$KAGID_TMP/s" 2>&1 || true
grep -q '"status":"ok"' "$KAGID_TMP/s" && fail "s_client without a certificate got an answer"
grep -qF 'event=tls_refused alert="certificate required"' "$D/kagid.log" || fail "kagid did not log the refusal: want event=tls_refused alert=\"certificate required\""
kagid_stop
echo "PASS no_client_cert_refused"
