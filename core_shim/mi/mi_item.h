// The MI item tree: what requests parse into and what handlers build.
//
// Ownership: every item belongs to its parent; the root is owned by whoever
// created it (a parsed request by the JSON-RPC runner, a response by the
// handler until it returns it to the MI core). Items are used by one thread
// at a time; nothing here locks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "opensips/mi.h"

struct mi_item {
	enum kind_t : unsigned char { NUL, BOOL, NUMBER, STRING, ARRAY, OBJECT };

	kind_t kind = NUL;
	bool boolean = false;
	double number = 0;
	std::string name; // member name when the parent is an object
	std::string text; // value of a STRING
	mi_item *parent = nullptr;
	mi_item *first = nullptr, *last = nullptr, *next = nullptr;
	int count = 0;
	// A NUMBER read as a string parameter is rendered here, so the pointer
	// handed to the handler lives as long as the request.
	std::string num_text;
};

namespace shim::mi {

mi_item *item_new(mi_item::kind_t kind);
void item_free(mi_item *item);
// Appends `child` (taking ownership) to an ARRAY or OBJECT; `name` is kept
// only under an OBJECT. Duplicate names are kept, in order.
void item_append(mi_item *parent, mi_item *child, std::string_view name);
// First member whose name matches case-insensitively (cJSON's rule).
mi_item *object_get(const mi_item *object, std::string_view name);
mi_item *array_at(const mi_item *array, int index);
mi_item *make_string(std::string_view s);
mi_item *make_number(double d);

// cJSON's valueint: truncation toward zero, saturated to the int range.
int number_to_int(double d);

// ---- JSON text ----
enum class parse_status { ok, incomplete, error };
struct parse_result {
	parse_status status = parse_status::error;
	mi_item *root = nullptr; // owned by the caller when status == ok
	size_t end = 0;          // bytes consumed (ok) or where it failed
};
// Strict RFC 8259 parser; any value at the top level, leading whitespace
// skipped, bytes after the value ignored. `incomplete` means the input
// ended inside the value. Strings must be valid UTF-8.
parse_result json_parse(const char *buf, size_t len);

// Printer with cJSON's output rules (spec §5.1).
void json_print(const mi_item *item, bool pretty, std::string &out);
// The same text in a fresh malloc()ed, NUL-terminated buffer (an MI reply);
// nullptr when out of memory.
char *json_print_reply(const mi_item *item, bool pretty, size_t *len);
void json_print_number(double d, std::string &out);
void json_print_string(std::string_view s, std::string &out);

// ---- parameters (mi_params.cc) ----
void param_error_reset();

} // namespace shim::mi
