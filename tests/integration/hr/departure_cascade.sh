#!/bin/bash
# Departure cascade end to end (R-ID-1, R-CARD-7): a person with an account
# and two staff-logon certificates issued through `kagi ca issue` retires.
# After `kagi hr apply`: both certificates are revoked in the CRL (openssl
# crl) with reason cessationOfOperation, `openssl ocsp` answers revoked,
# the account is disabled and password login is refused.
# (FIDO credentials: no API registers them yet; the planner and apply of
# fido_delete are covered by tests/unit/hr.)
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
if ! "$KAGI_BIN/kagi" help ca issue >/dev/null 2>&1; then
	echo "SKIP: the CA service (kagi ca issue) is not built in" >&2
	exit 77
fi
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

feed "$W/feed.csv" "S100,山田 太郎,ヤマダ タロウ,総務課,regular,retired,2026-03-31"
kagi hr plan "$W/feed.csv" --out "$W/plan.json" >"$W/plan.out" 2>&1 || fail "plan: $(cat "$W/plan.out")"
grep -q 'certificates to revoke: 2' "$W/plan.out" || fail "plan lacks the two certificates: $(cat "$W/plan.out")"
grep -q 'cessationOfOperation' "$W/plan.out" || fail "plan lacks the reason"
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
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS departure_cascade"
