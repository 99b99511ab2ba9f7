#!/bin/bash
# API error answers: unknown path 404 {"error":"not_found"}, wrong method 405
# with Allow, malformed JSON 400 naming the position, oversize body 413, and
# every JSON error carries "error" and "message".
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
R=$KAGID_TMP/r.json
code=$(kagid_curl_unix /v1/no_such_thing -o "$R" -w '%{http_code}')
[ "$code" = 404 ] || fail "unknown path: HTTP $code"
[ "$(json_get "$R" .error)" = not_found ] || fail "unknown path: $(cat "$R")"
json_get "$R" .message >/dev/null || fail "404 lacks message"

code=$(kagid_curl_unix /v1/health -X DELETE -o "$R" -D "$KAGID_TMP/h" -w '%{http_code}')
[ "$code" = 405 ] || fail "DELETE /v1/health: HTTP $code"
grep -qi '^Allow: GET' "$KAGID_TMP/h" || fail "405 without Allow: GET"
json_get "$R" .error >/dev/null || fail "405 body is not a JSON error"
code=$(kagid_curl_tls /v1/audit/verify -o "$R" -w '%{http_code}')
[ "$code" = 405 ] || fail "GET /v1/audit/verify: HTTP $code"

code=$(kagid_curl_unix /v1/audit/verify -X POST -H 'Content-Type: application/json' \
	--data-binary '{"a": [1, 2,' -o "$R" -w '%{http_code}')
[ "$code" = 400 ] || fail "malformed JSON: HTTP $code"
[ "$(json_get "$R" .error)" = format ] || fail "malformed JSON error: $(cat "$R")"
json_get "$R" .detail | grep -Eiq 'line|column|position' || fail "malformed JSON: no position: $(cat "$R")"
code=$(kagid_curl_unix /v1/audit/verify -X POST --data-binary '[1]' -o "$R" -w '%{http_code}')
[ "$code" = 400 ] || fail "non-object JSON: HTTP $code"

head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$KAGID_TMP/big"
code=$(kagid_curl_unix /v1/audit/verify -X POST --data-binary @"$KAGID_TMP/big" -o /dev/null -w '%{http_code}' || true)
[ "$code" = 413 ] || fail "oversize body: HTTP $code"

# a good verify with an empty JSON object still works afterwards
kagid_curl_unix /v1/audit/verify -X POST --data-binary '{}' -f -o "$R" || fail "verify {} failed"
[ "$(json_get "$R" .ok)" = true ] || fail "verify {} not ok"
kagid_curl_unix /v1/status -f -o "$R"
[ "$(json_get "$R" .policy.mynumber_zone)" = mynumber ] || fail "status: mynumber_zone"
[ "$(json_get "$R" .listen.https)" = "127.0.0.1:$KAGID_PORT" ] || fail "status: listen.https"
[ "$(json_get "$R" .hsm.token)" = kagi ] || fail "status: hsm.token"
[ "$(json_get "$R" .schema)" = 1 ] || fail "status: schema"
kagid_stop
echo "PASS api_errors"
