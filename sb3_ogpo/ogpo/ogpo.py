"""OGPO: Off-Policy Generative Policy Optimization (Patil et al., ICML 2026).

An ensemble of critics learns off-policy from every real transition with chunked TD targets, and the
whole flow policy is improved with a clipped-PPO objective over its own imagined denoising chains
for replay states, with the target critics' value of the final action as the only reward:

1. sample ``batch_size`` replay states and ``n_group`` chains per state from the EMA actor (pi_old);
2. score each final chunk with the target critics and take group-relative advantages;
3. maximise ``min(w A, clip(w, 1 - eps, 1 + eps) A)`` with ``w`` the ratio of normalized chain
   log-probs of the current and the EMA actor;
4. one TD step of the critic ensemble towards ``sum_j gamma^j r_{t+j} + gamma^h Qbar(s_{t+h}, a')``.

Stabilizers: success-buffer BC (OGPO+, ``success_bc_coef``), sign-consensus advantage (OGPO+CA,
``advantage="conservative"``), chi-squared regularization (``chi2``), Q-variance reduction
(``n_target_samples``) and Best-of-N rollouts (``best_of_n``).
"""

from __future__ import annotations

import io
import pathlib
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, Optional, TypeVar, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.logger import configure
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.utils import FloatSchedule, polyak_update, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from tqdm.auto import tqdm

from sb3_ogpo.common.buffers import ChunkReplayBuffer
from sb3_ogpo.common.demos import Demonstrations
from sb3_ogpo.common.env_ids import check_registered_env_id
from sb3_ogpo.common.evaluation import episode_succeeded
from sb3_ogpo.common.tensors import obs_to_device
from sb3_ogpo.ogpo.losses import (
    ADVANTAGE_STRATEGIES,
    SAMPLE_REDUCERS,
    TARGET_AGGREGATIONS,
    best_of_n_choice,
    chi2_advantage,
    chunk_targets,
    chunked_td_target,
    clipped_surrogate_loss,
    group_advantage,
    warm_restart_factor,
)
from sb3_ogpo.ogpo.policies import MlpPolicy, MultiInputPolicy, OGPOPolicy

SelfOGPO = TypeVar("SelfOGPO", bound="OGPO")

