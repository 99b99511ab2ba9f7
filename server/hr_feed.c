/*
 * HR feed parser (R-ID-1, R-ID-5): the CSV format of docs/HR-FEED.md.
 * Pure: bytes in, rows or a list of errors out; no store, no clock.  Every
 * line is checked and every fault is reported with its line and column; a
 * feed with any fault yields no rows at all (the whole feed is refused).
 * Fuzzed by fuzz/fuzz_hr_feed.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "server_int.h"

static const char *const hr_status_names[HR_STATUS_COUNT] = {
	[HR_ACTIVE] = "active",
	[HR_TRANSFERRED] = "transferred",
	[HR_SECONDED] = "seconded",
	[HR_ON_LEAVE] = "on-leave",
	[HR_RETIRED] = "retired",
	[HR_DECEASED] = "deceased",
	[HR_CONTRACT_ENDED] = "contract-ended",
};

/* Header names, in the order of enum hr_col. */
static const char *const hr_col_names[HR_COL_COUNT] = {
	[HR_COL_STAFF_NO] = "staff_no",
	[HR_COL_NAME] = "name",
	[HR_COL_KANA] = "kana",
	[HR_COL_SECTION] = "section",
	[HR_COL_EMPLOYMENT] = "employment",
	[HR_COL_STATUS] = "status",
	[HR_COL_EFFECTIVE] = "effective_date",
};

/* Byte caps per column (docs/HR-FEED.md; match the store's field caps). */
static const size_t hr_col_max[HR_COL_COUNT] = {
	[HR_COL_STAFF_NO] = 32,
	[HR_COL_NAME] = 256,
	[HR_COL_KANA] = 256,
	[HR_COL_SECTION] = 256,
	[HR_COL_EMPLOYMENT] = 64,
	[HR_COL_STATUS] = 32,
	[HR_COL_EFFECTIVE] = 10,
};

const char *
hr_status_name(int s)
{
	return s >= 0 && s < HR_STATUS_COUNT ? hr_status_names[s] : "unknown";
}

int
hr_status_parse(const char *s, int *out)
{
	*out = -1;
	for (int i = 0; s != NULL && i < HR_STATUS_COUNT; i++)
		if (strcmp(s, hr_status_names[i]) == 0) {
			*out = i;
			return 0;
		}
	return KAGI_ERR_INVALID;
}

const char *
hr_col_name(int c)
{
	return c >= 0 && c < HR_COL_COUNT ? hr_col_names[c] : "";
}

void
hr_feed_free(struct hr_feed *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		for (int c = 0; c < HR_COL_COUNT; c++)
			free(f->rows[i].f[c]);
	free(f->rows);
	free(f);
}

static void
add_err(struct hr_feed_errors *e, uint32_t line, uint32_t col, int field,
    const char *reason, uint32_t other_line)
{
	struct hr_feed_error *x;

	e->total++;
	if (e->n >= HR_FEED_MAX_ERRORS)
		return;
	x = &e->e[e->n++];
	x->line = line;
	x->column = col;
	x->field = field >= 0 ? hr_col_names[field] : "";
	x->reason = reason;
	x->other_line = other_line;
}

/* Proleptic Gregorian days since 1970-01-01 (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
hr_date_parse(const char *s, int64_t *out)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	unsigned y = 0, m, d, dim;

	*out = 0;
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return KAGI_ERR_INVALID;
	for (int i = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return KAGI_ERR_INVALID;
	}
	for (int i = 0; i < 4; i++)
		y = y * 10 + (unsigned)(s[i] - '0');
	m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
	d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
	if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1)
		return KAGI_ERR_INVALID;
	dim = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		dim = 29;
	if (d > dim)
		return KAGI_ERR_INVALID;
	*out = days_from_civil((int64_t)y, m, d) * 86400;
	return 0;
}

/*
 * One CSV line (no CR/LF) into at most HR_FEED_MAX_FIELDS fields.  Fields
 * are views into a scratch copy with quotes undone.  Returns the number of
 * fields, or -1 for a quoting fault (column in *bad_col).
 */
struct csv_field {
	const char *p;
	size_t n;
};

