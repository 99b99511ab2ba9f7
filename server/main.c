/*
 * kagid: the kagi daemon.  Command line only; the work is in kagi_server.
 *   kagid [--config FILE] [--foreground] [--init] [--json] [--help] [--version]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "server_int.h"

static void
usage(FILE *f)
{
	fprintf(f, _("Usage: kagid [--config FILE] [--foreground] [--init] "
	    "[--json]\n"
	    "\n"
	    "The kagi daemon: the JSON API over HTTPS (TLS 1.3, client "
	    "certificates)\nand a local Unix socket.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default: $KAGI_CONFIG, else "
	    "%s)\n"
	    "  -f, --foreground   stay attached to the terminal (systemd, "
	    "tests)\n"
	    "      --init         create the deployment described by the "
	    "configuration:\n"
	    "                     policy, store, HSM token, PIN files, TLS "
	    "identity\n"
	    "      --json         with --init: print the result as JSON\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show the version\n"), KAGI_CONF_DEFAULT);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "init", no_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct kagid_opts o = { NULL, 0, 0 };
	int init = 0, ch, r;

	kagi_i18n_init();
	/* request bytes may hold passwords: jansson's and libevent's
	 * buffers are wiped when freed */
	kagi_json_wipe_on_free();
	event_set_mem_functions(malloc, kagi_realloc_wipe, kagi_free_wipe);
	while ((ch = getopt_long(argc, argv, "c:fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 'f':
			o.foreground = 1;
			break;
		case 'I':
			init = 1;
			break;
		case 'J':
			o.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kagid %s\n", KAGI_VERSION);
			return 0;
		default:
			usage(stderr);
			return kagi_err_exit_code(KAGI_ERR_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, _("kagid: unexpected argument '%s'\n"),
		    argv[optind]);
		usage(stderr);
		return kagi_err_exit_code(KAGI_ERR_USAGE);
	}
	/* no core dumps, not ptrace-able: we hold keys and PINs */
	if (kagi_process_harden() != 0) {
		fprintf(stderr, _("kagid: cannot harden the process\n"));
		return kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
	r = init ? kagid_init_deployment(&o) : kagid_run(&o);
	return r == 0 ? 0 : kagi_err_exit_code(r);
}
