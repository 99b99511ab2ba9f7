#!/bin/bash
# kagi audit verify on an intact chain: exit 0 and the record count, which
# matches what kagi status and the export report.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
start_kagid
expect_rc 0 "$KAGI" --config "$CONF" audit verify
grep -Eq "^audit chain intact: [1-9][0-9]* records" "$T/out" ||
	fail "unexpected verify output: $(cat "$T/out")"
expect_rc 0 "$KAGI" --config "$CONF" --json audit verify
json_ok "$T/out"
[ "$(jq -r .ok "$T/out")" = true ] || fail "json ok is not true"
n=$(jq -r .records "$T/out")
head=$(jq -r .head_seq "$T/out")
[ "$n" -ge 1 ] && [ "$n" = "$head" ] || fail "records=$n head_seq=$head"
# The export holds the same records, numbered 1..n, each linked to the last.
expect_rc 0 "$KAGI" --config "$CONF" audit export
jq -s -e --argjson n "$n" '
	length >= $n and
	([.[].seq] == [range(1; length + 1)]) and
	(. as $r | [range(1; length)] | all($r[.].prev == $r[. - 1].hash))' \
	"$T/out" >/dev/null || fail "export is not a linked chain 1..$n: $(head -c 600 "$T/out")"
stop_kagid
echo "ok: audit_verify_ok"
