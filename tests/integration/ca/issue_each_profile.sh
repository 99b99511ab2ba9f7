#!/bin/bash
# Every profile issued through kagid: the chain verifies with openssl and
# GnuTLS certtool, and each profile carries exactly the expected extensions
# (KU, EKU, SAN, policies, CDP, AIA) with subject and SANs from the store,
# never from the CSR (R-SIGN-3, R-TERM-1, R-INPUT-2).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
U="http://127.0.0.1:$KAGID_HTTP_PORT"
CDP="Full Name:; URI:$U/crl/issuing.crl"
AIA="OCSP - URI:$U/ocsp; CA Issuers - URI:$U/ca/issuing.crt"

mk_person S-0001 "山田 花子" "情報政策課"
mk_user hanako S-0001
kagi terminal add pc-0001 --zone lgwan --dns pc-0001.ward.example >/dev/null ||
	fail "kagi terminal add failed"
ZONE_OID=$(awk '/^\[zone.lgwan\]/{z=1;next} /^\[/{z=0} z && /^policy_oid/{print $3}' "$D/policy.ini")
[ -n "$ZONE_OID" ] || fail "no lgwan policy_oid in policy.ini"

# CSRs that ask for SANs and extensions the CA must ignore
cat >"$W/req.cnf" <<'CNF'
[req]
distinguished_name = dn
req_extensions = ext
[dn]
[ext]
subjectAltName = DNS:evil.example, email:evil@example
basicConstraints = critical, CA:TRUE
extendedKeyUsage = codeSigning
CNF
for p in staff terminal server ocsp; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$p.key" \
		-subj "/CN=Evil Admin/O=Evil" -config "$W/req.cnf" -out "$W/$p.csr" 2>/dev/null ||
		fail "openssl req failed"
done

kagi ca issue --profile staff-logon --csr "$W/staff.csr" --for hanako --out "$W/staff.crt" >/dev/null 2>"$W/warn" ||
	fail "staff-logon issuance failed: $(cat "$W/warn")"
kagi ca issue --profile terminal --csr "$W/terminal.csr" --for-device pc-0001 --out "$W/terminal.crt" >/dev/null 2>&1 ||
	fail "terminal issuance failed"
kagi ca issue --profile server --csr "$W/server.csr" --dns kagi.ward.example --dns www.ward.example \
	--ip 192.0.2.10 --ip 2001:db8::1 --out "$W/server.crt" >/dev/null 2>&1 || fail "server issuance failed"
kagi --json ca issue --profile ocsp --csr "$W/ocsp.csr" --out "$W/ocsp.crt" >"$W/ocsp.json" ||
	fail "ocsp issuance failed"
[ "$(jq -r .warning "$W/ocsp.json")" != null ] || fail "no warning that CSR extensions were ignored"

