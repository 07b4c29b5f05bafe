# The verbs of the project. `make dev` starts the whole stack; `make test`
# installs what is missing and runs the suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install system-deps test-deps image-tools image proto dev up test bench lint migrate clean

# The Debian packages a recipe named in $$missing, installed (as root, or through sudo).
define apt_install
if [ -n "$$missing" ]; then \
	   echo "installing Debian packages:$$missing"; \
	   if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	   $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	 fi
endef

# Debian packages the product needs on the host: bubblewrap isolates local
# sandboxes, which run the system's python3 and node; setpriv (util-linux)
# gives each its own uid, e2fsprogs and mount its workspace image, libseccomp
# its syscall filter; slirp4netns gives the ones that ask for it network,
# and iptables keeps that network off the host and its private networks;
# PostgreSQL's binaries give the tests a throwaway cluster; ipykernel and jupyter_client (Debian's, for the system
# python3 the sandboxes run) give each sandbox its persistent Python context,
# with matplotlib for charts; pip installs packages into a workspace.
system-deps:
	@missing=""; command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	 command -v slirp4netns >/dev/null || missing="$$missing slirp4netns"; \
	 command -v iptables-restore >/dev/null || missing="$$missing iptables"; \
	 [ -x /usr/bin/python3 ] || missing="$$missing python3"; \
	 command -v node >/dev/null || missing="$$missing nodejs"; \
	 command -v npm >/dev/null || missing="$$missing npm"; \
	 command -v ps >/dev/null || missing="$$missing procps"; \
	 command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	 command -v setpriv >/dev/null || missing="$$missing util-linux"; \
	 command -v losetup >/dev/null || missing="$$missing mount"; \
	 ls /usr/lib/*/libseccomp.so.2 >/dev/null 2>&1 || missing="$$missing libseccomp2"; \
	 ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	 /usr/bin/python3 -c 'import ipykernel, jupyter_client, matplotlib' 2>/dev/null || missing="$$missing python3-ipykernel python3-jupyter-client python3-matplotlib"; \
	 /usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing="$$missing python3-pip"; \
	 $(apt_install)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: system-deps $(STAMP)

proto: $(STAMP)
	$(BIN)/python proto/generate.py

dev: install
	$(BIN)/cerver dev

up: dev

# The dashboard's browser tests drive Debian's Chromium (Playwright's own
# browser download needs the internet).
test-deps:
	@missing=""; [ -x /usr/bin/chromium ] || missing=" chromium"; \
	 $(apt_install)

test: install test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Every service's schema to head on CERVER_DATABASE_URL (services also do it at start-up).
# The image (Dockerfile): podman builds it on a Debian base made here from
# Debian's own packages by mmdebstrap, so no registry is needed. CA_BUNDLE
# reaches pip inside the build (a network that intercepts TLS) and is not kept.
IMAGE      ?= localhost/cerver:dev
IMAGE_BASE ?= localhost/cerver-base:bookworm
CA_BUNDLE  ?= $(or $(SSL_CERT_FILE),/etc/ssl/certs/ca-certificates.crt)

image-tools:
	@missing=""; for tool in podman buildah mmdebstrap runc; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	 $(apt_install)

image: image-tools
	podman image exists $(IMAGE_BASE) || \
	  (mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm - | podman import - $(IMAGE_BASE))
	podman build --isolation chroot --secret id=ca,src=$(CA_BUNDLE) --build-arg BASE=$(IMAGE_BASE) -t $(IMAGE) .

migrate: install
	$(BIN)/python -m servicekit.migrations

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/python -m pyflakes servicekit services gateway cli cerver_mcp bench tests proto

clean:
	rm -rf $(VENV) .cerver
