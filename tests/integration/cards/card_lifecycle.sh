#!/bin/bash
# The card lifecycle through kagid and kagi (docs/CARDS.md):
# enrol (CSR made with openssl; the API does not care where the key lives)
# -> pending -> activate -> active, holder category from the employment
# type (R-CARD-9); the same card for a second person is refused with a clear
# message and nothing changes (R-CARD-1); lost -> `openssl ocsp` says revoked
# with reason certificateHold and `openssl verify -crl_check` fails
# (R-CARD-4); found -> good again; a retried enrolment supersedes the
# earlier pending certificate; replace -> the old card's certificate is
# revoked (superseded), the old card is "replaced" with its case open until
# it is returned (R-CARD-5); destroy records method, operator and time
# (R-CARD-6); the HR plan of a leaver lists the cards to collect (R-CARD-7).
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/cards/lib.sh"
cards_setup

mk_person S100 "山田 花子" temporary hanako
mk_person S200 "佐藤 次郎" regular jiro

# ---- enrol -> pending -> activate -> active
enrol CARD-0001 S100 hanako
jq -e '.card.state == "pending" and .card.holder == "S100" and
	.card.login == "hanako" and .card.holder_category == "temporary" and
	(.card.certs | length) == 1 and .card.atr == "3bf81300008131fe45" and
	(.chain | length) == 2' "$API_OUT" >/dev/null ||
	fail "enrol answer: $(cat "$API_OUT")"
C1=$(openssl x509 -in "$W/CARD-0001.crt" -noout -serial | sed 's/^serial=//')
[ "$(jq -r '.card.certs[0]' "$API_OUT")" = "$C1" ] || fail "card does not name its certificate"
openssl verify -CAfile "$W/chain.pem" "$W/CARD-0001.crt" >/dev/null ||
	fail "the enrolled certificate does not verify"
openssl x509 -in "$W/CARD-0001.crt" -noout -subject | grep -q "山田 花子\|\\\\E5" ||
	openssl x509 -in "$W/CARD-0001.crt" -noout -subject -nameopt utf8 | grep -q "山田 花子" ||
	fail "subject is not the person from the store: $(openssl x509 -in "$W/CARD-0001.crt" -noout -subject -nameopt utf8)"
audit_has card.enrol ok CARD-0001
# a retry of a pending enrolment: the earlier certificate is superseded
cp "$W/CARD-0001.crt" "$W/first.crt"
enrol CARD-0001 S100 hanako
jq -e '(.card.certs | length) == 2 and .card.state == "pending"' "$API_OUT" >/dev/null ||
	fail "retry answer: $(cat "$API_OUT")"
[ "$(ocsp_status "$W/first.crt")" = revoked ] || fail "retry left the first certificate usable: $(cat "$W/ocsp.out")"
grep -q "superseded" "$W/ocsp.out" || fail "first certificate not superseded: $(cat "$W/ocsp.out")"
[ "$(ocsp_status "$W/CARD-0001.crt")" = good ] || fail "new certificate not good: $(cat "$W/ocsp.out")"
api POST /v1/cards/CARD-0001/activate '{}'
[ "$API_STATUS" = 200 ] || fail "activate: HTTP $API_STATUS $(cat "$API_OUT")"
[ "$(card_state CARD-0001)" = active ] || fail "card not active after activate"
expect_rc 0 card list --holder S100
grep -q "CARD-0001" "$KOUT" || fail "card list: $(cat "$KOUT")"
expect_rc 0 --json card show CARD-0001
jq -e '.state == "active" and .case_open == false and .disposal == null' "$KOUT" >/dev/null ||
	fail "card show --json: $(cat "$KOUT")"

# ---- R-CARD-1: the same card for another person: refused, nothing changed
n0=$(audit_count)
api POST /v1/cards/check '{"serial":"CARD-0001","staff_number":"S200"}'
[ "$API_STATUS" = 409 ] || fail "check: HTTP $API_STATUS $(cat "$API_OUT")"
api POST /v1/cards/check '{"serial":"CARD-0001","staff_number":"S100"}'
[ "$API_STATUS" = 409 ] || fail "check for the holder's own active card: HTTP $API_STATUS"
api POST /v1/cards/check '{"serial":"CARD-NEW","staff_number":"S200"}'
[ "$API_STATUS" = 200 ] && jq -e '.free == true' "$API_OUT" >/dev/null || fail "check free: $(cat "$API_OUT")"
api POST /v1/cards/enrol "$(enrol_body CARD-0001 S200 jiro)"
[ "$API_STATUS" = 409 ] || fail "second person's enrol: HTTP $API_STATUS $(cat "$API_OUT")"
jq -e '.error == "conflict" and (.detail | test("another person"))' "$API_OUT" >/dev/null ||
	fail "R-CARD-1 refusal is not clear: $(cat "$API_OUT")"
[ "$(audit_count)" = "$n0" ] || fail "a refused enrolment changed the audit log"
api GET /v1/cards/CARD-0001
jq -e '.holder == "S100" and .state == "active" and (.certs | length) == 2' "$API_OUT" >/dev/null ||
	fail "the card changed after a refused enrolment: $(cat "$API_OUT")"
[ "$(ocsp_status "$W/CARD-0001.crt")" = good ] || fail "refused enrolment touched the certificate"

