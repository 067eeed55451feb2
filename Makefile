# rlvr — build, test, bench, demo. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := all

SAN  ?= 0
CUDA ?= $(if $(shell command -v nvcc 2>/dev/null),1,0)
BUILD := $(if $(filter 1,$(SAN)),build-san,build)

CC      := mpicc
PKGS    := hdf5-openmpi inih libcjson openblas libpcre2-8 libutf8proc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# MARCH: the instruction set the whole build targets (make MARCH=native for this machine's; printed by
# rlvr --version and recorded in checkpoints). The fixed-order kernels (src/model/matmul.c) sum in the same order
# whatever it is; -ffp-contract=off keeps the compiler from fusing their multiplies and adds on FMA targets.
MARCH   ?= x86-64-v2
CFLAGS  := -std=c17 -D_GNU_SOURCE -O2 -g -march=$(MARCH) -ffp-contract=off -fopenmp -Wall -Wextra -Wpointer-arith -Werror -MMD -MP -Isrc -Ikernels $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -fopenmp -lm
# The revision recorded in checkpoints ("-dirty" with uncommitted changes to tracked files): only
# revision.o sees it, and it is rebuilt when the revision changes.
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git rev-parse -q HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD -- 2>/dev/null && echo -dirty)
ifeq ($(SAN),1)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDLIBS += -fsanitize=address,undefined
endif

# CUDA kernels (kernels/*.cu) when nvcc is present; every kernel has a CPU twin in src/.
CU_SRCS := $(wildcard kernels/*.cu)
ifeq ($(CUDA),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v nvcc))
  NVCC    := nvcc
  # CUDA_ARCH: the GPU generation the kernels are built for (90 = H100/H200; 80 = A100). The bf16 tensor-core
  # kernels need 80 or later.
  CUDA_ARCH ?= 90
  NVFLAGS := -O3 -std=c++17 -Ikernels -Isrc -gencode arch=compute_$(CUDA_ARCH),code=sm_$(CUDA_ARCH) \
             -Xcompiler -Wall,-Werror -MMD -MP
  CFLAGS  += -DRLVR_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lnccl -lstdc++
  CU_OBJS := $(CU_SRCS:kernels/%.cu=$(BUILD)/kernels/%.o)
endif

SRCS     := $(wildcard src/*/*.c)
OBJS     := $(SRCS:src/%.c=$(BUILD)/src/%.o) $(CU_OBJS)
LIB_OBJS := $(filter-out $(BUILD)/src/cli/rlvr.o,$(OBJS))
TEST_SRCS:= $(wildcard tests/test_*.c)
TEST_OBJS:= $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%.o)
BENCH_SRCS := $(wildcard tests/bench_*.c)
# MPI test programs (tests/mpi_*.c): the integration scripts run them under mpirun.
MPI_TESTS := $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/mpi_*.c))

.PHONY: all setup test unit layers shell-check doc-check integration bench demo fuzz clean help gpu-check

all: $(BUILD)/rlvr

help:
	@echo "make            build $(BUILD)/rlvr (CUDA=$(CUDA); CUDA=0 to skip kernels/)"
	@echo "make test       install deps, check the shell scripts (shellcheck), build (JOBS=nproc), run the layering and doc checks, unit (Criterion), brief fuzz and integration (mpirun) tests; SAN=1 for ASan+UBSan"
	@echo "make shell-check  shellcheck -S warning over the shell scripts (skipped, and says so, without shellcheck)"
	@echo "make doc-check  the paths, config keys, rlvr options and identifiers the docs and comments cite exist"
	@echo "make bench      run the benchmarks (JSON lines)"
	@echo "make demo       install deps, build, run the embedded demo"
	@echo "make fuzz       libFuzzer on the config parser, verifier, JSONL reader, tokenizer.json loader, safetensors reader and config.json reader (FUZZ_SECONDS=10 each, FUZZ_JOBS at a time)"
	@echo "make gpu-check  build $(BUILD)/gpu_check, the GPU kernels against their CPU twins (tests/gpu.sh runs it)"
	@echo "make clean      remove build outputs"

setup:
	@bash launch/setup.sh $(SETUP_FLAGS)

# V=1 shows the full compiler lines.
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/rlvr: $(OBJS)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

# Rebuild everything when the flags change (CUDA=0/1, SAN, ...).
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CFLAGS) $(LDLIBS) $(NVFLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CFLAGS) $(LDLIBS) $(NVFLAGS)' > $(FLAGS_STAMP))

