#!/bin/bash
# Layering (DESIGN.md "Source layout"): each folder includes only the kagi
# headers its layer may use, only store/ includes <lmdb.h>, and only hsm/ and
# the card daemon talk PKCS#11.  Dependencies point down and never up.
set -euo pipefail
cd "${KAGI_SRC:?}"
fail=0
allowed() { # folder -> allowed kagi headers (basename without .h)
	case $1 in
	common) echo "err log kbuf secmem file util json conf i18n" ;;
	policy) echo "err log kbuf secmem file util json conf i18n policy store" ;; # store.h only for enums
	store) echo "err log kbuf secmem file util json conf i18n store" ;;
	hsm) echo "err log kbuf secmem file util json conf i18n hsm" ;;
	fido) echo "err log kbuf secmem file util json conf i18n kfido" ;;
	ca) echo "err log kbuf secmem file util json conf i18n policy store hsm ca" ;;
	client) echo "err log kbuf secmem file util json conf i18n client" ;;
	server) echo "err log kbuf secmem file util json conf i18n policy store hsm ca kfido server" ;;
	cardd) echo "err log kbuf secmem file util json conf i18n policy hsm client cardd" ;;
	pam) echo "err log i18n cardd" ;;
	cli) echo "err log kbuf secmem file util json conf i18n client cardd" ;;
	esac
}
for dir in common policy store hsm fido ca client server cardd pam cli; do
	[ -d "$dir" ] || continue
	ok=" $(allowed $dir) "
	while IFS=: read -r file _ inc; do
		h=$(sed -E 's/.*"kagi\/([a-z0-9_]+)\.h".*/\1/' <<<"$inc")
		if [[ "$ok" != *" $h "* ]]; then
			echo "layering: $file includes kagi/$h.h, not allowed for $dir/" >&2
			fail=1
		fi
	done < <(grep -n '#include "kagi/' -r "$dir" --include='*.[ch]' || true)
done
# Only store/ touches LMDB (benchmarks may use it directly as the peer).
if grep -rln '#include <lmdb.h>' --include='*.[ch]' . | grep -v '^\./store/' | grep -v '^\./build' | grep -v '^\./tests/' | grep -v '^\./bench/' ; then
	echo "layering: <lmdb.h> outside store/" >&2; fail=1
fi
# Each public header compiles on its own.
for h in include/kagi/*.h; do
	if ! printf '#include "kagi/%s"\n' "$(basename "$h")" | \
		${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Werror -Iinclude $(pkg-config --cflags jansson) \
		-fsyntax-only -x c - ; then
		echo "layering: $h does not compile alone" >&2; fail=1
	fi
done
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
