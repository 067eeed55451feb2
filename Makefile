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
CFLAGS  := -std=c17 -D_GNU_SOURCE -O2 -g -march=x86-64-v2 -fopenmp -Wall -Wextra -Werror -MMD -MP -Isrc -Ikernels $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -fopenmp -lm
ifeq ($(SAN),1)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDLIBS += -fsanitize=address,undefined
endif

# CUDA kernels (kernels/*.cu) when nvcc is present; every kernel has a CPU twin in src/.
CU_SRCS := $(wildcard kernels/*.cu)
ifeq ($(CUDA),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v nvcc))
  NVCC    := nvcc
  NVFLAGS := -O3 -std=c++17 -Ikernels -Isrc -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -Xcompiler -Wall,-Werror -MMD -MP
  CFLAGS  += -DRLVR_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lnccl -lstdc++
  CU_OBJS := $(CU_SRCS:kernels/%.cu=$(BUILD)/kernels/%.o)
endif

SRCS     := $(wildcard src/*.c)
OBJS     := $(SRCS:src/%.c=$(BUILD)/src/%.o) $(CU_OBJS)
LIB_OBJS := $(filter-out $(BUILD)/src/rlvr.o,$(OBJS))
TEST_SRCS:= $(wildcard tests/test_*.c)
TEST_OBJS:= $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%.o)
BENCH_SRCS := $(wildcard tests/bench_*.c)

.PHONY: all setup test unit integration bench demo fuzz clean help

all: $(BUILD)/rlvr

help:
	@echo "make            build $(BUILD)/rlvr (CUDA=$(CUDA); CUDA=0 to skip kernels/)"
	@echo "make test       install deps, build, run unit (Criterion) + integration (mpirun) tests; SAN=1 for ASan+UBSan"
	@echo "make bench      run the benchmarks (JSON lines)"
	@echo "make demo       install deps, build, run the embedded demo"
	@echo "make clean      remove build outputs"

setup:
	@bash launch/setup.sh

# V=1 shows the full compiler lines.
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/rlvr: $(OBJS)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

# Rebuild everything when the flags change (CUDA=0/1, SAN, ...).
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CFLAGS) $(LDLIBS) $(NVFLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CFLAGS) $(LDLIBS) $(NVFLAGS)' > $(FLAGS_STAMP))

$(BUILD)/src/%.o: src/%.c $(FLAGS_STAMP) | $(BUILD)/src
	@echo "  CC    $<"
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

$(BUILD)/src $(BUILD)/tests $(BUILD)/kernels:
	@mkdir -p $@

# Unit tests: one Criterion binary; integration tests: mpirun scripts ending in "N passed, N failed".
unit: $(BUILD)/unit
	OMP_NUM_THREADS=1 $(BUILD)/unit --jobs 2

integration: $(BUILD)/rlvr
	bash tests/integration.sh $(BUILD)/rlvr

test: setup
	@$(MAKE) --no-print-directory all $(BUILD)/unit
	@$(MAKE) --no-print-directory unit
ifneq ($(SAN),1)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory integration
endif

bench: setup all
	bash tests/bench.sh $(BUILD)/rlvr

demo: setup all
	bash launch/demo.sh $(BUILD)/rlvr

# libFuzzer targets (tests/fuzz_*.c): every src file rebuilt with clang + coverage instrumentation.
FUZZ_SECONDS ?= 10
# The brief fuzz run inside make test.
TEST_FUZZ_SECONDS ?= 10
FUZZ_BUILD   := build-fuzz
FUZZ_CC      := OMPI_CC=clang mpicc
FUZZ_CFLAGS  := -std=c17 -D_GNU_SOURCE -O1 -g -fopenmp -fsanitize=fuzzer-no-link,address,undefined -Isrc $(PKG_CFLAGS)
FUZZ_OBJS    := $(filter-out $(FUZZ_BUILD)/src/rlvr.o,$(SRCS:src/%.c=$(FUZZ_BUILD)/src/%.o))
FUZZ_TARGETS := $(patsubst tests/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz_*.c))

$(FUZZ_BUILD)/src/%.o: src/%.c | $(FUZZ_BUILD)/src
	@echo "  FUZZCC $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz_%.c $(FUZZ_OBJS)
	@echo "  FUZZLD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

$(FUZZ_BUILD)/src:
	@mkdir -p $@

.PRECIOUS: $(FUZZ_BUILD)/src/%.o

# make fuzz [FUZZ_SECONDS=600]: runs each target for FUZZ_SECONDS; corpora grow in build-fuzz/corpus/.
fuzz: setup $(FUZZ_TARGETS)
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	    name=$$(basename $$t); mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	    seeds=$$( [ -d tests/fuzz-seeds/$$name ] && echo tests/fuzz-seeds/$$name ); \
	    echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	    ASAN_OPTIONS=detect_leaks=0 $$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	        -print_final_stats=0 $(FUZZ_BUILD)/corpus/$$name $$seeds 2>&1 | tail -n 2 || exit 1; \
	done

clean:
	rm -rf build build-san build-fuzz

-include $(OBJS:.o=.d) $(TEST_OBJS:.o=.d)
