# `sam build` runs build-<FunctionLogicalId> for each function in template.yaml (BuildMethod makefile):
# this project and its runtime dependencies, as Linux wheels for the functions' runtime.
PLATFORM ?= manylinux2014_x86_64
PYTHON_VERSION ?= 3.12

build-JobsFunction build-CallbacksFunction build-RenewalsFunction build-EventsFunction:
	python3 -m pip wheel --quiet --no-deps --wheel-dir "$(ARTIFACTS_DIR)/.wheels" .
	python3 -m pip install --quiet --target "$(ARTIFACTS_DIR)" --platform $(PLATFORM) \
		--python-version $(PYTHON_VERSION) --implementation cp --only-binary=:all: \
		"$(ARTIFACTS_DIR)"/.wheels/*.whl
	rm -rf "$(ARTIFACTS_DIR)/.wheels" "$(ARTIFACTS_DIR)"/bin
