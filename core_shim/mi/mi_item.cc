// Item tree primitives and the response-builder half of opensips/mi.h.
#include "mi/mi_item.h"

#include <cmath>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <strings.h>
#include <vector>

namespace shim::mi {

namespace {

// Items freed by a thread are kept for its next requests (a request and
// its reply are a dozen items: without this, most of an MI call's
// malloc/free). Not under ASan, which should see every item's lifetime.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kPoolMax = 0;
#else
constexpr size_t kPoolMax = 256;
#endif
constexpr size_t kKeepText = 256; // a string longer than this is not kept

// Set once the thread's pool is destroyed (thread exit): items freed later
// (by other thread-local destructors) are deleted at once. A trivial type,
// so it stays readable until the thread is gone.
thread_local bool t_pool_gone = false;

struct item_pool {
	std::vector<mi_item *> free;
	~item_pool()
	{
		for (mi_item *it : free)
			delete it;
		free.clear();
		t_pool_gone = true;
	}
};
thread_local item_pool t_pool;

void reset_text(std::string &s)
{
	if (s.capacity() > kKeepText)
		std::string().swap(s);
	else
		s.clear();
}

} // namespace

mi_item *item_new(mi_item::kind_t kind)
{
	mi_item *it;
	if (!t_pool_gone && !t_pool.free.empty()) {
		it = t_pool.free.back();
		t_pool.free.pop_back();
	} else {
		it = new (std::nothrow) mi_item;
		if (!it)
			return nullptr;
	}
	it->kind = kind;
	return it;
}

namespace {

void item_release(mi_item *it)
{
	if (t_pool_gone || t_pool.free.size() >= kPoolMax) {
		delete it;
		return;
	}
	it->kind = mi_item::NUL;
	it->boolean = false;
	it->number = 0;
	reset_text(it->name);
	reset_text(it->text);
	reset_text(it->num_text);
	it->parent = it->first = it->last = it->next = nullptr;
	it->count = 0;
	t_pool.free.push_back(it);
}

} // namespace

void item_free(mi_item *item)
{
	if (!item)
		return;
	// Iterative over siblings, recursive over depth (bounded by the parser
	// for requests, by handler code for responses).
	mi_item *c = item->first;
	while (c) {
		mi_item *n = c->next;
		item_free(c);
		c = n;
	}
	item_release(item);
}

void item_append(mi_item *parent, mi_item *child, std::string_view name)
{
	if (parent->kind == mi_item::OBJECT)
		child->name.assign(name.data(), name.size());
	child->parent = parent;
	child->next = nullptr;
	if (parent->last)
		parent->last->next = child;
	else
		parent->first = child;
	parent->last = child;
	parent->count++;
}

mi_item *object_get(const mi_item *object, std::string_view name)
{
	if (!object || object->kind != mi_item::OBJECT)
		return nullptr;
	for (mi_item *c = object->first; c; c = c->next) {
		if (c->name.size() != name.size())
			continue;
		if (strncasecmp(c->name.data(), name.data(), name.size()) == 0)
			return c;
	}
	return nullptr;
}

mi_item *array_at(const mi_item *array, int index)
{
	if (!array || array->kind != mi_item::ARRAY || index < 0)
		return nullptr;
	mi_item *c = array->first;
	for (int i = 0; c && i < index; i++)
		c = c->next;
	return c;
}

mi_item *make_string(std::string_view s)
{
	mi_item *it = item_new(mi_item::STRING);
	if (it)
		it->text.assign(s.data(), s.size());
	return it;
}

mi_item *make_number(double d)
{
	mi_item *it = item_new(mi_item::NUMBER);
	if (it)
		it->number = d;
	return it;
}

int number_to_int(double d)
{
	if (std::isnan(d))
		return 0;
	if (d >= (double)INT_MAX)
		return INT_MAX;
	if (d <= (double)INT_MIN)
		return INT_MIN;
	return (int)d;
}

} // namespace shim::mi

using namespace shim::mi;

