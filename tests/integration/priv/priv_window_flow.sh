#!/bin/bash
# Privileged windows end to end (R-PRIV-1, R-PRIV-2, R-PRIV-7, R-ID-3): the
# local administrator requests a window on a privileged account; approving
# it themselves is refused and audited; an approver over mTLS (`kagi
# operator cert`) approves it; `kagi priv list` shows it; password login
# for the privileged account works only inside the approved window and the
# answer gives the window's end.  A delegate window needs the CISO; a
# window longer than the policy maximum is refused.
set -euo pipefail
. "${KAGI_SRC:?}/tests/integration/hr/lib.sh"
hr_setup

kagi person add S001 --name "管理 者" --employment regular >/dev/null || fail "person add"
kagi person add S002 --name "承認 者" --employment regular >/dev/null || fail "person add"
kagi person add S003 --name "情報 統括" --employment regular >/dev/null || fail "person add"
kagi --json user add adm1 --kind privileged --person S001 >"$W/adm1.json" || fail "user add adm1"
TEMP=$(jq -er .temporary_password "$W/adm1.json")
kagi user add appr1 --kind personal --person S002 >/dev/null || fail "user add appr1"
kagi user add ciso1 --kind personal --person S003 >/dev/null || fail "user add ciso1"
kagi operator grant appr1 --role approver >/dev/null || fail "grant approver"
kagi operator grant ciso1 --role ciso >/dev/null || fail "grant ciso"
as_op() { # LOGIN: a kagi.conf for that operator over mTLS (no socket)
	local who=$1
	kagi operator cert "$who" --key-out "$W/$who.key" --cert-out "$W/$who.crt" >/dev/null 2>&1 ||
		fail "operator cert $who"
	awk -v c="$W/$who.crt" -v k="$W/$who.key" '
			/^\[client\]/ {inc=1}
			inc && /^socket = / {next}
			inc && /^cert = / {print "cert = " c; next}
			inc && /^key = / {print "key = " k; next}
			{print}' "$D/kagi.conf" >"$D/$who.conf"
	chmod 0644 "$D/$who.conf"
}
as_op appr1
as_op ciso1
KAGI_CONFIG=$D/appr1.conf kagi --json status >"$W/s.json" 2>&1 || fail "appr1 cannot reach kagid over mTLS: $(cat "$W/s.json")"
grep -q '"endpoint": "https://' "$W/s.json" || fail "appr1 not over HTTPS: $(cat "$W/s.json")"

login() {
	api POST /v1/auth/password "{\"login\":\"adm1\",\"password\":\"$TEMP\"}" >"$W/login.json" || true
}
# no window: refused
login
jq -e '.error == "denied"' "$W/login.json" >/dev/null || fail "login without a window: $(cat "$W/login.json")"

kagi --json priv request adm1 --for 30m --reason "月次パッチ適用" >"$W/req.json" || fail "request"
ID=$(jq -r .id "$W/req.json")
[ "$(jq -r .state "$W/req.json")" = requested ] || fail "not requested"
# a requested window does not open the account
login
jq -e '.error == "denied"' "$W/login.json" >/dev/null || fail "login in a requested window: $(cat "$W/login.json")"

# self-approval: refused and audited
rc=0; kagi priv approve "$ID" >"$W/self.out" 2>&1 || rc=$?
[ "$rc" = 4 ] || fail "self-approval: exit $rc, want 4: $(cat "$W/self.out")"
grep -q 'cannot approve your own request' "$W/self.out" || fail "self-approval message: $(cat "$W/self.out")"
kagi audit export --format jsonl >"$W/a.jsonl"
grep -q "\"action\":\"priv.approve\",\"object\":\"$ID\",\"outcome\":\"denied\"" "$W/a.jsonl" ||
	fail "self-approval not audited"
grep "\"object\":\"$ID\",\"outcome\":\"denied\"" "$W/a.jsonl" | grep -q self_approval || fail "audit lacks the reason"

# approval by another operator over mTLS
KAGI_CONFIG=$D/appr1.conf kagi --json priv approve "$ID" >"$W/ap.json" 2>&1 || fail "approve by appr1: $(cat "$W/ap.json")"
[ "$(jq -r .state "$W/ap.json")" = approved ] || fail "not approved"
[ "$(jq -r .approver "$W/ap.json")" = appr1 ] || fail "approver not appr1: $(cat "$W/ap.json")"
# approving again: no longer waiting
rc=0; KAGI_CONFIG=$D/appr1.conf kagi priv approve "$ID" >"$W/again.out" 2>&1 || rc=$?
[ "$rc" = 8 ] || fail "second approval: exit $rc: $(cat "$W/again.out")"

kagi priv list >"$W/list.out" || fail "priv list"
grep -q "$ID" "$W/list.out" || fail "list lacks the window"
grep "$ID" "$W/list.out" | grep -q approved || fail "list: not approved: $(cat "$W/list.out")"
KAGI_CONFIG=$D/appr1.conf kagi --json priv list --account adm1 --state approved >"$W/l.json" || fail "list as appr1"
[ "$(jq '.grants | length' "$W/l.json")" = 1 ] || fail "filtered list: $(cat "$W/l.json")"

# inside the approved window: login works and names the window's end
login
jq -e '.result' "$W/login.json" >/dev/null || fail "login inside the window refused: $(cat "$W/login.json")"
[ "$(jq -r .session_end "$W/login.json")" = "$(jq -r .end "$W/ap.json")" ] ||
	fail "session_end $(jq -r .session_end "$W/login.json") != window end $(jq -r .end "$W/ap.json")"

# revoke: closed again
kagi priv revoke "$ID" >/dev/null || fail "revoke"
login
jq -e '.error == "denied"' "$W/login.json" >/dev/null || fail "login after revoke: $(cat "$W/login.json")"

# a delegate (代行者) window: an approver without CISO is refused, the CISO approves
kagi --json priv request adm1 --for 15m --reason "代行" --delegate >"$W/d.json" || fail "delegate request"
DID=$(jq -r .id "$W/d.json")
rc=0; KAGI_CONFIG=$D/appr1.conf kagi priv approve "$DID" >"$W/d1.out" 2>&1 || rc=$?
[ "$rc" = 4 ] || fail "delegate approved by a non-CISO: exit $rc: $(cat "$W/d1.out")"
KAGI_CONFIG=$D/ciso1.conf kagi --json priv approve "$DID" >"$W/d2.json" 2>&1 || fail "CISO approval: $(cat "$W/d2.json")"
[ "$(jq -r .state "$W/d2.json")" = approved ] || fail "delegate not approved"

# longer than the policy maximum (default max_window 4h): refused and audited
rc=0; kagi priv request adm1 --for 30d --reason "too long" >"$W/long.out" 2>&1 || rc=$?
[ "$rc" = 5 ] || fail "over-long window: exit $rc: $(cat "$W/long.out")"
kagi audit export --format jsonl | grep '"action":"priv.request"' | grep -q '"outcome":"denied"' ||
	fail "over-long request not audited"
# only privileged accounts get windows
rc=0; kagi priv request appr1 --for 10m --reason x >"$W/np.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "window on a personal account accepted"
kagi audit verify >/dev/null || fail "audit chain broken"
kagid_stop
echo "PASS priv_window_flow"