class OGPO(OffPolicyAlgorithm):
    """Off-Policy Generative Policy Optimization for flow policies with action chunks.

    :param policy: "MlpPolicy" (Box observations) or "MultiInputPolicy" (Dict observations).
    :param env: the env (Box actions only; any ``n_envs >= 1``).
    :param learning_rate: actor learning rate (float or schedule; paper 4.5e-5), the peak of the warm
        restarts below.
    :param actor_lr_restart_period: actor steps per cosine warm restart of the actor learning rate
        (released code: 50k); 0 keeps ``learning_rate`` as given.
    :param actor_lr_warmup_steps: actor steps of linear warm-up at the start of each restart period (2k).
    :param actor_lr_floor_ratio: the learning rate at the start and end of each period, as a fraction of
        ``learning_rate`` (released code: 2e-5 / 4.5e-5).
    :param reset_optimizers: create both optimizers afresh (and restart the actor's learning-rate
        schedule) when online training starts, and the actor's again when the policy-gradient term joins
        (the released code's behaviour: Adam's moments from BC-sized gradients are not carried over).
    :param critic_learning_rate: critic learning rate (float or schedule); None uses ``learning_rate``.
    :param buffer_size: replay buffer capacity in transitions.
    :param learning_starts: env steps collected by the (BC) flow policy before updates start (paper 10k).
    :param batch_size: N_batch, replay states per actor step and transitions per critic step (256).
    :param critic_batch_size: transitions per critic step; None uses ``batch_size``. Critic steps are
        cheap next to actor steps, so a CPU preset can shrink N_batch and keep a large critic batch.
    :param tau_actor: Polyak rate of the EMA actor that samples rollouts, targets and pi_old (0.005).
    :param tau_critic: Polyak rate of the target critics (0.05).
    :param gamma: discount factor (0.99; 0.95 for Adroit).
    :param train_freq: collect this many steps between updates (SB3 semantics).
    :param gradient_steps: update rounds per ``train`` call; -1 means one per env step collected.
    :param actor_utd: actor steps per update round (update-to-data ratio of the actor); 0 switches the
        policy update off (critics still learn), a useful control run.
    :param critic_utd: critic steps per update round (update-to-data ratio of the critics); 0 freezes the
        critics at their random initialization (a control: a consistent but uninformative push).
    :param critic_warmup_steps: update rounds (after ``learning_starts``) in which only the critics
        learn, so that the first policy updates follow a trained critic rather than a random one (the
        released code's ``q_warmup_steps``; 0 in the paper's scripts).
    :param policy_gradient_starts: update rounds (after ``learning_starts``) in which the actor learns from
        the success-buffer BC term alone; the clipped policy-gradient term joins after. Early critics
        rank a group's chunks no better than chance (docs/benchmarks.md, ``benchmarks/critic_ranking.py``)
        and the policy follows their systematic errors; imitating its own successes meanwhile is cheap
        (no chains are sampled) and did not collapse. Needs ``success_bc_coef > 0`` to move the actor (0: the paper's setting).
    :param denoising_steps: K, denoising steps of the flow (10; 3 for Adroit).
    :param sde_sigma: per-step noise std of the stochastic sampler (0.05).
    :param marginal_correction: "consistent" (c = 1, keeps the ODE marginals), "released" (c = 1/K,
        the released code) or "none".
    :param chunk_size: h, actions per chunk executed open-loop (4 for most tasks; 1 disables chunking).
    :param n_group: N_group, chains sampled per state for the group advantage (32).
    :param clip_range: PPO clip epsilon of the ratio (0.01; float or schedule).
    :param n_critics: M, size of the critic ensemble (10).
    :param target_q_aggregation: "mean" (paper) or "min" over ensemble members in TD targets.
    :param success_bc_coef: lambda_bc of the success-buffer flow-matching BC loss (OGPO+: 1.0; 0 off).
    :param success_buffer_size: capacity of the success buffer in transitions.
    :param success_buffer_min_size: the success BC term samples the success buffer once it holds this many
        transitions, and the ordinary replay batch before (the spec's "until it holds enough data"); None: one
        batch. A larger value avoids cloning a handful of successful episodes for thousands of updates, at the
        price of cloning the policy's own failures meanwhile (neither raised Hammer's 0.09 start, see
        docs/benchmarks.md).
    :param advantage: "vanilla" or "conservative" (sign-consensus; OGPO+CA).
    :param chi2: enable chi-squared regularization against a slow EMA of the actor.
    :param chi2_coef: beta per unit of ensemble Q std for chi-squared regularization.
    :param chi2_alpha: sharpness of the mean/min blend ``sigmoid(alpha (r - 1))``.
    :param chi2_max_ratio: R_max in the ratio's upper clip ``min(1 + eps, 1 + R_max / beta)``.
    :param slow_tau: Polyak rate of the slow EMA actor (5e-4).
    :param n_target_samples: G', next-action samples averaged in the TD bootstrap (1 = off; paper 8).
    :param target_sample_reducer: "mean", "median" or "trimmed_mean" over the G' samples per member.
    :param best_of_n: N of Best-of-N rollouts: N SDE samples, execute the argmax of the min over two
        random target critics (1 = plain OGPO; released scripts use 8).
    :param max_grad_norm: gradient-norm clip of both optimizers (released code: 1000, in effect none).
    :param actor_weight_decay: AdamW weight decay of the actor.
    :param critic_weight_decay: AdamW weight decay of the critics (1e-5).
    :param init_policy: start from a saved OGPO model (path to a zip) or from a task's clipped BC
        start (``"start:<env id>"``, generated and cached on first use by :mod:`sb3_ogpo.starts`).
        The actor weights (and EMA/slow copies) are copied; critics start fresh.
    :param bf16: run the actor's and critics' matmuls under bfloat16 autocast (CPU/CUDA); the
        Gaussian log-prob arithmetic stays in float32.
    :param policy_kwargs: passed to the policy (``actor_net_arch``, ``critic_net_arch``, ...).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: OGPOPolicy
    replay_buffer: ChunkReplayBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: Union[str, type[OGPOPolicy]],
        env: Union[GymEnv, str],
        learning_rate: Union[float, Schedule] = 4.5e-5,
        actor_lr_restart_period: int = 50_000,
        actor_lr_warmup_steps: int = 2_000,
        actor_lr_floor_ratio: float = 2e-5 / 4.5e-5,
        reset_optimizers: bool = True,
        critic_learning_rate: Optional[Union[float, Schedule]] = None,
        buffer_size: int = 1_000_000,
        learning_starts: int = 10_000,
        batch_size: int = 256,
        critic_batch_size: Optional[int] = None,
        tau_actor: float = 0.005,
        tau_critic: float = 0.05,
        gamma: float = 0.99,
        train_freq: Union[int, tuple[int, str]] = 1,
        gradient_steps: int = 1,
        actor_utd: int = 1,
        critic_utd: int = 1,
        critic_warmup_steps: int = 0,
        policy_gradient_starts: int = 0,
        denoising_steps: int = 10,
        sde_sigma: float = 0.05,
        marginal_correction: str = "consistent",
        chunk_size: int = 4,
        n_group: int = 32,
        clip_range: Union[float, Schedule] = 0.01,
        n_critics: int = 10,
        target_q_aggregation: str = "mean",
        success_bc_coef: float = 0.0,
        success_buffer_size: int = 200_000,
        success_buffer_min_size: Optional[int] = None,
        advantage: str = "vanilla",
        chi2: bool = False,
        chi2_coef: float = 1.0,
        chi2_alpha: float = 10.0,
        chi2_max_ratio: float = 0.1,
        slow_tau: float = 5e-4,
        n_target_samples: int = 1,
        target_sample_reducer: str = "mean",
        best_of_n: int = 1,
        max_grad_norm: float = 1000.0,
        actor_weight_decay: float = 0.0,
        critic_weight_decay: float = 1e-5,
        init_policy: Optional[str] = None,
        bf16: bool = False,
        replay_buffer_kwargs: Optional[dict[str, Any]] = None,
        policy_kwargs: Optional[dict[str, Any]] = None,
        stats_window_size: int = 100,
        tensorboard_log: Optional[str] = None,
        verbose: int = 0,
        seed: Optional[int] = None,
        device: Union[th.device, str] = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        _check_positive_int(denoising_steps=denoising_steps, n_group=n_group, n_critics=n_critics,
                            chunk_size=chunk_size,
                            n_target_samples=n_target_samples, best_of_n=best_of_n, batch_size=batch_size)
        if success_buffer_min_size is not None:
            _check_positive_int(success_buffer_min_size=success_buffer_min_size)
        if not isinstance(actor_utd, (int, np.integer)) or actor_utd < 0:
            raise ValueError(f"actor_utd must be a non-negative integer (0 switches the policy update off), got {actor_utd!r}.")
        for name, value in (("critic_warmup_steps", critic_warmup_steps), ("policy_gradient_starts", policy_gradient_starts),
                            ("critic_utd", critic_utd), ("actor_lr_restart_period", actor_lr_restart_period),
                            ("actor_lr_warmup_steps", actor_lr_warmup_steps)):
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        _check_unit_interval(gamma=gamma, tau_actor=tau_actor, tau_critic=tau_critic, slow_tau=slow_tau)
        _check_non_negative(success_bc_coef=success_bc_coef, chi2_coef=chi2_coef, actor_weight_decay=actor_weight_decay,
                            critic_weight_decay=critic_weight_decay)
        _check_clip_range(clip_range)
        if not 0.0 <= actor_lr_floor_ratio <= 1.0:
            raise ValueError(f"actor_lr_floor_ratio must be in [0, 1], got {actor_lr_floor_ratio!r}.")
        if actor_lr_restart_period and actor_lr_warmup_steps >= actor_lr_restart_period:
            raise ValueError(f"actor_lr_warmup_steps ({actor_lr_warmup_steps}) must be shorter than "
                             f"actor_lr_restart_period ({actor_lr_restart_period}).")
        if not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm!r}.")
        if n_group < 2:
            raise ValueError(f"n_group must be >= 2: group advantages of a single chain are always 0 (got {n_group}).")
        if advantage not in ADVANTAGE_STRATEGIES:
            raise ValueError(f"advantage must be one of {ADVANTAGE_STRATEGIES}, got {advantage!r}.")
        if target_q_aggregation not in TARGET_AGGREGATIONS:
            raise ValueError(f"target_q_aggregation must be one of {TARGET_AGGREGATIONS}, got {target_q_aggregation!r}.")
        if target_sample_reducer not in SAMPLE_REDUCERS:
            raise ValueError(f"target_sample_reducer must be one of {SAMPLE_REDUCERS}, got {target_sample_reducer!r}.")
        if best_of_n > 1 and n_critics < 2:
            raise ValueError("best_of_n > 1 scores samples with the min over two critics: use n_critics >= 2.")
        if isinstance(env, str):
            check_registered_env_id(env)
        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs.update(
            chunk_size=chunk_size,
            denoising_steps=denoising_steps,
            sde_sigma=sde_sigma,
            marginal_correction=marginal_correction,
            n_critics=n_critics,
        )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau_critic,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=ChunkReplayBuffer,
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Box,),
            support_multi_env=True,
        )
        self.critic_learning_rate = critic_learning_rate
        self.actor_lr_restart_period = actor_lr_restart_period
        self.actor_lr_warmup_steps = actor_lr_warmup_steps
        self.actor_lr_floor_ratio = actor_lr_floor_ratio
        self.reset_optimizers = reset_optimizers
        self._actor_steps_since_reset = 0
        self.tau_actor = tau_actor
        self.tau_critic = tau_critic
        self.actor_utd = actor_utd
        self.critic_utd = critic_utd
        self.critic_warmup_steps = critic_warmup_steps
        self.policy_gradient_starts = policy_gradient_starts
        self.critic_batch_size = critic_batch_size
        self.chunk_size = chunk_size
        self.n_group = n_group
        self.clip_range = clip_range
        self.target_q_aggregation = target_q_aggregation
        self.success_bc_coef = success_bc_coef
        self.success_buffer_size = success_buffer_size
        self.success_buffer_min_size = success_buffer_min_size
        self.advantage = advantage
        self.chi2 = chi2
        self.chi2_coef = chi2_coef
        self.chi2_alpha = chi2_alpha
        self.chi2_max_ratio = chi2_max_ratio
        self.slow_tau = slow_tau
        self.n_target_samples = n_target_samples
        self.target_sample_reducer = target_sample_reducer
        self.best_of_n = best_of_n
        self.max_grad_norm = max_grad_norm
        self.actor_weight_decay = actor_weight_decay
        self.critic_weight_decay = critic_weight_decay
        self.init_policy = init_policy
        self.bf16 = bf16
        self._check_env_compatibility()
        if _init_setup_model:
            self._setup_model()
            if init_policy is not None:
                self.load_init_policy(init_policy)

    # ----- setup ------------------------------------------------------------------------------
    def _check_env_compatibility(self) -> None:
        """Checks that need the env (skipped when loading without one). SB3 already rejects
        non-Box and unbounded action spaces."""
        if self.env is None:
            return
        if self.chunk_size > self.buffer_size:
            raise ValueError(f"chunk_size h = {self.chunk_size} is larger than the buffer ({self.buffer_size}).")
        max_steps = _max_episode_steps(self.env)
        if max_steps is not None and self.chunk_size > max_steps:
            raise ValueError(
                f"chunk_size h = {self.chunk_size} is longer than the env's episodes ({max_steps} steps): "
                "a chunk would never be executed in full. Use a chunk size of at most the horizon (typically 1-8)."
            )

    def _setup_model(self) -> None:
        self.replay_buffer_kwargs = {
            **self.replay_buffer_kwargs,
            "chunk_size": self.chunk_size,
            "gamma": self.gamma,
            "success_buffer_size": self.success_buffer_size if self.success_bc_coef > 0 else 0,
        }
        if self.optimize_memory_usage:
            raise ValueError("OGPO's chunk replay buffer does not support optimize_memory_usage.")
        super()._setup_model()
        critic_lr = self.learning_rate if self.critic_learning_rate is None else self.critic_learning_rate
        self.critic_lr_schedule = FloatSchedule(critic_lr)
        self._create_optimizers(actor=True, critic=True)
        self.clip_range_schedule = FloatSchedule(self.clip_range)
        self._reset_rollout_chunks()

    def _create_optimizers(self, actor: bool, critic: bool) -> None:
        """(Re)create the actor's and/or the critics' AdamW optimizer; a fresh actor optimizer also
        restarts the actor's learning-rate warm restarts."""
        if actor:
            self.policy.optimizer = self.policy.optimizer_class(
                self.policy.actor.parameters(), lr=self.lr_schedule(1), weight_decay=self.actor_weight_decay
            )
            self._actor_steps_since_reset = 0
        if critic:
            self.critic_optimizer = th.optim.AdamW(
                self.policy.critic.parameters(), lr=self.critic_lr_schedule(1), weight_decay=self.critic_weight_decay
            )

    def _reset_rollout_chunks(self) -> None:
        action_dim = self.policy.action_dim
        self._rollout_chunks = np.zeros((self.n_envs, self.chunk_size, action_dim), dtype=np.float32)
        self._rollout_chunk_index = np.full(self.n_envs, self.chunk_size)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rollout_chunks", "_rollout_chunk_index"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "critic_optimizer"], []

    def load_replay_buffer(self, path: Union[str, pathlib.Path, io.BufferedIOBase], truncate_last_traj: bool = True) -> None:
        """Load a replay buffer saved by :meth:`save_replay_buffer`, with its success buffer and episode bookkeeping.

        A buffer from a model with other spaces, number of envs, chunk size or success-buffer setting is refused
        with a ``ValueError`` naming the differences. Pending action chunks are not part of the buffer: every env
        re-plans at its next step.

        :param path: the pickled buffer.
        :param truncate_last_traj: the envs start new episodes after loading (as after ``OGPO.load``): mark each
            env's interrupted episode as timed out, so that no window runs across into the next episode. False
            keeps the buffer as saved, for continuing the very same episodes in this process.
        """
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, ChunkReplayBuffer):
            raise ValueError(f"{path!r} holds a {type(buffer).__name__}, not OGPO's ChunkReplayBuffer.")
        buffer.check_compatible(self.observation_space, self.action_space, self.n_envs, self.chunk_size,
                                with_success_buffer=self.success_bc_coef > 0)
        buffer.gamma = self.gamma  # rewards are stored per step: windows use this model's discount
        for part in (buffer, buffer.success_buffer):
            if part is not None:
                part.device = self.device
        if truncate_last_traj:
            buffer.truncate_last_trajectory()
        self.replay_buffer = buffer
        self._reset_rollout_chunks()

    def load_init_policy(self, init_policy: str) -> None:
        """Copy the actor of a saved OGPO model (or of a task's clipped BC start) into this model."""
        path = init_policy
        if init_policy.startswith("start:"):
            from sb3_ogpo.starts import resolve_start

            # A start with this model's actor (e.g. the paper's 4 x 512) is made and cached on its own.
            actor = dict(chunk_size=self.chunk_size, denoising_steps=self.policy.sampler.n_steps,
                         actor_net_arch=self.policy.actor_net_arch)
            path = str(resolve_start(init_policy[len("start:") :], verbose=self.verbose, actor=actor))
        source = OGPO.load(path, device=self.device, custom_objects={"buffer_size": 1})
        if source.policy.flow_dim != self.policy.flow_dim:
            raise ValueError(
                f"init_policy {init_policy!r} has flow dimension {source.policy.flow_dim} (chunk {source.chunk_size}), "
                f"but this model needs {self.policy.flow_dim}: use the same chunk_size and action space."
            )
        try:
            self.policy.load_actor_weights(source.policy.actor.state_dict())
        except RuntimeError as error:
            raise ValueError(
                f"init_policy {init_policy!r} has a different actor architecture "
                f"({source.policy.actor_net_arch}) than this model ({self.policy.actor_net_arch}): set "
                "policy_kwargs=dict(actor_net_arch=...) to match it."
            ) from error

    # ----- collection -------------------------------------------------------------------------
    def _setup_learn(self, total_timesteps: int, callback: MaybeCallback = None, reset_num_timesteps: bool = True,
                     tb_log_name: str = "run", progress_bar: bool = False) -> tuple[int, Any]:
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if reset_num_timesteps or not hasattr(self, "_rollout_chunks"):
            self._reset_rollout_chunks()
        return result

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Next action of each env from its pending chunk; envs whose chunk is used up re-plan.

        Chunks come from the EMA actor's stochastic sampler (Best-of-N if ``best_of_n > 1``), also
        before ``learning_starts``: the (BC) flow policy collects the warm-up data.
        """
        _check_finite_observation(self._last_obs)
        replan = self._rollout_chunk_index >= self.chunk_size
        if replan.any():
            observation, _ = self.policy.obs_to_tensor(self._last_obs)
            chunks = self._exploration_chunks(observation).cpu().numpy()
            self._rollout_chunks[replan] = chunks[replan].reshape(-1, self.chunk_size, self.policy.action_dim)
            self._rollout_chunk_index[replan] = 0
        buffer_action = self._rollout_chunks[np.arange(n_envs), self._rollout_chunk_index].copy()
        self._rollout_chunk_index += 1
        return self.policy.unscale_action(buffer_action), buffer_action

    @th.no_grad()
    def _exploration_chunks(self, observation: Any) -> th.Tensor:
        policy = self.policy
        with self._autocast():
            features = policy.features(observation)
            chunks, _, _ = policy.sample_chunks(features, policy.actor_target, stochastic=True, n_samples=self.best_of_n)
            if self.best_of_n == 1:
                return chunks.float()
            q_values = policy.critic_target(features.repeat(self.best_of_n, 1), chunks)
        best = best_of_n_choice(q_values, self.best_of_n)
        return chunks.float().view(self.best_of_n, -1, policy.flow_dim)[best, th.arange(best.shape[0])]

    def _store_transition(self, replay_buffer: ReplayBuffer, buffer_action: np.ndarray, new_obs: Any,
                          reward: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        _check_finite_reward(reward)
        _check_finite_observation(new_obs)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._rollout_chunk_index[np.asarray(dones, dtype=bool)] = self.chunk_size  # new episode: re-plan

    def _update_info_buffer(self, infos: list[dict[str, Any]], dones: Optional[np.ndarray] = None) -> None:
        # Adroit reports info["success"]; SB3's rollout/success_rate reads info["is_success"].
        infos = [info if "is_success" in info or "success" not in info else {**info, "is_success": episode_succeeded(info)}
                 for info in infos]
        super()._update_info_buffer(infos, dones)

    # ----- training ---------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return th.autocast(device_type=self.device.type, dtype=th.bfloat16, enabled=self.bf16)

    def train(self, gradient_steps: int, batch_size: int = 256) -> None:
        self.policy.set_training_mode(True)
        progress = self._current_progress_remaining
        critic_lr = self.critic_lr_schedule(progress)
        clip_range = self.clip_range_schedule(progress)
        if not clip_range > 0:
            raise ValueError(f"clip_range must be > 0, but its schedule gave {clip_range!r} at progress remaining {progress:.3f}.")
        metrics: dict[str, list[float]] = defaultdict(list)
        for round_index in range(gradient_steps):
            update = self._n_updates + round_index
            if self.reset_optimizers and (update == 0 or (update == self.policy_gradient_starts and update > 0)):
                self._create_optimizers(actor=True, critic=update == 0)
            update_learning_rate(self.critic_optimizer, critic_lr)
            policy_gradient = update >= self.policy_gradient_starts
            actor_steps = 0 if update < self.critic_warmup_steps else self.actor_utd
            if not policy_gradient and self.success_bc_coef <= 0:
                actor_steps = 0  # nothing would move the actor
            for _ in range(actor_steps):
                if policy_gradient:
                    self._actor_step(batch_size, clip_range, metrics)
                else:
                    self._success_bc_step(batch_size, metrics)
            for _ in range(self.critic_utd):  # 0: frozen (random) critics, a control
                self._critic_step(self.critic_batch_size or batch_size, metrics)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self._actor_learning_rate(progress))
        self.logger.record("train/critic_learning_rate", critic_lr)
        self.logger.record("train/clip_range", clip_range)
        if self.replay_buffer.success_buffer is not None:
            self.logger.record("train/success_buffer_size", _buffer_len(self.replay_buffer.success_buffer))
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))

    def _critic_step(self, batch_size: int, metrics: dict[str, list[float]]) -> None:
        policy = self.policy
        data = self.replay_buffer.sample(batch_size)
        with th.no_grad(), self._autocast():
            next_features = policy.features(data.next_observations)
            next_chunks, _, _ = policy.sample_chunks(
                next_features, policy.actor_target, stochastic=True, n_samples=self.n_target_samples
            )
            next_q = policy.critic_target(next_features.repeat(self.n_target_samples, 1), next_chunks)
            next_q = next_q.float().view(policy.n_critics, self.n_target_samples, -1)
            target = chunked_td_target(
                data.rewards, data.discounts, next_q, self.target_sample_reducer, self.target_q_aggregation
            )
        with self._autocast():
            q_values = policy.critic(policy.features(data.observations), data.actions).float()
        squared_errors = (q_values - target.unsqueeze(0)).pow(2).mean(0)
        loss = (squared_errors * data.valid).sum() / data.valid.sum().clamp(min=1.0)
        self.critic_optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(policy.critic.parameters(), self.max_grad_norm)
        self.critic_optimizer.step()
        polyak_update(policy.critic.parameters(), policy.critic_target.parameters(), self.tau_critic)
        metrics["critic_loss"].append(loss.item())
        metrics["q_mean"].append(q_values.mean().item())
        metrics["q_ensemble_std"].append(q_values.std(0).mean().item())
        metrics["td_target_mean"].append(target.mean().item())

    def _actor_step(self, batch_size: int, clip_range: float, metrics: dict[str, list[float]]) -> None:
        policy, group = self.policy, self.n_group
        observations = self.replay_buffer.sample_observations(batch_size)
        features = policy.features(observations)
        with th.no_grad(), self._autocast():
            chunks, chains, old_log_prob = policy.sample_chunks(
                features, policy.actor_target, stochastic=True, n_samples=group, return_chain=True
            )
            chunks = chunks.float()
            q_values = policy.critic_target(features.repeat(group, 1), chunks).float().view(policy.n_critics, group, -1)
        assert chains is not None and old_log_prob is not None
        with self._autocast():
            log_prob = policy.chain_log_prob(policy.actor, features, chains.float())
        ratio = th.exp(log_prob - old_log_prob)
        clip_high = 1.0 + clip_range
        with th.no_grad():
            if self.chi2:
                advantages, clip_high = self._chi2_advantage(q_values, features, chains, log_prob, clip_range)
            else:
                advantages = group_advantage(q_values, self.advantage)
        advantages = advantages.reshape(-1)
        loss = clipped_surrogate_loss(ratio, advantages, 1.0 - clip_range, clip_high)
        bc_loss = self._success_bc_loss(batch_size) if self.success_bc_coef > 0 else None
        self._apply_actor_gradient(loss if bc_loss is None else loss + self.success_bc_coef * bc_loss)
        with th.no_grad():
            log_ratio = log_prob - old_log_prob
            metrics["policy_loss"].append(loss.item())
            metrics["ratio"].append(ratio.mean().item())
            metrics["clip_fraction"].append(((ratio - 1).abs() > clip_range).float().mean().item())
            metrics["approx_kl"].append((ratio - 1 - log_ratio).mean().item())
            metrics["advantage_mean"].append(advantages.mean().item())
            metrics["advantage_abs"].append(advantages.abs().mean().item())
            metrics["advantage_std"].append(advantages.std().item())
            metrics["advantage_nonzero"].append((advantages != 0).float().mean().item())
            metrics["group_q_mean"].append(q_values.mean().item())
            metrics["action_std"].append(chunks.view(group, -1, policy.flow_dim).std(0).mean().item())
            if bc_loss is not None:
                metrics["bc_loss"].append(bc_loss.item())

    def _success_bc_step(self, batch_size: int, metrics: dict[str, list[float]]) -> None:
        """An actor step on the success-BC term alone (before ``policy_gradient_starts``)."""
        bc_loss = self._success_bc_loss(batch_size)
        self._apply_actor_gradient(self.success_bc_coef * bc_loss)
        metrics["bc_loss"].append(bc_loss.item())

    def _actor_learning_rate(self, progress_remaining: float) -> float:
        factor = warm_restart_factor(self._actor_steps_since_reset, self.actor_lr_restart_period,
                                     self.actor_lr_warmup_steps, self.actor_lr_floor_ratio)
        return self.lr_schedule(progress_remaining) * factor

    def _apply_actor_gradient(self, loss: th.Tensor) -> None:
        """One optimizer step of the actor on ``loss``, then the EMA and slow actors follow."""
        policy = self.policy
        update_learning_rate(policy.optimizer, self._actor_learning_rate(self._current_progress_remaining))
        self._actor_steps_since_reset += 1
        policy.optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(policy.actor.parameters(), self.max_grad_norm)
        policy.optimizer.step()
        polyak_update(policy.actor.parameters(), policy.actor_target.parameters(), self.tau_actor)
        polyak_update(policy.actor.parameters(), policy.actor_slow.parameters(), self.slow_tau)

    def _chi2_advantage(self, q_values: th.Tensor, features: th.Tensor, chains: th.Tensor, log_prob: th.Tensor,
                        clip_range: float) -> tuple[th.Tensor, float]:
        """Chi-squared regularized advantage against the slow EMA actor; also the ratio's upper clip."""
        policy = self.policy
        with self._autocast():
            slow_log_prob = policy.chain_log_prob(policy.actor_slow, features, chains.float())
        density_ratio = th.exp(log_prob.detach() - slow_log_prob).view(self.n_group, -1)
        return chi2_advantage(q_values, density_ratio, self.chi2_coef, self.chi2_alpha, self.chi2_max_ratio, clip_range)

    def _success_bc_loss(self, batch_size: int) -> th.Tensor:
        """Flow-matching BC on the success buffer; on the replay batch until the former holds
        ``success_buffer_min_size`` transitions (at least a batch)."""
        success_buffer = self.replay_buffer.success_buffer
        min_size = batch_size if self.success_buffer_min_size is None else max(batch_size, self.success_buffer_min_size)
        source = success_buffer if success_buffer is not None and _buffer_len(success_buffer) >= min_size else self.replay_buffer
        data = source.sample(batch_size)
        with self._autocast():
            return self.policy.flow_matching_loss(self.policy.features(data.observations), data.actions).float()

    # ----- behaviour cloning ------------------------------------------------------------------
    def pretrain_bc(
        self,
        demonstrations: Demonstrations,
        gradient_steps: int = 10_000,
        batch_size: int = 256,
        learning_rate: float = 3e-4,
        eval_freq: int = 0,
        eval_callback: Optional[Callable[[OGPO, int], bool]] = None,
        progress_bar: bool = False,
        ema_tau: Optional[float] = None,
        max_grad_norm: float = 1.0,
    ) -> int:
        """Flow-matching behaviour cloning on demonstrations, with h-step chunk targets.

        The chunk target of step t is the episode's actions t .. t + h - 1 (the last action repeats
        past the episode end). After BC the EMA and slow actors equal the actor.

        With ``ema_tau`` the result is an exponential moving average of the BC iterates (Polyak rate
        ``ema_tau`` per step) instead of the last iterate: the callback sees the average in
        ``policy.actor`` and BC ends with it. Consecutive BC iterates at lr 1e-3 can differ a lot in
        success (Hammer: 5/41 and 29/64 episodes 250 steps apart), so a start clipped on the last iterate can be an
        unrepresentative lucky one that the first RL updates undo; the average moves smoothly.

        :param demonstrations: (observation, action) arrays; actions in the env's units.
        :param gradient_steps: number of BC gradient steps.
        :param batch_size: demonstrations per step.
        :param learning_rate: AdamW learning rate of BC (paper 3e-4).
        :param eval_freq: call ``eval_callback(model, step)`` every this many steps (0: never).
        :param eval_callback: return False to stop BC early (e.g. the clipped start's success threshold).
        :param progress_bar: show a tqdm progress bar.
        :param ema_tau: keep and return the EMA of the BC iterates with this rate (None: the last iterate).
        :param max_grad_norm: gradient-norm clip of the BC steps (independent of the online ``max_grad_norm``).
        :return: the number of gradient steps taken.
        """
        if max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm}.")
        if ema_tau is not None and not 0.0 < ema_tau <= 1.0:
            raise ValueError(f"ema_tau must be in (0, 1], got {ema_tau}.")
        demonstrations.validate(self.observation_space, self.action_space)
        policy = self.policy
        actions = policy.scale_action(demonstrations.actions.astype(np.float32))
        if np.any(np.abs(actions) > 1.0 + 1e-6):
            warnings.warn("Some demonstration actions lie outside the action space bounds; they are clipped.")
            actions = np.clip(actions, -1.0, 1.0)
        targets = th.as_tensor(chunk_targets(actions, demonstrations.episode_starts, self.chunk_size), device=self.device)
        observations = obs_to_device(demonstrations.observations, self.device)
        optimizer = th.optim.AdamW(policy.actor.parameters(), lr=learning_rate)
        logger = self._logger if hasattr(self, "_logger") else configure(None, ["stdout"] if self.verbose else [])
        policy.set_training_mode(True)
        average = policy.actor_target  # holds the EMA of the iterates with ema_tau
        average.load_state_dict(policy.actor.state_dict())
        step, n, stopped = 0, len(actions), False
        for step in tqdm(range(1, gradient_steps + 1), disable=not progress_bar, desc="BC"):
            index = th.randint(0, n, (batch_size,), device=self.device)
            batch_obs = {k: v[index] for k, v in observations.items()} if isinstance(observations, dict) else observations[index]
            with self._autocast():
                loss = policy.flow_matching_loss(policy.features(batch_obs), targets[index]).float()
            optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(policy.actor.parameters(), max_grad_norm)
            optimizer.step()
            if ema_tau is not None:
                polyak_update(policy.actor.parameters(), average.parameters(), ema_tau)
            logger.record_mean("pretrain/bc_loss", loss.item())
            if eval_freq > 0 and step % eval_freq == 0:
                logger.record("pretrain/step", step)
                logger.dump(step)
                if eval_callback is None:
                    continue
                iterate = policy.actor_weights()
                if ema_tau is not None:  # the callback evaluates (and may keep) the average
                    policy.actor.load_state_dict(average.state_dict())
                else:
                    average.load_state_dict(iterate)
                if eval_callback(self, step) is False:
                    stopped = True
                    break
                policy.actor.load_state_dict(iterate)
        if ema_tau is not None and not stopped:
            policy.actor.load_state_dict(average.state_dict())
        for target in (policy.actor_target, policy.actor_slow):
            target.load_state_dict(policy.actor.state_dict())
        policy.set_training_mode(False)
        return step

    def learn(
        self: SelfOGPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "OGPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOGPO:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)


# ----- small helpers -------------------------------------------------------------------------------
def _check_positive_int(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_unit_interval(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value!r}.")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float, np.number)) or not value >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {value!r}.")


def _check_clip_range(clip_range: Union[float, Schedule]) -> None:
    """``clip_range`` (or a schedule's values at the start and the end of training) must be > 0."""
    values = [clip_range(1.0), clip_range(0.0)] if callable(clip_range) else [clip_range]
    for value in values:
        if not isinstance(value, (int, float, np.number)) or not value > 0.0:
            kind = "a schedule whose value is" if callable(clip_range) else "a value of"
            raise ValueError(f"clip_range must be > 0 (the PPO clip epsilon), got {kind} {value!r}.")


def _check_finite_reward(reward: np.ndarray) -> None:
    reward = np.asarray(reward, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(reward))
    if len(bad):
        raise ValueError(
            f"The env returned a non-finite reward ({reward[bad[0]]} in env {bad[0]}); OGPO cannot learn from it and "
            "does not store it. Fix the env's reward (e.g. find the step with stable_baselines3.common.vec_env.VecCheckNan)."
        )


def _check_finite_observation(observation: Any) -> None:
    arrays = observation.values() if isinstance(observation, dict) else [observation]
    for array in arrays:
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ValueError(
                "The env returned an observation with NaN or inf values; OGPO cannot learn from it. "
                "Check the env (e.g. with stable_baselines3.common.vec_env.VecCheckNan) or clip its observations."
            )


def _max_episode_steps(env: Optional[VecEnv]) -> Optional[int]:
    if env is None:
        return None
    try:
        specs = env.get_attr("spec")
    except (AttributeError, Exception):  # noqa: BLE001 - VecEnvs differ in what they expose
        return None
    steps = [spec.max_episode_steps for spec in specs if spec is not None and spec.max_episode_steps]
    return min(steps) if steps else None


def _buffer_len(buffer: ChunkReplayBuffer) -> int:
    return buffer.buffer_size * buffer.n_envs if buffer.full else buffer.pos * buffer.n_envs


__all__ = ["OGPO"]
