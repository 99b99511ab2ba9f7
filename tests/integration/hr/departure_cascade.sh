#!/bin/bash
# Departure cascade end to end (R-ID-1, R-CARD-7): a person with an account
# and two staff-logon certificates issued through `kagi ca issue` retires.
# After `kagi hr apply`: both certificates are revoked in the CRL (openssl
# crl) with reason cessationOfOperation, `openssl ocsp` answers revoked,
# the account is disabled and password login is refused.  The person also
# has a FIDO credential (software authenticator through libfido2,
# registered with POST /v1/users/fido/LOGIN): before the departure a FIDO
# login at a My Number terminal works; after apply `kagi user fido list`
# is empty, /v1/login/begin no longer offers the credential and the same
# FIDO login is refused (issue 4).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
if ! "$KAGI_BIN/kagi" help ca issue >/dev/null 2>&1; then
	echo "SKIP: the CA service (kagi ca issue) is not built in" >&2
	exit 77
fi
FIDO_TOOL=$KAGI_BIN/loginapi_fido_tool
[ -x "$FIDO_TOOL" ] || fail "loginapi_fido_tool not built"
HR_POLICY_SED='s/^; aaguids = /aaguids = /' # the soft authenticator's model
hr_setup
CA=$D/ca
kagi person add S100 --name "山田 太郎" --employment regular --section 総務課 >/dev/null || fail "person add"
kagi --json user add taro --kind personal --person S100 >"$W/user.json" || fail "user add"
TEMP=$(jq -er .temporary_password "$W/user.json") || fail "no temporary password in: $(cat "$W/user.json")"
login() {
	api POST /v1/auth/password "{\"login\":\"taro\",\"password\":\"$TEMP\"}" >"$W/login.json" || true
}
login
jq -e '.result == "must_change"' "$W/login.json" >/dev/null || fail "login before departure: $(cat "$W/login.json")"

for c in a b; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$c.key" \
		-subj "/CN=ignored" -out "$W/$c.csr" 2>/dev/null || fail "openssl req"
	kagi ca issue --profile staff-logon --csr "$W/$c.csr" --for taro --out "$W/$c.crt" >"$W/issue.out" 2>&1 ||
		fail "issue $c: $(cat "$W/issue.out")"
done
SA=$(openssl x509 -in "$W/a.crt" -noout -serial | sed 's/^serial=//')
SB=$(openssl x509 -in "$W/b.crt" -noout -serial | sed 's/^serial=//')
ocsp() {
	openssl ocsp -issuer "$CA/issuing.crt" -cert "$1" -url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" \
		-VAfile "$CA/ocsp.crt" >"$W/ocsp.out" 2>&1 || fail "openssl ocsp failed: $(cat "$W/ocsp.out")"
	sed -n "s/^$(echo "$1" | sed 's/[\/&]/\\&/g'): //p" "$W/ocsp.out"
}
[ "$(ocsp "$W/a.crt")" = good ] || fail "certificate a not good before: $(cat "$W/ocsp.out")"

# a FIDO credential, and a terminal in the My Number zone to log in with it
"$FIDO_TOOL" "$W/fido.state" make kagi.local >"$W/reg.json" || fail "fido make"
api POST /v1/users/fido/taro "$(cat "$W/reg.json")" >"$W/regout.json"
CRED=$(jq -er .credential_id "$W/regout.json") || fail "FIDO registration: $(cat "$W/regout.json")"
kagi --json user fido list taro >"$W/fido.json" || fail "kagi user fido list"
jq -e --arg c "$CRED" '[.credentials[].credential_id] == [$c]' "$W/fido.json" >/dev/null ||
	fail "fido list before departure: $(cat "$W/fido.json")"
kagi terminal add t-mn-01 --zone mynumber >/dev/null || fail "terminal add"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/t.key" \
	-subj "/CN=ignored" -out "$W/t.csr" 2>/dev/null || fail "openssl req (terminal)"
kagi ca issue --profile terminal --csr "$W/t.csr" --for-device t-mn-01 --out "$W/t.crt" >/dev/null ||
	fail "terminal certificate"
