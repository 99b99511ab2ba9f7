#!/bin/bash
# Shared IDs through PAM (R-ID-7, docs/PROTOCOL-cardd.md prompt 10): the
# begin answer says kind "shared", so kagi-cardd asks "Your personal login:"
# (echo on) and the member's own staff card + PIN is the factor; finish
# carries "member".  pamtester (an independent PAM application) logs a
# member in; the audit record names both the shared account and the
# member.  Refused: a non-member with their own card (PAM_PERM_DENIED,
# not_a_member), a member's name with someone else's card, and an empty
# member answer.
set -euo pipefail
. "$KAGI_SRC/tests/integration/login/lib.sh"
login_setup mynumber
login_user alice 2001
login_user carol 2003
kk person add 2090 --name "Madoguchi" --employment regular
kk --json user add madoguchi --kind shared --person 2090
kk user member add madoguchi alice

# the two people's cards, each kept aside; "inserting" one = its token
# directory under the SoftHSM2 token dir (cardd restarted to see it)
stash_card() { mkdir -p "$C/stash-$1"; mv "$C/card/tokens"/* "$C/stash-$1/"; }
insert_card() {
	cardd_stop
	rm -rf "$C/card/tokens"/*
	cp -a "$C/stash-$1"/. "$C/card/tokens/"
	cardd_up
}
card_make card-alice alice
stash_card alice
card_make card-carol carol
stash_card carol

pamtester_run() { # ANSWERS_TEXT USER OPS...
	local in=$1 user=$2; shift 2
	printf '%s' "$in" | LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" \
		KAGI_LOCALEDIR="$KAGI_BUILD/locale" \
		pamtester -v kagi "$user" "$@" 2>&1
}
audit_jsonl() { kk audit export --format jsonl; cp "$KOUT" "$OUT/audit.jsonl"; }

# shared_member_card_success: alice, a member, with her own card
insert_card alice
out=$(pamtester_run "$(printf 'alice\n%s\n' "$CARD_PIN")" madoguchi authenticate acct_mgmt open_session close_session) ||
	lfail "pamtester shared login by a member: $out"
grep -q 'Your personal login:' <<<"$out" || lfail "no member prompt: $out"
grep -q 'successfully authenticated' <<<"$out" || lfail "pamtester: $out"
grep -q 'event=login_member user=madoguchi member=alice' "$C/cardd.log" || lfail "cardd did not log the member"
audit_jsonl
jq -e -s 'map(select(.action == "login.ok" and .object == "madoguchi" and
	.detail.member == "alice" and (.detail.factors | index("card")))) | length == 1' \
	"$OUT/audit.jsonl" >/dev/null || lfail "no login.ok audit record naming madoguchi and alice"
# the scripted driver: the member prompt is echo on, before the PIN
out=$(pam_run -a alice -a "$CARD_PIN" -s auth,acct kagi madoguchi) || lfail "driver shared login: $out"
[ "$(grep -n '^prompt: ' <<<"$out" | head -1)" = "$(grep -n '^prompt: Your personal login: ' <<<"$out")" ] ||
	lfail "the member prompt is not the first prompt: $out"
grep -qx 'prompt: Card PIN: ' <<<"$out" || lfail "no PIN prompt after the member: $out"
# a personal account is never asked for a member
out=$(pam_run -a "$CARD_PIN" -s auth kagi alice) || lfail "alice's own login: $out"
grep -q 'Your personal login' <<<"$out" && lfail "member prompt for a personal account: $out"

# member_name_other_card: "alice" typed, carol's card inserted
insert_card carol
out=$(pam_run -a alice -a "$CARD_PIN" -s auth kagi madoguchi) && lfail "member name with another's card accepted: $out"
grep -q '^auth=PAM_SUCCESS' <<<"$out" && lfail "another's card: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "another's card code: $out"
audit_jsonl
jq -e -s 'map(select(.action == "login.refused" and .object == "madoguchi" and
	.detail.member == "alice" and .detail.reason == "card_cert_other_account")) | length == 1' \
	"$OUT/audit.jsonl" >/dev/null || lfail "no login.refused card_cert_other_account audit record"

# non_member_card: carol, not a member, with her own card
out=$(pam_run -a carol -a "$CARD_PIN" -s auth kagi madoguchi) && lfail "non-member accepted: $out"
grep -qx 'auth=PAM_PERM_DENIED' <<<"$out" || lfail "non-member code: $out"
out=$(pamtester_run "$(printf 'carol\n%s\n' "$CARD_PIN")" madoguchi authenticate) &&
	lfail "pamtester: non-member accepted: $out"
audit_jsonl
jq -e -s 'map(select(.action == "login.refused" and .object == "madoguchi" and
	.detail.member == "carol" and .detail.reason == "not_a_member")) | length >= 1' \
	"$OUT/audit.jsonl" >/dev/null || lfail "no login.refused not_a_member audit record for carol"

# empty_member: nothing typed at the member prompt
out=$(pam_run -a "" -a "$CARD_PIN" -s auth kagi madoguchi) && lfail "empty member accepted: $out"
grep -qx 'auth=PAM_AUTH_ERR' <<<"$out" || lfail "empty member code: $out"
grep -q 'Card PIN' <<<"$out" && lfail "PIN asked after an empty member: $out"
echo "login_shared: ok"
