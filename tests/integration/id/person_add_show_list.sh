#!/bin/bash
# kagi person add | show | list (R-ID-11): what is added is shown back, in
# the list and with --json; every kind of person the policies cover.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

expect_rc 0 person add 1001 --name "山田 太郎" --kana "ヤマダ タロウ" \
	--section 総務課 --employment regular --start 2020-04-01
grep -q "1001" "$KOUT" || fail "person add did not name the staff number"
expect_rc 0 person add C-77 --name "Itou Contractor" --employment contractor \
	--end 2099-03-31 --section "情報政策課"
expect_rc 0 person add G-1 --name "議員 一郎" --employment council
for t in fiscal-year temporary part-time other; do
	expect_rc 0 person add "T-$t" --name "Person $t" --employment "$t"
done
expect_rc 0 person add D-1 --name "Haken San" --employment dispatched --end 2099-01-01

# show: human and JSON
expect_rc 0 person show 1001
grep -q "山田 太郎" "$KOUT" || fail "show lacks the name"
grep -q "総務課" "$KOUT" || fail "show lacks the section"
grep -q "regular" "$KOUT" || fail "show lacks the employment type"
expect_rc 0 --json person show C-77
[ "$(jf "$KOUT" .person.employment)" = contractor ] || fail "employment"
[ "$(jf "$KOUT" .person.hr_status)" = active ] || fail "hr_status"
[ "$(jf "$KOUT" .person.section)" = "情報政策課" ] || fail "section"
jf "$KOUT" .person.end | grep -q '^2099-03-3[01]T\|^2099-04-01T' || fail "end date: $(jf "$KOUT" .person.end)"

# list
expect_rc 0 --json person list
[ "$(jq '.persons | length' "$KOUT")" = 8 ] || fail "list has $(jq '.persons | length' "$KOUT") persons, want 8"
expect_rc 0 person list
for no in 1001 C-77 G-1 T-other D-1; do
	grep -q "^$no " "$KOUT" || fail "list lacks $no"
done

# kagi status counts them
expect_rc 0 --json status
[ "$(jf "$KOUT" .status.persons)" = 8 ] || fail "status persons"

# contractors without an end date are refused (R-ID-11), nothing added
expect_rc 5 person add C-78 --name "No End" --employment contractor
grep -qi "end date" "$KOUT" || fail "refusal does not mention the end date"
expect_rc 3 person show C-78
audit_has person.add ok 1001
audit_has person.add ok C-77
id_no_hash_anywhere
echo "ok: person add/show/list"
