/* SPDX-License-Identifier: MIT */
#include "kaos/ring.h"

const char *kaos_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case KAOS_OK:
		return "success";
	case KAOS_EINVAL:
		return "invalid argument";
	case KAOS_ENOMEM:
		return "out of memory";
	case KAOS_EFULL:
		return "ring full (backpressure)";
	case KAOS_EEMPTY:
		return "ring empty";
	case KAOS_EKIND:
		return "operation not supported by this ring kind";
	case KAOS_ESYS:
		return "system call failed (see errno)";
	case KAOS_ECORRUPT:
		return "shared memory header is corrupt or foreign";
	case KAOS_EPEER:
		return "peer process died";
	case KAOS_EVERSION:
		return "shared memory layout version mismatch";
	case KAOS_ETIMEDOUT:
		return "peer timed out (nothing heard from it)";
	case KAOS_ECLOSED:
		return "peer closed the connection";
	default:
		return "unknown error";
	}
}
