#!/bin/bash
# Card + PIN login in the My Number zone (R-MFA-1, R-LOGIN-1..4): a SoftHSM2
# token with a key made on it and a staff-logon certificate from our CA;
# pamtester through pam_wrapper succeeds; the session shows the banner and
# the last-login lines; a second login on the same card does not re-read it
# (cardd's cache); a wrong PIN is PAM_AUTH_ERR with "Wrong PIN", never
# success, and the card still works afterwards.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user alice 2001
card_make card-alice alice
cardd_up

# card_pin_success with pamtester (an independent PAM application)
out=$(echo "$CARD_PIN" | LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" pamtester -v kagi alice authenticate 2>&1) ||
	lfail "pamtester card+PIN: $out"
grep -q 'successfully authenticated' <<<"$out" || lfail "pamtester: $out"

# the driver: banner, PIN prompt, session with the last-login lines
out=$(pam_run -a "$CARD_PIN" -s auth,acct,open,close kagi alice) || lfail "card login: $out"
grep -q 'My Number zone' <<<"$out" || lfail "no banner: $out"
grep -qx 'prompt: Card PIN: ' <<<"$out" || lfail "no PIN prompt: $out"
grep -q '^info: Last login: .* on term-01' <<<"$out" || lfail "no last-login line: $out"
grep -qx 'close=PAM_SUCCESS' <<<"$out" || lfail "session close: $out"
[ "$(grep -c 'event=card_read' "$C/cardd.log")" = 1 ] || lfail "the card was read more than once"

# wrong_pin: refused as a wrong PIN
out=$(pam_run -a 000000 -s auth kagi alice) && lfail "wrong PIN accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "wrong PIN code: $out"
grep -q '^error: Wrong PIN' <<<"$out" || lfail "no wrong-PIN message: $out"
grep -q 'event=card_pin_wrong' "$C/cardd.log" || lfail "wrong PIN not logged"
grep -q "$CARD_PIN\|000000" "$C/cardd.log" && lfail "a PIN reached cardd's log"
# and the right PIN still works
out=$(pam_run -a "$CARD_PIN" -s auth kagi alice) || lfail "after a wrong PIN: $out"

# password_alone_in_mynumber: the zone refuses a password without a card
rm -rf "$C/card/tokens"/*
cardd_stop
cardd_up
out=$(pam_run -a "$TEMP" -a x -s auth kagi alice) && lfail "password alone accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "password alone: $out"
echo "login_card_pin: ok"
