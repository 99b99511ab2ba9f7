#!/bin/bash
# HR feed with departures (R-ID-1, R-ID-5): the plan names what will change,
# apply changes exactly that and reports it, a second apply changes nothing
# and says so, a stale plan (made before an unrelated change) is refused
# with nothing changed, and an edited plan is refused (its MAC).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
hr_setup

kagi person add S001 --name "山田 太郎" --employment regular --section 総務課 >/dev/null || fail "person add"
kagi person add S002 --name "佐藤 花子" --employment regular --section 税務課 >/dev/null || fail "person add"
kagi person add S003 --name "鈴木 一郎" --employment regular --section 戸籍課 >/dev/null || fail "person add"
kagi person add S009 --name "田中 次郎" --employment regular --section 総務課 >/dev/null || fail "person add"
kagi user add yamada --kind personal --person S001 >/dev/null || fail "user add yamada"
kagi user add sato --kind personal --person S002 >/dev/null || fail "user add sato"
kagi user add suzuki --kind personal --person S003 >/dev/null || fail "user add suzuki"
kagi user add ops --kind shared --person S009 >/dev/null || fail "user add ops"
kagi user member add ops yamada >/dev/null || fail "member add"

feed "$W/feed.csv" \
	"S001,山田 太郎,ヤマダ タロウ,総務課,regular,retired,2026-03-31" \
	"S002,佐藤 花子,サトウ ハナコ,税務課,regular,on-leave,2026-04-01" \
	"S003,鈴木 一郎,スズキ イチロウ,戸籍課,regular,active,2026-04-01" \
	"S004,高橋 三郎,タカハシ サブロウ,福祉課,fiscal-year,active,2026-04-01"
kagi hr plan "$W/feed.csv" --out "$W/plan.json" >"$W/plan.out" 2>&1 || { cat "$W/plan.out"; fail "hr plan failed"; }
grep -q 'accounts to disable: 1' "$W/plan.out" || fail "plan output lacks the disable: $(cat "$W/plan.out")"
grep -q 'yamada' "$W/plan.out" || fail "plan output does not name yamada"
grep -q 'accounts to suspend: 1' "$W/plan.out" || fail "plan output lacks the suspension"
grep -q 'persons to add: 1' "$W/plan.out" || fail "plan output lacks the new person"
grep -q 'missing from the feed (reported only): 1' "$W/plan.out" || fail "S009 not reported missing"
grep -q 'cards to collect: 0' "$W/plan.out" || fail "cards list missing"
grep -q 'shared IDs to rotate: 1' "$W/plan.out" || fail "shared ID ops not to be rotated"
[ "$(stat -c %a "$W/plan.json")" = 600 ] || fail "plan file mode $(stat -c %a "$W/plan.json")"
[ "$(jq -r '.accounts_disable[0].login' "$W/plan.json")" = yamada ] || fail "plan file: disable list"
[ "$(jq -r '.accounts_suspend[0].login' "$W/plan.json")" = sato ] || fail "plan file: suspend list"
[ "$(jq -r '.missing_from_feed[0].staff_no' "$W/plan.json")" = S009 ] || fail "plan file: missing list"
jq -e '.state_hash | test("^[0-9a-f]{64}$")' "$W/plan.json" >/dev/null || fail "no state hash"
jq -e '.mac | test("^[0-9a-f]{64}$")' "$W/plan.json" >/dev/null || fail "no MAC"
# planning changes nothing (the HR key was created: one audit record)
[ "$(user_state yamada)" = active ] || fail "planning changed yamada"
# --json gives the whole plan
kagi --json hr plan "$W/feed.csv" >"$W/plan2.json" || fail "hr plan --json failed"
[ "$(jq -r '.summary.accounts_disable' "$W/plan2.json")" = 1 ] || fail "--json plan summary"

# an edited plan is refused, nothing changes
h0=$(head_seq)
jq '.accounts_disable[0].login = "suzuki"' "$W/plan.json" >"$W/edited.json"
rc=0; kagi hr apply "$W/edited.json" >"$W/ed.out" 2>&1 || rc=$?
[ "$rc" = 4 ] || fail "edited plan: exit $rc, want 4 (sig): $(cat "$W/ed.out")"
grep -q 'changed after kagid made it' "$W/ed.out" || fail "edited plan message: $(cat "$W/ed.out")"
[ "$(head_seq)" = "$h0" ] || fail "edited plan changed the audit log"
[ "$(user_state suzuki)" = active ] || fail "edited plan disabled suzuki"

