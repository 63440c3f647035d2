# The reliability campaigns of issue 6 (tests/campaign/), in full:
#   make campaigns                 bit flips (CAMPAIGN_FLIPS, default 2000), the full-disk sweep
#                                  (CAMPAIGN_POINTS per sweep, default 40; needs root for its
#                                  tmpfs, skipped otherwise) and the hostile-input corpus (an 8 GiB
#                                  decompression bomb, a 100,000-file tar bomb)
#   make campaign-bitflip | campaign-enospc | campaign-hostile    one of them
# Each prints its findings and its summary line; `make campaigns` ends with the three summary
# lines and fails if any campaign found a broken invariant. A campaign that fails keeps its
# folder (/var/tmp/sk-camp.*) and names it. The scripts use only what the build and the
# integration tests already need (cc, tar, gzip, zstd, xxhsum, util-linux), so nothing is added
# to TEST_DEB_OF_COMMAND; bzip2 and xz, when present, add two inputs to the hostile corpus.
CAMPAIGN_FLIPS ?= 2000
CAMPAIGN_POINTS ?= 40
CAMPAIGN_ENV = ROOT=$(CURDIR) SK=$(CURDIR)/slotkeeper TOOLS=$(CURDIR)/$(BUILD)/tools
CAMPAIGN_TOOLS = slotkeeper $(addprefix $(BUILD)/tools/,mkdatadir runstat ctlsend nospace.so)
CHECK_BUILD += $(BUILD)/tools/nospace.so

# the full-disk campaign's LD_PRELOAD shim (tests/campaign/nospace.c): the disk full at step N
$(BUILD)/tools/nospace.so: tests/campaign/nospace.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -shared -fPIC -O1 -g -Wall -Wextra -Werror -o $@ $< -ldl

.PHONY: campaigns campaign-bitflip campaign-enospc campaign-hostile
campaigns: $(CAMPAIGN_TOOLS)
	@rc=0; log=$$(mktemp); sums=$$(mktemp); \
	for c in "bitflip $(CAMPAIGN_FLIPS)" "enospc $(CAMPAIGN_POINTS)" "hostile"; do \
	  set -- $$c; echo "== campaign $$1"; \
	  { $(CAMPAIGN_ENV) bash tests/campaign/$$1.sh $$2; echo "$$?" >"$$log.rc"; } 2>&1 | tee "$$log"; \
	  r=$$(cat "$$log.rc"); s=$$(grep -a "^$$1: " "$$log" | tail -1); \
	  echo "$${s:-$$1: exited with status $$r}" >>"$$sums"; \
	  [ "$$r" = 0 ] || [ "$$r" = 77 ] || rc=1; \
	done; echo "== summary"; cat "$$sums"; rm -f "$$log" "$$log.rc" "$$sums"; exit $$rc

campaign-bitflip: $(CAMPAIGN_TOOLS)
	@$(CAMPAIGN_ENV) bash tests/campaign/bitflip.sh $(CAMPAIGN_FLIPS)

campaign-enospc: $(CAMPAIGN_TOOLS)
	@$(CAMPAIGN_ENV) bash tests/campaign/enospc.sh $(CAMPAIGN_POINTS)

campaign-hostile: $(CAMPAIGN_TOOLS)
	@$(CAMPAIGN_ENV) bash tests/campaign/hostile.sh
