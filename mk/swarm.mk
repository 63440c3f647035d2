# A real Docker Swarm, end to end (tests/swarm/swarm_test.sh): the worker image from
# etc/docker/Dockerfile (built on a local root file system, fakenode as nodeos), the host daemon,
# etc/docker/stack.yml with three replicas, then kill -9, stop grace, a rolling restart, the
# daemon killed, stack rm. As root: installs docker.io when dockerd is missing, starts its own
# dockerd (vfs, no iptables, no bridge) when none answers and removes everything it made.
# About 6 minutes and at most about 1.3 GB under /var/tmp (vfs copies each container's layers);
# CI runs it after `make check` (.ci/run). `make check` does not: it needs root, installs
# docker.io and starts a Docker engine and a Swarm on the machine, and would take a third of
# make check's time budget.
.PHONY: swarm-test

swarm-test: deps
	$(call install_missing,dockerd:docker.io docker:docker.io,,)
	+@$(SUBMAKE) slotkeeper $(BUILD)/fakenode
	@bash tests/swarm/swarm_test.sh
