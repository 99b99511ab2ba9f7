#!/bin/bash
# card_reader_gone_midway (issue 6: "a reader unplugged mid-operation ...
# a clear message, never a hang"): the whole reader stack goes away (pcscd
# stops, as when the USB reader is pulled and its driver with it) while the
# PIN prompt is on screen.  The PIN then typed logs nobody in, the login
# ends within bounded time with a message, kagid records no successful
# login, and kagi-cardd stays up and answers the next login (refused, no
# hang) instead of blocking on a reader that is gone.
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
	pamtester -v kagi alice authenticate <"$fifo" >"$LOGIN_TMP/gone.out" 2>&1 &
pt=$!
exec 3>"$fifo"
wait_for_line "$LOGIN_TMP/gone.out" 'Card PIN' 20 || lfail "no PIN prompt: $(cat "$LOGIN_TMP/gone.out")"
pcscd_stop_quiet
start=$(date +%s)
echo "$VCARD_PIN" >&3
exec 3>&-
wait_pid_bounded "$pt" 30 || lfail "the login hung after the reader went away"
st=0
wait "$pt" || st=$?
secs=$(($(date +%s) - start))
out=$(cat "$LOGIN_TMP/gone.out")
[ "$st" != 0 ] || lfail "a login succeeded with the reader gone: $out"
grep -q 'successfully authenticated' <<<"$out" && lfail "authenticated: $out"
grep -q 'No staff card was found\|card was removed\|Insert your staff card\|Wrong PIN' <<<"$out" ||
	lfail "no message about the card or reader: $out"
[ "$secs" -le 20 ] || lfail "refusal took $secs s"
kk audit export
grep -q '"action":"login.ok","object":"alice"' "$KOUT" && lfail "kagid recorded a successful login"

# kagi-cardd is still there and answers at once: no card, no hang
kill -0 "$CARDD_PID" 2>/dev/null || lfail "kagi-cardd died when the reader went away"
start=$(date +%s)
out=$(pam_run -a "$VCARD_PIN" -s auth kagi alice) && lfail "login without a reader succeeded: $out"
[ $(($(date +%s) - start)) -le 20 ] || lfail "the next login hung"
grep -q 'auth=PAM_SUCCESS' <<<"$out" && lfail "auth: $out"
echo "card_reader_gone_midway: ok"
