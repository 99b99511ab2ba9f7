#!/bin/bash
# enrol_pin_unblock (issue 6, R-PRIV-8): `kagi card pin-unblock` at the
# counter with the card's security officer PIN (PUK): a wrong PUK is refused
# and the PIN stays; the right PUK sets the new PIN (C_InitPIN), which then
# logs in while the old PIN does not; kagid audits card.pin_unblock.  Dual
# control is off here (one operator); its approvals are tested with the card
# API.  Then card_replace: a new card (with a transport PIN that the holder's
# PIN replaces, C_SetPIN) for the same holder, the old card "replaced", the
# new card logs in with the holder's PIN and not the transport PIN.
set -euo pipefail
LOGIN_POLICY_SED='s/^pin_unblock_dual_control = on$/pin_unblock_dual_control = off/'
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
. "$KAGI_SRC/tests/integration/enrol/lib.sh"
login_user erin 5001
enrol_card_blank card-erin
cardd_up
enrol_pins "$OUT/pins" "$CARD_PIN" "$CARD_PIN"
ek --json enrol 5001 --yes --pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$OUT/pins"
serial=$(jq -er .card.serial <"$KOUT") || lfail "no serial"
NEW_PIN=975310

# wrong_puk: refused, the PIN is unchanged
enrol_pins "$OUT/bad" "so-000000" "$NEW_PIN" "$NEW_PIN"
ek_fail card pin-unblock "$serial" --pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$OUT/bad"
grep -q 'refused the PUK' "$KOUT" || lfail "no wrong-PUK message: $(cat "$KOUT")"
out=$(pam_run -a "$CARD_PIN" -s auth kagi erin) || lfail "the PIN changed after a wrong PUK: $out"

# pin_unblock: the right PUK sets the new PIN
enrol_pins "$OUT/good" "so-$CARD_PIN" "$NEW_PIN" "$NEW_PIN"
ek card pin-unblock "$serial" --pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$OUT/good"
grep -q "$serial" "$KOUT" || lfail "no confirmation: $(cat "$KOUT")"
out=$(pam_run -a "$NEW_PIN" -s auth kagi erin) || lfail "login with the new PIN: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth with the new PIN: $out"
out=$(pam_run -a "$CARD_PIN" -s auth kagi erin) && lfail "the old PIN still works: $out"
audit_has card.pin_unblock
grep -q "$NEW_PIN\|so-$CARD_PIN" "$C/cardd.log" && lfail "a PIN reached cardd's log"

# card_replace: the old card out of the reader, a new blank one in
cardd_stop
mkdir -p "$C/card/away"
mv "$C/card/tokens"/* "$C/card/away/"
# the new card comes with an issuing (transport) PIN, replaced by the
# holder's at the counter (C_SetPIN)
"$KAGI_BIN/cardtoken" init card-erin2 111111 >/dev/null || lfail "cardtoken init card-erin2"
cardd_up
enrol_pins "$OUT/pins2" 111111 "$CARD_PIN" "$CARD_PIN"
ek --json card replace "$serial" --yes --transport-pin --pin-fd 3 --card-wait 5 \
	--cardd-socket "$C/cardd.sock" 3<"$OUT/pins2"
new=$(jq -er .card.serial <"$KOUT") || lfail "no new serial: $(cat "$KOUT")"
[ "$new" != "$serial" ] || lfail "replace enrolled the old card"
[ "$(card_state "$new")" = active ] || lfail "new card not active: $(card_json "$new")"
card_json "$new" | jq -e --arg o "$serial" '.replaces == $o' >/dev/null ||
	lfail "the new card does not name the old one: $(card_json "$new")"
[ "$(card_state "$serial")" = replaced ] || lfail "old card not replaced: $(card_json "$serial")"
oldcert=$(card_json "$serial" | jq -er '.certs[-1]') || lfail "old card has no certificate"
ek --json ca list --profile staff-logon
jq -e --arg s "$oldcert" '.certs[] | select((.serial | ascii_upcase) == ($s | ascii_upcase)) | .state == "revoked"' \
	<"$KOUT" >/dev/null || lfail "the old card's certificate $oldcert is not revoked: $(cat "$KOUT")"
out=$(pam_run -a "$CARD_PIN" -s auth kagi erin) || lfail "login with the new card: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth with the new card: $out"
out=$(pam_run -a 111111 -s auth kagi erin) && lfail "the transport PIN still works: $out"
grep -q 'event=counter_pin_set' "$C/cardd.log" || lfail "no PIN change logged"
echo "enrol_pin_unblock: ok"
