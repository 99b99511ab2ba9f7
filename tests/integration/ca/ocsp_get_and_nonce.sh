#!/bin/bash
# OCSP over GET (RFC 6960 A.1: /ocsp/<url-encoded base64>, standard and
# URL-safe alphabets) and the nonce: echoed when asked (openssl ocsp checks
# it), a no-nonce request is answered from the cache; Content-Type is
# application/ocsp-response on both listeners.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
U="http://127.0.0.1:$KAGID_HTTP_PORT"
csr_ec "$W/a.csr"
kagi ca issue --profile server --csr "$W/a.csr" --dns a.ward.example --out "$W/a.crt" >/dev/null 2>&1 ||
	fail "issuance failed"

# nonce: openssl ocsp sends one by default and fails if it is not echoed
[ "$(ocsp_status "$W/a.crt")" = good ] || fail "nonce request not good"
grep -qi 'nonce' "$W/ocsp.out" && grep -qi 'WARNING.*nonce' "$W/ocsp.out" && fail "nonce not echoed"
openssl ocsp -issuer "$CA/issuing.crt" -cert "$W/a.crt" -url "$U/ocsp" -VAfile "$CA/ocsp.crt" \
	-resp_text >"$W/n.out" 2>&1 || fail "ocsp failed"
grep -q 'OCSP Nonce' "$W/n.out" || fail "response carries no nonce"

# GET: build a request with openssl, send it base64 in the path
openssl ocsp -issuer "$CA/issuing.crt" -cert "$W/a.crt" -no_nonce -reqout "$W/req.der" || fail "reqout failed"
b64=$(base64 -w0 "$W/req.der")
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")
code=$(curl -s -o "$W/get.der" -w '%{http_code} %{content_type}' "$U/ocsp/$enc")
[ "$code" = "200 application/ocsp-response" ] || fail "GET /ocsp: $code"
openssl ocsp -respin "$W/get.der" -issuer "$CA/issuing.crt" -cert "$W/a.crt" -VAfile "$CA/ocsp.crt" \
	>"$W/get.out" 2>&1 || fail "GET response: $(cat "$W/get.out")"
grep -q "$W/a.crt: good" "$W/get.out" || fail "GET response not good: $(cat "$W/get.out")"
# URL-safe alphabet without padding
urlsafe=$(printf %s "$b64" | tr '+/' '-_' | tr -d '=')
curl -sf -o "$W/get2.der" "$U/ocsp/$urlsafe" || fail "GET base64url failed"
openssl ocsp -respin "$W/get2.der" -issuer "$CA/issuing.crt" -cert "$W/a.crt" -VAfile "$CA/ocsp.crt" \
	>"$W/get2.out" 2>&1 && grep -q ': good' "$W/get2.out" || fail "base64url GET not good"
# the same over the API socket listener
kagid_curl_unix "/ocsp/$urlsafe" -o "$W/get3.der" -f || fail "GET /ocsp on the socket failed"
openssl ocsp -respin "$W/get3.der" -issuer "$CA/issuing.crt" -cert "$W/a.crt" -VAfile "$CA/ocsp.crt" \
	>"$W/get3.out" 2>&1 && grep -q ': good' "$W/get3.out" || fail "socket GET not good"

# no-nonce answers come from the cache: hits grow, the HSM is not asked again
h0=$(kagi --json ca show | jq .ocsp.cache_hits)
for _ in 1 2 3 4 5; do curl -sf -o /dev/null "$U/ocsp/$urlsafe" || fail "GET failed"; done
h1=$(kagi --json ca show | jq .ocsp.cache_hits)
[ "$h1" -ge $((h0 + 5)) ] || fail "cache hits $h0 -> $h1: responses not cached"
# a request with a nonce is never answered from the cache (fresh nonce echoed)
openssl ocsp -issuer "$CA/issuing.crt" -cert "$W/a.crt" -url "$U/ocsp" -VAfile "$CA/ocsp.crt" \
	>"$W/n2.out" 2>&1 && grep -q ': good' "$W/n2.out" || fail "second nonce request failed"
kagid_stop
echo "PASS ocsp_get_and_nonce"
