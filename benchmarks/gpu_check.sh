#!/usr/bin/env bash
# GPU check of the third-party adapters (MANet, ATNet, IPN, SAM 2) on a machine with CUDA: each
# available adapter runs 2 rounds on one davis16-train sequence with the checkouts' own CUDA code (no
# CPU stand-ins), with your weights where set and otherwise random weights of the right architecture
# (MANet, ATNet; plumbing only, said in the output). Prints seconds per round, peak GPU memory and J&F
# per adapter; stops after IVOSW_GPU_CHECK_LIMIT seconds (default 290, under 5 minutes). No network:
# checkouts, weights and data are local paths.
#
#   IVOSW_MANET_ROOT=~/src/CVPR2020_MANet IVOSW_ATNET_ROOT=~/src/IVOS-ATNet benchmarks/gpu_check.sh [SEQUENCE]
#
# Checkouts may also sit in upstream/CVPR2020_MANet and upstream/IVOS-ATNet of this working tree
# (git-ignored). Data: --dataset PATH after the sequence, or IVOSW_GPU_CHECK_DATASET (default:
# ../shared/data/davis16-train). PYTHON overrides the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
LIMIT=${IVOSW_GPU_CHECK_LIMIT:-290}
SEQUENCE=${1:-dog-agility}
shift || true
exec timeout --signal=INT --kill-after=10 "$LIMIT" "$PY" benchmarks/gpu_check.py --sequence "$SEQUENCE" \
  --rounds "${ROUNDS:-2}" "$@"
