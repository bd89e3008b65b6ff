# opensips-shim: host binary, modules, tests.
#
#   make            build everything into $(BUILD)/
#   make test       install missing packages, build, run every test
#   make run        install missing packages, build, start examples/opensips.cfg
#   make bench      run the benchmarks under bench/
#   make install    PREFIX=/usr/local DESTDIR=
#   make SANITIZE=1 build with ASan+UBSan into build-san/
#   make fuzz       libFuzzer targets (clang) into build-fuzz/, each run for
#                   FUZZ_SECONDS (30); make fuzz-regress replays
#                   test/fuzz/regressions/ once (docs/fuzzing.md)

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
# GCC 12 reports false maybe-uninitialized warnings inside libstdc++
# (std::regex, std::function) when instrumented; the normal build keeps them.
SANWARN := -Wno-maybe-uninitialized
else
BUILD ?= build
SANFLAGS :=
OPT := -O2
endif

# STATS_OFF=1: update_stat() does nothing (the bench's "without
# statistics" host, into build-nostats/)
ifeq ($(STATS_OFF),1)
BUILD := build-nostats
CPPFLAGS += -DSHIM_STATS_OFF
endif

PREFIX ?= /usr/local
DESTDIR ?=

CXX ?= g++
CC ?= gcc

# jansson and cmocka ship .pc files; Debian's libev-dev does not.
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
EV_CFLAGS := $(shell pkg-config --cflags libev 2>/dev/null)
EV_LIBS := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
# httpd: libmicrohttpd (and GnuTLS, to check certificates at startup)
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd gnutls 2>/dev/null)
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd gnutls 2>/dev/null || echo -lmicrohttpd -lgnutls)
# event_rabbitmq: rabbitmq-c; event_kafka: librdkafka (both ship .pc files)
RMQ_CFLAGS := $(shell pkg-config --cflags librabbitmq 2>/dev/null)
RMQ_LIBS := $(shell pkg-config --libs librabbitmq 2>/dev/null || echo -lrabbitmq)
RDKAFKA_CFLAGS := $(shell pkg-config --cflags rdkafka 2>/dev/null)
RDKAFKA_LIBS := $(shell pkg-config --libs rdkafka 2>/dev/null || echo -lrdkafka)

WARN := -Wall -Wextra -Werror $(SANWARN)
CPPFLAGS += -Iinclude -Icore_shim $(JANSSON_CFLAGS) $(EV_CFLAGS) $(MHD_CFLAGS) $(RMQ_CFLAGS) $(RDKAFKA_CFLAGS) -D_GNU_SOURCE
CXXFLAGS += -std=c++20 $(OPT) -g -fPIC $(WARN) $(SANFLAGS) -pthread
LDFLAGS += $(SANFLAGS) -pthread
LIBS := $(EV_LIBS) $(JANSSON_LIBS) -ldl

HOST_SRCS := $(shell find core_shim -name '*.cc' ! -name main.cc | sort)
HOST_OBJS := $(HOST_SRCS:%.cc=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/core_shim/main.o
LIBSHIM := $(BUILD)/libshim.a
BIN := $(BUILD)/opensips-shim

MODULE_NAMES := $(notdir $(patsubst %/,%,$(wildcard modules/*/)))
MODULE_SOS := $(MODULE_NAMES:%=$(BUILD)/modules/%.so)
TESTMOD_NAMES := $(notdir $(patsubst %/,%,$(wildcard test/modules/*/)))
TESTMOD_SOS := $(TESTMOD_NAMES:%=$(BUILD)/test-modules/%.so)

# Helper programs the system tests run (decisions §37): test/helpers/<name>.c
# into $(BUILD)/test-helpers/<name>; each links what HELPERLIBS_<name> says.
HELPER_SRCS := $(wildcard test/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:test/helpers/%.c=$(BUILD)/test-helpers/%)
HELPERLIBS_kafka_mock := $(RDKAFKA_LIBS)

UNIT_SRCS := $(shell find test/unit -name 'test_*.cc' | sort)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.cc=$(BUILD)/unit/%)

