/*
 * Logging with location.  Libraries log through kagi_log_*; the program
 * installs the handler (stderr, syslog).  Messages are sanitised before they
 * reach a handler: control and non-printable bytes are escaped as \xNN, so
 * attacker-controlled text cannot forge log lines.  Never log secrets.
 * Events an operator acts on use a stable "event=... key=value" form.
 */
#ifndef KAGI_LOG_H
#define KAGI_LOG_H

enum kagi_log_level {
	KAGI_LOG_ERR = 0,
	KAGI_LOG_WARN = 1,
	KAGI_LOG_INFO = 2,
	KAGI_LOG_DEBUG = 3,
};

typedef void kagi_log_handler_fn(int level, const char *file, int line,
    const char *func, const char *msg, void *arg);

/* Install a handler (NULL restores the default: stderr). */
void kagi_log_set_handler(kagi_log_handler_fn *fn, void *arg);
/* Messages above this level are dropped. Default KAGI_LOG_INFO. */
void kagi_log_set_level(int level);
int kagi_log_get_level(void);
/* Built-in handlers.  The syslog one expects openlog() done by the program. */
void kagi_log_stderr_handler(int level, const char *file, int line,
    const char *func, const char *msg, void *arg);
void kagi_log_syslog_handler(int level, const char *file, int line,
    const char *func, const char *msg, void *arg);
/* Parse "error|warn|info|debug"; returns 0 or KAGI_ERR_INVALID. */
int kagi_log_level_parse(const char *s, int *level);

void kagi_log_msg(int level, const char *file, int line, const char *func,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define kagi_log_err(...) \
	kagi_log_msg(KAGI_LOG_ERR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define kagi_log_warn(...) \
	kagi_log_msg(KAGI_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define kagi_log_info(...) \
	kagi_log_msg(KAGI_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define kagi_log_debug(...) \
	kagi_log_msg(KAGI_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
