/* Host counters for exporters (sr_http's /metrics): the host walks its
 * counter families and hands each sample to a visitor. Families:
 *   opensips_sip_received_total, opensips_sip_replied_total,
 *   opensips_sip_malformed_total        labels: worker
 *   opensips_mi_requests_total          labels: transport
 *   opensips_evi_delivered_total, opensips_evi_dropped_total,
 *   opensips_evi_failed_total           labels: event, transport
 *   opensips_uptime_seconds             no labels
 * Samples of one family are visited consecutively; `help` and `type`
 * ("counter" | "gauge") are the same for every sample of a family. A family
 * with no sample yet is still announced once with nlabels = -1 (so an
 * exporter can print its HELP/TYPE lines). */
#ifndef OPENSIPS_STATS_H
#define OPENSIPS_STATS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*shim_sample_f)(void *param, const char *family,
                              const char *help, const char *type, int nlabels,
                              const char *const *label_names,
                              const char *const *label_values, double value);

void shim_collect_samples(shim_sample_f visit, void *param);

/* A module's own counter families: `collect` is called from
 * shim_collect_samples (on the exporter's thread; read atomics only) and
 * visits its samples the same way. Register from init_f. 0 / -1. */
typedef void (*shim_sample_collector)(shim_sample_f visit, void *param);
int shim_add_sample_collector(shim_sample_collector collect);

#ifdef __cplusplus
}
#endif
#endif
