#!/bin/bash
# R-JPKI-1: a My Number card logs in only with its user-authentication
# certificate, only after an operator bound that certificate to the person
# at the counter, and never with its signature certificate.  Fixture JPKI
# CAs and certificates are made here with openssl (no real card data).
# Also R-JPKI-3: nothing of the certificate's subject is stored.
set -euo pipefail
. "$KAGI_SRC/tests/integration/loginapi/lib.sh"

login_setup
J=$W/jpki
mkdir -p "$J"

mkca() { # NAME SUBJECT
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$J/$1.key" -out "$J/$1.crt" \
		-days 3650 -subj "$2" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl: CA $1"
}
mkleaf() { # NAME CA SUBJECT KEYUSAGE
	openssl req -new -newkey rsa:2048 -nodes -keyout "$J/$1.key" -out "$J/$1.csr" \
		-subj "$3" 2>/dev/null || fail "openssl: CSR $1"
	printf 'keyUsage=critical,%s\nbasicConstraints=CA:FALSE\n' "$4" >"$J/$1.ext"
	openssl x509 -req -in "$J/$1.csr" -CA "$J/$2.crt" -CAkey "$J/$2.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 365 -extfile "$J/$1.ext" \
		-out "$J/$1.crt" 2>/dev/null || fail "openssl: certificate $1"
}
mkca authca "/C=JP/O=JPKI/OU=JPKI for user authentication"
mkca signca "/C=JP/O=JPKI/OU=JPKI for digital signature"
mkleaf auth authca "/C=JP/CN=JPKIAUTHFIXTURE0001" digitalSignature
mkleaf sign signca "/C=JP/CN=Yamada Taro Signature Fixture" digitalSignature,nonRepudiation
# a certificate of the authentication CA asserting nonRepudiation
mkleaf authnr authca "/C=JP/CN=JPKIAUTHFIXTURE0002" digitalSignature,nonRepudiation

jpki_card() { # KEY CERT: the "card" member with the JPKI certificate
	printf '%s' "$TBS" | xxd -r -p >"$W/tbs.bin"
	openssl pkeyutl -sign -inkey "$1" -pkeyopt digest:sha256 -in "$W/tbs.bin" \
		-out "$W/sig.bin" || fail "openssl pkeyutl -sign"
	jq -nc --rawfile c "$2" --arg s "$(base64 -w0 "$W/sig.bin")" \
		'{certs:[$c], signature:$s}'
}

# before kagid knows the JPKI CA: refused as a certificate of another CA
begin t-mn yamada
finish t-mn yamada "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_err auth
audit_has login.refused auth card_cert_other_ca

# binding needs the JPKI CA configured
out=$(kagi card jpki-bind 1001 --login yamada --cert "$J/auth.crt" 2>&1) &&
	fail "jpki-bind without [kagid] jpki_auth_ca succeeded"
printf '%s' "$out" | grep -q 'jpki_auth_ca' || fail "no hint at jpki_auth_ca: $out"

kagid_stop
sed -i "/^\[kagid\]/a jpki_auth_ca = $J/authca.crt" "$D/kagi.conf"
kagid_start "$D"

# not bound yet: refused
begin t-mn yamada
finish t-mn yamada "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_err auth
audit_has login.refused auth jpki_not_bound

# the signature certificate is refused at the counter, and nothing changes
n0=$(api GET /v1/audit/export | wc -l)
out=$(kagi card jpki-bind 1001 --login yamada --cert "$J/sign.crt" 2>&1) &&
	fail "the signature certificate was bound"
printf '%s' "$out" | grep -q 'not from the JPKI user-authentication CA' ||
	fail "sign certificate refusal does not say why: $out"
out=$(kagi card jpki-bind 1001 --login yamada --cert "$J/authnr.crt" 2>&1) &&
	fail "a nonRepudiation certificate was bound"
printf '%s' "$out" | grep -q "signature certificate" ||
	fail "nonRepudiation refusal does not name the signature certificate: $out"
out=$(kagi card jpki-bind 1001 --login suzuki --cert "$J/auth.crt" 2>&1) &&
	fail "bound to another person's account"
printf '%s' "$out" | grep -q "does not belong to this person" ||
	fail "wrong account refusal unclear: $out"
[ "$(api GET /v1/audit/export | wc -l)" = "$n0" ] ||
	fail "a refused binding changed the audit log"
api GET /v1/cards | jq -e '.cards | length == 0' >/dev/null ||
	fail "a refused binding left a card record"

# bound by the operator: logins work
kagi --json card jpki-bind 1001 --login yamada --cert "$J/auth.crt" >"$W/bind.json" ||
	fail "jpki-bind failed"
SERIAL=$(jq -r .serial "$W/bind.json")
case $SERIAL in jpki:*) ;; *) fail "unexpected card serial $SERIAL" ;; esac
audit_has card.jpki_bind ok
begin t-mn yamada
finish t-mn yamada "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_ok
# the same card for another account: refused
begin t-mn suzuki
finish t-mn suzuki "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_err auth
audit_has login.refused auth card_cert_other_account
# a second binding of the same card: refused (R-CARD-1)
kagi card jpki-bind 1001 --login yamada --cert "$J/auth.crt" >/dev/null 2>&1 &&
	fail "the same My Number card was bound twice"

# lost: refused at once on every terminal; found: works again (R-CARD-4)
kagi card lost "$SERIAL" >/dev/null || fail "kagi card lost $SERIAL"
begin t-mn yamada
finish t-mn yamada "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_err revoked
audit_has login.refused revoked jpki_card_lost
kagi card found "$SERIAL" >/dev/null || fail "kagi card found $SERIAL"
begin t-mn yamada
finish t-mn yamada "{\"card\":$(jpki_card "$J/auth.key" "$J/auth.crt")}"
want_ok

# R-JPKI-3: the certificate's subject is stored nowhere
if api GET /v1/audit/export | grep -q 'JPKIAUTHFIXTURE0001'; then
	fail "the JPKI certificate's subject is in the audit log"
fi
if api GET /v1/cards | grep -q 'JPKIAUTHFIXTURE0001'; then
	fail "the JPKI certificate's subject is in the card record"
fi
echo "PASS: jpki_login"
