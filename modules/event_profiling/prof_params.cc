#include "prof_params.h"

#include <string.h>

namespace event_profiling {
namespace {

str s_names[kParams] = {
	str_init("sec"),   str_init("usec"),  str_init("session"), str_init("verb"),
	str_init("name"),  str_init("type"),  str_init("depth"),   str_init("file"),
	str_init("line"),  str_init("status"),
};
str s_verbs[4] = {str_init("start"), str_init("enter"), str_init("exit"),
                  str_init("end")};
str s_root = str_init("<root>");

void set_int(param_buf *b, int i, int v)
{
	b->ints[i] = v;
	b->p[i].flags = EVI_INT_VAL;
	b->p[i].val.n = v;
}

void set_str(param_buf *b, int i, const char *s)
{
	b->p[i].flags = EVI_STR_VAL;
	b->p[i].val.s.s = const_cast<char *>(s ? s : "");
	b->p[i].val.s.len = s ? (int)strlen(s) : 0;
}

} // namespace

void build_params(const shim_prof_record *r, param_buf *b)
{
	b->list.flags = 0;
	b->list.first = &b->p[0];
	b->list.last = &b->p[kParams - 1];
	for (int i = 0; i < kParams; i++) {
		b->p[i].name = s_names[i];
		b->p[i].flags = 0;
		b->p[i].val.s.s = nullptr;
		b->p[i].val.s.len = 0;
		b->p[i].next = i + 1 < kParams ? &b->p[i + 1] : nullptr;
	}
	unsigned verb = r->verb < 4 ? r->verb : SHIM_PROF_VERB_END;
	set_int(b, 0, (int)r->sec);
	set_int(b, 1, r->usec);
	set_int(b, 2, r->session);
	b->p[3].flags = EVI_STR_VAL;
	b->p[3].val.s = s_verbs[verb];
	if (r->name)
		set_str(b, 4, r->name);
	else {
		b->p[4].flags = EVI_STR_VAL;
		b->p[4].val.s = s_root;
	}
	set_int(b, 5, r->type);
	set_int(b, 6, r->depth);
	if (verb == SHIM_PROF_VERB_ENTER || verb == SHIM_PROF_VERB_EXIT) {
		set_str(b, 7, r->file);
		set_int(b, 8, r->line);
	}
	if (verb == SHIM_PROF_VERB_EXIT || verb == SHIM_PROF_VERB_END)
		set_int(b, 9, r->status);
}

} // namespace event_profiling
