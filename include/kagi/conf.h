/*
 * kagi.conf: the deployment configuration shared by kagid and kagi.  One way
 * to find it everywhere: --config FILE, else $KAGI_CONFIG, else
 * /etc/kagi/kagi.conf.  Relative paths inside are relative to the directory
 * of the configuration file.  The file must not be group- or world-writable
 * and must be owned by root or by the user running the program (R-TERM-6).
 *
 *   [kagid]   data_dir, policy, listen, http_listen, socket, socket_mode,
 *             pid_file, tls_cert, tls_key, tls_client_ca, log, log_level,
 *             jpki_auth_ca
 *   [hsm]     module, token_label, pin_file, softhsm2_conf
 *   [client]  socket, url, cert, key, ca
 *   [ca]      key_type, org, upn_suffix, base_url, crl_dir,
 *             crl_next_update, ocsp_validity, validity_staff_logon,
 *             validity_terminal, validity_server, validity_ocsp,
 *             group_commit_ms
 *             (docs/CA.md "Configuration"; durations as "30d", "24h")
 *   [cardd]   socket, kagid_url, terminal_cert, terminal_key, ca,
 *             pkcs11_module, card_wait, fido, fido_device,
 *             insecure_fido_test_io_module, lock_command, counter_group,
 *             priv_end_command
 *             (docs/man/kagi-cardd.8)
 */
#ifndef KAGI_CONF_H
#define KAGI_CONF_H

#include <stddef.h>
#include <sys/types.h>

#include "kagi/err.h"

#define KAGI_CONF_DEFAULT "/etc/kagi/kagi.conf"

struct kagi_conf {
	char *path;          /* the file read (absolute) */
	char *dir;           /* its directory */
	/* [kagid] */
	char *data_dir;      /* LMDB environment directory */
	char *policy;        /* policy.ini */
	char *listen;        /* "host:port" for HTTPS+mTLS API; NULL = off */
	char *http_listen;   /* "host:port" for plain HTTP (OCSP, CRL); NULL = off */
	char *socket;        /* local API socket; NULL = off */
	mode_t socket_mode;  /* default 0660 */
	char *pid_file;      /* NULL = none */
	char *tls_cert;      /* kagid's server certificate (PEM) */
	char *tls_key;       /* its key (PEM, mode 0600) */
	char *tls_client_ca; /* CA(s) that client certificates must chain to */
	char *log;           /* "stderr" or "syslog" */
	char *log_level;     /* error|warn|info|debug */
	char *jpki_auth_ca;  /* JPKI user-authentication CA(s) (PEM); NULL = no
	                      * My Number card logins (R-JPKI-1) */
	/* [hsm] */
	char *hsm_module;
	char *hsm_token_label;
	char *hsm_pin_file;
	char *softhsm2_conf;
	/* [client] */
	char *client_socket;
	char *client_url;
	char *client_cert;
	char *client_key;
	char *client_ca;
	/* [ca] (NULL = default; durations kept as text, checked at load) */
	char *ca_key_type;        /* p256 (default), p384, rsa3072 */
	char *ca_org;             /* O= of every certificate */
	char *ca_upn_suffix;      /* staff-logon UPN "<staff no>@<suffix>" */
	char *ca_base_url;        /* CDP/AIA base; default http://<http_listen> */
	char *ca_crl_dir;         /* where CRL files are written */
	char *ca_crl_next_update; /* CRL lifetime */
	char *ca_ocsp_validity;   /* OCSP response lifetime */
	char *ca_validity_staff_logon;
	char *ca_validity_terminal;
	char *ca_validity_server;
	char *ca_validity_ocsp;   /* OCSP signer certificate */
	char *ca_group_commit_ms; /* issuance group-commit window, "0".."100" */
	/* [cardd] (kagi-cardd on a terminal; NULL = default) */
	char *cardd_socket;        /* default /run/kagi/cardd.sock */
	char *cardd_kagid_url;     /* https://host:port of the zone's kagid */
	char *cardd_terminal_cert; /* the terminal's certificate (PEM) */
	char *cardd_terminal_key;  /* its key (PEM, mode 0600) */
	char *cardd_ca;            /* CA bundle for kagid's TLS certificate */
	char *cardd_pkcs11_module; /* default OpenSC's opensc-pkcs11.so */
	char *cardd_card_wait;     /* seconds "0".."600" (text, checked) */
	char *cardd_fido;          /* "on" | "off" */
	char *cardd_fido_device;   /* "auto" or a device path */
	char *cardd_insecure_fido_test_io_module; /* tests only; logged */
	char *cardd_lock_command;  /* "%s" = session id */
	char *cardd_counter_group; /* group whose members may use the counter
	                            * requests (enrolment); NULL: root only */
	char *cardd_priv_end_command; /* the same form, at a window's end */
};

/* The path to use: explicit, else $KAGI_CONFIG, else the default. */
const char *kagi_conf_locate(const char *explicit_path);
/*
 * Load and validate.  On error, errbuf gets "FILE:LINE: [section] key: what is
 * wrong" and *out stays NULL.  Unknown sections and keys are errors.
 */
int kagi_conf_load(const char *path, struct kagi_conf **out, char *errbuf,
    size_t errlen) KAGI_WUR;
/*
 * Parse configuration text already read (used by kagi_conf_load and the
 * fuzzer): name is used in error messages and as path, dir for relative paths.
 */
int kagi_conf_parse(const char *text, size_t len, const char *name,
    const char *dir, struct kagi_conf **out, char *errbuf,
    size_t errlen) KAGI_WUR;
void kagi_conf_free(struct kagi_conf *c);

#endif
