/* SPDX-License-Identifier: MIT */
/*
 * kt_units: the one parser of the numbers users type with a unit:
 * durations ("500ms", "2s", "1m", "1h", "250us"), sizes ("2M", "4096") and
 * percentages ("1", "0.5%"). Pure functions, no printing: the command line,
 * the daemon's flags, the config file and alert rules all go through them,
 * so that "10s" means the same everywhere.
 *
 * Numbers are plain decimals, digits [. digits]: no sign, no exponent, no
 * "inf" or "nan" (strtod would take all of these). Every parser returns 0,
 * or -EINVAL for bad input (empty, negative, unknown unit, trailing text)
 * and -ERANGE for a value that does not fit.
 */
#ifndef KT_UNITS_H
#define KT_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KT_NS_PER_US 1000ull
#define KT_NS_PER_MS 1000000ull
#define KT_NS_PER_S  1000000000ull

/*
 * A time unit's length in ns: ns, us, µs, ms, s, m, min, h. False if u is
 * none of them.
 */
bool kt_units_time(const char *u, double *ns);

/*
 * Parses a duration into ns. A bare number (no unit) counts in bare_unit_ns
 * (KT_NS_PER_S for options documented in seconds); bare_unit_ns 0 refuses a
 * bare number other than 0 (config keys and rules, where "10" is ambiguous).
 */
int kt_parse_duration_in(const char *s, uint64_t bare_unit_ns, uint64_t *ns);

/* kt_parse_duration_in(s, 0, ns): a unit is required (a bare 0 is 0). */
int kt_parse_duration(const char *s, uint64_t *ns);

/* "10s", "1m", "250ms": the shortest exact spelling of ns. */
const char *kt_fmt_duration(char *buf, size_t n, uint64_t ns);

/*
 * Parses a size in bytes: a decimal number with an optional binary suffix
 * K, M, G (also KiB, MiB, GiB; 1024-based), or a 0x hex number.
 */
int kt_parse_size(const char *s, uint64_t *bytes);

/* Parses a percentage "1", "0.5" or "0.5%" into *pct (percent, not a fraction). */
int kt_parse_percent(const char *s, double *pct);

#endif /* KT_UNITS_H */
