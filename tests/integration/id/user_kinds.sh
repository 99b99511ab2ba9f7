#!/bin/bash
# Account kinds (R-ID-7, R-ID-11, R-DEV-1, R-CONTR-1, R-PRIV-6): which
# combinations of kind, person and end date are accepted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
id_setup

expect_rc 0 person add 1001 --name "Yamada Taro" --employment regular
expect_rc 0 person add 1002 --name "Suzuki Hanako" --employment regular
expect_rc 0 person add C-1 --name "Vendor Worker" --employment contractor --end 2099-12-31

expect_rc 0 user add yamada --kind personal --person 1001
grep -q "Temporary password: " "$KOUT" || fail "no temporary password shown"
# a person has at most one personal account
expect_rc 8 user add yamada2 --kind personal --person 1001
grep -q "already has a personal account" "$KOUT" || fail "wrong refusal: $(cat "$KOUT")"
# a login is unique
expect_rc 8 user add yamada --kind personal --person 1002
# development and contractor accounts need an end date (R-DEV-1, R-CONTR-1)
expect_rc 5 user add dev-yamada --kind development --person 1001
grep -q "R-DEV-1" "$KOUT" || fail "dev refusal does not cite R-DEV-1"
expect_rc 5 user add vendor1 --kind contractor --person C-1
expect_rc 5 user add dev-old --kind development --person 1001 --end 2001-01-01
expect_rc 0 --json user add dev-yamada --kind development --person 1001 --end 2099-06-30
[ "$(jf "$KOUT" .user.kind)" = development ] || fail "kind"
jf "$KOUT" .user.end >/dev/null || fail "dev account has no end date"
expect_rc 0 user add vendor1 --kind contractor --person C-1 --end 2099-12-31
# service accounts: no person, no password
expect_rc 5 user add svc-backup --kind service --person 1001
expect_rc 0 --json user add svc-backup --kind service
[ "$(jq -r '.temporary_password // "none"' "$KOUT")" = none ] || fail "service got a password"
[ "$(jq -r '.user.person' "$KOUT")" = null ] || fail "service has a person"
# the other kinds need a person
expect_rc 5 user add kyoyu --kind shared
expect_rc 0 user add kyoyu --kind shared --person 1002
# R-PRIV-6: no default administrator names for privileged IDs
expect_rc 5 user add admin --kind privileged --person 1002
expect_rc 5 user add Administrator --kind privileged --person 1002
expect_rc 0 user add adm-suzuki --kind privileged --person 1002
# unknown kind, unknown person
expect_rc 5 user add x1 --kind superuser --person 1002
expect_rc 3 user add x2 --kind shared --person 9999
expect_rc 2 user add x3

expect_rc 0 --json user list
[ "$(jq '.users | length' "$KOUT")" = 6 ] || fail "want 6 accounts, got $(jq '.users | length' "$KOUT")"
for kind in personal development contractor service shared privileged; do
	[ "$(jq --arg k "$kind" '[.users[] | select(.kind == $k)] | length' "$KOUT")" = 1 ] ||
		fail "want one $kind account"
done
expect_rc 0 person show 1001
grep -q "yamada (personal, active)" "$KOUT" || fail "person show lacks the account"
grep -q "dev-yamada (development, active)" "$KOUT" || fail "person show lacks the dev account"

# disable / enable / delete
expect_rc 0 user disable vendor1
expect_rc 0 --json user show vendor1
[ "$(jf "$KOUT" .user.state)" = disabled ] || fail "not disabled"
expect_rc 0 user enable vendor1
expect_rc 0 user delete vendor1
expect_rc 0 --json user show vendor1
[ "$(jf "$KOUT" .user.state)" = deleted ] || fail "not deleted"
expect_rc 8 user enable vendor1
expect_rc 8 user add vendor1 --kind contractor --person C-1 --end 2099-12-31
audit_has user.add ok yamada
audit_has user.delete ok vendor1
id_no_hash_anywhere
echo "ok: account kinds"
