# The whole loop against a real nodeos (tests/nodeos/, issue 14): `make nodeos-test NODEOS=path`
# runs tests/nodeos/t_*.sh (a one-producer chain on loopback, an archival nodeos and two worker
# nodeos under `slotkeeper daemon`; about 40 s) and ends with "N passed, N failed, N skipped".
# NODEOS defaults to the Leap 4.0.6 build beside the project, ../shared/nodeos/nodeos (with its
# config.ini and genesis.json). `make check` runs the same pass last (tests/run.sh nodeos); with
# no binary there the test says SKIP, which fails the run under CI=true.
NODEOS ?= $(abspath $(CURDIR)/../shared/nodeos/nodeos)
export NODEOS
# nodeos's run-time libraries (Debian packages), installed like every other test dependency
# when the binary is there; the test uses curl and jq for nodeos's HTTP API.
NODEOS_DEB_OF_FILE := /usr/lib/*/libgmp.so.10:libgmp10 /usr/lib/*/libssl.so.3:libssl3 /usr/lib/*/libz.so.1:zlib1g
NODEOS_DEB_OF_COMMAND := curl:curl jq:jq
TEST_DEB_OF_COMMAND += $(NODEOS_DEB_OF_COMMAND)
TEST_DEB_OF_FILE += $(if $(wildcard $(NODEOS)),$(NODEOS_DEB_OF_FILE))

.PHONY: nodeos-test

nodeos-test: deps
	$(call install_missing,$(NODEOS_DEB_OF_COMMAND),$(if $(wildcard $(NODEOS)),$(NODEOS_DEB_OF_FILE)),)
	+@$(SUBMAKE) build
	@bash tests/run.sh nodeos
