#!/bin/bash
# Group commit of issuances (docs/ARCHITECTURE.md "Group commit", R-LOG-1,
# R-SIGN-5): concurrent issuances share durable commits, yet
#  1. 20 parallel `kagi ca issue` all succeed with distinct serials, every
#     one is in `kagi ca list` with its own "ca.issue" audit record, and the
#     audit chain verifies;
#  2. under 20 concurrent connections (bench_ca issue) batches of more than
#     one issuance really happen (kagid's log), and
#  3. kill -9 during batches leaves no certificate answered OK but missing:
#     after the restart every serial the client was told exists, with its
#     audit record, and the chain verifies (3 rounds).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/ca/lib.sh"
BENCH=$KAGI_BIN/bench_ca
[ -x "$BENCH" ] || fail "bench_ca is not built ($BENCH); it is the concurrent client"
ca_setup
csr_ec "$W/k.csr"

# every serial in file $1 is in the store and has its own ca.issue record
check_all_recorded() { # FILE WHAT
	kagi --json ca list --profile server >"$W/list.json" || fail "$2: kagi ca list failed"
	jq -r '.certs[].serial' "$W/list.json" | sort >"$W/list.set"
	kagi --json audit export >"$W/audit.json" || fail "$2: kagi audit export failed"
	jq -r '.. | objects | select(.action? == "ca.issue") | .object' "$W/audit.json" | sort >"$W/audit.set"
	[ -s "$W/audit.set" ] || fail "$2: no ca.issue records in the audit export"
	sort "$1" >"$W/told.set"
	missing=$(comm -23 "$W/told.set" "$W/list.set" | head -5)
	[ -z "$missing" ] || fail "$2: answered OK but not in kagi ca list: $missing"
	missing=$(comm -23 "$W/told.set" "$W/audit.set" | head -5)
	[ -z "$missing" ] || fail "$2: answered OK but no ca.issue audit record: $missing"
	# and nothing in the store without its audit record (one transaction)
	missing=$(comm -23 "$W/list.set" "$W/audit.set" | head -5)
	[ -z "$missing" ] || fail "$2: certificate without an audit record: $missing"
	kagi audit verify >"$W/verify.out" 2>&1 || fail "$2: audit chain broken: $(cat "$W/verify.out")"
}

# 1. 20 parallel kagi ca issue
pids=()
for i in $(seq 20); do
	kagi --json ca issue --profile server --csr "$W/k.csr" --dns "p$i.ward.example" \
		>"$W/p$i.json" 2>"$W/p$i.err" &
	pids+=($!)
done
for i in $(seq 20); do
	wait "${pids[$((i - 1))]}" || fail "parallel issue $i failed: $(cat "$W/p$i.err")"
done
for i in $(seq 20); do jq -er .serial "$W/p$i.json"; done >"$W/par.serials" ||
	fail "a parallel issue answered without a serial"
[ "$(sort -u "$W/par.serials" | wc -l)" = 20 ] || fail "20 parallel issues gave $(sort -u "$W/par.serials" | wc -l) distinct serials"
check_all_recorded "$W/par.serials" "parallel kagi ca issue"
# the certificates are real: each verifies and carries its own name
for i in 1 20; do
	jq -r .pem "$W/p$i.json" >"$W/p$i.crt"
	verify_chain "$W/p$i.crt"
	ext "$W/p$i.crt" "subjectAltName" | grep -q "p$i.ward.example" || fail "certificate $i lacks its DNS name"
done
echo "20 parallel issues: 20 distinct serials, all listed and audited"

# 2. concurrent connections share commits
"$BENCH" issue "$KAGID_DIR/run/kagid.sock" "$W/k.csr" 400 b 20 >"$W/b.serials" 2>"$W/b.err" ||
	fail "bench_ca issue failed: $(tail -3 "$W/b.err")"
[ "$(sort -u "$W/b.serials" | wc -l)" = 400 ] || fail "400 concurrent issues gave $(sort -u "$W/b.serials" | wc -l) distinct serials"
check_all_recorded "$W/b.serials" "20 concurrent connections"
big=$(sed -n 's/.*event=group_commit members=\([0-9]*\) .*result=ok.*/\1/p' "$KAGID_DIR/kagid.log" |
	sort -n | tail -1)
[ -n "$big" ] && [ "$big" -gt 1 ] ||
	fail "no batch with more than one issuance under 20 concurrent connections (largest: ${big:-none})"
grep -q 'event=group_commit_failed' "$KAGID_DIR/kagid.log" && fail "a batch failed"
echo "400 issues on 20 connections: all recorded; largest batch $big"

# 3. kill -9 during batches
: >"$W/told.all"
for round in 1 2 3; do
	"$BENCH" issue "$KAGID_DIR/run/kagid.sock" "$W/k.csr" 1000000 "k$round-" 20 \
		>"$W/k$round.serials" 2>"$W/k$round.err" &
	BP=$!
	# kill once the client has been answered at least 50 times
	for _ in $(seq 200); do
		[ "$(wc -l <"$W/k$round.serials")" -ge 50 ] && break
		sleep 0.05
	done
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	kill -KILL "$KAGID_PID"
	wait "$KAGID_PID" 2>/dev/null || true
	KAGID_PID=
	wait "$BP" 2>/dev/null || true   # it stops when it cannot reconnect
	n=$(wc -l <"$W/k$round.serials")
	[ "$n" -ge 50 ] || fail "round $round: the client was answered only $n times before the kill"
	cat "$W/k$round.serials" >>"$W/told.all"
	kagid_start "$KAGID_DIR"
	check_all_recorded "$W/told.all" "round $round after kill -9"
	echo "round $round: killed after $n answers; every answered serial is in the store and audited"
done
[ "$(sort "$W/told.all" | uniq -d | wc -l)" = 0 ] || fail "a serial was answered twice"
kagid_stop
echo "PASS group_commit"
