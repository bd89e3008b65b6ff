// EVI parameter lists (the module API of include/opensips/evi.h).
#include <stdlib.h>
#include <string.h>

#include <new>

#include "evi/evi_internal.h"
#include "opensips/dprint.h"

namespace shim::evi {

void free_list(evi_params_p list)
{
	if (list && (list->flags & EVI_FREE_LIST))
		evi_free_params(list);
}

} // namespace shim::evi

using namespace shim::evi;

extern "C" {

// A list from evi_get_params carries a few parameter slots in the same
// block (most events have at most that many): one malloc per raise instead
// of one per parameter. EVI_INLINE_SLOTS marks such a list (private bit).
namespace {
constexpr unsigned int EVI_INLINE_SLOTS = 1U << 30;
constexpr int kInline = 4;
struct params_block {
	evi_params_t list; // first: the list's address is the block's
	int used;
	evi_param_t slot[kInline];
};
bool is_inline(evi_params_p list, evi_param_p p)
{
	if (!(list->flags & EVI_INLINE_SLOTS)) return false;
	auto *b = reinterpret_cast<params_block *>(list);
	return p >= &b->slot[0] && p < &b->slot[kInline];
}
} // namespace

evi_params_p evi_get_params(void)
{
	auto *b = static_cast<params_block *>(malloc(sizeof(params_block)));
	if (!b) {
		LM_ERR("out of memory for an event parameter list");
		return nullptr;
	}
	b->list.flags = EVI_FREE_LIST | EVI_INLINE_SLOTS;
	b->list.first = b->list.last = nullptr;
	b->used = 0;
	return &b->list;
}

void evi_free_params(evi_params_p list)
{
	if (!list) return;
	evi_param_p p = list->first;
	while (p) {
		evi_param_p n = p->next;
		if (!is_inline(list, p)) free(p);
		p = n;
	}
	free(list);
}

evi_param_p evi_param_create(evi_params_p list, str *name)
{
	if (!list) return nullptr;
	evi_param_p p;
	auto *b = reinterpret_cast<params_block *>(list);
	if ((list->flags & EVI_INLINE_SLOTS) && b->used < kInline) {
		p = &b->slot[b->used++];
		memset(p, 0, sizeof *p);
	} else {
		p = static_cast<evi_param_p>(calloc(1, sizeof(evi_param_t)));
		if (!p) {
			LM_ERR("out of memory for an event parameter");
			return nullptr;
		}
	}
	if (name) p->name = *name;
	if (list->last) list->last->next = p;
	else list->first = p;
	list->last = p;
	return p;
}

int evi_param_set_int(evi_param_p param, int *value)
{
	if (!param || !value) return -1;
	param->flags = EVI_INT_VAL;
	param->val.n = *value;
	return 0;
}

int evi_param_set_str(evi_param_p param, str *value)
{
	if (!param || !value) return -1;
	param->flags = EVI_STR_VAL;
	param->val.s = *value;
	return 0;
}

void evi_param_reset(evi_param_p param)
{
	if (!param) return;
	param->flags = 0;
	param->val.s.s = nullptr;
	param->val.s.len = 0;
}

int evi_param_add_int(evi_params_p list, str *name, int *value)
{
	if (!value) return -1;
	evi_param_p p = evi_param_create(list, name);
	return p ? evi_param_set_int(p, value) : -1;
}

int evi_param_add_str(evi_params_p list, str *name, str *value)
{
	if (!value) return -1;
	evi_param_p p = evi_param_create(list, name);
	return p ? evi_param_set_str(p, value) : -1;
}


} // extern "C"
