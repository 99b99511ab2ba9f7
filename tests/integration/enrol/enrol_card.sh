#!/bin/bash
# enrol_card (issue 6, R-CARD-1, R-MFA-1): `kagi enrol` at the counter with a
# blank SoftHSM2 token as the card, through kagi-cardd's counter requests.
# Checks what a person at the counter would: the key pair was made ON the
# card (pkcs11-tool: private key sensitive, never extractable), the
# certificate on the card verifies against our CA (openssl verify), kagid
# holds the card "active" for the person, the receipt names the person and
# the card, and a PAM login with that card and the PIN the holder chose works.
# Then card_bound_to_other_person: the same card for someone else is refused
# (R-CARD-1) and nothing changes on the card; and counter_request_not_root:
# a local user who is not root is denied the counter requests unless in
# [cardd] counter_group (counter_group_member).
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
. "$KAGI_SRC/tests/integration/enrol/lib.sh"
login_user bob 3001
kk person add 3002 --name "Staff 3002" --employment regular
kk user add dave --kind personal --person 3002
enrol_card_blank card-bob
cardd_up

# the card is blank: no certificate, no key
card_objects card-bob "$CARD_PIN" | grep -q 'Private Key Object' && lfail "the blank card has a key"

enrol_pins "$OUT/pins" "$CARD_PIN" "$CARD_PIN"
ek --json enrol 3001 --yes --pin-fd 3 --card-wait 5 \
	--receipt "$OUT/receipt.txt" --cardd-socket "$C/cardd.sock" 3<"$OUT/pins"
cp "$KOUT" "$OUT/enrol.json"
serial=$(jq -er .card.serial <"$OUT/enrol.json") || lfail "no card serial in the answer"
[ "$(jq -r .key_type <"$OUT/enrol.json")" = p256 ] || lfail "SoftHSM2 makes P-256: $(cat "$OUT/enrol.json")"
for s in person card check keygen issue write activate; do
	jq -e --arg s "$s" '.steps[] | select(.step == $s) | .ms >= 0' <"$OUT/enrol.json" >/dev/null ||
		lfail "step $s not timed: $(cat "$OUT/enrol.json")"
done

# key_made_on_card: the private key is on the card, sensitive, never extractable
objs=$(card_objects card-bob "$CARD_PIN")
grep -q 'Private Key Object; EC' <<<"$objs" || lfail "no EC private key on the card: $objs"
access=$(awk '/Private Key Object/ {p=1} p && /Access:/ {print; exit}' <<<"$objs")
grep -q 'never extractable' <<<"$access" || lfail "private key extractable: $access"
grep -qw 'sensitive' <<<"$access" || lfail "private key not sensitive: $access"
grep -q 'Certificate Object' <<<"$objs" || lfail "no certificate on the card: $objs"

# cert_on_card_verifies: openssl against our CA chain (issuing + root)
jq -r '.chain[0]' <"$OUT/enrol.json" >"$OUT/issuing.pem"
jq -r '.chain[-1]' <"$OUT/enrol.json" >"$OUT/root.pem"
card_cert_pem card-bob "$OUT/oncard.pem"
openssl verify -CAfile "$OUT/root.pem" -untrusted "$OUT/issuing.pem" "$OUT/oncard.pem" >/dev/null ||
	lfail "the certificate on the card does not verify against our CA"
jq -r .certificate_pem <"$OUT/enrol.json" >"$OUT/issued.pem"
[ "$(openssl x509 -in "$OUT/issued.pem" -noout -fingerprint -sha256)" = \
	"$(openssl x509 -in "$OUT/oncard.pem" -noout -fingerprint -sha256)" ] ||
	lfail "the certificate on the card is not the one kagid issued"

# the card is active for 3001 / bob in kagid
[ "$(card_state "$serial")" = active ] || lfail "card not active: $(card_json "$serial")"
card_json "$serial" | jq -e '.holder == "3001" and .login == "bob"' >/dev/null ||
	lfail "card bound to the wrong person: $(card_json "$serial")"
audit_has card.enrol

# receipt: person, account and card; no PIN
grep -q 'Staff 3001' "$OUT/receipt.txt" || lfail "receipt without the name: $(cat "$OUT/receipt.txt")"
grep -q "$serial" "$OUT/receipt.txt" || lfail "receipt without the card serial"
grep -q "$CARD_PIN" "$OUT/receipt.txt" && lfail "the PIN is in the receipt"
grep -q "$CARD_PIN" "$C/cardd.log" && lfail "a PIN reached cardd's log"

# login_with_enrolled_card: card + the holder's PIN through PAM
out=$(pam_run -a "$CARD_PIN" -s auth kagi bob) || lfail "login with the enrolled card: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"

# card_bound_to_other_person (R-CARD-1): refused before anything changes
enrol_pins "$OUT/pins2" 135790 135790
ek_fail enrol 3002 --yes --pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$OUT/pins2"
grep -q 'belongs to another person' "$KOUT" || lfail "no R-CARD-1 message: $(cat "$KOUT")"
[ "$(card_objects card-bob "$CARD_PIN" | grep -c 'Private Key Object')" = 1 ] ||
	lfail "a refused enrolment touched the card"
card_json "$serial" | jq -e '.holder == "3001" and .state == "active"' >/dev/null ||
	lfail "the refused enrolment changed the card record: $(card_json "$serial")"
# counter_request_not_root: another local user may not send counter requests
if id nobody >/dev/null 2>&1 && [ -x /usr/bin/python3 ]; then
	res=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(bytes([0, 0, 0, 6, 1, 0x07, 0, 0, 0, 0]))  # CARD_INFO, wait 0
print(s.recv(64).hex())' "$C/cardd.sock") || lfail "could not ask cardd as nobody"
	# RESULT (0x82) with code -10 (denied)
	grep -q '0182fffffffffffffff6' <<<"$res" || lfail "a non-root CARD_INFO was not denied: $res"
	grep -q 'event=peer_denied .*op=counter' "$C/cardd.log" || lfail "denied counter request not logged"
	# counter_group: the counter operator's group may
	g=$(id -gn nobody)
	cardd_stop
	printf 'counter_group = %s\n' "$g" >>"$C/kagi.conf"
	cardd_up
	res=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(bytes([0, 0, 0, 6, 1, 0x07, 0, 0, 0, 0]))
d = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    d += b
print(d[:6].hex())' "$C/cardd.sock") || lfail "could not ask cardd as nobody (counter_group)"
	# a CARD message (0x83) first
	[ "${res:8:4}" = 0183 ] || lfail "counter_group member did not get the card: $res"
fi
echo "enrol_card: ok"
