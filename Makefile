# Clinical BDD Creator operations automation.
#   make deploy   the whole stack on the local sandbox (engine, venv, images, sandbox, deploy.yml)
#   make test     every check: lint, syntax, unit tests, sandbox integration tests, molecule
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE_DIR   ?= $(HOME)/.cache/cbdd-ops
PYTHON      ?= $(shell files/scripts/find-python)
REQ_HASH    := $(shell cat requirements.txt | sha256sum | cut -c1-12)
VENV        := .venv
SCENARIOS   ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
PLAYBOOKS   := $(wildcard playbooks/*.yml)

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CBDD_IMAGE_DIR ?= $(CACHE_DIR)/images
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help engine venv images sandbox deploy fleet lint syntax unit integration molecule fleet-tests fleet-check test clean

help:
	@echo "make deploy   run the stack on the local sandbox (https://127.0.0.1:8443/health)"
	@echo "make test     lint, syntax checks, unit tests, integration tests on the sandbox, molecule"
	@echo "make fleet    a production-shaped fleet (3 app hosts, 1 monitoring host) deployed (inventories/fleet)"
	@echo "make sandbox  create/reuse the sandbox target host;  make clean  remove it and the fleet"

engine:
	@files/scripts/docker-engine

# The venv lives in the cache keyed by requirements.txt and .venv links to it: a fresh clone on
# the same machine (CI) re-uses it; a changed requirements.txt builds a new one.
venv:
	@target=$(CACHE_DIR)/venv-$(REQ_HASH); \
	if [ ! -x "$$target/bin/ansible-playbook" ] || [ ! -f "$$target/.complete" ]; then \
	  echo "venv: creating $$target with $(PYTHON)"; rm -rf "$$target"; mkdir -p $(CACHE_DIR); \
	  $(PYTHON) -m venv "$$target"; \
	  "$$target/bin/pip" install -q --upgrade pip; \
	  "$$target/bin/pip" install -q -r requirements.txt; \
	  touch "$$target/.complete"; \
	fi; \
	if [ "$$(readlink $(VENV) 2>/dev/null)" != "$$target" ]; then rm -rf $(VENV); ln -s "$$target" $(VENV); fi; \
	echo "venv: $$(readlink $(VENV)) ($$($(VENV)/bin/ansible --version | sed -n 1p))"

images: engine
	@files/images/build all

sandbox: engine images
	@files/scripts/sandbox up

# Hardened is the normal host: the sandbox is hardened first (key-only sshd, firewall, fail2ban,
# OS baseline), as a real host would be before its first deploy.
deploy: venv sandbox
	ansible-playbook playbooks/harden.yml
	ansible-playbook playbooks/deploy.yml
	@echo
	@echo "Clinical BDD Creator (through nginx, TLS):  https://127.0.0.1:8443/health"
	@echo "HTTP (redirects to HTTPS):                  http://127.0.0.1:8080/"
	@echo "SSH to the sandbox host:                    ssh -i ~/.local/state/cbdd-sandbox/cbdd-sandbox/id_ed25519 -p 2222 deploy@127.0.0.1"

# The fleet sandbox: production's shape (inventories/fleet: production's groups and group_vars).
fleet: venv engine images
	@files/scripts/fleet up
	ansible-playbook -i inventories/fleet playbooks/harden.yml
	ansible-playbook -i inventories/fleet playbooks/deploy.yml
	@echo
	@echo "Fleet app hosts (through nginx, TLS): https://127.0.0.1:8511/health .. :8513/health"
	@echo "SSH: ssh -i ~/.local/state/cbdd-sandbox/fleet-app-1/id_ed25519 -p 2311 deploy@127.0.0.1 (fleet-mon-1: port 2301)"

lint: venv
	yamllint --strict .
	ansible-lint --offline

syntax: venv
	@for p in $(PLAYBOOKS); do ansible-playbook --syntax-check "$$p" >/dev/null && echo "syntax ok: $$p"; done

unit: venv images
	pytest tests/unit

# Integration tests drive the real playbooks against the sandbox (created and deployed first): a
# day-2 host, reused from run to run. The fleet's tests (tests/integration/test_fleet.py) run after
# the molecule scenario `fleet` has built and verified a fresh fleet (fleet-tests).
integration: deploy
	pytest tests/integration --ignore=tests/integration/test_fleet.py --durations=25

fleet-tests: venv
	pytest tests/integration/test_fleet.py --durations=10

# The fleet's whole check: its molecule scenario (fresh fleet: create, harden, converge,
# idempotence, verify), then its tests on the fleet it leaves.
fleet-check: venv images
	molecule test -s fleet
	$(MAKE) --no-print-directory fleet-tests

# The scenarios on the single sandbox's engine (default converges the integration tests' sandbox).
SANDBOX_SCENARIOS := $(filter-out fleet,$(SCENARIOS))

molecule: venv images
	@for s in $(SCENARIOS); do \
	  echo "== molecule test -s $$s"; \
	  docker volume rm -f cbdd-mol-$$s-docker >/dev/null 2>&1 || true; \
	  molecule test -s $$s; \
	done

# The fleet check runs beside the single-sandbox checks (integration, then the sandbox's molecule
# scenarios): other hosts, other ports, and most of both is waiting on health gates, drains and
# nested engines, not CPU. Its log goes to .cache/fleet-check.log and is printed when both are done;
# either one failing fails make test.
test: lint syntax unit images
	@mkdir -p .cache; \
	$(MAKE) --no-print-directory fleet-check > .cache/fleet-check.log 2>&1 & fleet=$$!; \
	rc=0; $(MAKE) --no-print-directory --keep-going integration molecule SCENARIOS="$(SANDBOX_SCENARIOS)" || rc=$$?; \
	frc=0; wait $$fleet || frc=$$?; \
	echo "== fleet check (molecule test -s fleet; tests/integration/test_fleet.py), log .cache/fleet-check.log:"; \
	tail -n 150 .cache/fleet-check.log; \
	echo "make test: sandbox checks exit $$rc, fleet check exit $$frc"; \
	[ $$rc -eq 0 ] && [ $$frc -eq 0 ] && echo "make test: all checks passed"

clean:
	-files/scripts/sandbox down
	-files/scripts/fleet down
	-@for s in $(SCENARIOS); do molecule destroy -s $$s >/dev/null 2>&1; docker volume rm -f cbdd-mol-$$s-docker >/dev/null 2>&1; done
	rm -rf .cache
