#!/usr/bin/env bash
# Install sb3_ogpo with everything its task families, RL Zoo and the tests need, into the active
# Python environment. Usage: bash install.sh [--regular]   (default: editable install)
set -euo pipefail
cd "$(dirname "$0")"
# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
python -m pip install "torch==2.13.0"
mode=(-e)
[ "${1:-}" = "--regular" ] && mode=()
python -m pip install "${mode[@]}" ".[tasks,robosuite,zoo,tests]"
# robosuite 1.5.2's metadata pins mink==0.0.5, which needs numpy<2 (minari needs numpy>=2); mink is
# only used by robosuite's whole-body IK for humanoids, so robosuite goes in without its pins.
python -m pip install --no-deps "robosuite==1.5.2"
