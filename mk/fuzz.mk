# mk/fuzz.mk: libFuzzer targets for every parser (tests/fuzz/fuzz_*.c; each file's top comment
# says what it feeds to which function).
#
#   make build/fuzz/fuzz_manifest ...   builds one target (clang, -fsanitize=fuzzer,address,undefined)
#   make fuzz                           runs each target for FUZZ_SECONDS (default 300) over its seed
#                                       corpus (tests/fuzz/corpus/<target>/) and a working corpus kept in
#                                       build/fuzz/corpus/<target>/; prints execs and crashes per target;
#                                       crashing inputs go to build/fuzz/crashes/<target>/
#   make fuzz FUZZ_TARGETS="config check" FUZZ_SECONDS=60
#   make check                          builds the targets (CHECK_BUILD); tests/integration/t_fuzz.sh runs
#                                       each for 3 s and replays tests/fuzz/regressions/<target>/*
#
# The library is compiled again with clang into build/fuzz/ (never mixed with the gcc objects of
# build/), with -fsanitize=fuzzer-no-link so that libFuzzer sees its coverage.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= manifest config control check import
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_ALL_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter $(call inc_of,$<) $(PC_CFLAGS) -pthread

CHECK_BUILD += $(FUZZ_ALL_BINS)
TEST_DEB_OF_COMMAND += clang:clang
# libFuzzer's runtime is only a Recommends of clang, and deps installs without recommends.
TEST_DEB_OF_FILE += /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev

# The library objects are not intermediate files: keep them between builds.
.SECONDARY: $(FUZZ_LIB_OBJ)
.PHONY: fuzz fuzz-build
fuzz: deps
	+@$(SUBMAKE) fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_DIR=$(FUZZ_DIR) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)
