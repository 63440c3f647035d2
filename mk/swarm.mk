# A real Docker Swarm, end to end (tests/swarm/swarm_test.sh): the worker image from
# etc/docker/Dockerfile (built on a local root file system, fakenode as nodeos), the host daemon,
# etc/docker/stack.yml with three replicas, then kill -9, stop grace, a rolling restart, the
# daemon killed, stack rm. As root: installs docker.io when dockerd is missing, starts its own
# dockerd (vfs, no iptables, no bridge) when none answers and removes everything it made.
# About 6 minutes; CI runs it after `make check` (.ci/run), `make check` does not.
.PHONY: swarm-test

swarm-test: deps
	$(call install_missing,dockerd:docker.io docker:docker.io,,)
	+@$(SUBMAKE) slotkeeper $(BUILD)/fakenode
	@bash tests/swarm/swarm_test.sh