# ---- lost: hold at once (OCSP and CRL), found: released
crl_verify "$W/CARD-0001.crt" || fail "active card's certificate fails verify -crl_check: $(cat "$W/verify.out")"
expect_rc 0 card lost CARD-0001 --note "lost on the train"
[ "$(card_state CARD-0001)" = lost ] || fail "card not lost"
[ "$(ocsp_status "$W/CARD-0001.crt")" = revoked ] || fail "OCSP after lost: $(cat "$W/ocsp.out")"
grep -qi "Reason: certificateHold" "$W/ocsp.out" || fail "OCSP reason is not certificateHold: $(cat "$W/ocsp.out")"
if crl_verify "$W/CARD-0001.crt"; then fail "openssl verify -crl_check accepted a lost card's certificate"; fi
grep -q "certificate revoked" "$W/verify.out" || fail "verify: $(cat "$W/verify.out")"
audit_has card.lost ok CARD-0001
expect_rc 0 card found CARD-0001
[ "$(card_state CARD-0001)" = active ] || fail "card not active after found"
[ "$(ocsp_status "$W/CARD-0001.crt")" = good ] || fail "OCSP after found: $(cat "$W/ocsp.out")"
crl_verify "$W/CARD-0001.crt" || fail "found card still fails verify -crl_check: $(cat "$W/verify.out")"

# ---- replace: new card with replaces -> activate -> old superseded, case open
expect_rc 0 card lost CARD-0001
enrol CARD-0002 S100 hanako CARD-0001
jq -e '.card.replaces == "CARD-0001"' "$API_OUT" >/dev/null || fail "replacement: $(cat "$API_OUT")"
api POST /v1/cards/CARD-0002/activate '{}'
[ "$API_STATUS" = 200 ] || fail "activate replacement: HTTP $API_STATUS $(cat "$API_OUT")"
api GET /v1/cards/CARD-0001
jq -e '.state == "replaced" and .replaced_by == "CARD-0002" and .case_open == true' "$API_OUT" >/dev/null ||
	fail "old card after replace: $(cat "$API_OUT")"
[ "$(ocsp_status "$W/CARD-0001.crt")" = revoked ] || fail "old card's certificate not revoked"
grep -q "superseded" "$W/ocsp.out" || fail "old card's certificate not superseded: $(cat "$W/ocsp.out")"
[ "$(ocsp_status "$W/CARD-0002.crt")" = good ] || fail "new card's certificate not good"
expect_rc 0 card list --state replaced
grep -q "CARD-0001" "$KOUT" && grep -q "case open" "$KOUT" || fail "open case not listed: $(cat "$KOUT")"

# ---- the HR plan of a leaver lists the cards not returned (R-CARD-7)
printf 'staff_no,name,kana,section,employment,status,effective_date\n' >"$W/feed.csv"
printf 'S100,山田 花子,,市民課,temporary,retired,2026-11-30\n' >>"$W/feed.csv"
printf 'S200,佐藤 次郎,,市民課,regular,active,2026-04-01\n' >>"$W/feed.csv"
expect_rc 0 --json hr plan "$W/feed.csv" --out "$W/plan.json"
jq -e '[.cards_collect[].serial] | sort == ["CARD-0001","CARD-0002"]' "$W/plan.json" >/dev/null ||
	fail "cards_collect: $(jq -c .cards_collect "$W/plan.json")"
expect_rc 0 hr plan "$W/feed.csv"
grep -q "CARD-0001" "$KOUT" || fail "kagi hr plan does not show the card: $(cat "$KOUT")"

# ---- return closes the case; destroy records method, operator, time
expect_rc 0 card return CARD-0001 --note "handed back at the counter"
api GET /v1/cards/CARD-0001
jq -e '.state == "returned" and .case_open == false and .disposal.method == "return"' "$API_OUT" >/dev/null ||
	fail "returned card: $(cat "$API_OUT")"
expect_rc 0 card destroy CARD-0001 --method shredder --note "裁断"
expect_rc 0 --json card show CARD-0001
jq -e '.state == "destroyed" and .disposal.method == "shredder" and
	.disposal.note == "裁断" and (.disposal.operator | length) > 0 and
	(.disposal.time | test("^20[0-9][0-9]-"))' "$KOUT" >/dev/null ||
	fail "destroy record: $(cat "$KOUT")"
audit_has card.destroy ok CARD-0001
expect_rc 0 card show CARD-0001
grep -q "shredder" "$KOUT" || fail "card show: $(cat "$KOUT")"
# the plan now lists only the card still out
expect_rc 0 --json hr plan "$W/feed.csv" --out "$W/plan2.json"
jq -e '[.cards_collect[].serial] == ["CARD-0002"]' "$W/plan2.json" >/dev/null ||
	fail "cards_collect after return/destroy: $(jq -c .cards_collect "$W/plan2.json")"
# a destroyed card is never enrolled again
api POST /v1/cards/enrol "$(enrol_body CARD-0001 S200 jiro)"
[ "$API_STATUS" = 409 ] || fail "destroyed card enrolled again: HTTP $API_STATUS"
# the chain still verifies
"$KAGI_BIN/kagi" audit verify >/dev/null || fail "audit chain does not verify"
kagid_stop
echo "PASS card_lifecycle"
