# TF Serving image holding the exported SS-VAE encoder and decoder.
#
#   ssvae export --model runs/ss-vae --out export       # SavedModels + export/models.config
#   docker build -t ssvae-serving .                     # or --build-arg EXPORT_ROOT=path/to/export
#   docker run --rm -p 8500:8500 -p 8501:8501 ssvae-serving
#
# gRPC on 8500 (what SSVAEClient and `ssvae encode|decode --server HOST:8500` use), REST on 8501.
# The image must be at least as new as the TensorFlow that exported the models (2.21).
# serving/README.md has the details and serving/docker-compose.yml a compose file.
FROM tensorflow/serving:2.21.0

# The export root: ssvae_encoder/<version>/, ssvae_decoder/<version>/ and models.config, whose
# base paths are /models/<name>.
ARG EXPORT_ROOT=export
COPY ${EXPORT_ROOT}/ /models/
COPY serving/batching.config /config/batching.config

EXPOSE 8500 8501

# Replaces the image's entrypoint, which serves a single model named by $MODEL_NAME.
# Arguments given to `docker run IMAGE ...` are appended as further flags.
ENTRYPOINT ["/usr/bin/tensorflow_model_server", \
            "--port=8500", \
            "--rest_api_port=8501", \
            "--model_config_file=/models/models.config", \
            "--enable_batching=true", \
            "--batching_parameters_file=/config/batching.config"]
