# Estuary on Debian 12 (bookworm), CPU. Build and run (docs/docker.md):
#   docker build -t estuary .
#   docker run --rm -v "$PWD/out:/app/out" estuary demo
#   docker run --rm estuary run test1 /root/.cache/estuary/media/bikes.h264
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY scripts ./scripts
COPY src ./src
# the run set-up: GStreamer, the plugin loader, .venv, the bundled models (no brokers, no test tools)
RUN bash scripts/setup.sh \
 && rm -rf /var/lib/apt/lists/* /root/.cache/pip

# gst-launch-1.0 / gst-inspect-1.0 see Estuary's elements too
ENV PATH=/app/.venv/bin:$PATH VIRTUAL_ENV=/app/.venv GST_PLUGIN_PATH=/app/src/estuary/gstplugin
ENTRYPOINT ["/app/.venv/bin/estuary"]
CMD ["demo"]
