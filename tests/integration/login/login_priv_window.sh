#!/bin/bash
# Privileged accounts through PAM (R-PRIV-1, R-PRIV-7, R-ID-3): card + PIN
# for a privileged account succeeds only inside an approved, open window;
# the account phase tells the person when the window ends ("This
# privileged session ends at ..." in the local time zone, through the PAM
# conversation) and the session phase does not repeat it.  Refused with
# PAM_PERM_DENIED (kagid's denied/outside_window) and audited: no window,
# a window only requested, an approved window that opens later, and a
# revoked window.
set -euo pipefail
export TZ=Asia/Tokyo
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
kk person add 2101 --name "Kanri Sha" --employment regular
kk --json user add adm1 --kind privileged --person 2101
login_user appr1 2102
kk operator grant appr1 --role approver
# appr1 approves over mTLS with its own operator certificate
kk operator cert appr1 --key-out "$OUT/appr1.key" --cert-out "$OUT/appr1.crt"
awk -v c="$OUT/appr1.crt" -v k="$OUT/appr1.key" '
		/^\[client\]/ {inc=1}
		inc && /^socket = / {next}
		inc && /^cert = / {print "cert = " c; next}
		inc && /^key = / {print "key = " k; next}
		{print}' "$D/kagi.conf" >"$D/appr1.conf"
chmod 0644 "$D/appr1.conf"
approve() { KAGI_CONFIG=$D/appr1.conf kk --json priv approve "$1"; }
card_make card-adm1 adm1
cardd_up

refused_outside() { # WHAT
	local out
	out=$(pam_run -a "$CARD_PIN" -s auth,acct kagi adm1) && lfail "$1: privileged login accepted: $out"
	grep -qx 'auth=PAM_PERM_DENIED' <<<"$out" || lfail "$1: want PAM_PERM_DENIED: $out"
	grep -q 'privileged session ends' <<<"$out" && lfail "$1: a session end was shown: $out"
	return 0
}
outside_audits() {
	kk audit export --format jsonl
	jq -s 'map(select(.action == "login.refused" and .object == "adm1" and
		.outcome == "denied" and .detail.reason == "outside_window")) | length' "$KOUT"
}

# no_window
refused_outside "no window"
[ "$(outside_audits)" = 1 ] || lfail "outside_window refusal not audited"

# requested_not_approved
kk --json priv request adm1 --for 30m --reason "patching"
ID=$(jq -er .id "$KOUT")
refused_outside "requested window"

# approved_window_success: pamtester (card + PIN) inside the window
approve "$ID"
END=$(jq -er .end "$KOUT")
END_LOCAL=$(date -d "$END" '+%Y-%m-%d %H:%M:%S %Z')
out=$(echo "$CARD_PIN" | LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
	PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" KAGI_LOCALEDIR="$KAGI_BUILD/locale" \
	pamtester -v kagi adm1 authenticate acct_mgmt open_session close_session 2>&1) ||
	lfail "pamtester privileged login inside the window: $out"
grep -q 'successfully authenticated' <<<"$out" || lfail "pamtester: $out"
grep -qF "This privileged session ends at $END_LOCAL." <<<"$out" ||
	lfail "session end ($END_LOCAL) not shown: $out"
grep -q 'JST\.$' <<<"$(grep 'privileged session ends' <<<"$out")" || lfail "session end not in local time: $out"
# the driver: shown once, in the account phase, not again at session open
out=$(pam_run -a "$CARD_PIN" -s auth,acct,open,close kagi adm1) || lfail "driver privileged login: $out"
[ "$(grep -c 'privileged session ends' <<<"$out")" = 1 ] || lfail "session end shown $(grep -c 'privileged session ends' <<<"$out") times: $out"
awk '/^acct=/ {a=NR} /privileged session ends/ {e=NR} END {exit !(e < a)}' <<<"$out" ||
	lfail "session end not shown in the account phase: $out"
kk audit export --format jsonl
jq -e -s --arg e "$END" 'map(select(.action == "login.ok" and .object == "adm1" and
	.detail.session_end == $e)) | length == 2' "$KOUT" >/dev/null ||
	lfail "login.ok audit records lack the session end $END"

# revoked_window
kk priv revoke "$ID"
refused_outside "revoked window"

# window_not_yet_open: approved, but it opens in an hour
kk --json priv request adm1 --for 30m --reason "later" --start "$(date -u -d '+1 hour' '+%Y-%m-%dT%H:%M:%SZ')"
ID2=$(jq -er .id "$KOUT")
approve "$ID2"
refused_outside "window not yet open"
[ "$(outside_audits)" = 4 ] || lfail "want 4 outside_window refusals audited, got $(outside_audits)"
grep -q "$CARD_PIN" "$C/cardd.log" && lfail "the PIN reached cardd's log"
echo "login_priv_window: ok"
