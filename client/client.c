/*
 * client: calls kagid's JSON API with libcurl.
 *
 * Transport choice (fixed at open): the local Unix socket when [client] socket
 * is configured and the socket exists, else HTTPS to [client] url with the
 * client certificate ([client] cert, key) and the server checked against
 * [client] ca.  TLS 1.3 only; peer and host verification are never turned
 * off (there is no option to do so).
 *
 * Every answer is untrusted: the body is capped while it is received
 * (KAGI_JSON_MAX_BODY for JSON calls, CLIENT_RAW_MAX for raw calls) and JSON
 * is parsed with kagi_json_parse_object (size cap, no duplicate keys).
 *
 * Connection reuse: a handle keeps up to CLIENT_IDLE_MAX libcurl easy
 * handles between calls (taken and given back under a mutex, so threads may
 * share one kagi_client).  An easy handle keeps its connection, so a
 * daemon's second call (kagi-cardd: login begin, then finish) goes over the
 * same kept-alive TLS connection: no new handshake, no re-reading of the
 * certificate, key and CA files.  Every option is set again on every call
 * (curl_easy_reset in between), so nothing of one call leaks into the next.
 * A connection is never used longer than CLIENT_CONN_MAX_LIFE_S (a renewed
 * terminal certificate on disk is picked up by the next connection), and a
 * handle whose call failed in transport is dropped with its connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kagi/client.h"
#include "kagi/secmem.h"
#include "kagi/file.h"
#include "kagi/json.h"
#include "kagi/log.h"

#define CLIENT_CONNECT_TIMEOUT_S 5L
#define CLIENT_TOTAL_TIMEOUT_S 60L
/* Raw bodies (audit export) may be far larger than an API object. */
#define CLIENT_RAW_MAX (256u * 1024u * 1024u)
#define CLIENT_URL_MAX 4096u
/* Idle easy handles (each with its kept-alive connection) per client. */
#define CLIENT_IDLE_MAX 4u
/* Connections: at most this old, and idle at most CLIENT_CONN_MAX_IDLE_S. */
#define CLIENT_CONN_MAX_LIFE_S 300L
#define CLIENT_CONN_MAX_IDLE_S 60L

struct kagi_client {
	char *endpoint;    /* "unix:/path" or the https base URL */
	char *base_url;    /* "http://localhost" or the https base URL */
	char *socket_path; /* NULL for https */
	char *cert;
	char *key;
	char *ca;
	pthread_mutex_t mu; /* guards idle, nidle */
	int mu_ok;
	CURL *idle[CLIENT_IDLE_MAX];
	size_t nidle;
	char *operator_session; /* Kagi-Operator-Session header line, or NULL */
};

struct body_buf {
	char *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t max;   /* hard limit */
	int over;     /* set when the peer sent more than max */
};

static void
client_free_strings(struct kagi_client *c)
{
	free(c->endpoint);
	free(c->base_url);
	free(c->socket_path);
	free(c->cert);
	free(c->key);
	free(c->ca);
}

void
kagi_client_free(struct kagi_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	c->nidle = 0;
	if (c->mu_ok)
		pthread_mutex_destroy(&c->mu);
	client_free_strings(c);
	kagi_secure_strfree(c->operator_session);
	free(c);
}

int
kagi_client_set_operator_session(struct kagi_client *c, const char *id)
{
	char line[96];
	size_t n = id != NULL ? strlen(id) : 0;

	if (c == NULL || n == 0 || n > 64)
		return KAGI_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return KAGI_ERR_INVALID;
	snprintf(line, sizeof(line), "Kagi-Operator-Session: %s", id);
	kagi_secure_strfree(c->operator_session);
	c->operator_session = kagi_secure_strdup(line);
	kagi_wipe(line, sizeof(line));
	return c->operator_session != NULL ? 0 : KAGI_ERR_NOMEM;
}

/* An easy handle for one call: an idle one (with its connection) or new. */
static CURL *
handle_take(struct kagi_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->mu);
	if (c->nidle > 0)
		h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->mu);
	return h != NULL ? h : curl_easy_init();
}

