#!/bin/bash
# Health check of the ssvae TF Serving image (the Dockerfile's HEALTHCHECK; see serving/README.md).
#
# Healthy (exit 0) when the REST API on $PORT (default 8501) answers 200 for the model $HEALTH_MODEL
# (default ssvae_encoder) with a version AVAILABLE; unhealthy (exit 1) otherwise.  It needs bash only:
# the tensorflow/serving image has no curl, so the request goes over bash's /dev/tcp.
set -u
model="${HEALTH_MODEL:-ssvae_encoder}"
exec 3<>"/dev/tcp/127.0.0.1/${PORT:-8501}" || exit 1
printf 'GET /v1/models/%s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$model" >&3
answer="$(cat <&3)"
case "$answer" in
  "HTTP/1."?" 200 "*'"AVAILABLE"'*) exit 0 ;;
  *) exit 1 ;;
esac