tpost() { # PATH JSON -> $W/t.json, $HTTP
	HTTP=$(curl -sS --max-time 10 -o "$W/t.json" -w '%{http_code}' --cacert "$D/tls/ca.crt" \
		--cert "$W/t.crt" --key "$W/t.key" -H 'Content-Type: application/json' -d "$2" \
		"https://127.0.0.1:$KAGID_PORT$1") || fail "curl $1"
}
fido_login() { # FIDO with UV (PIN) over kagid's login API; answer in $W/t.json
	local ch tbs
	tpost /v1/login/begin '{"login":"taro","service":"login"}'
	[ "$HTTP" = 200 ] || fail "begin: HTTP $HTTP $(cat "$W/t.json")"
	cp "$W/t.json" "$W/begin.json"
	ch=$(jq -r .challenge "$W/begin.json")
	tbs=$({ printf 'kagi-login-v1\0'; printf '%s' "$ch" | base64 -d; printf '\0taro'; } |
		openssl dgst -sha256 -binary | xxd -p -c 64)
	"$FIDO_TOOL" "$W/fido.state" assert kagi.local "$CRED" "$tbs" >"$W/assert.json" || fail "fido assert"
	tpost /v1/login/finish "$(jq -nc --arg c "$(jq -r .challenge_id "$W/begin.json")" \
		--slurpfile f "$W/assert.json" '{challenge_id:$c, login:"taro", fido:$f[0]}')"
}
fido_login
[ "$HTTP" = 200 ] || fail "FIDO login before departure: HTTP $HTTP $(cat "$W/t.json")"
jq -e --arg c "$CRED" '.fido.credentials == [$c]' "$W/begin.json" >/dev/null ||
	fail "begin does not offer the credential: $(cat "$W/begin.json")"

feed "$W/feed.csv" "S100,山田 太郎,ヤマダ タロウ,総務課,regular,retired,2026-03-31"
kagi hr plan "$W/feed.csv" --out "$W/plan.json" >"$W/plan.out" 2>&1 || fail "plan: $(cat "$W/plan.out")"
grep -q 'certificates to revoke: 2' "$W/plan.out" || fail "plan lacks the two certificates: $(cat "$W/plan.out")"
grep -q 'cessationOfOperation' "$W/plan.out" || fail "plan lacks the reason"
grep -q 'FIDO credentials to delete: 1' "$W/plan.out" || fail "plan lacks the FIDO credential: $(cat "$W/plan.out")"
kagi hr apply "$W/plan.json" >"$W/apply.out" 2>&1 || fail "apply: $(cat "$W/apply.out")"
grep -q 'certificates to revoke: 2' "$W/apply.out" || fail "apply report: $(cat "$W/apply.out")"

# the CRL names both, with the reason
kagi ca crl --out "$W/crl.der" >/dev/null 2>&1 || fail "kagi ca crl failed"
openssl crl -inform DER -in "$W/crl.der" -noout -text >"$W/crl.txt" || fail "openssl crl cannot read the CRL"
for s in "$SA" "$SB"; do
	grep -q "Serial Number: $s" "$W/crl.txt" || fail "serial $s not in the CRL"
done
[ "$(grep -c 'Cessation Of Operation' "$W/crl.txt")" -ge 2 ] || fail "reason missing in the CRL"
openssl crl -inform DER -in "$W/crl.der" -CAfile "$CA/issuing.crt" -noout 2>&1 | grep -q 'verify OK' ||
	fail "the CRL does not verify against the issuing CA"
# OCSP says revoked
[ "$(ocsp "$W/a.crt")" = revoked ] || fail "OCSP for a: $(cat "$W/ocsp.out")"
[ "$(ocsp "$W/b.crt")" = revoked ] || fail "OCSP for b: $(cat "$W/ocsp.out")"
grep -q 'Reason: cessationOfOperation' "$W/ocsp.out" || fail "OCSP reason: $(cat "$W/ocsp.out")"
# the account is disabled and login is refused
[ "$(user_state taro)" = disabled ] || fail "taro not disabled"
login
jq -e '.error' "$W/login.json" >/dev/null || fail "login after departure not refused: $(cat "$W/login.json")"
# the FIDO credential is gone: not listed, not offered, the login refused
kagi --json user fido list taro >"$W/fido.json" || fail "kagi user fido list after apply"
[ "$(jq '.credentials | length' "$W/fido.json")" = 0 ] || fail "FIDO credential survived: $(cat "$W/fido.json")"
kagi user fido list taro >"$W/fido.out" || fail "kagi user fido list (text)"
grep -q 'taro has no security keys' "$W/fido.out" || fail "fido list text: $(cat "$W/fido.out")"
fido_login
[ "$HTTP" != 200 ] || fail "FIDO login after departure accepted: $(cat "$W/t.json")"
jq -e '.error' "$W/t.json" >/dev/null || fail "FIDO login after departure: $(cat "$W/t.json")"
jq -e '.fido.credentials == []' "$W/begin.json" >/dev/null ||
	fail "begin still offers the removed credential: $(cat "$W/begin.json")"
api GET /v1/audit/export >"$W/audit.jsonl" || fail "audit export"
jq -e -s 'map(select(.action == "login.refused" and .object == "taro")) | length >= 1' \
	"$W/audit.jsonl" >/dev/null || fail "the refused FIDO login is not audited"
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS departure_cascade"
