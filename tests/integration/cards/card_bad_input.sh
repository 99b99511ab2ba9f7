#!/bin/bash
# Bad input to the card API and verbs: each refused with a clear message,
# nothing changed (same audit record count, same card): unknown serial,
# a transition the state does not allow (found on an active card, activate
# twice), destroy without a method, a malformed serial, unknown members,
# an enrolment for an account of another person, a bad CSR.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/cards/lib.sh"
cards_setup
mk_person S100 "山田 花子" regular hanako
mk_person S200 "佐藤 次郎" part-time jiro
enrol CARD-A S100 hanako
api POST /v1/cards/CARD-A/activate
[ "$API_STATUS" = 200 ] || fail "activate: $(cat "$API_OUT")"
api GET /v1/cards/CARD-A
cp "$API_OUT" "$W/before.json"
n0=$(audit_count)

expect_rc 3 card show NO-SUCH-CARD
grep -q "no card with this serial number" "$KOUT" || fail "unknown serial: $(cat "$KOUT")"
expect_rc 3 card lost NO-SUCH-CARD
# found on an active card
k card found CARD-A && fail "found on an active card succeeded"
grep -q "the card is not lost" "$KOUT" || fail "found on active: $(cat "$KOUT")"
api POST /v1/cards/CARD-A/activate '{}'
[ "$API_STATUS" = 400 ] && jq -e '.detail | test("only a pending card")' "$API_OUT" >/dev/null ||
	fail "activate twice: HTTP $API_STATUS $(cat "$API_OUT")"
# destroy without a method: refused by kagi and by kagid
expect_rc 2 card destroy CARD-A
grep -q -- "--method is required" "$KOUT" || fail "missing method (CLI): $(cat "$KOUT")"
api POST /v1/cards/CARD-A/destroy '{"note":"x"}'
[ "$API_STATUS" = 400 ] && jq -e '.detail | test("method")' "$API_OUT" >/dev/null ||
	fail "missing method (API): HTTP $API_STATUS $(cat "$API_OUT")"
api POST /v1/cards/CARD-A/lost '{"not":"a member"}'
[ "$API_STATUS" = 400 ] || fail "unknown member accepted: $(cat "$API_OUT")"
api POST /v1/cards/CARD-A/lost 'not json'
[ "$API_STATUS" = 400 ] || fail "junk body accepted: HTTP $API_STATUS"
api POST /v1/cards/CARD-A/explode '{}'
[ "$API_STATUS" = 404 ] || fail "unknown operation: HTTP $API_STATUS"
expect_rc 2 card show 'bad serial!'
api GET '/v1/cards?state=broken'
[ "$API_STATUS" = 400 ] || fail "bad state filter: HTTP $API_STATUS"
# enrol: the account of another person, unknown staff number, bad CSR
api POST /v1/cards/enrol "$(enrol_body CARD-B S100 jiro)"
[ "$API_STATUS" = 400 ] && jq -e '.detail | test("does not belong")' "$API_OUT" >/dev/null ||
	fail "another person's account: HTTP $API_STATUS $(cat "$API_OUT")"
api POST /v1/cards/enrol "$(enrol_body CARD-B S999 jiro)"
[ "$API_STATUS" = 404 ] || fail "unknown staff number: HTTP $API_STATUS $(cat "$API_OUT")"
api POST /v1/cards/enrol "$(enrol_body CARD-B S200 jiro | jq -c '.csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"')"
[ "$API_STATUS" = 400 ] && jq -e '.detail | test("CSR")' "$API_OUT" >/dev/null ||
	fail "bad CSR: HTTP $API_STATUS $(cat "$API_OUT")"
api POST /v1/cards/enrol "$(enrol_body 'CARD B' S200 jiro)"
[ "$API_STATUS" = 400 ] || fail "bad card serial: HTTP $API_STATUS"

[ "$(audit_count)" = "$n0" ] || fail "bad input changed the audit log ($n0 -> $(audit_count))"
api GET /v1/cards/CARD-A
cmp -s "$API_OUT" "$W/before.json" || fail "bad input changed the card: $(cat "$API_OUT")"
api GET /v1/cards
[ "$(jq '.cards | length' "$API_OUT")" = 1 ] || fail "a refused enrolment left a card: $(cat "$API_OUT")"
# R-CARD-9: a temporary employee's card says so
enrol CARD-T S200 jiro
jq -e '.card.holder_category == "temporary"' "$API_OUT" >/dev/null || fail "category: $(cat "$API_OUT")"
kagid_stop
echo "PASS card_bad_input"
