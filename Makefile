# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LIFELINE_DB ?= sqlite:///var/lifeline.db
export LIFELINE_DB

.PHONY: demo test bench lint browser faketime pacs install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# With the demo extra (pyproject.toml): the demo's citizen identity provider.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The demo region: about 200 synthetic patients, generated once (delete var/demo-region for a new
# "today"), imported on every run (safe to re-run: unchanged resources are skipped).
DEMO_REGION := var/demo-region

# The demo's PACS: Orthanc on loopback over var/pacs, left running between runs
# (`$(BIN)/lifeline images pacs stop` stops it); the region's images are sent to it once.
DEMO_PACS := http://127.0.0.1:8142/dicom-web

# The demo's patient login: a real OpenID Connect provider on loopback standing in for MitID,
# left running between runs like the PACS (`$(BIN)/lifeline demo citizen-provider stop` stops it),
# with demo citizens whose CPR numbers are generated patients'. It accepts any client.
DEMO_CITIZENS := LIFELINE_CITIZEN_ISSUER=http://127.0.0.1:8143 LIFELINE_CITIZEN_CLIENT_ID=lifeline-demo \
	LIFELINE_CITIZEN_CLIENT_SECRET=demo-only

demo: install pacs
	mkdir -p var
	$(BIN)/lifeline db upgrade
	test -d $(DEMO_REGION)/dicom || rm -rf $(DEMO_REGION)  # made before it had images (issue 22): make it again
	test -d $(DEMO_REGION) || $(BIN)/lifeline generate --patients 200 --seed 1 --out $(DEMO_REGION)
	$(BIN)/lifeline import $(DEMO_REGION)/*.ndjson
	$(BIN)/python -m lifeline.cli.demo_users
	$(BIN)/lifeline probe account  # the synthetic probe's login (README "Incidents that open by themselves")
	$(BIN)/lifeline images pacs start --folder var/pacs --port 8142
	$(BIN)/lifeline images load $(DEMO_REGION)/dicom --pacs $(DEMO_PACS)
	$(BIN)/lifeline demo citizen-provider start --port 8143 --seed 1
	$(DEMO_CITIZENS) LIFELINE_PROBE_USER=probe-central LIFELINE_PACS_URL=$(DEMO_PACS) LIFELINE_MESSAGES_DIR=var/messages $(BIN)/lifeline serve --host 127.0.0.1 --port 8080

lint: install-dev
	$(BIN)/python tools/check_runtime_deps.py  # src/ imports only what `make demo` installs
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy src
	$(BIN)/lint-imports  # the import contracts in pyproject.toml: imports flow one way

# The page tests drive a real browser: Debian's chromium and its driver, installed once; the
# downtime reports' tests render their PDFs with poppler's pdftoppm.
browser:
	command -v chromedriver >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)
	command -v pdftoppm >/dev/null || (apt-get update && apt-get install -y poppler-utils)
	command -v npm >/dev/null || (apt-get update && apt-get install -y npm)  # fetches axe-core for the accessibility tests

# The image store: Debian's Orthanc and its DICOMweb plugin (make demo and the imaging tests run it).
pacs:
	command -v Orthanc >/dev/null && test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so || \
		(apt-get update && apt-get install -y orthanc orthanc-dicomweb)

# The replication fault suite skews a site's clock with libfaketime.
faketime:
	command -v faketime >/dev/null || (apt-get update && apt-get install -y faketime)

test: lint browser faketime pacs
	$(PYTHON) tools/fresh_install_check.py  # what make demo meets on a fresh machine
	$(BIN)/python -m pytest

bench: install-dev pacs
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.identity
	$(BIN)/python -m bench.audit
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.access
	$(BIN)/python -m bench.generate
	$(BIN)/python -m bench.replication
	$(BIN)/python -m bench.trail
	$(BIN)/python -m bench.pages
	$(BIN)/python -m bench.status_flood
	$(BIN)/python -m bench.imaging
	$(BIN)/python -m bench.scheduling
	$(BIN)/python -m bench.logistics_reduce
	$(BIN)/python -m bench.r4_examples
	$(BIN)/python -m bench.transactions
	$(BIN)/python -m bench.bulk_export
	$(BIN)/python -m bench.binary
	$(BIN)/python -m bench.metadata_flood
	$(BIN)/python -m bench.flood
	$(BIN)/python -m bench.region_sites
	$(BIN)/python -m bench.mixed
	$(BIN)/python -m bench.skew
	$(BIN)/python -m bench.storage
	$(BIN)/python -m bench.narrow_store
	$(BIN)/python -m bench.synthea

clean:
	rm -rf $(VENV) var/*.db var/*.db-wal var/*.db-shm
