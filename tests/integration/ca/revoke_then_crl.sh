#!/bin/bash
# Revocation and CRLs: after `kagi ca revoke` a new CRL (number +1, AKI)
# accepted by `openssl crl -verify` lists the serial with its reason, and
# `openssl verify -crl_check_all` fails with "certificate revoked"; a hold
# (lost card, R-CARD-4) is listed at once and disappears after unhold; the
# file in crl_dir and the served CRL are the same bytes (R-SIGN-5).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
U="http://127.0.0.1:$KAGID_HTTP_PORT"

crl_get() { # crl_get NAME -> $W/NAME.crl (DER) and .pem, verified
	curl -sf "$U/crl/$1.crl" -o "$W/$1.crl" || fail "GET /crl/$1.crl failed"
	openssl crl -inform DER -in "$W/$1.crl" -out "$W/$1.crl.pem" || fail "$1 CRL is not DER"
	openssl crl -in "$W/$1.crl.pem" -CAfile "$W/chain.pem" -noout 2>&1 | grep -q 'verify OK' ||
		fail "openssl crl -verify rejected the $1 CRL"
}
crl_number() { openssl crl -in "$W/$1.crl.pem" -noout -crlnumber | sed 's/^crlNumber=0x//'; }
crl_has() { openssl crl -in "$W/issuing.crl.pem" -noout -text | grep -q "Serial Number: $1"; }
crl_reason() { # the reason text of serial $1's entry ("" if none)
	openssl crl -in "$W/issuing.crl.pem" -noout -text | awk -v s="$1" '
		/Serial Number:/ { on = ($3 == s); next }
		on && /CRL Reason Code/ { getline; sub(/^[ ]+/, ""); print; exit }'
}
chk() { # chk CERT -> exit status of openssl verify -crl_check_all, output in $W/chk.out
	cat "$W/chain.pem" "$W/issuing.crl.pem" "$W/root.crl.pem" >"$W/store.pem"
	openssl verify -crl_check_all -CAfile "$W/store.pem" "$1" >"$W/chk.out" 2>&1
}

for n in a b c; do
	csr_ec "$W/$n.csr"
	kagi ca issue --profile server --csr "$W/$n.csr" --dns "$n.ward.example" --out "$W/$n.crt" >/dev/null 2>&1 ||
		fail "issuance $n failed"
done
A=$(serial_of "$W/a.crt"); B=$(serial_of "$W/b.crt"); C=$(serial_of "$W/c.crt")
crl_get issuing; crl_get root
n0=$(crl_number issuing)
chk "$W/a.crt" || fail "a fresh certificate fails -crl_check_all: $(cat "$W/chk.out")"
openssl crl -in "$W/issuing.crl.pem" -noout -text | grep -q 'X509v3 Authority Key Identifier' || fail "CRL lacks AKI"
[ "$(openssl crl -in "$W/root.crl.pem" -noout -issuer)" = "$(openssl x509 -in "$CA/root.crt" -noout -subject | sed 's/^subject/issuer/')" ] ||
	fail "root CRL issuer is not the root"

kagi ca revoke "$A" --reason keyCompromise >"$W/rev.out" || fail "kagi ca revoke failed"
grep -q "$A" "$W/rev.out" || fail "revoke did not name the serial"
crl_get issuing
n1=$(crl_number issuing)
[ $((16#$n1)) -eq $((16#$n0 + 1)) ] || fail "CRL number $n1 is not $n0 + 1"
crl_has "$A" || fail "revoked serial $A not in the CRL"
[ "$(crl_reason "$A")" = "Key Compromise" ] ||
	fail "CRL entry lacks reason keyCompromise"
crl_has "$B" && fail "serial $B listed though active"
if chk "$W/a.crt"; then fail "openssl verify -crl_check_all accepted a revoked certificate"; fi
grep -q 'certificate revoked' "$W/chk.out" || fail "verify failure is not 'certificate revoked': $(cat "$W/chk.out")"
chk "$W/b.crt" || fail "an active certificate fails -crl_check_all"
# the file written to crl_dir is the CRL being served
cmp -s "$D/crl/issuing.crl" "$W/issuing.crl" || fail "crl/issuing.crl differs from the served CRL"
kagi ca crl --out "$W/cli.crl" >/dev/null || fail "kagi ca crl --out failed"
cmp -s "$W/cli.crl" "$W/issuing.crl" || fail "kagi ca crl --out differs from the served CRL"

# hold (a lost card): listed at once as certificateHold, then released
kagi ca revoke "$B" --reason certificateHold >/dev/null || fail "hold failed"
[ "$(kagi --json ca list --state hold | jq -r '.certs[0].serial')" = "$B" ] || fail "B not listed as on hold"
crl_get issuing
crl_has "$B" || fail "held serial not in the CRL"
[ "$(crl_reason "$B")" = "Certificate Hold" ] ||
	fail "hold entry lacks reason certificateHold"
if chk "$W/b.crt"; then fail "a held certificate passed -crl_check_all"; fi
grep -q 'certificate revoked' "$W/chk.out" || fail "held: not 'certificate revoked'"
kagi ca unhold "$B" >/dev/null || fail "unhold failed"
crl_get issuing
crl_has "$B" && fail "released hold still in the CRL"
crl_has "$A" || fail "revoked serial vanished after an unrelated unhold"
chk "$W/b.crt" || fail "released certificate still fails -crl_check_all"
# hold -> revoked is allowed (a card not found)
kagi ca revoke "$C" --reason certificateHold >/dev/null || fail "hold C failed"
kagi ca revoke "$C" --reason cessationOfOperation >/dev/null || fail "hold -> revoked refused"
[ "$(kagi --json ca list --holder '' --state revoked | jq '[.certs[] | select(.serial == "'"$C"'")] | .[0].reason' -r)" = cessationOfOperation ] ||
	fail "C not revoked with cessationOfOperation"
# every CRL is audited with its number
kagi audit export | grep '"action":"crl.publish"' | tail -1 | grep -q '"ok"' || fail "no crl.publish audit record"
kagid_stop
echo "PASS revoke_then_crl"
