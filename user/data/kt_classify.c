/* SPDX-License-Identifier: MIT */
#include "kt_classify.h"

enum kt_lat_class kt_classify_latency(uint64_t ns)
{
	if (ns < KT_LAT_GOOD_BELOW_NS)
		return KT_LAT_GOOD;
	if (ns <= KT_LAT_WARN_UPTO_NS)
		return KT_LAT_WARNING;
	return KT_LAT_BAD;
}

enum kt_bp_class kt_classify_backpressure(uint64_t bp_sends, uint64_t sends)
{
	if (bp_sends == 0)
		return KT_BP_NONE;
	if (sends == 0)
		return KT_BP_FREQUENT; /* backpressure but no sends in the window: treat as all */
	/* 128-bit products: bp * 1000 must not wrap */
	unsigned __int128 bp = bp_sends, n = sends;
	if (bp * 1000 < n * KT_BP_RARE_PER_MILLE)
		return KT_BP_RARE;
	if (bp * 100 < n * KT_BP_OCCASIONAL_PCT)
		return KT_BP_OCCASIONAL;
	return KT_BP_FREQUENT;
}

enum kt_rtx_class kt_classify_retransmit(uint64_t retransmits, uint64_t sent)
{
	if (retransmits == 0)
		return KT_RTX_NONE;
	unsigned __int128 r = retransmits, n = sent;
	if (r * 100 < n * KT_RTX_HIGH_PCT)
		return KT_RTX_LOW;
	return KT_RTX_HIGH; /* includes sent == 0 */
}

const char *kt_lat_class_label(enum kt_lat_class c)
{
	switch (c) {
	case KT_LAT_GOOD:
		return "good";
	case KT_LAT_WARNING:
		return "warning";
	case KT_LAT_BAD:
		return "bad";
	}
	return "?";
}

const char *kt_bp_class_label(enum kt_bp_class c)
{
	switch (c) {
	case KT_BP_NONE:
		return "none";
	case KT_BP_RARE:
		return "rare";
	case KT_BP_OCCASIONAL:
		return "occasional";
	case KT_BP_FREQUENT:
		return "frequent";
	}
	return "?";
}

const char *kt_rtx_class_label(enum kt_rtx_class c)
{
	switch (c) {
	case KT_RTX_NONE:
		return "none";
	case KT_RTX_LOW:
		return "low";
	case KT_RTX_HIGH:
		return "high";
	}
	return "?";
}

enum kt_severity kt_lat_severity(enum kt_lat_class c)
{
	return c == KT_LAT_GOOD ? KT_SEV_OK : c == KT_LAT_WARNING ? KT_SEV_WARN : KT_SEV_BAD;
}

enum kt_severity kt_bp_severity(enum kt_bp_class c)
{
	if (c == KT_BP_NONE || c == KT_BP_RARE)
		return KT_SEV_OK;
	return c == KT_BP_OCCASIONAL ? KT_SEV_WARN : KT_SEV_BAD;
}

enum kt_severity kt_rtx_severity(enum kt_rtx_class c)
{
	return c == KT_RTX_HIGH ? KT_SEV_BAD : KT_SEV_OK; /* the guide calls < 1 % ok */
}

const char *kt_severity_label(enum kt_severity s)
{
	switch (s) {
	case KT_SEV_OK:
		return "ok";
	case KT_SEV_WARN:
		return "warn";
	case KT_SEV_BAD:
		return "bad";
	}
	return "?";
}
