#!/usr/bin/env bash
# The GPU check (issue 17): install what a CUDA machine's image lacks from carried wheels, run the
# tests marked gpu and the CUDA benchmarks, and write every log and JSON under OUT. One call, well
# under 8 minutes on one H200 with 16 CPU cores, the installs and the data generation included.
#
# Usage, from the repository root:
#   OUT=DIR bash scripts/gpu_check.sh
#     KWS_WHEELS=DIR       wheels installed first, into /tmp/kws_site (default .whl; none: skipped)
#     KWS_GPU_CHECK_DRY=1  on the CPU at tiny sizes: checks the script end to end without a GPU
#
# Writes into OUT (at most 8 files): log.txt (everything printed), frontend.json,
# train_batch256.json and train_batch100.json (the benchmarks' reports; every epoch is timed
# again compiled with torch.compile's cudagraphs backend, as train.py compile={backend:cudagraphs}
# compiles), nvidia_smi.csv (GPU utilisation every 100 ms while the training benchmarks run) and
# profile.txt (the kernels of a few training steps and the share of their wall time that kernels
# cover).
set -uo pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
start=$SECONDS
stamp() { echo "=== [$(date +%T), +$((SECONDS - start)) s] $*"; }
failures=()
check() {  # run a step; a failing step is reported at the end and the others still run
    local name=$1
    shift
    stamp "$name"
    "$@" || failures+=("$name (exit $?)")
}

main() {
if [[ ${KWS_GPU_CHECK_DRY:-0} == 1 ]]; then
    device=cpu frontend_sizes=(--batch 4 --n-fft 480 --repeats 2)
    train_sizes=(--steps 1 --rounds 1 --epoch-clips 64) batches=(16) profile_batch=8
else
    device=cuda frontend_sizes=(--batch 256 --repeats 15)
    train_sizes=() batches=(256 100) profile_batch=256
fi

wheels=${KWS_WHEELS:-.whl}
if compgen -G "$wheels/*.whl" >/dev/null; then
    stamp "installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/kws_site "$wheels"/*.whl || return 1
    export PYTHONPATH=/tmp/kws_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

stamp "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
nproc
python3 - <<'EOF'
import importlib.metadata as md
import sys

import torch

print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version())
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
for name in ("torchaudio", "nnAudio", "librosa", "numba", "numpy", "pytorch-lightning",
             "hydra-core", "soundfile", "nvidia-ml-py"):
    try:
        print(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name} not installed")
EOF

check "pytest -m gpu" python3 -m pytest -m gpu -p no:cacheprovider -q -rs \
    --continue-on-collection-errors

stamp "conv path on CUDA: error against the CPU with cuDNN's TF32 (torch's default) and without"
python3 - <<EOF || failures+=("TF32 comparison")
import torch

from kws.frontend import MelSpectrogram

device = "$device"
t = torch.arange(16000) / 16000
x = (0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.01 * torch.randn(4, 16000)).float()
layer = MelSpectrogram(trainable_stft=True, trainable_mel=True, log=None)
reference = layer(x)
for tf32 in (True, False):
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=tf32):
        out = layer.to(device)(x.to(device)).cpu()
    layer.cpu()
    error = (out - reference).abs()
    print(f"allow_tf32={tf32}: largest error {error.max():.3g}, relative to the largest value "
          f"{error.max() / reference.abs().max():.3g}, largest elementwise relative error "
          f"{(error / reference.abs().clamp(min=1e-4)).max():.3g}")
EOF

check "frontend benchmark" python3 -m kws.benchmark frontend --device "$device" \
    "${frontend_sizes[@]}" --json "$OUT/frontend.json"

smi_pid=
if command -v nvidia-smi >/dev/null && [[ $device == cuda ]]; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,clocks.sm --format=csv -lms 100 \
        >"$OUT/nvidia_smi.csv" &
    smi_pid=$!
fi
for batch in "${batches[@]}"; do
    check "train benchmark, batch $batch" python3 -m kws.benchmark train --device "$device" \
        --batch "$batch" "${train_sizes[@]}" --compile backend=cudagraphs \
        --json "$OUT/train_batch$batch.json"
done
[[ -n $smi_pid ]] && kill "$smi_pid"

stamp "profile of BC-ResNet-1 training steps (float32, batch $profile_batch, data on the device)"
python3 - <<EOF 2>&1 | tee "$OUT/profile.txt" || failures+=("profile")
import torch
from torch.profiler import ProfilerActivity, profile

from kws.benchmark.training import _training_step
from kws.data.augment import Augmentation
from kws.frontend import MelSpectrogram
from kws.models import BCResNet, KeywordSpotter

device, batch, steps = torch.device("$device"), $profile_batch, 20
torch.manual_seed(0)
split = torch.randint(-3000, 3000, (4 * batch, 16000), dtype=torch.int16, device=device)
labels = torch.randint(0, 12, (4 * batch,), device=device)
noise = 0.1 * torch.randn(4, 160000, device=device)
augment = Augmentation()
model = KeywordSpotter(MelSpectrogram(trainable_mel=True), BCResNet(1.0, 12)).to(device)
train = _training_step(model, "32", device)


def step() -> None:  # as the epoch with data.on_device=true: gather, float, augment, train
    rows = torch.randint(0, len(labels), (batch,), device=device)
    waveforms = split.index_select(0, rows).float() / 32768.0
    train((augment(waveforms, noise, None), labels.index_select(0, rows)))


for _ in range(5):
    step()
if device.type == "cuda":
    torch.cuda.synchronize()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(steps):
        step()
    end.record()
    torch.cuda.synchronize()
    print(f"{steps} steps unprofiled: {begin.elapsed_time(end) / steps:.2f} ms a step")
activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
with profile(activities=activities) as trace:
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
events = trace.events()
kernels = sorted(
    (e.time_range.start, e.time_range.end) for e in events if e.device_type.name == "CUDA"
)
if kernels:
    # wall: from the first step's first call on the host to the last kernel's end
    host = [e.time_range.start for e in events if e.device_type.name == "CPU"]
    wall_begin, wall_end = min(host), max(end for _, end in kernels)
    covered, reach = 0.0, wall_begin
    for kernel_start, kernel_end in kernels:
        if kernel_end > reach:
            covered += kernel_end - max(kernel_start, reach)
            reach = kernel_end
    print(f"profiled {steps} steps: {len(kernels) / steps:.0f} GPU activities a step, "
          f"{(wall_end - wall_begin) / 1e3 / steps:.2f} ms a step under the profiler, kernels "
          f"cover {100 * covered / (wall_end - wall_begin):.1f}% of that wall time")
sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
print(trace.key_averages().table(sort_by=sort, row_limit=30, max_name_column_width=60))
EOF

stamp "done in $((SECONDS - start)) s; files in $OUT:"
ls -l "$OUT"
if ((${#failures[@]})); then
    printf 'FAILED: %s\n' "${failures[@]}"
    return 1
fi
echo "every step passed"
}

main 2>&1 | tee "$OUT/log.txt"
