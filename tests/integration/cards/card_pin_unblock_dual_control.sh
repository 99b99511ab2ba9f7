#!/bin/bash
# PIN unblock under dual control (R-PRIV-8, policy [cards]
# pin_unblock_dual_control = on by default): operators over mTLS with
# client certificates from `kagi operator cert`.  An operator may not use
# an approval they made themselves; a second operator's approval (role
# approver) works once; used twice, for another card, or absent: refused
# and audited.  An operator without the approver role cannot approve.
# With dual control off an operator unblocks alone (still audited).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/cards/lib.sh"
cards_setup
mk_person S100 "山田 花子" regular hanako
mk_person S300 "Alice Op" regular alice
mk_person S400 "Bob Approver" regular bob
expect_rc 0 operator grant alice --role operator,approver
expect_rc 0 operator grant bob --role approver
mkconf() { # login -> $D/kagi-<login>.conf over mTLS only
	local who=$1
	expect_rc 0 operator cert "$who" --key-out "$D/$who.key" --cert-out "$D/$who.crt"
	awk -v who="$who" '
		/^\[/ { sec = $0 }
		sec == "[client]" && /^socket/ { next }
		sec == "[client]" && /^cert/ { print "cert = " who ".crt"; next }
		sec == "[client]" && /^key/ { print "key = " who ".key"; next }
		{ print }' "$D/kagi.conf" >"$D/kagi-$who.conf"
	chmod 0644 "$D/kagi-$who.conf"
}
mkconf alice
mkconf bob
as() { local who=$1; shift; k --config "$D/kagi-$who.conf" "$@"; }
unblock() { # WHO SERIAL [APPROVAL_ID] -> $API_STATUS, $API_OUT
	local who=$1 body='{}'
	[ $# -ge 3 ] && body="{\"approval_id\":\"$3\"}"
	KN=$((KN + 1))
	API_OUT=$W/api.$KN
	API_STATUS=$(curl -sS --max-time 20 -o "$API_OUT" -w '%{http_code}' \
		--cacert "$D/tls/ca.crt" --cert "$D/$who.crt" --key "$D/$who.key" \
		-X POST -H 'Content-Type: application/json' --data-binary "$body" \
		"https://127.0.0.1:$KAGID_PORT/v1/cards/$2/pin-unblock")
}
approvals_used() {
	"$KAGI_BIN/kagi" audit export --format jsonl >"$W/audit.jsonl" || fail "audit export"
	jq -s '[.[] | select(.action == "card.pin_unblock" and .outcome == "ok")] | length' "$W/audit.jsonl"
}

enrol CARD-P S100 hanako
api POST /v1/cards/CARD-P/activate '{}'
enrol CARD-Q S100 hanako

# no approval at all: refused
unblock alice CARD-P
[ "$API_STATUS" = 403 ] && jq -e '.detail | test("approval is required")' "$API_OUT" >/dev/null ||
	fail "unblock without approval: HTTP $API_STATUS $(cat "$API_OUT")"
# alice approves and tries to use her own approval: refused
as alice --json card approve CARD-P || fail "alice approve: $(cat "$KOUT")"
SELF=$(jq -er .approval_id "$KOUT") || fail "no approval id: $(cat "$KOUT")"
[[ "$SELF" =~ ^[0-9a-f]{32}$ ]] || fail "approval id is not 32 hex: $SELF"
unblock alice CARD-P "$SELF"
[ "$API_STATUS" = 403 ] && jq -e '.detail | test("another operator")' "$API_OUT" >/dev/null ||
	fail "self-approved unblock: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(approvals_used)" = 0 ] || fail "a refused unblock was recorded as done"
jq -e -s 'map(select(.action == "card.pin_unblock" and .outcome == "denied")) | length >= 2' \
	"$W/audit.jsonl" >/dev/null || fail "refusals not audited"
# bob (approver) approves; alice uses it: accepted
as bob card approve CARD-P || fail "bob approve: $(cat "$KOUT")"
OK=$(grep -oE '[0-9a-f]{32}' "$KOUT" | head -1)
[ -n "$OK" ] || fail "kagi card approve printed no id: $(cat "$KOUT")"
# an approval for one card does not unblock another
unblock alice CARD-Q "$OK"
[ "$API_STATUS" = 403 ] || fail "approval used for another card: HTTP $API_STATUS $(cat "$API_OUT")"
unblock alice CARD-P "$OK"
[ "$API_STATUS" = 200 ] || fail "unblock with bob's approval: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(approvals_used)" = 1 ] || fail "the unblock was not audited"
jq -e -s --arg id "$OK" 'map(select(.action == "card.pin_unblock" and .outcome == "ok" and
	.object == "CARD-P" and (.actor | test("alice")) and .detail.approval_id == $id and
	.detail.approved_by == "bob")) | length == 1' \
	"$W/audit.jsonl" >/dev/null || fail "card.pin_unblock audit record: $(grep pin_unblock "$W/audit.jsonl")"
# used twice: refused
unblock alice CARD-P "$OK"
[ "$API_STATUS" = 403 ] && jq -e '.detail | test("already been used")' "$API_OUT" >/dev/null ||
	fail "approval used twice: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(approvals_used)" = 1 ] || fail "second use recorded"
# bob has no operator role: he cannot unblock; without the approver role
# alice cannot approve
unblock bob CARD-P "$SELF"
[ "$API_STATUS" = 403 ] && jq -e '.action == "card.pin_unblock"' "$API_OUT" >/dev/null ||
	fail "bob unblocked without the operator role: $(cat "$API_OUT")"
expect_rc 0 operator revoke alice --role approver
as alice card approve CARD-P && fail "an operator without the approver role approved"
grep -q "card.approve" "$KOUT" || fail "refusal does not name the action: $(cat "$KOUT")"
# a bad approval id is a clear error
unblock alice CARD-P "zz"
[ "$API_STATUS" = 400 ] || fail "malformed approval id: HTTP $API_STATUS"
unblock alice CARD-P "ffffffffffffffffffffffffffffffff"
[ "$API_STATUS" = 404 ] && jq -e '.detail == "no such approval"' "$API_OUT" >/dev/null ||
	fail "unknown approval id: HTTP $API_STATUS $(cat "$API_OUT")"
kagid_stop

# dual control off: the operator alone, still audited
sed -i -e 's/^pin_unblock_dual_control = on$/pin_unblock_dual_control = off/' "$D/policy.ini"
grep -q '^pin_unblock_dual_control = off$' "$D/policy.ini" || fail "policy not changed"
kagid_start "$D"
unblock alice CARD-P
[ "$API_STATUS" = 200 ] || fail "unblock with dual control off: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(approvals_used)" = 2 ] || fail "single-operator unblock not audited"
kagid_stop
echo "PASS card_pin_unblock_dual_control"