.PHONY: all deps test unit system run bench install clean fuzz format
.PHONY: fuzz-build fuzz-regress fuzz-clean
.PHONY: soak
all: $(BIN) $(MODULE_SOS) $(TESTMOD_SOS) $(HELPER_BINS)

deps:
	@sh tools/install-deps.sh

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

# Module objects carry MOD_NAME (used by LM_* and E_CORE_LOG).
# Modules export one symbol, `exports` (declared with default visibility in
# sr_module.h); everything else stays inside the .so.
$(BUILD)/obj/modules/%.o: modules/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -fvisibility=hidden -fvisibility-inlines-hidden -DMOD_NAME='"$(firstword $(subst /, ,$*))"' -MMD -MP -c $< -o $@

$(BUILD)/obj/test/modules/%.o: test/modules/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -DMOD_NAME='"$(firstword $(subst /, ,$*))"' -MMD -MP -c $< -o $@

$(LIBSHIM): $(HOST_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# -rdynamic: modules resolve the host API (shim_log, add_mi_*, ...) from
# the executable.
$(BIN): $(MAIN_OBJ) $(LIBSHIM)
	$(CXX) $(LDFLAGS) -rdynamic -o $@ $(MAIN_OBJ) -Wl,--whole-archive $(LIBSHIM) -Wl,--no-whole-archive $(LIBS)

# Libraries a module links beyond libev and jansson: MODLIBS_<module>.
MODLIBS_httpd := $(MHD_LIBS)
MODLIBS_event_rabbitmq := $(RMQ_LIBS)
MODLIBS_event_kafka := $(RDKAFKA_LIBS)

define module_rule
$(BUILD)/modules/$(1).so: $(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard modules/$(1)/*.cc))
	@mkdir -p $$(dir $$@)
	$(CXX) $(LDFLAGS) -shared -o $$@ $$^ $(EV_LIBS) $(JANSSON_LIBS) $(MODLIBS_$(1))
endef
$(foreach m,$(MODULE_NAMES),$(eval $(call module_rule,$(m))))

define testmod_rule
$(BUILD)/test-modules/$(1).so: $(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard test/modules/$(1)/*.cc))
	@mkdir -p $$(dir $$@)
	$(CXX) $(LDFLAGS) -shared -o $$@ $$^
endef
$(foreach m,$(TESTMOD_NAMES),$(eval $(call testmod_rule,$(m))))

$(BUILD)/test-helpers/%: test/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE $(SANFLAGS) -pthread -o $@ $< $(HELPERLIBS_$*)

# A unit test under test/unit/modules/<mod>/ also links that module's
# objects; every unit test links the whole host library, exported
# (-rdynamic) so the modules a test dlopens resolve the host API.
unit_mod = $(if $(filter modules/%,$(1)),$(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard modules/$(word 2,$(subst /, ,$(1)))/*.cc)))
unit_modlibs = $(if $(filter modules/%,$(1)),$(MODLIBS_$(word 2,$(subst /, ,$(1)))))
.SECONDEXPANSION:
$(BUILD)/unit/%: test/unit/%.cc $(LIBSHIM) $$(call unit_mod,$$*)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CMOCKA_CFLAGS) $(CXXFLAGS) -DMOD_NAME='"unit"' -MMD -MP -MF $@.d -rdynamic -o $@ $< $(call unit_mod,$*) -Wl,--whole-archive $(LIBSHIM) -Wl,--no-whole-archive $(CMOCKA_LIBS) $(call unit_modlibs,$*) $(LIBS) $(LDFLAGS)

unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) sh test/run-unit.sh $(UNIT_BINS)

system: all
	@BUILD=$(BUILD) python3 test/system/run.py

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@BUILD=$(BUILD) sh test/run-all.sh $(UNIT_BINS)

run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) -F -f examples/opensips.cfg

bench: all
	@BUILD=$(BUILD) sh bench/run.sh
	@BUILD=$(BUILD) python3 bench/sbs.py
	@BUILD=$(BUILD) python3 bench/brokers.py

# soak/run.sh (soak/README.md): SOAK_SECONDS (600) of sipp OPTIONS with
# profiling on, two collectors, MI polling; not part of `make test`.
soak: all
	@BUILD=$(BUILD) sh soak/run.sh

install: $(BIN) $(MODULE_SOS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/opensips-shim/modules $(DESTDIR)$(PREFIX)/share/opensips-shim $(DESTDIR)$(PREFIX)/include/opensips $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/opensips-shim
	install -m 0644 $(MODULE_SOS) $(DESTDIR)$(PREFIX)/lib/opensips-shim/modules/
	install -m 0644 include/opensips/*.h $(DESTDIR)$(PREFIX)/include/opensips/
	install -m 0644 examples/opensips.cfg $(DESTDIR)$(PREFIX)/share/opensips-shim/
	install -m 0755 tools/opensips-mi $(DESTDIR)$(PREFIX)/bin/opensips-mi

clean:
	rm -rf build build-san build-nostats

# ---- fuzzing (docs/fuzzing.md) ----
# libFuzzer needs clang: the host sources and the two module parsers are
# compiled again with clang into build-fuzz/ (coverage + ASan + UBSan), one
# binary per test/fuzz/fuzz_<target>.cc. The host sources get -Wall -Wextra
# without -Werror (clang warns where g++ does not); the targets get -Werror.
# The same targets are also linked by g++ into the unit test
# test/unit/fuzz/test_regressions (rule below), which replays
# test/fuzz/regressions/ and test/fuzz/corpus/ in `make test`.
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_CXX ?= clang++
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Iinclude -Icore_shim -I. $(JANSSON_CFLAGS) $(EV_CFLAGS) $(MHD_CFLAGS) -D_GNU_SOURCE
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -pthread $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wall -Wextra
FUZZ_SRCS := $(sort $(wildcard test/fuzz/fuzz_*.cc))
FUZZ_TARGETS := $(FUZZ_SRCS:test/fuzz/fuzz_%.cc=%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_HOST_SRCS := $(HOST_SRCS)
FUZZ_HOST_OBJS := $(FUZZ_HOST_SRCS:%.cc=$(FUZZ_BUILD)/obj/%.o)
FUZZ_MOD_SRCS := modules/mi_fifo/fifo_framing.cc modules/httpd/server.cc
FUZZ_MOD_OBJS := $(FUZZ_MOD_SRCS:%.cc=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB := $(FUZZ_BUILD)/libshim.a

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

$(FUZZ_BUILD)/obj/core_shim/%.o: core_shim/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/modules/%.o: modules/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -DMOD_NAME='"$(firstword $(subst /, ,$*))"' -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/test/fuzz/%.o: test/fuzz/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -Werror -DMOD_NAME='"fuzz"' -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_HOST_OBJS) $(FUZZ_MOD_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/test/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CXX) -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@ $< $(FUZZ_LIB) $(LIBS) $(MHD_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz:
	@sh tools/install-deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) sh test/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress:
	@sh tools/install-deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) sh test/fuzz/run.sh regress $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

# The fuzz targets without libFuzzer (g++, -DSHIM_FUZZ_DRIVER): a cmocka
# test that feeds every regression and corpus file to its target.
FUZZ_DRIVER_MODS := $(FUZZ_MOD_SRCS:%.cc=$(BUILD)/obj/%.o)
$(BUILD)/unit/fuzz/test_regressions: test/unit/fuzz/test_regressions.cc $(FUZZ_SRCS) test/fuzz/fuzz.h $(LIBSHIM) $(FUZZ_DRIVER_MODS)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) -I. $(CMOCKA_CFLAGS) $(CXXFLAGS) -DSHIM_FUZZ_DRIVER -DMOD_NAME='"unit"' -rdynamic -o $@ test/unit/fuzz/test_regressions.cc $(FUZZ_SRCS) $(FUZZ_DRIVER_MODS) -Wl,--whole-archive $(LIBSHIM) -Wl,--no-whole-archive $(CMOCKA_LIBS) $(MHD_LIBS) $(LIBS) $(LDFLAGS)
.PRECIOUS: $(FUZZ_SRCS:%.cc=$(FUZZ_BUILD)/obj/%.o)
