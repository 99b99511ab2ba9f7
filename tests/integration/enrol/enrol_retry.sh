#!/bin/bash
# enrol_interrupted_retry (issue 6, R-CARD-1): an enrolment interrupted after
# the key pair was made on the card leaves nothing usable bound; running
# `kagi enrol` again succeeds, the card ends "active" with exactly one valid
# staff-logon certificate in kagid (the interrupted attempt's certificate, if
# it was issued, is revoked), one key and one certificate on the card, and
# the card logs in.  The retry also issues a temporary password
# (--temp-password: shown once, in the JSON answer, never in the receipt) and
# registers a security key (--fido: a fido2-cred -M registration from the
# software authenticator, checked by kagid against the AAGUID allowlist).
#
# The interruption is made deterministic: kagid is stopped (SIGSTOP) once
# kagi has passed the R-CARD-1 check, then kagi gets the PINs (through a
# FIFO), cardd makes the key pair on the card, kagi's POST /v1/cards/enrol
# waits for the stopped kagid, and kagi is killed there (-9); kagid is
# continued and may still bind the card "pending" with a certificate.
set -euo pipefail
LOGIN_POLICY_SED='s/^; aaguids = \(.*\)$/aaguids = \1/'
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
[ -x "$KAGI_BIN/softfido_tool" ] || lfail "softfido_tool not built"
. "$KAGI_SRC/tests/integration/enrol/lib.sh"
login_user carol 4001
enrol_card_blank card-carol
cardd_up

enrol_pins "$OUT/pins" "$CARD_PIN" "$CARD_PIN"
# The PINs come through a FIFO, written only once kagi is past kagid's
# R-CARD-1 check (kagi then waits for them); kagid is stopped before that.
mkfifo "$OUT/pinfifo"
exec 4<>"$OUT/pinfifo"
SOFTHSM2_CONF=$D/hsm/softhsm2.conf "$KAGI_BIN/kagi" --json enrol 4001 --yes --pin-fd 3 \
	--card-wait 5 --cardd-socket "$C/cardd.sock" 3<"$OUT/pinfifo" >"$OUT/first.out" 2>&1 &
kpid=$!
for _ in $(seq 400); do
	grep -q 'path=/v1/cards/check status=200' "$KAGID_DIR/kagid.log" && break
	sleep 0.02
done
grep -q 'path=/v1/cards/check status=200' "$KAGID_DIR/kagid.log" ||
	{ kill -9 "$kpid" 2>/dev/null || true; lfail "kagi did not reach the card check: $(cat "$OUT/first.out")"; }
kill -STOP "$KAGID_PID"
printf '%s\n%s\n' "$CARD_PIN" "$CARD_PIN" >&4
# the key pair is made on the card; kagi then waits for kagid
for _ in $(seq 400); do
	grep -q 'event=counter_keygen ' "$C/cardd.log" && break
	sleep 0.02
done
grep -q 'event=counter_keygen ' "$C/cardd.log" ||
	{ kill -CONT "$KAGID_PID"; kill -9 "$kpid" 2>/dev/null || true; lfail "no key generation within 8 s: $(cat "$OUT/first.out")"; }
sleep 0.3
kill -9 "$kpid" 2>/dev/null || { kill -CONT "$KAGID_PID"; lfail "kagi was not running any more: $(cat "$OUT/first.out")"; }
wait "$kpid" 2>/dev/null || true
kill -CONT "$KAGID_PID"
exec 4>&-
grep -q '"activate"' "$OUT/first.out" && lfail "the interrupted enrolment got to activation"
sleep 0.5

serial=$(pkcs11-tool --module "$SOFTHSM_MODULE" --list-token-slots 2>/dev/null |
	awk '/token label/ && /card-carol/ {f=1} f && /serial num/ {print $NF; exit}')
[ -n "$serial" ] || lfail "no serial for card-carol"
st=$(card_state "$serial")
[ "$st" != active ] || lfail "an interrupted enrolment left the card active"
echo "after the interruption: state='${st:-none}'"

# retry: succeeds, with a temporary password and a security key
"$KAGI_BIN/softfido_tool" "$C/softfido.state" new uv x5c || lfail "softfido new"
"$KAGI_BIN/softfido_tool" "$C/softfido.state" credm kagi.local carol >"$C/reg" || lfail "softfido credm"
ek --json enrol 4001 --yes --pin-fd 3 --card-wait 5 --cardd-socket "$C/cardd.sock" \
	--temp-password --fido "$C/reg" --receipt "$OUT/receipt.txt" 3<"$OUT/pins"
cp "$KOUT" "$OUT/retry.json"
temp=$(jq -er .temporary_password <"$OUT/retry.json") || lfail "no temporary password: $(cat "$OUT/retry.json")"
grep -qF "$temp" "$OUT/receipt.txt" && lfail "the temporary password is in the receipt"
grep -q 'temporary password' "$OUT/receipt.txt" || lfail "receipt does not say a temporary password was handed over"
kk --json user fido list carol
[ "$(jq '[.credentials[] | select(.state == "active")] | length' "$KOUT")" = 1 ] ||
	lfail "no security key registered: $(cat "$KOUT")"
[ "$(jq -r .card.serial <"$OUT/retry.json")" = "$serial" ] || lfail "retry enrolled another card"
[ "$(card_state "$serial")" = active ] || lfail "card not active after the retry: $(card_json "$serial")"

# one_valid_cert: kagid has exactly one valid staff-logon certificate for carol,
# and it is the one on the card
ek --json ca list --profile staff-logon
valid=$(jq -r '[.certs[] | select(.state == "active")] | length' <"$KOUT")
total=$(jq -r '[.certs[]] | length' <"$KOUT")
[ "$valid" = 1 ] || lfail "$valid valid staff-logon certificates after the retry: $(cat "$KOUT")"
echo "staff-logon certificates: $total issued, $valid valid"
card_cert_pem card-carol "$OUT/oncard.pem"
oncard=$(openssl x509 -in "$OUT/oncard.pem" -noout -serial | sed 's/^serial=//')
jq -e --arg s "$oncard" '[.certs[] | select(.state == "active") | .serial | ascii_upcase] | index($s | ascii_upcase) != null' <"$KOUT" >/dev/null ||
	lfail "the valid certificate is not the one on the card ($oncard): $(cat "$KOUT")"
if [ "$total" -gt 1 ]; then
	jq -e '[.certs[] | select(.state == "revoked")] | length >= 1' <"$KOUT" >/dev/null ||
		lfail "the interrupted attempt's certificate was not revoked: $(cat "$KOUT")"
fi

# one key, one certificate on the card (the interrupted attempt's are gone)
objs=$(card_objects card-carol "$CARD_PIN")
[ "$(grep -c 'Private Key Object' <<<"$objs")" = 1 ] || lfail "keys left on the card: $objs"
[ "$(grep -c 'Certificate Object' <<<"$objs")" = 1 ] || lfail "certificates left on the card: $objs"

out=$(pam_run -a "$CARD_PIN" -s auth kagi carol) || lfail "login after the retry: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
echo "enrol_retry: ok"
