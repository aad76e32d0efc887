# Build, test and install the C storage-manager drivers.
#   make            build the library, drivers and tools into $(BUILD)
#   make check      install build and test dependencies, run unit,
#                   integration, sanitizer, fuzz-smoke and VM tests
#   make check-long the integration tests with every fault point of the
#                   LVM crash sweeps (make check runs a sample)
#   make demo       install build dependencies, build, run a FileSR
#                   lifecycle in a temporary directory
#   make deps       install build and test dependencies (make build-deps:
#                   only what the build needs); tests/setup-deps.sh lists them
#   make install    PREFIX=/usr DESTDIR=... [SMDIR=/opt/xensource/sm]
#                   (a driver it replaces in SMDIR is kept as <name>.orig)
#   make uninstall  the same variables: removes it all, restores the .orig

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/csm
SMDIR   ?=
DESTDIR ?=

# A test build (fault-injection points compiled in) never goes to build/,
# which is what make install ships: it defaults to build-test, and asking
# for BUILD=build with TEST_BUILD=1 is an error, however build/ is spelled
# (./build, build/, $PWD/build: the absolute paths are compared).
ifeq ($(TEST_BUILD),1)
BUILD   ?= build-test
ifeq ($(abspath $(BUILD)),$(abspath build))
$(error TEST_BUILD=1 compiles fault-injection points in: use BUILD=build-test, not build/ (make install ships build/))
endif
endif
BUILD   ?= build
SAN     ?=
CC      ?= cc
PKGS    := libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null || echo -I/usr/include/libxml2)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lxml2)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ifneq ($(SAN),)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -I$(BUILD)/gen $(PKG_CFLAGS)
ifeq ($(TEST_BUILD),1)
ALL_CFLAGS += -DCSM_TEST_BUILD
endif
LIBS    := $(PKG_LIBS) -luuid -lnfs
# The drivers link libxml2 and what its file I/O drags in (zlib, lzma)
# statically: loading and relocating those shared objects cost ~1.5 ms of
# every call, more than the driver's own work (see docs/performance.md).
# libnfs (the NFS srfs backend, needs only libc) likewise.  libc stays
# dynamic.  Not ICU: libxml2 falls back to it only for encoding names
# that neither libxml2 nor libc's iconv knows, and it would bring 31 MB
# of tables and libstdc++ into every driver; lib/static/no_icu.c stands
# in for the few ICU functions libxml2 calls and knows no encoding, so
# such a request gets a parse fault.  DRIVER_LINK=dynamic undoes it all.
DRIVER_LINK ?= static
NO_ICU_OBJ := $(BUILD)/lib/static/no_icu.o
XML_STATIC_LIBS := -Wl,-Bstatic -lxml2 -lz -llzma -Wl,-Bdynamic -lm
ifeq ($(DRIVER_LINK),static)
DRIVER_OBJS := $(NO_ICU_OBJ)
DRIVER_LIBS := -Wl,-Bstatic -lxml2 -lz -llzma -luuid -lnfs -Wl,-Bdynamic -lm
else
DRIVER_OBJS :=
DRIVER_LIBS := $(LIBS)
endif
# make install strips the executables (the debug info is a fifth of a
# driver); INSTALL_STRIP= keeps it, for packagers who split it off.
INSTALL_STRIP ?= -s

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIBCSM   := $(BUILD)/libcsm.a
# The nbdkit plugin of the data path (below, after the library rules).
NBD_PLUGIN := $(BUILD)/csm-nbdkit.so

