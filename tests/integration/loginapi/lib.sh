# Helpers for the terminal login API tests (source after set -euo pipefail).
# A real kagid on loopback (SoftHSM2 CA, LMDB store); the terminal side is
# curl over mTLS with a terminal certificate from our CA, openssl signing
# the tbs hash with a software staff-logon key whose certificate came from
# `kagi ca issue`, and loginapi_fido_tool (libfido2 + tests/softfido).
#   login_setup            deployment in $D, kagid running, $W scratch;
#                          LOGIN_LIFETIME (default 120s) sets [login]
#                          challenge_lifetime
#   api METHOD PATH [JSON] admin call over the local socket
#   tpost TERM PATH JSON   POST as terminal TERM (t-mn: mynumber, t-lg:
#                          lgwan); body in $W/out.json, status in $HTTP
#   begin TERM LOGIN       a challenge: $CID, $CH (base64), $TBS (hex)
#   card_json LOGIN KEY CERT [SIGKEY]   the "card" member over $TBS
#   finish TERM JSON       POST /v1/login/finish with {challenge_id: $CID, ...}
#   want_ok / want_err NAME    check the last answer
#   audit_has ACTION [OUTCOME] [REASON]  an audit record exists
. "${KAGI_SRC:?}/tests/lib/kagid.sh"

FIDO_TOOL=${FIDO_TOOL:-$KAGI_BIN/loginapi_fido_tool}
PW_YAMADA='Umbrella#Violet42'
PW_SUZUKI='Lantern&Cobalt93'
HTTP=

kagi() { "$KAGI_BIN/kagi" "$@"; }

