#!/bin/bash
# A feed with one malformed line is refused whole (R-ID-1): kagi names the
# line and column, exits non-zero, and nothing changes (the audit head, the
# persons and the HR key are as before).  Invalid UTF-8 travels to kagid as
# bytes and is found there.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
hr_setup
kagi person add S001 --name "山田 太郎" --employment regular --section 総務課 >/dev/null || fail "person add"
kagi user add yamada --kind personal --person S001 >/dev/null || fail "user add"
h0=$(head_seq)
p0=$(persons_count)
good1="S001,山田 太郎,ヤマダ タロウ,総務課,regular,retired,2026-03-31"
good2="S002,佐藤 花子,サトウ ハナコ,税務課,regular,active,2026-04-01"

check() { # name line column reason-text
	local name=$1 line=$2 col=$3 text=$4 rc=0
	kagi hr plan "$W/$name.csv" --out "$W/$name.plan" >"$W/$name.out" 2>&1 || rc=$?
	[ "$rc" = 5 ] || fail "$name: exit $rc, want 5: $(cat "$W/$name.out")"
	grep -q "line $line, column $col" "$W/$name.out" || fail "$name: line $line column $col not named: $(cat "$W/$name.out")"
	grep -q "$text" "$W/$name.out" || fail "$name: reason '$text' not shown: $(cat "$W/$name.out")"
	grep -q 'nothing was changed' "$W/$name.out" || fail "$name: does not say nothing changed"
	[ ! -e "$W/$name.plan" ] || fail "$name: a plan file was written"
	# --json: the faults as data
	rc=0; kagi --json hr plan "$W/$name.csv" >"$W/$name.json" 2>/dev/null || rc=$?
	[ "$rc" = 5 ] || fail "$name --json: exit $rc"
	[ "$(jq -r '.errors[0].line' "$W/$name.json")" = "$line" ] || fail "$name --json: line"
	[ "$(head_seq)" = "$h0" ] || fail "$name: the audit head moved"
	[ "$(persons_count)" = "$p0" ] || fail "$name: persons changed"
}

feed "$W/bad_date.csv" "$good1" "S002,佐藤 花子,サトウ ハナコ,税務課,regular,active,2026-02-30"
check bad_date 3 7 "not a date"
feed "$W/unknown_status.csv" "$good1" "$good2" "S003,鈴木,スズキ,戸籍課,regular,fired,2026-04-01"
check unknown_status 4 6 "unknown status"
feed "$W/dup_staff_no.csv" "$good1" "$good2" "S001,山田 太郎,ヤマダ,総務課,regular,active,2026-04-01"
check dup_staff_no 4 1 "appears twice"
feed "$W/wrong_column_count.csv" "$good1" "S002,佐藤 花子,税務課,regular,active,2026-04-01"
check wrong_column_count 3 6 "wrong number of columns"
feed "$W/invalid_utf8.csv" "$good1" "$good2"
printf 'S003,\xe9\x88\xb4\xff,スズキ,戸籍課,regular,active,2026-04-01\n' >>"$W/invalid_utf8.csv"
check invalid_utf8 4 2 "not valid UTF-8"
printf '%s\n' "$good1" "$good2" >"$W/missing_header.csv"
check missing_header 1 1 "header row"
big=$(head -c 400 /dev/zero | tr '\0' 'x')
feed "$W/oversize_field.csv" "$good1" "S002,$big,k,s,regular,active,2026-04-01"
check oversize_field 3 2 "too long"

[ "$(user_state yamada)" = active ] || fail "yamada changed"
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS hr_malformed_refused"
