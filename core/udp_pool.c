// SPDX-License-Identifier: MIT
/* Recycled message buffers for the reliable UDP (core/udp_pool.h has the why). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "udp_pool.h"

static bool pooled(size_t len)
{
	return len > KAOS_UDP_POOL_MIN && len <= KAOS_UDP_POOL_SIZE;
}

void *kaos_udp_pool_get(struct kaos_udp_pool *p, size_t len)
{
	void *buf = p->free;

	if (!pooled(len))
		return malloc(len ? len : 1);
	if (!buf)
		return malloc(KAOS_UDP_POOL_SIZE);
	memcpy(&p->free, buf, sizeof(p->free));
	p->count--;
	return buf;
}

void kaos_udp_pool_put(struct kaos_udp_pool *p, void *buf, size_t len)
{
	if (!buf)
		return;
	if (!pooled(len) || p->count >= KAOS_UDP_POOL_KEEP) {
		free(buf);
		return;
	}
	memcpy(buf, &p->free, sizeof(p->free));
	p->free = buf;
	p->count++;
}

void kaos_udp_pool_drain(struct kaos_udp_pool *p)
{
	while (p->free) {
		void *buf = p->free;

		memcpy(&p->free, buf, sizeof(p->free));
		free(buf);
	}
	p->count = 0;
}
