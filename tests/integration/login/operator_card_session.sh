#!/bin/bash
# Issue 6: an operator at the counter logs in once with their own staff card
# (kagi login through kagi-cardd), and kagid records that operator on every
# action; no operator password exists.  The counter PC's kagi uses the
# counter terminal's certificate; without a card session it is no operator
# at all, a forged or closed session is refused, and logout ends it.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user opr 2001
kagid_curl_unix /v1/auth/password/change -H 'Content-Type: application/json' \
	-d "$(jq -nc --arg o "$TEMP" '{login:"opr", old:$o, new:"Counter#Maple58"}')" |
	jq -e 'has("error") | not' >/dev/null || lfail "password change"
kk operator grant opr --role operator
card_make card-opr opr
cardd_up

# the counter PC's kagi: HTTPS with the counter terminal's certificate
cat >"$LOGIN_TMP/counter.conf" <<CONF
[client]
url = https://127.0.0.1:$KAGID_PORT
cert = $C/terminal.crt
key = $C/terminal.key
ca = $D/tls/ca.crt

[cardd]
socket = $C/cardd.sock
CONF
chmod 0600 "$LOGIN_TMP/counter.conf"
export KAGI_OPERATOR_SESSION_FILE=$LOGIN_TMP/operator-session
ck() { "$KAGI_BIN/kagi" --config "$LOGIN_TMP/counter.conf" "$@"; }

# no card session: the terminal certificate alone is no operator
out=$(ck person add 3001 --name "Counter One" --employment regular 2>&1) &&
	lfail "person add without an operator session succeeded: $out"
grep -qi 'denied\|not allowed\|permission' <<<"$out" || lfail "unclear refusal: $out"

# a wrong PIN: no session
out=$(ck login --user opr --pin-fd 3 3<<<"000000" 2>&1) && lfail "wrong PIN logged in: $out"
grep -q 'Wrong PIN' <<<"$out" || lfail "no wrong-PIN message: $out"
[ ! -e "$KAGI_OPERATOR_SESSION_FILE" ] || lfail "a session file after a wrong PIN"

# card + PIN: a session kept for this operator only
out=$(ck login --user opr --pin-fd 3 3<<<"$CARD_PIN" 2>&1) || lfail "kagi login: $out"
grep -q 'Logged in as opr' <<<"$out" || lfail "no login message: $out"
[ "$(stat -c %a "$KAGI_OPERATOR_SESSION_FILE")" = 600 ] || lfail "session file mode"
grep -q "$CARD_PIN" "$C/cardd.log" && lfail "the PIN reached cardd's log"

ck person add 3001 --name "Counter One" --employment regular >/dev/null ||
	lfail "person add with the operator's card session failed"
kagid_curl_unix /v1/audit/export >"$LOGIN_TMP/audit.jsonl" || lfail "audit export"
jq -e -s 'map(select(.action == "person.add" and .object == "3001" and
	(.actor | test("card:opr@term-01")))) | length == 1' "$LOGIN_TMP/audit.jsonl" >/dev/null ||
	lfail "person.add not recorded as opr's card session: $(grep -F '"person.add"' "$LOGIN_TMP/audit.jsonl" | tail -1)"

# a forged session id is refused
saved=$(cat "$KAGI_OPERATOR_SESSION_FILE")
printf '%s\n' "0123456789abcdef0123456789abcdef" >"$KAGI_OPERATOR_SESSION_FILE"
out=$(ck person add 3002 --name "Counter Two" --employment regular 2>&1) &&
	lfail "a forged operator session was accepted: $out"
printf '%s\n' "$saved" >"$KAGI_OPERATOR_SESSION_FILE"

# logout closes the session at kagid; the same id is refused afterwards
ck logout >/dev/null || lfail "kagi logout"
[ ! -e "$KAGI_OPERATOR_SESSION_FILE" ] || lfail "session file left after logout"
printf '%s\n' "$saved" >"$KAGI_OPERATOR_SESSION_FILE"
out=$(ck person add 3003 --name "Counter Three" --employment regular 2>&1) &&
	lfail "a closed operator session was accepted: $out"
rm -f "$KAGI_OPERATOR_SESSION_FILE"
out=$(ck logout 2>&1) && lfail "logout without a session succeeded"
grep -q 'no operator is logged in' <<<"$out" || lfail "logout message: $out"
echo "operator_card_session: ok"
