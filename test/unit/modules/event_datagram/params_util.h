// Builds evi_params_t lists by hand for transport tests (no host allocator:
// the transports only read the list).
#pragma once

#include <deque>
#include <string>

#include "opensips/evi.h"

struct test_params {
	evi_params_t list{};
	std::deque<evi_param_t> items;
	std::deque<std::string> texts;

	evi_param_t &append(const char *name)
	{
		evi_param_t &p = items.emplace_back();
		p = evi_param_t{};
		if (name) {
			std::string &n = texts.emplace_back(name);
			p.name.s = n.data();
			p.name.len = (int)n.size();
		}
		if (list.last)
			list.last->next = &p;
		else
			list.first = &p;
		list.last = &p;
		return p;
	}
	test_params &str_(const char *name, const std::string &v)
	{
		evi_param_t &p = append(name);
		std::string &t = texts.emplace_back(v);
		p.flags = EVI_STR_VAL;
		p.val.s.s = t.data();
		p.val.s.len = (int)t.size();
		return *this;
	}
	test_params &int_(const char *name, int v)
	{
		evi_param_t &p = append(name);
		p.flags = EVI_INT_VAL;
		p.val.n = v;
		return *this;
	}
	test_params &none(const char *name)
	{
		append(name);
		return *this;
	}
	evi_params_t *get() { return &list; }
};
