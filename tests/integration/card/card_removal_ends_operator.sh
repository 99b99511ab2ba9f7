#!/bin/bash
# R-CARD-2 at the counter (issue 6): an operator who logged in with `kagi
# login` (virtual CAC through OpenSC) and pulls the card out is no longer an
# operator on that PC: kagi-cardd ends the session at kagid (audited
# login.card_removed, closed), and the next kagi command is refused.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
kagid_curl_unix /v1/auth/password/change -H 'Content-Type: application/json' \
	-d "$(jq -nc --arg o "$TEMP" '{login:"alice", old:$o, new:"Counter#Maple58"}')" |
	jq -e 'has("error") | not' >/dev/null || lfail "password change"
kk operator grant alice --role operator
vcard_insert
cardd_opensc_up

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

out=$(ck login --user alice --pin-fd 3 3<<<"$VCARD_PIN" 2>&1) || lfail "kagi login: $out"
ck person add 3001 --name "Counter One" --employment regular >/dev/null ||
	lfail "person add in the operator's card session failed"

# the card leaves the reader: the session ends within 2 s
vcard_remove
ended=
for _ in $(seq 20); do
	if kagid_curl_unix /v1/audit/export | jq -e -s \
		'map(select(.action == "login.card_removed" and .object == "alice" and
			.detail.closed == true)) | length == 1' >/dev/null; then
		ended=1
		break
	fi
	sleep 0.1
done
[ -n "$ended" ] || lfail "no closed login.card_removed within 2 s: $(grep -h card_removed "$C/cardd.log" | tail -3)"
out=$(ck person add 3002 --name "Counter Two" --employment regular 2>&1) &&
	lfail "still an operator after the card was pulled out: $out"
echo "card_removal_ends_operator: ok"
