// Fuzz target: the MI core's own JSON parser and printer
// (core_shim/mi/mi_json.cc), against jansson as the oracle
// (docs/internals/mi.md: it accepts what jansson accepts with
// JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK).
//
// Checks: ours accepts => jansson accepts (except jansson's integer range
// and NUL in keys); jansson accepts => ours accepts (except nesting deeper
// than our 512); both give the same tree when no object repeats a name;
// what we print parses again (ours and jansson), pretty and compact print
// the same document, and printing is stable after one round trip.
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include <string>

#include "fuzz.h"
#include "mi/mi_item.h"

using namespace shim::mi;

namespace {

const size_t json_flags = JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL;

bool has_dup_names(const mi_item *it)
{
	for (const mi_item *a = it->first; a; a = a->next) {
		if (has_dup_names(a)) return true;
		if (it->kind != mi_item::OBJECT) continue;
		for (const mi_item *b = a->next; b; b = b->next)
			if (a->name == b->name) return true;
	}
	return false;
}

int depth(const json_t *j)
{
	int d = 0;
	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++) {
			int k = depth(json_array_get(j, i));
			if (k > d) d = k;
		}
		return d + 1;
	}
	if (json_is_object(j)) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)j, key, v) {
			int k = depth(v);
			if (k > d) d = k;
		}
		return d + 1;
	}
	return 0;
}

bool same_number(double a, double b)
{
	return a == b || (fabs(a) < DBL_MIN && fabs(b) < DBL_MIN);
}

void same_tree(const mi_item *o, const json_t *j)
{
	switch (o->kind) {
	case mi_item::NUL: FUZZ_CHECK(json_is_null(j), "null"); return;
	case mi_item::BOOL:
		FUZZ_CHECK(json_is_boolean(j) && json_is_true(j) == o->boolean, "bool");
		return;
	case mi_item::NUMBER:
		FUZZ_CHECK(json_is_number(j) && same_number(o->number, json_number_value(j)),
		           "number %.17g vs %.17g", o->number, json_number_value(j));
		return;
	case mi_item::STRING:
		FUZZ_CHECK(json_is_string(j) && json_string_length(j) == o->text.size() &&
		               !memcmp(json_string_value(j), o->text.data(), o->text.size()),
		           "string");
		return;
	case mi_item::ARRAY: {
		FUZZ_CHECK(json_is_array(j) && json_array_size(j) == (size_t)o->count, "array");
		size_t i = 0;
		for (const mi_item *c = o->first; c; c = c->next) same_tree(c, json_array_get(j, i++));
		return;
	}
	case mi_item::OBJECT: {
		FUZZ_CHECK(json_is_object(j) && json_object_size(j) == (size_t)o->count, "object");
		for (const mi_item *c = o->first; c; c = c->next) {
			json_t *v = json_object_getn(j, c->name.data(), c->name.size());
			FUZZ_CHECK(v, "member missing");
			same_tree(c, v);
		}
		return;
	}
	}
}

bool jansson_limit(const json_error_t &e)
{
	enum json_error_code c = json_error_code(&e);
	return c == json_error_numeric_overflow || c == json_error_null_byte_in_key;
}

std::string print(const mi_item *it, bool pretty)
{
	std::string s;
	json_print(it, pretty, s);
	return s;
}

mi_item *reparse(const std::string &text, const char *what)
{
	parse_result r = json_parse(text.data(), text.size());
	FUZZ_CHECK(r.status == parse_status::ok && r.end == text.size(),
	           "our %s output does not parse again: %s", what, text.c_str());
	json_error_t e;
	json_t *j = json_loadb(text.data(), text.size(), json_flags, &e);
	FUZZ_CHECK(j || jansson_limit(e), "jansson refuses our %s output (%s): %s", what,
	           e.text, text.c_str());
	json_decref(j);
	return r.root;
}

} // namespace

FUZZ_TARGET(mi_json)
{
	// exact-size copy: a read past the end is an ASan report
	char *buf = (char *)malloc(size ? size : 1);
	if (size) memcpy(buf, data, size);
	parse_result r = json_parse(buf, size);
	json_error_t e;
	json_t *j = json_loadb(buf, size, json_flags, &e);
	if (r.status == parse_status::ok) {
		FUZZ_CHECK(r.root && r.end > 0 && r.end <= size, "end %zu of %zu", r.end, size);
		if (!j && !jansson_limit(e)) {
			// jansson decodes the UTF-8 character after the value before it
			// stops: garbage there fails it, we ignore it. Then compare the
			// value alone.
			FUZZ_CHECK(e.position >= (int)r.end,
			           "we accept, jansson refuses (%s at %d, our end %zu)", e.text,
			           e.position, r.end);
			j = json_loadb(buf, r.end, json_flags, &e);
			FUZZ_CHECK(j || jansson_limit(e),
			           "we accept, jansson refuses the value alone (%s at %d)", e.text,
			           e.position);
		}
		if (j && !has_dup_names(r.root)) same_tree(r.root, j);
		std::string c1 = print(r.root, false), p1 = print(r.root, true);
		mi_item *a = reparse(c1, "compact");
		mi_item *b = reparse(p1, "pretty");
		std::string c2 = print(a, false);
		FUZZ_CHECK(print(b, false) == c2, "pretty and compact differ:\n%s\n%s", p1.c_str(),
		           c1.c_str());
		mi_item *c = reparse(c2, "compact");
		FUZZ_CHECK(print(c, false) == c2, "printing is not stable:\n%s\n%s", c2.c_str(),
		           print(c, false).c_str());
		item_free(a);
		item_free(b);
		item_free(c);
		item_free(r.root);
	} else {
		FUZZ_CHECK(!r.root, "root on failure");
		// (jansson's buffer reader takes a raw NUL byte for the end of the
		// input, so it may accept "[0\0]": no verdict then)
		FUZZ_CHECK(!j || depth(j) > 512 || memchr(buf, 0, size),
		           "jansson accepts, we refuse at %zu (%s)", r.end,
		           r.status == parse_status::incomplete ? "incomplete" : "error");
	}
	json_decref(j);
	free(buf);
	return 0;
}
