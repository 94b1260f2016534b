"""Throughput and memory of OGPO on this CPU (or, with ``--device cuda``, a GPU).

    python benchmarks/throughput.py [--threads 2] [--repeats 5] [--skip-memory] [--device cpu|cuda]

Reports: the machine's matmul peak (8192x512 @ 512x512, fp32 and bf16); for the paper's sizes and
the CPU preset, the time of one actor update and one critic update (fp32 and bf16 autocast) with the
actor update's achieved GFLOP/s; env steps/s of full training (UTD 1) on AdroitHandDoor-v1; and the
peak RSS of a model with a filled 1M-transition replay buffer on Adroit-sized observations. ``--device cuda``
times the same updates on a GPU (synchronizing before each clock read) and reports peak GPU memory instead of
the matmul peak and RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections import defaultdict

import gymnasium as gym
import numpy as np
import torch as th

import sb3_ogpo  # noqa: F401
from sb3_ogpo import OGPO
from sb3_ogpo.ogpo.policies import EnsembleLinear
from sb3_ogpo.zoo.presets import load_preset

ENV_ID = "AdroitHandDoor-v1"
SIZE_KEYS = ("batch_size", "n_group", "n_critics", "denoising_steps", "chunk_size")
# preset name -> (YAML entry, config): the entry's network and batch sizes, timed on Door.
PRESET_ENTRIES = {
    "paper": ("AdroitHandDoor-v1", "paper"),  # the released Adroit settings (K = 3, h = 4)
    "paper-K10": ("RobomimicNutAssemblySquare-v0", "paper"),  # the released Square settings (K = 10)
    "cpu": ("AdroitHandDoor-v1", None),  # hyperparams/ogpo.yml's Adroit entries
    "cpu-paper-actor": ("AdroitHandHammer-v1", None),  # its Hammer / Relocate / Pen entries (4 x 512 actor)
    "cpu-K10": ("RobomimicLift-v0", None),  # its Robomimic / Kitchen entries (K = 10, 32 x 16 chains)
}


def preset_sizes(name: str) -> dict:
    """The sizes (and network widths) of a YAML entry, without its env-specific settings."""
    entry, config = PRESET_ENTRIES[name]
    kwargs = load_preset(entry, config).kwargs
    policy_kwargs = kwargs.get("policy_kwargs", {})
    return {**{key: kwargs[key] for key in SIZE_KEYS if key in kwargs},
            "policy_kwargs": {key: policy_kwargs[key] for key in ("actor_net_arch", "critic_net_arch") if key in policy_kwargs}}


PRESETS = {name: preset_sizes(name) for name in PRESET_ENTRIES}


def matmul_gflops(dtype: th.dtype, repeats: int = 20) -> float:
    a, b = th.randn(8192, 512, dtype=dtype), th.randn(512, 512, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 8192 * 512 * 512 * repeats / (time.perf_counter() - start) / 1e9


def mlp_flops_per_row(module: th.nn.Module) -> int:
    """Forward multiply-add FLOPs per input row of a (possibly ensembled) MLP."""
    total = 0
    for layer in module.modules():
        if isinstance(layer, th.nn.Linear):
            total += 2 * layer.in_features * layer.out_features
        elif isinstance(layer, EnsembleLinear):
            total += 2 * layer.weight.numel()
    return total


def actor_update_flops(model: OGPO) -> float:
    policy, rows = model.policy, model.batch_size * model.n_group
    k = policy.sampler.n_steps
    actor = mlp_flops_per_row(policy.actor)
    sampling = k * rows * actor  # K forward passes of the EMA actor
    log_prob = 3 * k * rows * actor  # one batched forward + backward (~2x) of the actor
    scoring = rows * mlp_flops_per_row(policy.critic_target)  # all M members
    return sampling + log_prob + scoring


def synchronized_clock(device: th.device) -> float:
    """``time.perf_counter()`` after the device's queued work has finished."""
    if device.type == "cuda":
        th.cuda.synchronize(device)
    return time.perf_counter()


def time_updates(preset: str, bf16: bool, repeats: int, device: str = "cpu") -> dict[str, float]:
    model = OGPO("MlpPolicy", ENV_ID, learning_starts=10**9, buffer_size=5000, bf16=bf16, seed=0, device=device,
                 **PRESETS[preset])
    model.learn(max(300, model.batch_size + 10))  # fills the buffer without updating
    metrics: dict[str, list[float]] = defaultdict(list)
    results = {}
    for name, step in (("actor", lambda: model._actor_step(model.batch_size, 0.01, metrics)),
                       ("critic", lambda: model._critic_step(model.batch_size, metrics))):
        step()
        times = []
        for _ in range(repeats):
            start = synchronized_clock(model.device)
            step()
            times.append(synchronized_clock(model.device) - start)
        results[name] = statistics.median(times)
    results["actor_gflops"] = actor_update_flops(model) / results["actor"] / 1e9
    return results


