# syntax=docker/dockerfile:1
#
# sigma-sweep GPU agent: `sigma-sweep agent` on @tensorflow/tfjs-node-gpu 4.22, which loads
# libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1. Build from the repository root, with
# network access (the install script of tfjs-node-gpu downloads libtensorflow):
#
#   docker build -f deploy/agent.Dockerfile -t REGISTRY/sigma-sweep-agent-gpu:0.1.0 .
#
# - CUDA 11 runtime libraries and cuDNN 8 for CUDA 11 from NVIDIA's apt repository on a pinned
#   Ubuntu (NVIDIA's own CUDA 11.2 images are gone from the public registry). Any CUDA 11.x
#   provides the sonames libtensorflow links (libcudart.so.11.0, libcublas.so.11, …); a CUDA 12
#   image does not, and fails with "libcudart.so.11.0: cannot open shared object file".
# - The driver comes from the node (NVIDIA container toolkit), R470 or newer.
# - GPUs: A100 (sm_80) works; libtensorflow 2.9.1 carries no sm_80 code, so the driver compiles
#   its PTX on first start (minutes), cached under CUDA_CACHE_PATH. Hopper (H100, H200, sm_90) is
#   not supported by this libtensorflow build.
# - One GPU per agent process; TF_FORCE_GPU_ALLOW_GROWTH keeps TensorFlow from reserving the whole
#   device at start.
# Not built where this was written (no container engine, no network): see deploy/README.md.

ARG UBUNTU_VERSION=22.04
ARG NODE_VERSION=20.20.2

# only Node.js and npm are taken from here (the official binaries run on any glibc ≥ 2.28)
FROM node:${NODE_VERSION}-bookworm-slim AS node

FROM ubuntu:${UBUNTU_VERSION} AS cuda
# NVIDIA's repository for this Ubuntu, and the versions installed from it (package names carry
# the CUDA minor version: 11-8 = CUDA 11.8; check with `apt-cache madison libcudnn8`)
ARG CUDA_REPO=ubuntu2204
ARG CUDA_KEYRING_VERSION=1.1-1
ARG CUDA_VERSION=11.8
ARG CUDA_PKG=11-8
ARG CUDNN_VERSION=8.9.7.29-1+cuda11.8
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && curl -fsSLo /tmp/cuda-keyring.deb \
      "https://developer.download.nvidia.com/compute/cuda/repos/${CUDA_REPO}/x86_64/cuda-keyring_${CUDA_KEYRING_VERSION}_all.deb" \
 && dpkg -i /tmp/cuda-keyring.deb \
 && rm /tmp/cuda-keyring.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      "cuda-cudart-${CUDA_PKG}" "libcublas-${CUDA_PKG}" "libcufft-${CUDA_PKG}" "libcurand-${CUDA_PKG}" \
      "libcusolver-${CUDA_PKG}" "libcusparse-${CUDA_PKG}" "libcudnn8=${CUDNN_VERSION}" \
 && apt-mark hold libcudnn8 \
 && apt-get purge -y --auto-remove curl \
 && rm -rf /var/lib/apt/lists/*
# the container toolkit mounts the driver (libcuda, NVML, nvidia-smi) into /usr/local/nvidia or
# /usr/lib; `utility` brings nvidia-smi, which the agent reads for device memory and the GPU name
ENV LD_LIBRARY_PATH=/usr/local/cuda-${CUDA_VERSION}/lib64:/usr/local/nvidia/lib:/usr/local/nvidia/lib64 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=node /usr/local/bin/node /usr/local/bin/node

FROM cuda AS deps
# npm 11 runs a dependency's install script only when allowed (package.json allowScripts or
# .npmrc allow-scripts; the command-line flag is refused in a project); node-gyp's tools are here
# in case no prebuilt tfjs binding fits and it is compiled
ARG NPM_VERSION=11.19.1
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && npm install -g "npm@${NPM_VERSION}" --no-audit --no-fund
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc skips onnxruntime-node's CUDA execution provider download. Its CUDA build needs CUDA 12,
# which this CUDA 11 image lacks; with a CUDA 12 image of your own, uncomment and also allow the
# script (allow-scripts=@tensorflow/tfjs-node-gpu,onnxruntime-node):
# ARG ONNXRUNTIME_NODE_INSTALL=cuda12
# RUN sed -i "s/^onnxruntime-node-install=.*/onnxruntime-node-install=${ONNXRUNTIME_NODE_INSTALL}/" .npmrc
#
# Only tfjs-node-gpu's script runs. npm drops an optional dependency whose script fails, and the
# agent would then fall back to wasm: the build checks that libtensorflow and the binding exist.
# tfjs-node (CPU), whose script did not run, is removed.
RUN echo "allow-scripts=@tensorflow/tfjs-node-gpu" >> .npmrc \
 && npm ci --omit=dev --no-audit --no-fund \
 && ls node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2 \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
 && rm -rf node_modules/@tensorflow/tfjs-node \
 && npm cache clean --force

FROM cuda
ENV NODE_ENV=production \
    SIGMA_SWEEP_LOG=json \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=1 \
    CUDA_CACHE_PATH=/var/cache/cuda \
    CUDA_CACHE_MAXSIZE=4294967296
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# the sources (TypeScript, run through tsx: no build step); owned by root, read-only to the user
COPY . .
RUN groupadd --system --gid 10001 sigma \
 && useradd --system --uid 10001 --gid sigma --no-create-home --shell /usr/sbin/nologin sigma \
 && mkdir -p /var/cache/cuda \
 && chown 10001:10001 /var/cache/cuda
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "/app/deploy/probe.mjs"]
ENTRYPOINT ["node", "/app/bin/sigma-sweep.js"]
CMD ["agent", "--slots", "1", "--backend", "tensorflow"]
