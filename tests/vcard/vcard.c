/*
 * kagi-test-vcard: a virtual staff card for the real PC/SC test stack.
 * Connects libcacard's CAC emulation (an NSS database holding the card's
 * RSA key and certificate; the NSS password is the card PIN) to the vpcd
 * reader driver of a private pcscd over vpcd's TCP protocol (vpcd_frame.h).
 * Starting the bridge inserts the card, stopping it removes it.
 *
 *   kagi-test-vcard --port PORT --db DIR --cert NICKNAME
 *   kagi-test-vcard --port PORT --unsupported
 *   kagi-test-vcard --wait present|absent|reader --reader NAME [--timeout-ms N]
 *
 * --wait asks pcscd (PCSCLITE_CSOCK_NAME) until the reader NAME exists, or
 * holds a card (present), or holds none (absent): exit 0, or 1 on timeout.
 * --unsupported presents a card OpenSC does not know: an ATR of no known
 * card and "instruction not supported" (6D00) to every APDU.
 * Test program only: never installed.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libcacard.h>
#include <winscard.h>

#include "kagi/err.h"
#include "vpcd_frame.h"

#define READER_NAME "kagi-vcard"
#define RESP_MAX (VPCD_MAX_FRAME + VPCD_HDR_LEN)

static const uint8_t unsupported_atr[] = { 0x3b, 0x02, 0x4b, 0x47 };
static const uint8_t sw_ins_not_supported[] = { 0x6d, 0x00 };
static const uint8_t sw_wrong_length[] = { 0x67, 0x00 };

struct bridge {
	int fd;
	int unsupported;
	VReader *reader;
	uint8_t atr[64];
	size_t atr_len;
};

static void
usage(void)
{
	fprintf(stderr, "usage: kagi-test-vcard --port PORT [--host ADDR] "
		"(--db DIR --cert NICKNAME | --unsupported)\n"
		"       kagi-test-vcard --wait present|absent|reader --reader NAME "
		"[--timeout-ms N]\n");
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does pcscd list a reader named name (exactly)? */
static int
reader_listed(SCARDCONTEXT ctx, const char *name)
{
	char buf[4096];
	DWORD len = sizeof(buf);
	size_t off = 0;

	if (SCardListReaders(ctx, NULL, buf, &len) != SCARD_S_SUCCESS)
		return 0;
	if (len == 0 || len > sizeof(buf))
		return 0;
	buf[len - 1] = '\0';
	while (off < len && buf[off] != '\0') {
		size_t l = strnlen(buf + off, len - off);
		if (strcmp(buf + off, name) == 0)
			return 1;
		off += l + 1;
	}
	return 0;
}

static int
wait_state(const char *what, const char *name, long timeout_ms)
{
	SCARDCONTEXT ctx = 0;
	SCARD_READERSTATE st;
	long deadline = now_ms() + timeout_ms;
	int want_present = strcmp(what, "present") == 0;
	int want_absent = strcmp(what, "absent") == 0;
	int r = 1;

	if (!want_present && !want_absent && strcmp(what, "reader") != 0)
		return 2;
	while (now_ms() < deadline) {
		if (ctx == 0 && SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL,
		    &ctx) != SCARD_S_SUCCESS) {
			ctx = 0;
			usleep(100 * 1000);
			continue;
		}
		if (!reader_listed(ctx, name)) {
			usleep(100 * 1000);
			continue;
		}
		if (!want_present && !want_absent) {
			r = 0;
			break;
		}
		memset(&st, 0, sizeof(st));
		st.szReader = name;
		st.dwCurrentState = SCARD_STATE_UNAWARE;
		if (SCardGetStatusChange(ctx, 0, &st, 1) == SCARD_S_SUCCESS) {
			int present = (st.dwEventState & SCARD_STATE_PRESENT) != 0;
			if ((want_present && present) || (want_absent && !present)) {
				r = 0;
				break;
			}
		}
		usleep(50 * 1000);
	}
	if (ctx != 0)
		SCardReleaseContext(ctx);
	if (r != 0)
		fprintf(stderr, "kagi-test-vcard: reader \"%s\": not %s after %ld ms\n",
			name, what, timeout_ms);
	return r;
}

