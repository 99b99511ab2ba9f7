#!/bin/bash
# Temporary password (R-PW-6, R-PW-7, R-PW-10) and the rules on the new one
# (R-PW-2, R-PW-4): add -> login says must_change -> a bad new password lists
# each broken rule -> good change -> ok login -> the old temp is refused ->
# history reuse is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

expect_rc 0 person add 1001 --name "Yamada Taro" --employment regular
expect_rc 0 --json user add yamada --kind personal --person 1001
TEMP=$(temp_of)
[ ${#TEMP} = 12 ] || fail "temporary password length ${#TEMP}, policy says 12"
case $TEMP in *[0O1lI]*) fail "temporary password has an ambiguous character" ;; esac
[ "$(jf "$KOUT" .user.temporary_password)" = true ] || fail "not flagged temporary"

# the temporary password is never shown again
expect_rc 0 --json user show yamada
grep -qF "$TEMP" "$KOUT" && fail "user show repeats the temporary password"

# first login: only into a forced change
login yamada "$TEMP" pc-01
[ "$API_STATUS" = 200 ] || fail "temp login: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(jf "$API_OUT" .result)" = must_change ] || fail "temp login did not say must_change"
[ "$(jf "$API_OUT" .reason)" = temporary ] || fail "reason"

# a bad new password: one message per broken rule
change_pw yamada "$TEMP" "yamada"
[ "$API_STATUS" = 400 ] || fail "bad password accepted: $API_STATUS"
[ "$(jf "$API_OUT" .error)" = invalid ] || fail "error name"
rules=$(jq -r '[.rules[].rule] | join(" ")' "$API_OUT")
[ "$rules" = "min_length min_classes login_name person_name common" ] ||
	fail "rules listed: [$rules]"
[ "$(jq '[.rules[] | select(.message | length > 10)] | length' "$API_OUT")" = 5 ] ||
	fail "a rule without a message"
# the temporary password cannot be the new one
change_pw yamada "$TEMP" "$TEMP"
[ "$API_STATUS" = 400 ] || fail "temp reuse accepted"
jq -e '.rules[] | select(.rule == "temporary")' "$API_OUT" >/dev/null ||
	fail "temp reuse not named: $(cat "$API_OUT")"
# the person's name is refused too
change_pw yamada "$TEMP" "Taro-Kaede-2031"
jq -e '.rules[] | select(.rule == "person_name")' "$API_OUT" >/dev/null ||
	fail "person name not refused"
audit_has auth.password-change refused yamada

# a good one
P1='Kaede-Leaf-2031'
change_pw yamada "$TEMP" "$P1"
[ "$API_STATUS" = 200 ] || fail "good change refused: $(cat "$API_OUT")"
[ "$(jf "$API_OUT" .result)" = ok ] || fail "change result"
expect_rc 0 --json user show yamada
[ "$(jf "$KOUT" .user.temporary_password)" = false ] || fail "still temporary"

login yamada "$P1" pc-02
[ "$API_STATUS" = 200 ] && [ "$(jf "$API_OUT" .result)" = ok ] ||
	fail "login with the new password: $(cat "$API_OUT")"
# R-LOGIN-4: the previous login is reported
[ "$(jf "$API_OUT" .last_login_terminal)" = pc-01 ] || fail "last terminal"
jf "$API_OUT" .last_login >/dev/null || fail "no last login time"
# the old temporary password no longer works
login yamada "$TEMP"
[ "$API_STATUS" = 401 ] || fail "old temp accepted: $API_STATUS"
[ "$(jf "$API_OUT" .error)" = auth ] || fail "old temp error"
# change again; going back to P1 is refused by the history (R-PW-4)
P2='Momiji-River-2032'
change_pw yamada "$P1" "$P2"
[ "$API_STATUS" = 200 ] || fail "second change: $(cat "$API_OUT")"
change_pw yamada "$P2" "$P1"
[ "$API_STATUS" = 400 ] || fail "history reuse accepted"
[ "$(jq -r '[.rules[].rule] | join(" ")' "$API_OUT")" = history ] || fail "history not named"

# reset-password by the helpdesk: a new temp, shown once, old password gone
expect_rc 0 user reset-password yamada
grep -q "Temporary password: " "$KOUT" || fail "reset shows no temp"
grep -q "only this once" "$KOUT" || fail "reset shows no once-only note"
TEMP2=$(sed -n 's/^Temporary password: //p' "$KOUT")
[ -n "$TEMP2" ] && [ "$TEMP2" != "$TEMP" ] || fail "reset temp"
login yamada "$P2"
[ "$API_STATUS" = 401 ] || fail "old password still works after reset"
login yamada "$TEMP2"
[ "$(jf "$API_OUT" .result)" = must_change ] || fail "reset temp not must_change"
audit_has user.reset-password ok yamada
audit_has auth.password-change ok yamada
id_no_hash_anywhere
echo "ok: temporary password flow"