def time_actor_update_by_advantage(preset: str, bf16: bool, repeats: int) -> list[tuple[str, float, float]]:
    """(advantage, seconds per actor update, fraction of chains with a non-zero advantage) for the vanilla and the
    conservative advantage on the same model and replay data. Chains with a zero advantage skip the log-prob
    pass, so the conservative advantage's update is cheaper by about the fraction it zeroes (here measured with
    critics trained for a few hundred steps on random-policy data; in a run the fraction is logged as
    ``train/advantage_nonzero``)."""
    model = OGPO("MlpPolicy", ENV_ID, learning_starts=64, buffer_size=5000, bf16=bf16, seed=0, actor_utd=0,
                 **PRESETS[preset])
    model.learn(400)  # critics take ~340 steps on the collected data
    rows = []
    for advantage in ("vanilla", "conservative"):
        model.advantage = advantage
        metrics: dict[str, list[float]] = defaultdict(list)
        model._actor_step(model.batch_size, 0.01, metrics)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model._actor_step(model.batch_size, 0.01, metrics)
            times.append(time.perf_counter() - start)
        rows.append((advantage, statistics.median(times), float(np.mean(metrics["advantage_nonzero"]))))
    return rows


def training_steps_per_second(preset: str, bf16: bool, steps: int = 300, device: str = "cpu") -> float:
    model = OGPO("MlpPolicy", gym.make(ENV_ID), buffer_size=10_000, bf16=bf16, seed=0, device=device, **PRESETS[preset])
    model.learning_starts = model.batch_size
    model.learn(model.batch_size + 5)  # fills a batch and warms up
    start = synchronized_clock(model.device)
    model.learn(steps, reset_num_timesteps=False)
    return steps / (synchronized_clock(model.device) - start)


def peak_memory_with_full_buffer() -> float:
    model = OGPO("MlpPolicy", ENV_ID, buffer_size=1_000_000, learning_starts=0, seed=0, **PRESETS["cpu"])
    buffer = model.replay_buffer
    rng = np.random.default_rng(0)
    for storage in (buffer.observations, buffer.next_observations):
        for array in storage.values():
            array[:] = rng.standard_normal(array.shape[1:], dtype=np.float32)  # touch every page
    buffer.actions[:] = 0.1
    buffer.rewards[:] = 1.0
    buffer.full = True
    metrics: dict[str, list[float]] = defaultdict(list)
    model._actor_step(model.batch_size, 0.01, metrics)
    model._critic_step(model.batch_size, metrics)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the --by-advantage timing stays on the CPU)")
    parser.add_argument("--by-advantage", action="store_true",
                        help="only time the actor update with the vanilla and the conservative advantage (bf16)")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    print(f"torch {th.__version__}, {args.threads} threads, device {th.cuda.get_device_name() if cuda else 'cpu'}")
    if args.by_advantage:
        print("| preset | advantage | actor update (s) | chains with a non-zero advantage |")
        print("|---|---|---|---|")
        for preset in args.presets:
            for advantage, seconds, nonzero in time_actor_update_by_advantage(preset, True, args.repeats):
                print(f"| {preset} | {advantage} | {seconds:.3f} | {nonzero:.2f} |", flush=True)
        return
    if not cuda:
        print(f"matmul 8192x512 @ 512x512: fp32 {matmul_gflops(th.float32):.0f} GFLOP/s, bf16 {matmul_gflops(th.bfloat16):.0f} GFLOP/s")
    print("| preset | dtype | actor update (s) | actor GFLOP/s | critic update (s) | training env steps/s |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets:
        for bf16 in (False, True):
            if cuda:
                th.cuda.reset_peak_memory_stats()
            result = time_updates(preset, bf16, args.repeats, args.device)
            steps = 200 if cuda or not preset.startswith("paper") else 20
            sps = training_steps_per_second(preset, bf16, steps, args.device)
            print(f"| {preset} | {'bf16' if bf16 else 'fp32'} | {result['actor']:.3f} | {result['actor_gflops']:.0f} | "
                  f"{result['critic']:.3f} | {sps:.1f} |", flush=True)
            if cuda:
                print(f"  peak GPU memory of the {preset} {'bf16' if bf16 else 'fp32'} timing: "
                      f"{th.cuda.max_memory_allocated() / 1024**3:.2f} GiB", flush=True)
    if not args.skip_memory and not cuda:
        print(f"peak RSS with a filled 1M-transition buffer on {ENV_ID} (CPU preset): {peak_memory_with_full_buffer():.2f} GiB")


if __name__ == "__main__":
    main()
