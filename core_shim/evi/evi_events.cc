// EVI event table and transports: publishing, ids, names, probing, the
// registered transports (the built-in `route` first).
#include <string.h>

#include "evi/evi_internal.h"
#include "opensips/dprint.h"
#include "opensips/version.h"

namespace shim::evi {

void add_builtin_transports()
{
	auto t = std::make_unique<transport>();
	t->exp = *route_transport_export();
	t->proto = std::string(t->exp.proto.s, t->exp.proto.len);
	t->exp.proto.s = t->proto.data();
	st().tps.push_back(std::move(t));
	st().ntps.store((int)st().tps.size());
}

void ensure_builtin() { std::call_once(st().builtin_once, add_builtin_transports); }

event_entry *event_get(event_id_t id)
{
	if (id < 0 || id >= st().nevents.load(std::memory_order_acquire))
		return nullptr;
	return st().events[id].load(std::memory_order_acquire);
}

int event_count() { return st().nevents.load(std::memory_order_acquire); }

const transport *transport_find(const str &proto)
{
	ensure_builtin();
	std::lock_guard<std::mutex> lk(st().tp_mu);
	for (auto &t : st().tps)
		if ((int)t->proto.size() == proto.len &&
		    memcmp(t->proto.data(), proto.s, (size_t)proto.len) == 0)
			return t.get();
	return nullptr;
}

int transport_count()
{
	ensure_builtin();
	return st().ntps.load(std::memory_order_relaxed);
}

} // namespace shim::evi

namespace shim {
using namespace evi;

event_id_t evi_publish_script_name(const std::string &name)
{
	str s{const_cast<char *>(name.data()), (int)name.size()};
	event_id_t id = evi_get_id(&s);
	if (id != EVI_ERROR)
		return id;
	return evi_publish_event(s);
}

} // namespace shim

extern "C" {

event_id_t evi_publish_event(str name)
{
	using namespace shim::evi;
	if (!name.s || name.len <= 0 || name.len > MAX_EVENT_NAME) {
		LM_ERR("bad event name (empty or longer than %d)", MAX_EVENT_NAME);
		return EVI_ERROR;
	}
	std::string n(name.s, (size_t)name.len);
	std::lock_guard<std::mutex> lk(st().pub_mu);
	auto it = st().names.find(n);
	if (it != st().names.end()) {
		LM_WARN("event '%s' is already published (id %d)", n.c_str(), it->second);
		return it->second;
	}
	int id = st().nevents.load();
	if (id >= MAX_EVENTS) {
		LM_ERR("too many events, cannot publish '%s'", n.c_str());
		return EVI_ERROR;
	}
	auto *e = new (std::nothrow) event_entry;
	if (!e) return EVI_ERROR;
	e->name_buf = n;
	e->name.s = e->name_buf.data();
	e->name.len = (int)e->name_buf.size();
	{
		const char *ln[] = {"event"};
		const char *lv[] = {n.c_str()};
		e->raised = register_item_stat("evi", "raised", "Events raised, per event", 0, 1,
		                               ln, lv);
	}
	st().events[id].store(e, std::memory_order_release);
	st().names[n] = id;
	st().nevents.store(id + 1, std::memory_order_release);
	return id;
}

event_id_t evi_get_id(str *name)
{
	using namespace shim::evi;
	if (!name || !name->s || name->len <= 0) return EVI_ERROR;
	std::lock_guard<std::mutex> lk(st().pub_mu);
	auto it = st().names.find(std::string(name->s, (size_t)name->len));
	return it == st().names.end() ? EVI_ERROR : it->second;
}

int evi_probe_event(event_id_t id)
{
	using namespace shim::evi;
	event_entry *e = event_get(id);
	if (!e) return -1;
	if (e->nsubs.load(std::memory_order_relaxed) == 0) return 0;
	return transport_count();
}

const str *evi_get_event_name(event_id_t id)
{
	shim::evi::event_entry *e = shim::evi::event_get(id);
	return e ? &e->name : nullptr;
}

const evi_export_t *evi_find_transport(str proto)
{
	const shim::evi::transport *t = shim::evi::transport_find(proto);
	return t ? &t->exp : nullptr;
}

int register_event_mod(const evi_export_t *ev)
{
	using namespace shim::evi;
	if (!ev || ev->size != sizeof(evi_export_t)) {
		LM_ERR("event transport export of %u bytes, this host takes %zu (ABI %d): "
		       "rebuild the module against this host's headers",
		       ev ? ev->size : 0u, sizeof(evi_export_t), SHIM_ABI_VERSION);
		return -1;
	}
	if (!ev->proto.s || ev->proto.len <= 0 || !ev->raise || !ev->parse) {
		LM_ERR("bad event transport export");
		return -1;
	}
	ensure_builtin();
	std::lock_guard<std::mutex> lk(st().tp_mu);
	std::string proto(ev->proto.s, (size_t)ev->proto.len);
	for (auto &t : st().tps)
		if (t->proto == proto) {
			LM_ERR("event transport '%s' is already registered", proto.c_str());
			return -1;
		}
	auto t = std::make_unique<transport>();
	t->exp = *ev;
	t->proto = proto;
	t->exp.proto.s = t->proto.data();
	st().tps.push_back(std::move(t));
	st().ntps.store((int)st().tps.size());
	return 0;
}

} // extern "C"
