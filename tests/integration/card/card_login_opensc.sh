#!/bin/bash
# card_login_opensc (R-LOGIN-1..4, R-MFA-1, issue 6): a full PAM login on the
# real PC/SC stack: the virtual CAC (libcacard, RSA-2048, staff-logon
# certificate from our CA) in a vpcd reader of a private pcscd, read by
# kagi-cardd through OpenSC's opensc-pkcs11.so; card + PIN + kagid give
# PAM_SUCCESS, the banner and the last-login lines; pamtester agrees; kagid
# audits the successful login.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
vcard_insert
cardd_opensc_up

# pamtester: an independent PAM application
out=$(echo "$VCARD_PIN" | LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" pamtester -v kagi alice authenticate 2>&1) ||
	lfail "pamtester card+PIN through OpenSC: $out"
grep -q 'successfully authenticated' <<<"$out" || lfail "pamtester: $out"

# the driver: banner, card found, PIN prompt, session with last-login lines
out=$(pam_run -a "$VCARD_PIN" -s auth,acct,open,close kagi alice) || lfail "card login: $out"
grep -q 'My Number zone' <<<"$out" || lfail "no banner: $out"
grep -qx 'prompt: Card PIN: ' <<<"$out" || lfail "no PIN prompt: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
grep -q '^info: Last login: .* on term-01' <<<"$out" || lfail "no last-login line: $out"
grep -qx 'close=PAM_SUCCESS' <<<"$out" || lfail "session close: $out"
grep -q 'event=card_read' "$C/cardd.log" || lfail "cardd did not read the card"
grep -q "$VCARD_PIN" "$C/cardd.log" && lfail "the PIN reached cardd's log"

# kagid recorded the card logins
serial=$(openssl x509 -in "$VCARD_CERT" -noout -serial | sed 's/^serial=//')
kk audit export
[ "$(grep -c "\"action\":\"login.ok\",\"object\":\"alice\".*\"card_serial\":\"$serial\"" "$KOUT")" -ge 2 ] ||
	lfail "kagid did not audit the card logins with the card's certificate serial"
echo "card_login_opensc: ok"
