# Helpers for the card tests (source after set -euo pipefail).  A real kagid
# on loopback with its SoftHSM2 token and LMDB store in a private directory;
# openssl (ocsp, verify -crl_check) as the independent verifier.
#   cards_setup           deployment in $D (hash_cost 1), kagid running,
#                         KAGI_CONFIG set, scratch dir $W, $CA = $D/ca
#   k ARGS...             run kagi; output in $KOUT; returns kagi's status
#   expect_rc N ARGS...   run kagi and fail unless it exits with N
#   api METHOD PATH [JSON]  curl over the socket: body $API_OUT, status $API_STATUS
#   mk_person NO NAME EMPLOYMENT LOGIN   person + personal account
#   enrol SERIAL STAFF LOGIN [REPLACES]  CSR made with openssl, POST
#                         /v1/cards/enrol; certificate in $W/SERIAL.crt
#   ocsp_status CERT      good / revoked (reason in $W/ocsp.out)
#   crl_verify CERT       openssl verify -crl_check with the served CRL
#   audit_count           records in kagi audit export
. "${KAGI_SRC:?}/tests/lib/kagid.sh"

cards_setup() {
	kagid_tmpdir
	D=$KAGID_TMP/d
	W=$KAGID_TMP/w
	mkdir -p "$W"
	kagid_write_conf "$D"
	kagid_init "$D"
	sed -i -e 's/^hash_cost = [0-9]*$/hash_cost = 1/' "$D/policy.ini"
	if [ -n "${CARDS_POLICY_SED:-}" ]; then
		sed -i -e "$CARDS_POLICY_SED" "$D/policy.ini"
	fi
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
	CA=$D/ca
	cat "$CA/root.crt" "$CA/issuing.crt" >"$W/chain.pem"
	KN=0
}

k() {
	KN=$((KN + 1))
	KOUT=$W/cli.$KN
	local rc=0
	"$KAGI_BIN/kagi" "$@" >"$KOUT" 2>&1 || rc=$?
	return $rc
}

expect_rc() {
	local want=$1 rc=0
	shift
	k "$@" || rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$KOUT" >&2
		fail "kagi $*: exit $rc, expected $want"
	fi
}

api() {
	local method=$1 path=$2 body=${3:-}
	KN=$((KN + 1))
	API_OUT=$W/api.$KN
	if [ -n "$body" ]; then
		API_STATUS=$(curl -sS --max-time 20 -o "$API_OUT" -w '%{http_code}' \
			--unix-socket "$D/run/kagid.sock" -X "$method" \
			-H 'Content-Type: application/json' --data-binary "$body" \
			"http://kagid$path")
	else
		API_STATUS=$(curl -sS --max-time 20 -o "$API_OUT" -w '%{http_code}' \
			--unix-socket "$D/run/kagid.sock" -X "$method" "http://kagid$path")
	fi
}

mk_person() {
	expect_rc 0 person add "$1" --name "$2" --employment "$3" --section 市民課
	expect_rc 0 user add "$4" --kind personal --person "$1"
}

enrol_body() { # SERIAL STAFF LOGIN [REPLACES] -> JSON on stdout
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/$1.key" -subj "/CN=made on the card" -out "$W/$1.csr" 2>/dev/null ||
		fail "openssl req failed"
	jq -nc --arg s "$1" --arg p "$2" --arg l "$3" --rawfile csr "$W/$1.csr" \
		--arg r "${4:-}" '{staff_number:$p, login:$l, csr:$csr,
		card:{serial:$s, atr:"3BF81300008131FE45", label:("kagi " + $s),
		manufacturer:"Test", model:"PIV"}} + (if $r == "" then {} else {replaces:$r} end)'
}

enrol() {
	api POST /v1/cards/enrol "$(enrol_body "$@")"
	[ "$API_STATUS" = 201 ] || fail "enrol $1 for $2: HTTP $API_STATUS $(cat "$API_OUT")"
	jq -er .certificate <"$API_OUT" >"$W/$1.crt" || fail "enrol $1: no certificate"
}

card_state() {
	api GET "/v1/cards/$1"
	[ "$API_STATUS" = 200 ] || fail "GET /v1/cards/$1: HTTP $API_STATUS $(cat "$API_OUT")"
	jq -er .state <"$API_OUT"
}

ocsp_status() {
	openssl ocsp -issuer "$CA/issuing.crt" -cert "$1" \
		-url "http://127.0.0.1:$KAGID_HTTP_PORT/ocsp" -CAfile "$W/chain.pem" \
		-VAfile "$CA/ocsp.crt" >"$W/ocsp.out" 2>&1 ||
		fail "openssl ocsp failed: $(cat "$W/ocsp.out")"
	sed -n "s|^$1: ||p" "$W/ocsp.out"
}

crl_verify() {
	curl -sf "http://127.0.0.1:$KAGID_HTTP_PORT/crl/issuing.crl" -o "$W/issuing.crl" ||
		fail "GET /crl/issuing.crl failed"
	openssl crl -inform DER -in "$W/issuing.crl" -out "$W/issuing.crl.pem" ||
		fail "the CRL is not DER"
	openssl verify -crl_check -CAfile "$W/chain.pem" -CRLfile "$W/issuing.crl.pem" \
		"$1" >"$W/verify.out" 2>&1
}

audit_count() {
	"$KAGI_BIN/kagi" audit export --format jsonl >"$W/audit.jsonl" ||
		fail "audit export failed"
	wc -l <"$W/audit.jsonl"
}

audit_has() { # ACTION OUTCOME OBJECT
	"$KAGI_BIN/kagi" audit export --format jsonl >"$W/audit.jsonl" ||
		fail "audit export failed"
	jq -e --arg a "$1" --arg o "$2" --arg j "$3" -s \
		'map(select(.action == $a and .outcome == $o and .object == $j)) | length > 0' \
		"$W/audit.jsonl" >/dev/null ||
		fail "no audit record action=$1 outcome=$2 object=$3"
}
