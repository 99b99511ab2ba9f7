/*
 * Terminal records (R-TERM-1), docs/API.md "Terminals":
 *   POST /v1/terminals {device, zone, dns[]}, GET /v1/terminals,
 *   GET /v1/terminals/<device id>.
 * The zone must be one of the policy's zones: a terminal's certificate
 * carries that zone's certificatePolicies OID (api_ca.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "server_int.h"

static json_t *
term_json(const struct store_terminal *d)
{
	char hex[2 * STORE_SERIAL_MAX + 1], c[64];
	json_t *o, *a = json_array();

	for (uint32_t i = 0; a != NULL && i < d->n_dns; i++)
		json_array_append_new(a, json_string(d->dns[i]));
	hex[0] = '\0';
	if (d->cert_serial_len > 0)
		kagid_serial_hex(d->cert_serial, d->cert_serial_len, hex);
	if (kagi_time_format_utc(d->created, c, sizeof(c)) != 0)
		c[0] = '\0';
	o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "device", d->device_id,
	    "zone", d->zone, "dns", a != NULL ? a : json_array(),
	    "state", d->state == STORE_TERM_ACTIVE ? "active" : "revoked",
	    "cert_serial", hex, "created", c);
	return o;
}

static void
api_terminal_add(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_terminal d;
	struct store_txn *t = NULL;
	size_t i;
	json_t *body = NULL, *dns, *v;
	const char *dev = NULL, *zone = NULL, *detail = NULL, *key;
	char err[256], *adetail = NULL;
	int64_t now = kagi_now();
	int rc;

	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	if (kagid_authz_require(r, "terminal.add", NULL, &actor) != 0)
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0)
		goto fail;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "device") != 0 && strcmp(key, "zone") != 0 &&
		    strcmp(key, "dns") != 0) {
			snprintf(err, sizeof(err), "unknown member '%.64s'", key);
			rc = KAGI_ERR_INVALID;
			goto fail;
		}
	}
	if (kagi_json_get_string(body, "device", 1, 64, &dev) != 0 ||
	    !store_device_id_valid(dev)) {
		rc = KAGI_ERR_INVALID;
		detail = N_("the device id must be 1-64 characters of "
		    "A-Z a-z 0-9 . _ -");
		goto fail;
	}
	if (kagi_json_get_string(body, "zone", 1, 32, &zone) != 0 ||
	    policy_zone_find(r->k->policy, zone) == NULL) {
		rc = KAGI_ERR_INVALID;
		detail = N_("unknown zone (see the zones in policy.ini)");
		goto fail;
	}
	dns = json_object_get(body, "dns");
	if (dns != NULL && (!json_is_array(dns) ||
	    json_array_size(dns) > STORE_TERM_DNS_MAX)) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'dns' must be a list of at most 8 DNS names");
		goto fail;
	}
	if ((d.device_id = strdup(dev)) == NULL ||
	    (d.zone = strdup(zone)) == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto fail;
	}
	json_array_foreach(dns, i, v) {
		if (!json_is_string(v) ||
		    (d.dns[i] = strdup(json_string_value(v))) == NULL) {
			rc = json_is_string(v) ? KAGI_ERR_NOMEM :
			    KAGI_ERR_INVALID;
			goto fail;
		}
		d.n_dns = (uint32_t)i + 1;
	}
	d.state = STORE_TERM_ACTIVE;
	d.created = d.updated = now;
	{
		json_t *dj = json_pack("{s:s, s:O?}", "zone", zone, "dns", dns);
		adetail = dj != NULL ? kagi_json_dump(dj) : NULL;
		json_decref(dj);
	}
	if (adetail == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto fail;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0)
		goto fail;
	if ((rc = store_terminal_add(t, &d)) != 0) {
		if (rc == KAGI_ERR_EXISTS)
			detail = N_("a terminal with this device id already "
			    "exists");
		else if (rc == KAGI_ERR_INVALID)
			detail = N_("a DNS name is not valid");
		goto fail;
	}
	if ((rc = store_audit_append(t, now, actor.id, "terminal.add", dev,
	    "ok", adetail, NULL)) != 0)
		goto fail;
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagi_log_info("event=terminal.add device=%s zone=%s", dev, zone);
	kagid_reply_json(r, 201, term_json(&d));
	goto out;
fail:
	kagid_reply_error(r, 0, rc, detail != NULL ? detail : err[0] ? err :
	    NULL);
out:
	store_txn_abort(t);
	store_terminal_clear(&d);
	json_decref(body);
	free(adetail);
}

static int
list_cb(const struct store_terminal *d, void *arg)
{
	return json_array_append_new(arg, term_json(d)) == 0 ? 0 :
	    KAGI_ERR_NOMEM;
}

static void
api_terminal_list(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	json_t *a;
	int rc;

	if (kagid_authz_require(r, "cert.list", NULL, &actor) != 0)
		return;
	if ((a = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_terminal_iter(t, list_cb, a);
	store_txn_abort(t);
	if (rc != 0) {
		json_decref(a);
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:o}", "terminals", a));
}

static void
api_terminal_one(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_terminal d;
	int rc;

	memset(&d, 0, sizeof(d));
	if (kagid_authz_require(r, "cert.list", NULL, &actor) != 0)
		return;
	if (!store_device_id_valid(r->subpath)) {
		kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND,
		    N_("unknown device"));
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_terminal_get(t, r->subpath, &d);
	store_txn_abort(t);
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, rc == KAGI_ERR_NOT_FOUND ?
		    N_("unknown device") : NULL);
		return;
	}
	kagid_reply_json(r, 200, term_json(&d));
	store_terminal_clear(&d);
}

const struct kagid_route kagid_terminal_routes[] = {
	{ "/v1/terminals", "POST", api_terminal_add, KAGID_TR_API, 0 },
	{ "/v1/terminals", "GET", api_terminal_list, KAGID_TR_API, 0 },
	{ "/v1/terminals/", "GET", api_terminal_one, KAGID_TR_API, 1 },
	{ NULL, NULL, NULL, 0, 0 },
};
