# Helpers for the enrolment tests (source after tests/integration/login/lib.sh
# and login_setup).  The card is a SoftHSM2 token in cardd's token directory,
# initialised (user PIN = the holder's PIN, SO PIN "so-" PIN) and empty.
#   enrol_card_blank LABEL       the blank card in the "reader"
#   enrol_pins FILE PIN...       one PIN per line (for --pin-fd 3)
#   ek ARGS...                   kagi: stdout in $KOUT, stderr in $KOUT.err (fails unless 0)
#   ek_fail ARGS...              kagi expected to fail (output in $KOUT)
#   card_objects LABEL PIN       pkcs11-tool --list-objects on the card
#   card_cert_pem LABEL OUT      the certificate on the card, PEM
#   card_state SERIAL            kagid's state of the card
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

enrol_card_blank() {
	"$KAGI_BIN/cardtoken" init "$1" "$CARD_PIN" >/dev/null || lfail "cardtoken init $1"
}

enrol_pins() {
	local f=$1; shift
	printf '%s\n' "$@" >"$f"
	chmod 0600 "$f"
}

ek() {
	KN=$((KN + 1))
	KOUT=$OUT/cli.$KN
	SOFTHSM2_CONF=$D/hsm/softhsm2.conf "$KAGI_BIN/kagi" "$@" >"$KOUT" 2>"$KOUT.err" ||
		{ cat "$KOUT" "$KOUT.err" >&2; lfail "kagi $* failed"; }
}

ek_fail() {
	KN=$((KN + 1))
	KOUT=$OUT/cli.$KN
	if SOFTHSM2_CONF=$D/hsm/softhsm2.conf "$KAGI_BIN/kagi" "$@" >"$KOUT" 2>&1; then
		cat "$KOUT" >&2
		lfail "kagi $* succeeded but must fail"
	fi
}

card_objects() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login \
		--pin "$2" --list-objects 2>/dev/null
}

card_cert_pem() {
	local label=$1 out=$2 id
	id=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$label" \
		--list-objects --type cert 2>/dev/null | awk '/ID:/ {print $2; exit}')
	[ -n "$id" ] || lfail "no certificate object on card $label"
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$label" \
		--read-object --type cert --id "$id" -o "$out.der" >/dev/null 2>&1 ||
		lfail "cannot read the certificate from card $label"
	openssl x509 -inform DER -in "$out.der" -out "$out" || lfail "certificate on $label is not DER X.509"
}

# kagid's view of a card, straight from the API over the local socket
card_json() {
	curl -s --unix-socket "$D/run/kagid.sock" "http://localhost/v1/cards/$1"
}
card_state() {
	card_json "$1" | jq -r '.state // .card.state // empty'
}
