#!/bin/bash
# Bad input is refused whole with a clear message and changes nothing:
# unknown kind, bad staff number, oversize name, invalid UTF-8 in the JSON
# body, duplicate person, unknown fields, wrong types, bad dates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

expect_rc 0 person add 1001 --name "Yamada Taro" --employment regular --section "総務課"
expect_rc 0 --json status
persons=$(jf "$KOUT" .status.persons); accounts=$(jf "$KOUT" .status.accounts)
head=$(jf "$KOUT" .status.audit.head_seq)

# duplicate person: refused, the first one untouched
expect_rc 8 person add 1001 --name "Someone Else" --employment temporary
grep -q "already exists" "$KOUT" || fail "duplicate message: $(cat "$KOUT")"
expect_rc 0 --json person show 1001
[ "$(jf "$KOUT" .person.name)" = "Yamada Taro" ] || fail "duplicate changed the person"
# bad staff numbers
for no in "12 34" "A_1" "123456789012345678901234567890123" "１２３"; do
	expect_rc 5 person add "$no" --name "X Y" --employment regular
	grep -q "staff number" "$KOUT" || fail "staff number message for '$no': $(cat "$KOUT")"
done
# oversize name (> 256 bytes)
expect_rc 5 person add 1002 --name "$(printf 'あ%.0s' $(seq 100))" --employment regular
grep -q "longer than 256 bytes" "$KOUT" || fail "oversize message: $(cat "$KOUT")"
# unknown employment type, bad date, control characters
expect_rc 5 person add 1003 --name "X Y" --employment boss
expect_rc 5 person add 1004 --name "X Y" --employment regular --start tomorrow
expect_rc 5 person add 1005 --name "$(printf 'X\tY')" --employment regular
# unknown account kind
expect_rc 5 user add someone --kind superuser --person 1001
grep -q "unknown account kind" "$KOUT" || fail "kind message: $(cat "$KOUT")"
expect_rc 5 user add "bad login" --kind personal --person 1001

# invalid UTF-8 inside the JSON body
printf '{"staff_no":"1006","name":"\xff\xfe","employment":"regular"}' >"$KAGID_TMP/bad.json"
code=$(curl -sS -o "$OUT/badutf8" -w '%{http_code}' --unix-socket "$D/run/kagid.sock" \
	-X POST --data-binary @"$KAGID_TMP/bad.json" http://kagid/v1/persons)
[ "$code" = 400 ] || fail "invalid UTF-8: HTTP $code"
[ "$(jf "$OUT/badutf8" .error)" = format ] || fail "invalid UTF-8 error: $(cat "$OUT/badutf8")"
# unknown field, wrong type, duplicate key, trailing garbage
api POST /v1/persons '{"staff_no":"1007","name":"X Y","employment":"regular","salary":1}'
[ "$API_STATUS" = 400 ] && [ "$(jf "$API_OUT" .field)" = salary ] || fail "unknown field: $(cat "$API_OUT")"
api POST /v1/persons '{"staff_no":"1008","name":123,"employment":"regular"}'
[ "$API_STATUS" = 400 ] && [ "$(jf "$API_OUT" .error)" = format ] || fail "wrong type: $(cat "$API_OUT")"
api POST /v1/persons '{"staff_no":"1009","name":"A","name":"B","employment":"regular"}'
[ "$API_STATUS" = 400 ] || fail "duplicate key accepted"
api POST /v1/persons '{"staff_no":"1010","name":"A B","employment":"regular"} x'
[ "$API_STATUS" = 400 ] || fail "trailing garbage accepted"
api POST /v1/users '{"login":"x","kind":"personal","person":"1001","extra":true}'
[ "$API_STATUS" = 400 ] || fail "unknown user field accepted"
api POST /v1/auth/password '{"login":"x"}'
[ "$API_STATUS" = 400 ] && [ "$(jf "$API_OUT" .field)" = password ] || fail "missing password: $(cat "$API_OUT")"
api GET /v1/auth/password
[ "$API_STATUS" = 405 ] || fail "GET on a POST endpoint: $API_STATUS"
api GET "/v1/users/..%2Fetc"
[ "$API_STATUS" = 400 ] || fail "bad login in the path: $API_STATUS"
api GET "/v1/users?kind=x"
[ "$API_STATUS" = 400 ] || fail "query accepted: $API_STATUS"

# nothing changed
expect_rc 0 --json status
[ "$(jf "$KOUT" .status.persons)" = "$persons" ] || fail "persons changed"
[ "$(jf "$KOUT" .status.accounts)" = "$accounts" ] || fail "accounts changed"
[ "$(jf "$KOUT" .status.audit.head_seq)" = "$head" ] || fail "audit records were added"
expect_rc 0 audit verify
id_no_hash_anywhere
echo "ok: bad input refused, nothing changed"