# apply: exactly the plan
kagi hr apply "$W/plan.json" >"$W/apply.out" 2>&1 || { cat "$W/apply.out"; fail "apply failed"; }
grep -q 'applied' "$W/apply.out" || fail "apply report: $(cat "$W/apply.out")"
grep -q 'accounts to disable: 1' "$W/apply.out" || fail "apply report lacks the disable"
[ "$(user_state yamada)" = disabled ] || fail "yamada not disabled"
[ "$(user_state sato)" = suspended ] || fail "sato not suspended"
[ "$(user_state suzuki)" = active ] || fail "suzuki changed"
kagi --json user show ops >"$W/ops.json" || fail "user show ops"
[ "$(jq -r .user.password_rotate "$W/ops.json")" = true ] || fail "shared ID ops not flagged for rotation"
kagi --json person show S004 >"$W/p4.json" || fail "S004 not added"
kagi --json person show S001 >"$W/p1.json" || fail "S001 gone"
grep -q retired "$W/p1.json" || fail "S001 status not updated: $(cat "$W/p1.json")"
kagi audit export --format jsonl >"$W/audit.jsonl"
grep -q '"action":"hr.account.disable","object":"yamada"' "$W/audit.jsonl" || fail "no audit record for the disable"
grep -q '"action":"hr.account.suspend","object":"sato"' "$W/audit.jsonl" || fail "no audit record for the suspension"
grep -q '"action":"hr.person.add","object":"S004"' "$W/audit.jsonl" || fail "no audit record for the new person"
grep -q '"action":"hr.apply"' "$W/audit.jsonl" || fail "no hr.apply record"

# the second apply changes nothing and says so
h1=$(head_seq)
kagi hr apply "$W/plan.json" >"$W/again.out" 2>&1 || fail "second apply failed: $(cat "$W/again.out")"
grep -q 'already applied; nothing was changed' "$W/again.out" || fail "second apply: $(cat "$W/again.out")"
kagi --json hr apply "$W/plan.json" >"$W/again.json" || fail "second apply --json"
[ "$(jq -r .already_applied "$W/again.json")" = true ] || fail "--json: already_applied not true"
[ "$(head_seq)" = "$h1" ] || fail "second apply wrote audit records"

# a stale plan: made, then an unrelated change, then refused whole
feed "$W/feed2.csv" \
	"S001,山田 太郎,ヤマダ タロウ,総務課,regular,retired,2026-03-31" \
	"S002,佐藤 花子,サトウ ハナコ,税務課,regular,active,2026-05-01" \
	"S003,鈴木 一郎,スズキ イチロウ,戸籍課,regular,retired,2026-05-31" \
	"S004,高橋 三郎,タカハシ サブロウ,福祉課,fiscal-year,active,2026-04-01"
kagi hr plan "$W/feed2.csv" --out "$W/stale.json" >/dev/null 2>&1 || fail "second plan failed"
[ "$(jq -r '.accounts_enable[0].login' "$W/stale.json")" = sato ] || fail "return from leave not planned"
kagi person add S010 --name "unrelated" --employment regular >/dev/null || fail "unrelated change"
h2=$(head_seq)
rc=0; kagi hr apply "$W/stale.json" >"$W/stale.out" 2>&1 || rc=$?
[ "$rc" = 8 ] || fail "stale plan: exit $rc, want 8 (conflict): $(cat "$W/stale.out")"
grep -q 'store changed after the plan was made' "$W/stale.out" || fail "stale message: $(cat "$W/stale.out")"
[ "$(head_seq)" = "$h2" ] || fail "stale plan wrote audit records"
[ "$(user_state suzuki)" = active ] || fail "stale plan disabled suzuki"
[ "$(user_state sato)" = suspended ] || fail "stale plan re-enabled sato"
# a fresh plan applies (return from leave: re-enabled)
kagi hr plan "$W/feed2.csv" --out "$W/fresh.json" >/dev/null 2>&1 || fail "fresh plan failed"
kagi hr apply "$W/fresh.json" >/dev/null 2>&1 || fail "fresh plan refused"
[ "$(user_state sato)" = active ] || fail "sato not re-enabled"
[ "$(user_state suzuki)" = disabled ] || fail "suzuki not disabled"
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS hr_plan_apply"
