#!/bin/bash
# kill -9 kagid at random points of an issue/revoke loop, 10 rounds; after
# each restart the store (kagi ca list), the CRL and the OCSP answers agree
# and the audit chain verifies (R-LOG-1, R-SIGN-5).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
ca_setup
U() { echo "http://127.0.0.1:$KAGID_HTTP_PORT"; }
csr_ec "$W/k.csr"
ROUNDS=${KAGI_KILL9_ROUNDS:-10}

loop() { # issue, and revoke every other certificate, until killed
	local i=0 out s
	while :; do
		i=$((i + 1))
		out=$(kagi --json ca issue --profile server --csr "$W/k.csr" --dns "h$i.ward.example" 2>/dev/null) || continue
		s=$(echo "$out" | jq -r .serial)
		if [ $((i % 2)) = 0 ]; then
			kagi ca revoke "$s" --reason superseded >/dev/null 2>&1 || true
		elif [ $((i % 3)) = 0 ]; then
			kagi ca revoke "$s" --reason certificateHold >/dev/null 2>&1 || true
		fi
	done
}

check_agree() { # round
	kagi --json ca list --profile server >"$W/list.json" || fail "round $1: kagi ca list failed"
	kagi audit verify >/dev/null || fail "round $1: audit chain broken"
	curl -sf "$(U)/crl/issuing.crl" -o "$W/i.crl" || fail "round $1: no CRL"
	openssl crl -inform DER -in "$W/i.crl" -CAfile "$W/chain.pem" -noout 2>&1 | grep -q 'verify OK' ||
		fail "round $1: CRL does not verify"
	openssl crl -inform DER -in "$W/i.crl" -noout -text | awk '/Serial Number:/{print $3}' | sort >"$W/crl.set"
	jq -r '.certs[] | select(.state != "active") | .serial' "$W/list.json" | sort >"$W/store.set"
	cmp -s "$W/crl.set" "$W/store.set" ||
		fail "round $1: CRL and store disagree: $(diff "$W/store.set" "$W/crl.set" | head -5)"
	# OCSP for every certificate (16 CertIDs per request at most)
	jq -r '.certs[] | "\(.serial) \(.state)"' "$W/list.json" >"$W/all.txt"
	while read -r s st; do
		openssl ocsp -issuer "$CA/issuing.crt" -serial "0x$s" -no_nonce -url "$(U)/ocsp" \
			-VAfile "$CA/ocsp.crt" >"$W/o.out" 2>&1 || fail "round $1: ocsp failed for $s"
		got=$(sed -n 's/^0x[0-9A-Fa-f]*: //p' "$W/o.out" | head -1)
		want=good; [ "$st" = active ] || want=revoked
		[ "$got" = "$want" ] || fail "round $1: OCSP says $got for $s ($st in the store)"
	done <"$W/all.txt"
}

total=0
for round in $(seq "$ROUNDS"); do
	loop &
	LOOP=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$KAGID_PID"
	wait "$KAGID_PID" 2>/dev/null || true
	KAGID_PID=
	kill "$LOOP" 2>/dev/null || true
	wait "$LOOP" 2>/dev/null || true
	kagid_start "$D"
	check_agree "$round"
	n=$(jq '.certs | length' "$W/list.json")
	echo "round $round: $n certificates, $(wc -l <"$W/store.set") revoked or on hold; store, CRL and OCSP agree"
	total=$n
done
[ "$total" -ge 5 ] || fail "the loop issued only $total certificates"
kagid_stop
echo "PASS kill9_restart"
