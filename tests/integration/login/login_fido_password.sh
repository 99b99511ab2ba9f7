#!/bin/bash
# Password + FIDO: in the LGWAN zone made to need two categories, a key
# without user verification counts possession only, so cardd adds the
# password (knowledge); both together succeed; the password alone does not.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
LOGIN_POLICY_SED='s/^; aaguids = \(.*\)$/aaguids = \1/; s/^self_attestation = no$/self_attestation = yes/; /^\[zone.lgwan\]$/,/^\[/ s/^min_categories = 1$/min_categories = 2/; /^\[zone.lgwan\]$/,/^\[/ s/^fido_uv = preferred$/fido_uv = discouraged/'
login_setup lgwan
ST=$C/softfido.state
login_user dave 4001
# first the temporary password is replaced (password only zone rules aside)
"$KAGI_BIN/softfido_tool" "$ST" new || lfail "softfido new"
"$KAGI_BIN/softfido_tool" "$ST" enrol kagi.local dave >"$C/reg.json" || lfail "enrol"
code=$(curl -sS -o "$C/reg.out" -w '%{http_code}' --unix-socket "$D/run/kagid.sock" \
	-X POST -H 'Content-Type: application/json' --data-binary @"$C/reg.json" \
	http://kagid/v1/users/fido/dave)
[ "$code" = 201 ] || [ "$code" = 200 ] || lfail "FIDO registration: HTTP $code $(cat "$C/reg.out")"
CARDD_FIDO=on CARDD_FIDO_MODULE=$KAGI_BUILD/lib/softfido_module.so CARDD_FIDO_DEVICE=$ST \
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
cardd_up
out=$(pam_run -a "$TEMP" -s auth kagi dave) || lfail "password + FIDO: $out"
grep -qx 'prompt: Password: ' <<<"$out" || lfail "no password prompt: $out"
grep -qx 'info: Touch your security key.' <<<"$out" || lfail "no touch prompt: $out"
grep -q "$TEMP" "$C/cardd.log" && lfail "the password reached cardd's log"

# password_alone: without the key the zone's two categories are not met
cardd_stop
CARDD_FIDO=off cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
cardd_up
out=$(pam_run -a "$TEMP" -s auth kagi dave) && lfail "password alone accepted: $out"
grep -Eqx 'auth=PAM_(PERM_DENIED|AUTH_ERR)' <<<"$out" || lfail "password alone: $out"
echo "login_fido_password: ok"