namespace {

std::string_view view(const char *s, int len)
{
	if (!s)
		return {};
	if (len < 0)
		return std::string_view(s);
	return std::string_view(s, (size_t)len);
}

// {"jsonrpc":"2.0"} plus `member` as "result" or "error".
mi_response_t *envelope(const char *key, mi_item *member)
{
	if (!member)
		return nullptr;
	mi_item *root = item_new(mi_item::OBJECT);
	mi_item *ver = make_string("2.0");
	if (!root || !ver) {
		item_free(root);
		item_free(ver);
		item_free(member);
		return nullptr;
	}
	item_append(root, ver, "jsonrpc");
	item_append(root, member, key);
	return root;
}

int add_child(mi_item *to, const char *name, int name_len, mi_item *child)
{
	if (!child)
		return -1;
	if (!to || (to->kind != mi_item::OBJECT && to->kind != mi_item::ARRAY)) {
		item_free(child);
		return -1;
	}
	item_append(to, child, view(name, name_len));
	return 0;
}

} // namespace

extern "C" {

mi_response_t *init_mi_result_object(mi_item_t **object_out)
{
	mi_item *obj = item_new(mi_item::OBJECT);
	mi_response_t *r = envelope("result", obj);
	if (object_out)
		*object_out = r ? obj : nullptr;
	return r;
}

mi_response_t *init_mi_result_array(mi_item_t **array_out)
{
	mi_item *arr = item_new(mi_item::ARRAY);
	mi_response_t *r = envelope("result", arr);
	if (array_out)
		*array_out = r ? arr : nullptr;
	return r;
}

mi_response_t *init_mi_result_string(const char *value, int len)
{
	return envelope("result", make_string(view(value, len)));
}

mi_response_t *init_mi_result_number(double value)
{
	return envelope("result", make_number(value));
}

mi_response_t *init_mi_result_bool(int value)
{
	mi_item *b = item_new(mi_item::BOOL);
	if (b)
		b->boolean = value != 0;
	return envelope("result", b);
}

mi_response_t *init_mi_result_null(void)
{
	return envelope("result", item_new(mi_item::NUL));
}

mi_response_t *init_mi_error_extra(int code, const char *msg, int msg_len,
                                   const char *details, int details_len)
{
	mi_item *err = item_new(mi_item::OBJECT);
	if (!err)
		return nullptr;
	if (add_child(err, "code", 4, make_number(code)) < 0 ||
	    add_child(err, "message", 7, make_string(view(msg, msg_len))) < 0 ||
	    (details && details_len != 0 &&
	     add_child(err, "data", 4, make_string(view(details, details_len))) < 0)) {
		item_free(err);
		return nullptr;
	}
	return envelope("error", err);
}

void free_mi_response(mi_response_t *response)
{
	if (response && response != MI_ASYNC_RPL)
		item_free(response);
}

mi_item_t *add_mi_object(mi_item_t *to, const char *name, int name_len)
{
	mi_item *o = item_new(mi_item::OBJECT);
	return add_child(to, name, name_len, o) == 0 ? o : nullptr;
}

mi_item_t *add_mi_array(mi_item_t *to, const char *name, int name_len)
{
	mi_item *a = item_new(mi_item::ARRAY);
	return add_child(to, name, name_len, a) == 0 ? a : nullptr;
}

int add_mi_string(mi_item_t *to, const char *name, int name_len,
                  const char *value, int value_len)
{
	return add_child(to, name, name_len, make_string(view(value, value_len)));
}

int add_mi_string_fmt(mi_item_t *to, const char *name, int name_len,
                      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return add_mi_string(to, name, name_len, small, n);
	std::vector<char> big((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big.data(), big.size(), fmt, ap);
	va_end(ap);
	return add_mi_string(to, name, name_len, big.data(), n);
}

int add_mi_number(mi_item_t *to, const char *name, int name_len, double value)
{
	return add_child(to, name, name_len, make_number(value));
}

int add_mi_int(mi_item_t *to, const char *name, int name_len, long long value)
{
	return add_child(to, name, name_len, make_number((double)value));
}

int add_mi_bool(mi_item_t *to, const char *name, int name_len, int value)
{
	mi_item *b = item_new(mi_item::BOOL);
	if (b)
		b->boolean = value != 0;
	return add_child(to, name, name_len, b);
}

int add_mi_null(mi_item_t *to, const char *name, int name_len)
{
	return add_child(to, name, name_len, item_new(mi_item::NUL));
}

char *mi_item_print(const mi_item_t *item, int *len)
{
	if (!item)
		return nullptr;
	try {
		std::string out;
		json_print(item, false, out);
		char *buf = (char *)malloc(out.size() + 1);
		if (!buf)
			return nullptr;
		memcpy(buf, out.data(), out.size());
		buf[out.size()] = 0;
		if (len)
			*len = (int)out.size();
		return buf;
	} catch (...) {
		return nullptr;
	}
}

} // extern "C"
