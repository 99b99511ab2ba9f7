# Helpers for the ID lifecycle tests (source after setting -euo pipefail).
#   id_setup            a fresh deployment (hash_cost 1 for speed), kagid
#                       running, KAGI_CONFIG set; every CLI output and API
#                       answer is kept under $OUT for the R-PW-1 checks
#   k ARGS...           run kagi; output in $KOUT; returns kagi's status
#   expect_rc N ARGS... run kagi and fail unless it exits with N
#   api METHOD PATH [JSON]  curl over the socket; body in $API_OUT, status in $API_STATUS
#   jf FILE EXPR        a JSON field (jq)
#   audit_has ACTION OUTCOME [OBJECT]  an audit record exists
#   id_no_hash_anywhere no "$y$" in any CLI output or API answer (R-PW-1)
. "${KAGI_SRC:?}/tests/lib/kagid.sh"

id_setup() {
	kagid_tmpdir
	D=$KAGID_TMP/d
	OUT=$KAGID_TMP/out
	mkdir -p "$OUT"
	kagid_write_conf "$D"
	kagid_init "$D"
	sed -i -e 's/^hash_cost = 5$/hash_cost = 1/' "$D/policy.ini"
	grep -q '^hash_cost = 1$' "$D/policy.ini" || fail "test policy not set"
	if [ -n "${ID_POLICY_EXTRA:-}" ]; then
		printf '%s\n' "$ID_POLICY_EXTRA" >>"$D/policy.ini"
	fi
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
	KN=0
}

k() {
	KN=$((KN + 1))
	KOUT=$OUT/cli.$KN
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
	API_OUT=$OUT/api.$KN
	if [ -n "$body" ]; then
		API_STATUS=$(curl -sS --max-time 10 -o "$API_OUT" -w '%{http_code}' \
			--unix-socket "$D/run/kagid.sock" -X "$method" \
			-H 'Content-Type: application/json' --data-binary "$body" \
			"http://kagid$path")
	else
		API_STATUS=$(curl -sS --max-time 10 -o "$API_OUT" -w '%{http_code}' \
			--unix-socket "$D/run/kagid.sock" -X "$method" "http://kagid$path")
	fi
}

jf() {
	jq -er "$2" <"$1"
}

audit_export() {
	KN=$((KN + 1))
	AUDIT=$OUT/audit.$KN
	"$KAGI_BIN/kagi" audit export --format jsonl >"$AUDIT" ||
		fail "audit export failed"
}

audit_has() {
	local action=$1 outcome=$2 object=${3:-}
	audit_export
	jq -e --arg a "$action" --arg o "$outcome" --arg j "$object" \
		-s 'map(select(.action == $a and .outcome == $o and
		    ($j == "" or .object == $j))) | length > 0' \
		"$AUDIT" >/dev/null ||
		fail "no audit record action=$action outcome=$outcome object=$object"
}

# password login; sets API_STATUS and API_OUT
login() {
	api POST /v1/auth/password "$(jq -nc --arg l "$1" --arg p "$2" \
		--arg t "${3:-pc-01}" '{login:$l, password:$p, terminal:$t}')"
}

change_pw() {
	api POST /v1/auth/password/change "$(jq -nc --arg l "$1" --arg o "$2" \
		--arg n "$3" '{login:$l, old:$o, new:$n}')"
}

# the temporary password of a `kagi --json user add|reset-password` in $KOUT
temp_of() {
	jq -er .temporary_password <"$KOUT" || fail "no temporary password in the answer"
}

id_no_hash_anywhere() {
	if grep -rlF '$y$' "$OUT" >/dev/null 2>&1; then
		grep -rlF '$y$' "$OUT" >&2
		fail 'a password hash ($y$...) appeared in a CLI output or API answer (R-PW-1)'
	fi
}
