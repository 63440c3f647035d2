# `make bench-scale` (issue 12): restore at scale, on loop file systems it makes under /var/tmp
# (XFS with reflink=1 and ext4; needs root, and says so otherwise). Runs every
# tests/bench/scale_*.sh (scale_lib.sh is their shared library), each printing its table per
# file system with the slope in seconds per GB, the projection to 1 TB and the targets met or
# not. BENCH_SCALE_SIZES sets the data-dir sizes in GB of data (default "2 8": about 4.5 x the
# largest size must be free in /var/tmp); BENCH_SCALE_FS the file systems (default "xfs ext4").
# A missed target is reported, not a failure; a command that fails is.
SCALE_ENV = SLOTKEEPER=$(CURDIR)/slotkeeper MKDATADIR=$(CURDIR)/$(BUILD)/tools/mkdatadir \
  RUNSTAT=$(CURDIR)/$(BUILD)/tools/runstat

.PHONY: bench-scale
bench-scale: deps
	+@$(SUBMAKE) build
	@rc=0; for s in tests/bench/scale_*.sh; do \
	  [ "$$s" = tests/bench/scale_lib.sh ] && continue; \
	  echo "== $$s"; $(SCALE_ENV) bash "$$s" || rc=1; \
	done; exit $$rc
