#!/bin/bash
# kagi audit export --since SEQ gives exactly the records from SEQ on, in
# jsonl and syslog; --output writes the same bytes to a 0600 file.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
start_kagid
for i in 1 2 3 4; do expect_rc 0 "$KAGI" --config "$CONF" audit verify; done
expect_rc 0 "$KAGI" --config "$CONF" audit export
cp "$T/out" "$T/all.jsonl"
total=$(wc -l <"$T/all.jsonl")
[ "$total" -ge 4 ] || fail "expected >= 4 records, have $total"
since=3
expect_rc 0 "$KAGI" --config "$CONF" audit export --since "$since" --format jsonl
[ "$(jq -s -c '[.[].seq]' "$T/out")" = "$(jq -s -c --argjson s $since '[.[].seq | select(. >= $s)]' "$T/all.jsonl")" ] ||
	fail "--since $since gave seqs $(jq -s -c '[.[].seq]' "$T/out")"
# The records themselves are the same as in the full export.
diff <(tail -n +$since "$T/all.jsonl") "$T/out" >/dev/null || fail "--since records differ from the full export"

expect_rc 0 "$KAGI" --config "$CONF" audit export --since "$since" --format syslog
[ "$(wc -l <"$T/out")" = $((total - since + 1)) ] || fail "syslog export line count"
grep -q "seq=\"$since\"" "$T/out" || fail "syslog export lacks seq $since"
grep -q "seq=\"$((since - 1))\"" "$T/out" && fail "syslog export has a record before $since"

expect_rc 0 "$KAGI" --config "$CONF" audit export --since "$since" --output "$T/exp.jsonl"
[ "$(stat -c %a "$T/exp.jsonl")" = 600 ] || fail "--output file mode is not 0600"
diff <(tail -n +$since "$T/all.jsonl") "$T/exp.jsonl" >/dev/null || fail "--output content differs"

# Beyond the head: nothing, successfully.
expect_rc 0 "$KAGI" --config "$CONF" audit export --since 100000
[ ! -s "$T/out" ] || fail "--since past the head returned records"
# Bad arguments are usage errors, refused before calling kagid.
expect_rc 2 "$KAGI" --config "$CONF" audit export --since -1
expect_rc 2 "$KAGI" --config "$CONF" audit export --since 12x
expect_rc 2 "$KAGI" --config "$CONF" audit export --format xml
stop_kagid
echo "ok: audit_export_since"
