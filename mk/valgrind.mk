# The long-lived processes under valgrind's memcheck (issue 6): the daemon's tests
# (tests/integration/t_daemon*.sh) and `run`'s (t_run.sh) with SK_VALGRIND=1, which makes
# lib.sh start each daemon and each `slotkeeper run` as
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible ...
# and check, at the end of each file, every run that exited: no memcheck error and nothing
# definitely, indirectly or possibly lost. Runs ended by kill -9 (the adoption tests) leave
# no report and are counted only. `make check` runs this pass last; `make valgrind` runs it
# alone. The nodes and log-writers they spawn run natively (no --trace-children): the daemon
# and `run` are what live for months.
TEST_DEB_OF_COMMAND += valgrind:valgrind

.PHONY: valgrind
valgrind: deps-test
	+@$(SUBMAKE) build
	@bash tests/run.sh valgrind
