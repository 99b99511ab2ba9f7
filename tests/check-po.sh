#!/bin/bash
# i18n: every translatable string in the sources has a Japanese translation in
# po/ja.po, none fuzzy, none empty, and format specifiers agree (msgfmt --check).
set -euo pipefail
src=${KAGI_SRC:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$src"
mapfile -t files < <(find common store policy hsm ca client server cardd pam cli -name '*.[ch]' 2>/dev/null | sort)
xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
	--add-comments=TRANSLATORS -o "$tmp/kagi.pot" "${files[@]}"
msgfmt --check -o /dev/null po/ja.po
# Untranslated entries after merging the current template into ja.po:
msgmerge --quiet --no-fuzzy-matching -o "$tmp/merged.po" po/ja.po "$tmp/kagi.pot"
untranslated=$(msgattrib --untranslated --no-obsolete "$tmp/merged.po" | grep -c '^msgid ' || true)
fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$tmp/merged.po" | grep -c '^msgid ' || true)
total=$(grep -c '^msgid ' "$tmp/kagi.pot" || true)
echo "po: $total messages in the sources; untranslated=$untranslated fuzzy=$fuzzy"
if [ "$untranslated" -gt 0 ] || [ "$fuzzy" -gt 0 ]; then
	msgattrib --untranslated --no-obsolete "$tmp/merged.po" | grep '^msgid ' | head -50 >&2
	echo "FAIL: po/ja.po is incomplete" >&2
	exit 1
fi
