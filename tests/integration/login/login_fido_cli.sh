#!/bin/bash
# `kagi user fido add|list|remove` (docs/API.md "FIDO credentials"): the
# registration is what `fido2-cred -M` prints (fido2-cred(1) OUTPUT
# FORMAT), made here by softfido_tool on the software authenticator and
# cross-checked with the real `fido2-cred -V`.  Added through the CLI, the
# key logs alice in through pam_kagi (FIDO with UV in the My Number zone);
# listed with its key; removed by that key, after which the list is empty
# and the same FIDO login is refused.  Refused registrations:
# client_data_hash_mismatch, wrong_rp_id, short_file, junk_base64,
# duplicate; a second key is removed by its credential id.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
LOGIN_POLICY_SED='s/^; aaguids = \(.*\)$/aaguids = \1/'
login_setup mynumber
[ -x "$KAGI_BIN/softfido_tool" ] || lfail "softfido_tool not built"
ST=$C/softfido.state
login_user alice 2001
"$KAGI_BIN/softfido_tool" "$ST" new uv x5c || lfail "softfido new"
"$KAGI_BIN/softfido_tool" "$ST" credm kagi.local alice >"$C/reg" || lfail "softfido credm"
[ "$(wc -l <"$C/reg")" = 7 ] || lfail "registration is not 7 lines: $(cat "$C/reg")"
# an independent verifier accepts the same file
fido2-cred -V -i "$C/reg" -o "$C/reg.verified" || lfail "fido2-cred -V refuses the registration"
CDH=$(sed -n 1p "$C/reg")
CRED=$(sed -n 5p "$C/reg")
KEY=$(printf '%s' "$CRED" | base64 -d | openssl dgst -sha256 -r | cut -d' ' -f1)

kagi_rc() { # expected exit code, args...
	local want=$1 rc=0; shift
	KN=$((KN + 1)); KOUT=$OUT/cli.$KN
	"$KAGI_BIN/kagi" "$@" >"$KOUT" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || lfail "kagi $*: exit $rc, want $want: $(cat "$KOUT")"
}
none_registered() {
	kk --json user fido list alice
	[ "$(jq '.credentials | length' "$KOUT")" = 0 ] || lfail "$1: a credential was stored: $(cat "$KOUT")"
}

# client_data_hash_mismatch: the file is not for the hash the operator gave
kagi_rc 5 user fido add alice --registration "$C/reg" --client-data-hash "$(openssl rand -base64 32)"
grep -q 'another client data hash' "$KOUT" || lfail "mismatch message: $(cat "$KOUT")"
none_registered "client data hash mismatch"
# short_file: six lines needed at least
head -n 4 "$C/reg" >"$C/short"
kagi_rc 5 user fido add alice --registration "$C/short"
grep -q 'not the output of fido2-cred -M' "$KOUT" || lfail "short file message: $(cat "$KOUT")"
# junk_base64 in the authenticator data line
sed '4s/^..../!!!!/' "$C/reg" >"$C/junk"
kagi_rc 5 user fido add alice --registration "$C/junk"
grep -q 'line 4: not base64' "$KOUT" || lfail "junk message: $(cat "$KOUT")"
# wrong_rp_id: a credential for another relying party, refused by kagid
"$KAGI_BIN/softfido_tool" "$ST" credm evil.example alice >"$C/reg-evil" || lfail "credm evil"
kagi_rc 4 user fido add alice --registration "$C/reg-evil"
none_registered "wrong rp id"

# add (the client data hash given as fido2-cred got it), with --json
kk --json user fido add alice --registration "$C/reg" --client-data-hash "$CDH"
jq -e --arg c "$CRED" --arg k "$KEY" '.account == "alice" and .credential_id == $c and
	.key == $k and .aaguid == "6b6167692d736f66746669646f2d3031" and .state == "active"' \
	"$KOUT" >/dev/null || lfail "fido add answer: $(cat "$KOUT")"
# duplicate: the same credential again
kagi_rc 8 user fido add alice --registration "$C/reg"
# list, for people and as JSON
kk user fido list alice
grep -q "key $KEY" "$KOUT" || lfail "list lacks the key: $(cat "$KOUT")"
kk --json user fido list alice
jq -e --arg k "$KEY" '.credentials | length == 1 and .[0].key == $k' "$KOUT" >/dev/null ||
	lfail "list --json: $(cat "$KOUT")"
kk audit export --format jsonl
jq -e -s 'map(select(.action == "fido.add" and .outcome == "ok")) | length == 1' "$KOUT" >/dev/null ||
	lfail "fido.add not audited once"

# the key registered through the CLI logs alice in through PAM
CARDD_FIDO=on CARDD_FIDO_MODULE=$KAGI_BUILD/lib/softfido_module.so CARDD_FIDO_DEVICE=$ST \
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
cardd_up
out=$(pam_run -s auth,acct kagi alice) || lfail "FIDO login with the CLI-registered key: $out"
grep -qx 'info: Touch your security key.' <<<"$out" || lfail "no touch prompt: $out"

# remove by key: the list is empty and the same login is refused
kk user fido remove alice "$KEY"
grep -q "Removed the security key $KEY" "$KOUT" || lfail "remove message: $(cat "$KOUT")"
none_registered "after remove"
kk audit export --format jsonl
jq -e -s 'map(select(.action == "fido.remove" and .outcome == "ok")) | length == 1' "$KOUT" >/dev/null ||
	lfail "fido.remove not audited"
out=$(pam_run -s auth kagi alice) && lfail "FIDO login after removal accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "after removal: $out"
kagi_rc 3 user fido remove alice "$KEY"

# a second key, removed by its credential id (base64) with --json
"$KAGI_BIN/softfido_tool" "$ST" credm kagi.local alice >"$C/reg2" || lfail "credm 2"
kk user fido add alice --registration - <"$C/reg2"
kk --json user fido remove alice "$(sed -n 5p "$C/reg2")"
jq -e '.removed == true' "$KOUT" >/dev/null || lfail "remove --json: $(cat "$KOUT")"
none_registered "after removing the second key"
kagi_rc 2 user fido remove alice not-a-key
echo "login_fido_cli: ok"
