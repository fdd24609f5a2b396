# `sam build` runs build-<LogicalId> for the layer and each function in template.yaml (BuildMethod
# makefile). The layer: the runtime dependencies as Linux wheels for the functions' runtime, built
# once and shared; each function: only this project's code. infra/deploy/lambda_package.py says
# what is left out and why.
PLATFORM ?= manylinux2014_x86_64
PYTHON_VERSION ?= 3.12
PACKAGE := python3 infra/deploy/lambda_package.py
# Bytecode for the functions' Python, when the build machine has it (python3.12 on PATH, or
# BYTECODE_PYTHON naming one): Lambda's code folders are read-only, so without it every cold start
# compiles each module it imports. Without such a Python the artifacts have no bytecode.
BYTECODE_PYTHON ?= $(shell python$(PYTHON_VERSION) -c '' 2>/dev/null && echo python$(PYTHON_VERSION))
COMPILE := $(if $(BYTECODE_PYTHON),$(BYTECODE_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash)

build-DependenciesLayer:
	$(PACKAGE) requirements >"$(ARTIFACTS_DIR)/requirements.txt"
	python3 -m pip install --quiet --disable-pip-version-check --no-compile --target "$(ARTIFACTS_DIR)/python" \
		--platform $(PLATFORM) --python-version $(PYTHON_VERSION) --implementation cp --only-binary=:all: \
		-r "$(ARTIFACTS_DIR)/requirements.txt"
	rm "$(ARTIFACTS_DIR)/requirements.txt"
	$(PACKAGE) prune "$(ARTIFACTS_DIR)/python"
	$(if $(COMPILE),$(COMPILE) "$(ARTIFACTS_DIR)/python" >/dev/null)

build-JobsFunction build-CallbacksFunction build-RenewalsFunction build-EventsFunction:
	$(PACKAGE) code "$(ARTIFACTS_DIR)"
	$(if $(COMPILE),$(COMPILE) "$(ARTIFACTS_DIR)" >/dev/null)
