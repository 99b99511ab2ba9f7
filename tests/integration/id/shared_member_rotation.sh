#!/bin/bash
# Shared IDs (R-ID-7, R-PW-9): only designated members, each with their own
# password too; removing a member flags the shared password for rotation and
# the next login only allows a change.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

# people with their own accounts and passwords
declare -A PW=([yamada]='Kaede-Leaf-2031' [suzuki]='Momiji-Hill-2032' [sato]='Tsubaki-Sea-2033')
n=1000
for who in yamada suzuki sato; do
	n=$((n + 1))
	expect_rc 0 person add "$n" --name "$who person" --employment regular
	expect_rc 0 --json user add "$who" --kind personal --person "$n"
	change_pw "$who" "$(temp_of)" "${PW[$who]}"
	[ "$API_STATUS" = 200 ] || fail "$who change: $(cat "$API_OUT")"
done
expect_rc 0 --json user add madoguchi --kind shared --person 1001
SP1='Counter-Desk-2031'
change_pw madoguchi "$(temp_of)" "$SP1"
[ "$API_STATUS" = 200 ] || fail "shared change: $(cat "$API_OUT")"

expect_rc 0 user member add madoguchi yamada
expect_rc 0 user member add madoguchi suzuki
expect_rc 8 user member add madoguchi yamada
expect_rc 5 user member add yamada suzuki      # not a shared account
expect_rc 5 user member add madoguchi madoguchi
expect_rc 3 user member add madoguchi nobody
expect_rc 0 --json user member list madoguchi
[ "$(jq -r '[.members[].member] | join(",")' "$KOUT")" = suzuki,yamada ] ||
	fail "members: $(cat "$KOUT")"
audit_has user.member-add ok madoguchi

shared_login() { # member member_password
	api POST /v1/auth/password "$(jq -nc --arg p "$SP" --arg m "$1" --arg mp "$2" \
		'{login:"madoguchi", password:$p, member:$m, member_password:$mp, terminal:"madoguchi-pc"}')"
}
SP=$SP1
# the shared password alone is not enough (R-ID-7)
login madoguchi "$SP1"
[ "$API_STATUS" = 403 ] && [ "$(jf "$API_OUT" .error)" = denied ] ||
	fail "shared login without a member: $API_STATUS $(cat "$API_OUT")"
shared_login yamada "${PW[yamada]}"
[ "$API_STATUS" = 200 ] && [ "$(jf "$API_OUT" .result)" = ok ] ||
	fail "member login: $(cat "$API_OUT")"
[ "$(jf "$API_OUT" .member)" = yamada ] || fail "member not named"
audit_export
jq -e -s 'map(select(.action == "auth.password" and .object == "madoguchi" and
	.outcome == "ok" and .detail.member == "yamada")) | length == 1' "$AUDIT" >/dev/null ||
	fail "both identities not recorded"
shared_login sato "${PW[sato]}"
[ "$API_STATUS" = 403 ] || fail "non-member sato got in: $(cat "$API_OUT")"
shared_login yamada "wrong-member-password"
[ "$API_STATUS" = 401 ] || fail "wrong member password: $API_STATUS"

# suzuki leaves: the shared password must change (R-PW-9)
expect_rc 0 user member remove madoguchi suzuki
grep -q "must now be changed" "$KOUT" || fail "no rotation note: $(cat "$KOUT")"
expect_rc 3 user member remove madoguchi suzuki
expect_rc 0 --json user show madoguchi
[ "$(jf "$KOUT" .user.password_rotate)" = true ] || fail "rotation not flagged"
[ "$(jq -r '[.user.members[].member] | join(",")' "$KOUT")" = yamada ] || fail "members after remove"
audit_has user.member-remove ok madoguchi
shared_login yamada "${PW[yamada]}"
[ "$(jf "$API_OUT" .result)" = must_change ] && [ "$(jf "$API_OUT" .reason)" = rotate ] ||
	fail "login after a member left: $(cat "$API_OUT")"
SP2='Counter-Desk-2032'
change_pw madoguchi "$SP1" "$SP1"
jq -e '.rules[] | select(.rule == "history")' "$API_OUT" >/dev/null || fail "same password accepted"
change_pw madoguchi "$SP1" "$SP2"
[ "$API_STATUS" = 200 ] || fail "rotation change: $(cat "$API_OUT")"
SP=$SP2
shared_login yamada "${PW[yamada]}"
[ "$(jf "$API_OUT" .result)" = ok ] || fail "after rotation: $(cat "$API_OUT")"

# deleting a member's account ends the membership and flags rotation again
expect_rc 0 user delete yamada
expect_rc 0 --json user show madoguchi
[ "$(jf "$KOUT" .user.password_rotate)" = true ] || fail "delete did not flag rotation"
[ "$(jq '.user.members | length' "$KOUT")" = 0 ] || fail "deleted member still listed"
id_no_hash_anywhere
echo "ok: shared member rotation"
