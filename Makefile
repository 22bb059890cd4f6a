# kaos: libkaos (core/) and kaos-trace (bpf/, user/). The one entry point.
#
#   make deps    install the Debian packages building needs (idempotent; every
#                target installs its own: test-deps, bench-deps, vm-deps; deps-all)
#   make         libkaos, kaos-trace, apps, test programs
#   make run     the main job: a real workload traced end to end
#   make test    unit (+ASan/UBSan), stress (TSan), valgrind, integration
#   make bench   benchmarks (not part of make test)
#   make fuzz    libFuzzer targets, FUZZ_TIME seconds each (not part of make test)
#   make test-fresh  README's two commands in a fresh Debian root (tests/fresh/, not part of make test)
#
# Sources are found by pattern; adding a file needs no Makefile edit:
#   core/*.c               -> build/libkaos.{a,so}
#   user/*/kt_*.c          -> build/libkt.a (tracer modules by layer, unit-testable;
#                             docs/architecture.md)
#   user/cli/main.c + libkt.a -> build/kaos-trace
#   abi/*.h                -> the BPF/userspace ABI, included by bpf/ and user/
#   bpf/*.bpf.c            -> build/bpf/*.skel.h (embedded in kaos-trace)
#   apps/*.c               -> build/<name>        (programs using libkaos)
#   tests/unit/test_*.c    -> build/tests/unit/*  (+ build/tests/asan/*)
#   tests/stress/*.c       -> build/tests/tsan/*
#   tests/progs/*.c        -> build/tests/progs/* (workloads for tracer tests)
#   tests/progs/lib*.c     -> build/tests/progs/lib*.so (libraries they dlopen)
#   bench/*.c              -> build/bench/*
#   tests/fuzz/fuzz_*.c    -> build/fuzz/* (clang -fsanitize=fuzzer, with libkt's sources)

HOST_ARCH := $(shell uname -m)
ARCH ?= $(HOST_ARCH)
# Debian's names (arm64, amd64) are aliases of uname -m's (aarch64, x86_64).
override ARCH := $(patsubst arm64,aarch64,$(patsubst amd64,x86_64,$(ARCH)))
# Another ARCH cross-compiles into its own build tree (see "kernel CI" at the end).
CROSS := $(filter-out $(HOST_ARCH),$(ARCH))
B := build$(if $(CROSS),/$(ARCH))
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool

WARN := -Wall -Wextra -Werror
# CPPFLAGS, CFLAGS and LDFLAGS from the environment come last (make deb passes
# Debian's hardening flags that way).
BASE_CFLAGS := -O2 -g -fno-omit-frame-pointer $(WARN) -Iinclude -I$(B) -D_GNU_SOURCE \
	$(CPPFLAGS) $(CFLAGS)
# A CALL-able probe site must not share the stack with red-zone data (include/kaos/probes.h);
# kept for every x86 build (defence in depth) so that objects of any PROBE_NOP mix safely.
ifeq ($(ARCH),x86_64)
PROBE_CFLAGS := -mno-red-zone -DKAOS_NO_RED_ZONE
BPF_ARCH := x86
else ifeq ($(ARCH),aarch64)
PROBE_CFLAGS :=
BPF_ARCH := arm64
endif
# The probe site of libkaos (include/kaos/probes.h, docs/kernels.md has the numbers):
#   PROBE_NOP=combined (default) a 1-byte nop then a 10-byte nop, one note at the
#     1-byte nop: safe on every kernel (attached at the note, it is emulated);
#     kaos-trace attaches at the 10-byte nop only where a start-up self-test
#     shows the kernel's fast path there is safe and cheaper;
#   PROBE_NOP=1 a plain 1-byte nop, as <sys/sdt.h>.
# arm64 has one nop either way. A plain 5-byte nop is no longer a build option: on
# Linux 6.18 a traced one crashes the traced process's forked children (issue 11);
# only the measuring variants below build it (libkaos-nop5.a).
PROBE_NOP ?= combined
ifeq ($(PROBE_NOP),1)
PROBE_CFLAGS += -DKAOS_PROBE_NOP1
else ifeq ($(PROBE_NOP),5)
$(error PROBE_NOP=5 is gone: a traced 5-byte nop crashes forked children on Linux 6.18 (docs/probes.md); use the default (combined) or PROBE_NOP=1)
else ifneq ($(PROBE_NOP),combined)
$(error PROBE_NOP must be combined (1-byte + 10-byte nop, the default) or 1 (1-byte nop))
endif