/*
 * Give a handle back after a call.  ok: the call completed at the HTTP
 * level, so its connection may serve the next call; otherwise (or when
 * CLIENT_IDLE_MAX handles already wait) it is closed.  The options (which
 * point at the finished call's buffers) are reset before it waits.
 */
static void
handle_give(struct kagi_client *c, CURL *h, int ok)
{
	if (h == NULL)
		return;
	if (ok) {
		curl_easy_reset(h);
		pthread_mutex_lock(&c->mu);
		if (c->nidle < CLIENT_IDLE_MAX) {
			c->idle[c->nidle++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&c->mu);
	}
	if (h != NULL)
		curl_easy_cleanup(h);
}

const char *
kagi_client_endpoint(const struct kagi_client *c)
{
	return c != NULL && c->endpoint != NULL ? c->endpoint : "(none)";
}

static int
socket_present(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	return S_ISSOCK(st.st_mode);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* "https://host:port/" -> "https://host:port" (no trailing slash). */
static char *
url_base(const char *url)
{
	char *b = strdup(url);
	size_t n;

	if (b == NULL)
		return NULL;
	n = strlen(b);
	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	return b;
}

int
kagi_client_open(const struct kagi_conf *conf, struct kagi_client **out)
{
	int r = KAGI_ERR_INTERNAL;
	struct kagi_client *c = NULL;
	size_t n;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	if (conf == NULL)
		return KAGI_ERR_INTERNAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		kagi_log_err("curl_global_init failed");
		return KAGI_ERR_INTERNAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	c->mu_ok = 1;
	if (conf->client_socket != NULL &&
	    (socket_present(conf->client_socket) || conf->client_url == NULL)) {
		/* Local socket: peer identified by SO_PEERCRED on kagid's side. */
		n = strlen(conf->client_socket) + sizeof("unix:");
		if ((c->socket_path = strdup(conf->client_socket)) == NULL ||
		    (c->base_url = strdup("http://localhost")) == NULL ||
		    (c->endpoint = malloc(n)) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		snprintf(c->endpoint, n, "unix:%s", conf->client_socket);
	} else if (conf->client_url != NULL) {
		if (strncmp(conf->client_url, "https://", 8) != 0) {
			kagi_log_err("[client] url must be https: %s",
			    conf->client_url);
			r = KAGI_ERR_INVALID;
			goto out;
		}
		if (conf->client_cert == NULL || conf->client_key == NULL ||
		    conf->client_ca == NULL) {
			kagi_log_err("[client] url needs cert, key and ca");
			r = KAGI_ERR_INVALID;
			goto out;
		}
		/* The client key is a secret: refuse one others can read. */
		if ((r = kagi_file_check(conf->client_key,
		    KAGI_FILE_SECRET)) != 0) {
			kagi_log_err("client key %s: %s", conf->client_key,
			    kagi_err_name(r));
			goto out;
		}
		if ((c->base_url = url_base(conf->client_url)) == NULL ||
		    (c->endpoint = strdup(c->base_url)) == NULL ||
		    (c->cert = dup_or_null(conf->client_cert)) == NULL ||
		    (c->key = dup_or_null(conf->client_key)) == NULL ||
		    (c->ca = dup_or_null(conf->client_ca)) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
	} else {
		kagi_log_err("configuration has neither [client] socket nor url");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	kagi_client_free(c);
	return r;
}

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body_buf *b = arg;
	size_t n = size * nmemb;
	size_t ncap;
	char *p;

	if (nmemb != 0 && n / nmemb != size)
		return 0;
	if (n > b->max - b->len) {
		b->over = 1;
		return 0; /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		if ((p = realloc(b->data, ncap)) == NULL)
			return 0;
		b->data = p;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Map an HTTP status without an "error" field to our vocabulary. */
static int
err_from_status(long status)
{
	switch (status) {
	case 400: return KAGI_ERR_FORMAT;
	case 401: return KAGI_ERR_AUTH;
	case 403: return KAGI_ERR_DENIED;
	case 404: return KAGI_ERR_NOT_FOUND;
	case 409: return KAGI_ERR_CONFLICT;
	case 413: return KAGI_ERR_LIMIT;
	case 503: return KAGI_ERR_UNAVAILABLE;
	case 504: return KAGI_ERR_TIMEOUT;
	default: return KAGI_ERR_INTERNAL;
	}
}

/*
 * Perform one request; on success *status is the HTTP status and the body is
 * in b (NUL-terminated when non-empty).  Transport failures give
 * KAGI_ERR_UNAVAILABLE / TIMEOUT / LIMIT / FORMAT.
 */
static int
client_perform(struct kagi_client *c, const char *method, const char *path,
    const char *body, struct body_buf *b, long *status, int *is_json)
{
	int r = KAGI_ERR_INTERNAL;
	CURL *h = NULL;
	CURLcode cc;
	struct curl_slist *hdrs = NULL;
	char url[CLIENT_URL_MAX];
	char errbuf[CURL_ERROR_SIZE];
	char *ctype = NULL;
	int n, reuse = 0;

	*status = 0;
	*is_json = 0;
	if (path == NULL || path[0] != '/' || method == NULL)
		return KAGI_ERR_INTERNAL;
	n = snprintf(url, sizeof(url), "%s%s", c->base_url, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return KAGI_ERR_LIMIT;
	if ((h = handle_take(c)) == NULL)
		return KAGI_ERR_NOMEM;
	errbuf[0] = '\0';
	if ((hdrs = curl_slist_append(hdrs, "Accept: application/json")) ==
	    NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (body != NULL && (hdrs = curl_slist_append(hdrs,
	    "Content-Type: application/json")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (c->operator_session != NULL && (hdrs = curl_slist_append(hdrs,
	    c->operator_session)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
#define SETOPT(o, v) do { \
	if ((cc = curl_easy_setopt(h, o, v)) != CURLE_OK) { \
		kagi_log_err("curl_easy_setopt(%s): %s", #o, \
		    curl_easy_strerror(cc)); \
		r = KAGI_ERR_INTERNAL; \
		goto out; \
	} } while (0)
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, c->socket_path ? "http" : "https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
	SETOPT(CURLOPT_TIMEOUT, CLIENT_TOTAL_TIMEOUT_S);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_USERAGENT, "kagi/" KAGI_VERSION);
	SETOPT(CURLOPT_WRITEFUNCTION, body_write);
	SETOPT(CURLOPT_WRITEDATA, b);
	SETOPT(CURLOPT_CUSTOMREQUEST, method);
	SETOPT(CURLOPT_MAXLIFETIME_CONN, CLIENT_CONN_MAX_LIFE_S);
	SETOPT(CURLOPT_MAXAGE_CONN, CLIENT_CONN_MAX_IDLE_S);
	if (strcmp(method, "GET") != 0) {
		SETOPT(CURLOPT_POSTFIELDS, body != NULL ? body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body != NULL ? strlen(body) : 0));
	}
	if (c->socket_path != NULL) {
		SETOPT(CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	} else {
		SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
		SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
		SETOPT(CURLOPT_CAINFO, c->ca);
		SETOPT(CURLOPT_SSLCERT, c->cert);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		SETOPT(CURLOPT_SSLKEY, c->key);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
#undef SETOPT
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (b->over || cc == CURLE_FILESIZE_EXCEEDED) {
			kagi_log_err("answer from %s over %zu bytes",
			    c->endpoint, b->max);
			r = KAGI_ERR_LIMIT;
		} else if (cc == CURLE_OPERATION_TIMEDOUT) {
			kagi_log_info("event=kagid_timeout endpoint=%s: %s",
			    c->endpoint, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
			r = KAGI_ERR_TIMEOUT;
		} else if (cc == CURLE_WRITE_ERROR) {
			r = KAGI_ERR_NOMEM;
		} else {
			/* Refused, no socket, TLS handshake or verify failed. */
			kagi_log_info("event=kagid_unreachable endpoint=%s: %s",
			    c->endpoint, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
			r = KAGI_ERR_UNAVAILABLE;
		}
		goto out;
	}
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	*is_json = ctype != NULL &&
	    strncmp(ctype, "application/json", 16) == 0;
	reuse = 1;
	r = 0;
out:
	/* the handle still points at hdrs and errbuf: reset (or cleanup)
	 * before they go */
	handle_give(c, h, reuse);
	curl_slist_free_all(hdrs);
	return r;
}

/* An error answer: the KAGI_ERR_* its "error" field names. */
static int
error_from_answer(const json_t *obj, long status)
{
	const char *name = NULL;
	int e;

	if (obj != NULL && kagi_json_get_string(obj, "error", 1, 64,
	    &name) == 0) {
		e = kagi_err_from_name(name);
		return e < 0 ? e : KAGI_ERR_INTERNAL;
	}
	return err_from_status(status);
}

static int
text_object(const char *text, size_t len, json_t **out)
{
	json_t *o = NULL;

	*out = NULL;
	if ((o = json_object()) == NULL)
		return KAGI_ERR_NOMEM;
	if (json_object_set_new(o, "text", json_stringn(text != NULL ? text :
	    "", text != NULL ? len : 0)) != 0) {
		json_decref(o);
		return KAGI_ERR_FORMAT; /* not UTF-8 */
	}
	*out = o;
	return 0;
}

int
kagi_client_call(struct kagi_client *c, const char *method, const char *path,
    const json_t *body, json_t **resp, long *http_status)
{
	int r = KAGI_ERR_INTERNAL;
	struct body_buf b = { NULL, 0, 0, KAGI_JSON_MAX_BODY, 0 };
	char *req = NULL;
	json_t *v = NULL;
	char perr[160];
	long status = 0;
	int is_json = 0;

	if (resp != NULL)
		*resp = NULL;
	if (http_status != NULL)
		*http_status = 0;
	if (c == NULL || resp == NULL)
		return KAGI_ERR_INTERNAL;
	if (body != NULL && (req = json_dumps(body, JSON_COMPACT)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = client_perform(c, method, path, req, &b, &status,
	    &is_json)) != 0)
		goto out;
	if (http_status != NULL)
		*http_status = status;
	if (kagi_json_parse_object(b.data != NULL ? b.data : "", b.len, &v,
	    perr, sizeof(perr)) != 0) {
		v = NULL;
		if (is_json) {
			kagi_log_err("bad JSON from %s %s: %s", c->endpoint,
			    path, perr);
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		if ((r = text_object(b.data, b.len, &v)) != 0)
			goto out;
	}
	if (status < 200 || status > 299) {
		r = error_from_answer(v, status);
		kagi_log_debug("%s %s -> HTTP %ld error=%s", method, path,
		    status, kagi_err_name(r));
		*resp = v;
		v = NULL;
		goto out;
	}
	*resp = v;
	v = NULL;
	r = 0;
out:
	json_decref(v);
	/* Request and answer bodies may hold passwords or a temporary
	 * password (R-PW-14): wipe them before they go back to the heap. */
	if (req != NULL)
		kagi_wipe(req, strlen(req));
	free(req);
	if (b.data != NULL)
		kagi_wipe(b.data, b.len);
	free(b.data);
	return r;
}

int
kagi_client_call_raw(struct kagi_client *c, const char *method,
    const char *path, char **body, size_t *len, long *http_status)
{
	int r = KAGI_ERR_INTERNAL;
	struct body_buf b = { NULL, 0, 0, CLIENT_RAW_MAX, 0 };
	json_t *v = NULL;
	char perr[160];
	long status = 0;
	int is_json = 0;

	if (body != NULL)
		*body = NULL;
	if (len != NULL)
		*len = 0;
	if (http_status != NULL)
		*http_status = 0;
	if (c == NULL || body == NULL || len == NULL)
		return KAGI_ERR_INTERNAL;
	if ((r = client_perform(c, method, path, NULL, &b, &status,
	    &is_json)) != 0)
		goto out;
	if (http_status != NULL)
		*http_status = status;
	if (b.data == NULL && (b.data = strdup("")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (status < 200 || status > 299) {
		/* The body (the error object) is still handed back. */
		if (kagi_json_parse_object(b.data, b.len, &v, perr,
		    sizeof(perr)) != 0)
			v = NULL;
		r = error_from_answer(v, status);
	} else {
		r = 0;
	}
	*body = b.data;
	*len = b.len;
	b.data = NULL;
out:
	json_decref(v);
	free(b.data);
	return r;
}
