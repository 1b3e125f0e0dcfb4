#!/usr/bin/env bash
# Starts the gateway the way upstream's image does (its run-gunicorn.sh): workers from
# GUNICORN_WORKERS, or with "auto" or unset 2 x nproc + 1 capped at 16, where nproc inside a
# container counts the host's CPUs, not the container's quota; the other GUNICORN_* variables
# on the command line, which wins over /app/gunicorn.config.py.
set -euo pipefail
cd /app
if [[ -z ${GUNICORN_WORKERS:-} || ${GUNICORN_WORKERS} == auto ]]; then
    workers=$(( $(nproc) * 2 + 1 ))
    GUNICORN_WORKERS=$(( workers > 16 ? 16 : workers ))
    echo "auto workers: nproc says $(nproc), starting ${GUNICORN_WORKERS}"
fi
options=(--workers "${GUNICORN_WORKERS}" --timeout "${GUNICORN_TIMEOUT:-600}"
         --max-requests "${GUNICORN_MAX_REQUESTS:-100000}"
         --max-requests-jitter "${GUNICORN_MAX_REQUESTS_JITTER:-100}")
[[ ${GUNICORN_PRELOAD_APP:-true} == true ]] && options+=(--preload)
exec gunicorn -c gunicorn.config.py --worker-class uvicorn_worker.UvicornWorker "${options[@]}" \
    mcpgateway.main:app
