/* SPDX-License-Identifier: MIT */
/*
 * libkaos probe sites: USDT notes with semaphores and, on x86_64, a
 * combined nop site.
 *
 * Why our own macro instead of <sys/sdt.h>:
 *  - Debian's sdt.h always emits a 1-byte nop; we want a site a future
 *    kernel can run faster (below) while staying safe on every kernel.
 *  - sdt.h lets the compiler pick memory operands such as -4@(%rax,%rdx,8);
 *    libbpf 1.1 cannot parse scaled-index operands. Every argument here is
 *    forced into a register ("r") and declared 8 bytes wide.
 *
 * The notes are standard .note.stapsdt records (readelf -n, libbpf USDT,
 * bpftrace and perf read them) with a semaphore in .probes that the kernel
 * increments while a tracer is attached (uprobe ref_ctr_offset).
 *
 * THE SITE (x86_64, the default build): one combined site per probe,
 *
 *	+0: 90                             1-byte nop   <- the note's address
 *	+1: 66 2e 0f 1f 84 00 00 00 00 00  10-byte nop
 *
 * Why not a 5-byte nop (0f 1f 44 00 00), kaos' old default: Linux 6.18
 * rewrites a traced nop5 into a CALL to a per-process [uprobes-trampoline]
 * mapping. A forked child inherits the rewritten page but not the mapping
 * and dies with SIGSEGV at its first pass over the site, even after the
 * tracer has gone (issue 11; docs/probes.md). The CALL also writes the
 * return address into the red zone. The 1-byte nop at the note's address is
 * emulated by every kernel: bpftrace, perf and libbpf, which attach there,
 * are safe everywhere. The 10-byte nop is where newer kernels put their
 * red-zone-safe fast path ("lea -0x80(%rsp),%rsp; call"); kaos-trace
 * attaches at +1 only where its start-up self-test shows that path is
 * there, safe across fork and for the red zone, and cheaper
 * (user/engine/kt_features.c). libbpf's own usdt.h emits the same pair of nops.
 *
 * Build options (the Makefile's PROBE_NOP):
 *  - default: the combined site above; on arm64 the one nop.
 *  - KAOS_PROBE_NOP1 (PROBE_NOP=1): a plain 1-byte nop, as sdt.h.
 *  - KAOS_PROBE_NOP5: a plain 5-byte nop, ONLY to measure it (bench,
 *    tests/progs/kt_probe_cost): never what a default build ships, as it
 *    crashes forked children of a traced process on 6.18.
 *
 * RED ZONE (x86_64): a CALL pushes at [rsp-8], inside the 128-byte red zone
 * a leaf function may use without moving rsp. A traced nop5 in such a leaf
 * corrupted red-zone data on 199,999 of 200,000 calls on this machine. The
 * nop10 fast path moves rsp first, and the emulated nop1 writes nothing, so
 * only a nop5 site needs -mno-red-zone; the Makefile passes it for every
 * x86 build anyway (defence in depth). tests/integration/test_redzone.sh.
 *
 * The probe ABI (names, arguments, units) is documented in docs/probes.md.
 */
#ifndef KAOS_PROBES_H
#define KAOS_PROBES_H

#include <stdint.h>

#if defined(KAOS_PROBE_NOP1) && defined(KAOS_PROBE_NOP5)
#error "kaos probes: KAOS_PROBE_NOP1 and KAOS_PROBE_NOP5 are exclusive"
#endif

#if defined(__x86_64__) && defined(KAOS_PROBE_NOP5) && !defined(KAOS_NO_RED_ZONE)
/* Compilers define no macro for -mno-red-zone; the build passes -DKAOS_NO_RED_ZONE with it. */
#error "code carrying kaos nop5 probes must be built with -mno-red-zone -DKAOS_NO_RED_ZONE"
#endif

/* Written as bytes: the assembler would pick other encodings of the same nops. */
#if defined(__x86_64__) && defined(KAOS_PROBE_NOP1)
#define KAOS__PROBE_NOP "nop"
#elif defined(__x86_64__) && defined(KAOS_PROBE_NOP5)
#define KAOS__PROBE_NOP ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00"
#elif defined(__x86_64__)
#define KAOS__PROBE_NOP ".byte 0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00"
#elif defined(__aarch64__)
#define KAOS__PROBE_NOP "nop"
#else
#error "kaos probes: unsupported architecture"
#endif

