#!/bin/bash
# SIGKILL kagid at random points while it applies a large plan, 20 times:
# after each restart either the whole plan or none of it is applied (one
# LMDB write transaction), and `kagi audit verify` passes.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
hr_setup
N=${HR_KILL_PERSONS:-3000}
ROUNDS=${HR_KILL_ROUNDS:-20}
all=0 none=0
for i in $(seq "$ROUNDS"); do
	{
		printf 'staff_no,name,kana,section,employment,status,effective_date\n'
		for n in $(seq "$N"); do
			printf 'K%d-%05d,職員 %d,ショクイン,総務課,regular,active,2026-04-01\n' "$i" "$n" "$n"
		done
	} >"$W/feed.csv"
	kagi hr plan "$W/feed.csv" --out "$W/plan.json" >/dev/null 2>&1 || fail "round $i: plan failed"
	p0=$(persons_count)
	h0=$(head_seq)
	"$KAGI_BIN/kagi" hr apply "$W/plan.json" >"$W/apply.out" 2>&1 &
	cli=$!
	# a random point: from at once to past the end of a typical apply
	sleep "0.$(printf '%03d' $((RANDOM % 600)))"
	kill -KILL "$KAGID_PID" 2>/dev/null || true
	wait "$KAGID_PID" 2>/dev/null || true
	KAGID_PID=
	wait "$cli" 2>/dev/null || true
	kagid_start "$D"
	p1=$(persons_count)
	# (kagid itself may append records at start-up, e.g. CRL publication)
	kagi audit export --since $((h0 + 1)) --format jsonl >"$W/since.jsonl" ||
		fail "round $i: audit export failed"
	adds=$(grep -c '"action":"hr.person.add"' "$W/since.jsonl" || true)
	if [ "$p1" = "$p0" ]; then
		none=$((none + 1))
		[ "$adds" = 0 ] || fail "round $i: no person added but $adds hr.person.add audit records"
		! grep -q '"action":"hr.apply"' "$W/since.jsonl" || fail "round $i: hr.apply recorded, nothing applied"
	elif [ "$p1" = $((p0 + N)) ]; then
		all=$((all + 1))
		# one record per person and the hr.apply summary
		[ "$adds" = "$N" ] || fail "round $i: plan applied but $adds hr.person.add records (want $N)"
		grep -q '"action":"hr.apply"' "$W/since.jsonl" || fail "round $i: no hr.apply record"
		kagi hr apply "$W/plan.json" >"$W/again.out" 2>&1 || fail "round $i: re-apply failed"
		grep -q 'already applied' "$W/again.out" || fail "round $i: re-apply: $(cat "$W/again.out")"
	else
		fail "round $i: partial apply: persons $p0 -> $p1 (plan adds $N)"
	fi
	kagi audit verify >"$W/verify.out" 2>&1 || fail "round $i: audit verify: $(cat "$W/verify.out")"
done
echo "rounds: $ROUNDS, whole plan applied: $all, none applied: $none"
kagid_stop
echo "PASS hr_kill_during_apply"
