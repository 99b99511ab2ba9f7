#!/bin/bash
# kagi sweep (R-PRIV-7, R-ID-12): --dry-run reports what would change and
# changes nothing; the real run ends windows past their end, audits each
# change and a sweep.run summary; a second run finds nothing.  Then kagid's
# own timer ([sweep] interval = 10s) does the same without a command.
# (Dormant and expired accounts need a clock kagid cannot be given here:
# their edges are in tests/unit/hr, sweep_dormant_edge.)
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
hr_setup
kagi person add S001 --name "管理 者" --employment regular >/dev/null || fail "person add"
kagi user add adm1 --kind privileged --person S001 >/dev/null || fail "user add"
kagi --json priv request adm1 --for 1s --reason "short" >"$W/g1.json" || fail "request 1"
kagi --json priv request adm1 --for 30m --reason "long" >"$W/g2.json" || fail "request 2"
G1=$(jq -r .id "$W/g1.json")
G2=$(jq -r .id "$W/g2.json")
sleep 2

h0=$(head_seq)
kagi sweep --dry-run >"$W/dry.out" 2>&1 || fail "dry run failed: $(cat "$W/dry.out")"
grep -q 'dry run: nothing was changed' "$W/dry.out" || fail "dry run output: $(cat "$W/dry.out")"
grep -q "$G1" "$W/dry.out" || fail "dry run does not name the ended window"
! grep -q "$G2" "$W/dry.out" || fail "dry run names an open window"
[ "$(head_seq)" = "$h0" ] || fail "dry run wrote audit records"
kagi --json priv list --state requested >"$W/l.json" || fail "priv list"
[ "$(jq '.grants | length' "$W/l.json")" = 2 ] || fail "dry run changed a window"

kagi --json sweep >"$W/real.json" || fail "sweep failed"
[ "$(jq -r '.windows_ended[0]' "$W/real.json")" = "$G1" ] || fail "sweep report: $(cat "$W/real.json")"
[ "$(jq -r '.changes' "$W/real.json")" = 1 ] || fail "sweep changed more than the window"
kagi --json priv list --state ended >"$W/e.json" || fail "priv list ended"
[ "$(jq -r '.grants[0].id' "$W/e.json")" = "$G1" ] || fail "window not ended"
kagi audit export --format jsonl >"$W/audit.jsonl"
grep -q "\"action\":\"sweep.window.end\",\"object\":\"$G1\"" "$W/audit.jsonl" || fail "no audit record for the window"
grep -q '"action":"sweep.run"' "$W/audit.jsonl" || fail "no sweep.run record"

kagi --json sweep >"$W/again.json" || fail "second sweep failed"
[ "$(jq -r '.changes' "$W/again.json")" = 0 ] || fail "second sweep changed something"

# the timer: a window past its end is ended by kagid alone
kagid_stop
sed -i -e 's/^interval = 1h$/interval = 10s/' "$D/policy.ini"
grep -q '^interval = 10s$' "$D/policy.ini" || fail "cannot set the sweep interval"
kagid_start "$D"
kagi --json priv request adm1 --for 1s --reason "timer" >"$W/g3.json" || fail "request 3"
G3=$(jq -r .id "$W/g3.json")
for _ in $(seq 40); do
	kagi --json priv list --state ended >"$W/e.json" || fail "priv list"
	jq -e --arg id "$G3" '.grants[] | select(.id == $id)' "$W/e.json" >/dev/null && break
	sleep 1
done
jq -e --arg id "$G3" '.grants[] | select(.id == $id)' "$W/e.json" >/dev/null ||
	fail "kagid's timer did not end the window within 40 s"
kagi audit export --format jsonl >"$W/audit.jsonl"
grep -q '"actor":"kagid","action":"sweep.run"' "$W/audit.jsonl" || fail "timer sweep not audited as kagid"
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS sweep_dry_run_and_real"
