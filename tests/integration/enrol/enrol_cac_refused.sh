#!/bin/bash
# card_cannot_generate_keys (issue 6): enrolling onto the virtual CAC (read
# through OpenSC's opensc-pkcs11.so from a private pcscd) stops with "this
# card cannot generate keys" before anything is stored: no card record in
# kagid, no certificate issued, no PIN asked, nothing written on the card.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
. "$KAGI_SRC/tests/integration/enrol/lib.sh"
vcard_insert
cardd_opensc_up
kk person add 3001 --name "Staff 3001" --employment regular
kk user add bob --kind personal --person 3001
kk --json ca list --profile staff-logon
before=$(jq '.certs | length' <"$KOUT")

# no PIN is needed to be refused: an empty --pin-fd stream
: >"$OUT/nopins"
ek_fail enrol 3001 --yes --pin-fd 3 --card-wait 10 --cardd-socket "$C/cardd.sock" 3<"$OUT/nopins"
grep -q 'this card cannot generate keys' "$KOUT" || lfail "no clear message: $(cat "$KOUT")"
grep -q 'PIN' "$KOUT" && lfail "a PIN was asked for a card that cannot generate keys: $(cat "$KOUT")"
grep -q 'event=counter_card .*keygen=none' "$C/cardd.log" ||
	grep -q 'event=counter_card .*writable=0' "$C/cardd.log" || lfail "cardd did not report the card's capabilities"
grep -q 'event=counter_keygen ' "$C/cardd.log" && lfail "a key generation was attempted"
kk --json card list --holder 3001
[ "$(jq '.cards | length' <"$KOUT")" = 0 ] || lfail "a card record was stored: $(cat "$KOUT")"
kk --json ca list --profile staff-logon
[ "$(jq '.certs | length' <"$KOUT")" = "$before" ] || lfail "a certificate was issued: $(cat "$KOUT")"
grep -o "event=counter_card [^(]*" "$C/cardd.log" | head -1
echo "enrol_cac_refused: ok"