#define KAOS__STR(x)  #x
#define KAOS__XSTR(x) KAOS__STR(x)

/* Name of the semaphore of probe provider:name (the sdt.h convention). */
#define KAOS_PROBE_SEMA(provider, name) provider##_##name##_semaphore

/* Declares (in a header) or defines (in one .c file) a probe semaphore. */
#define KAOS_PROBE_SEMA_DECLARE(provider, name) \
	extern volatile unsigned short KAOS_PROBE_SEMA(provider, name)
#define KAOS_PROBE_SEMA_DEFINE(provider, name)                                        \
	__attribute__((section(".probes"), used, aligned(2))) volatile unsigned short \
	KAOS_PROBE_SEMA(provider, name) = 0

/* True while at least one tracer is attached to provider:name. */
#define KAOS_PROBE_ENABLED(provider, name) __builtin_expect(KAOS_PROBE_SEMA(provider, name) != 0, 0)

/* The note, the site and the (one-time) .stapsdt.base anchor. */
#define KAOS__PROBE_ASM(provider, name, argfmt)                                             \
	"990:	" KAOS__PROBE_NOP "\n"                                                      \
	"	.pushsection .note.stapsdt,\"?\",\"note\"\n"                                      \
	"	.balign 4\n"                                                                      \
	"	.4byte 992f-991f, 994f-993f, 3\n"                                                 \
	"991:	.asciz \"stapsdt\"\n"                                                         \
	"992:	.balign 4\n"                                                                  \
	"993:	.8byte 990b\n"                                                                \
	"	.8byte _.stapsdt.base\n"                                                          \
	"	.8byte " KAOS__XSTR(KAOS_PROBE_SEMA(                                        \
		provider, name)) "\n"                                                       \
				 "	.asciz \"" #provider "\"\n"                         \
				 "	.asciz \"" #name "\"\n"                             \
				 "	.asciz \"" argfmt "\"\n"                            \
				 "994:	.balign 4\n"                                         \
				 "	.popsection\n"                                           \
				 "	.ifndef _.stapsdt.base\n"                                \
				 "	.pushsection "                                           \
				 ".stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
				 "	.weak _.stapsdt.base\n"                                  \
				 "	.hidden _.stapsdt.base\n"                                \
				 "_.stapsdt.base:	.space 1\n"                               \
				 "	.size _.stapsdt.base, 1\n"                               \
				 "	.popsection\n"                                           \
				 "	.endif\n"

#define KAOS__A(x) ((uint64_t)(uintptr_t)(x))

/* The probe site itself. Guard it with KAOS_PROBE_ENABLED(). */
#define KAOS_PROBE1(provider, name, x0) \
	__asm__ __volatile__(KAOS__PROBE_ASM(provider, name, "8@%[a0]")::[a0] "r"(KAOS__A(x0)))

#define KAOS_PROBE4(provider, name, x0, x1, x2, x3)                                        \
	__asm__ __volatile__(                                                              \
		KAOS__PROBE_ASM(provider, name,                                            \
				"8@%[a0] 8@%[a1] 8@%[a2] 8@%[a3]")::[a0] "r"(KAOS__A(x0)), \
		[a1] "r"(KAOS__A(x1)), [a2] "r"(KAOS__A(x2)), [a3] "r"(KAOS__A(x3)))

#define KAOS_PROBE7(provider, name, x0, x1, x2, x3, x4, x5, x6)                                   \
	__asm__ __volatile__(KAOS__PROBE_ASM(provider, name,                                      \
					     "8@%[a0] 8@%[a1] 8@%[a2] 8@%[a3] 8@%[a4] 8@%[a5] "   \
					     "8@%[a6]")::[a0] "r"(KAOS__A(x0)),                   \
			     [a1] "r"(KAOS__A(x1)), [a2] "r"(KAOS__A(x2)), [a3] "r"(KAOS__A(x3)), \
			     [a4] "r"(KAOS__A(x4)), [a5] "r"(KAOS__A(x5)), [a6] "r"(KAOS__A(x6)))

/*
 * libkaos' probes (provider "kaos"). All carry the same seven arguments so
 * one BPF handler serves them all (docs/probes.md):
 *   arg0 ring id, arg1 cumulative count, arg2 messages in this operation,
 *   arg3 bytes in this operation, arg4 duration ns, arg5 extra, arg6 name ptr
 */
