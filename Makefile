# colokit: one Makefile for the whole tree.
#
#   make            build libraries and tools into build/ (build-san/ with SAN=1)
#   make test       install missing Debian packages, build, run every test suite
#   make check      run the suites without the dependency step
#   make fuzz       build the libFuzzer harnesses (clang) and run each briefly
#   make bench      the benchmark harness, every part in one run (root;
#                   bench/run.sh, 10-14 min): BENCH_PARTS=compare,datapath
#                   runs some (cmp compare datapath colo failover relay),
#                   BENCH_QUICK=1 a short check; bench/results/run-DATE/
#   make bench-datapath  the proxy pair against the direct path and an
#                   accept-all queue program (root; bench/datapath.sh)
#   make bench-colo real QEMU COLO per service: latency, checkpoints per
#                   request, checkpoint durations (root; bench/colo.sh)
#   make bench-failover  failover time after a silent host death, 20 runs
#                   (root; bench/failover.sh)
#   make bench-relay  the checkpoint stream with and without colo-relay
#                   (root; bench/relay.sh)
#   make scenario   the proxy pair in network namespaces (root)
#   make e2e        two real QEMU guests under COLO with both proxies (root)
#   make demo       the whole toolkit on one machine, explained (root)
#   V=1             show the commands; SAN=1 builds with ASan + UBSan

CC      ?= cc
PKG     ?= pkg-config
SAN     ?= 0
V       ?= 0

ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SELFCHECK := -DCMP_SELFCHECK
OPT      := -O1 -g
else
B        := build
SANFLAGS :=
OPT      := -O2 -g
endif

