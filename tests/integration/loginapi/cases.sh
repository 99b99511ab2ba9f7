#!/bin/bash
# Terminal login API against a real kagid (docs/API.md "Terminal login"):
# one case per run, named after what it proves (CMakeLists.txt registers
# each).  The terminal is curl with a terminal certificate from our CA; the
# card is a software staff-logon key signed by openssl; FIDO is libfido2
# against tests/softfido.  Every refusal is checked in the audit log too.
# Requirements: R-MFA-1..3, R-LOGIN-1..4, R-PW-6, R-TERM-1, R-ZONE-4.
set -euo pipefail
CASE=${1:?usage: cases.sh CASE}
. "${KAGI_SRC:?}/tests/integration/loginapi/lib.sh"

user_field() { api GET "/v1/users/$1" | jq -r ".user.$2"; }

card_of() { card_json "$1" "$W/card-$1.key" "$W/card-$1.crt"; }

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

case_card_success() {
	begin t-mn yamada
	# the begin answer (R-LOGIN-1, R-ZONE-4): zone from the certificate
	jq -e '.zone == "mynumber" and .kind == "personal" and
		.factors.allowed == ["card","fido"] and .factors.min_categories == 2 and
		.fido.rp_id == "kagi.local" and .fido.uv == "required" and
		(.banner | length > 0) and (.challenge_id | test("^[0-9a-f]{32}$")) and
		(.challenge | test("^[A-Za-z0-9+/]{43}=$"))' "$W/begin.json" >/dev/null ||
		fail "begin answer: $(cat "$W/begin.json")"
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
	jq -e '(.session_id | test("^[0-9a-f]{32}$")) and .session_end == null and
		.categories == ["knowledge","possession"] and .last_login == null and
		.failed_since == 0' "$W/out.json" >/dev/null ||
		fail "first login answer: $(cat "$W/out.json")"
	SID=$(jq -r .session_id "$W/out.json")
	audit_has login.ok ok
	[ "$(user_field yamada last_login_terminal)" = t-mn-01 ] ||
		fail "last_login_terminal not recorded"
	# close: the logout time is recorded and shown at the next login
	tpost t-mn /v1/login/close "{\"session_id\":\"$SID\"}"
	[ "$HTTP" = 200 ] && [ "$(cat "$W/out.json")" = "{}" ] ||
		fail "close: HTTP $HTTP $(cat "$W/out.json")"
	audit_has login.close ok
	[ "$(user_field yamada last_logout)" != null ] || fail "last_logout not set"
	# another terminal cannot close it (unknown to it)
	WHAT=close-other tpost t-lg /v1/login/close "{\"session_id\":\"$SID\"}"
	WHAT=close-other want_err not_found
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
	jq -e '.last_login.terminal == "t-mn-01" and (.last_login.time | test("Z$")) and
		.last_logout != null' "$W/out.json" >/dev/null ||
		fail "second login does not show the first: $(cat "$W/out.json")"
	# an unknown login gets the same shape at begin (no enumeration)
	jq -S 'del(.challenge_id, .challenge, .expires) | .fido.credentials = []' \
		"$W/begin.json" >"$W/known.json"
	begin t-mn nobody
	jq -S 'del(.challenge_id, .challenge, .expires)' "$W/begin.json" >"$W/unknown.json"
	cmp -s "$W/known.json" "$W/unknown.json" ||
		fail "begin for an unknown login differs: $(cat "$W/unknown.json")"
	finish t-mn nobody "{\"card\":$(card_of yamada)}"
	want_err auth
	audit_has login.refused auth unknown_account
}

case_replayed_challenge() {
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err expired
	[ "$(jq -r .reason "$W/out.json")" = challenge_replayed ] || fail "reason: $(cat "$W/out.json")"
	audit_has login.refused expired challenge_replayed
	# a challenge is bound to its terminal and its login
	begin t-mn yamada
	finish t-lg yamada "{\"card\":$(card_of yamada)}"
	want_err denied
	audit_has login.refused denied challenge_other_terminal
	finish t-mn suzuki "{\"card\":$(card_of suzuki)}"
	want_err denied
	audit_has login.refused denied challenge_other_login
	# a made-up challenge id
	CID=00000000000000000000000000000000
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err expired
}

