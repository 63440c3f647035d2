# The layer check (tests/tools/layers.sh; `make check` runs it before the tests): snapshot/ calls
# nothing in supervisor/ (nm of its objects linked with ld -r), includes no supervisor header,
# no strtok anywhere, and no two supervisor/ files call each other. Cheap: nm, grep and tsort
# over the objects `make` builds.
.PHONY: layers
layers: $(SNAP_OBJ) $(SUP_OBJ) $(CLI_OBJ)
	@CC=$(CC) LAYERS_LDLIBS='$(LDLIBS)' bash tests/tools/layers.sh $(BUILD)
