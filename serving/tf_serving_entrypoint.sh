#!/bin/sh
# Entrypoint of the ssvae TF Serving image (see the Dockerfile and serving/README.md).
#
# It keeps the official tensorflow/serving entrypoint's conventions where they apply:
#   GRPC_PORT  gRPC port (default 8500)      PORT  REST port (default 8501)
# and, like it, appends the arguments of `docker run IMAGE ...` as further
# tensorflow_model_server flags.  It does not use MODEL_NAME/MODEL_BASE_PATH:
# those name ONE model, and an ssvae export is two (encoder and decoder),
# served from the models.config that `ssvae export` writes into the export root
# (copied to /models; its base paths are /models/<name>).
set -eu
exec tensorflow_model_server \
    --port="${GRPC_PORT:-8500}" \
    --rest_api_port="${PORT:-8501}" \
    --model_config_file=/models/models.config \
    --enable_batching=true \
    --batching_parameters_file=/config/batching.config \
    --monitoring_config_file=/config/monitoring.config \
    "$@"
