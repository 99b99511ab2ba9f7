#!/bin/bash
# Operator roles (policy.ini [roles]): three operators over mTLS with client
# certificates from `kagi operator cert`; a verb without the role is refused
# with exit 4 and the refusal is in the audit log; nobody changes their own
# roles; revoked roles and disabled accounts stop working at once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

for p in "1001 Alice" "1002 Bob" "1003 Carol" "1004 Dave"; do
	set -- $p
	expect_rc 0 person add "$1" --name "$2 Example" --employment regular
	expect_rc 0 user add "$(tr 'A-Z' 'a-z' <<<"$2")" --kind personal --person "$1"
done
# the local administrator (root on the socket) hands out the first roles
expect_rc 0 operator grant alice --role operator
expect_rc 0 operator grant bob --role helpdesk
expect_rc 0 operator grant carol --role ciso,auditor
expect_rc 0 --json operator list
[ "$(jq -r '[.operators[].login] | join(",")' "$KOUT")" = alice,bob,carol ] ||
	fail "operator list: $(cat "$KOUT")"

# client certificates: key made by kagi (0600), CN = login, from the TLS CA
mkconf() { # login -> $D/kagi-<login>.conf over mTLS only
	local who=$1
	expect_rc 0 operator cert "$who" --key-out "$D/$who.key" --cert-out "$D/$who.crt"
	[ "$(stat -c %a "$D/$who.key")" = 600 ] || fail "$who.key mode"
	openssl verify -CAfile "$D/tls/ca.crt" "$D/$who.crt" >/dev/null ||
		fail "$who.crt does not verify against the TLS CA"
	openssl x509 -in "$D/$who.crt" -noout -subject | grep -q "CN *= *$who" ||
		fail "$who.crt subject"
	openssl x509 -in "$D/$who.crt" -noout -ext extendedKeyUsage |
		grep -q "TLS Web Client Authentication" || fail "$who.crt is not clientAuth"
	awk -v who="$who" '
		/^\[/ { sec = $0 }
		sec == "[client]" && /^socket/ { next }
		sec == "[client]" && /^cert/ { print "cert = " who ".crt"; next }
		sec == "[client]" && /^key/ { print "key = " who ".key"; next }
		{ print }' "$D/kagi.conf" >"$D/kagi-$who.conf"
	chmod 0644 "$D/kagi-$who.conf"
}
mkconf alice
mkconf bob
mkconf carol
expect_rc 5 operator cert dave --key-out "$D/dave.key" --cert-out "$D/dave.crt"
[ ! -e "$D/dave.key" ] || fail "a key was left for a refused certificate"
expect_rc 8 operator cert alice --key-out "$D/alice.key" --cert-out "$D/alice2.crt"
audit_has operator.cert ok alice

as() { local who=$1; shift; k --config "$D/kagi-$who.conf" "$@"; }
as_rc() { local want=$1 who=$2 rc=0; shift 2; as "$who" "$@" || rc=$?
	[ "$rc" = "$want" ] || { cat "$KOUT" >&2; fail "$who: kagi $*: exit $rc, expected $want"; }; }

as_rc 0 alice status
grep -q "https://" "$KOUT" || fail "alice's kagi did not use mTLS: $(cat "$KOUT")"
# alice (operator) registers people and accounts
as_rc 0 alice person add 2001 --name "Erika New" --employment fiscal-year
as_rc 0 alice user add erika --kind personal --person 2001
# bob (helpdesk) may not; exit 4, and the refusal is audited with his name
as_rc 4 bob person add 2002 --name "Not Allowed" --employment regular
grep -q "person.add" "$KOUT" && grep -q "operator" "$KOUT" ||
	fail "refusal does not name the action and role: $(cat "$KOUT")"
as_rc 4 bob user add x-bob --kind service
audit_export
jq -e -s 'map(select(.action == "person.add" and .outcome == "denied" and
	(.actor | test("CN=bob")))) | length == 1' "$AUDIT" >/dev/null ||
	fail "bob's refusal is not in the audit log"
as_rc 3 bob person show 2002
# bob may reset passwords and unlock (helpdesk)
as_rc 0 bob user reset-password erika
grep -q "Temporary password" "$KOUT" || fail "bob's reset"
as_rc 0 bob user unlock erika
audit_has user.reset-password ok erika
audit_export
jq -e -s 'map(select(.action == "user.reset-password" and (.actor | test("CN=bob.*\\(bob\\)")))) | length == 1' \
	"$AUDIT" >/dev/null || fail "reset not audited as bob"
# roles are granted by the CISO only, never to oneself
as_rc 4 alice operator grant bob --role operator
as_rc 4 carol operator grant carol --role operator
grep -qi "own roles" "$KOUT" || fail "self-grant message: $(cat "$KOUT")"
audit_has operator.grant denied carol
as_rc 0 carol operator grant bob --role operator
as_rc 0 bob person add 2003 --name "Now Allowed" --employment regular
# auditor: audit export is not refused for carol; alice cannot list operators?
as_rc 0 alice operator list
as_rc 0 carol operator revoke alice --role operator
as_rc 4 alice person add 2004 --name "Revoked" --employment regular
# a disabled operator account loses everything at once
expect_rc 0 user disable carol
as_rc 4 carol operator grant alice --role operator
expect_rc 3 person show 2004
# A certificate from our own CA passes the TLS handshake (terminals use the
# login API with it) but never names an operator, even when its CN is an
# operator's login: only the bootstrap TLS CA issues operator certificates.
expect_rc 0 terminal add bob --zone lgwan
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=bob -keyout "$D/term-bob.key" -out "$D/term-bob.csr" >/dev/null 2>&1 ||
	fail "terminal CSR"
chmod 0600 "$D/term-bob.key"
expect_rc 0 ca issue --profile terminal --csr "$D/term-bob.csr" --for-device bob \
	--out "$D/term-bob.crt"
openssl x509 -in "$D/term-bob.crt" -noout -subject | grep -q "CN *= *bob" ||
	fail "terminal certificate subject: $(openssl x509 -in "$D/term-bob.crt" -noout -subject)"
awk '/^\[/ { sec = $0 }
	sec == "[client]" && /^socket/ { next }
	sec == "[client]" && /^cert/ { print "cert = term-bob.crt"; next }
	sec == "[client]" && /^key/ { print "key = term-bob.key"; next }
	{ print }' "$D/kagi.conf" >"$D/kagi-term.conf"
chmod 0644 "$D/kagi-term.conf"
rc=0; k --config "$D/kagi-term.conf" person add 2005 --name "Via Terminal" \
	--employment regular || rc=$?
[ "$rc" = 4 ] || fail "a terminal certificate acted as operator bob (exit $rc)"
expect_rc 3 person show 2005
id_no_hash_anywhere
echo "ok: roles enforced"