REV_STAMP := $(BUILD)/.revision
$(shell mkdir -p $(BUILD); echo '$(GIT_REV)' | cmp -s - $(REV_STAMP) || echo '$(GIT_REV)' > $(REV_STAMP))
# MARCH=native is recorded with the CPU it resolved to on the build machine.
MARCH_NAME := $(MARCH)$(if $(filter native,$(MARCH)), ($(shell $(CC) -march=native -Q --help=target 2>/dev/null | awk '/^ +-march=/ {print $$2; exit}')))
$(BUILD)/src/base/revision.o: CFLAGS += -DRLVR_GIT_REV='"$(GIT_REV)"' -DRLVR_MARCH='"$(MARCH_NAME)"'
$(BUILD)/src/base/revision.o: $(REV_STAMP)
# AdamW's loop vectorises only without sqrt's errno branch (model/update_ops.c); the results are IEEE's either way.
$(BUILD)/src/model/update_ops.o: CFLAGS += -fno-math-errno
$(BUILD)/src/%.o: src/%.c $(FLAGS_STAMP)
	@echo "  CC    $<"
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c $(FLAGS_STAMP) | $(BUILD)/tests
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags criterion) -c -o $@ $<

$(BUILD)/kernels/%.o: kernels/%.cu $(FLAGS_STAMP) | $(BUILD)/kernels
	@echo "  NVCC  $<"
	$(Q)$(NVCC) $(NVFLAGS) -c -o $@ $<

$(BUILD)/unit: $(TEST_OBJS) $(LIB_OBJS)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(shell pkg-config --libs criterion) $(LDLIBS)

# The fixed-order products again at the instruction sets a MARCH=native build may take (tests/test_matmul.c):
# x86-64-v3 runs the 3x4 FMA tiles, x86-64-v4 the AVX-512 paired ones; tests/unit_isa.sh runs each where the CPU
# has it and reports the others as skipped.
ISA_LEVELS := x86-64-v3 x86-64-v4
ISA_SRCS   := tests/test_matmul.c src/model/matmul.c src/model/matmul_backward.c src/base/error.c src/base/rng.c \
              src/base/pages.c
ISA_UNITS  := $(ISA_LEVELS:%=$(BUILD)/unit-%)
$(BUILD)/unit-%: $(ISA_SRCS) src/model/matmul.h src/base/error.h src/base/rng.h src/base/unit_claims.h src/base/pages.h \
                 $(FLAGS_STAMP)
	@echo "  CC+LD $@"
	$(Q)$(CC) $(filter-out -march=% -MMD -MP $(PKG_CFLAGS),$(CFLAGS)) -march=$* $(shell pkg-config --cflags criterion) \
	    -o $@ $(ISA_SRCS) $(shell pkg-config --libs criterion) -fopenmp -lm

.SECONDARY: $(MPI_TESTS:$(BUILD)/%=$(BUILD)/tests/%.o)
$(BUILD)/mpi_%: $(BUILD)/tests/mpi_%.o $(LIB_OBJS)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/tests $(BUILD)/kernels:
	@mkdir -p $@

# The GPU check program (tests/gpu_check*.c, tests/gpu_bench.c; run by tests/gpu.sh): the kernels, the CPU twins
# they are checked against (the model's layer loop with both backends too) and cudart/cuBLAS only, so it builds where
# Open MPI, HDF5 or OpenBLAS are missing: tests/gpu_check_shim/cblas.h and tests/gpu_check_link.c stand in for the
# OpenBLAS and expert-parallel calls it never makes. The twins' objects keep one section per function so the linker
# drops what would need the rest of src/.
GPU_CHECK_SRCS  := $(wildcard tests/gpu_check*.c tests/gpu_bench.c)
GPU_TWIN_SRCS   := src/model/matmul.c src/model/matmul_backward.c src/model/attention.c src/model/model_layers.c src/model/moe.c \
                   src/model/logprob.c src/model/sample_filter.c src/algo/optim.c src/algo/grad_reduce.c src/base/error.c src/base/rng.c \
                   src/base/spread_alloc.c src/base/pages.c \
                   src/model/model.c src/model/model_forward.c src/model/model_backward.c src/model/backend_cpu.c \
                   src/model/model_head.c src/model/backend_cuda.c src/model/update_ops.c src/model/swiglu_act.c
GPU_CHECK_CU    := $(wildcard tests/gpu_*.cu)
GPU_CHECK_OBJS  := $(GPU_CHECK_SRCS:tests/%.c=$(BUILD)/gpucheck/tests/%.o) $(GPU_TWIN_SRCS:src/%.c=$(BUILD)/gpucheck/src/%.o) \
                   $(GPU_CHECK_CU:tests/%.cu=$(BUILD)/gpucheck/tests/%.o)
