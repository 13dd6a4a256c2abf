#!/bin/sh
# Writes the broker's configuration from the environment (the user applies on the first boot,
# when the data volume is empty), then runs the server in the foreground.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users.guest = false
listeners.tcp.default = 5672
CONF
exec rabbitmq-server
