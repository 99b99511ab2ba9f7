#!/bin/bash
# Bad input, each refused with a clear error and nothing stored: the
# certificate list (`kagi ca list --json`) and the audit head are the same
# before and after every case (R-INPUT-1..3).  Then OCSP garbage and a
# request about another CA get malformedRequest / unauthorized.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
U="http://127.0.0.1:$KAGID_HTTP_PORT"
mk_person S-0100 "佐藤 一郎" "税務課"
mk_user ichiro S-0100
mk_person S-0101 "鈴木 次郎" "税務課"
mk_user jiro S-0101
disable_user jiro
kagi terminal add pc-0100 --zone internet >/dev/null || fail "terminal add failed"
csr_ec "$W/good.csr"
kagi ca issue --profile server --csr "$W/good.csr" --dns r.ward.example --out "$W/r.crt" >/dev/null 2>&1 ||
	fail "issuance failed"
R=$(serial_of "$W/r.crt")
kagi ca revoke "$R" --reason superseded >/dev/null || fail "revoke failed"

# expect_refused NAME ERROR MESSAGE-PART -- kagi args...
expect_refused() {
	local name=$1 err=$2 msg=$3; shift 4
	snapshot "$W/before"
	local rc=0
	kagi --json "$@" >"$W/$name.json" 2>"$W/$name.err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$name: accepted"
	[ "$(jq -r .error "$W/$name.json")" = "$err" ] ||
		fail "$name: error '$(jq -r .error "$W/$name.json")', want '$err'"
	jq -r .message "$W/$name.json" | grep -qF -- "$msg" ||
		fail "$name: message '$(jq -r .message "$W/$name.json")' lacks '$msg'"
	snapshot "$W/after"
	same_snapshot "$W/before" "$W/after" "$name"
	echo "ok $name"
}

# csr_bad_signature: one flipped byte in the signature
openssl req -in "$W/good.csr" -outform DER -out "$W/good.der"
python3 - "$W/good.der" "$W/badsig.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-5] ^= 0x01
open(sys.argv[2], "wb").write(b)
PY
openssl req -inform DER -in "$W/badsig.der" -out "$W/badsig.csr" 2>/dev/null || cp "$W/badsig.der" "$W/badsig.csr"
expect_refused csr_bad_signature sig "signature does not verify" -- \
	ca issue --profile server --csr "$W/badsig.csr" --dns x.ward.example
csr_rsa "$W/rsa1024.csr" 1024
expect_refused csr_weak_rsa1024 invalid "key type or size is not allowed" -- \
	ca issue --profile server --csr "$W/rsa1024.csr" --dns x.ward.example
csr_ec "$W/p192.csr" prime192v1
expect_refused csr_p192 invalid "key type or size is not allowed" -- \
	ca issue --profile staff-logon --csr "$W/p192.csr" --for ichiro
# csr_wrong_format: a certificate where a CSR belongs, and plain junk
expect_refused csr_wrong_format format "not a PKCS#10 request" -- \
	ca issue --profile server --csr "$W/r.crt" --dns x.ward.example
head -c 300 /dev/urandom >"$W/junk.bin"
expect_refused csr_junk_der format "not a PKCS#10 request" -- \
	ca issue --profile server --csr "$W/junk.bin" --dns x.ward.example
# csr_oversize: 20 KiB
{ echo "-----BEGIN CERTIFICATE REQUEST-----"; head -c 15000 /dev/urandom | base64 -w 64
  echo "-----END CERTIFICATE REQUEST-----"; } >"$W/big.csr"
expect_refused csr_oversize limit "too large" -- \
	ca issue --profile server --csr "$W/big.csr" --dns x.ward.example
# csr_trailing_bytes: a second PEM block after the request
cat "$W/good.csr" "$W/good.csr" >"$W/twice.csr"
expect_refused csr_trailing_bytes trailing "data after its end" -- \
	ca issue --profile server --csr "$W/twice.csr" --dns x.ward.example
expect_refused unknown_account not_found "unknown account" -- \
	ca issue --profile staff-logon --csr "$W/good.csr" --for nobody
expect_refused disabled_account denied "not active" -- \
	ca issue --profile staff-logon --csr "$W/good.csr" --for jiro
expect_refused unknown_device not_found "unknown device" -- \
	ca issue --profile terminal --csr "$W/good.csr" --for-device pc-9999
expect_refused unknown_profile invalid "unknown profile" -- \
	ca issue --profile root --csr "$W/good.csr"
expect_refused profile_needs_holder invalid "needs an account" -- \
	ca issue --profile staff-logon --csr "$W/good.csr" --dns x.ward.example
expect_refused bad_dns_name invalid "cannot go into a certificate" -- \
	ca issue --profile server --csr "$W/good.csr" --dns '*.ward.example'
