/*
 * `kagid --init`: create a self-contained deployment next to kagi.conf.
 *
 * Everything that could make a second run destroy the first is checked
 * before anything is written (a store in data_dir, PIN files, TLS keys and
 * certificates): such a run is refused with KAGI_ERR_EXISTS and changes
 * nothing.  The HSM token is created first, since SoftHSM2 is the only step
 * whose "already exists" answer cannot be known in advance; the store and
 * its deploy.init audit record come last, so a store present means the
 * deployment was completed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kagi/conf.h"
#include "kagi/file.h"
#include "kagi/hsm.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

#define PIN_LEN 16
/* no 0/O, 1/l/I: PINs are read off paper and typed by people */
static const char pin_alphabet[] =
    "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";

struct init_paths {
	char *data_dir, *policy, *pid_dir, *sock_dir, *csock_dir;
	char *pin, *so_pin, *softhsm_conf, *token_dir;
	char *tls_dir, *ca_key, *ca_crt, *srv_crt, *srv_key, *adm_crt, *adm_key;
	char *mdb;
};

struct init_out {
	int json;
	json_t *steps;
};

static void
paths_free(struct init_paths *p)
{
	char **v[] = { &p->data_dir, &p->policy, &p->pid_dir, &p->sock_dir,
	    &p->csock_dir, &p->pin, &p->so_pin, &p->softhsm_conf, &p->token_dir,
	    &p->tls_dir, &p->ca_key, &p->ca_crt, &p->srv_crt, &p->srv_key,
	    &p->adm_crt, &p->adm_key, &p->mdb };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		free(*v[i]);
		*v[i] = NULL;
	}
}

static char *
dir_of(const char *p)
{
	return p != NULL ? kagi_path_dirname(p) : NULL;
}

static char *
concat(const char *a, const char *b)
{
	char *s = NULL;

	if (a == NULL || asprintf(&s, "%s%s", a, b) < 0)
		return NULL;
	return s;
}

static int
paths_make(const struct kagi_conf *c, struct init_paths *p)
{
	memset(p, 0, sizeof(*p));
	if (c->data_dir == NULL || c->policy == NULL || c->tls_cert == NULL ||
	    c->tls_key == NULL)
		return KAGI_ERR_INVALID;
	p->data_dir = kagid_conf_path(c, c->data_dir);
	p->policy = kagid_conf_path(c, c->policy);
	p->mdb = p->data_dir ? kagi_path_join(p->data_dir, "data.mdb") : NULL;
	if (c->pid_file != NULL) {
		char *t = kagid_conf_path(c, c->pid_file);
		p->pid_dir = dir_of(t);
		free(t);
	}
	if (c->socket != NULL) {
		char *t = kagid_conf_path(c, c->socket);
		p->sock_dir = dir_of(t);
		free(t);
	}
	if (c->client_socket != NULL) {
		char *t = kagid_conf_path(c, c->client_socket);
		p->csock_dir = dir_of(t);
		free(t);
	}
	if (c->hsm_module != NULL) {
		if (c->hsm_pin_file == NULL || c->hsm_token_label == NULL)
			return KAGI_ERR_INVALID;
		p->pin = kagid_conf_path(c, c->hsm_pin_file);
		p->so_pin = concat(p->pin, ".so");
		if (c->softhsm2_conf != NULL) {
			char *d;
			p->softhsm_conf = kagid_conf_path(c, c->softhsm2_conf);
			d = dir_of(p->softhsm_conf);
			p->token_dir = d ? kagi_path_join(d, "tokens") : NULL;
			free(d);
		}
	}
	p->srv_crt = kagid_conf_path(c, c->tls_cert);
	p->srv_key = kagid_conf_path(c, c->tls_key);
	p->tls_dir = dir_of(p->srv_crt);
	p->ca_key = p->tls_dir ? kagi_path_join(p->tls_dir, "ca.key") : NULL;
	p->ca_crt = c->tls_client_ca != NULL ?
	    kagid_conf_path(c, c->tls_client_ca) :
	    (p->tls_dir ? kagi_path_join(p->tls_dir, "ca.crt") : NULL);
	p->adm_crt = c->client_cert != NULL ?
	    kagid_conf_path(c, c->client_cert) :
	    (p->tls_dir ? kagi_path_join(p->tls_dir, "admin.crt") : NULL);
	p->adm_key = c->client_key != NULL ?
	    kagid_conf_path(c, c->client_key) :
	    (p->tls_dir ? kagi_path_join(p->tls_dir, "admin.key") : NULL);
	if (!p->data_dir || !p->policy || !p->mdb || !p->srv_crt ||
	    !p->srv_key || !p->tls_dir || !p->ca_key || !p->ca_crt ||
	    !p->adm_crt || !p->adm_key || (c->pid_file && !p->pid_dir) ||
	    (c->socket && !p->sock_dir) ||
	    (c->client_socket && !p->csock_dir) ||
	    (c->hsm_module && (!p->pin || !p->so_pin)) ||
	    (c->softhsm2_conf && c->hsm_module && !p->token_dir))
		return KAGI_ERR_NOMEM;
	return 0;
}

