# TF Serving image holding the exported SS-VAE encoder and decoder.
#
#   ssvae export --model runs/ss-vae --out exports      # SavedModels + exports/models.config
#   docker build -t ssvae-serving .                     # or --build-arg EXPORT_ROOT=path/to/root
#   docker run --rm -p 8500:8500 -p 8501:8501 ssvae-serving
#
# gRPC on 8500 (what SSVAEClient and `ssvae encode|decode --server HOST:8500` use), REST on 8501,
# Prometheus metrics at :8501/monitoring/prometheus/metrics (serving/monitoring.config);
# as in the official image, GRPC_PORT and PORT move them (docker run -e PORT=8080 ...).
# 2.20.0 is the newest tensorflow/serving tag confirmed to exist; the models are written by
# TensorFlow 2.21, and serving/check_tf_release.py checks that TensorFlow 2.20 loads and runs them.
# serving/README.md has the details and serving/docker-compose.yml a compose file.
FROM tensorflow/serving:2.20.0

# The official image's port variables (its entrypoint reads them too).
ENV GRPC_PORT=8500 PORT=8501

# The export root: ssvae_encoder/<version>/, ssvae_decoder/<version>/ and models.config, whose
# base paths are /models/<name>.
ARG EXPORT_ROOT=exports
COPY ${EXPORT_ROOT}/ /models/
COPY serving/batching.config /config/batching.config
COPY serving/monitoring.config /config/monitoring.config
COPY serving/tf_serving_entrypoint.sh /usr/local/bin/ssvae_serving_entrypoint.sh
COPY serving/healthcheck.sh /usr/local/bin/ssvae_serving_healthcheck.sh

EXPOSE 8500 8501

# Healthy once the REST API answers that ssvae_encoder has a version AVAILABLE (HEALTH_MODEL names
# another model); loading the models can take a while, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/bin/bash", "/usr/local/bin/ssvae_serving_healthcheck.sh"]

# Replaces the image's entrypoint, which serves the single model $MODEL_BASE_PATH/$MODEL_NAME:
# this one serves both models of models.config, with request batching and monitoring, on $GRPC_PORT and $PORT.
# Arguments given to `docker run IMAGE ...` are appended as further tensorflow_model_server flags.
ENTRYPOINT ["/bin/sh", "/usr/local/bin/ssvae_serving_entrypoint.sh"]
