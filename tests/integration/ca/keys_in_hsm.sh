#!/bin/bash
# The CA keys live in the SoftHSM2 token as sensitive, never-extractable
# private keys (pkcs11-tool reads the attributes, R-KEY-2), and kagid
# refuses to start with a clear message for a wrong PIN, a PIN file with
# mode 0644 and a missing token.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
kagid_stop
export SOFTHSM2_CONF=$D/hsm/softhsm2.conf
M=/usr/lib/softhsm/libsofthsm2.so
pkcs11-tool --module "$M" --token-label kagi --login --pin "$(cat "$D/hsm/pin")" \
	--list-objects --type privkey >"$W/objs.txt" 2>&1 || fail "pkcs11-tool failed: $(cat "$W/objs.txt")"
for l in kagi-root-ca kagi-issuing-ca kagi-ocsp; do
	acc=$(awk -v l="$l" '/^Private Key Object/{o=0} $1=="label:" && $2==l {o=1} o && $1=="Access:" {print; exit}' "$W/objs.txt")
	[ -n "$acc" ] || fail "no private key $l in the token: $(cat "$W/objs.txt")"
	echo "$acc" | grep -q 'always sensitive' || fail "$l is not sensitive: $acc"
	echo "$acc" | grep -q 'never extractable' || fail "$l is extractable: $acc"
done
# GnuTLS p11tool agrees: no private key can be exported
[ "$(pkcs11-tool --module "$M" --token-label kagi --login --pin "$(cat "$D/hsm/pin")" --list-objects --type privkey 2>/dev/null | grep -c '^Private Key Object')" = 3 ] ||
	fail "want exactly three private keys in the token"
if pkcs11-tool --module "$M" --token-label kagi --login --pin "$(cat "$D/hsm/pin")" \
	--read-object --type privkey --label kagi-issuing-ca -o "$W/stolen" >/dev/null 2>&1 && [ -s "$W/stolen" ]; then
	fail "the issuing CA private key could be read out of the token"
fi

start_refused() { # start_refused NAME MESSAGE-PART
	local rc=0
	timeout 20 "$KAGI_BIN/kagid" --foreground --config "$D/kagi.conf" >"$W/$1.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: kagid started"
	[ "$rc" -ne 124 ] || fail "$1: kagid kept running"
	grep -qF -- "$2" "$W/$1.out" || fail "$1: message lacks '$2': $(grep kagid: "$W/$1.out" | tail -3)"
	echo "ok $1"
}

cp -p "$D/hsm/pin" "$W/pin.good"
# wrong_pin
printf 'WRONGPIN0000\n' >"$D/hsm/pin"
start_refused wrong_pin "refused the PIN"
cp -p "$W/pin.good" "$D/hsm/pin"
# pin_file_mode_0644
chmod 0644 "$D/hsm/pin"
start_refused pin_file_mode_0644 "unsafe mode or owner: the HSM PIN file"
chmod 0600 "$D/hsm/pin"
# missing_pin_file
mv "$D/hsm/pin" "$W/pin.moved"
start_refused missing_pin_file "HSM PIN file not found"
mv "$W/pin.moved" "$D/hsm/pin"
# missing_token
sed -i 's/^token_label = kagi$/token_label = no-such-token/' "$D/kagi.conf"
start_refused missing_token 'no HSM token labelled "no-such-token"'
sed -i 's/^token_label = no-such-token$/token_label = kagi/' "$D/kagi.conf"
# ca_cert_missing
mv "$CA/issuing.crt" "$W/issuing.moved"
start_refused ca_cert_missing "no CA certificate here"
mv "$W/issuing.moved" "$CA/issuing.crt"
# and with everything back in place it starts again
kagid_start "$D"
kagi ca show >/dev/null || fail "kagid with the CA restored does not answer"
kagid_stop
echo "PASS keys_in_hsm"
