/* SPDX-License-Identifier: MIT */
/*
 * kt_classify: the verdicts of Kaos' profiling guide, printed beside each
 * metric by kaos-trace. Every classifier returns an enum; the *_label()
 * functions give a short lower-case word for it ("?" for an out-of-range
 * value), and the kt_*_severity() functions map a verdict onto ok/warn/bad
 * (for colours).
 *
 * Thresholds (boundaries follow the guide's wording):
 *   send/recv latency (apply to a percentile, ns):
 *     good     < 100 ns
 *     warning  100 ns .. 1 us (both inclusive)
 *     bad      > 1 us
 *   backpressure: share of send operations that hit backpressure
 *     none        no send hit backpressure
 *     rare        < 0.1 %
 *     occasional  0.1 % .. < 5 %
 *     frequent    >= 5 %   (also: backpressure seen but no sends counted)
 *   retransmit: retransmitted / sent
 *     none  0
 *     low   < 1 %
 *     high  >= 1 %   (the guide says "> 1 %"; exactly 1 % counts as high)
 * The ratios are computed on the integer counts, so there is no rounding
 * at the boundaries.
 */
#ifndef KT_CLASSIFY_H
#define KT_CLASSIFY_H

#include <stdint.h>

#define KT_LAT_GOOD_BELOW_NS 100u  /* good: ns < this */
#define KT_LAT_WARN_UPTO_NS  1000u /* warning: up to and including this */
#define KT_BP_RARE_PER_MILLE 1u	   /* rare: share < 1 per mille (0.1 %) */
#define KT_BP_OCCASIONAL_PCT 5u	   /* occasional: share < 5 %, else frequent */
#define KT_RTX_HIGH_PCT	     1u	   /* high: ratio >= 1 % */

enum kt_severity { KT_SEV_OK = 0, KT_SEV_WARN = 1, KT_SEV_BAD = 2 };

enum kt_lat_class { KT_LAT_GOOD = 0, KT_LAT_WARNING = 1, KT_LAT_BAD = 2 };

enum kt_bp_class { KT_BP_NONE = 0, KT_BP_RARE = 1, KT_BP_OCCASIONAL = 2, KT_BP_FREQUENT = 3 };

enum kt_rtx_class { KT_RTX_NONE = 0, KT_RTX_LOW = 1, KT_RTX_HIGH = 2 };

enum kt_lat_class kt_classify_latency(uint64_t ns);
/* bp_sends: send operations that hit backpressure; sends: all send operations */
enum kt_bp_class kt_classify_backpressure(uint64_t bp_sends, uint64_t sends);
/* retransmits: messages sent again; sent: messages sent (first transmissions) */
enum kt_rtx_class kt_classify_retransmit(uint64_t retransmits, uint64_t sent);

const char *kt_lat_class_label(enum kt_lat_class c); /* good / warning / bad */
const char *kt_bp_class_label(enum kt_bp_class c);   /* none / rare / occasional / frequent */
const char *kt_rtx_class_label(enum kt_rtx_class c); /* none / low / high */

enum kt_severity kt_lat_severity(enum kt_lat_class c); /* good ok, warning warn, bad bad */
enum kt_severity kt_bp_severity(enum kt_bp_class c);   /* none/rare ok, occasional warn, */
						       /* frequent bad */
enum kt_severity kt_rtx_severity(enum kt_rtx_class c); /* none/low ok, high bad */
const char *kt_severity_label(enum kt_severity s);     /* ok / warn / bad */

#endif /* KT_CLASSIFY_H */