for p in staff terminal server ocsp; do
	verify_chain "$W/$p.crt"
	# the CSR's subject and extensions were never copied
	openssl x509 -in "$W/$p.crt" -noout -text | grep -Eq 'Evil|evil\.example|Code Signing|CA:TRUE' &&
		fail "$p: something from the CSR was copied into the certificate"
	[ "$(ext "$W/$p.crt" basicConstraints)" = "critical; CA:FALSE" ] || fail "$p: basicConstraints"
	[ "$(ext "$W/$p.crt" crlDistributionPoints)" = "$CDP" ] ||
		fail "$p: CDP is '$(ext "$W/$p.crt" crlDistributionPoints)', want '$CDP'"
	[ "$(ext "$W/$p.crt" authorityInfoAccess)" = "$AIA" ] ||
		fail "$p: AIA is '$(ext "$W/$p.crt" authorityInfoAccess)', want '$AIA'"
	[ "$(openssl x509 -in "$W/$p.crt" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ')" = \
	  "$(openssl x509 -in "$CA/issuing.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')" ] ||
		fail "$p: AKI is not the issuing CA's SKI"
done

# extension sets, exactly (OIDs: BC 2.5.29.19, KU .15, EKU .37, SKI .14,
# AKI .35, SAN .17, policies .32, CDP .31, AIA 1.3.6.1.5.5.7.1.1,
# ocsp-nocheck 1.3.6.1.5.5.7.48.1.5)
base="1.3.6.1.5.5.7.1.1 2.5.29.14 2.5.29.15 2.5.29.19 2.5.29.31 2.5.29.35 2.5.29.37"
want() { echo "$@" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
[ "$(ext_oids "$W/staff.crt")" = "$(want $base 2.5.29.17)" ] || fail "staff-logon extension set: $(ext_oids "$W/staff.crt")"
[ "$(ext_oids "$W/terminal.crt")" = "$(want $base 2.5.29.17 2.5.29.32)" ] || fail "terminal extension set: $(ext_oids "$W/terminal.crt")"
[ "$(ext_oids "$W/server.crt")" = "$(want $base 2.5.29.17)" ] || fail "server extension set: $(ext_oids "$W/server.crt")"
[ "$(ext_oids "$W/ocsp.crt")" = "$(want $base 1.3.6.1.5.5.7.48.1.5)" ] || fail "ocsp extension set: $(ext_oids "$W/ocsp.crt")"

# staff-logon
[ "$(ext "$W/staff.crt" keyUsage)" = "critical; Digital Signature" ] || fail "staff KU: $(ext "$W/staff.crt" keyUsage)"
[ "$(ext "$W/staff.crt" extendedKeyUsage)" = "TLS Web Client Authentication, Microsoft Smartcard Login" ] ||
	fail "staff EKU: $(ext "$W/staff.crt" extendedKeyUsage)"
python3 - "$W/staff.crt" <<'PY' || fail "staff-logon SAN/subject not as expected"
import sys
from cryptography import x509
from cryptography.x509.oid import NameOID
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
uris = san.get_values_for_type(x509.UniformResourceIdentifier)
others = san.get_values_for_type(x509.OtherName)
assert uris == ["urn:kagi:staff:S-0001"], uris
assert len(others) == 1 and others[0].type_id.dotted_string == "1.3.6.1.4.1.311.20.2.3", others
assert others[0].value == b"\x0c\x11S-0001@kagi.local", others[0].value
assert len(list(san)) == 2
s = c.subject
assert s.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "山田 花子"
assert s.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "情報政策課"
assert s.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "S-0001"
PY

# terminal
[ "$(ext "$W/terminal.crt" extendedKeyUsage)" = "TLS Web Client Authentication" ] || fail "terminal EKU"
[ "$(ext "$W/terminal.crt" subjectAltName)" = "URI:urn:kagi:device:pc-0001, DNS:pc-0001.ward.example" ] ||
	fail "terminal SAN: $(ext "$W/terminal.crt" subjectAltName)"
[ "$(ext "$W/terminal.crt" certificatePolicies)" = "Policy: $ZONE_OID" ] ||
	fail "terminal policies: $(ext "$W/terminal.crt" certificatePolicies), want zone OID $ZONE_OID"
openssl x509 -in "$W/terminal.crt" -noout -subject -nameopt RFC2253 | grep -q 'serialNumber=pc-0001' ||
	fail "terminal subject lacks serialNumber=pc-0001"
[ "$(kagi --json terminal show pc-0001 | jq -r .cert_serial)" = "$(serial_of "$W/terminal.crt")" ] ||
	fail "terminal record does not name its certificate"

# server
[ "$(ext "$W/server.crt" extendedKeyUsage)" = "TLS Web Server Authentication" ] || fail "server EKU"
[ "$(ext "$W/server.crt" keyUsage)" = "critical; Digital Signature" ] || fail "server KU (EC key)"
[ "$(ext "$W/server.crt" subjectAltName)" = \
  "DNS:kagi.ward.example, DNS:www.ward.example, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1" ] ||
	fail "server SAN: $(ext "$W/server.crt" subjectAltName)"

# ocsp
[ "$(ext "$W/ocsp.crt" extendedKeyUsage)" = "OCSP Signing" ] || fail "ocsp EKU"

# each certificate is recorded with holder, profile and state; the issuing
# audit record exists
kagi --json ca list --holder hanako | jq -e '.certs | length == 1 and .[0].profile == "staff-logon" and .[0].state == "active"' >/dev/null ||
	fail "staff certificate not recorded for holder hanako"
kagi --json ca list --profile server | jq -e --arg s "$(serial_of "$W/server.crt")" '.certs | map(.serial) | index($s) != null' >/dev/null ||
	fail "server certificate not in kagi ca list --profile server"
kagi audit export | grep -c '"action":"ca.issue"' | grep -qx 4 || fail "want 4 ca.issue audit records"

# RSA-2048 and P-384 keys are accepted; an RSA server key also gets keyEncipherment
csr_rsa "$W/rsa.csr" 2048
kagi ca issue --profile server --csr "$W/rsa.csr" --dns rsa.ward.example --out "$W/rsa.crt" >/dev/null 2>&1 ||
	fail "RSA-2048 server CSR refused"
verify_chain "$W/rsa.crt"
[ "$(ext "$W/rsa.crt" keyUsage)" = "critical; Digital Signature, Key Encipherment" ] || fail "RSA server KU"
csr_ec "$W/p384.csr" P-384
kagi ca issue --profile staff-logon --csr "$W/p384.csr" --for hanako --out "$W/p384.crt" >/dev/null 2>&1 ||
	fail "P-384 CSR refused"
verify_chain "$W/p384.crt"

# kagi ca show: both CA fingerprints as openssl computes them
kagi --json ca show >"$W/show.json"
for c in root issuing; do
	want=$(openssl x509 -in "$CA/$c.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
	[ "$(jq -r ".$c.sha256" "$W/show.json")" = "$want" ] || fail "ca show $c fingerprint"
done
# the CA certificates: root self-signed with a 20-year validity, issuing pathlen 0
[ "$(ext "$CA/issuing.crt" basicConstraints)" = "critical; CA:TRUE, pathlen:0" ] || fail "issuing CA pathlen"
kagid_stop
echo "PASS issue_each_profile"