# One executable per SR type; drivers/<type>.c fills the op table named here.
DRIVERS  := FileSR EXTSR NFSSR LVMSR ISCSISR LVMoISCSISR
DRIVER_FileSR := file
DRIVER_EXTSR := ext
DRIVER_NFSSR := nfs
DRIVER_LVMSR := lvm
DRIVER_ISCSISR := iscsi
DRIVER_LVMoISCSISR := lvmoiscsi
# Libraries only some drivers need (shared: liblvm2cmd comes as a .so only).
BLKID_LIBS := $(shell pkg-config --libs blkid 2>/dev/null || echo -lblkid)
EXTRA_LIBS_EXTSR := -llvm2cmd $(BLKID_LIBS)
# Objects only some drivers link (drivers/blockdev.c: blkid).
EXTRA_OBJS_EXTSR := $(BUILD)/drivers/blockdev.o
EXTRA_OBJS_LVMSR := $(BUILD)/drivers/blockdev.o
EXTRA_LIBS_LVMSR := -llvm2cmd $(BLKID_LIBS)
# LVMoISCSISR is LVMSR's table with the iSCSI layer on top (drivers/lvmoiscsi.c).
# libiscsi as the drivers link it (DRIVER_ISCSI_*, below): "=" as they are set further down.
EXTRA_OBJS_LVMoISCSISR = $(BUILD)/drivers/lvm.o $(BUILD)/drivers/blockdev.o $(DRIVER_ISCSI_OBJS)
EXTRA_LIBS_LVMoISCSISR = -llvm2cmd $(BLKID_LIBS) $(DRIVER_ISCSI_LIBS)
# csm-lvm-run: the LVM command runner of processes with threads (the plugin).
DRIVER_BINS := $(DRIVERS:%=$(BUILD)/%) $(BUILD)/csm-gc $(BUILD)/csm-lvm-run

TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