case_expired_challenge() {
	begin t-mn yamada
	sleep 2
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err expired
	audit_has login.refused expired challenge_expired
}

case_wrong_signature() {
	begin t-mn yamada
	local good=$TBS
	# signed over another challenge's hash
	TBS=$(printf 'something else' | openssl dgst -sha256 -binary | xxd -p -c 64)
	local card
	card=$(card_of yamada)
	TBS=$good
	finish t-mn yamada "{\"card\":$card}"
	want_err auth
	[ "$(jq -r '.reason // "none"' "$W/out.json")" = none ] ||
		fail "an auth refusal must not say why: $(cat "$W/out.json")"
	audit_has login.refused auth card_signature
	[ "$(user_field yamada failed_count)" = 1 ] || fail "the failure was not counted"
}

case_cert_of_another_account() {
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of suzuki)}"
	want_err auth
	audit_has login.refused auth card_cert_other_account
}

case_cert_from_another_ca() {
	local o=$W/other
	mkdir -p "$o"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=Other CA" -days 30 -keyout "$o/ca.key" -out "$o/ca.crt" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		2>/dev/null || fail "other CA"
	# same subject and key as yamada's card, other issuer
	openssl x509 -in "$W/card-yamada.crt" -x509toreq -signkey "$W/card-yamada.key" \
		-out "$o/leaf.csr" 2>/dev/null || fail "x509toreq"
	openssl x509 -req -in "$o/leaf.csr" -CA "$o/ca.crt" -CAkey "$o/ca.key" \
		-set_serial "0x$(serial_of "$W/card-yamada.crt")" -days 10 \
		-out "$o/leaf.crt" 2>/dev/null || fail "other leaf"
	begin t-mn yamada
	local card
	card=$(card_json yamada "$W/card-yamada.key" "$o/leaf.crt" |
		jq -c --rawfile ca "$o/ca.crt" '.certs = [.certs[0], $ca]')
	finish t-mn yamada "{\"card\":$card}"
	want_err auth
	audit_has login.refused auth card_cert_other_ca
}

case_revoked_card_cert() {
	kagi ca revoke "$(serial_of "$W/card-yamada.crt")" --reason keyCompromise >/dev/null ||
		fail "kagi ca revoke"
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err revoked
	audit_has login.refused revoked card_cert_revoked
}

case_held_card_cert() {
	local s
	s=$(serial_of "$W/card-yamada.crt")
	kagi ca revoke "$s" --reason certificateHold >/dev/null || fail "kagi ca revoke (hold)"
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err revoked
	audit_has login.refused revoked card_cert_hold
	# found again: the hold is released and the card works
	kagi ca unhold "$s" >/dev/null || fail "kagi ca unhold"
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
}

case_password_alone_mynumber() {
	begin t-mn yamada
	finish t-mn yamada "$(jq -nc --arg p "$PW_YAMADA" '{password:$p}')"
	want_err denied
	audit_has login.refused denied not_enough_factors
}

case_password_and_card_lgwan() {
	begin t-lg yamada
	jq -e '.zone == "lgwan" and .factors.allowed == ["card","fido","password"] and
		.factors.min_categories == 1 and .fido.uv == "preferred"' "$W/begin.json" >/dev/null ||
		fail "lgwan begin: $(cat "$W/begin.json")"
	finish t-lg yamada "$(jq -nc --arg p "$PW_YAMADA" --argjson c "$(card_of yamada)" \
		'{password:$p, card:$c}')"
	want_ok
	jq -e '.categories == ["knowledge","possession"]' "$W/out.json" >/dev/null ||
		fail "categories: $(cat "$W/out.json")"
	audit_has login.ok ok
	# the right card with the wrong password is refused and counted
	begin t-lg yamada
	finish t-lg yamada "$(jq -nc --argjson c "$(card_of yamada)" \
		'{password:"Wrong#Password99", card:$c}')"
	want_err auth
	audit_has login.refused auth password_wrong
}

