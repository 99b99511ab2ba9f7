#!/bin/bash
# No secret anywhere (R-PW-1, R-PW-14, DESIGN "Non-negotiables"): after a
# run that adds, resets, logs in, fails, locks and changes passwords, no
# password or temporary password is in kagid's log, the audit export (JSON
# lines and syslog) or any CLI output except the one-time display of a
# temporary password; and no answer of any endpoint holds a hash ($y$).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

SECRETS=()
ONCE=()          # CLI outputs that show a temporary password once (allowed)
expect_rc 0 person add 1001 --name "Yamada Taro" --employment regular
expect_rc 0 person add 1002 --name "Suzuki Hanako" --employment regular
expect_rc 0 --json user add yamada --kind personal --person 1001
T1=$(temp_of); SECRETS+=("$T1"); ONCE+=("$KOUT")
expect_rc 0 user add suzuki --kind personal --person 1002
T2=$(sed -n 's/^Temporary password: //p' "$KOUT"); SECRETS+=("$T2"); ONCE+=("$KOUT")
[ -n "$T2" ] || fail "no temporary password in the human output"
expect_rc 0 --json user add kyoyu --kind shared --person 1001
T3=$(temp_of); SECRETS+=("$T3"); ONCE+=("$KOUT")

P1='Kaede-Leaf-2031'; P2='Momiji-Hill-2032'; P3='Tsubaki-Sea-2033'
BAD1='Wrong-Guess-7777'; BAD2='shrt9'
SECRETS+=("$P1" "$P2" "$P3" "$BAD1" "$BAD2")
login yamada "$T1"
change_pw yamada "$T1" "$BAD2"            # refused by the rules
change_pw yamada "$T1" "$P1"
login yamada "$P1"
for i in 1 2 3 4 5; do login yamada "$BAD1"; done   # locks
expect_rc 0 user unlock yamada
change_pw yamada "$P1" "$P2"
change_pw suzuki "$T2" "$P3"
change_pw kyoyu "$T3" "Counter-Desk-2031"; SECRETS+=("Counter-Desk-2031")
expect_rc 0 user member add kyoyu suzuki
api POST /v1/auth/password "$(jq -nc --arg m "$P3" \
	'{login:"kyoyu", password:"Counter-Desk-2031", member:"suzuki", member_password:$m}')"
[ "$(jf "$API_OUT" .result)" = ok ] || fail "shared login: $(cat "$API_OUT")"
expect_rc 0 --json user reset-password suzuki
T4=$(temp_of); SECRETS+=("$T4"); ONCE+=("$KOUT")

# every read endpoint, as people and programs would call them
for path in /v1/users /v1/users/yamada /v1/users/suzuki /v1/users/kyoyu \
	/v1/persons /v1/persons/1001 /v1/members/kyoyu /v1/operators /v1/status \
	/v1/whoami "/v1/audit/export?format=jsonl" "/v1/audit/export?format=syslog"; do
	api GET "$path"
	[ "$API_STATUS" = 200 ] || fail "GET $path: $API_STATUS"
done
for verb in "user list" "user show yamada" "--json user show kyoyu" "person list" \
	"person show 1001" "user member list kyoyu" "operator list" "status"; do
	expect_rc 0 $verb
done
"$KAGI_BIN/kagi" audit export --format jsonl >"$OUT/audit.jsonl"
"$KAGI_BIN/kagi" audit export --format syslog >"$OUT/audit.syslog"
[ -s "$OUT/audit.jsonl" ] && [ -s "$OUT/audit.syslog" ] || fail "empty export"
kagid_stop   # flush and close the log

# R-PW-1: no hash in any answer, output, log or export
id_no_hash_anywhere
grep -qF '$y$' "$D/kagid.log" && fail 'a hash in kagid.log'

is_once() { local f; for f in "${ONCE[@]}"; do [ "$1" = "$f" ] && return 0; done; return 1; }
printf '%s\n' "${SECRETS[@]}" >"$KAGID_TMP/secrets"
grep -c . "$KAGID_TMP/secrets" | grep -qx "${#SECRETS[@]}" || fail "an empty secret"
files=()
for f in "$OUT"/*; do is_once "$f" || files+=("$f"); done
checked=${#files[@]}
for f in "$D/kagid.log" "$OUT/audit.jsonl" "$OUT/audit.syslog" "${files[@]}"; do
	[ -f "$f" ] || fail "missing $f"
done
if grep -lF -f "$KAGID_TMP/secrets" -- "$D/kagid.log" "${files[@]}" >"$KAGID_TMP/hits"; then
	fail "a password appears in: $(tr '\n' ' ' <"$KAGID_TMP/hits")"
fi
# each temporary password was shown exactly once
for t in "$T1" "$T2" "$T3" "$T4"; do
	n=$(grep -lF -- "$t" "${ONCE[@]}" | wc -l)
	[ "$n" = 1 ] || fail "a temporary password was shown $n times"
done
[ "$checked" -gt 30 ] || fail "too few outputs checked ($checked)"
echo "ok: no password in logs ($checked output files checked for ${#SECRETS[@]} secrets)"
