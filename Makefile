# haq — build, test, benchmark.
#   make              build/libhaq.a and build/haq
#   make test         build and run the Check test runner
#   make bench        build the benchmarks (build/bench_*)
#   make demo         train, search, baseline, fine-tune and one table (bench/demo.sh)
#   make check-asan   the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make NOSIMD=1     a build without any intrinsics (portable C kernels only)
#   make CC=clang     any C11 compiler
#   make fuzz         libFuzzer targets build/fuzz_* (clang; not part of make test)

BUILD   ?= build
NOSIMD  ?= 0
OPT     ?= -O3
SAN     ?=

CFLAGS_ALL := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g -fno-math-errno \
              -pthread -I. -MMD -MP $(SAN) $(CFLAGS)
LDFLAGS_ALL := -pthread $(SAN) $(LDFLAGS)
LDLIBS_ALL  := -lm -ldl

SIMD_FLAGS := -mavx2 -mfma
ifeq ($(NOSIMD),1)
  CFLAGS_ALL += -DHAQ_NOSIMD
endif

MODULES  := nn data quant hw rl
ALL_SRC  := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
SIMD_SRC := $(filter %_avx2.c,$(ALL_SRC))
ifeq ($(NOSIMD),1)
  LIB_SRC := $(filter-out $(SIMD_SRC),$(ALL_SRC))
else
  LIB_SRC := $(ALL_SRC)
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libhaq.a

TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(BUILD)/test_runner

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/%)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

.PHONY: all test bench check-asan clean demo fuzz
all: $(LIB) $(BUILD)/haq

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SIMD_FLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/haq: $(BUILD)/haq.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

$(BUILD)/bench_%: $(BUILD)/bench/bench_%.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

test: $(TEST_BIN) $(BUILD)/haq
	$(TEST_BIN)

bench: $(BENCH_BIN)

# The demo: float training, the HAQ search, the uniform baseline, the same fine-tune for both and
# one table (bench/demo.sh; RUN=, RATIO=, EPISODES= … pass through the environment).
demo: all
	HAQ=$(BUILD)/haq sh bench/demo.sh

# Sanitized code runs several times slower: Check's per-test timeouts are stretched to match.
check-asan:
	CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-4} $(MAKE) BUILD=$(BUILD)/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
	  test

# Fuzz targets: the data and nn sources rebuilt with clang's fuzzer instrumentation and
# sanitizers, linked with libFuzzer's main. The SIMD flags go on every file (a fuzz binary is
# for the machine that builds it). For AFL++, build the same sources with afl-clang-fast.
FUZZ_CC    ?= clang
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
FUZZ_LIB_SRC := $(wildcard data/*.c nn/*.c)
ifeq ($(NOSIMD),1)
  FUZZ_LIB_SRC := $(filter-out %_avx2.c,$(FUZZ_LIB_SRC))
endif
fuzz: $(FUZZ_BIN)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. $(FUZZ_FLAGS) \
	  $(if $(filter 1,$(NOSIMD)),-DHAQ_NOSIMD,$(SIMD_FLAGS)) -pthread -o $@ $^ -lm

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/haq.d
