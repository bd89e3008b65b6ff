# opensips-shim: host binary, modules, tests.
#
#   make            build everything into $(BUILD)/
#   make test       install missing packages, build, run every test
#   make run        install missing packages, build, start examples/opensips.cfg
#   make bench      run the benchmarks under bench/
#   make install    PREFIX=/usr/local DESTDIR=
#   make SANITIZE=1 build with ASan+UBSan into build-san/

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

WARN := -Wall -Wextra -Werror $(SANWARN)
CPPFLAGS += -Iinclude -Icore_shim $(JANSSON_CFLAGS) $(EV_CFLAGS) -D_GNU_SOURCE
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

UNIT_SRCS := $(shell find test/unit -name 'test_*.cc' | sort)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.cc=$(BUILD)/unit/%)

.PHONY: all deps test unit system run bench install clean fuzz format
all: $(BIN) $(MODULE_SOS) $(TESTMOD_SOS)

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

define module_rule
$(BUILD)/modules/$(1).so: $(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard modules/$(1)/*.cc))
	@mkdir -p $$(dir $$@)
	$(CXX) $(LDFLAGS) -shared -o $$@ $$^ $(EV_LIBS) $(JANSSON_LIBS)
endef
$(foreach m,$(MODULE_NAMES),$(eval $(call module_rule,$(m))))

define testmod_rule
$(BUILD)/test-modules/$(1).so: $(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard test/modules/$(1)/*.cc))
	@mkdir -p $$(dir $$@)
	$(CXX) $(LDFLAGS) -shared -o $$@ $$^
endef
$(foreach m,$(TESTMOD_NAMES),$(eval $(call testmod_rule,$(m))))

# A unit test under test/unit/modules/<mod>/ also links that module's
# objects; every unit test links the whole host library, exported
# (-rdynamic) so the modules a test dlopens resolve the host API.
unit_mod = $(if $(filter modules/%,$(1)),$(patsubst %.cc,$(BUILD)/obj/%.o,$(wildcard modules/$(word 2,$(subst /, ,$(1)))/*.cc)))
.SECONDEXPANSION:
$(BUILD)/unit/%: test/unit/%.cc $(LIBSHIM) $$(call unit_mod,$$*)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CMOCKA_CFLAGS) $(CXXFLAGS) -DMOD_NAME='"unit"' -MMD -MP -MF $@.d -rdynamic -o $@ $< $(call unit_mod,$*) -Wl,--whole-archive $(LIBSHIM) -Wl,--no-whole-archive $(CMOCKA_LIBS) $(LIBS) $(LDFLAGS)

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

install: $(BIN) $(MODULE_SOS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/opensips-shim/modules $(DESTDIR)$(PREFIX)/share/opensips-shim $(DESTDIR)$(PREFIX)/include/opensips $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/opensips-shim
	install -m 0644 $(MODULE_SOS) $(DESTDIR)$(PREFIX)/lib/opensips-shim/modules/
	install -m 0644 include/opensips/*.h $(DESTDIR)$(PREFIX)/include/opensips/
	install -m 0644 examples/opensips.cfg $(DESTDIR)$(PREFIX)/share/opensips-shim/
	install -m 0755 tools/opensips-mi $(DESTDIR)$(PREFIX)/bin/opensips-mi

clean:
	rm -rf build build-san
