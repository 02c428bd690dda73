#!/usr/bin/env bash
# Creates/updates the project's virtual environment with everything ivosw-bench needs.
# davisinteractive 1.0.4 needs special handling (see ../shared/DAVISINTERACTIVE.md and README):
#   * its setup.py imports numpy and Cython, so they come first and the build runs without isolation;
#   * it pins scikit-learn==0.20.3 (does not build on Python 3.11), so it is installed with --no-deps
#     and its real runtime needs come from setup.cfg with modern versions;
#   * its Cython extension must be built against numpy 2, hence --no-cache-dir.
# torch/torchvision are the releases that lie on this machine's disk (pip's local index).
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
echo "[install] build tools (setuptools, wheel, numpy>=2, cython>=3)"
"${PIP[@]}" install "setuptools>=68" wheel "numpy>=2" "cython>=3"
echo "[install] torch==2.14.1 torchvision==0.29.1 (local wheels)"
"${PIP[@]}" install torch==2.14.1 torchvision==0.29.1
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('davisinteractive') == '1.0.4'" 2>/dev/null; then
  echo "[install] davisinteractive==1.0.4 (no build isolation, no deps)"
  "${PIP[@]}" install --no-build-isolation --no-deps --no-cache-dir davisinteractive==1.0.4
fi
echo "[install] benchmark server: starlette, uvicorn (ivosw-bench serve; setup.cfg extra 'server')"
"${PIP[@]}" install "starlette>=0.40" "uvicorn>=0.30"
if ! "$VENV/bin/python" -c "import sam2" 2>/dev/null; then
  echo "[install] sam2 (SAM 2 adapter; CPU build, torch kept at 2.14.1)"
  SAM2_BUILD_CUDA=0 "${PIP[@]}" install --no-build-isolation "sam2>=1.1" torch==2.14.1 torchvision==0.29.1 \
    || echo "[install] sam2 could not be installed: the sam2 backend will report it as missing"
fi
echo "[install] ivosw-bench (editable) and its runtime/test dependencies (+ Ray for --executor ray)"
"${PIP[@]}" install --no-build-isolation -e ".[test,ray]"
echo "[install] done: $("$VENV/bin/python" -c 'import ivosw_bench; print("ivosw_bench", ivosw_bench.__version__)')"