case_unregistered_terminal() {
	# a client certificate of the bootstrap CA is not a terminal
	WHAT=admin-cert
	HTTP=$(curl -sS --max-time 10 -o "$W/out.json" -w '%{http_code}' \
		--cacert "$D/tls/ca.crt" --cert "$D/tls/admin.crt" --key "$D/tls/admin.key" \
		-d '{"login":"yamada"}' "https://127.0.0.1:$KAGID_PORT/v1/login/begin") ||
		fail "curl"
	want_err denied
	audit_has login.terminal_refused denied terminal_cert_unknown
	# the local socket is no terminal either
	api POST /v1/login/begin '{"login":"yamada"}' | jq -e '.error == "not_found"' >/dev/null ||
		fail "login API answered on the local socket"
	# a revoked terminal certificate (R-TERM-3)
	begin t-mn yamada
	kagi ca revoke "$(serial_of "$W/t-mn.crt")" --reason keyCompromise >/dev/null ||
		fail "kagi ca revoke (terminal)"
	WHAT=revoked-terminal
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err denied
	[ "$(jq -r .reason "$W/out.json")" = terminal_cert_revoked ] || fail "reason: $(cat "$W/out.json")"
	audit_has login.terminal_refused denied terminal_cert_revoked
	# the other terminal still works
	begin t-lg yamada
}

case_locked_account() {
	local i
	for i in 1 2 3 4 5; do
		begin t-lg yamada
		finish t-lg yamada '{"password":"Wrong#Password99"}'
		want_err auth
	done
	audit_has auth.lock locked
	[ "$(user_field yamada locked)" = true ] || fail "account not locked"
	# now even the right card is refused, without counting
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_err locked
	jq -e '.locked_until != null' "$W/out.json" >/dev/null || fail "no locked_until: $(cat "$W/out.json")"
	audit_has login.refused locked account_locked
	[ "$(user_field yamada failed_count)" = 5 ] || fail "a refusal while locked was counted"
	# unlocked by the helpdesk, the next login shows the failures
	api_ok POST /v1/users/unlock/yamada '{}' >/dev/null
	begin t-mn yamada
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
	jq -e '.failed_since == 5' "$W/out.json" >/dev/null || fail "failed_since: $(cat "$W/out.json")"
}

case_temp_password_must_change() {
	mk_user tanaka 1003 "Tanaka Jiro"
	local temp
	temp=$(jq -r .temporary_password "$W/user-tanaka.json")
	begin t-lg tanaka
	finish t-lg tanaka "$(jq -nc --arg p "$temp" '{password:$p}')"
	want_ok must_change
	audit_has login.must_change must_change
	# the change, with the rules (R-PW-2, R-PW-6)
	tpost t-lg /v1/login/password "$(jq -nc --arg o "$temp" '{login:"tanaka", old:$o, new:"short"}')"
	WHAT=weak-password want_err invalid
	jq -e '.rules | map(.rule) | index("min_length") != null' "$W/out.json" >/dev/null ||
		fail "rules not listed: $(cat "$W/out.json")"
	tpost t-lg /v1/login/password "$(jq -nc --arg o "$temp" '{login:"tanaka", old:$o, new:"Harbour%Maple58"}')"
	[ "$HTTP" = 200 ] && [ "$(cat "$W/out.json")" = "{}" ] ||
		fail "password change: HTTP $HTTP $(cat "$W/out.json")"
	audit_has login.password ok
	begin t-lg tanaka
	finish t-lg tanaka '{"password":"Harbour%Maple58"}'
	want_ok
	jq -e '.categories == ["knowledge"]' "$W/out.json" >/dev/null || fail "$(cat "$W/out.json")"
}

fido_assert() { # [OPTIONS]: the fido member over $TBS
	"$FIDO_TOOL" "$W/fido.state" assert kagi.local "$CRED" "$TBS" "$@" ||
		fail "loginapi_fido_tool assert $*"
}

fido_counter() {
	api GET /v1/users/fido/yamada | jq -r '.credentials[0].counter'
}

