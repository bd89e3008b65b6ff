// EVI jobs (one raised event, shared by the queues it was pushed to) and the
// bounded lock-free subscriber queues.
#include <stdlib.h>
#include <string.h>

#include <new>

#include "evi/evi_internal.h"
#include "opensips/mem.h"

namespace shim::evi {

// ---- jobs ----

job *job_create(event_id_t id, const evi_params_t *src, int level, const str *callid)
{
	size_t n = 0, bytes = 0;
	size_t cid_len = callid && callid->s && callid->len > 0 ? (size_t)callid->len : 0;
	bytes += cid_len;
	if (src)
		for (const evi_param_t *p = src->first; p; p = p->next) {
			n++;
			if (p->name.s && p->name.len > 0)
				bytes += (size_t)p->name.len;
			if ((p->flags & EVI_STR_VAL) && p->val.s.s && p->val.s.len > 0)
				bytes += (size_t)p->val.s.len;
		}
	size_t size = sizeof(job) + n * sizeof(evi_param_t) + bytes;
	void *mem = malloc(size);
	if (!mem)
		return nullptr;
	job *j = new (mem) job;
	j->refs.store(1, std::memory_order_relaxed);
	j->event = id;
	j->level = level;
	j->params.flags = 0;
	j->params.first = j->params.last = nullptr;
	evi_param_t *arr = reinterpret_cast<evi_param_t *>(j + 1);
	char *data = reinterpret_cast<char *>(arr + n);
	j->callid = str{nullptr, 0};
	if (cid_len) {
		memcpy(data, callid->s, cid_len);
		j->callid = str{data, (int)cid_len};
		data += cid_len;
	}
	size_t i = 0;
	if (src)
		for (const evi_param_t *p = src->first; p; p = p->next, i++) {
			evi_param_t *d = &arr[i];
			d->flags = p->flags & (EVI_INT_VAL | EVI_STR_VAL);
			d->next = nullptr;
			if (p->name.s) {
				d->name.s = data;
				d->name.len = p->name.len > 0 ? p->name.len : 0;
				if (d->name.len) memcpy(data, p->name.s, (size_t)d->name.len);
				data += d->name.len;
			} else {
				d->name.s = nullptr;
				d->name.len = 0;
			}
			if (d->flags & EVI_INT_VAL) {
				d->val.n = p->val.n;
			} else if (d->flags & EVI_STR_VAL) {
				if (p->val.s.s) {
					d->val.s.s = data;
					d->val.s.len = p->val.s.len > 0 ? p->val.s.len : 0;
					if (d->val.s.len) memcpy(data, p->val.s.s, (size_t)d->val.s.len);
					data += d->val.s.len;
				} else {
					d->val.s.s = nullptr;
					d->val.s.len = 0;
				}
			} else {
				d->val.s.s = nullptr;
				d->val.s.len = 0;
			}
			if (j->params.last) j->params.last->next = d;
			else j->params.first = d;
			j->params.last = d;
		}
	return j;
}

void job_ref(job *j) { j->refs.fetch_add(1, std::memory_order_relaxed); }

void job_unref(job *j)
{
	if (j->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
		j->~job();
		free(j);
	}
}

// ---- the queue ----

job_queue::job_queue(size_t capacity)
{
	size_t cap = 2;
	while (cap < capacity) cap <<= 1;
	// From the accounted shared pool (-m), so subscriptions are bounded
	// like the rest of shared state: a full pool refuses a subscription.
	buf_ = static_cast<cell *>(shm_malloc(cap * sizeof(cell)));
	if (!buf_) throw std::bad_alloc();
	for (size_t i = 0; i < cap; i++) {
		new (&buf_[i].seq) std::atomic<size_t>(i);
		buf_[i].data = nullptr;
	}
	mask_ = cap - 1;
}

job_queue::~job_queue()
{
	job *j;
	while (pop(j)) job_unref(j);
	shm_free(buf_);
}

bool job_queue::push(job *j)
{
	size_t pos = enq_.load(std::memory_order_relaxed);
	cell *c;
	for (;;) {
		c = &buf_[pos & mask_];
		size_t seq = c->seq.load(std::memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (enq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; // full
		} else {
			pos = enq_.load(std::memory_order_relaxed);
		}
	}
	c->data = j;
	c->seq.store(pos + 1, std::memory_order_release);
	return true;
}

bool job_queue::pop(job *&j)
{
	size_t pos = deq_.load(std::memory_order_relaxed);
	cell *c;
	for (;;) {
		c = &buf_[pos & mask_];
		size_t seq = c->seq.load(std::memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
		if (dif == 0) {
			if (deq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; // empty
		} else {
			pos = deq_.load(std::memory_order_relaxed);
		}
	}
	j = c->data;
	c->seq.store(pos + mask_ + 1, std::memory_order_release);
	return true;
}

size_t job_queue::size() const
{
	size_t e = enq_.load(std::memory_order_acquire);
	size_t d = deq_.load(std::memory_order_acquire);
	return e > d ? e - d : 0;
}


} // namespace shim::evi
