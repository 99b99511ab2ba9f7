#!/bin/bash
# kagi-cardd's socket without kagid: malformed and oversize frames are
# answered with an error RESULT and the connection closed (cardd keeps
# serving); a non-root caller asking for another user is refused (SO_PEERCRED)
# while asking for itself goes on (to an unreachable kagid:
# PAM_AUTHINFO_UNAVAIL, never success); account without a kagi login is
# refused.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_tmpdir
D=$LOGIN_TMP/cardd
mkdir -p "$D"
fake_terminal_creds "$D"
softhsm_conf "$D"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cardd_write_conf "$D" "https://127.0.0.1:$port"   # nothing listens there
cardd_start "$D"
grep -q 'event=cardd_start' "$D/cardd.log" || lfail "no start event in the log"

pam_service kagi "auth required $PAM_KAGI socket=$D/cardd.sock" \
	"account required $PAM_KAGI socket=$D/cardd.sock"

# kagid_unreachable: cardd answers, kagid does not
out=$(pam_run -a 1234 -s auth kagi root) && lfail "auth succeeded without kagid"
grep -qx 'auth=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "kagid unreachable: $out"
grep -q 'event=kagid_unreachable' "$D/cardd.log" || lfail "cardd did not log kagid_unreachable"

# nonroot_other_user: nobody may not authenticate as root
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	chmod 0755 "$LOGIN_TMP" "$LOGIN_TMP/pam.d" "$D"
	out=$(pam_run_as nobody -a 1234 -s auth kagi root) && lfail "nobody authenticated as root"
	grep -qx 'auth=PAM_PERM_DENIED' <<<"$out" || lfail "nobody as root: $out"
	grep -q 'event=peer_denied uid=65534' "$D/cardd.log" || lfail "no peer_denied event"
	# ... but nobody may ask for nobody (then kagid is unreachable)
	out=$(pam_run_as nobody -a 1234 -s auth kagi nobody) && lfail "nobody authenticated"
	grep -qx 'auth=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "nobody as nobody: $out"
	# account for another user: refused too
	out=$(pam_run_as nobody -s acct kagi root) && lfail "nobody passed account for root"
	grep -qx 'acct=PAM_PERM_DENIED' <<<"$out" || lfail "nobody account root: $out"
else
	echo "skip: not root or no setpriv: non-root caller checks not run" >&2
fi

# account_without_login: cardd saw no kagi login for root
out=$(pam_run -s acct kagi root) && lfail "account succeeded without a login"
grep -qx 'acct=PAM_PERM_DENIED' <<<"$out" || lfail "account without login: $out"

# malformed frames: error RESULT (code named) and the connection closed
expect_code() {
	local case=$1 code=$2 got
	got=$(python3 "$KAGI_SRC/tests/integration/login/frames.py" "$D/cardd.sock" "$case") ||
		lfail "$case: $got"
	grep -q "^code=$code closed=1 extra=0$" <<<"$got" || lfail "$case: want code $code, got: $got"
}
expect_code oversize_frame -6      # KAGI_ERR_LIMIT
expect_code zero_frame -4          # KAGI_ERR_FORMAT
expect_code junk_body -17          # version byte 'h': KAGI_ERR_VERSION
expect_code wrong_version -17
expect_code answer_first -4
expect_code trailing_bytes -5      # KAGI_ERR_TRAILING
expect_code result_from_client -4
got=$(python3 "$KAGI_SRC/tests/integration/login/frames.py" "$D/cardd.sock" truncated_then_close) ||
	lfail "truncated: $got"
grep -q '^noreply closed=1$' <<<"$got" || lfail "truncated frame: $got"
[ "$(grep -c 'event=cardd_proto_error' "$D/cardd.log")" -ge 8 ] || lfail "protocol errors not logged"

# still serving after all that
kill -0 "$CARDD_PID" || lfail "kagi-cardd died"
out=$(pam_run -a 1234 -s auth kagi root) || true
grep -qx 'auth=PAM_AUTHINFO_UNAVAIL' <<<"$out" || lfail "after bad frames: $out"
cardd_stop
[ -e "$D/cardd.sock" ] && lfail "socket left behind after stop"
echo "cardd_socket: ok"
