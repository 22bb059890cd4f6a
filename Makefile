# kaos: libkaos (core/) and kaos-trace (bpf/, user/). The one entry point.
#
#   make deps    install the Debian packages the project needs (idempotent)
#   make         libkaos, kaos-trace, apps, test programs
#   make run     the main job: a real workload traced end to end
#   make test    unit (+ASan/UBSan), stress (TSan), valgrind, integration
#   make bench   benchmarks (not part of make test)
#   make fuzz    libFuzzer targets, FUZZ_TIME seconds each (not part of make test)
#
# Sources are found by pattern; adding a file needs no Makefile edit:
#   core/*.c               -> build/libkaos.{a,so}
#   user/kt_*.c            -> build/libkt.a (tracer modules, unit-testable)
#   user/main.c + libkt.a  -> build/kaos-trace
#   bpf/*.bpf.c            -> build/bpf/*.skel.h (embedded in kaos-trace)
#   apps/*.c               -> build/<name>        (programs using libkaos)
#   tests/unit/test_*.c    -> build/tests/unit/*  (+ build/tests/asan/*)
#   tests/stress/*.c       -> build/tests/tsan/*
#   tests/progs/*.c        -> build/tests/progs/* (workloads for tracer tests)
#   tests/progs/lib*.c     -> build/tests/progs/lib*.so (libraries they dlopen)
#   bench/*.c              -> build/bench/*
#   tests/fuzz/fuzz_*.c    -> build/fuzz/* (clang -fsanitize=fuzzer, with libkt's sources)

ARCH ?= $(shell uname -m)
B := build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool

WARN := -Wall -Wextra -Werror
BASE_CFLAGS := -O2 -g -fno-omit-frame-pointer $(WARN) -Iinclude -I$(B) -D_GNU_SOURCE
# nop5 probe sites must not share the stack with red-zone data (include/kaos/probes.h)
ifeq ($(ARCH),x86_64)
PROBE_CFLAGS := -mno-red-zone -DKAOS_NO_RED_ZONE
BPF_ARCH := x86
else ifeq ($(ARCH),aarch64)
PROBE_CFLAGS :=
BPF_ARCH := arm64
endif
ifeq ($(PROBE_NOP),1)
PROBE_CFLAGS += -DKAOS_PROBE_NOP1
endif