static int
read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k == 0)
			return got == 0 ? KAGI_ERR_NOT_FOUND : KAGI_ERR_FORMAT;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return KAGI_ERR_SYSTEM;
		}
		got += (size_t)k;
	}
	return 0;
}

static int
write_full(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = write(fd, p + done, n - done);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return KAGI_ERR_SYSTEM;
		}
		done += (size_t)k;
	}
	return 0;
}

/* One framed answer in one write (no Nagle delay between header and data). */
static int
send_frame(int fd, const uint8_t *data, size_t n)
{
	static uint8_t out[RESP_MAX];
	size_t outlen = 0;
	int r;

	if ((r = vpcd_frame_emit(data, n, out, sizeof(out), &outlen)) != 0)
		return r;
	return write_full(fd, out, outlen);
}

static void
quickack(int fd)
{
	int one = 1;

	/* Linux clears TCP_QUICKACK after a while: set it before every read,
	 * or each APDU waits for the delayed ACK (~40 ms) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static int
connect_vpcd(const char *host, unsigned port, int *fdp)
{
	struct sockaddr_in sa;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int fd = -1, one = 1, i;

	*fdp = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return KAGI_ERR_INVALID;
	/* vpcd listens once pcscd has loaded the driver: retry for 10 s */
	for (i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return KAGI_ERR_SYSTEM;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			*fdp = fd;
			return 0;
		}
		close(fd);
		fd = -1;
		nanosleep(&ts, NULL);
	}
	return KAGI_ERR_UNAVAILABLE;
}

static int
card_init(struct bridge *b, const char *db, const char *nick)
{
	VCardEmulOptions *opts = NULL;
	char args[4096];
	unsigned char atr[64];
	int atr_len = (int)sizeof(atr);
	int n;

	if (strpbrk(db, "\"") != NULL || strpbrk(nick, ",()\" ") != NULL)
		return KAGI_ERR_INVALID;
	n = snprintf(args, sizeof(args),
		"db=\"sql:%s\" use_hw=no soft=(,%s,CAC,,%s)", db, READER_NAME, nick);
	if (n < 0 || (size_t)n >= sizeof(args))
		return KAGI_ERR_LIMIT;
	opts = vcard_emul_options(args);
	if (opts == NULL || vcard_emul_init(opts) != VCARD_EMUL_OK) {
		fprintf(stderr, "kagi-test-vcard: libcacard could not open %s (%s)\n",
			db, nick);
		return KAGI_ERR_UNAVAILABLE;
	}
	b->reader = vreader_get_reader_by_name(READER_NAME);
	if (b->reader == NULL || vreader_card_is_present(b->reader) != VREADER_OK) {
		fprintf(stderr, "kagi-test-vcard: no card for certificate %s\n", nick);
		return KAGI_ERR_NOT_FOUND;
	}
	if (vreader_power_on(b->reader, atr, &atr_len) != VREADER_OK ||
	    atr_len <= 0 || (size_t)atr_len > sizeof(b->atr))
		return KAGI_ERR_FORMAT;
	memcpy(b->atr, atr, (size_t)atr_len);
	b->atr_len = (size_t)atr_len;
	return 0;
}

static int
answer_apdu(struct bridge *b, const uint8_t *apdu, size_t n)
{
	static uint8_t resp[VPCD_MAX_FRAME];
	int rlen = (int)sizeof(resp);

	if (b->unsupported)
		return send_frame(b->fd, sw_ins_not_supported, sizeof(sw_ins_not_supported));
	if (n > (size_t)VPCD_MAX_FRAME)
		return KAGI_ERR_LIMIT;
	if (vreader_xfr_bytes(b->reader, (unsigned char *)(uintptr_t)apdu, (int)n,
	    resp, &rlen) != VREADER_OK)
		return KAGI_ERR_UNAVAILABLE;
	if (rlen < 2 || (size_t)rlen > sizeof(resp))
		return KAGI_ERR_FORMAT;
	return send_frame(b->fd, resp, (size_t)rlen);
}

