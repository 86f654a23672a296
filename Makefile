# DiSRouter in C. `make` builds libdisr.a and the `disr` CLI; `make test` runs every suite;
# `make test SAN=1` runs the same suite built by clang with AddressSanitizer + UBSan into
# build-san/ (so every commit is also clang-clean).
CC      ?= gcc
SAN     ?= 0
ifeq ($(SAN),1)
CC      := clang
BUILD   ?= build-san
OPT     ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     ?= -O2 -g -march=native
LDSAN   :=
endif

CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Iinclude -Isrc -MMD -MP $(EXTRA_CFLAGS)
LDLIBS  := -lopenblas -lmicrohttpd -lcurl -lcjson -lpthread -lm
LDFLAGS := $(LDSAN)

# The library's folders, from the one statement of the layer order (src/LAYERS, bottom first;
# include/ holds headers only and cli/ is the command).
LAYERS  := $(filter-out include cli,$(shell sed 's/\#.*//' src/LAYERS))
LIB_SRC := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC:= $(wildcard tests/unit/test_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all lib cli tests test clean format bench fuzz
all: $(BUILD)/disr tests

$(BUILD)/libdisr.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/disr: $(CLI_OBJ) $(BUILD)/libdisr.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdisr.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdisr.a $(LDLIBS) -lcmocka

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

tests: $(TESTS)

test: $(BUILD)/disr tests
	BUILD=$(BUILD) SAN=$(SAN) tests/run.sh

# libFuzzer harnesses (clang): the model layer and what it stands on, built with the fuzzer and
# ASan/UBSan. Run: build-fuzz/fuzz_gguf -max_total_time=60 build-fuzz/corpus tests/fuzz/corpus
FUZZ_SRC := $(wildcard src/core/*.c src/model/*.c)
fuzz: build-fuzz/fuzz_gguf build-fuzz/fuzz_request

# the agent node's parsers (request, downstream reply, network file)
build-fuzz/fuzz_request: tests/fuzz/fuzz_request.c src/serve/api.c src/serve/netconf.c \
                         src/route/agent.c src/route/chain.c src/world/scenario.c src/core/err.c src/core/log.c
	@mkdir -p $(@D) build-fuzz/corpus_request
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Iinclude -Isrc -o $@ $^ -lcjson -lpthread -lm

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC)
	@mkdir -p $(@D) build-fuzz/corpus
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Iinclude -Isrc -o $@ $^ -lopenblas -lcjson -lpthread -lm

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
