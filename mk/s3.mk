# The S3 server of the object-storage tests (tests/integration/t_s3.sh): OpenStack Swift with its
# s3api middleware, from Debian 12's packages, started and stopped by the test itself
# (tests/s3/start-s3.sh). `make deps-test` (and so `make check`) installs it; apt must not start
# Swift's own services (policy-rc.d), the test runs its own on loopback.
S3_DEBS := swift swift-proxy swift-object swift-container swift-account python3-swift memcached
TEST_DEB_OF_COMMAND += curl:curl

.PHONY: s3-deps
deps-test: s3-deps
s3-deps:
	@if ! command -v swift-proxy-server >/dev/null 2>&1 || ! command -v memcached >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "slotkeeper: the S3 tests need Swift; run as root, or: sudo apt-get install $(S3_DEBS)" >&2; exit 1; \
	  fi; \
	  echo "slotkeeper: installing $(S3_DEBS)"; \
	  mkdir -p $(BUILD); [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	    chmod +x /usr/sbin/policy-rc.d; touch $(BUILD)/.s3-policy-rc; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(S3_DEBS); rc=$$?; \
	  [ -e $(BUILD)/.s3-policy-rc ] && rm -f /usr/sbin/policy-rc.d $(BUILD)/.s3-policy-rc; exit $$rc; \
	fi

# The longer S3 runs, once with the plain binary and once under ASan+UBSan; .ci/run calls it
# after `make check`: the faults (a stale lock, a slow server, the server stopped mid-upload and
# mid-sync) and two daemons standing for two hosts that share a bucket (t_s3_follow), and the
# transfer engine (t_s3_transfers: 1 and 16 transfers make the same repository).
.PHONY: s3-test
s3-test: deps-test
	+@$(SUBMAKE) build $(BUILD)/san/slotkeeper
	@fail=0; for sk in $(CURDIR)/slotkeeper $(CURDIR)/$(BUILD)/san/slotkeeper; do \
	  echo "== s3-test: $$sk"; { SK=$$sk bash tests/s3/t_s3_faults.sh; SK=$$sk bash tests/s3/t_s3_follow.sh; SK=$$sk bash tests/s3/t_s3_transfers.sh; } | \
	    tee $(BUILD)/s3-test.log; \
	  grep -q '^not ok' $(BUILD)/s3-test.log && fail=1; \
	  [ "$${CI:-}" = true ] && grep -q '# SKIP' $(BUILD)/s3-test.log && fail=1; \
	done; \
	echo "s3-test: $$(grep -c '^ok' $(BUILD)/s3-test.log) passed in the last run"; exit $$fail
