#!/bin/bash
# card_wrong_pin (R-LOGIN-2, issue 6): on the real PC/SC stack a wrong PIN
# for the virtual CAC (OpenSC answers CKR_GENERAL_ERROR for it, with no
# retry counter) is PAM_AUTH_ERR with the wrong-PIN message, never success;
# the PIN is not logged; the card still works with the right PIN afterwards.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
vcard_insert
cardd_opensc_up

out=$(pam_run -a 000000 -s auth kagi alice) && lfail "wrong PIN accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "wrong PIN code: $out"
grep -q '^error: Wrong PIN' <<<"$out" || lfail "no wrong-PIN message: $out"
grep -q 'event=card_pin_wrong' "$C/cardd.log" || lfail "wrong PIN not logged by cardd"
grep -q "000000\|$VCARD_PIN" "$C/cardd.log" && lfail "a PIN reached cardd's log"
kk audit export
grep -q '"action":"login.ok","object":"alice"' "$KOUT" && lfail "kagid recorded a successful login"
cp "$KOUT" "$LOGIN_TMP/audit.wrong"

# the right PIN still works
out=$(pam_run -a "$VCARD_PIN" -s auth kagi alice) || lfail "right PIN after a wrong one: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
echo "card_wrong_pin: ok"