WARN     := -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
CFLAGS   += $(OPT) $(WARN) $(SANFLAGS) $(SELFCHECK) -D_GNU_SOURCE -I. -MMD -MP
LDFLAGS  += $(SANFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

PCAP_CFLAGS := $(shell $(PKG) --cflags libpcap 2>/dev/null)
PCAP_LIBS   := $(shell $(PKG) --libs libpcap 2>/dev/null || echo -lpcap)
CRIT_CFLAGS := $(shell $(PKG) --cflags criterion 2>/dev/null)
CRIT_LIBS   := $(shell $(PKG) --libs criterion 2>/dev/null || echo -lcriterion)
JSON_CFLAGS := $(shell $(PKG) --cflags jansson 2>/dev/null)
JSON_LIBS   := $(shell $(PKG) --libs jansson 2>/dev/null || echo -ljansson)
SODIUM_CFLAGS := $(shell $(PKG) --cflags libsodium 2>/dev/null)
SODIUM_LIBS := $(shell $(PKG) --libs libsodium 2>/dev/null || echo -lsodium)
ZSTD_CFLAGS := $(shell $(PKG) --cflags libzstd 2>/dev/null)
ZSTD_LIBS   := $(shell $(PKG) --libs libzstd 2>/dev/null || echo -lzstd)
# libvirt is optional at build time: without it, a libvirt target is a
# clear error at run time (checkpoint/libvirt.h)
LIBVIRT_LIBS := $(shell $(PKG) --libs libvirt libvirt-qemu 2>/dev/null)
ifneq ($(LIBVIRT_LIBS),)
LIBVIRT_CFLAGS := $(shell $(PKG) --cflags libvirt libvirt-qemu) -DHAVE_LIBVIRT
LIBVIRT_LIBS += -lpthread
endif

# ---- libraries -------------------------------------------------------------
CMP_SRC    := $(wildcard compare/*.c)
COMMON_SRC := $(wildcard common/*.c)
CMP_OBJ    := $(CMP_SRC:%.c=$(B)/%.o)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBCMP     := $(B)/libcolocmp.a
LIBCOMMON  := $(B)/libcolocommon.a
# colo-proxy's modules (everything but main.c) form a library, so that the
# unit tests and fuzzers drive them directly
PROXY_SRC  := $(filter-out colo-proxy/main.c,$(wildcard colo-proxy/*.c))
PROXY_OBJ  := $(PROXY_SRC:%.c=$(B)/%.o)
LIBPROXY   := $(B)/libcoloproxy.a
PROXY_BIN  := $(if $(wildcard colo-proxy/main.c),$(B)/bin/colo-proxy)
# the checkpoint interface, the QMP client and its backend
CKPT_SRC   := $(wildcard checkpoint/*.c)
CKPT_OBJ   := $(CKPT_SRC:%.c=$(B)/%.o)
LIBCKPT    := $(B)/libcolockpt.a
# colo-heartbeat's modules (everything but main.c)
HB_SRC     := $(filter-out heartbeat/main.c,$(wildcard heartbeat/*.c))
HB_OBJ     := $(HB_SRC:%.c=$(B)/%.o)
LIBHB      := $(B)/libcolohb.a
HB_BIN     := $(if $(wildcard heartbeat/main.c),$(B)/bin/colo-heartbeat)
# colo-relay's modules (everything but main.c)
RELAY_SRC  := $(filter-out relay/main.c,$(wildcard relay/*.c))
RELAY_OBJ  := $(RELAY_SRC:%.c=$(B)/%.o)
LIBRELAY   := $(B)/libcolorelay.a
RELAY_BIN  := $(if $(wildcard relay/main.c),$(B)/bin/colo-relay)
COLOCTL_SRC := $(wildcard coloctl/*.c)
COLOCTL_OBJ := $(COLOCTL_SRC:%.c=$(B)/%.o)
COLOCTL_BIN := $(if $(COLOCTL_SRC),$(B)/bin/coloctl)
LIBS       := $(LIBPROXY) $(LIBHB) $(LIBRELAY) $(LIBCKPT) $(LIBCMP) $(LIBCOMMON)
# external libraries every binary linking LIBS needs
EXT_LIBS   := $(JSON_LIBS) $(SODIUM_LIBS) $(ZSTD_LIBS) $(LIBVIRT_LIBS)

# ---- tools -------------------------------------------------------------------
PCAPCMP_SRC := $(wildcard compare/tool/*.c)
PCAPCMP_OBJ := $(PCAPCMP_SRC:%.c=$(B)/%.o)
# the tool's pieces without main(), shared with the capture tests
FEED_OBJ    := $(filter-out $(B)/compare/tool/main.o,$(PCAPCMP_OBJ))
PCAPCMP     := $(B)/bin/colo-pcapcmp

# ---- tests -------------------------------------------------------------------
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TESTLIB_SRC := $(wildcard tests/support/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(B)/%.o) $(FEED_OBJ)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

ALL_OBJ := $(CMP_OBJ) $(COMMON_OBJ) $(PROXY_OBJ) $(CKPT_OBJ) $(HB_OBJ) $(RELAY_OBJ) \
           $(PCAPCMP_OBJ) $(TESTLIB_OBJ) $(B)/colo-proxy/main.o $(B)/heartbeat/main.o \
           $(B)/relay/main.o $(COLOCTL_OBJ)

.PHONY: all test check unit lab scenario e2e demo corpus fuzz fuzz-build bench bench-datapath bench-colo bench-failover bench-relay clean deps
all: $(LIBS) $(PCAPCMP) $(PROXY_BIN) $(HB_BIN) $(RELAY_BIN) $(COLOCTL_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(PCAP_CFLAGS) $(JSON_CFLAGS) $(SODIUM_CFLAGS) $(ZSTD_CFLAGS) $(LIBVIRT_CFLAGS) -c $< -o $@

$(LIBCMP): $(CMP_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBCOMMON): $(COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBPROXY): $(PROXY_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBHB): $(HB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBRELAY): $(RELAY_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBCKPT): $(CKPT_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(PCAPCMP): $(PCAPCMP_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(PCAPCMP_OBJ) $(LIBS) $(PCAP_LIBS) $(EXT_LIBS)

$(B)/bin/colo-proxy: $(B)/colo-proxy/main.o $(FEED_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(FEED_OBJ) $(LIBS) $(PCAP_LIBS) $(EXT_LIBS)

$(B)/bin/colo-heartbeat: $(B)/heartbeat/main.o $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(EXT_LIBS)

$(B)/bin/colo-relay: $(B)/relay/main.o $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(EXT_LIBS)

$(B)/bin/coloctl: $(COLOCTL_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(COLOCTL_OBJ) $(LIBS) $(EXT_LIBS)

$(B)/tests/%: tests/unit/%.c $(TESTLIB_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-LD $@")
	$(Q)$(CC) $(CFLAGS) $(CRIT_CFLAGS) $(PCAP_CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(TESTLIB_OBJ) $(LIBS) $(CRIT_LIBS) $(PCAP_LIBS) $(EXT_LIBS)

$(B)/bench/%: bench/%.c $(LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(EXT_LIBS)

# `make test`: the README's command. Installs what is missing, then checks.
test: deps
	$(Q)$(MAKE) --no-print-directory check

deps:
	$(Q)scripts/install-deps.sh

check: all $(UNIT_BIN)
	$(Q)B=$(B) tests/run-all.sh

unit: all $(UNIT_BIN)
	$(Q)B=$(B) tests/run-all.sh unit

corpus: all
	$(Q)B=$(B) tests/corpus.sh

lab: all $(UNIT_BIN)
	$(Q)B=$(B) tests/run-all.sh lab

scenario: all
	$(Q)B=$(B) tests/run-all.sh scenario

e2e: all
	$(Q)B=$(B) tests/run-all.sh e2e

# `make demo`: the README's first command (installs what it needs itself)
demo:
	$(Q)qemu-scripts/demo.sh

# ---- fuzzing (clang + libFuzzer) ---------------------------------------------
FUZZ_SRC  := $(wildcard fuzz/*.c)
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_CC   ?= clang
FUZZ_FLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DCMP_SELFCHECK -I. -fsanitize=fuzzer,address,undefined

build-fuzz/%: fuzz/%.c $(CMP_SRC) $(COMMON_SRC) $(PROXY_SRC) $(CKPT_SRC) $(HB_SRC) $(RELAY_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(JSON_CFLAGS) $(SODIUM_CFLAGS) $(ZSTD_CFLAGS) -o $@ $< $(CMP_SRC) \
	    $(COMMON_SRC) $(PROXY_SRC) $(CKPT_SRC) $(HB_SRC) $(RELAY_SRC) compare/tool/dump.c \
	    $(JSON_LIBS) $(SODIUM_LIBS) $(ZSTD_LIBS)

fuzz-build: $(FUZZ_BIN)

# FUZZ_TIME seconds per harness (default 30; CI uses a short run)
fuzz: fuzz-build
	$(Q)FUZZ_TIME=$${FUZZ_TIME:-30} fuzz/run.sh $(FUZZ_BIN)

# ---- bench-compare: our comparator against QEMU's colo-compare -------------
# bench/qcmp/: cmp_front (compare/ behind colo-compare's sockets) and its
# driver cmp_vs_qemu; bench/compare-qemu.sh runs them (bench/README.md).
# BENCH_ARGS passes options to the driver, e.g. BENCH_ARGS="-r 5".
QCMP_SHARED     := $(B)/bench/qcmp/frame.o $(B)/bench/qcmp/sock.o
QCMP_FRONT_OBJ  := $(B)/bench/qcmp/front.o $(B)/bench/qcmp/store.o \
                   $(QCMP_SHARED)
QCMP_DRIVER_OBJ := $(B)/bench/qcmp/driver.o $(B)/bench/qcmp/gen.o \
                   $(B)/bench/qcmp/proc.o $(B)/bench/qcmp/report.o \
                   $(B)/bench/qcmp/run.o $(QCMP_SHARED)
QCMP_BIN        := $(B)/bench/cmp_front $(B)/bench/cmp_vs_qemu

$(B)/bench/cmp_front: $(QCMP_FRONT_OBJ) $(LIBCMP) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(QCMP_FRONT_OBJ) $(LIBCMP) $(LIBCOMMON) $(EXT_LIBS)

$(B)/bench/cmp_vs_qemu: $(QCMP_DRIVER_OBJ) $(LIBCMP) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(QCMP_DRIVER_OBJ) $(LIBCMP) $(LIBCOMMON) $(EXT_LIBS)

-include $(QCMP_FRONT_OBJ:.o=.d) $(QCMP_DRIVER_OBJ:.o=.d)

.PHONY: bench-compare
bench-compare: $(QCMP_BIN)
	$(Q)B=$(B) bench/compare-qemu.sh $(BENCH_ARGS)

# `make bench`: bench/run.sh, every part or those in BENCH_PARTS (comma-
# separated), BENCH_QUICK=1 for a short check; one run directory with each
# part's JSON, run.json, summary.md and the PNG plots (bench/README.md)
bench: all $(BENCH_BIN) $(QCMP_BIN)
	$(Q)B=$(B) bench/run.sh $(if $(BENCH_PARTS),--only $(BENCH_PARTS)) \
		$(if $(filter-out 0,$(BENCH_QUICK)),--quick)

bench-datapath: all $(BENCH_BIN)
	$(Q)B=$(B) bench/datapath.sh

bench-colo: all
	$(Q)B=$(B) bench/colo.sh

bench-failover: all
	$(Q)B=$(B) bench/failover.sh

bench-relay: all
	$(Q)B=$(B) bench/relay.sh

clean:
	rm -rf build build-san build-fuzz

-include $(ALL_OBJ:.o=.d) $(UNIT_BIN:=.d)
