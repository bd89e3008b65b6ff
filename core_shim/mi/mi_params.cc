// Parameter access for MI handlers (get_mi_*_param), with cJSON-style
// coercion (spec §5.1): a string parameter accepts a number (rendered as a
// decimal int), an int parameter accepts a string holding a signed integer.
//
// The reason of the last failed get_* call is kept per thread, so handlers
// running concurrently on several transports do not see each other's.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mi/mi_item.h"

using namespace shim::mi;

namespace {

enum class perr { none, missing, bad_type, bad_array_item, empty_array };

struct param_error_state {
	perr kind = perr::none;
	std::string name;       // the parameter the error is about
	std::string array_name; // last array fetched with get_mi_array_param
};
thread_local param_error_state t_err;

void set_error(perr k, const char *name)
{
	t_err.kind = k;
	t_err.name = name ? name : "";
}

// Position of `name` in the recipe's list (positional calls).
int list_index(const mi_params_t *params, const char *name)
{
	if (!params->list)
		return -1;
	for (int i = 0; params->list[i]; i++)
		if (strcmp(params->list[i], name) == 0)
			return i;
	return -1;
}

mi_item *find_param(const mi_params_t *params, const char *name)
{
	if (!params || !name || !params->item)
		return nullptr;
	const mi_item *pi = params->item;
	if (pi->kind == mi_item::ARRAY) {
		int idx = list_index(params, name);
		return idx < 0 ? nullptr : array_at(pi, idx);
	}
	if (pi->kind == mi_item::OBJECT)
		return object_get(pi, name);
	return nullptr;
}

// 0 ok, -2 wrong type.
int as_string(mi_item *it, char **value, int *value_len)
{
	if (it->kind == mi_item::STRING) {
		*value = it->text.data();
		if (value_len)
			*value_len = (int)it->text.size();
		return 0;
	}
	if (it->kind == mi_item::NUMBER) {
		it->num_text = std::to_string(number_to_int(it->number));
		*value = it->num_text.data();
		if (value_len)
			*value_len = (int)it->num_text.size();
		return 0;
	}
	return -2;
}

int as_int(const mi_item *it, int *value)
{
	if (it->kind == mi_item::NUMBER) {
		*value = number_to_int(it->number);
		return 0;
	}
	if (it->kind == mi_item::STRING) {
		const std::string &s = it->text;
		size_t i = 0;
		bool neg = false;
		if (i < s.size() && (s[i] == '-' || s[i] == '+'))
			neg = s[i++] == '-';
		if (i == s.size())
			return -2;
		long long v = 0;
		for (; i < s.size(); i++) {
			if (s[i] < '0' || s[i] > '9')
				return -2;
			v = v * 10 + (s[i] - '0');
			if (v > (long long)INT_MAX + 1)
				return -2;
		}
		if (neg)
			v = -v;
		if (v > INT_MAX || v < INT_MIN)
			return -2;
		*value = (int)v;
		return 0;
	}
	return -2;
}

} // namespace

namespace shim::mi {
void param_error_reset()
{
	t_err.kind = perr::none;
	t_err.name.clear();
	t_err.array_name.clear();
}
} // namespace shim::mi

extern "C" {

int get_mi_string_param(const mi_params_t *params, const char *name,
                        char **value, int *value_len)
{
	mi_item *it = find_param(params, name);
	if (!it) {
		set_error(perr::missing, name);
		return -1;
	}
	if (!value || as_string(it, value, value_len) < 0) {
		set_error(perr::bad_type, name);
		return -2;
	}
	return 0;
}

int get_mi_int_param(const mi_params_t *params, const char *name, int *value)
{
	mi_item *it = find_param(params, name);
	if (!it) {
		set_error(perr::missing, name);
		return -1;
	}
	if (!value || as_int(it, value) < 0) {
		set_error(perr::bad_type, name);
		return -2;
	}
	return 0;
}

int get_mi_array_param(const mi_params_t *params, const char *name,
                       mi_item_t **value, int *no_items)
{
	mi_item *it = find_param(params, name);
	if (!it) {
		set_error(perr::missing, name);
		return -1;
	}
	if (it->kind != mi_item::ARRAY) {
		set_error(perr::bad_type, name);
		return -2;
	}
	if (it->count == 0) {
		set_error(perr::empty_array, name);
		return -3;
	}
	t_err.array_name = name;
	if (value)
		*value = it;
	if (no_items)
		*no_items = it->count;
	return 0;
}

int get_mi_arr_param_string(const mi_item_t *array, int index, char **value,
                            int *value_len)
{
	mi_item *it = array_at(array, index);
	if (!it || !value || as_string(it, value, value_len) < 0) {
		set_error(perr::bad_array_item, t_err.array_name.c_str());
		return -1;
	}
	return 0;
}

int get_mi_arr_param_int(const mi_item_t *array, int index, int *value)
{
	mi_item *it = array_at(array, index);
	if (!it || !value || as_int(it, value) < 0) {
		set_error(perr::bad_array_item, t_err.array_name.c_str());
		return -1;
	}
	return 0;
}

int try_get_mi_string_param(const mi_params_t *params, const char *name,
                            char **value, int *value_len)
{
	mi_item *it = find_param(params, name);
	if (!it)
		return -1;
	if (!value || as_string(it, value, value_len) < 0)
		return -2;
	return 0;
}

int try_get_mi_int_param(const mi_params_t *params, const char *name,
                         int *value)
{
	mi_item *it = find_param(params, name);
	if (!it)
		return -1;
	if (!value || as_int(it, value) < 0)
		return -2;
	return 0;
}

mi_item_t *get_mi_param_item(const mi_params_t *params, const char *name)
{
	return find_param(params, name);
}

mi_response_t *init_mi_param_error(void)
{
	std::string msg;
	switch (t_err.kind) {
	case perr::bad_type:
		msg = "Bad type for parameter '" + t_err.name + "'";
		break;
	case perr::bad_array_item:
		msg = "Bad type for array item in parameter '" + t_err.name + "'";
		break;
	case perr::empty_array:
		msg = "Empty array in parameter '" + t_err.name + "'";
		break;
	case perr::missing:
	case perr::none:
		return init_mi_error_extra(JSONRPC_SERVER_ERR_CODE, "Server error", 12,
		                           "Failed to handle parameter", 26);
	}
	return init_mi_error_extra(JSONRPC_INVAL_PARAMS_CODE, "Invalid params", 14,
	                           msg.data(), (int)msg.size());
}

} // extern "C"