TESTTOOL_SRCS := $(wildcard tests/tools/*.c)
TESTTOOL_BINS := $(TESTTOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/%)

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check check-long check-unit check-integration check-asan check-fuzz fuzz-bins deps build-deps \
        demo bench install uninstall clean
all: $(LIBCSM) $(DRIVER_BINS) $(TOOL_BINS) $(NBD_PLUGIN)

# The tools' --version: the git revision, written to a header only when it
# changes (so a rebuild happens then and only then); "unknown" outside git.
VERSION_H := $(BUILD)/gen/csm_version.h
GIT_REVISION := $(shell git -C $(CURDIR) describe --always --dirty 2>/dev/null || echo unknown)
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@printf '#define CSM_VERSION "%s"\n' '$(GIT_REVISION)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
.PHONY: FORCE
FORCE:
$(patsubst tools/%.c,$(BUILD)/tools/%.o,$(wildcard tools/*.c)) $(BUILD)/drivers/gc.o: $(VERSION_H)

$(BUILD)/%.o: %.c $(wildcard include/csm/*.h lib/*.h drivers/*.h tests/unit/*.h tests/tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCSM): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/drivers/%.o: drivers/%.c $(wildcard include/csm/*.h lib/*.h drivers/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# drivers/main.c is the same tiny main() for every executable.
$(BUILD)/drivers/main-%.o: drivers/main.c $(wildcard include/csm/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DSM_DRIVER=sm_$(DRIVER_$*)_driver -c -o $@ $<

# The data path: an nbdkit plugin (nbd/csm_nbdkit.c, a shared object nbdkit
# loads) over the library.  A shared object needs position-independent
# code, which the library the executables link is not: the plugin links a
# -fPIC copy of it, its symbols hidden (only plugin_init is exported, so
# nothing of ours clashes with nbdkit's or another plugin's).  The header
# comes with Debian's nbdkit-plugin-dev (tests/setup-deps.sh build).
PIC_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/pic/%.o)
LIBCSM_PIC := $(BUILD)/libcsm-pic.a
PIC_CFLAGS := -fPIC -fvisibility=hidden
$(BUILD)/pic/%.o: %.c $(wildcard include/csm/*.h lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PIC_CFLAGS) -c -o $@ $<
$(LIBCSM_PIC): $(PIC_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(NBD_PLUGIN): $(BUILD)/pic/nbd/csm_nbdkit.o $(LIBCSM_PIC)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(LIBS) -llvm2cmd -lpthread

# Keep objects between runs (they are intermediates of the pattern rules).
.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/%SR: $(BUILD)/drivers/main-%SR.o $$(BUILD)/drivers/$$(DRIVER_%SR).o $(BUILD)/drivers/file_base.o $(BUILD)/drivers/filebased.o $(BUILD)/drivers/vhdsr.o $$(EXTRA_OBJS_$$*SR) $(LIBCSM) $(DRIVER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(DRIVER_LIBS) $(EXTRA_LIBS_$*SR)

# The garbage collector the drivers start (installed beside them); --lvm runs lib/lvm.c.
# In xapi mode it reports what it changed as sr_scan would: the file store's collect.
$(BUILD)/csm-gc: $(BUILD)/drivers/gc.o $(BUILD)/drivers/gc_xapi.o $(BUILD)/drivers/filebased.o $(BUILD)/drivers/vhdsr.o $(LIBCSM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -llvm2cmd

$(BUILD)/csm-lvm-run: $(BUILD)/drivers/lvm_run.o $(LIBCSM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -llvm2cmd

$(BUILD)/%: $(BUILD)/tools/%.o $(LIBCSM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CMOCKA_LIBS)

# The VDI operations (drivers/vhdsr.c) over the in-memory store: the test
# gives vhdsr.c its store in place of drivers/filebased.c.
$(BUILD)/tests/test_vdiops: $(BUILD)/tests/unit/test_vdiops.o $(BUILD)/drivers/vhdsr.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CMOCKA_LIBS)

# The GC's runner over the in-memory store, chains made by the VDI operations.
$(BUILD)/tests/test_gc_run: $(BUILD)/tests/unit/test_gc_run.o $(BUILD)/drivers/vhdsr.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CMOCKA_LIBS)

# lib/static/no_icu.c is tested as the drivers use it: with libxml2 static.
$(BUILD)/tests/test_no_icu: $(BUILD)/tests/unit/test_no_icu.o $(LIBCSM) $(NO_ICU_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(XML_STATIC_LIBS) -luuid -lnfs $(CMOCKA_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The LVM test tool runs lib/lvm.c, which needs liblvm2cmd (shared only).
$(BUILD)/tests/lvm_lv: $(BUILD)/tests/tools/lvm_lv.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -llvm2cmd

$(BUILD)/tests/vstore_lvm_t: $(BUILD)/tests/tools/vstore_lvm_t.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -llvm2cmd

# lib/iscsi.c calls libiscsi: what uses it links it, the rest never pulls
# lib/iscsi.o out of libcsm.a.  Executables link it as the drivers link
# libxml2, statically ($(DRIVER_ISCSI_OBJS) $(DRIVER_ISCSI_LIBS));
# Debian's libiscsi.a carries the iSER transport, whose libibverbs and
# librdmacm come as shared objects only, so lib/static/no_iser.c stands in
# for them (lib/iscsi.c never asks for iSER).  Unit tests link it shared.
ISCSI_LIBS := $(shell pkg-config --libs libiscsi 2>/dev/null || echo -liscsi)
ifeq ($(DRIVER_LINK),static)
DRIVER_ISCSI_OBJS := $(BUILD)/lib/static/no_iser.o
DRIVER_ISCSI_LIBS := -Wl,-Bstatic -liscsi -Wl,-Bdynamic
else
DRIVER_ISCSI_OBJS :=
DRIVER_ISCSI_LIBS := $(ISCSI_LIBS)
endif

# The test tool links libiscsi as a driver does, so the integration test
# runs the static library with the iSER stand-ins.
$(BUILD)/tests/iscsi_t: $(BUILD)/tests/tools/iscsi_t.o $(LIBCSM) $(DRIVER_ISCSI_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(DRIVER_ISCSI_LIBS)

# ISCSISR has no VHD store: its table has no base, it links none of the
# file store; libiscsi as above (after its variables: prerequisites expand
# when make reads the rule).
$(BUILD)/ISCSISR: $(BUILD)/drivers/main-ISCSISR.o $(BUILD)/drivers/iscsi.o $(LIBCSM) $(DRIVER_OBJS) $(DRIVER_ISCSI_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(DRIVER_LIBS) $(DRIVER_ISCSI_LIBS)

$(BUILD)/tests/test_iscsi: $(BUILD)/tests/unit/test_iscsi.o $(LIBCSM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(ISCSI_LIBS) $(CMOCKA_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBCSM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Fuzz targets need clang's libFuzzer; they need no LVM (lib/lvm.c links liblvm2cmd,
# lib/vstore_lvm.c calls it) and no iSCSI (lib/iscsi.c needs libiscsi).
FUZZ_LIB_SRCS := $(filter-out lib/lvm.c lib/vstore_lvm.c lib/iscsi.c,$(LIB_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
# The library is compiled once (coverage-instrumented, no libFuzzer main)
# and linked into every target.
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=build-fuzz/%.o)
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude $(PKG_CFLAGS)
build-fuzz/lib/%.o: lib/%.c $(wildcard include/csm/*.h lib/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)

# Packages are installed by groups (tests/setup-deps.sh): build, test, vm.
# Targets that install run the build in a sub-make, whose pkg-config
# look-ups then see the packages just installed.
build-deps:
	tests/setup-deps.sh build

deps:
	tests/setup-deps.sh build test

# Tests run on builds of their own: build-test has the fault-injection
# points compiled in (never in $(BUILD), which is what gets installed).
# make check has installed everything, so a skipped test fails it.
# The builds use every core (CI runs a plain "make check"); the tests run
# one at a time (they share the machine's loop devices and ports, and the
# timings in docs/testing.md assume it).
NPROC := $(shell nproc 2>/dev/null || echo 2)
check: export CSM_REQUIRE_ALL := 1
# tests/check.sh runs the phases: the test build, then the VM tests in the
# background beside unit + integration, ASan/UBSan and fuzz.
check: deps
	MAKE="$(MAKE)" tests/check.sh

# The exhaustive fault-point sweeps: every point of every LVM operation
# (make check kills at every third one; tests/integration/lib.sh sweep_sample).
check-long: export CSM_REQUIRE_ALL := 1
check-long: export CSM_SWEEP_EVERY := 1
check-long: export CSM_FILE_SWEEP_EVERY := 1
check-long: deps
	$(MAKE) -j$(NPROC) BUILD=build-test TEST_BUILD=1 all-tests
	$(MAKE) BUILD=build-test TEST_BUILD=1 check-integration

# tests/shim: preloaded into nbdkit beside an ASan build of the plugin (tests/integration/lib.sh).
TEST_SHIM := $(BUILD)/tests/asan-exit-shim.so
$(TEST_SHIM): tests/shim/asan_exit_shim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -shared -Wall -Wextra -Werror -o $@ $<

all-tests: all $(UNIT_BINS) $(TESTTOOL_BINS) $(TEST_SHIM)

check-unit: all-tests
	tests/run-unit.sh $(BUILD)

check-integration: all-tests
	tests/integration/run.sh $(BUILD)

# The same tests under ASan/UBSan, the crash sweeps at a coarser sample
# (every 6th LVM fault point, every 3rd file-SR one; the first and the last
# always): the build-test pass has killed at every point (file) or every
# 3rd (LVM); what this pass adds is memory errors on the code paths, which
# the sampled points still walk (docs/testing.md, "Crash sweeps").
check-asan: export CSM_SWEEP_EVERY ?= 6
check-asan: export CSM_FILE_SWEEP_EVERY ?= 3
check-asan:
	$(MAKE) -j$(NPROC) BUILD=build-asan SAN=1 TEST_BUILD=1 all-tests
	$(MAKE) BUILD=build-asan SAN=1 TEST_BUILD=1 check-unit check-integration

check-fuzz:
	$(MAKE) -j$(NPROC) fuzz-bins
	tests/fuzz/run.sh build-fuzz

fuzz-bins: $(FUZZ_BINS)

demo: build-deps
	$(MAKE) all
	tools/demo.sh $(BUILD)

bench: deps
	$(MAKE) all $(BENCH_BINS)
	bench/run.sh $(BUILD)

MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/csm
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
MAN_PAGES := $(wildcard man/*.[1-8])

# make install keeps what it replaces in SMDIR: a driver file or link that
# is not ours (the Python SM's FileSR -> FileSR.py) becomes <name>.orig,
# and make uninstall puts it back.  It refuses a test build (fault points)
# unless ALLOW_TEST_BUILD=1 (tests/integration/test_install.sh, into a DESTDIR).
install: all
	@if [ "$(ALLOW_TEST_BUILD)" != 1 ] && grep -l CSM_FAULT_POINT $(DRIVERS:%=$(BUILD)/%) $(BUILD)/csm-gc $(NBD_PLUGIN) 2>/dev/null; then \
	  echo "make install: $(BUILD) is a test build (fault-injection points); rebuild it without TEST_BUILD=1" >&2; exit 1; fi
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR)
	for d in $(DRIVERS) csm-gc csm-lvm-run; do install $(INSTALL_STRIP) -m 0755 $(BUILD)/$$d $(DESTDIR)$(LIBEXECDIR)/$$d; done
	install $(INSTALL_STRIP) -m 0755 $(NBD_PLUGIN) $(DESTDIR)$(LIBEXECDIR)/csm-nbdkit.so
	ln -sf $(LIBEXECDIR)/csm-gc $(DESTDIR)$(BINDIR)/csm-gc
	for t in $(TOOL_BINS); do install $(INSTALL_STRIP) -m 0755 $$t $(DESTDIR)$(BINDIR)/; done
	for m in $(MAN_PAGES); do \
	  install -d $(DESTDIR)$(MANDIR)/man$${m##*.}; \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/; done
	install -d $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(DOCDIR)
	install -m 0644 tools/completion/csm.bash $(DESTDIR)$(COMPLETIONDIR)/smcall
	ln -sf smcall $(DESTDIR)$(COMPLETIONDIR)/vhdtool
	ln -sf smcall $(DESTDIR)$(COMPLETIONDIR)/csm-gc
	install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	if [ -n "$(SMDIR)" ]; then \
	  install -d $(DESTDIR)$(SMDIR); \
	  for d in $(DRIVERS); do \
	    t=$(DESTDIR)$(SMDIR)/$$d; \
	    if { [ -e $$t ] || [ -L $$t ]; } && [ "$$(readlink $$t)" != $(LIBEXECDIR)/$$d ] && \
	       ! [ -e $$t.orig ] && ! [ -L $$t.orig ]; then \
	      mv $$t $$t.orig && echo "make install: kept the old $(SMDIR)/$$d as $$d.orig"; fi; \
	    ln -sfn $(LIBEXECDIR)/$$d $$t; \
	  done; \
	fi

# Removes what install put in place and restores the <name>.orig it kept.
uninstall:
	for d in $(DRIVERS) csm-gc csm-lvm-run; do rm -f $(DESTDIR)$(LIBEXECDIR)/$$d; done
	rm -f $(DESTDIR)$(LIBEXECDIR)/csm-nbdkit.so
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	rm -f $(DESTDIR)$(BINDIR)/csm-gc $(TOOL_BINS:$(BUILD)/%=$(DESTDIR)$(BINDIR)/%)
	for m in $(MAN_PAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; done
	rm -f $(DESTDIR)$(COMPLETIONDIR)/smcall $(DESTDIR)$(COMPLETIONDIR)/vhdtool $(DESTDIR)$(COMPLETIONDIR)/csm-gc
	rm -f $(DESTDIR)$(DOCDIR)/LICENSE
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	if [ -n "$(SMDIR)" ]; then \
	  for d in $(DRIVERS); do \
	    t=$(DESTDIR)$(SMDIR)/$$d; \
	    if [ "$$(readlink $$t)" = $(LIBEXECDIR)/$$d ]; then rm -f $$t; fi; \
	    if { [ -e $$t.orig ] || [ -L $$t.orig ]; } && ! [ -e $$t ] && ! [ -L $$t ]; then \
	      mv $$t.orig $$t && echo "make uninstall: restored $(SMDIR)/$$d"; fi; \
	  done; \
	fi

clean:
	rm -rf build build-test build-asan build-fuzz

# Integration tests in a throwaway VM (qemu, Debian's kernel) for the kernel paths
# this machine's kernel lacks: device-mapper, NFS client, iSCSI initiator.
# tests/vm/setup.sh installs what is missing and builds build-vm/ (idempotent).
# See docs/testing.md, "The VM test host".
.PHONY: check-vm
check-vm: deps
	$(MAKE) BUILD=build-test TEST_BUILD=1 all
	tests/vm/setup.sh build-vm
	tests/vm/run.sh
