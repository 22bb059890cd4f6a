// SPDX-License-Identifier: MIT
/*
 * A consumer that blocks on an empty ring, for kaos-trace --off-cpu:
 *   kt_offcpu [--ms TOTAL] [--period-us P] [--flush-us F] [--batch N]
 * A "producer" thread naps P µs (producer_nap), sends N messages on a
 * libkaos SPSC ring and wakes the consumer through a futex. The "consumer"
 * thread drains the ring, then blocks in flush_output() for F µs
 * (nanosleep), then, the ring being empty, in wait_for_work() on the futex
 * until the next batch: with P = 20 ms and F = 1 ms, ~95 % of its blocked
 * time is in wait_for_work(). The main thread sleeps TOTAL ms, then stops
 * both. At the end it prints what the consumer measured itself (wall time
 * inside each function):
 *   consumer wait_for_work_ns W flush_output_ns F batches B msgs M
 *
 * Each blocking call goes through a helper of its own (futex_wait,
 * sleep_us) between the known function and libc: Debian's libc has no frame
 * pointers, so a frame-pointer unwinder skips the caller of a libc function
 * that enters the kernel (docs/kaos-trace.md, "Off-CPU time").
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kaos/ring.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct shared {
	struct kaos_ring *ring;
	_Atomic uint32_t work_seq; /* bumped by the producer after each batch (the futex word) */
	atomic_bool stop;
	uint64_t period_us, flush_us, batch;
	/* measured by the consumer */
	uint64_t wait_ns, flush_ns, batches, msgs;
};

__attribute__((noinline)) static void futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
	struct timespec ts = {0, 50000000}; /* re-check stop every 50 ms */

	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

__attribute__((noinline)) static void sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The consumer's wait on an empty ring: the known blocking function. */
__attribute__((noinline)) static void wait_for_work(struct shared *s, uint32_t seen)
{
	while (atomic_load(&s->work_seq) == seen && !atomic_load(&s->stop))
		futex_wait(&s->work_seq, seen);
}

/* A short block after each batch (as if writing the results out). */
/*
 * The empty asm after each call keeps the call from becoming a tail jump,
 * which would take the calling function's frame off the stack.
 */

/* A short block after each batch (as if writing the results out). */
__attribute__((noinline)) static void flush_output(struct shared *s)
{
	sleep_us(s->flush_us);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void producer_nap(struct shared *s)
{
	sleep_us(s->period_us);
	__asm__ volatile("" ::: "memory");
}

static void *consumer(void *arg)
{
	struct shared *s = arg;
	uint64_t v;

	pthread_setname_np(pthread_self(), "consumer");
	while (!atomic_load(&s->stop)) {
		/* read the word before the ring: a batch sent after this wakes us */
		uint32_t seen = atomic_load(&s->work_seq);
		uint64_t got = 0, t;

		while (kaos_ring_recv(s->ring, &v) == 0)
			got++;
		if (got) {
			s->msgs += got;
			s->batches++;
			t = now_ns();
			flush_output(s);
			s->flush_ns += now_ns() - t;
			continue;
		}
		t = now_ns();
		wait_for_work(s, seen);
		s->wait_ns += now_ns() - t;
	}
	return NULL;
}

static void *producer(void *arg)
{
	struct shared *s = arg;
	uint64_t seq = 0;

	pthread_setname_np(pthread_self(), "producer");
	while (!atomic_load(&s->stop)) {
		producer_nap(s);
		for (uint64_t i = 0; i < s->batch; i++, seq++)
			if (kaos_ring_send(s->ring, &seq))
				break;
		atomic_fetch_add(&s->work_seq, 1);
		syscall(SYS_futex, (uint32_t *)&s->work_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: kt_offcpu [--ms TOTAL] [--period-us P] [--flush-us F] [--batch N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct shared s = {.period_us = 20000, .flush_us = 1000, .batch = 64};
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = 1024,
				       .slot_size = 8,
				       .name = "offcpu",
				       .wait = KAOS_WAIT_FAIL};
	uint64_t total_ms = 1500;
	pthread_t pc, pp;

	for (int i = 1; i < argc; i += 2) {
		char *end;
		uint64_t v = i + 1 < argc ? strtoull(argv[i + 1], &end, 0) : 0;

		if (i + 1 >= argc || *end)
			usage();
		if (!strcmp(argv[i], "--ms"))
			total_ms = v;
		else if (!strcmp(argv[i], "--period-us"))
			s.period_us = v;
		else if (!strcmp(argv[i], "--flush-us"))
			s.flush_us = v;
		else if (!strcmp(argv[i], "--batch") && v >= 1 && v <= 1024)
			s.batch = v;
		else
			usage();
	}
	if (kaos_ring_create(&cfg, &s.ring)) {
		fprintf(stderr, "kt_offcpu: cannot create ring\n");
		return 1;
	}
	if (pthread_create(&pc, NULL, consumer, &s) || pthread_create(&pp, NULL, producer, &s)) {
		fprintf(stderr, "kt_offcpu: cannot start threads\n");
		return 1;
	}
	sleep_us(total_ms * 1000);
	atomic_store(&s.stop, true);
	atomic_fetch_add(&s.work_seq, 1);
	syscall(SYS_futex, (uint32_t *)&s.work_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(pp, NULL);
	pthread_join(pc, NULL);
	kaos_ring_destroy(s.ring);
	printf("consumer wait_for_work_ns %llu flush_output_ns %llu batches %llu msgs %llu\n",
	       (unsigned long long)s.wait_ns, (unsigned long long)s.flush_ns,
	       (unsigned long long)s.batches, (unsigned long long)s.msgs);
	return 0;
}