static void errmsg(const struct init_out *o, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
errmsg(const struct init_out *o, int r, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	json_t *j;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	fprintf(stderr, "kagid: %s\n", m != NULL ? m : kagi_strerror(r));
	if (o->json) {
		j = json_pack("{s:s, s:s?}", "error", kagi_err_name(r),
		    "message", m);
		if (j != NULL)
			json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	}
	free(m);
}

/* One finished step: a line for a person, an entry for --json. */
static void step(struct init_out *o, const char *what, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
step(struct init_out *o, const char *what, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	if (o->json) {
		json_array_append_new(o->steps, json_pack("{s:s, s:s}",
		    "step", what, "path", path));
		return;
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static int
exists(const char *p)
{
	struct stat st;

	return p != NULL && lstat(p, &st) == 0;
}

static int
mkdir_mode(struct init_out *o, const char *dir, mode_t mode)
{
	int r;
	int had = exists(dir);

	if ((r = kagi_mkdir_p(dir, mode)) != 0) {
		errmsg(o, r, _("cannot create the directory %s"), dir);
		return r;
	}
	if (!had)
		step(o, "directory", dir, _("Created the directory %s"), dir);
	return 0;
}

static int
gen_pin(char **out)
{
	char *p;
	uint32_t v;

	*out = NULL;
	if ((p = kagi_secure_alloc(PIN_LEN + 2)) == NULL)
		return KAGI_ERR_NOMEM;
	for (size_t i = 0; i < PIN_LEN; i++) {
		if (kagi_random_uniform((uint32_t)(sizeof(pin_alphabet) - 1),
		    &v) != 0) {
			kagi_secure_free(p, PIN_LEN + 2);
			return KAGI_ERR_INTERNAL;
		}
		p[i] = pin_alphabet[v];
	}
	p[PIN_LEN] = '\0';
	*out = p;
	return 0;
}

static int
write_pin(const char *path, const char *pin)
{
	char buf[PIN_LEN + 2];
	int r;

	memcpy(buf, pin, PIN_LEN);
	buf[PIN_LEN] = '\n';
	r = kagi_file_write_new(path, buf, PIN_LEN + 1, 0600);
	kagi_wipe(buf, sizeof(buf));
	return r;
}

static int
do_hsm(const struct kagi_conf *c, const struct init_paths *p,
    struct init_out *o)
{
	int r = KAGI_ERR_INTERNAL;
	struct hsm *h = NULL;
	char *user = NULL, *so = NULL, *text = NULL, *d = NULL;

	if (p->softhsm_conf != NULL) {
		if (!exists(p->softhsm_conf)) {
			if ((d = dir_of(p->softhsm_conf)) == NULL) {
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			if ((r = mkdir_mode(o, d, 0700)) != 0 ||
			    (r = mkdir_mode(o, p->token_dir, 0700)) != 0)
				goto out;
			if (asprintf(&text, "# SoftHSM2 configuration written "
			    "by kagid --init\n"
			    "directories.tokendir = %s\n"
			    "objectstore.backend = file\n"
			    "log.level = ERROR\n", p->token_dir) < 0) {
				text = NULL;
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			if ((r = kagi_file_write_new(p->softhsm_conf, text,
			    strlen(text), 0600)) != 0) {
				errmsg(o, r, _("cannot write %s"),
				    p->softhsm_conf);
				goto out;
			}
			step(o, "softhsm2_conf", p->softhsm_conf,
			    _("Wrote the SoftHSM2 configuration %s"), p->softhsm_conf);
		}
		if (setenv("SOFTHSM2_CONF", p->softhsm_conf, 1) != 0) {
			r = KAGI_ERR_SYSTEM;
			goto out;
		}
	}
	if ((r = hsm_open(c->hsm_module, &h)) != 0) {
		errmsg(o, r, _("cannot load the PKCS#11 module %s"),
		    c->hsm_module);
		goto out;
	}
	if ((r = gen_pin(&user)) != 0 || (r = gen_pin(&so)) != 0)
		goto out;
	if ((r = hsm_token_init(h, c->hsm_token_label, so, user)) != 0) {
		if (r == KAGI_ERR_EXISTS)
			errmsg(o, r, _("an HSM token labelled \"%s\" already "
			    "exists; nothing was changed"), c->hsm_token_label);
		else
			errmsg(o, r, _("cannot initialise the HSM token \"%s\""),
			    c->hsm_token_label);
		goto out;
	}
	step(o, "hsm_token", c->hsm_token_label,
	    _("Initialised the HSM token \"%s\""), c->hsm_token_label);
	free(d);
	if ((d = dir_of(p->pin)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = mkdir_mode(o, d, 0700)) != 0)
		goto out;
	if ((r = write_pin(p->pin, user)) != 0) {
		errmsg(o, r, _("cannot write the PIN file %s"), p->pin);
		goto out;
	}
	step(o, "user_pin", p->pin,
	    _("Wrote the token user PIN to %s (mode 0600)"), p->pin);
	if ((r = write_pin(p->so_pin, so)) != 0) {
		errmsg(o, r, _("cannot write the PIN file %s"), p->so_pin);
		goto out;
	}
	step(o, "so_pin", p->so_pin,
	    _("Wrote the token SO PIN to %s (mode 0600). Move this file "
	    "offline (for example to removable media kept in a safe) and "
	    "delete it from this machine"), p->so_pin);
	r = 0;
out:
	if (user != NULL)
		kagi_secure_free(user, PIN_LEN + 2);
	if (so != NULL)
		kagi_secure_free(so, PIN_LEN + 2);
	hsm_close(h);
	free(text);
	free(d);
	return r;
}

static int
write_key(struct init_out *o, const char *path, EVP_PKEY *k)
{
	char *pem = NULL;
	size_t n = 0;
	int r;

	if ((r = tlsid_key_pem(k, &pem, &n)) != 0)
		return r;
	r = kagi_file_write_new(path, pem, n, 0600);
	kagi_secure_free(pem, n + 1);
	if (r != 0)
		errmsg(o, r, _("cannot write %s"), path);
	return r;
}

static int
write_cert(struct init_out *o, const char *path, X509 *x)
{
	char *pem = NULL;
	size_t n = 0;
	int r;

	if ((r = tlsid_cert_pem(x, &pem, &n)) != 0)
		return r;
	r = kagi_file_write_new(path, pem, n, 0644);
	free(pem);
	if (r != 0)
		errmsg(o, r, _("cannot write %s"), path);
	return r;
}

/* The host name as a SAN, if it is a plain DNS name. */
static void
host_san(char *san, size_t len)
{
	char host[256];
	size_t i;

	snprintf(san, len, "DNS:localhost,IP:127.0.0.1,IP:::1");
	if (gethostname(host, sizeof(host)) != 0)
		return;
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0' || strlen(host) > 253 ||
	    strcmp(host, "localhost") == 0 || host[0] == '-' || host[0] == '.')
		return;
	for (i = 0; host[i] != '\0'; i++) {
		char ch = host[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return;
	}
	snprintf(san + strlen(san), len - strlen(san), ",DNS:%s", host);
}

static int
do_tls(const struct init_paths *p, struct init_out *o, int64_t now,
    char fp[65])
{
	int r = KAGI_ERR_INTERNAL;
	EVP_PKEY *cak = NULL, *sk = NULL, *ak = NULL;
	X509 *ca = NULL, *sc = NULL, *ac = NULL;
	char san[400];
	char *d1 = NULL, *d2 = NULL;

	if ((r = mkdir_mode(o, p->tls_dir, 0750)) != 0)
		goto out;
	if ((d1 = dir_of(p->adm_crt)) == NULL || (d2 = dir_of(p->adm_key)) ==
	    NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = mkdir_mode(o, d1, 0750)) != 0 ||
	    (r = mkdir_mode(o, d2, 0750)) != 0)
		goto out;
	host_san(san, sizeof(san));
	if ((r = tlsid_key_new(&cak)) != 0 ||
	    (r = tlsid_cert_new(TLSID_CA, "kagi bootstrap TLS CA", cak, NULL,
	    NULL, now, 3650, NULL, &ca)) != 0 ||
	    (r = tlsid_key_new(&sk)) != 0 ||
	    (r = tlsid_cert_new(TLSID_SERVER, "kagid", sk, ca, cak, now, 730,
	    san, &sc)) != 0 ||
	    (r = tlsid_key_new(&ak)) != 0 ||
	    (r = tlsid_cert_new(TLSID_CLIENT, "kagi-admin", ak, ca, cak, now,
	    730, NULL, &ac)) != 0) {
		errmsg(o, r, _("cannot create the TLS identity in %s"),
		    p->tls_dir);
		goto out;
	}
	if ((r = tlsid_cert_fingerprint(ca, fp)) != 0)
		goto out;
	if ((r = write_key(o, p->ca_key, cak)) != 0 ||
	    (r = write_cert(o, p->ca_crt, ca)) != 0)
		goto out;
	step(o, "tls_ca", p->ca_crt, _("Created the bootstrap TLS CA %s "
	    "(software key; an HSM-backed CA replaces it in a later release)"), p->ca_crt);
	if ((r = write_key(o, p->srv_key, sk)) != 0 ||
	    (r = write_cert(o, p->srv_crt, sc)) != 0)
		goto out;
	step(o, "tls_server", p->srv_crt,
	    _("Created kagid's server certificate %s"), p->srv_crt);
	if ((r = write_key(o, p->adm_key, ak)) != 0 ||
	    (r = write_cert(o, p->adm_crt, ac)) != 0)
		goto out;
	step(o, "tls_admin", p->adm_crt,
	    _("Created the admin client certificate %s for the kagi tool"), p->adm_crt);
	r = 0;
out:
	free(d1);
	free(d2);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ak);
	X509_free(ca);
	X509_free(sc);
	X509_free(ac);
	return r;
}

static int
do_store(const struct kagi_conf *c, const struct init_paths *p,
    struct init_out *o, int64_t now, const char *fp,
    struct kagid_ca_init *ci)
{
	int r;
	struct store *s = NULL;
	struct store_txn *t = NULL;
	char *detail = NULL;
	json_t *dj;

	if ((r = mkdir_mode(o, p->data_dir, 0700)) != 0)
		return r;
	if ((r = store_open(p->data_dir, NULL, &s)) != 0) {
		errmsg(o, r, _("cannot create the store in %s"), p->data_dir);
		return r;
	}
	dj = json_pack("{s:s?, s:s, s:s?}", "token", c->hsm_token_label,
	    "tls_ca_sha256", fp, "root_ca_sha256", ci != NULL ?
	    kagid_ca_init_root_fp(ci) : NULL);
	detail = dj != NULL ? kagi_json_dump(dj) : NULL;
	json_decref(dj);
	if (detail == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = store_txn_begin(s, 1, &t)) != 0 ||
	    (r = store_audit_append(t, now, "kagid", "deploy.init", c->path,
	    "ok", detail, NULL)) != 0) {
		errmsg(o, r, _("cannot record deploy.init in the audit log "
		    "of %s"), p->data_dir);
		goto out;
	}
	/* the CA certificates, recorded with their audit record (ca.init) */
	if (ci != NULL && (r = kagid_ca_init_record(ci, t, now)) != 0) {
		errmsg(o, r, _("cannot record the CA certificates in the "
		    "store %s"), p->data_dir);
		goto out;
	}
	r = store_txn_commit(t);
	t = NULL;
	if (r != 0) {
		errmsg(o, r, _("cannot record deploy.init in the audit log "
		    "of %s"), p->data_dir);
		goto out;
	}
	step(o, "store", p->data_dir, _("Created the store in %s and "
	    "recorded deploy.init in its audit log"), p->data_dir);
out:
	store_txn_abort(t);
	store_close(s);
	free(detail);
	return r;
}

/* Anything present that --init would create or overwrite: refuse. */
static int
precheck(const struct kagi_conf *c, const struct init_paths *p,
    struct init_out *o)
{
	const char *files[] = { p->pin, p->so_pin, p->ca_key, p->ca_crt,
	    p->srv_crt, p->srv_key, p->adm_crt, p->adm_key };
	struct policy *pol = NULL;
	char err[512];
	int r;

	if (exists(p->mdb)) {
		errmsg(o, KAGI_ERR_EXISTS, _("%s already holds a store; "
		    "refusing to initialise again (nothing was changed)"),
		    p->data_dir);
		return KAGI_ERR_EXISTS;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (exists(files[i])) {
			errmsg(o, KAGI_ERR_EXISTS, _("%s already exists; "
			    "refusing to overwrite it (nothing was changed)"),
			    files[i]);
			return KAGI_ERR_EXISTS;
		}
	}
	if ((r = kagid_ca_init_precheck(c, err, sizeof(err))) != 0) {
		errmsg(o, r, "%s", err);
		return r;
	}
	if (c->hsm_module != NULL && access(c->hsm_module, R_OK) != 0) {
		errmsg(o, KAGI_ERR_NOT_FOUND, _("PKCS#11 module %s not found"),
		    c->hsm_module);
		return KAGI_ERR_NOT_FOUND;
	}
	if (exists(p->policy)) {
		err[0] = '\0';
		if ((r = policy_load(p->policy, &pol, err, sizeof(err))) != 0) {
			errmsg(o, r, _("policy refused: %s"), err[0] ? err :
			    kagi_strerror(r));
			return r;
		}
		policy_free(pol);
	}
	return 0;
}

int
kagid_init_deployment(const struct kagid_opts *opts)
{
	struct kagi_conf *c = NULL;
	struct init_paths p;
	struct init_out o;
	char fp[65], caerr[512];
	struct kagid_ca_init *ci = NULL;
	int64_t now;
	int r;

	memset(&p, 0, sizeof(p));
	memset(&o, 0, sizeof(o));
	o.json = opts->json;
	fp[0] = '\0';
	if ((o.steps = json_array()) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kagid_conf_open(opts->config, &c)) != 0)
		goto out;
	if ((r = paths_make(c, &p)) != 0) {
		errmsg(&o, r, _("%s: [kagid] data_dir, policy, tls_cert and "
		    "tls_key (and [hsm] pin_file and token_label with a module) "
		    "must be set"), c->path);
		goto out;
	}
	if ((r = precheck(c, &p, &o)) != 0)
		goto out;
	now = kagi_now();
	if (!o.json) {
		printf(_("Initialising the kagi deployment of %s"), c->path);
		fputc('\n', stdout);
	}
	if (c->hsm_module != NULL && (r = do_hsm(c, &p, &o)) != 0)
		goto out;
	if (p.pid_dir != NULL && (r = mkdir_mode(&o, p.pid_dir, 0750)) != 0)
		goto out;
	if (p.sock_dir != NULL && (r = mkdir_mode(&o, p.sock_dir, 0750)) != 0)
		goto out;
	if (p.csock_dir != NULL &&
	    (r = mkdir_mode(&o, p.csock_dir, 0750)) != 0)
		goto out;
	if (!exists(p.policy)) {
		const char *txt = policy_default_text();
		if ((r = kagi_file_write_new(p.policy, txt, strlen(txt),
		    0640)) != 0) {
			errmsg(&o, r, _("cannot write %s"), p.policy);
			goto out;
		}
		step(&o, "policy", p.policy,
		    _("Wrote the default policy %s"), p.policy);
	}
	if ((r = do_tls(&p, &o, now, fp)) != 0)
		goto out;
	if (c->hsm_module != NULL && (r = kagid_ca_init_create(c, now, o.json,
	    o.steps, caerr, sizeof(caerr), &ci)) != 0) {
		errmsg(&o, r, "%s", caerr);
		goto out;
	}
	if ((r = do_store(c, &p, &o, now, fp, ci)) != 0)
		goto out;
	if (o.json) {
		json_t *j = json_pack("{s:s, s:O, s:s?, s:s?, s:s, s:s?, s:s}",
		    "config", c->path, "steps", o.steps,
		    "token", c->hsm_token_label, "so_pin_file", p.so_pin,
		    "tls_ca_sha256", fp,
		    "root_ca_sha256", ci != NULL ? kagid_ca_init_root_fp(ci) :
		    NULL,
		    "note", "move the SO PIN file offline; the TLS CA is a "
		    "software bootstrap");
		if (j == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		printf(_("TLS CA fingerprint (SHA-256): %s"), fp);
		fputc('\n', stdout);
		if (ci != NULL) {
			printf(_("Root CA fingerprint (SHA-256): %s"),
			    kagid_ca_init_root_fp(ci));
			fputc('\n', stdout);
		}
		printf(_("Done. Start kagid with: kagid --config %s"), c->path);
		fputc('\n', stdout);
	}
	kagi_log_info("event=deploy_init config=%s", c->path);
	r = 0;
out:
	kagid_ca_init_free(ci);
	paths_free(&p);
	kagi_conf_free(c);
	json_decref(o.steps);
	return r;
}