static int
csv_split(char *line, size_t len, struct csv_field *fl, uint32_t *bad_col,
    int *too_many)
{
	size_t i = 0, w;
	int nf = 0;

	*too_many = 0;
	*bad_col = 0;
	for (;;) {
		char *start = line + i;

		if (nf >= HR_FEED_MAX_FIELDS) {
			*too_many = 1;
			return nf;
		}
		if (i < len && line[i] == '"') {
			/* quoted: "" is a quote; must close on this line */
			i++;
			w = 0;
			for (;;) {
				if (i >= len) {
					*bad_col = (uint32_t)nf + 1;
					return -1;
				}
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						start[w++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				start[w++] = line[i++];
			}
			if (i < len && line[i] != ',') {
				*bad_col = (uint32_t)nf + 1;
				return -1;
			}
		} else {
			size_t s = i;

			while (i < len && line[i] != ',') {
				if (line[i] == '"') {
					*bad_col = (uint32_t)nf + 1;
					return -1;
				}
				i++;
			}
			w = i - s;
		}
		fl[nf].p = start;
		fl[nf].n = w;
		nf++;
		if (i >= len)
			return nf;
		i++; /* the comma */
	}
}

static int
has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

static int
staff_no_ok(const char *p, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '-'))
			return 0;
	}
	return 1;
}

/* The employment types kagi knows (R-ID-11; the same list as
 * `kagi person add`, server/api_id.c). */
static const char *const employment_types[] = {
	"regular", "fiscal-year", "temporary", "part-time", "dispatched",
	"contractor", "council", "other",
};

static int
employment_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(employment_types) /
	    sizeof(employment_types[0]); i++)
		if (strlen(employment_types[i]) == n &&
		    memcmp(employment_types[i], p, n) == 0)
			return 1;
	return 0;
}

/* Header line: every column name exactly once, in any order. */
static int
parse_header(struct csv_field *fl, int nf, int map[HR_COL_COUNT],
    uint32_t line, struct hr_feed_errors *e)
{
	int seen[HR_COL_COUNT] = { 0 };
	int bad = 0;

	for (int c = 0; c < HR_COL_COUNT; c++)
		map[c] = -1;
	for (int i = 0; i < nf; i++) {
		int c;

		for (c = 0; c < HR_COL_COUNT; c++)
			if (fl[i].n == strlen(hr_col_names[c]) &&
			    memcmp(fl[i].p, hr_col_names[c], fl[i].n) == 0)
				break;
		if (c == HR_COL_COUNT) {
			add_err(e, line, (uint32_t)i + 1, -1, "missing_header",
			    0);
			bad = 1;
			continue;
		}
		if (seen[c]) {
			add_err(e, line, (uint32_t)i + 1, c,
			    "duplicate_column", 0);
			bad = 1;
			continue;
		}
		seen[c] = 1;
		map[c] = i;
	}
	for (int c = 0; c < HR_COL_COUNT; c++)
		if (!seen[c] && !bad) {
			add_err(e, line, 0, c, "missing_column", 0);
			bad = 1;
		}
	return bad ? KAGI_ERR_FORMAT : 0;
}

struct dup_ent {
	const char *staff_no;
	uint32_t line;
	size_t idx;
};

