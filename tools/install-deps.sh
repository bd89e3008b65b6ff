#!/bin/sh
# Installs the Debian packages the build and the tests need, when missing.
# As root it runs apt-get; otherwise it prints the one command to run.
#
#   sh tools/install-deps.sh        what `make test` needs
#   sh tools/install-deps.sh fuzz   the same plus clang and libFuzzer (make fuzz)
PKGS="build-essential pkg-config libev-dev libjansson-dev libcmocka-dev sip-tester python3
	libmicrohttpd-dev libgnutls28-dev gnutls-bin curl apache2-utils wrk openssl prometheus
	librabbitmq-dev rabbitmq-server python3-pika amqp-tools librdkafka-dev kcat"
case "$1" in
"") ;;
fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
*)
	echo "usage: $0 [fuzz]" >&2
	exit 2
	;;
esac
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$missing"
if [ "$(id -u)" = 0 ]; then
	echo "installing:$missing"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
	echo "missing packages:$missing"
	echo "run as root: $cmd"
	exit 1
fi
