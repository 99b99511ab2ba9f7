#!/bin/bash
# Account states at login in the LGWAN zone (password allowed there):
# temporary password -> PAM_NEW_AUTHTOK_REQD, a bad new password lists the
# broken rules (PAM_AUTHTOK_ERR), a good one succeeds and the next login is
# plain; a disabled account and a locked account are refused.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup lgwan
login_user carol 3001
cardd_up

# temporary_password: auth ok -> account says change now
out=$(pam_run -a "$TEMP" -s auth,acct kagi carol) || true
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "temporary password login: $out"
grep -qx 'acct=PAM_NEW_AUTHTOK_REQD' <<<"$out" || lfail "no forced change: $out"
# a weak new password: refused, each broken rule shown
out=$(pam_run -a "$TEMP" -a short -a short -s auth,acct,chauthtok kagi carol) && lfail "weak password accepted: $out"
grep -qx 'chauthtok=PAM_AUTHTOK_ERR' <<<"$out" || lfail "weak password code: $out"
grep -q '^error: ' <<<"$out" || lfail "no broken rule shown: $out"
NEWPW='Kagi-login-2026-strong'
out=$(pam_run -a "$TEMP" -a "$NEWPW" -a "$NEWPW" -s auth,acct,chauthtok kagi carol) || true
grep -qx 'chauthtok=PAM_SUCCESS' <<<"$out" || lfail "change code: $out"
out=$(pam_run -a "$NEWPW" -s auth,acct,open kagi carol) || lfail "login after change: $out"
grep -qx 'acct=PAM_SUCCESS' <<<"$out" || lfail "still must change: $out"
# the old temporary password no longer works
out=$(pam_run -a "$TEMP" -s auth kagi carol) && lfail "old temporary password accepted: $out"
grep -q "$TEMP\|$NEWPW" "$C/cardd.log" && lfail "a password reached cardd's log"

# disabled_account
kk user disable carol
out=$(pam_run -a "$NEWPW" -s auth kagi carol) && lfail "disabled account accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "disabled: $out"
kk user enable carol

# locked_account: wrong passwords until the lockout
for _ in $(seq 10); do pam_run -a wrong-password -s auth kagi carol >/dev/null || true; done
out=$(pam_run -a "$NEWPW" -s auth kagi carol) && lfail "locked account accepted: $out"
grep -qx 'auth=PAM_MAXTRIES' <<<"$out" || lfail "locked account code: $out"
echo "login_account_states: ok"
