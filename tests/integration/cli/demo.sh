#!/bin/bash
# make demo's main job must run to the end: scripts/demo in a temp dir exits
# 0, shows kagi status (English and Japanese) and an intact audit chain, and
# ends with a real terminal login (issue 5; R-LOGIN-1, R-LOGIN-4, R-MFA-1,
# R-MFA-2, R-ID-1): the card + PIN login and the security-key login through
# pamtester succeed with the last-login lines, and after the HR departure the
# same card + PIN login is refused, with kagid's audit saying why.
. "$(dirname "$0")/lib.sh"

: "${KAGI_SRC:?}"
rc=0
KAGI_DEMO_DIR=$T/demo KAGI_BIN=$KAGI_BIN bash "$KAGI_SRC/scripts/demo" \
	>"$T/demo.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$T/demo.out" >&2
	fail "scripts/demo exited $rc"
fi
O=$T/demo.out
grep -q "is answering" "$O" || { cat "$O" >&2; fail "demo did not show kagi status"; }
grep -q "応答しています" "$O" || fail "demo did not show kagi status in Japanese"
grep -q "audit chain intact" "$O" || fail "demo did not verify the audit chain"
grep -q '"action"' "$O" || fail "demo did not show exported records"

# the output between one numbered step header and the next
section() {
	awk -v pat="$1" '
		/^==> [0-9]+\. / { on = index($0, pat) > 0; next }
		on { print }' "$O"
}
section "Log in with the staff card and its PIN" >"$T/card.out"
section "log in with the security key alone" >"$T/fido.out"
section "login after the departure: refused" >"$T/after.out"
[ -s "$T/card.out" ] || { cat "$O" >&2; fail "demo has no card + PIN login step"; }
[ -s "$T/fido.out" ] || { cat "$O" >&2; fail "demo has no security-key login step"; }
[ -s "$T/after.out" ] || { cat "$O" >&2; fail "demo has no login after the departure"; }

# demo_card_login_succeeds: pamtester's own words, and every PAM step
for w in 'successfully authenticated' 'account management done' \
	'successfully opened a session' 'session has successfully been closed'; do
	grep -q "pamtester: $w" "$T/card.out" || { cat "$T/card.out" >&2; fail "card login: no '$w'"; }
done
grep -q 'Card PIN: ' "$T/card.out" || fail "card login: no PIN prompt"
grep -q 'My Number zone' "$T/card.out" || fail "card login: no banner"
grep -q 'This is your first login.' "$T/card.out" || fail "card login: no first-login line"
grep -q '246810' "$T/card.out" && fail "card login: the PIN was echoed"

# demo_fido_login_succeeds, with the previous (card) login shown
grep -q 'Touch your security key.' "$T/fido.out" || { cat "$T/fido.out" >&2; fail "FIDO login: no touch prompt"; }
grep -q 'pamtester: successfully authenticated' "$T/fido.out" || fail "FIDO login did not authenticate"
grep -q 'pamtester: successfully opened a session' "$T/fido.out" || fail "FIDO login: no session"
grep -Eq '^Last login: .+ on term-01$' "$T/fido.out" || fail "FIDO login: no last-login line"
grep -Eq '^Last logout: ' "$T/fido.out" || fail "FIDO login: no last-logout line"

# demo_login_refused_after_departure
grep -q 'state: disabled' "$O" || fail "the account is not shown disabled after hr apply"
grep -q 'card.crt: revoked' "$O" || fail "OCSP does not show the card certificate revoked"
grep -q 'successfully authenticated' "$T/after.out" &&
	{ cat "$T/after.out" >&2; fail "a login succeeded after the departure"; }
grep -q 'pamtester: Permission denied' "$T/after.out" ||
	{ cat "$T/after.out" >&2; fail "no PAM refusal after the departure"; }
grep -q '=> refused' "$T/after.out" || fail "the refusal is not shown"
grep -q '"action":"login.refused".*"reason":"account_disabled"' "$T/after.out" ||
	{ cat "$T/after.out" >&2; fail "kagid's audit does not say the account is disabled"; }

[ ! -e "$T/demo" ] || fail "demo did not clean up its directory"
echo "ok: demo"