KAOS_PROBE_SEMA_DECLARE(kaos, send);
KAOS_PROBE_SEMA_DECLARE(kaos, recv);
KAOS_PROBE_SEMA_DECLARE(kaos, backpressure);
KAOS_PROBE_SEMA_DECLARE(kaos, retransmit);
KAOS_PROBE_SEMA_DECLARE(kaos, ring_close);
KAOS_PROBE_SEMA_DECLARE(kaos, batch);

/*
 * Batched probe (docs/probes.md, "Batching"): while kaos:batch is attached,
 * each thread records its send, recv and backpressure operations in a
 * thread-local struct kaos_probe_batch and fires
 *   kaos:batch(arg0 buffer address, arg1 records n, arg2 generation, arg3 pid tag)
 * once per KAOS_PROBE_BATCH_RECORDS records, when the oldest pending record
 * is KAOS_PROBE_BATCH_AGE_NS old (checked at the next operation), and at
 * thread exit: one trap instead of 32. A fire with n == 0 only announces the
 * buffer's address (the thread's first record), so a tracer can drain it
 * at exit or exec. After a fire the records are gone (n = 0) and the
 * generation moves on; the per-op probes above fire as before for tracers
 * attached to them, so a per-op tracer and a batching one see the same ops.
 */
#include "kaos/probe_batch.h"

/*
 * Per-process sampling control, written by tracers at run time (with
 * process_vm_writev at this exported symbol's address): only operations
 * whose message sequence number is a multiple of `sample_every` fire
 * send/recv probes. `sample_every` must be a power of two (others are
 * rounded down); 0 and 1 mean every operation. Sampling by sequence number
 * means a sampled send and its recv are the same message, so sojourn is
 * measured on exactly the sampled messages. Counts stay exact: each probe
 * carries the ring's cumulative counters.
 *
 * The hot path reads `sample_every` and nothing else. The slots are for
 * the tracers (version 2): each live tracer keeps its requested period in
 * one slot, named by its pid and start time, and whichever tracer changes
 * a slot recomputes `sample_every` as the finest live request (1 when no
 * slot is in use: every operation, which is what a tracer that does not
 * know this control, e.g. bpftrace, expects). A slot whose tracer is gone
 * (SIGKILL) is reclaimed by the next tracer. A child inherits its parent's
 * control by fork: owner_pid and owner_start (the traced process's pid and
 * start time, written with the slots) then name another process, and the next tracer of the
 * child reclaims every inherited request. Tracers serialize their
 * read-modify-write of this struct with a lock file (docs/probes.md).
 * libkaos itself never writes here after start-up.
 *
 * Layout: the first 12 bytes are version 1's, so a version-1 tracer still
 * finds magic, version and sample_every where it expects them.
 */
#define KAOS_PROBE_CONTROL_SLOTS 8

struct kaos_probe_request {
	int32_t tracer_pid;    /* 0: free slot */
	uint32_t every;	       /* the period this tracer asked for (a power of two) */
	uint64_t tracer_start; /* its start time (/proc/PID/stat field 22, clock ticks) */
};

struct kaos_probe_control {
	uint32_t magic; /* KAOS_PROBE_CONTROL_MAGIC: lets a tracer check the symbol */
	uint32_t version;
	volatile uint32_t sample_every; /* in effect: the finest live request */
	uint32_t nslots;		/* KAOS_PROBE_CONTROL_SLOTS (version 1: reserved, 0) */
	uint64_t owner_start;		/* start time of the process the slots were written for */
	int32_t owner_pid;		/* ... and its pid (a child forked in the same clock tick
					   has its parent's start time) */
	/*
	 * Bumped by a batching tracer when it starts: a thread that sees a new
	 * value fires its pending records and announces its buffer at its
	 * next operation (0 until then; libkaos only reads it).
	 */
	volatile uint32_t batch_epoch;
	struct kaos_probe_request slots[KAOS_PROBE_CONTROL_SLOTS];
};
#define KAOS_PROBE_CONTROL_MAGIC   0x6b616f73u /* "kaos" */
#define KAOS_PROBE_CONTROL_VERSION 2u
#define KAOS_PROBE_CONTROL_SYMBOL  "kaos_probe_control"
#define KAOS_PROBE_CONTROL_V1_SIZE 16u /* magic, version, sample_every, reserved */
extern struct kaos_probe_control kaos_probe_control;

#endif /* KAOS_PROBES_H */
