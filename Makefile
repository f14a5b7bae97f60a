# medzoo — build, demo, test and benchmark `zoo`.
#
#   make demo    install what is missing (apt), build, generate 16 images offline into ./out
#   make test    build and run every test (real LibTorch, real files, 127.0.0.1 servers)
#   make bench   measure throughput, latency and memory; writes docs/benchmarks.md
#
# Nothing is downloaded except Debian packages (apt) and Go modules (the Go proxy).

SHELL := /bin/bash
GO ?= go
PYTHON := /usr/bin/python3
CXX ?= g++

GOTORCH := github.com/wangkuiyi/gotorch

# LibTorch: Debian's libtorch-dev (CPU) by default. Set LIBTORCH to an
# unpacked official LibTorch (e.g. the CUDA build in Dockerfile.cuda) to
# build against it instead.
ifdef LIBTORCH
APT_PACKAGES := g++ make
TORCH_CXXFLAGS := -I$(LIBTORCH)/include -I$(LIBTORCH)/include/torch/csrc/api/include
TORCH_LDFLAGS := -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib
export CGO_CXXFLAGS := $(TORCH_CXXFLAGS)
export CGO_CFLAGS := -I$(LIBTORCH)/include
else
# Debian packages the build and tests need.
# bubblewrap is zoo import's sandbox for package code.
APT_PACKAGES := libtorch-dev python3-torch python3-numpy python3-pil python3-scipy g++ make bubblewrap
TORCH_CXXFLAGS := -I/usr/include/torch/csrc/api/include
TORCH_LDFLAGS :=
endif

LIB := lib/libcgotorch.so
# bin/zoo does not link LibTorch (fast start: help, list, info, search);
# bin/zoo-torch is the full build it hands model-running commands to.
BIN := bin/zoo
TORCH_BIN := bin/zoo-torch
# $ORIGIN/../lib lets bin/zoo find lib/libcgotorch.so wherever the tree is
# moved; the torch package's own rpath (its source dir) serves go test.
export CGO_LDFLAGS := -Wl,-rpath,$$ORIGIN/../lib $(TORCH_LDFLAGS) $(EXTRA_LDFLAGS)
# The files go:embed puts into the binaries count as sources too.
GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*') go.mod go.sum zoo.toml $(wildcard bundled/*.pt) torch/shim.cc torch/shim.h \
	$(shell find server/web server/examples -type f) features/extractors.toml scripts/zoo_capture.py

.PHONY: all build deps test-deps apt-install demo test bench vet fmt clean

all: build

build: $(BIN) $(TORCH_BIN)

# Tests also need the extractor exports (torchvision), the DICOM/NIfTI
# readers that check our files, a browser for the web explorer, and what
# the medigan reference packages import (cv2, matplotlib) for zoo import.
TEST_APT_PACKAGES := $(APT_PACKAGES) python3-torchvision python3-pydicom python3-nibabel chromium python3-opencv python3-matplotlib docker-registry dcmtk dicom3tools nifti-bin slurm-wlm munge

# deps installs the Debian packages only when one is missing, so repeated
# builds never touch apt.
deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# gotorch's C++ half, compiled from the Go module cache against Debian's
# LibTorch 1.13 (gotorch's own build.sh downloads LibTorch 1.6, which cannot
# work offline and does not match).
$(LIB): go.mod | deps
	@mkdir -p build/cgotorch lib
	$(GO) mod download $(GOTORCH)
	@src=$$($(GO) list -m -f '{{.Dir}}' $(GOTORCH)); \
	echo "compiling gotorch's cgotorch/*.cc from $$src (about 90 s)"; \
	for f in $$src/cgotorch/*.cc; do \
	  $(CXX) -std=c++17 -O2 -fPIC -w -I$$src $(TORCH_CXXFLAGS) -c $$f -o build/cgotorch/$$(basename $$f .cc).o & \
	done; wait
	$(CXX) -shared -o $@ build/cgotorch/*.o $(TORCH_LDFLAGS) -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 $(EXTRA_LDFLAGS)

$(TORCH_BIN): $(LIB) $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/zoo

$(BIN): $(GO_SOURCES)
	$(GO) build -tags notorch -o $@ ./cmd/zoo

demo: build
	@rm -rf out
	ZOO_OFFLINE=1 ./$(BIN) generate 00101 -n 16 -o out --seed 0
	@echo
	@echo "16 synthetic brain MRI slices from the bundled demonstration model are in $(CURDIR)/out"
	@echo "(manifest: out/manifest.jsonl). Try: ./$(BIN) list, ./$(BIN) info 101"

vet: $(LIB)
	$(GO) vet ./...
	@bad=$$(gofmt -l $$(find . -name '*.go' -not -path './build/*')); test -z "$$bad" || { echo "gofmt needed: $$bad"; exit 1; }

test: test-deps build vet
	$(PYTHON) -B scripts/test_zoo_capture.py
	$(GO) test -count=1 -timeout 25m ./...

bench: build
	$(PYTHON) scripts/bench.py --zoo $(BIN) --out docs/benchmarks.md
	$(PYTHON) scripts/bench_search.py --zoo $(BIN) --out docs/benchmarks.md
	$(PYTHON) scripts/bench_fid.py --rank-deficient --out docs/benchmarks.md
	$(PYTHON) scripts/bench_evaluate.py --zoo $(BIN) --n 2000 --out docs/benchmarks.md
	$(PYTHON) scripts/bench_protocols.py --zoo $(BIN) --n 2000 --out docs/benchmarks.md
	$(PYTHON) scripts/bench_serve.py --zoo $(BIN) --out docs/benchmarks.md
	$(PYTHON) scripts/bench_export.py --zoo $(BIN) --out docs/benchmarks.md
	$(PYTHON) scripts/bench_import.py --zoo $(BIN) --out docs/benchmarks.md
	$(PYTHON) scripts/bench_oci.py --zoo $(BIN) --out docs/benchmarks.md
	# docs/scale.md: Slurm throughput and per-task cost (a real one-node cluster), merge, PNG encoding
	go test -run '^$$' -bench 'SlurmThroughput|Merge100k' -benchtime 1x ./cmd/zoo ./output
	go test -run '^$$' -bench EncodePNG128 ./output

clean:
	rm -rf bin lib build out
