# Line coverage (gcov, read by gcovr): `make coverage` builds an instrumented copy of the program
# and the unit tests in build/cov/ (-O0 --coverage), runs the unit tests and the integration
# tests against it (tests/run.sh cov; COV_TESTS="t_a t_b" limits the integration files), and
# prints line coverage per folder (tests/tools/covsummary.py). With COV_FLOOR=1, as `make check`
# runs it, it also fails when snapshot/ or the slot state machine is below its floor.
COV_DIR    := $(BUILD)/cov
COV_CFLAGS := -O0 -g --coverage -DSK_COVERAGE
COV_LIB_OBJ  := $(LIB_SRC:%.c=$(COV_DIR)/%.o)
COV_BIN_OBJ  := $(BIN_SRC:%.c=$(COV_DIR)/%.o)
COV_UNIT_OBJ := $(UNIT_SRC:%.c=$(COV_DIR)/%.o)
# The floors, in percent of lines: set at what the tree reached when they were set (issue 11).
COV_FLOOR_SNAPSHOT ?= 85
COV_FLOOR_SLOT     ?= 77
# The slot state machine: supervisor/slot.c, or wherever it moves under supervisor/.
COV_SLOT_FILE ?= $(firstword $(wildcard supervisor/slot.c supervisor/*/slot.c supervisor/*/slot_machine.c))
COV_TESTS ?=
# What `make check` runs under coverage (its last step): every integration file (empty), or a list.
COV_CHECK_TESTS ?=
TEST_DEB_OF_COMMAND += gcovr:gcovr

.PHONY: coverage coverage-build
.SECONDARY: $(COV_LIB_OBJ) $(COV_BIN_OBJ) $(COV_UNIT_OBJ)

$(COV_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(COV_CFLAGS) -c -o $@ $<

$(COV_DIR)/slotkeeper: $(COV_LIB_OBJ) $(COV_BIN_OBJ)
	$(CC) --coverage -o $@ $^ $(LDLIBS)

$(COV_DIR)/unit-tests: $(COV_LIB_OBJ) $(COV_UNIT_OBJ)
	$(CC) --coverage -o $@ $^ $(LDLIBS)

coverage-build: build $(CHECK_BUILD) $(COV_DIR)/slotkeeper $(COV_DIR)/unit-tests

coverage: deps-test
	+@$(SUBMAKE) coverage-build
	@find $(COV_DIR) -name '*.gcda' -delete
	@COV_TESTS="$(COV_TESTS)" bash tests/run.sh cov; rc=$$?; \
	echo "== coverage"; \
	gcovr -r . -j $(NPROC) --filter 'snapshot/' --filter 'supervisor/' --json-summary $(COV_DIR)/summary.json \
	  --txt $(COV_DIR)/coverage.txt $(COV_DIR) || exit 1; \
	echo "per file: $(COV_DIR)/coverage.txt"; \
	python3 tests/tools/covsummary.py $(COV_DIR)/summary.json \
	  $(if $(COV_FLOOR),snapshot=$(COV_FLOOR_SNAPSHOT) $(or $(COV_SLOT_FILE),slot.c)=$(COV_FLOOR_SLOT)) || rc=1; \
	exit $$rc
