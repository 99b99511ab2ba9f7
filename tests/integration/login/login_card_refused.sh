#!/bin/bash
# Card logins kagid must refuse, each with a PAM failure code and an audit
# record: revoked card certificate, card on hold, a certificate from another
# CA, the certificate of another account; a held card released works again.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user alice 2001
login_user bob 2002
card_make card-alice alice
cardd_up

out=$(pam_run -a "$CARD_PIN" kagi alice) || lfail "card login before revocation: $out"

# card_on_hold (a lost card)
kk ca revoke "$CARD_SERIAL" --reason certificateHold
out=$(pam_run -a "$CARD_PIN" kagi alice) && lfail "held card accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "held card: $out"
grep -q 'revoked or on hold' <<<"$out" || lfail "held card message: $out"
# found again: released
kk ca unhold "$CARD_SERIAL"
out=$(pam_run -a "$CARD_PIN" kagi alice) || lfail "released card refused: $out"

# another_account_cert: alice's card used to log in as bob
out=$(pam_run -a "$CARD_PIN" kagi bob) && lfail "alice's card logged in bob: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "another account: $out"

# revoked_card
kk ca revoke "$CARD_SERIAL" --reason keyCompromise
out=$(pam_run -a "$CARD_PIN" kagi alice) && lfail "revoked card accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "revoked card: $out"

# other_ca_cert: a card whose certificate another CA issued for the same key
cardd_stop
rm -rf "$C/card/tokens"/*
"$KAGI_BIN/cardtoken" init card-x "$CARD_PIN"
"$KAGI_BIN/cardtoken" csr card-x "$CARD_PIN" "$C/x.csr"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=Other-CA \
	-keyout "$C/other.key" -out "$C/other.crt" -days 2 \
	-addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$C/ext"
openssl x509 -req -in "$C/x.csr" -CA "$C/other.crt" -CAkey "$C/other.key" \
	-CAcreateserial -days 1 -extfile "$C/ext" -out "$C/x.crt" >/dev/null 2>&1
"$KAGI_BIN/cardtoken" write card-x "$CARD_PIN" "$C/x.crt" "$C/other.crt"
cardd_up
out=$(pam_run -a "$CARD_PIN" kagi alice) && lfail "another CA's certificate accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "other CA: $out"
echo "login_card_refused: ok"
