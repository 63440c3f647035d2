# The crash-point build and sweep (tests/crash/): build/crash/slotkeeper is the same program
# compiled with -DSK_CRASHPOINTS, so that SK_CRASH_AT=N kills it right before its N-th disk
# step (see include/slotkeeper/crashpoint.h). No other build contains the hook.
# `make crash-sweep` crashes every operation at every step and checks the invariants (the
# golden copy's update and the restore by cloning included: sweep.sh golden-update restore-clone);
# `make check` runs a small sample of it (tests/integration/t_crashpoints.sh).
CRASH_CFLAGS  := -DSK_CRASHPOINTS -O1 -g
CRASH_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/crash/%.o)
CRASH_BIN_OBJ := $(BIN_SRC:%.c=$(BUILD)/crash/%.o)
CHECK_BUILD   += $(BUILD)/crash/slotkeeper

.PHONY: crash-sweep

$(BUILD)/crash/slotkeeper: $(CRASH_LIB_OBJ) $(CRASH_BIN_OBJ)
	gcc $(CRASH_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/crash/%.o: %.c
	@mkdir -p $(dir $@)
	gcc $(ALL_CFLAGS) $(CRASH_CFLAGS) -c -o $@ $<

crash-sweep: deps
	+@$(SUBMAKE) build $(BUILD)/crash/slotkeeper
	@bash tests/crash/sweep.sh
