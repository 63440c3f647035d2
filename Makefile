# slotkeeper build.
#   make            builds (slotkeeper, the unit tests, fakenode, the test tools); installs nothing
#   make deps       installs the missing build packages (as root; Debian): what `make` and `make demo` need
#   make deps-test  installs those and the test-only packages (clang, valgrind, faketime, gcovr, ...)
#   make check      deps-test, builds, checks the layers, runs every test (tests/run.sh), then the
#                   coverage floors; ends with "N passed, N failed, N skipped"
#   make unit | integration | san     one pass of tests/run.sh (make valgrind: mk/valgrind.mk)
#   make layers     the layer check alone (tests/tools/layers.sh)
#   make coverage   an instrumented build in build/cov/, the unit and integration tests against it,
#                   line coverage per folder (COV_FLOOR=1: and the floors)
#   make demo       deps, builds, runs the main job on a generated data-dir
#   make bench      compares slotkeeper with tar|zstd and bsdtar

CC      ?= cc
BUILD   := build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
# -j$(NPROC) for the sub-makes, unless the caller chose a -j of their own.
JOBS     = $(if $(filter -j% j% --jobserver%,$(MAKEFLAGS)),,-j$(NPROC))
SUBMAKE  = $(MAKE) --no-print-directory $(JOBS)

# pkg-config modules we link, and for `deps` the Debian package of each module and of each
# command. DEB_OF_COMMAND / DEB_OF_MODULE (for PC_MODULES) are what the binary and the demo
# need; TEST_DEB_OF_* what only the tests need (xxhsum cross-checks our XXH3-128 names,
# faketime moves the clock, gcovr measures coverage, systemd-analyze verifies etc/systemd).
PC_MODULES := libzstd libxxhash jansson inih libarchive libuv libcurl libcrypto
# fakenode packs genesis.json and derives its chain id with the library's chainid.c (jansson, libcrypto).
FAKENODE_PC_MODULES := libuv jansson libcrypto
FAKENODE_LIB := snapshot/chainid.c snapshot/error.c
# yamlcheck (tests/tools) parses etc/docker/stack.yml with libyaml.
TOOL_PC_MODULES := yaml-0.1
DEB_OF_MODULE := libzstd:libzstd-dev libxxhash:libxxhash-dev jansson:libjansson-dev inih:libinih-dev libarchive:libarchive-dev libuv:libuv1-dev libcurl:libcurl4-openssl-dev yaml-0.1:libyaml-dev libcrypto:libssl-dev
DEB_OF_COMMAND := cc:gcc pkg-config:pkg-config
TEST_DEB_OF_COMMAND := xxhsum:xxhash zstd:zstd faketime:faketime systemd-analyze:systemd mkfs.xfs:xfsprogs
# Files (a glob) whose package has no command or module to look for, e.g. libFuzzer's runtime.
TEST_DEB_OF_FILE :=
module_debs = $(foreach m,$(1),$(foreach p,$(DEB_OF_MODULE),$(if $(filter $(m):%,$(p)),$(p))))

PC_CFLAGS = $(shell pkg-config --cflags $(PC_MODULES) 2>/dev/null)
PC_LIBS   = $(shell pkg-config --libs $(PC_MODULES) 2>/dev/null)

WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
CFLAGS  ?= -O2 -g
LDLIBS  = $(PC_LIBS) -pthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ---- sources: two layers ------------------------------------------------------------------
# rwildcard DIR,PATTERN: files under DIR (any depth) whose name matches PATTERN.
rwildcard = $(foreach d,$(wildcard $(1:=/*)),$(call rwildcard,$d,$2) $(filter $(subst *,%,$2),$d))

# snapshot/ (the library, any sub-folder) and supervisor/ (the rest). The command line (CLI_SRC)
# is supervisor/cli/ once it exists, supervisor/main.c and supervisor/cmd_*.c before; it is linked
# into the binary only, the rest of supervisor/ goes into build/libsupervisor.a for the binary,
# the unit tests and the fuzzers.
SNAP_SRC := $(sort $(call rwildcard,snapshot,*.c))
SUP_ALL_SRC := $(sort $(call rwildcard,supervisor,*.c))
# supervisor/cli/run.c (sk_run, unit-tested) is library, not command line.
CLI_SRC  ?= $(if $(wildcard supervisor/cli/*.c),$(filter-out supervisor/cli/run.c,$(sort $(call rwildcard,supervisor/cli,*.c))),supervisor/main.c $(wildcard supervisor/cmd_*.c))
SUP_SRC  := $(filter-out $(CLI_SRC),$(SUP_ALL_SRC))
# The names the mk/*.mk files and `format` use: the library is both layers without the CLI.
BIN_SRC  := $(CLI_SRC)
LIB_SRC  := $(SNAP_SRC) $(SUP_SRC)
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOLS   := mkdatadir runstat holdlock ctlsend reflinkprobe
TEST_TOOLS := yamlcheck
FAKENODE_SRC := $(wildcard tests/fakenode/*.c)

# Include paths: snapshot/ sees include/ and its own folders only, so a snapshot file that
# includes a header living under supervisor/ does not compile; supervisor/ and the tests also
# see every supervisor/ folder that holds a header (headers only the supervisor uses sit there).
SNAP_INC := -Iinclude $(addprefix -I,$(sort $(patsubst %/,%,$(dir $(call rwildcard,snapshot,*.h)))))
SUP_INC  := $(SNAP_INC) $(addprefix -I,$(sort supervisor $(patsubst %/,%,$(dir $(call rwildcard,supervisor,*.h)))))
inc_of    = $(if $(filter snapshot/%,$(1)),$(SNAP_INC),$(SUP_INC))
ALL_CFLAGS = $(WARN) $(CFLAGS) $(call inc_of,$<) $(PC_CFLAGS) -pthread -MMD -MP

SNAP_OBJ := $(SNAP_SRC:%.c=$(BUILD)/%.o)
SUP_OBJ  := $(SUP_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ  := $(SNAP_OBJ) $(SUP_OBJ)
BIN_OBJ  := $(CLI_OBJ)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
SNAP_LIB := $(BUILD)/libsnapshot.a
SUP_LIB  := $(BUILD)/libsupervisor.a
# Higher layer first: the linker resolves what libsupervisor.a needs from libsnapshot.a, and a
# call from snapshot/ up into supervisor/ fails the link (`make layers` says which one).
# LAYER_GROUP=1 links them as a group instead, for bisecting an old tree.
LAYER_LIBS := $(SUP_LIB) $(SNAP_LIB)
LAYER_GROUP ?=
LAYER_LINK = $(if $(LAYER_GROUP),-Wl$(comma)--start-group $(LAYER_LIBS) -Wl$(comma)--end-group,$(LAYER_LIBS))
comma := ,
SAN_LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
SAN_BIN_OBJ  := $(BIN_SRC:%.c=$(BUILD)/san/%.o)
SAN_UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/san/%.o)

.PHONY: all build deps deps-test check test unit integration san layers coverage demo bench format format-check clean
# `make` builds in parallel (-j$(NPROC)) unless a -j was given.
all:
	+@$(SUBMAKE) build

build: slotkeeper $(BUILD)/unit-tests $(TOOLS:%=$(BUILD)/tools/%) $(BUILD)/fakenode

$(SNAP_LIB): $(SNAP_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SUP_LIB): $(SUP_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

slotkeeper: $(CLI_OBJ) $(LAYER_LIBS)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LAYER_LINK) $(LDLIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(LAYER_LIBS)
	$(CC) $(CFLAGS) -o $@ $(UNIT_OBJ) $(LAYER_LINK) $(LDLIBS)

$(BUILD)/san/slotkeeper: $(SAN_LIB_OBJ) $(SAN_BIN_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/san/unit-tests: $(SAN_LIB_OBJ) $(SAN_UNIT_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# fakenode: the nodeos stand-in of the tests and the demo.
$(BUILD)/fakenode: $(FAKENODE_SRC) $(FAKENODE_LIB) tests/fakenode/fakenode.h include/slotkeeper/chainid.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g -Iinclude $(shell pkg-config --cflags $(FAKENODE_PC_MODULES)) -o $@ $(FAKENODE_SRC) \
	  $(FAKENODE_LIB) $(shell pkg-config --libs $(FAKENODE_PC_MODULES)) -lm

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g -o $@ $<

# reflinkprobe runs the library's own clone probe.
$(BUILD)/tools/reflinkprobe: tests/tools/reflinkprobe.c snapshot/reflink.c include/slotkeeper/reflink.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g -Iinclude -o $@ tests/tools/reflinkprobe.c snapshot/reflink.c

$(BUILD)/tools/yamlcheck: tests/tools/yamlcheck.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g $(shell pkg-config --cflags $(TOOL_PC_MODULES)) -o $@ $< $(shell pkg-config --libs $(TOOL_PC_MODULES))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# ---- packages -----------------------------------------------------------------------------
# install_missing COMMANDS,FILES,MODULES: apt-get installs the package of each command, file
# (glob) or pkg-config module that is not there; as root only, and only when something is missing.
define install_missing
@missing=""; \
	for p in $(1); do command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	for p in $(2); do ls $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	for p in $(3); do \
	  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $${p%%:*} || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "slotkeeper: missing packages; run as root, or: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	  echo "slotkeeper: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || exit 1; \
	fi
endef

# What `make` and `make demo` need: the compiler, pkg-config and the -dev package of each module.
deps:
	$(call install_missing,$(DEB_OF_COMMAND),,$(call module_debs,$(PC_MODULES)))

# What the tests need on top (mk/*.mk add theirs to TEST_DEB_OF_COMMAND / TEST_DEB_OF_FILE).
deps-test:
	$(call install_missing,$(DEB_OF_COMMAND) $(TEST_DEB_OF_COMMAND),$(TEST_DEB_OF_FILE),$(call module_debs,$(PC_MODULES) $(TOOL_PC_MODULES)))

# mk/*.mk add what the reliability harness needs (fuzzers, the crash-point build, coverage, the
# layer check): targets for `make check` to build go into CHECK_BUILD, packages into TEST_DEB_OF_*.
CHECK_BUILD := $(TEST_TOOLS:%=$(BUILD)/tools/%)
-include mk/*.mk

# The layer check, every test, then coverage with its floors; each runs even when an earlier
# one failed, and the last lines say which failed.
check: deps-test
	+@$(SUBMAKE) build $(BUILD)/san/unit-tests $(BUILD)/san/slotkeeper $(CHECK_BUILD)
	@echo "== layers"; $(MAKE) --no-print-directory layers; l=$$?; \
	{ bash tests/run.sh all; echo $$? >$(BUILD)/check.rc; } | tee $(BUILD)/check.log; t=$$(cat $(BUILD)/check.rc); \
	$(MAKE) --no-print-directory coverage COV_FLOOR=1 COV_TESTS="$(COV_CHECK_TESTS)"; c=$$?; \
	[ $$l = 0 ] || echo "check: the layer check failed (make layers)"; \
	[ $$t = 0 ] || echo "check: tests failed or were skipped under CI=true (tests/run.sh)"; \
	[ $$c = 0 ] || echo "check: the coverage run failed or is below a floor (make coverage)"; \
	grep -E '^[0-9]+ passed, [0-9]+ failed' $(BUILD)/check.log | tail -1 | \
	  awk -v l=$$l -v c=$$c '{ $$3 = $$3 + (l != 0) + (c != 0); print "check: " $$0 }'; \
	[ $$l = 0 ] && [ $$t = 0 ] && [ $$c = 0 ]

test: check

# One pass of tests/run.sh each; they build what they run and install nothing.
unit:
	+@$(SUBMAKE) $(BUILD)/unit-tests $(BUILD)/fakenode
	@bash tests/run.sh unit

integration:
	+@$(SUBMAKE) build $(CHECK_BUILD)
	@bash tests/run.sh integration

san:
	+@$(SUBMAKE) $(BUILD)/san/unit-tests $(BUILD)/san/slotkeeper $(BUILD)/fakenode $(TOOLS:%=$(BUILD)/tools/%) \
	  $(TEST_TOOLS:%=$(BUILD)/tools/%)
	@bash tests/run.sh san

demo: deps
	+@$(SUBMAKE) build
	@bash tests/demo.sh

bench: deps
	+@$(SUBMAKE) build
	@SLOTKEEPER=$(CURDIR)/slotkeeper MKDATADIR=$(CURDIR)/$(BUILD)/tools/mkdatadir \
	  RUNSTAT=$(CURDIR)/$(BUILD)/tools/runstat bash tests/bench/bench.sh
	@SLOTKEEPER=$(CURDIR)/slotkeeper FAKENODE=$(CURDIR)/$(BUILD)/fakenode bash tests/bench/daemon_idle.sh
	@$(MAKE) --no-print-directory s3-deps || echo "bench: Swift is missing and could not be installed: the S3 part skips"
	@SLOTKEEPER=$(CURDIR)/slotkeeper MKDATADIR=$(CURDIR)/$(BUILD)/tools/mkdatadir \
	  RUNSTAT=$(CURDIR)/$(BUILD)/tools/runstat bash tests/bench/bench_s3.sh

FORMAT_FILES = $(LIB_SRC) $(BIN_SRC) $(UNIT_SRC) $(wildcard include/slotkeeper/*.h) $(call rwildcard,snapshot,*.h) \
  $(call rwildcard,supervisor,*.h) tests/tools/*.c tests/fakenode/*.[ch]
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) slotkeeper

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