static int
dup_cmp(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	int c = strcmp(x->staff_no, y->staff_no);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
err_cmp(const void *a, const void *b)
{
	const struct hr_feed_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

int
hr_feed_parse(const uint8_t *data, size_t len, struct hr_feed **out,
    struct hr_feed_errors *e)
{
	struct hr_feed *f = NULL;
	struct csv_field fl[HR_FEED_MAX_FIELDS];
	struct dup_ent *dups = NULL;
	char *line = NULL;
	size_t pos = 0, cap = 0;
	uint32_t lineno = 0, bad_col;
	int map[HR_COL_COUNT], have_header = 0, nf, too_many;
	int r = KAGI_ERR_INTERNAL;
	unsigned int hl = 0;

	if (out != NULL)
		*out = NULL;
	if (e == NULL || out == NULL || (data == NULL && len > 0))
		return KAGI_ERR_INVALID;
	memset(e, 0, sizeof(*e));
	if (len > HR_FEED_MAX_BYTES) {
		add_err(e, 0, 0, -1, "oversize_feed", 0);
		return KAGI_ERR_LIMIT;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return KAGI_ERR_NOMEM;
	if (EVP_Digest(data != NULL ? data : (const uint8_t *)"", len,
	    f->sha256, &hl, EVP_sha256(), NULL) != 1) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	/* a UTF-8 byte order mark (spreadsheet exports) is allowed */
	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
		pos = 3;
	while (pos < len) {
		const uint8_t *nl = memchr(data + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (data + pos)) : len - pos;
		size_t next = pos + n + (nl != NULL ? 1 : 0);
		struct hr_row *row;

		lineno++;
		if (n > 0 && data[pos + n - 1] == '\r')
			n--;
		if (n == 0) {
			pos = next;
			continue;   /* empty lines are ignored */
		}
		if (n > HR_FEED_MAX_LINE) {
			add_err(e, lineno, 0, -1, "oversize_field", 0);
			if (!have_header)
				break;
			pos = next;
			continue;
		}
		if (n + 1 > cap) {
			char *nb = realloc(line, n + 1);
			if (nb == NULL) {
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			line = nb;
			cap = n + 1;
		}
		memcpy(line, data + pos, n);
		line[n] = '\0';
		pos = next;
		nf = csv_split(line, n, fl, &bad_col, &too_many);
		if (nf < 0) {
			add_err(e, lineno, bad_col, -1, "bad_quote", 0);
			if (!have_header)
				break;
			continue;
		}
		if (!have_header) {
			if (too_many || parse_header(fl, nf, map, lineno, e) !=
			    0) {
				if (too_many)
					add_err(e, lineno, 0, -1,
					    "missing_header", 0);
				break;  /* nothing can be read without it */
			}
			have_header = 1;
			continue;
		}
		if (too_many || nf != HR_COL_COUNT) {
			add_err(e, lineno, (uint32_t)nf, -1,
			    "wrong_column_count", 0);
			continue;
		}
		if (f->n >= HR_FEED_MAX_ROWS) {
			add_err(e, lineno, 0, -1, "too_many_rows", 0);
			break;
		}
		if (f->n % 1024 == 0) {
			struct hr_row *nr = realloc(f->rows,
			    (f->n + 1024) * sizeof(*nr));
			if (nr == NULL) {
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			f->rows = nr;
		}
		row = &f->rows[f->n];
		memset(row, 0, sizeof(*row));
		row->line = lineno;
		row->status = -1;
		f->n++;
		for (int c = 0; c < HR_COL_COUNT; c++) {
			const struct csv_field *x = &fl[map[c]];
			uint32_t col = (uint32_t)map[c] + 1;
			int ok = 1;

			if (x->n > hr_col_max[c]) {
				add_err(e, lineno, col, c, "oversize_field", 0);
				continue;
			}
			if (!kagi_utf8_valid(x->p, x->n)) {
				add_err(e, lineno, col, c, "invalid_utf8", 0);
				continue;
			}
			if (has_control(x->p, x->n)) {
				add_err(e, lineno, col, c, "control_char", 0);
				continue;
			}
			if ((row->f[c] = strndup(x->p, x->n)) == NULL) {
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			switch (c) {
			case HR_COL_STAFF_NO:
				if (!staff_no_ok(x->p, x->n)) {
					add_err(e, lineno, col, c,
					    "bad_staff_no", 0);
					ok = 0;
				}
				break;
			case HR_COL_NAME:
				if (x->n == 0) {
					add_err(e, lineno, col, c,
					    "empty_field", 0);
					ok = 0;
				}
				break;
			case HR_COL_EMPLOYMENT:
				if (!employment_ok(x->p, x->n)) {
					add_err(e, lineno, col, c,
					    "bad_employment", 0);
					ok = 0;
				}
				break;
			case HR_COL_STATUS:
				if (hr_status_parse(row->f[c],
				    &row->status) != 0) {
					add_err(e, lineno, col, c,
					    "unknown_status", 0);
					ok = 0;
				}
				break;
			case HR_COL_EFFECTIVE:
				if (hr_date_parse(row->f[c],
				    &row->effective) != 0) {
					add_err(e, lineno, col, c,
					    "bad_date", 0);
					ok = 0;
				}
				break;
			default:
				break;
			}
			(void)ok;
		}
	}
	if (!have_header && e->total == 0)
		add_err(e, lineno > 0 ? lineno : 1, 0, -1, "missing_header", 0);
	/* duplicate staff numbers: name the later line and the first one */
	if (f->n > 1) {
		size_t nd = 0;

		if ((dups = calloc(f->n, sizeof(*dups))) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < f->n; i++)
			if (f->rows[i].f[HR_COL_STAFF_NO] != NULL) {
				dups[nd].staff_no =
				    f->rows[i].f[HR_COL_STAFF_NO];
				dups[nd].line = f->rows[i].line;
				dups[nd].idx = i;
				nd++;
			}
		qsort(dups, nd, sizeof(*dups), dup_cmp);
		for (size_t i = 1; i < nd; i++) {
			size_t j = i;

			if (strcmp(dups[i].staff_no, dups[i - 1].staff_no) != 0)
				continue;
			while (j > 0 && strcmp(dups[j - 1].staff_no,
			    dups[i].staff_no) == 0)
				j--;
			add_err(e, dups[i].line, (uint32_t)map[HR_COL_STAFF_NO]
			    + 1, HR_COL_STAFF_NO, "dup_staff_no",
			    dups[j].line);
		}
	}
	if (e->total > 0) {
		qsort(e->e, e->n, sizeof(e->e[0]), err_cmp);
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = f;
	f = NULL;
	r = 0;
out:
	free(dups);
	free(line);
	hr_feed_free(f);
	return r;
}
