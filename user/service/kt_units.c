// SPDX-License-Identifier: MIT
/* kt_units: durations, sizes and percentages as users type them (kt_units.h). */
#include "kt_units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Beyond this a double no longer converts to uint64_t (2^64 ~ 1.84e19). */
#define U64_LIMIT 1.8e19

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/*
 * Reads digits [. digits] at the start of s into *v; returns the length
 * read (0: no number). Sign, exponent, inf and nan are not numbers here.
 */
static size_t read_decimal(const char *s, double *v)
{
	char tmp[64];
	size_t k = 0;

	while (is_digit(s[k]))
		k++;
	if (k && s[k] == '.' && is_digit(s[k + 1])) {
		k++;
		while (is_digit(s[k]))
			k++;
	}
	if (!k || k >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, k);
	tmp[k] = 0;
	*v = strtod(tmp, NULL);
	return k;
}

static const struct {
	const char *name;
	double ns;
} time_units[] = {
	{"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
	{"s", 1e9}, {"m", 60e9}, {"min", 60e9},	     {"h", 3600e9},
};

bool kt_units_time(const char *u, double *ns)
{
	for (size_t k = 0; k < sizeof(time_units) / sizeof(time_units[0]); k++)
		if (!strcmp(u, time_units[k].name)) {
			*ns = time_units[k].ns;
			return true;
		}
	return false;
}

int kt_parse_duration_in(const char *s, uint64_t bare_unit_ns, uint64_t *ns)
{
	size_t len;
	double v, mul;

	if (!s || !(len = read_decimal(s, &v)))
		return -EINVAL;
	if (!s[len]) {
		if (!bare_unit_ns && v != 0)
			return -EINVAL; /* "10": seconds? milliseconds? say it */
		mul = (double)bare_unit_ns;
	} else if (!kt_units_time(s + len, &mul)) {
		return -EINVAL;
	}
	v *= mul;
	if (!(v < U64_LIMIT))
		return -ERANGE;
	/* rounded to the nearest ns; not llround, whose long overflows above 9.2e18 */
	*ns = (uint64_t)(v + 0.5);
	return 0;
}

int kt_parse_duration(const char *s, uint64_t *ns)
{
	return kt_parse_duration_in(s, 0, ns);
}

const char *kt_fmt_duration(char *buf, size_t n, uint64_t ns)
{
	static const struct {
		uint64_t div;
		const char *u;
	} f[] = {{3600000000000ull, "h"},
		 {60000000000ull, "m"},
		 {1000000000ull, "s"},
		 {1000000ull, "ms"},
		 {1000ull, "us"}};

	for (size_t k = 0; ns && k < sizeof(f) / sizeof(f[0]); k++)
		if (ns % f[k].div == 0) {
			snprintf(buf, n, "%llu%s", (unsigned long long)(ns / f[k].div), f[k].u);
			return buf;
		}
	snprintf(buf, n, "%lluns", (unsigned long long)ns);
	return buf;
}

static int size_suffix(const char *u, uint64_t *mul)
{
	static const char *const names[] = {"K", "M", "G"};

	*mul = 1;
	if (!*u)
		return 0;
	for (int k = 0; k < 3; k++) {
		*mul <<= 10;
		if ((u[0] == names[k][0] || (k == 0 && u[0] == 'k')) &&
		    (!u[1] || !strcmp(u + 1, "iB")))
			return 0;
	}
	return -EINVAL;
}

int kt_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	uint64_t mul;
	char *end;

	if (!s || !is_digit(s[0]))
		return -EINVAL;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		v = strtoull(s + 2, &end, 16);
		if (end == s + 2 || *end)
			return -EINVAL;
		mul = 1;
	} else {
		v = strtoull(s, &end, 10);
		if (size_suffix(end, &mul))
			return -EINVAL;
	}
	if (errno == ERANGE || (mul > 1 && v > UINT64_MAX / mul))
		return -ERANGE;
	*bytes = (uint64_t)v * mul;
	return 0;
}

int kt_parse_percent(const char *s, double *pct)
{
	size_t len;
	double v;

	if (!s || !(len = read_decimal(s, &v)))
		return -EINVAL;
	if (s[len] && strcmp(s + len, "%"))
		return -EINVAL;
	*pct = v;
	return 0;
}
