/*
 * gettext set-up.  Catalogue directory: $KAGI_LOCALEDIR, else the build
 * tree's locale/ (so programs run from the build tree speak Japanese before
 * installation), else the installed locale directory.
 */
#include <locale.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kagi/i18n.h"

#ifndef KAGI_LOCALEDIR
#define KAGI_LOCALEDIR "/usr/share/locale"
#endif

static const char *
i18n_dir(void)
{
	const char *env = secure_getenv("KAGI_LOCALEDIR");
#ifdef KAGI_BUILD_LOCALEDIR
	struct stat st;
#endif

	if (env != NULL && env[0] != '\0')
		return env;
#ifdef KAGI_BUILD_LOCALEDIR
	if (stat(KAGI_BUILD_LOCALEDIR, &st) == 0 && S_ISDIR(st.st_mode))
		return KAGI_BUILD_LOCALEDIR;
#endif
	return KAGI_LOCALEDIR;
}

void
kagi_i18n_init(void)
{
	(void)setlocale(LC_ALL, "");
	(void)bindtextdomain(KAGI_TEXTDOMAIN, i18n_dir());
	(void)bind_textdomain_codeset(KAGI_TEXTDOMAIN, "UTF-8");
}
