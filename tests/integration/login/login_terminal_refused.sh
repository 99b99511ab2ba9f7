#!/bin/bash
# The terminal itself: a revoked terminal certificate and a terminal that is
# not ours (a certificate from another CA) get no login, never success.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user alice 2001
card_make card-alice alice
cardd_up
out=$(pam_run -a "$CARD_PIN" kagi alice) || lfail "login on a good terminal: $out"
cardd_stop

# unregistered_terminal: a client certificate kagid's CA never issued
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rogue \
	-keyout "$C/rogue.key" -out "$C/rogue.crt" -days 1 >/dev/null 2>&1
chmod 0600 "$C/rogue.key"
cp "$C/terminal.crt" "$C/good.crt"; cp "$C/terminal.key" "$C/good.key"
cp "$C/rogue.crt" "$C/terminal.crt"; cp "$C/rogue.key" "$C/terminal.key"
cardd_up
out=$(pam_run -a "$CARD_PIN" kagi alice) && lfail "rogue terminal accepted: $out"
grep -Eqx 'auth=(PAM_AUTHINFO_UNAVAIL|PAM_PERM_DENIED)' <<<"$out" || lfail "rogue terminal: $out"
cardd_stop

# revoked_terminal_cert
cp "$C/good.crt" "$C/terminal.crt"; cp "$C/good.key" "$C/terminal.key"
serial=$(openssl x509 -in "$C/terminal.crt" -noout -serial | sed 's/^serial=//')
kk ca revoke "$serial" --reason keyCompromise
cardd_up
out=$(pam_run -a "$CARD_PIN" kagi alice) && lfail "revoked terminal accepted: $out"
grep -Eqx 'auth=(PAM_AUTHINFO_UNAVAIL|PAM_PERM_DENIED)' <<<"$out" || lfail "revoked terminal: $out"
echo "login_terminal_refused: ok"
