/* SPDX-License-Identifier: MIT */
/* kt_funcs linked with -rdynamic: its functions are also in .dynsym, so a stripped copy keeps them.
 */
#include "kt_funcs.c"
