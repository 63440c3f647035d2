# A real Docker Swarm, end to end (tests/swarm/swarm_test.sh): the worker image from
# etc/docker/Dockerfile (built on a local root file system, fakenode as nodeos), the host daemon,
# etc/docker/stack.yml with three replicas, then kill -9, stop grace, a rolling restart, the
# daemon killed, stack rm. Then the cluster (tests/swarm/cluster_test.sh): stack.yml with
# etc/docker/cluster-stack.yml, the archival daemon publishing into a bucket of a real S3 server
# on loopback (Swift, as `make s3-test`), a keeper following it, a killed worker restored from the
# local copy. As root: installs docker.io when dockerd is missing, starts its own dockerd (vfs,
# no iptables, no bridge) when none answers and removes everything it made.
# About 8 minutes (swarm_test 6, cluster_test 2.5) and at most about 1.3 GB under /var/tmp (vfs
# copies each container's layers; the cluster test adds a 768 MB sparse XFS image);
# CI runs it after `make check` (.ci/run). `make check` does not: it needs root, installs
# docker.io and starts a Docker engine and a Swarm on the machine, and would take half of
# make check's time budget.
.PHONY: swarm-test

swarm-test: deps-test
	$(call install_missing,dockerd:docker.io docker:docker.io,,)
	+@$(SUBMAKE) slotkeeper $(BUILD)/fakenode
	@fail=0; bash tests/swarm/swarm_test.sh || fail=1; \
	  SK_S3_PORT=$${SK_S3_PORT:-28380} bash tests/swarm/cluster_test.sh || fail=1; exit $$fail
