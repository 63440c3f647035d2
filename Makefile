# slotkeeper build. `make` builds; `make check` installs missing -dev packages (as root),
# builds and runs every test; `make demo` runs the main job on a generated data-dir;
# `make bench` compares slotkeeper with tar|zstd and bsdtar.

CC      ?= cc
BUILD   := build
# pkg-config modules we link (libuv: tests/fakenode for now), and for `deps` the Debian package of
# each module and of each command the tests use (xxhsum cross-checks our XXH3-128 names).
PC_MODULES := libzstd libxxhash jansson inih libarchive libuv libcurl libcrypto
TEST_PC_MODULES := libuv
# fakenode packs genesis.json and derives its chain id with the library's chainid.c (jansson, libcrypto).
FAKENODE_PC_MODULES := libuv jansson libcrypto
FAKENODE_LIB := snapshot/chainid.c snapshot/error.c
# yamlcheck (tests/tools) parses etc/docker/stack.yml with libyaml.
TOOL_PC_MODULES := yaml-0.1
DEB_OF_MODULE := libzstd:libzstd-dev libxxhash:libxxhash-dev jansson:libjansson-dev inih:libinih-dev libarchive:libarchive-dev libuv:libuv1-dev libcurl:libcurl4-openssl-dev yaml-0.1:libyaml-dev libcrypto:libssl-dev
DEB_OF_COMMAND := pkg-config:pkg-config xxhsum:xxhash zstd:zstd faketime:faketime
# Files (a glob) whose package has no command or module to look for, e.g. libFuzzer's runtime.
DEB_OF_FILE :=
DEB_PKGS := $(foreach p,$(DEB_OF_COMMAND) $(DEB_OF_MODULE),$(word 2,$(subst :, ,$(p))))

PC_CFLAGS = $(shell pkg-config --cflags $(PC_MODULES) 2>/dev/null)
PC_LIBS   = $(shell pkg-config --libs $(PC_MODULES) 2>/dev/null)

WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
CFLAGS  ?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) -Iinclude -Isupervisor $(PC_CFLAGS) -pthread -MMD -MP
LDLIBS  = $(PC_LIBS) -pthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# supervisor/cli/ is the command line (run.c excepted: sk_run is library, unit-tested); everything else is library.
BIN_SRC := $(filter-out supervisor/cli/run.c,$(wildcard supervisor/cli/*.c))
LIB_SRC := $(wildcard snapshot/*.c) $(filter-out $(BIN_SRC),$(wildcard supervisor/*.c supervisor/*/*.c))
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOLS   := mkdatadir runstat holdlock ctlsend yamlcheck
FAKENODE_SRC := $(wildcard tests/fakenode/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
BIN_OBJ  := $(BIN_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
SAN_LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
SAN_BIN_OBJ  := $(BIN_SRC:%.c=$(BUILD)/san/%.o)
SAN_UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/san/%.o)

.PHONY: all build deps check test unit integration san demo bench format format-check clean
all: deps
	@$(MAKE) --no-print-directory build

build: slotkeeper $(BUILD)/unit-tests $(TOOLS:%=$(BUILD)/tools/%) $(BUILD)/fakenode

slotkeeper: $(LIB_OBJ) $(BIN_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit-tests: $(LIB_OBJ) $(UNIT_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

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

$(BUILD)/tools/yamlcheck: tests/tools/yamlcheck.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -g $(shell pkg-config --cflags $(TOOL_PC_MODULES)) -o $@ $< $(shell pkg-config --libs $(TOOL_PC_MODULES))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# Installs what the build and the tests need, only what is missing.
deps:
	@missing=""; \
	for p in $(DEB_OF_COMMAND); do command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	for p in $(DEB_OF_FILE); do ls $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	for p in $(DEB_OF_MODULE); do \
	  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $${p%%:*} || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "slotkeeper: missing build dependencies; run as root, or: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	  echo "installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# mk/*.mk add what the reliability harness needs (fuzzers, the crash-point build): targets
# for `make check` to build go into CHECK_BUILD, packages into DEB_OF_COMMAND/DEB_OF_MODULE.
CHECK_BUILD :=
-include mk/*.mk

check: deps
	@$(MAKE) --no-print-directory build $(BUILD)/san/unit-tests $(BUILD)/san/slotkeeper $(CHECK_BUILD)
	@bash tests/run.sh

test: check

demo: deps
	@$(MAKE) --no-print-directory build
	@bash tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@SLOTKEEPER=$(CURDIR)/slotkeeper MKDATADIR=$(CURDIR)/$(BUILD)/tools/mkdatadir \
	  RUNSTAT=$(CURDIR)/$(BUILD)/tools/runstat bash tests/bench/bench.sh
	@SLOTKEEPER=$(CURDIR)/slotkeeper FAKENODE=$(CURDIR)/$(BUILD)/fakenode bash tests/bench/daemon_idle.sh

format:
	clang-format -i $(LIB_SRC) $(BIN_SRC) $(UNIT_SRC) include/slotkeeper/*.h tests/tools/*.c tests/fakenode/*.[ch]

format-check:
	clang-format --dry-run --Werror $(LIB_SRC) $(BIN_SRC) $(UNIT_SRC) include/slotkeeper/*.h tests/tools/*.c \
	  tests/fakenode/*.[ch]

clean:
	rm -rf $(BUILD) slotkeeper

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
