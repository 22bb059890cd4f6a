/* SPDX-License-Identifier: MIT */
/*
 * kt_array: the one growable-array helper. An array is a pointer, a count
 * the caller keeps and a capacity (size_t) this helper keeps:
 *
 *	struct item *v = NULL;
 *	size_t n = 0, cap = 0;
 *
 *	if (kt_array_reserve(v, cap, n + 1))
 *		return -ENOMEM;
 *	v[n++] = item;
 *
 * The capacity at least doubles (KT_ARRAY_MIN elements at first), so n
 * appends cost O(n) copies. The sizes are checked for overflow; on failure
 * the array is left as it was (still valid, still the caller's to free).
 * New elements are not initialised.
 */
#ifndef KT_ARRAY_H
#define KT_ARRAY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KT_ARRAY_MIN 16

/* The capacity to grow cap to for need elements (0: need overflows max). */
static inline size_t kt_array_next_cap(size_t cap, size_t need, size_t max)
{
	size_t next = cap > max / 2 ? max : cap * 2;

	if (need > max)
		return 0;
	if (next < KT_ARRAY_MIN)
		next = KT_ARRAY_MIN < max ? KT_ARRAY_MIN : max;
	return next < need ? need : next;
}

/*
 * Makes room for need elements of elem bytes in the array *pv points to
 * (a pointer of any type, copied through memcpy to stay within the aliasing
 * rules), of capacity *cap: 0, or -ENOMEM (nothing changed).
 */
static inline int kt_array_reserve_(void *pv, size_t *cap, size_t need, size_t elem)
{
	void *v, *nv;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = kt_array_next_cap(*cap, need, elem ? SIZE_MAX / elem : SIZE_MAX);
	if (!ncap || !elem)
		return -ENOMEM;
	memcpy(&v, pv, sizeof(v));
	nv = realloc(v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	memcpy(pv, &nv, sizeof(nv));
	*cap = ncap;
	return 0;
}

/* kt_array_reserve(ptr, cap, need): ptr and cap are lvalues (cap a size_t). */
#define kt_array_reserve(ptr, cap, need) kt_array_reserve_(&(ptr), &(cap), (need), sizeof(*(ptr)))

#endif /* KT_ARRAY_H */
