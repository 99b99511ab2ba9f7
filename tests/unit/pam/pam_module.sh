#!/bin/bash
# pam_kagi.so on its own: only pam_sm_* exported; cardd unreachable is
# PAM_AUTHINFO_UNAVAIL in every phase and never success; an unknown option
# is refused (fail closed); socket= must be absolute.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_tmpdir

[ -f "$PAM_KAGI" ] || lfail "pam_kagi.so not built at $PAM_KAGI"

# exported_symbols: nothing but the PAM entry points
syms=$(nm -D --defined-only "$PAM_KAGI" | awk '{print $3}' | sort)
want=$(printf '%s\n' pam_sm_acct_mgmt pam_sm_authenticate pam_sm_chauthtok \
	pam_sm_close_session pam_sm_open_session pam_sm_setcred | sort)
[ "$syms" = "$want" ] || lfail "exported symbols differ: $(echo $syms)"

# cardd_unreachable: auth, account and password all fail, never succeed
pam_service kagi-down \
	"auth required $PAM_KAGI socket=$LOGIN_TMP/no-such.sock" \
	"account required $PAM_KAGI socket=$LOGIN_TMP/no-such.sock" \
	"password required $PAM_KAGI socket=$LOGIN_TMP/no-such.sock" \
	"session required $PAM_KAGI socket=$LOGIN_TMP/no-such.sock"
out=$(pam_run -a 1234 -s auth kagi-down alice) && lfail "auth succeeded without cardd"
grep -qx 'auth=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "auth without cardd: $out"
out=$(pam_run -s acct kagi-down alice) && lfail "account succeeded without cardd"
grep -qx 'acct=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "account without cardd: $out"
out=$(pam_run -a old -a new -a new -s chauthtok kagi-down alice) && lfail "password change succeeded without cardd"
grep -q '^chauthtok=PAM_SUCCESS' <<<"$out" && lfail "chauthtok succeeded: $out"
# session without a kagi login: not ours (ignored), and with required only
# pam_ignore's outcome -> libpam turns an all-ignore stack into an error
out=$(pam_run -s open kagi-down alice) || true
grep -qx 'open=PAM_SUCCESS' <<<"$out" && lfail "session opened without any kagi login: $out"

# a socket path that is a regular file, not a socket
: >"$LOGIN_TMP/not-a-socket"
pam_service kagi-file "auth required $PAM_KAGI socket=$LOGIN_TMP/not-a-socket"
out=$(pam_run -a 1234 kagi-file alice) && lfail "auth succeeded against a plain file"
grep -qx 'auth=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "plain file socket: $out"

# unknown_option: refused, whatever it says
for opt in nouserok debug=1 socket=relative/path try_first_pass; do
	pam_service kagi-opt "auth required $PAM_KAGI $opt"
	out=$(pam_run -a 1234 kagi-opt alice) && lfail "auth succeeded with option $opt"
	grep -qx 'auth=PAM_SERVICE_ERR' <<<"$out" || lfail "option $opt: $out"
done

# a sufficient kagi line followed by pam_deny: still refused
pam_service kagi-suff "auth sufficient $PAM_KAGI socket=$LOGIN_TMP/no-such.sock" \
	"auth required /usr/lib/x86_64-linux-gnu/security/pam_deny.so"
out=$(pam_run -a 1234 kagi-suff alice) && lfail "sufficient stack succeeded: $out"
echo "pam_module: ok"