expect_refused unknown_zone invalid "unknown zone" -- terminal add pc-0200 --zone nowhere
expect_refused rerevoke revoked "already revoked" -- ca revoke "$R" --reason keyCompromise
expect_refused unhold_not_held invalid "not on hold" -- ca unhold "$R"
expect_refused revoke_unknown_serial not_found "no certificate with this serial" -- \
	ca revoke 7F00000000000000000000000000ABCD --reason keyCompromise
expect_refused revoke_bad_reason invalid "RFC 5280 reason" -- ca revoke "$R" --reason removeFromCRL
expect_refused revoke_bad_serial invalid "serial number in hex" -- ca revoke "zz-top" --reason keyCompromise
# raw API: unknown members and wrong types are refused too
snapshot "$W/before"
api POST /v1/ca/issue '{"profile":"server","csr":"x","dns":["a.example"],"subject":"CN=root"}' >"$W/raw.json" || true
[ "$(jq -r .error "$W/raw.json")" = invalid ] || fail "unknown member accepted: $(cat "$W/raw.json")"
api POST /v1/ca/issue '{"profile":"server","csr":"x","dns":"a.example"}' >"$W/raw2.json" || true
[ "$(jq -r .error "$W/raw2.json")" = invalid ] || fail "dns as a string accepted"
snapshot "$W/after"
same_snapshot "$W/before" "$W/after" raw_api

# csr_asks_for_san_not_copied: issued, with a warning, SANs from the request only
cat >"$W/req.cnf" <<'CNF'
[req]
distinguished_name = dn
req_extensions = ext
[dn]
[ext]
subjectAltName = DNS:evil.example, IP:10.6.6.6
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/san.key" \
	-subj "/CN=evil.example" -config "$W/req.cnf" -out "$W/san.csr" 2>/dev/null
kagi --json ca issue --profile server --csr "$W/san.csr" --dns ok.ward.example --out "$W/san.crt" >"$W/san.json" ||
	fail "csr_asks_for_san_not_copied: refused"
jq -r .warning "$W/san.json" | grep -q 'ignored' || fail "csr_asks_for_san_not_copied: no warning"
[ "$(ext "$W/san.crt" subjectAltName)" = "DNS:ok.ward.example" ] ||
	fail "csr_asks_for_san_not_copied: SAN is $(ext "$W/san.crt" subjectAltName)"
openssl x509 -in "$W/san.crt" -noout -subject | grep -q evil && fail "CSR subject copied"
echo "ok csr_asks_for_san_not_copied"

# ocsp_garbage: malformedRequest, unsigned, and kagid keeps serving
head -c 200 /dev/urandom >"$W/garbage.der"
curl -sf --data-binary @"$W/garbage.der" -H 'Content-Type: application/ocsp-request' \
	-o "$W/g.resp" "$U/ocsp" || fail "ocsp_garbage: no HTTP answer"
openssl ocsp -respin "$W/g.resp" -resp_text -noverify >"$W/g.txt" 2>&1 || true
grep -qi 'Responder Error: malformedrequest' "$W/g.txt" ||
	fail "ocsp_garbage: not malformedRequest: $(head -3 "$W/g.txt")"
curl -sf -o "$W/g2.resp" "$U/ocsp/%%%notbase64" || true
openssl ocsp -respin "$W/g2.resp" -resp_text -noverify >"$W/g2.txt" 2>&1 || true
grep -qi 'Responder Error: malformedrequest' "$W/g2.txt" ||
	fail "ocsp_garbage GET: not malformedRequest: $(head -3 "$W/g2.txt")"
echo "ok ocsp_garbage"
# ocsp_other_ca: a CertID for another CA's certificate -> unauthorized
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/o.key" \
	-subj "/O=kagi/CN=kagi Issuing CA" -days 2 -out "$W/other-ca.crt" 2>/dev/null
openssl req -new -key "$W/good.csr.key" -subj /CN=x -out "$W/x.csr" 2>/dev/null
openssl x509 -req -in "$W/x.csr" -CA "$W/other-ca.crt" -CAkey "$W/o.key" -days 1 -out "$W/other.crt" 2>/dev/null
openssl ocsp -issuer "$W/other-ca.crt" -cert "$W/other.crt" -url "$U/ocsp" -VAfile "$CA/ocsp.crt" \
	>"$W/oth.out" 2>&1 || true
grep -qi 'unauthorized' "$W/oth.out" || fail "ocsp_other_ca: not unauthorized: $(cat "$W/oth.out")"
echo "ok ocsp_other_ca"
curl -sf "$U/v1/health" >/dev/null || fail "kagid stopped answering"
kagid_stop
echo "PASS bad_input"
