# The daemon under valgrind's memcheck (issue 6): tests/integration/t_daemon*.sh with
# SK_VALGRIND=1, which makes daemon_lib.sh start every daemon as
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible ...
# and check, at the end of each file, every daemon run that exited: no memcheck error and
# nothing definitely, indirectly or possibly lost. Runs ended by kill -9 (the adoption tests)
# leave no report and are counted only. `make check` runs this pass last; `make valgrind`
# runs it alone. The nodes and log-writers the daemon spawns run natively (no
# --trace-children): the daemon is what lives for months.
DEB_OF_COMMAND += valgrind:valgrind

.PHONY: valgrind
valgrind: deps
	@$(MAKE) --no-print-directory build
	@bash tests/run.sh valgrind