GPU_CHECK_CFLAGS = -std=c17 -D_GNU_SOURCE -O2 -march=$(MARCH) -ffp-contract=off -fopenmp -ffunction-sections \
                   -fdata-sections -Wall -Wextra -Werror -MMD -MP -Isrc -Ikernels -Itests/gpu_check_shim \
                   -I$(CUDA_HOME)/include -DRLVR_CUDA=1

ifeq ($(CUDA),1)
gpu-check: $(BUILD)/gpu_check
$(BUILD)/gpu_check: $(GPU_CHECK_OBJS) $(CU_OBJS)
	@echo "  LD    $@"
	$(Q)cc -fopenmp -Wl,--gc-sections -o $@ $^ -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++ -lm
$(BUILD)/gpucheck/%.o: %.c $(FLAGS_STAMP)
	@echo "  CC    $< (gpu-check)"
	@mkdir -p $(@D)
	$(Q)cc $(GPU_CHECK_CFLAGS) -c -o $@ $<
$(BUILD)/gpucheck/%.o: %.cu $(FLAGS_STAMP)
	@echo "  NVCC  $< (gpu-check)"
	@mkdir -p $(@D)
	$(Q)$(NVCC) $(NVFLAGS) -c -o $@ $<
-include $(GPU_CHECK_OBJS:.o=.d)
else
gpu-check:
	@echo "make gpu-check: needs CUDA (nvcc not found; put it on PATH or pass CUDA=1 CUDA_HOME=...)" >&2; exit 2
endif

# Unit tests: one Criterion binary, then the product tests at other instruction-set levels. Integration tests:
# mpirun scripts ending in "N passed, N failed, N skipped", after the self-test of their runner
# (tests/runner_fixtures/: broken scripts must fail it).
# Criterion's summary leaves skipped tests out: its TAP output names them, with their reasons.
UNIT_TAPS = $(BUILD)/unit.tap $(ISA_LEVELS:%=$(BUILD)/unit-%.tap)
unit: $(BUILD)/unit $(ISA_UNITS)
	OMP_NUM_THREADS=1 $(BUILD)/unit --jobs 2 --tap=$(BUILD)/unit.tap
	@bash tests/unit_isa.sh $(BUILD) $(ISA_LEVELS)
	@sed -n 's/^ok - \(.*\)  # SKIP \(.*\)/  skip  \1 (\2)/p' $(UNIT_TAPS)
	@echo "unit: $$(cat $(UNIT_TAPS) | grep -v '# SKIP' | grep -c '^ok ') passed, $$(cat $(UNIT_TAPS) | grep -c '^ok .*# SKIP') skipped"

# The layering of src/ (src/README.md "Folders"): includes and calls only go down, no module circles.
layers: $(BUILD)/rlvr
	bash tests/check_layers.sh src $(BUILD)/src

# Every shell script at shellcheck -S warning (launch/setup.sh --test installs it; without it the check says it skipped).
shell-check:
	bash tests/check_shell.sh

# What README.md, src/README.md, results/*.md and the comments cite (paths, config keys, rlvr subcommands and options,
# identifiers) exists; the keys and options are the built rlvr's own.
doc-check: $(BUILD)/rlvr
	bash tests/check_docs.sh $(BUILD)/rlvr

integration: $(BUILD)/rlvr $(MPI_TESTS)
	bash tests/runner_selftest.sh
	bash tests/integration.sh $(BUILD)/rlvr
	bash tests/integration_isa.sh $(BUILD)

# Parallel jobs for the builds inside test and demo: the machine's CPU count.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

test: SETUP_FLAGS = --test
test: setup
	@$(MAKE) --no-print-directory shell-check
	@$(MAKE) --no-print-directory -j$(JOBS) all $(BUILD)/unit $(ISA_UNITS) $(MPI_TESTS) $(if $(filter 1,$(CUDA)),$(BUILD)/gpu_check)
	@$(MAKE) --no-print-directory layers
	@$(MAKE) --no-print-directory doc-check
	@$(MAKE) --no-print-directory unit
ifneq ($(SAN),1)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory integration
else
	@# The fuzzers carry their own sanitizers. Leaks are the unit tests' to find: Open MPI, NCCL and HDF5 leave
	@# their own allocations behind at every exit of an MPI program.
	@ASAN_OPTIONS=detect_leaks=0 $(MAKE) --no-print-directory integration
endif

bench: setup all
	bash tests/bench.sh $(BUILD)/rlvr

demo: setup
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bash launch/demo.sh $(BUILD)/rlvr

# libFuzzer targets (tests/fuzz_*.c, built by tests/fuzz.sh with clang + ASan/UBSan); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 10
# The brief fuzz run inside make test.
TEST_FUZZ_SECONDS ?= 10

fuzz: setup
	bash tests/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-fuzz

-include $(OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(MPI_TESTS:$(BUILD)/%=$(BUILD)/tests/%.d)
