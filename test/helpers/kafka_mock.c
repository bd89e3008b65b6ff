/* kafka_mock: a librdkafka mock cluster for the event_kafka system tests.
 *
 * Prints "BOOTSTRAP <servers>" once on stdout, then obeys one command per
 * line on stdin:
 *   down                 every broker stops accepting (and drops) connections
 *   up                   every broker accepts connections again
 *   topic NAME N         creates topic NAME with N partitions
 *   quit (or EOF)        destroys the cluster, exits 0
 * Each command is answered with "OK" or "ERR <reason>" on stdout.
 * The mock brokers listen on 127.0.0.1 (ephemeral ports). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static void reply(rd_kafka_resp_err_t err)
{
	if (err)
		printf("ERR %s\n", rd_kafka_err2str(err));
	else
		printf("OK\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int brokers = argc > 1 ? atoi(argv[1]) : 1;
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* the handle only hosts the cluster: keep it quiet */
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers > 0 ? brokers : 1);
	if (!mc) {
		fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char line[512];
	while (fgets(line, sizeof line, stdin)) {
		char cmd[64] = "", name[256] = "";
		int parts = 0;
		int n = sscanf(line, "%63s %255s %d", cmd, name, &parts);
		if (n <= 0)
			continue;
		if (!strcmp(cmd, "quit"))
			break;
		if (!strcmp(cmd, "down")) {
			reply(rd_kafka_mock_broker_set_down(mc, -1));
		} else if (!strcmp(cmd, "up")) {
			reply(rd_kafka_mock_broker_set_up(mc, -1));
		} else if (!strcmp(cmd, "topic") && n == 3 && parts > 0) {
			reply(rd_kafka_mock_topic_create(mc, name, parts, 1));
		} else {
			printf("ERR unknown command\n");
			fflush(stdout);
		}
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
