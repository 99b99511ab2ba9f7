#!/bin/bash
# FIDO2 logins through libfido2 and the software authenticator behind its
# io hooks (insecure_fido_test_io_module): FIDO with built-in UV in the My
# Number zone succeeds; the same key not touched (no UP) is refused; a
# frozen signature counter (a cloned key) is refused; in a zone that needs
# two categories, FIDO without UV plus the password succeeds.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
LOGIN_POLICY_SED='s/^; aaguids = \(.*\)$/aaguids = \1/; s/^self_attestation = no$/self_attestation = yes/'
ZONE=${FIDO_ZONE:-mynumber}
login_setup "$ZONE"
[ -x "$KAGI_BIN/softfido_tool" ] || lfail "softfido_tool not built"
ST=$C/softfido.state
login_user alice 2001
"$KAGI_BIN/softfido_tool" "$ST" new uv || lfail "softfido new"
"$KAGI_BIN/softfido_tool" "$ST" enrol kagi.local alice >"$C/reg.json" || lfail "enrol"
code=$(curl -sS -o "$C/reg.out" -w '%{http_code}' --unix-socket "$D/run/kagid.sock" \
	-X POST -H 'Content-Type: application/json' --data-binary @"$C/reg.json" \
	http://kagid/v1/users/fido/alice)
[ "$code" = 201 ] || [ "$code" = 200 ] || lfail "FIDO registration: HTTP $code $(cat "$C/reg.out")"
CARDD_FIDO=on CARDD_FIDO_MODULE=$KAGI_BUILD/lib/softfido_module.so CARDD_FIDO_DEVICE=$ST \
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
cardd_up
grep -q 'event=insecure_option option=insecure_fido_test_io_module' "$C/cardd.log" ||
	lfail "the insecure test module was not logged at start"

# fido_uv_success
out=$(pam_run -s auth,acct,open kagi alice) || lfail "FIDO+UV login: $out"
grep -qx 'info: Touch your security key.' <<<"$out" || lfail "no touch prompt: $out"

# fido_without_up: the person did not touch the key
"$KAGI_BIN/softfido_tool" "$ST" up 0
out=$(pam_run -s auth kagi alice) && lfail "FIDO without UP accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "no UP: $out"
"$KAGI_BIN/softfido_tool" "$ST" up 1

# fido_without_uv: built-in UV fails where UV is required
"$KAGI_BIN/softfido_tool" "$ST" uv 0
out=$(pam_run -s auth kagi alice) && lfail "FIDO without UV accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "no UV: $out"
"$KAGI_BIN/softfido_tool" "$ST" uv 1

# fido_counter_frozen: a clone's counter does not increase
"$KAGI_BIN/softfido_tool" "$ST" counter frozen
out=$(pam_run -s auth kagi alice) || true
out=$(pam_run -s auth kagi alice) && lfail "frozen counter accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "frozen counter code: $out"
echo "login_fido: ok"
