#!/bin/bash
# card_inserted_late (R-LOGIN-1, issue 6): the login starts with an empty
# reader; kagi-cardd asks the user to insert the staff card and waits
# (card_wait); the virtual CAC is inserted in the middle of that wait (after
# the prompt appeared) and the login goes on: PIN prompt, PAM_SUCCESS.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
CARDD_CARD_WAIT=20 cardd_opensc_up

pam_bg "$LOGIN_TMP/late.out" -a "$VCARD_PIN" -s auth kagi alice
wait_for_line "$LOGIN_TMP/late.out" '^info: Insert your staff card' 15 ||
	lfail "no insert-card prompt: $(cat "$LOGIN_TMP/late.out")"
sleep 1
kill -0 "$PAM_BG_PID" 2>/dev/null || lfail "the login ended before the card came: $(cat "$LOGIN_TMP/late.out")"
vcard_insert
wait_pid_bounded "$PAM_BG_PID" 25 || lfail "the login did not finish after the card was inserted"
st=0
wait "$PAM_BG_PID" || st=$?
out=$(cat "$LOGIN_TMP/late.out")
[ "$st" = 0 ] || lfail "login with a card inserted during the wait failed: $out"
grep -qx 'prompt: Card PIN: ' <<<"$out" || lfail "no PIN prompt after insertion: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
echo "card_inserted_late: ok"