static int
serve(struct bridge *b)
{
	static uint8_t buf[VPCD_MAX_FRAME];
	uint8_t hdr[VPCD_HDR_LEN];
	enum vpcd_msg kind;
	size_t n = 0;
	int r;

	for (;;) {
		quickack(b->fd);
		r = read_full(b->fd, hdr, sizeof(hdr));
		if (r == KAGI_ERR_NOT_FOUND)
			return 0; /* vpcd closed the connection (pcscd stopped) */
		if (r != 0)
			return r;
		if ((r = vpcd_frame_len(hdr, &n)) != 0) {
			fprintf(stderr, "kagi-test-vcard: empty frame from vpcd\n");
			return r;
		}
		quickack(b->fd);
		if ((r = read_full(b->fd, buf, n)) != 0)
			return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_FORMAT : r;
		if (vpcd_frame_kind(buf, n, &kind) != 0) {
			if (n == 1) {
				fprintf(stderr, "kagi-test-vcard: unknown control 0x%02x\n",
					buf[0]);
				continue;
			}
			r = send_frame(b->fd, sw_wrong_length, sizeof(sw_wrong_length));
			if (r != 0)
				return r;
			continue;
		}
		switch (kind) {
		case VPCD_POWER_OFF:
			if (!b->unsupported)
				(void)vreader_power_off(b->reader);
			break;
		case VPCD_POWER_ON:
		case VPCD_RESET:
			if (!b->unsupported)
				(void)vreader_power_on(b->reader, NULL, NULL);
			break;
		case VPCD_GET_ATR:
			if (b->unsupported)
				r = send_frame(b->fd, unsupported_atr, sizeof(unsupported_atr));
			else
				r = send_frame(b->fd, b->atr, b->atr_len);
			if (r != 0)
				return r;
			break;
		case VPCD_APDU:
			if ((r = answer_apdu(b, buf, n)) != 0)
				return r;
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "db", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'c' },
		{ "unsupported", no_argument, NULL, 'u' },
		{ "wait", required_argument, NULL, 'w' },
		{ "reader", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct bridge b;
	const char *host = "127.0.0.1", *db = NULL, *nick = NULL;
	const char *wait = NULL, *reader = NULL;
	unsigned long port = 0;
	long timeout_ms = 10000;
	char *end = NULL;
	int c, r;

	memset(&b, 0, sizeof(b));
	b.fd = -1;
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
				usage();
				return 2;
			}
			break;
		case 'H': host = optarg; break;
		case 'd': db = optarg; break;
		case 'c': nick = optarg; break;
		case 'u': b.unsupported = 1; break;
		case 'w': wait = optarg; break;
		case 'r': reader = optarg; break;
		case 't':
			errno = 0;
			timeout_ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || timeout_ms <= 0 ||
			    timeout_ms > 600000) {
				usage();
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (wait != NULL) {
		if (optind != argc || reader == NULL) {
			usage();
			return 2;
		}
		return wait_state(wait, reader, timeout_ms);
	}
	if (optind != argc || port == 0 ||
	    (!b.unsupported && (db == NULL || nick == NULL))) {
		usage();
		return 2;
	}
	if (!b.unsupported && (r = card_init(&b, db, nick)) != 0)
		return 1;
	if ((r = connect_vpcd(host, (unsigned)port, &b.fd)) != 0) {
		fprintf(stderr, "kagi-test-vcard: cannot connect to vpcd on %s:%lu\n",
			host, port);
		return 1;
	}
	fprintf(stderr, "kagi-test-vcard: card inserted (%s)\n",
		b.unsupported ? "unsupported" : "CAC");
	r = serve(&b);
	close(b.fd);
	if (b.reader != NULL)
		vreader_free(b.reader);
	if (r != 0) {
		fprintf(stderr, "kagi-test-vcard: stopped: %s\n", kagi_err_name(r));
		return 1;
	}
	return 0;
}