api() {
	local m=$1 p=$2
	if [ $# -ge 3 ]; then
		kagid_curl_unix "$p" -X "$m" -H 'Content-Type: application/json' -d "$3"
	else
		kagid_curl_unix "$p" -X "$m"
	fi
}

api_ok() {
	local out
	out=$(api "$@") || fail "API $1 $2 failed"
	if printf '%s' "$out" | jq -e 'has("error")' >/dev/null 2>&1; then
		fail "API $1 $2: $out"
	fi
	printf '%s' "$out"
}

mk_user() { # LOGIN STAFF_NO NAME [KIND]
	api_ok POST /v1/persons "{\"staff_no\":\"$2\",\"name\":\"$3\",\"section\":\"Koseki\",\"employment\":\"regular\"}" >/dev/null
	api_ok POST /v1/users "{\"login\":\"$1\",\"kind\":\"${4:-personal}\",\"person\":\"$2\"}" >"$W/user-$1.json"
}

set_password() { # LOGIN NEW
	local temp
	temp=$(jq -r .temporary_password "$W/user-$1.json")
	api_ok POST /v1/auth/password/change \
		"$(jq -nc --arg l "$1" --arg o "$temp" --arg n "$2" '{login:$l, old:$o, new:$n}')" >/dev/null
}

mk_terminal() { # DEVICE ZONE SHORT
	api_ok POST /v1/terminals "{\"device\":\"$1\",\"zone\":\"$2\"}" >/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/$3.key" -subj "/CN=ignored" -out "$W/$3.csr" 2>/dev/null ||
		fail "openssl req (terminal)"
	kagi ca issue --profile terminal --csr "$W/$3.csr" --for-device "$1" \
		--out "$W/$3.crt" >/dev/null || fail "kagi ca issue terminal $1"
}

mk_card() { # LOGIN (key in $W/card-LOGIN.key, cert in $W/card-LOGIN.crt)
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/card-$1.key" -subj "/CN=ignored" -out "$W/card-$1.csr" 2>/dev/null ||
		fail "openssl req (card)"
	kagi ca issue --profile staff-logon --csr "$W/card-$1.csr" --for "$1" \
		--out "$W/card-$1.crt" >/dev/null || fail "kagi ca issue staff-logon $1"
}

login_setup() {
	kagid_tmpdir
	D=$KAGID_TMP/d
	W=$KAGID_TMP/w
	mkdir -p "$W"
	kagid_write_conf "$D"
	kagid_init "$D"
	# [login] lifetime; [fido] the soft authenticator's model
	sed -i -e "s/^challenge_lifetime = .*/challenge_lifetime = ${LOGIN_LIFETIME:-120s}/" \
		-e 's/^; aaguids = /aaguids = /' "$D/policy.ini"
	grep -q '^aaguids = 6b6167692d736f66746669646f2d3031' "$D/policy.ini" ||
		fail "policy.ini: could not set [fido] aaguids"
	# terminals present certificates from our CA; kagid trusts it for
	# client certificates by itself (server/http.c kagid_tls_trust_ca)
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
	mk_user yamada 1001 "Yamada Taro"
	mk_user suzuki 1002 "Suzuki Hanako"
	set_password yamada "$PW_YAMADA"
	set_password suzuki "$PW_SUZUKI"
	mk_terminal t-mn-01 mynumber t-mn
	mk_terminal t-lg-01 lgwan t-lg
	mk_card yamada
	mk_card suzuki
}

# tpost TERM PATH JSON [curl args]
tpost() {
	local term=$1 path=$2 body=$3; shift 3
	HTTP=$(curl -sS --max-time 10 -o "$W/out.json" -w '%{http_code}' \
		--cacert "$D/tls/ca.crt" --cert "$W/$term.crt" --key "$W/$term.key" \
		-H 'Content-Type: application/json' -d "$body" "$@" \
		"https://127.0.0.1:$KAGID_PORT$path") || fail "curl $path as $term failed"
}

begin() { # TERM LOGIN
	tpost "$1" /v1/login/begin "{\"login\":\"$2\",\"service\":\"login\"}"
	[ "$HTTP" = 200 ] || fail "begin $2 on $1: HTTP $HTTP $(cat "$W/out.json")"
	cp "$W/out.json" "$W/begin.json"
	CID=$(jq -r .challenge_id "$W/begin.json")
	CH=$(jq -r .challenge "$W/begin.json")
	TBS=$(tbs_hex "$2" "$CH")
}

# tbs_hash = SHA-256("kagi-login-v1" 0x00 challenge 0x00 login), hex
tbs_hex() {
	{ printf 'kagi-login-v1\0'; printf '%s' "$2" | base64 -d; printf '\0%s' "$1"; } |
		openssl dgst -sha256 -binary | xxd -p -c 64
}

# The card member: certificate chain and a signature over $TBS.
card_json() { # LOGIN_OF_CERT KEY CERT [extra chain file]
	printf '%s' "$TBS" | xxd -r -p >"$W/tbs.bin"
	openssl pkeyutl -sign -inkey "$2" -in "$W/tbs.bin" -out "$W/sig.bin" ||
		fail "openssl pkeyutl -sign"
	jq -nc --rawfile c "$3" --rawfile i "$D/ca/issuing.crt" \
		--arg s "$(base64 -w0 "$W/sig.bin")" '{certs:[$c, $i], signature:$s}'
}

# finish TERM LOGIN EXTRA_JSON_MEMBERS (an object merged into the body)
finish() {
	local body x=${3:-}
	[ -n "$x" ] || x='{}'
	body=$(jq -nc --arg c "$CID" --arg l "$2" --argjson x "$x" \
		'{challenge_id:$c, login:$l} + $x')
	tpost "$1" /v1/login/finish "$body"
}

want_ok() { # [RESULT]
	[ "$HTTP" = 200 ] || fail "${WHAT:-finish}: want 200, got HTTP $HTTP $(cat "$W/out.json")"
	[ "$(jq -r .result "$W/out.json")" = "${1:-ok}" ] ||
		fail "${WHAT:-finish}: result $(jq -r .result "$W/out.json"), want ${1:-ok}"
}

want_err() { # ERROR_NAME
	[ "$HTTP" != 200 ] || fail "${WHAT:-finish}: want error $1, got 200 $(cat "$W/out.json")"
	[ "$(jq -r .error "$W/out.json")" = "$1" ] ||
		fail "${WHAT:-finish}: want error $1, got HTTP $HTTP $(cat "$W/out.json")"
}

# audit_has ACTION [OUTCOME] [REASON]: a record in the audit log (and the
# chain still verifies)
audit_has() {
	api GET /v1/audit/export >"$W/audit.jsonl" || fail "audit export"
	jq -e -s --arg a "$1" --arg o "${2:-}" --arg r "${3:-}" \
		'map(select(.action == $a and ($o == "" or .outcome == $o) and
			($r == "" or .detail.reason == $r))) | length > 0' \
		"$W/audit.jsonl" >/dev/null ||
		fail "no audit record action=$1 outcome=${2:-*} reason=${3:-*}"
	api POST /v1/audit/verify '{}' | jq -e '.ok == true' >/dev/null ||
		fail "audit chain does not verify"
}

account_field() { # LOGIN FIELD
	api GET "/v1/users/$1" | jq -r ".$2"
}