# No sibling calls in libkaos: a public function that tail-calls its slow path
# (kaos_ring_send -> send1_slow) leaves no frame, and stacks taken at a probe
# would skip the call the user made; kaos-trace ends event stacks at that
# frame (user/data/kt_folded.c). Only slow paths change (a frame around the
# call): the fast paths compile to the same code.
CORE_CFLAGS := -std=c11 $(BASE_CFLAGS) $(PROBE_CFLAGS) -fno-optimize-sibling-calls -fPIC -pthread
# Every layer's folder is on the include path: a module includes another by its name.
USER_LAYERS := $(sort $(dir $(wildcard user/*/*.c user/*/*.h)))
USER_CFLAGS := -std=gnu11 $(BASE_CFLAGS) -Iabi $(addprefix -I,$(USER_LAYERS:%/=%)) $(PROBE_CFLAGS) \
	-pthread
# libpfm4 (--pmu) and libdw (symbols from separate debug files) are dlopen()ed
# at first use: not linked, so a run that needs neither maps neither.
LDLIBS_KT := -lbpf -lelf -lz -ljansson -lncursesw -ltinfo -lm -pthread

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
KT_SRC := $(wildcard user/*/kt_*.c)
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
HAVE_TRACER := $(wildcard user/cli/main.c)

SONAME := libkaos.so.0
LIBKAOS_SO := $(B)/$(SONAME).1
LIBKAOS_A := $(B)/libkaos.a

# ---------------------------------------------------------------- version
# VERSION is the release; include/kaos/version.h states the same for programs
# built against libkaos (a mismatch stops the build). Built in a git checkout
# of this tree, the programs' --version and /metrics also name the commit.
KAOS_VERSION := $(shell cat VERSION)
ifneq ($(KAOS_VERSION),$(shell sed -n 's/^\#define KAOS_VERSION[[:space:]]*"\(.*\)"$$/\1/p' include/kaos/version.h))
$(error VERSION ($(KAOS_VERSION)) differs from KAOS_VERSION in include/kaos/version.h)
endif
GIT_DESCRIBE := $(shell [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ] && \
	git describe --tags --always --dirty 2>/dev/null)
BUILD_VERSION := $(KAOS_VERSION)$(if $(GIT_DESCRIBE),+git.$(GIT_DESCRIBE))
BUILD_VERSION_H := $(B)/kaos_build_version.h
# Rewritten only when the version changed. Where git cannot describe the tree
# (`sudo make install` in a user's clone: git refuses a repository of another
# user), a header of the same release is kept, so that nothing is rebuilt.
$(BUILD_VERSION_H): FORCE
	@mkdir -p $(@D)
	$(Q)$(if $(GIT_DESCRIBE),,grep -qs '"$(KAOS_VERSION)[+"]' $@ && exit 0;) \
		echo '#define KAOS_BUILD_VERSION "$(BUILD_VERSION)"' >$@.tmp; \
		cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

.PHONY: all deps test-deps bench-deps deps-all run test test-unit test-asan test-tsan \
	test-valgrind test-integration bench fuzz clean format vmlinux test-fresh fresh-deps
.DEFAULT_GOAL := all
.SECONDARY:

all: deps $(LIBKAOS_A) $(LIBKAOS_SO) $(B)/libkaos.so $(if $(HAVE_TRACER),$(B)/kaos-trace) \
	$(APPS) $(PROGS) $(PROG_LIBS)

# ---------------------------------------------------------------- packages
# Each target installs the Debian packages it uses, and no more: a fresh machine
# that only builds gets no qemu or DPDK. `make test-fresh` proves the lists complete.
#   deps        building: libkaos, kaos-trace, apps, test programs (and make run)
#   test-deps   make test: cmocka, valgrind, bpftrace (peer test), prometheus (promtool),
#               curl (/metrics), python3 (JSON checks), libcap2-bin (capsh),
#               systemd (systemd-analyze), procps (pgrep), libc6-dbg (libc's symbols from
#               its debug file, test_func_symbols), pkg-config (test_install), iproute2
#               (ip, tc: test_udp_loss), golang-go and golang-github-google-pprof-dev (Go's
#               pprof built offline, test_pprof); deb-deps
#               (test_deb, test_install) and
#               vm-deps (kernel CI) below
#   bench-deps  make bench: DPDK and Concurrency Kit (the rings compared), bpftrace and
#               libbpf-tools' funclatency (the tracers compared), python3 (the report),
#               tmux (bench_top.sh: kaos-trace top on a screen), ENet (the reliable UDP
#               compared)
DEB_PKGS := build-essential clang libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libpfm4-dev \
	libjansson-dev libncurses-dev \
	binutils
TEST_DEB_PKGS := libcmocka-dev valgrind bpftrace prometheus curl python3 libcap2-bin systemd \
	procps libc6-dbg pkg-config iproute2 golang-go golang-github-google-pprof-dev heaptrack zstd \
	tmux libjemalloc2 libtcmalloc-minimal4
BENCH_DEB_PKGS := libdpdk-dev libck-dev pkg-config bpftrace libbpf-tools python3 heaptrack zstd \
	tmux libenet-dev

# install_pkgs LABEL,PACKAGES[,APT-GET OPTIONS]: apt-get install those of PACKAGES not
# installed yet. Serialised by a lock (with make -j two lists may install at once), and
# waits for dpkg's lock (another apt-get on the machine) instead of failing.
APT_WAIT := -o DPkg::Lock::Timeout=600
define install_pkgs
	$(Q)missing=$$(for p in $(2); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
		|| printf '%s ' $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "$(1): installing $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		flock /tmp/kaos-deps.lock $$SUDO sh -c "apt-get $(APT_WAIT) update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get $(APT_WAIT) install -y -qq $(3) $$missing \
			>/dev/null" \
		|| { echo "$(1): apt-get install failed for: $$missing" >&2; exit 1; }; \
	fi
endef

deps:
	$(call install_pkgs,deps,$(DEB_PKGS))
test-deps: | deps deb-deps
	$(call install_pkgs,test-deps,$(TEST_DEB_PKGS))
bench-deps: | deps
	$(call install_pkgs,bench-deps,$(BENCH_DEB_PKGS))
deps-all: deps test-deps deb-deps bench-deps vm-deps fresh-deps

# Packaging and install tests (make deb, tests/integration/test_install.sh): not
# needed to build or run kaos, installed by `make deb-deps` (idempotent).
# llvm and pkg-config: debian/control's Build-Depends (dpkg-buildpackage checks them)
PKG_DEB_PKGS := debhelper lintian dpkg-dev fakeroot bash-completion man-db llvm pkg-config
.PHONY: deb-deps
deb-deps:
	$(call install_pkgs,deb-deps,$(PKG_DEB_PKGS))

# ---------------------------------------------------------------- libkaos
$(B)/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(CORE_CFLAGS) -MMD -MP -c $< -o $@

$(LIBKAOS_A): $(CORE_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBKAOS_SO): $(CORE_OBJ)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -pthread $(LDFLAGS) -o $@ $^

# The same library with every probe site compiled out (bench: cost of untraced probes).
$(B)/noprobes/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(CORE_CFLAGS) -DKAOS_NO_PROBES -MMD -MP -c $< -o $@

$(B)/libkaos-noprobes.a: $(CORE_SRC:%.c=$(B)/noprobes/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libkaos.so: $(LIBKAOS_SO)
	$(Q)ln -sf $(SONAME).1 $(B)/$(SONAME) && ln -sf $(SONAME).1 $@

# ---------------------------------------------------------------- BPF
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h
BPF_SYS_INC = -I/usr/include/$(ARCH)-linux-gnu
$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard abi/*.h) $(wildcard bpf/*.h) $(VMLINUX_H) | deps
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Iabi -Ivmlinux/$(ARCH) $(BPF_SYS_INC) \
		-Wall -Werror -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# Regenerate the per-arch BTF header from a kernel's BTF (default: this kernel;
# another ARCH: its Debian kernel, see "kernel CI" below). BTF may be raw BTF
# or a vmlinux ELF (tests/vm/debian.sh btf extracts it from a bzImage/Image).
BTF ?= /sys/kernel/btf/vmlinux
vmlinux:
	@mkdir -p vmlinux/$(ARCH)
	$(BPFTOOL) btf dump file $(BTF) format c > vmlinux/$(ARCH)/vmlinux.h.tmp
	mv vmlinux/$(ARCH)/vmlinux.h.tmp vmlinux/$(ARCH)/vmlinux.h

# ---------------------------------------------------------------- kaos-trace
$(B)/user/%.o: user/%.c $(BPF_SKEL) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP -c $< -o $@

$(B)/libkt.a: $(KT_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

# No libkaos in kaos-trace: it uses only the probe ABI (include/kaos/probes.h).
$(B)/kaos-trace: $(B)/user/cli/main.o $(B)/libkt.a
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_KT)

# ---------------------------------------------------------------- apps, test programs
# Dynamically linked against libkaos.so so that `kaos-trace -b libkaos.so` sees them.
LINK_KAOS := -L$(B) -Wl,-rpath,'$$ORIGIN/..' -Wl,-rpath,'$$ORIGIN/../..' -Wl,-rpath,'$$ORIGIN' -lkaos
$(B)/%: apps/%.c $(B)/libkaos.so | deps
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP $< -o $@ $(LDFLAGS) $(LINK_KAOS) -lz -lm

# tests/progs/*_nopie.c link as classic fixed-address executables (ET_EXEC);
# *_rdynamic.c export their functions (.dynsym).
$(B)/tests/progs/%_nopie: PROG_LDFLAGS := -no-pie
$(B)/tests/progs/%_rdynamic: PROG_LDFLAGS := -rdynamic
# *_static.c link libkaos.a in: libkaos' API is then the program's own .symtab globals.
$(B)/tests/progs/%_static: LINK_KAOS := $(LIBKAOS_A) -pthread
$(B)/tests/progs/%_static: $(LIBKAOS_A)
# kt_static_alloc: fully static (no libkaos, no libc.so): --alloc has no allocator to probe
$(B)/tests/progs/kt_static_alloc: PROG_LDFLAGS := -static
$(B)/tests/progs/kt_static_alloc: LINK_KAOS :=
# kt_plain: a program without libkaos (collectors on any process), with libz
$(B)/tests/progs/kt_plain: LINK_KAOS := -Wl,--no-as-needed -lz
# kt_alloc_workload: known allocations for heap tracers, no libkaos; -fno-builtin keeps
# every malloc/free call (GCC may drop pairs it sees through), no tail calls: each
# allocation has its call site (aw_leak_site_N) on the stack
$(B)/tests/progs/kt_alloc_workload: LINK_KAOS :=
$(B)/tests/progs/kt_alloc_workload: PROG_LDFLAGS := -fno-builtin -fno-optimize-sibling-calls
# kt_symbols calls an IFUNC of libkt_ifunc.so (linked, not dlopen()ed: its GOT holds the choice)
$(B)/tests/progs/kt_symbols: PROG_LDFLAGS := -Wl,--no-as-needed -L$(B)/tests/progs -lkt_ifunc
$(B)/tests/progs/kt_symbols: $(B)/tests/progs/libkt_ifunc.so
# libkt_malloc_shim: an LD_PRELOAD allocator of its own (test_alloc_preload); -fno-builtin:
# its calloc must not be turned into a call to calloc
$(B)/tests/progs/libkt_malloc_shim.so: USER_CFLAGS += -fno-builtin
$(B)/tests/progs/lib%.so: tests/progs/lib%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -fPIC -shared -MMD -MP $< -o $@
$(B)/tests/progs/%: tests/progs/%.c $(B)/libkaos.so | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(PROG_LDFLAGS) -MMD -MP $< -o $@ $(LINK_KAOS) -lm

# ---------------------------------------------------------------- tests
TEST_LDLIBS := -lcmocka $(LDLIBS_KT)
$(B)/tests/unit/%: tests/unit/%.c $(LIBKAOS_A) $(B)/libkt.a | test-deps
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

$(B)/tests/asan/%: tests/unit/%.c $(B)/libsan-asan.a | test-deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(ASAN_FLAGS) $< -o $@ $(B)/libsan-asan.a $(TEST_LDLIBS)

$(B)/tests/tsan/%: tests/stress/%.c $(B)/libsan-tsan.a | test-deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(TSAN_FLAGS) $< -o $@ $(B)/libsan-tsan.a -lcmocka -lm

# Go's pprof, the client test_pprof checks --pprof with: built offline from
# Debian's sources (GOPATH mode: no module download), cached here.
PPROF_TOOL := $(B)/tools/pprof
$(PPROF_TOOL): | test-deps
	@mkdir -p $(@D)
	$(Q)GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= \
		GOCACHE=$(abspath $(B))/tools/gocache go build -o $@ github.com/google/pprof

# make test's builds (the guests of every architecture too: vm-prep) with a job per
# core when make was given no -j: about 3 min of CPU that a plain `make test` built on
# one core. The tests themselves run one at a time.
TEST_BUILD := all test-deps $(UNIT) $(UNIT_ASAN) $(STRESS) $(PPROF_TOOL) vm-prep
.PHONY: test-build
test-build: $(TEST_BUILD)
test:
	$(Q)$(MAKE) --no-print-directory $(if $(filter -j% --jobserver%,$(MAKEFLAGS)),,-j$$(nproc)) \
		test-build
	$(Q)B=$(B) ARCH=$(ARCH) tests/run.sh all

test-unit: all test-deps $(UNIT)
	$(Q)B=$(B) tests/run.sh unit
test-asan: all test-deps $(UNIT_ASAN)
	$(Q)B=$(B) tests/run.sh asan
test-tsan: all test-deps $(STRESS)
	$(Q)B=$(B) tests/run.sh tsan
test-valgrind: all test-deps $(UNIT)
	$(Q)B=$(B) tests/run.sh valgrind
test-integration: all test-deps $(PPROF_TOOL)
	$(Q)B=$(B) tests/run.sh integration

# ---------------------------------------------------------------- bench
# bench_udp compares libkaos' reliable UDP with ENet
$(B)/bench/bench_udp $(B)/bench/bench_udp-noprobes: BENCH_LIBS := -lenet
$(B)/bench/%: bench/%.c $(LIBKAOS_A) | bench-deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -march=native -MMD -MP $< -o $@ $(LIBKAOS_A) \
		$$(pkg-config --cflags --libs libdpdk 2>/dev/null) -lck $(BENCH_LIBS) -lm -pthread

# Every benchmark is also linked against the probe-free library as <name>-noprobes.
$(B)/bench/%-noprobes: bench/%.c $(B)/libkaos-noprobes.a | bench-deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -march=native -DKAOS_BENCH_NOPROBES -MMD -MP $< -o $@ \
		$(B)/libkaos-noprobes.a \
		$$(pkg-config --cflags --libs libdpdk 2>/dev/null) -lck $(BENCH_LIBS) -lm -pthread

bench: all bench-deps $(BENCHES) $(BENCHES:%=%-noprobes)
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

# ---------------------------------------------------------------- install
#   make install   [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=$(PREFIX)/lib] [BINDIR=...] ...
#   make uninstall (the same variables): removes what install wrote, except a
#                  config that was changed after install
# deploy/'s unit and config name the default paths (PREFIX=/usr/local); installed
# elsewhere, they are rewritten to the paths this install writes.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/kaos
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install

HEADERS := $(wildcard include/kaos/*.h)
DOCS := $(wildcard docs/*.md)
DIST := $(B)/dist
# kaos-pipeline as installed: linked without the build tree's rpaths (it finds
# libkaos.so.0 where the system's loader looks, like any packaged program)
$(DIST)/kaos-pipeline: apps/kaos-pipeline.c $(B)/libkaos.so $(BUILD_VERSION_H) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $< -o $@ $(LDFLAGS) -L$(B) -lkaos -lz -lm

# everything install copies; `make install-files` builds it without installing.
# `make` (all) builds it too: `sudo make install` then only copies.
INSTALL_FILES := $(LIBKAOS_SO) $(LIBKAOS_A) $(B)/kaos-trace $(DIST)/kaos-pipeline
.PHONY: install install-files uninstall
install-files: $(INSTALL_FILES)
all: $(INSTALL_FILES)

DEPLOY_SED := sed -e 's|/usr/local/bin/kaos-trace|$(BINDIR)/kaos-trace|g' \
	-e 's|/usr/local/lib/libkaos\.so|$(LIBDIR)/libkaos.so|g' \
	-e 's|/usr/local/share/doc/kaos/|$(DOCDIR)/|g' \
	-e 's|/usr/local/share/man|$(MANDIR)|g' \
	-e 's|/etc/kaos-trace/|$(SYSCONFDIR)/kaos-trace/|g'
# Written for this install's paths straight into the destination (nothing is
# written into the build tree: `sudo make install` leaves it the user's).
KAOS_PC = printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	'Name: kaos' 'Description: lock-free rings, shared-memory IPC and pipelines with USDT probes' \
	'Version: $(KAOS_VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lkaos' \
	'Libs.private: -pthread'
CONF_DEST = $(DESTDIR)$(SYSCONFDIR)/kaos-trace/kaos-trace.conf
# true when the installed config is the one this install writes (not edited)
CONF_UNCHANGED = $(DEPLOY_SED) deploy/kaos-trace.conf | cmp -s - $(CONF_DEST)

install: $(INSTALL_FILES)
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR)/kaos $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/kaos-trace
	$(Q)$(INSTALL) -m 0755 $(LIBKAOS_SO) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sfn $(notdir $(LIBKAOS_SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	$(Q)ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libkaos.so
	$(Q)$(INSTALL) -m 0644 $(LIBKAOS_A) $(DESTDIR)$(LIBDIR)/
	$(Q)$(INSTALL) -m 0644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/kaos/
	$(Q)$(KAOS_PC) >$(DESTDIR)$(PKGCONFIGDIR)/kaos.pc && chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/kaos.pc
	$(Q)$(INSTALL) -m 0755 $(B)/kaos-trace $(DIST)/kaos-pipeline $(DESTDIR)$(BINDIR)/
	$(Q)$(INSTALL) -m 0644 man/man1/kaos-pipeline.1 $(DESTDIR)$(MANDIR)/man1/
	$(Q)$(INSTALL) -m 0644 man/man3/libkaos.3 $(DESTDIR)$(MANDIR)/man3/
	$(Q)$(INSTALL) -m 0644 man/man8/kaos-trace.8 $(DESTDIR)$(MANDIR)/man8/
	$(Q)$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	$(Q)$(DEPLOY_SED) deploy/kaos-trace.service >$(DESTDIR)$(UNITDIR)/kaos-trace.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/kaos-trace.service
	$(Q)$(INSTALL) -m 0644 deploy/kaos-trace.bash-completion $(DESTDIR)$(BASHCOMPDIR)/kaos-trace
	$(Q)if [ -e $(CONF_DEST) ] && ! $(CONF_UNCHANGED); then \
		$(DEPLOY_SED) deploy/kaos-trace.conf >$(CONF_DEST).new; chmod 0644 $(CONF_DEST).new; \
		echo "install: $(CONF_DEST) was changed: kept it, the new one is $(CONF_DEST).new"; \
	else $(DEPLOY_SED) deploy/kaos-trace.conf >$(CONF_DEST); chmod 0644 $(CONF_DEST); fi
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	$(Q)rm -f $(DESTDIR)$(LIBDIR)/$(notdir $(LIBKAOS_SO)) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libkaos.so $(DESTDIR)$(LIBDIR)/libkaos.a \
		$(HEADERS:include/kaos/%=$(DESTDIR)$(INCLUDEDIR)/kaos/%) \
		$(DESTDIR)$(PKGCONFIGDIR)/kaos.pc \
		$(DESTDIR)$(BINDIR)/kaos-trace $(DESTDIR)$(BINDIR)/kaos-pipeline \
		$(DESTDIR)$(MANDIR)/man1/kaos-pipeline.1 $(DESTDIR)$(MANDIR)/man3/libkaos.3 \
		$(DESTDIR)$(MANDIR)/man8/kaos-trace.8 $(DOCS:docs/%=$(DESTDIR)$(DOCDIR)/%) \
		$(DESTDIR)$(UNITDIR)/kaos-trace.service $(DESTDIR)$(BASHCOMPDIR)/kaos-trace \
		$(CONF_DEST).new
	$(Q)if $(CONF_UNCHANGED); then rm -f $(CONF_DEST); \
	elif [ -e $(CONF_DEST) ]; then echo "uninstall: $(CONF_DEST) was changed: kept"; fi
	$(Q)rmdir $(DESTDIR)$(INCLUDEDIR)/kaos $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/kaos-trace 2>/dev/null || true
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

# ---------------------------------------------------------------- Debian packages
#   make deb   libkaos0, libkaos-dev and kaos-trace .debs in build/deb (debian/:
#              debhelper, built from a copy of the tree so that the tree stays
#              clean), then lintian: errors fail, warnings are listed
DEB_DIR := build/deb
DEB_SRC := $(DEB_DIR)/kaos-$(KAOS_VERSION)
.PHONY: deb
deb: deb-deps
	$(Q)v=$$(dpkg-parsechangelog -l debian/changelog -SVersion); [ "$$v" = "$(KAOS_VERSION)" ] \
		|| { echo "deb: debian/changelog is at $$v, VERSION at $(KAOS_VERSION)" >&2; exit 1; }
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)tar -c --exclude=./build --exclude=./out --exclude=./.git . | tar -x -C $(DEB_SRC)
	$(Q)echo "deb: dpkg-buildpackage in $(DEB_SRC) (log: $(DEB_DIR)/build.log)"
	$(Q)cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -b -us -uc -j2 >../build.log 2>&1 \
		|| { tail -n 40 $(DEB_DIR)/build.log; exit 1; }
	$(Q)rm -rf $(DEB_SRC)
	$(Q)ls $(DEB_DIR)/*.deb
	$(Q)lintian --fail-on error $(DEB_DIR)/*.changes >$(DEB_DIR)/lintian.txt 2>&1; rc=$$?; \
		cat $(DEB_DIR)/lintian.txt; e=$$(grep -c '^E:' $(DEB_DIR)/lintian.txt); \
		w=$$(grep -c '^W:' $(DEB_DIR)/lintian.txt); echo "lintian: $$e errors, $$w warnings"; \
		exit $$rc

# ---------------------------------------------------------------- run
run: all
	$(Q)B=$(B) apps/run.sh

# ---------------------------------------------------------------- fresh machine
# README's two commands (make run, then make test) in a fresh minimal Debian root
# built from this machine's apt sources, with a clean clone of HEAD under a 0700
# directory: proves the package lists and that nothing depends on the clone's place.
FRESH_DEB_PKGS := mmdebstrap
fresh-deps:
	$(call install_pkgs,fresh-deps,$(FRESH_DEB_PKGS),--no-install-recommends)
test-fresh: fresh-deps
	$(Q)B=$(B) tests/fresh/fresh.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^vmlinux/')

clean:
	rm -rf $(B) out

# ================================================================ kernel CI (tests/vm/, docs/kernels.md)
#   make vmtest [ARCH=x86_64|arm64] [KERNEL=bookworm|bookworm-backports|linux-image-...|FILE]
#                     one kernel under qemu (default: bookworm's current 6.1)
#   make vmtest-all   every kernel of tests/vm/matrix (make test runs them)
#   make vm-guest     the guest's files for ARCH: static kaos-trace, workloads, scripts
#   make vmlinux [ARCH=...] [BTF=FILE]   vmlinux/<arch>/vmlinux.h from a kernel's BTF;
#                     for another ARCH the default is the BTF of its bookworm kernel
# ARCH other than the host's cross-compiles into $(B) = build/<arch> with
# $(ARCH)-linux-gnu-gcc and a sysroot of Debian's -dev packages (never installed).
VM_CACHE ?= build/vm-cache
export VM_CACHE
KERNEL ?= bookworm
VM_MATRIX := tests/vm/matrix
VM_ARCHES := $(sort $(shell awk '!/^\#/ && NF {print $$1}' $(VM_MATRIX) 2>/dev/null))
# libc6-dev-arm64-cross: the arm64 kernel headers (asm/errno.h for the BPF build) and the
# C library the static guest programs link; --no-install-recommends leaves it out otherwise.
# libc6-arm64-cross (which libc6-dev-arm64-cross pulls in): the arm64 ld.so and libc.so.6
# of the guest's dynamically linked kt_alloc_workload.
VM_DEB_PKGS := qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	libc6-arm64-cross busybox-static cpio xz-utils zstd gzip
GUEST := $(B)/vm/guest
# kt_funcs: functions of known call counts for the --func test (once it exists);
# kt_offcpu: a consumer blocked in a known function (--off-cpu)
# kt_scope: exec splits a pid into images (test_exec.sh); kt_fork: forks and execs while
# traced (test_fork.sh); kt_probe_cost: a hit on the build's site, next to the
# measuring-only nop5 and nop1 variants
GUEST_PROGS := kt_workload kt_scope $(if $(wildcard tests/progs/kt_funcs.c),kt_funcs) kt_offcpu kt_fork \
	kt_probe_cost
GUEST_BINS := $(GUEST)/bin/kaos-trace $(GUEST_PROGS:%=$(GUEST)/bin/%) \
	$(GUEST)/bin/kt_probe_cost-nop5 $(GUEST)/bin/kt_probe_cost-nop1
GUEST_SCRIPTS := $(patsubst tests/vm/guest/%,$(GUEST)/%,$(wildcard tests/vm/guest/*))
# kt_alloc_workload is dynamically linked (--alloc probes libc.so.6 and refuses static
# binaries): its loader and libc go into $(GUEST)/root at the target's own paths.
GUEST_LD_SO := $(if $(filter aarch64,$(ARCH)),/lib/ld-linux-aarch64.so.1,/lib64/ld-linux-x86-64.so.2)
GUEST_RUNTIME := $(GUEST)/root$(GUEST_LD_SO) $(GUEST)/root/lib/$(ARCH)-linux-gnu/libc.so.6
GUEST_BINS += $(GUEST)/bin/kt_alloc_workload $(GUEST_RUNTIME)
KT_STATIC_LIBS := -static -lbpf -lelf -lz -ljansson -lncursesw -ltinfo -lm -pthread

.PHONY: vmtest vmtest-all vm-guest vm-deps vm-prep

vm-deps:
	$(call install_pkgs,vm-deps,$(VM_DEB_PKGS),--no-install-recommends)

ifneq ($(CROSS),)
CROSS_COMPILE ?= $(ARCH)-linux-gnu-
CC := $(CROSS_COMPILE)gcc
SYSROOT := $(B)/sysroot
SYSROOT_LIB := $(SYSROOT)/usr/lib/$(ARCH)-linux-gnu
CORE_CFLAGS += -isystem $(SYSROOT)/usr/include
USER_CFLAGS += -isystem $(SYSROOT)/usr/include
# Debian ships no arm64 libbpf.so for a cross build: kaos-trace links statically.
LDLIBS_KT := -L$(SYSROOT_LIB) $(KT_STATIC_LIBS)
KT_STATIC_LIBS := -L$(SYSROOT_LIB) $(KT_STATIC_LIBS)
# apps and test programs link libkaos.so dynamically, like on the host
LINK_KAOS += -L$(SYSROOT_LIB) -L$(SYSROOT)/lib/$(ARCH)-linux-gnu \
	-Wl,-rpath-link,$(SYSROOT_LIB):$(SYSROOT)/lib/$(ARCH)-linux-gnu
# usdt.bpf.h wants <asm/errno.h>: the cross toolchain's kernel headers have it
BPF_SYS_INC = -idirafter /usr/$(ARCH)-linux-gnu/include
deps: vm-deps $(SYSROOT)/.done
$(SYSROOT)/.done: tests/vm/debian.sh | vm-deps
	$(Q)tests/vm/debian.sh sysroot $(ARCH) $(SYSROOT) && touch $@
endif

# The sources that include kaos_build_version.h (named for the first build; -MMD after).
$(B)/user/service/kt_version.o $(B)/asan/user/service/kt_version.o $(APPS) $(FUZZERS): $(BUILD_VERSION_H)

# Everything built with PROBE_CFLAGS is rebuilt when PROBE_NOP changes.
PROBE_NOP_STAMP := $(B)/.probe-nop
$(PROBE_NOP_STAMP): FORCE
	@mkdir -p $(@D)
	$(Q)echo $(PROBE_NOP) >$@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(CORE_OBJ) $(KT_OBJ) $(B)/user/cli/main.o $(APPS) $(PROGS) $(UNIT) $(UNIT_ASAN) $(STRESS) \
	$(SAN_SRC:%.c=$(B)/asan/%.o) $(SAN_SRC:%.c=$(B)/tsan/%.o) \
	$(CORE_SRC:%.c=$(B)/noprobes/%.o) $(BENCHES) $(GUEST)/bin/kt_workload $(GUEST)/bin/kt_fork \
	$(GUEST)/bin/kt_probe_cost: $(PROBE_NOP_STAMP)
# libkaos is rebuilt when its flags change (e.g. -fno-optimize-sibling-calls: the frames
# kaos-trace's folded stacks end at).
CORE_FLAGS_STAMP := $(B)/.core-cflags
$(CORE_FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	$(Q)echo '$(CORE_CFLAGS)' >$@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(CORE_OBJ) $(CORE_SRC:%.c=$(B)/noprobes/%.o): $(CORE_FLAGS_STAMP)
.PHONY: FORCE
FORCE:

# libkaos with each plain probe-site instruction whatever PROBE_NOP says, only to price a
# hit on each (bench, the VM guests' cost report): never shipped.
NOP_VARIANT_CFLAGS = $(filter-out -DKAOS_PROBE_NOP1,$(1)) $(if $(filter nop1,$(2)),-DKAOS_PROBE_NOP1) \
	$(if $(filter nop5,$(2)),-DKAOS_PROBE_NOP5)
$(B)/nop1/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(call NOP_VARIANT_CFLAGS,$(CORE_CFLAGS),nop1) -c $< -o $@
$(B)/nop5/core/%.o: core/%.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(call NOP_VARIANT_CFLAGS,$(CORE_CFLAGS),nop5) -c $< -o $@

$(B)/libkaos-nop1.a: $(CORE_SRC:%.c=$(B)/nop1/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/libkaos-nop5.a: $(CORE_SRC:%.c=$(B)/nop5/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

# The guest has no libraries: everything is linked statically.
$(GUEST)/bin/kaos-trace: $(B)/user/cli/main.o $(B)/libkt.a
	@mkdir -p $(@D)
	$(Q)$(CC) -o $@ $^ $(KT_STATIC_LIBS)

$(GUEST)/bin/%-nop1: tests/progs/%.c $(B)/libkaos-nop1.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(call NOP_VARIANT_CFLAGS,$(USER_CFLAGS),nop1) -static $< -o $@ \
		$(B)/libkaos-nop1.a -lm -pthread
$(GUEST)/bin/%-nop5: tests/progs/%.c $(B)/libkaos-nop5.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(call NOP_VARIANT_CFLAGS,$(USER_CFLAGS),nop5) -static $< -o $@ \
		$(B)/libkaos-nop5.a -lm -pthread

$(GUEST)/bin/%: tests/progs/%.c $(LIBKAOS_A) | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -static $< -o $@ $(LIBKAOS_A) -lm -pthread

# the Makefile's flags of tests/progs/kt_alloc_workload, without libkaos or -static
$(GUEST)/bin/kt_alloc_workload: tests/progs/kt_alloc_workload.c | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -fno-builtin -fno-optimize-sibling-calls $< -o $@

# the toolchain's own copy (the host's for x86_64, libc6-arm64-cross's for arm64)
$(GUEST)/root/%: | deps
	@mkdir -p $(@D)
	$(Q)f=$$($(CC) -print-file-name=$(notdir $@)) && [ -f "$$f" ] || \
		{ echo "no $(notdir $@) for $(ARCH) (make vm-deps)" >&2; exit 1; }; \
		cp -L "$$f" $@

$(GUEST)/%: tests/vm/guest/%
	@mkdir -p $(@D)
	$(Q)cp $< $@

vm-guest: $(GUEST_BINS) $(GUEST_SCRIPTS)

vmtest: vm-deps vm-guest
	$(Q)B=$(B) tests/vm/vmtest.sh --arch $(ARCH) --kernel $(KERNEL) --guest $(GUEST)

# Guest files of every architecture in the matrix (others through a cross build).
vm-prep: vm-deps vm-guest
	$(Q)for a in $(filter-out $(ARCH),$(VM_ARCHES)); do \
		$(MAKE) --no-print-directory ARCH=$$a vm-guest || exit 1; done

vmtest-all: vm-prep
	$(Q)B=$(B) tests/run.sh vm

# tests/integration/test_vm_guest_native.sh runs the guest's tests on the host kernel
test-integration: vm-guest

# For another ARCH the BTF comes from that architecture's bookworm kernel.
ifneq ($(CROSS),)
vmlinux: BTF = $(B)/vm/kernel.btf
vmlinux: $(B)/vm/kernel.btf
endif
$(B)/vm/kernel.btf: tests/vm/debian.sh | vm-deps
	@mkdir -p $(@D)
	$(Q)kdir=$$(tests/vm/debian.sh kernel $(ARCH) $(KERNEL)) && \
		tests/vm/debian.sh btf $$kdir/image $@

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
