/* SPDX-License-Identifier: MIT */
/*
 * libkaos probe sites: USDT notes with semaphores and a 5-byte nop.
 *
 * Why our own macro instead of <sys/sdt.h>:
 *  - Debian's sdt.h always emits a 1-byte nop. A uprobe on it is emulated
 *    (~5 us a hit here); a 5-byte nop (0f 1f 44 00 00) is turned by recent
 *    x86 kernels (6.18 here) into a CALL to a trampoline (~1.5 us a hit).
 *  - sdt.h lets the compiler pick memory operands such as -4@(%rax,%rdx,8);
 *    libbpf 1.1 cannot parse scaled-index operands. Every argument here is
 *    forced into a register ("r") and declared 8 bytes wide.
 *
 * The notes are standard .note.stapsdt records (readelf -n, libbpf USDT,
 * bpftrace and perf read them) with a semaphore in .probes that the kernel
 * increments while a tracer is attached (uprobe ref_ctr_offset).
 *
 * RED ZONE HAZARD (x86_64): the kernel's optimised nop5 path is a CALL, so
 * it pushes a return address at [rsp-8], inside the 128-byte red zone that
 * a leaf function may use without moving rsp. A traced nop5 in such a leaf
 * corrupted red-zone data on 199,999 of 200,000 calls on this machine.
 * Everything that carries these probes must therefore be compiled with
 * -mno-red-zone (the Makefile does so for libkaos and the test programs);
 * KAOS_PROBE_NOP1 selects the classic 1-byte nop instead, which is safe
 * with the red zone and cheaper on kernels without the nop5 optimisation.
 * tests/integration/test_redzone.sh keeps this honest.
 *
 * The probe ABI (names, arguments, units) is documented in docs/probes.md.
 */
#ifndef KAOS_PROBES_H
#define KAOS_PROBES_H

#include <stdint.h>

#if defined(__x86_64__) && !defined(KAOS_PROBE_NOP1) && !defined(KAOS_NO_RED_ZONE)
/* Compilers define no macro for -mno-red-zone; the build passes -DKAOS_NO_RED_ZONE with it. */
#error "code carrying kaos nop5 probes must be built with -mno-red-zone -DKAOS_NO_RED_ZONE"
#endif

#if defined(KAOS_PROBE_NOP1)
#define KAOS__PROBE_NOP "nop"
#elif defined(__x86_64__)
/* Written as bytes: the assembler would shorten nopl 0x0(%rax,%rax,1). */
#define KAOS__PROBE_NOP ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00"
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

/* The note, the nop and the (one-time) .stapsdt.base anchor. */
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
 * control by fork: owner_start (the traced process's start time, written
 * with the slots) then names another process, and the next tracer of the
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
	struct kaos_probe_request slots[KAOS_PROBE_CONTROL_SLOTS];
};
#define KAOS_PROBE_CONTROL_MAGIC   0x6b616f73u /* "kaos" */
#define KAOS_PROBE_CONTROL_VERSION 2u
#define KAOS_PROBE_CONTROL_SYMBOL  "kaos_probe_control"
#define KAOS_PROBE_CONTROL_V1_SIZE 16u /* magic, version, sample_every, reserved */
extern struct kaos_probe_control kaos_probe_control;

#endif /* KAOS_PROBES_H */
