#!/bin/bash
# card_unsupported (issue 6): a card OpenSC does not know (unknown ATR, every
# APDU answered "instruction not supported") sits in the reader: the login
# is refused with a clear message within the configured card wait, no hang,
# never success; the staff card then works in the same reader.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
vcard_insert --unsupported
CARDD_CARD_WAIT=3 cardd_opensc_up

start=$(date +%s)
pam_bg "$LOGIN_TMP/unsup.out" -a "$VCARD_PIN" -s auth kagi alice
wait_pid_bounded "$PAM_BG_PID" 20 || lfail "login with an unsupported card hung (> 20 s)"
st=0
wait "$PAM_BG_PID" || st=$?
secs=$(($(date +%s) - start))
out=$(cat "$LOGIN_TMP/unsup.out")
[ "$st" != 0 ] || lfail "an unsupported card logged in: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "auth succeeded: $out"
grep -q '^error: No staff card was found' <<<"$out" || lfail "no clear message: $out"
grep -q 'prompt: Card PIN' <<<"$out" && lfail "a PIN was asked for an unsupported card: $out"
[ "$secs" -le 15 ] || lfail "refusal took $secs s"

# the staff card in the same reader works
vcard_remove
vcard_insert
out=$(pam_run -a "$VCARD_PIN" -s auth kagi alice) || lfail "staff card after the unsupported one: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
echo "card_unsupported: ok"
