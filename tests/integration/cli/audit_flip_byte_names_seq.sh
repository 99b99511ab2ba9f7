#!/bin/bash
# Flip one byte of one stored audit record (R-LOG-5): kagi audit verify
# exits 7 and names that record's sequence number, also as --json bad_seq.
# The record is found in data.mdb by its prev hash (32 raw bytes, unique to
# it); every copy LMDB holds (live page and stale copy-on-write pages) is
# changed, so the live one certainly is.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
start_kagid
for i in 1 2 3 4 5; do
	expect_rc 0 "$KAGI" --config "$CONF" audit verify
done
expect_rc 0 "$KAGI" --config "$CONF" audit export --format jsonl
cp "$T/out" "$T/before.jsonl"
total=$(wc -l <"$T/before.jsonl")
[ "$total" -ge 5 ] || fail "expected at least 5 audit records, have $total"
stop_kagid

# Record k: an audit.verify record in the middle of the chain.
k=$(jq -s -r '[.[] | select(.action == "audit.verify")][1].seq' "$T/before.jsonl")
[ -n "$k" ] && [ "$k" != null ] && [ "$k" -lt "$total" ] || fail "no middle audit.verify record"
prev=$(jq -r --argjson k "$k" 'select(.seq == $k) | .prev' "$T/before.jsonl")
[ "${#prev}" = 64 ] || fail "record $k has no 64-hex prev: $prev"

mdb=$DEP/data/data.mdb
offsets=$(perl -0777 -ne 'BEGIN { $p = pack("H*", shift) }
	my $i = -1; while (($i = index($_, $p, $i + 1)) >= 0) { print "$i\n" }' \
	"$prev" "$mdb")
[ -n "$offsets" ] || fail "record $k's prev hash not found in $mdb"
for off in $offsets; do
	at=$((off + 7))
	byte=$(od -An -tu1 -j "$at" -N1 "$mdb" | tr -d ' ')
	new=$(( byte ^ 0x01 ))
	printf "$(printf '\\%03o' "$new")" |
		dd of="$mdb" bs=1 seek="$at" count=1 conv=notrunc status=none
	now=$(od -An -tu1 -j "$at" -N1 "$mdb" | tr -d ' ')
	[ "$now" = "$new" ] || fail "byte at $at not flipped"
done

start_kagid
expect_rc 7 "$KAGI" --config "$CONF" audit verify
grep -q "audit chain broken at record $k\b" "$T/err" ||
	fail "verify does not name record $k: $(cat "$T/out" "$T/err")"
expect_rc 7 "$KAGI" --config "$CONF" --json audit verify
json_ok "$T/out"
[ "$(jq -r .error "$T/out")" = corrupt ] || fail "json error is not corrupt"
[ "$(jq -r .bad_seq "$T/out")" = "$k" ] || fail "json bad_seq $(jq -r .bad_seq "$T/out") != $k"
stop_kagid
echo "ok: audit_flip_byte_names_seq (record $k of $total)"
