/*
 * kagi card jpki-bind STAFF_NUMBER --login ACCOUNT --cert FILE [--chain FILE]:
 * bind a My Number card's user-authentication certificate to a person so
 * that the card can be used at login (R-JPKI-1; docs/CARDS.md "My Number
 * cards").  The card is then an ordinary card record ("jpki:..."): kagi
 * card lost/found/return/destroy apply to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"

#include "verbs.h"

#define JPKI_PEM_MAX (64u * 1024u)

/* A PEM file as a JSON string (the server parses and checks it). */
static int
pem_json(struct cli *cli, const char *path, json_t **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kagi_file_read(path, JPKI_PEM_MAX, 0, &buf, &len)) != 0)
		return cli_error(cli, r, NULL,
		    _("cannot read the certificate %s: %s"), path,
		    kagi_strerror(r));
	if ((*out = json_stringn((const char *)buf, len)) == NULL) {
		free(buf);
		return cli_error(cli, KAGI_ERR_FORMAT, NULL,
		    _("%s is not a PEM text file"), path);
	}
	free(buf);
	return 0;
}

int
cmd_card_jpki_bind(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *login = NULL, *cert = NULL, *chain = NULL;
	const struct cli_opt opts[] = {
		{ "login", 'l', required_argument, &login, NULL },
		{ "cert", 0, required_argument, &cert, NULL },
		{ "chain", 0, required_argument, &chain, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *body = NULL, *resp = NULL, *pem = NULL;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v,
		    _("STAFF_NUMBER is required"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if (login == NULL || cert == NULL)
		return cli_usage_error(cli, v,
		    _("--login and --cert are required"));
	if ((code = pem_json(cli, cert, &pem)) != 0)
		goto out;
	body = json_pack("{s:s, s:s, s:o}", "staff_number", argv[first],
	    "login", login, "certificate", pem);
	pem = NULL;
	if (body == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	if (chain != NULL) {
		if ((code = pem_json(cli, chain, &pem)) != 0)
			goto out;
		json_object_set_new(body, "chain", json_pack("[o]", pem));
		pem = NULL;
	}
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "POST", "/v1/jpki/bind", body,
	    &resp, &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (!cli->quiet)
		printf(_("Bound the My Number card %s to %s (account %s).\n"
		    "Only its user-authentication certificate is used; "
		    "report a lost card with: kagi card lost %s\n"),
		    json_string_value(json_object_get(resp, "serial")),
		    argv[first], login,
		    json_string_value(json_object_get(resp, "serial")));
	code = 0;
out:
	json_decref(pem);
	json_decref(body);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
