# Helpers for the HR, privileged-window and sweep tests (source after
# set -euo pipefail).  A real kagid on loopback with its SoftHSM2 token and
# LMDB store in a private directory.
#   hr_setup              deployment in $D (hash_cost 1 for speed), kagid
#                         running, KAGI_CONFIG set, scratch dir $W
#   kagi ARGS             the built kagi
#   head_seq              the audit head sequence (kagi status --json)
#   persons_count         persons in the store
#   user_state LOGIN      active / disabled / suspended ...
#   feed FILE ROWS...     write an HR feed with the header and the rows
#   api METHOD PATH [JSON]  curl over the socket (body on stdout)
. "${KAGI_SRC:?}/tests/lib/kagid.sh"

kagi() { "$KAGI_BIN/kagi" "$@"; }

hr_setup() {
	kagid_tmpdir
	D=$KAGID_TMP/d
	W=$KAGID_TMP/w
	mkdir -p "$W"
	kagid_write_conf "$D"
	kagid_init "$D"
	sed -i -e 's/^hash_cost = [0-9]*$/hash_cost = 1/' "$D/policy.ini"
	if [ -n "${HR_POLICY_SED:-}" ]; then
		sed -i -e "$HR_POLICY_SED" "$D/policy.ini"
	fi
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
}

head_seq() {
	kagi --json status >"$W/st.json" || fail "kagi status failed"
	jq -er '.status.audit.head_seq' "$W/st.json"
}

persons_count() {
	kagi --json status >"$W/st.json" || fail "kagi status failed"
	jq -er '.status.persons' "$W/st.json"
}

user_state() {
	kagi --json user show "$1" >"$W/u.json" || fail "kagi user show $1 failed"
	jq -er '.user.state' "$W/u.json"
}

feed() {
	local f=$1
	shift
	printf 'staff_no,name,kana,section,employment,status,effective_date\n' >"$f"
	local row
	for row in "$@"; do printf '%s\n' "$row" >>"$f"; done
}

api() {
	local m=$1 p=$2
	if [ $# -ge 3 ]; then
		kagid_curl_unix "$p" -X "$m" -H 'Content-Type: application/json' --data-binary "$3"
	else
		kagid_curl_unix "$p" -X "$m"
	fi
}