CORE_CFLAGS := -std=c11 $(BASE_CFLAGS) $(PROBE_CFLAGS) -fPIC -pthread
USER_CFLAGS := -std=gnu11 $(BASE_CFLAGS) -Iuser $(PROBE_CFLAGS) -pthread
LDLIBS_KT := -lbpf -lpfm -lelf -lz -lm -pthread

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
KT_SRC := $(wildcard user/kt_*.c)
KT_OBJ := $(KT_SRC:%.c=$(B)/%.o)
BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_SKEL := $(BPF_SRC:bpf/%.bpf.c=$(B)/bpf/%.skel.h)
APP_SRC := $(wildcard apps/*.c)
APPS := $(APP_SRC:apps/%.c=$(B)/%)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
UNIT_ASAN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/asan/%)
STRESS_SRC := $(wildcard tests/stress/*.c)
STRESS := $(STRESS_SRC:tests/stress/%.c=$(B)/tests/tsan/%)
PROG_SRC := $(filter-out tests/progs/lib%.c,$(wildcard tests/progs/*.c))
PROGS := $(PROG_SRC:tests/progs/%.c=$(B)/tests/progs/%)
PROG_LIBS := $(patsubst tests/progs/%.c,$(B)/tests/progs/%.so,$(wildcard tests/progs/lib*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
HAVE_TRACER := $(wildcard user/main.c)

SONAME := libkaos.so.0
LIBKAOS_SO := $(B)/$(SONAME).1
LIBKAOS_A := $(B)/libkaos.a

.PHONY: all deps run test test-unit test-asan test-tsan test-valgrind test-integration \
	bench fuzz clean format vmlinux
.DEFAULT_GOAL := all
.SECONDARY:

all: deps $(LIBKAOS_A) $(LIBKAOS_SO) $(B)/libkaos.so $(if $(HAVE_TRACER),$(B)/kaos-trace) \
	$(APPS) $(PROGS) $(PROG_LIBS)

# ---------------------------------------------------------------- packages
DEB_PKGS := build-essential clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libpfm4-dev \
	libcmocka-dev bpftrace valgrind libck-dev libdpdk-dev pkg-config binutils python3 libcap2-bin \
	prometheus curl
deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
		|| echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
		|| { echo "deps: apt-get install failed for: $$missing" >&2; exit 1; }; \
	fi

# ---------------------------------------------------------------- libkaos
$(B)/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(CORE_CFLAGS) -MMD -MP -c $< -o $@

$(LIBKAOS_A): $(CORE_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBKAOS_SO): $(CORE_OBJ)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -pthread -o $@ $^

# The same library with every probe site compiled out (bench: cost of untraced probes).
$(B)/noprobes/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(CORE_CFLAGS) -DKAOS_NO_PROBES -c $< -o $@

$(B)/libkaos-noprobes.a: $(CORE_SRC:%.c=$(B)/noprobes/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libkaos.so: $(LIBKAOS_SO)
	$(Q)ln -sf $(SONAME).1 $(B)/$(SONAME) && ln -sf $(SONAME).1 $@

# ---------------------------------------------------------------- BPF
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h
$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard include/kt_*.h) $(wildcard bpf/*.h) $(VMLINUX_H) | deps
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Iinclude -Ivmlinux/$(ARCH) -I/usr/include/$(ARCH)-linux-gnu \
		-Wall -Werror -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# Regenerate the per-arch BTF header from a kernel's BTF (default: this kernel).
BTF ?= /sys/kernel/btf/vmlinux
vmlinux:
	@mkdir -p vmlinux/$(ARCH)
	$(BPFTOOL) btf dump file $(BTF) format c > vmlinux/$(ARCH)/vmlinux.h

# ---------------------------------------------------------------- kaos-trace
$(B)/user/%.o: user/%.c $(BPF_SKEL) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP -c $< -o $@

$(B)/libkt.a: $(KT_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/kaos-trace: $(B)/user/main.o $(B)/libkt.a $(LIBKAOS_A)
	$(Q)$(CC) -o $@ $^ $(LDLIBS_KT)

# ---------------------------------------------------------------- apps, test programs
# Dynamically linked against libkaos.so so that `kaos-trace -b libkaos.so` sees them.
LINK_KAOS := -L$(B) -Wl,-rpath,'$$ORIGIN/..' -Wl,-rpath,'$$ORIGIN/../..' -Wl,-rpath,'$$ORIGIN' -lkaos
$(B)/%: apps/%.c $(B)/libkaos.so | deps
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP $< -o $@ $(LINK_KAOS) -lz -lm

# tests/progs/*_nopie.c link as classic fixed-address executables (ET_EXEC);
# *_rdynamic.c export their functions (.dynsym).
$(B)/tests/progs/%_nopie: PROG_LDFLAGS := -no-pie
$(B)/tests/progs/%_rdynamic: PROG_LDFLAGS := -rdynamic
$(B)/tests/progs/lib%.so: tests/progs/lib%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -fPIC -shared -MMD -MP $< -o $@
$(B)/tests/progs/%: tests/progs/%.c $(B)/libkaos.so | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(PROG_LDFLAGS) -MMD -MP $< -o $@ $(LINK_KAOS) -lm

# ---------------------------------------------------------------- tests
TEST_LDLIBS := -lcmocka $(LDLIBS_KT)
$(B)/tests/unit/%: tests/unit/%.c $(LIBKAOS_A) $(B)/libkt.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP $< -o $@ $(B)/libkt.a $(LIBKAOS_A) $(TEST_LDLIBS)

# Sanitizer builds: every core/ and user/ module compiled once per sanitizer
# into an archive that each test links (tests pull in only what they use).
SAN_SRC = $(CORE_SRC) $(KT_SRC)
ASAN_FLAGS := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := -O1 -fsanitize=thread
$(B)/asan/%.o: %.c $(BPF_SKEL) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(ASAN_FLAGS) -MMD -MP -c $< -o $@
$(B)/tsan/%.o: %.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(TSAN_FLAGS) -MMD -MP -c $< -o $@
$(B)/libsan-asan.a: $(SAN_SRC:%.c=$(B)/asan/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/libsan-tsan.a: $(CORE_SRC:%.c=$(B)/tsan/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/tests/asan/%: tests/unit/%.c $(B)/libsan-asan.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(ASAN_FLAGS) $< -o $@ $(B)/libsan-asan.a $(TEST_LDLIBS)

$(B)/tests/tsan/%: tests/stress/%.c $(B)/libsan-tsan.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(TSAN_FLAGS) $< -o $@ $(B)/libsan-tsan.a -lcmocka -lm

test: all $(UNIT) $(UNIT_ASAN) $(STRESS)
	$(Q)B=$(B) ARCH=$(ARCH) tests/run.sh all

test-unit: all $(UNIT)
	$(Q)B=$(B) tests/run.sh unit
test-asan: all $(UNIT_ASAN)
	$(Q)B=$(B) tests/run.sh asan
test-tsan: all $(STRESS)
	$(Q)B=$(B) tests/run.sh tsan
test-valgrind: all $(UNIT)
	$(Q)B=$(B) tests/run.sh valgrind
test-integration: all
	$(Q)B=$(B) tests/run.sh integration

# ---------------------------------------------------------------- bench
$(B)/bench/%: bench/%.c $(LIBKAOS_A) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -march=native -MMD -MP $< -o $@ $(LIBKAOS_A) \
		$$(pkg-config --cflags --libs libdpdk 2>/dev/null) -lck -lm -pthread

# Every benchmark is also linked against the probe-free library as <name>-noprobes.
$(B)/bench/%-noprobes: bench/%.c $(B)/libkaos-noprobes.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -march=native -DKAOS_BENCH_NOPROBES $< -o $@ $(B)/libkaos-noprobes.a \
		$$(pkg-config --cflags --libs libdpdk 2>/dev/null) -lck -lm -pthread

bench: all $(BENCHES) $(BENCHES:%=%-noprobes)
	$(Q)B=$(B) bench/run.sh

# ---------------------------------------------------------------- fuzz
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_TIME ?= 60
$(B)/fuzz/%: tests/fuzz/%.c $(SAN_SRC) $(BPF_SKEL) | deps
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(filter-out -Werror,$(USER_CFLAGS)) -O1 -fsanitize=fuzzer,address,undefined \
		$< $(SAN_SRC) -o $@ $(LDLIBS_KT)

fuzz: $(FUZZERS)
	$(Q)for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_TIME) s"; \
		$$f -max_total_time=$(FUZZ_TIME) -timeout=5 -max_len=512 -print_final_stats=1 \
			$(B)/fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>$(B)/fuzz/$$n.log \
		|| { tail -n 40 $(B)/fuzz/$$n.log; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|Done)' $(B)/fuzz/$$n.log; done

# ---------------------------------------------------------------- run
run: all
	$(Q)B=$(B) apps/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^vmlinux/')

clean:
	rm -rf $(B) out

-include $(shell find $(B) -name '*.d' 2>/dev/null)
