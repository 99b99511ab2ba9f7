#!/bin/bash
# The real PC/SC test stack itself (issue 6, tests/lib/pcscd.sh): a private
# pcscd with a vpcd reader, the virtual CAC from libcacard holding a
# staff-logon certificate from our CA; OpenSC (opensc-pkcs11.so, through
# pkcs11-tool as an independent client) sees the card, its certificate and
# signs with the PIN; a wrong PIN is refused; removal empties the slot; an
# unsupported card shows no usable token.  The system pcscd is never used.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user alice 2001
V=$LOGIN_TMP/vcard
mkdir -p "$V"
vcard_make "$V" 135790 alice
pcscd_start "$V"
# not the system socket
[ "$PCSCLITE_CSOCK_NAME" != /run/pcscd/pcscd.comm ] || lfail "PCSCLITE_CSOCK_NAME is the system socket"
[ -S "$PCSCLITE_CSOCK_NAME" ] || lfail "no private pcscd socket at $PCSCLITE_CSOCK_NAME"

p11() { pkcs11-tool --module "$OPENSC_PKCS11" "$@"; }

# empty_reader: no card, no token
out=$(p11 -L 2>&1) || true
grep -q 'token label' <<<"$out" && lfail "a token before any card was inserted: $out"

# opensc_sees_cac: the card, its certificate (our CA, issued for alice)
vcard_insert
out=$(p11 -L 2>&1) || lfail "pkcs11-tool -L: $out"
grep -q 'token manufacturer : Common Access Card' <<<"$out" || lfail "OpenSC does not see the CAC: $out"
p11 --read-object --type cert --id 0001 -o "$V/read.der" >/dev/null 2>&1 ||
	lfail "cannot read the certificate from the card"
openssl x509 -inform DER -in "$V/read.der" -out "$V/read.pem"
cmp <(openssl x509 -in "$V/read.pem" -outform DER) <(openssl x509 -in "$VCARD_CERT" -outform DER) ||
	lfail "the card's certificate is not the one our CA issued"
openssl x509 -in "$V/read.pem" -noout -pubkey >"$V/pub.pem"

# card_signs_with_pin: RSA PKCS#1 v1.5 over SHA-256, verified by openssl
printf 'kagi card stack test' >"$V/msg"
p11 --login --pin 135790 --sign --id 0001 -m SHA256-RSA-PKCS -i "$V/msg" -o "$V/sig" \
	>/dev/null 2>&1 || lfail "the card did not sign with the right PIN"
openssl dgst -sha256 -verify "$V/pub.pem" -signature "$V/sig" "$V/msg" >/dev/null ||
	lfail "the card's signature does not verify"

# wrong_pin: refused, no signature
rm -f "$V/sig2"
if p11 --login --pin 999999 --sign --id 0001 -m SHA256-RSA-PKCS -i "$V/msg" -o "$V/sig2" \
	>"$V/wrong.out" 2>&1; then lfail "the card signed with a wrong PIN"; fi
[ -s "$V/sig2" ] && lfail "a signature came out with a wrong PIN"

# card_removed: the slot is empty again
vcard_remove
out=$(p11 -L 2>&1) || true
grep -q 'token label' <<<"$out" && lfail "a token after removal: $out"

# unsupported_card: present in the reader, no usable token
vcard_insert --unsupported
out=$(p11 -L 2>&1) || true
grep -q 'Common Access Card' <<<"$out" && lfail "the unsupported card looks like a CAC: $out"
if p11 --login --pin 135790 --sign --id 0001 -m SHA256-RSA-PKCS -i "$V/msg" -o "$V/sig3" \
	>/dev/null 2>&1; then lfail "an unsupported card signed"; fi
vcard_remove
echo "$out" >"$V/unsupported.out"
pcscd_stop
echo "card_stack: ok"
