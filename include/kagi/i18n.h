/*
 * Messages a person reads go through gettext (text domain "kagi").  The code
 * holds English; po/ja.po holds the complete Japanese catalogue, chosen by the
 * locale (LANG / LC_ALL / LANGUAGE).
 */
#ifndef KAGI_I18N_H
#define KAGI_I18N_H

#include <libintl.h>

#define KAGI_TEXTDOMAIN "kagi"
#define _(s) dgettext(KAGI_TEXTDOMAIN, s)
#define N_(s) (s)

/*
 * setlocale(LC_ALL, "") and bind the text domain.  The catalogue directory is
 * $KAGI_LOCALEDIR if set, else the build tree's locale/ when running from the
 * build tree, else the installed locale directory.
 */
void kagi_i18n_init(void);

#endif
