#!/bin/bash
# card_removed_midway (R-CARD-2, issue 6): the card is pulled out while the
# PIN prompt is on screen (pamtester waiting for the user); the PIN then
# typed does not log anyone in: the login fails within bounded time with an
# error message, no hang; kagid records no successful login; the card works
# again once re-inserted.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
vcard_insert
cardd_opensc_up

fifo=$LOGIN_TMP/pin.fifo
mkfifo "$fifo"
LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" \
	pamtester -v kagi alice authenticate <"$fifo" >"$LOGIN_TMP/rm.out" 2>&1 &
pt=$!
exec 3>"$fifo"
wait_for_line "$LOGIN_TMP/rm.out" 'Card PIN' 20 || lfail "no PIN prompt: $(cat "$LOGIN_TMP/rm.out")"
vcard_remove
start=$(date +%s)
echo "$VCARD_PIN" >&3
exec 3>&-
wait_pid_bounded "$pt" 30 || lfail "the login hung after the card was removed"
st=0
wait "$pt" || st=$?
secs=$(($(date +%s) - start))
out=$(cat "$LOGIN_TMP/rm.out")
[ "$st" != 0 ] || lfail "a login succeeded with the card removed: $out"
grep -q 'successfully authenticated' <<<"$out" && lfail "authenticated: $out"
# the user is told about the card, not sent looking for a network fault
grep -q 'authentication server cannot be reached' <<<"$out" &&
	lfail "card removal reported as an unreachable server: $out"
grep -q 'No staff card was found\|card was removed\|Insert your staff card' <<<"$out" ||
	lfail "no message saying the card is gone: $out"
[ "$secs" -le 20 ] || lfail "refusal took $secs s"
kk audit export
grep -q '"action":"login.ok","object":"alice"' "$KOUT" && lfail "kagid recorded a successful login"

# re-inserted, the card works
vcard_insert
out=$(pam_run -a "$VCARD_PIN" -s auth kagi alice) || lfail "card after re-insertion: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
echo "card_removed_midway: ok"