case_fido() {
	"$FIDO_TOOL" "$W/fido.state" make kagi.local >"$W/reg.json" || fail "fido make"
	api POST /v1/users/fido/yamada "$(cat "$W/reg.json")" >"$W/regout.json"
	jq -e '.account == "yamada" and .aaguid == "6b6167692d736f66746669646f2d3031"' \
		"$W/regout.json" >/dev/null || fail "registration: $(cat "$W/regout.json")"
	CRED=$(jq -r .credential_id "$W/regout.json")
	audit_has fido.add ok
	# a second registration of the same credential is refused
	api POST /v1/users/fido/yamada "$(cat "$W/reg.json")" | jq -e '.error == "exists"' >/dev/null ||
		fail "duplicate registration accepted"

	# FIDO with UV in the My Number zone: two categories
	begin t-mn yamada
	jq -e --arg c "$CRED" '.fido.credentials == [$c]' "$W/begin.json" >/dev/null ||
		fail "begin does not list the credential: $(cat "$W/begin.json")"
	finish t-mn yamada "{\"fido\":$(fido_assert)}"
	want_ok
	jq -e '.categories == ["knowledge","possession"]' "$W/out.json" >/dev/null ||
		fail "categories: $(cat "$W/out.json")"
	local c1
	c1=$(fido_counter)
	[ "$c1" -gt 0 ] || fail "counter not stored ($c1)"

	# without UV where the zone requires it
	begin t-mn yamada
	WHAT=fido-nouv
	finish t-mn yamada "{\"fido\":$(fido_assert nouv)}"
	want_err denied
	audit_has login.refused denied fido_flags
	# without user presence
	begin t-mn yamada
	WHAT=fido-noup
	finish t-mn yamada "{\"fido\":$(fido_assert noup)}"
	want_err denied

	# password + FIDO (no UV) where UV is only preferred
	begin t-lg yamada
	WHAT=password+fido
	finish t-lg yamada "$(jq -nc --arg p "$PW_YAMADA" --argjson f "$(fido_assert nouv)" \
		'{password:$p, fido:$f}')"
	want_ok
	jq -e '.categories == ["knowledge","possession"]' "$W/out.json" >/dev/null ||
		fail "categories: $(cat "$W/out.json")"

	# a counter that did not increase: a cloned key
	local c2
	c2=$(fido_counter)
	begin t-mn yamada
	WHAT=fido-frozen
	finish t-mn yamada "{\"fido\":$(fido_assert frozen)}"
	want_err sig
	audit_has fido.clone_suspected refused
	audit_has login.refused sig fido_clone_suspected
	[ "$(fido_counter)" = "$c2" ] || fail "the counter was updated after a clone refusal"

	# a tampered signature
	begin t-mn yamada
	local f
	f=$(fido_assert | python3 -c '
import base64, json, sys
f = json.load(sys.stdin)
s = bytearray(base64.b64decode(f["signature"]))
s[10] ^= 0x01  # inside r
f["signature"] = base64.b64encode(bytes(s)).decode()
print(json.dumps(f))')
	WHAT=fido-badsig
	finish t-mn yamada "{\"fido\":$f}"
	want_err auth

	# removed: no longer a factor
	local key
	key=$(api GET /v1/users/fido/yamada | jq -r '.credentials[0].key')
	api DELETE "/v1/users/fido/yamada?key=$key" | jq -e '. == {}' >/dev/null ||
		fail "credential removal"
	audit_has fido.remove ok
	begin t-mn yamada
	WHAT=fido-removed
	finish t-mn yamada "{\"fido\":$(fido_assert)}"
	want_err auth
	audit_has login.refused auth fido_unknown_credential
}

# the body is checked before anything else: named faults, nothing changed
case_bad_finish_body() {
	begin t-mn yamada
	tpost t-mn /v1/login/finish '{"challenge_id":"xyz","login":"yamada"}'
	WHAT=bad-id want_err format
	[ "$(jq -r .field "$W/out.json")" = challenge_id ] || fail "field: $(cat "$W/out.json")"
	tpost t-mn /v1/login/finish "{\"challenge_id\":\"$CID\",\"login\":\"yamada\",\"pin\":\"1234\"}"
	WHAT=unknown-member want_err invalid
	tpost t-mn /v1/login/finish "{\"challenge_id\":\"$CID\",\"login\":\"yamada\",\"card\":{\"certs\":[\"x\"],\"signature\":\"not base64!\"}}"
	WHAT=bad-base64 want_err format
	[ "$(jq -r .field "$W/out.json")" = card.signature ] || fail "field: $(cat "$W/out.json")"
	tpost t-mn /v1/login/finish 'not json'
	WHAT=junk want_err format
	# the challenge was not spent by refused bodies
	finish t-mn yamada "{\"card\":$(card_of yamada)}"
	want_ok
}

case "$CASE" in
expired_challenge) LOGIN_LIFETIME=1s ;;
esac
login_setup
"case_$CASE"
echo "ok: $CASE"
