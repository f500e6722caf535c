"""The training loop: epochs of training steps, validation, checkpoints and the schedule.

Each concern has a unit of its own: the images on the device (:class:`TrainingData`), the time
budget's decisions (:class:`~saltseg.training.budget.Budget`), the weight average
(:class:`~saltseg.training.averaging.WeightAverage`) and the checkpoint (:class:`TrainingState`). This
module runs the epochs, and with ``--snapshots K`` keeps the weights that end each cycle of the
schedule (:class:`~saltseg.training.snapshots.SnapshotCycles`) and makes their ensemble best.pt when it
validates better than the best epoch. Under ``torchrun`` every decision that depends on a clock
(end of the run, cutting an epoch, the learning rate, the loss switch, a new cycle) is taken on
rank 0 and shared.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch
from rich.progress import TextColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from saltseg.console import progress_bar
from saltseg.device import autocast
from saltseg.errors import fail
from saltseg.inference.passes import predict_logits
from saltseg.metric import competition_score, iou_per_image
from saltseg.models import build_model
from saltseg.plots import plot_curves
from saltseg.precision import Precision
from saltseg.rundir import RunDir, save_checkpoint
from saltseg.shapes import InputFit
from saltseg.training import distributed
from saltseg.training.augment import Augmentation
from saltseg.training.averaging import WeightAverage
from saltseg.training.budget import Budget
from saltseg.training.data import TrainingData
from saltseg.training.losses import SIDE_LOSS_WEIGHT, Loss, pixel_loss
from saltseg.training.schedule import EarlyStopping, plateau_scheduler
from saltseg.training.snapshots import SnapshotCycles
from saltseg.training.state import TrainingState
from saltseg.training.steps import recompute_batch_norm, train_steps

log = logging.getLogger("saltseg")

AVERAGE_RESERVE_EPOCHS = 0.5
"""Share of an epoch's time kept at the end of a budget for the weight average's batch-norm pass
and validation, or the validation of the snapshots' ensemble."""


def fraction(config: dict[str, Any], key: str) -> float:
    """Return the run fraction ``config[key]`` (1, never, when it is missing or None)."""
    value = config.get(key)
    return 1.0 if value is None else float(value)


def validation_loss(config: dict[str, Any]) -> str:
    """Return the loss validation reports for the whole run: the run's chosen ``loss`` (a switch
    to the Lovasz hinge changes training only), as config.json records it."""
    return str(config.get("val_loss", config["loss"]))


class Trainer:
    """Holds the model, optimizer, schedule and data of one run, and trains it epoch by epoch."""

    def __init__(self, config: dict[str, Any], run: RunDir, data: TrainingData, device: torch.device,
                 ranks: distributed.Ranks, state: TrainingState | None = None, extending: bool = False,
                 start_weights: dict[str, torch.Tensor] | None = None) -> None:
        self.config, self.run, self.data, self.device, self.ranks = config, run, data, device, ranks
        torch.manual_seed(config["seed"])
        self.model = build_model(config, load_encoder_weights=state is None)
        if start_weights is not None:
            self._load_start_weights(start_weights)
        self.model.to(device, memory_format=torch.channels_last)
        self.net: nn.Module = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        mode = "min" if config["monitor"] == "val_loss" else "max"
        budgeted = config["schedule"] == "budget"
        self.scheduler = None if budgeted else plateau_scheduler(self.optimizer, mode)
        self.stopper = EarlyStopping(mode=mode, patience=math.inf if budgeted else 10)  # type: ignore[arg-type]
        self.val_loss_fn = self._loss(validation_loss(config))
        self.precision = autocast(device, Precision(config["precision"]))
        self.input_fit = InputFit.of_config(config)
        self.augmentation = Augmentation.of_config(config)
        fp16 = Precision(config["precision"]) is Precision.fp16
        self.scaler = torch.amp.GradScaler(device.type) if fp16 else None
        self.average = WeightAverage(self.model) if fraction(config, "average_from") < 1 else None
        self.snapshots = SnapshotCycles(int(config.get("snapshots", 1)), run)
        reserve = AVERAGE_RESERVE_EPOCHS if self.average or self.snapshots.cycles > 1 else 0.0
        self.budget = Budget(config.get("budget"), config["epochs"], reserve)
        self.adopted_row: dict[str, Any] | None = None
        self.epoch, self.rows, self.seconds = 0, [], 0.0
        self.lovasz_since: int | None = None
        self.last_validation_s: float | None = None
        self.epochs_this_call = 0
        if state is not None:
            self._restore(state, extending)
        elif ranks.is_main:
            self._save_last()

    def _load_start_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Start from ``weights`` (a teacher's or an --init run's best.pt): the same network only."""
        try:
            self.model.load_state_dict(weights)
        except RuntimeError:
            if "init" in self.config:
                raise fail(self.config["init"]["run"], "holds a best.pt that does not fit the network of its "
                           "config.json") from None
            raise fail(self.config.get("teacher", "--teacher"), "has another network than the student's "
                       "options describe; give the student the teacher's network options") from None

    def fit(self) -> str:
        """Train until the epochs, the early stop or the budget end it, then try the weight average;
        return why training ended."""
        while (reason := distributed.decided_on_main(self.end_reason, self.ranks)) is None:
            self._run_epoch(self.epoch + 1)
            self.epochs_this_call += 1
        if self.ranks.is_main and self.epochs_this_call:
            if self.snapshots.cycles > 1:
                self.snapshots.keep(self.model, self.epoch)
                self._adopt_snapshots_if_better()
            else:
                self._adopt_average_if_better()
        return reason

    def end_reason(self) -> str | None:
        """Return why the run is over (epochs reached, early stop, budget spent), or None."""
        if self.epoch >= self.config["epochs"]:
            return f"reached {self.config['epochs']} epochs"
        if self.stopper.stop:
            return f"early stop: no improvement in {self.stopper.patience} epochs"
        if self.budget.spent(self.seconds, self._epoch_times()):
            return "time budget spent"
        return None

    def _epoch_times(self) -> list[float]:
        return [r["seconds"] for r in self.rows]

    def _run_epoch(self, epoch: int) -> None:
        start, before = time.monotonic(), self.seconds
        lovasz, averaging, new_cycle = distributed.decided_on_main(lambda: self._epoch_plan(epoch),
                                                                   self.ranks)
        if lovasz and self.lovasz_since is None:
            self.lovasz_since = epoch
        if new_cycle:
            if self.ranks.is_main:
                self.snapshots.keep(self.model, self.epoch)
            self.snapshots.starts.append(epoch)
        gen = torch.Generator().manual_seed(self.config["seed"] * 100_003 + epoch)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        order = self.data.epoch_order(gen, self.config.get("pseudo_ratio", 0.0))
        batches = self._rank_batches(order)
        lr = self.optimizer.param_groups[0]["lr"]
        loss_fn = self._loss("lovasz" if lovasz else self.config["loss"])
        train_loss, steps = self._train_pass(epoch, batches, gen, loss_fn, before)
        if averaging and self.average is not None:
            self.average.add(self.model, epoch)
        train_loss = distributed.mean_over_ranks(train_loss, self.ranks, self.device)
        val = self._timed_validation()
        improved = self.stopper.update(val[self.config["monitor"]], epoch)
        if self.scheduler is not None:
            self.scheduler.step(val[self.config["monitor"]])
        else:
            lr = self.optimizer.param_groups[0]["lr"]
        seconds = distributed.decided_on_main(lambda: time.monotonic() - start, self.ranks)
        self.seconds = before + seconds
        self.rows.append({"epoch": epoch, "train_loss": train_loss, **val, "lr": lr, "seconds": seconds})
        self.epoch = epoch
        if self.ranks.is_main:
            self._write_epoch(improved)
        self._log_epoch(self.rows[-1], improved, steps, len(batches))

    def _epoch_plan(self, epoch: int) -> tuple[bool, bool, bool]:
        """Return whether ``epoch`` trains with the Lovasz hinge (once on, it stays on), whether its
        weights join the average, and whether it starts the next snapshot cycle."""
        planned = self.budget.planned_epochs(self.seconds, self._epoch_times())
        lovasz = self.lovasz_since is not None or self._in_last_part(epoch, "lovasz_from", planned)
        averaging = self._in_last_part(epoch, "average_from", planned)
        return lovasz, averaging, self.snapshots.starts_next(epoch, planned)

    def _in_last_part(self, epoch: int, key: str, planned: float) -> bool:
        """Whether ``epoch`` comes after the fraction ``config[key]`` of ``planned`` epochs."""
        start = fraction(self.config, key)
        return start < 1 and epoch - 1 >= start * planned

    def _rank_batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        """Split the epoch's order into batches; under DDP each rank takes its share of each."""
        size, world = self.config["batch_size"], self.ranks.world
        batches = list(order.split(size))
        if world == 1:
            return [b.to(self.device) for b in batches]
        batches = [b for b in batches if len(b) >= world]
        return [b.tensor_split(world)[self.ranks.rank].to(self.device) for b in batches]

    def _train_pass(self, epoch: int, batches: list[torch.Tensor], gen: torch.Generator, loss_fn: Loss,
                    before: float) -> tuple[float, int]:
        with progress_bar(TextColumn("{task.fields[status]}")) as bar:
            task = bar.add_task(f"epoch {epoch}", total=len(batches), status="")
            started, seen = time.monotonic(), 0

            def before_step(i: int) -> bool:
                if self.scheduler is not None:
                    return True
                lr, go = distributed.decided_on_main(
                    lambda: self._step_decision(epoch, i, len(batches), time.monotonic() - started, before),
                    self.ranks,
                )
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                return go

            def after_step(i: int, loss: float) -> None:
                nonlocal seen
                seen += len(batches[i])
                rate = seen / max(time.monotonic() - started, 1e-9)
                bar.update(task, advance=1, status=f"loss {loss:.4f}  {rate:.0f} img/s")

            side_weight = SIDE_LOSS_WEIGHT if self.config.get("deep_supervision") else 0.0
            return train_steps(self.net, self.data.train_images, self.data.train_masks, batches,
                               self.optimizer, loss_fn, self.precision, self.augmentation, gen,
                               self.input_fit, before_step, after_step, self.scaler, side_weight)

    def _step_decision(self, epoch: int, step: int, steps: int, in_epoch: float, before: float
                       ) -> tuple[float, bool]:
        """Return the budget schedule's learning rate for the step, and whether to take it."""
        times = self._epoch_times()
        lr = self.budget.learning_rate(self.config["lr"], epoch - 1 + step / max(steps, 1), before, times,
                                       self.optimizer.param_groups[0]["lr"], self.snapshots.cycle())
        val_batches = len(self.data.val_images) / self.config["batch_size"]
        cut = step > 0 and self.budget.must_cut(before, in_epoch, step, val_batches, times,
                                                self.last_validation_s)
        return lr, not cut

    def _loss(self, name: str) -> Loss:
        """Return the loss ``name`` with the run's Lovasz hinge (``relu`` in runs made before the choice,
        not symmetric in runs made before that)."""
        config = self.config
        return pixel_loss(name, config.get("lovasz_hinge", "relu"), config.get("lovasz_symmetric", False))

    def _timed_validation(self) -> dict[str, float]:
        started = time.monotonic()
        val = distributed.from_main(self._validate() if self.ranks.is_main else None, self.ranks)
        self.last_validation_s = time.monotonic() - started
        return val

    def _validate(self, model: nn.Module | None = None) -> dict[str, float]:
        return self._scores(self._val_logits(model or self.model))

    def _val_logits(self, model: nn.Module) -> torch.Tensor:
        """Return ``model``'s logits for the validation images (twice the training batch at a time)."""
        return predict_logits(model, self.data.val_images, self.input_fit, 2 * self.config["batch_size"],
                              self.precision)

    def _validate_members(self, states: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Validate the ensemble of ``states`` (the mean of their probabilities), as predict averages it."""
        net = build_model(self.config).to(self.device, memory_format=torch.channels_last)
        probs = torch.zeros(self.data.val_masks.shape, device=self.device)
        for state in states:
            net.load_state_dict(state)
            probs += torch.sigmoid(self._val_logits(net).float()) / len(states)
        return self._scores(torch.logit(probs, eps=1e-6))

    def _scores(self, logits: torch.Tensor) -> dict[str, float]:
        """Return the validation loss, mean IoU and competition score of validation ``logits``."""
        truth = self.data.val_masks.bool()
        loss = self.val_loss_fn(logits.unsqueeze(1), truth.unsqueeze(1).float()).item()
        pred = logits > 0
        return {
            "val_loss": loss,
            "val_iou": float(iou_per_image(pred, truth).float().mean()),
            "val_map": float(competition_score(pred, truth)),
        }

    def _adopt_average_if_better(self) -> None:
        """Give the averaged weights fresh batch-norm statistics, validate them, and make them
        best.pt when they beat the best epoch on the monitored value."""
        if self.average is None or self.average.epochs < 2:
            return
        averaged = self.average.module
        with self.precision:
            batch = 2 * self.config["batch_size"]
            recompute_batch_norm(averaged, self.data.train_images, self.input_fit, batch)
        val = self._validate(averaged)
        first, monitor = self.average.first_epoch, self.config["monitor"]
        better = self.stopper.improves(val[monitor])
        log.info(
            "average of epochs %d-%d: val_loss %.4f  val_iou %.3f  val_map %.3f  %s",
            first, self.epoch, val["val_loss"], val["val_iou"], val["val_map"],
            "*best" if better else f"(epoch {self.stopper.best_epoch} stays best)",
        )
        if better:
            self.adopted_row = {"epoch": self.epoch, "averaged_from": first, **val}
            save_checkpoint(self.run.best_checkpoint, {"model": averaged.state_dict(), **self.adopted_row})

    def _adopt_snapshots_if_better(self) -> None:
        """Validate the ensemble of the cycles' snapshots and make it best.pt (every member's weights,
        the last as its "model") when it beats the best epoch on the monitored value."""
        snapshots = self.snapshots.kept()
        if len(snapshots) < 2:
            return
        states, epochs = [s["model"] for s in snapshots], [int(s["epoch"]) for s in snapshots]
        val = self._validate_members(states)
        better = self.stopper.improves(val[self.config["monitor"]])
        log.info(
            "snapshots of epochs %s: val_loss %.4f  val_iou %.3f  val_map %.3f  %s",
            ", ".join(map(str, epochs)), val["val_loss"], val["val_iou"], val["val_map"],
            "*best" if better else f"(epoch {self.stopper.best_epoch} stays best)",
        )
        if better:
            self.adopted_row = {"epoch": self.epoch, "snapshot_epochs": epochs, **val}
            best = {"model": states[-1], "snapshots": states, **self.adopted_row}
            save_checkpoint(self.run.best_checkpoint, best)

    def _write_epoch(self, improved: bool) -> None:
        if improved:
            best = {"model": self.model.state_dict(), "epoch": self.epoch, **self.rows[-1]}
            save_checkpoint(self.run.best_checkpoint, best)
        self._save_last()
        self.run.write_metrics(self.rows)
        plot_curves(self.rows, self.run.curves_path)

    def _save_last(self) -> None:
        TrainingState(
            epoch=self.epoch,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            stopper=self.stopper.state_dict(),
            rows=self.rows,
            seconds=self.seconds,
            torch_rng=torch.get_rng_state(),
            scheduler=self.scheduler.state_dict() if self.scheduler else {},
            scaler=self.scaler.state_dict() if self.scaler else {},
            averaged=self.average.state_dict() if self.average else {},
            averaged_from=self.average.first_epoch if self.average else None,
            lovasz_since=self.lovasz_since,
            cycle_starts=self.snapshots.starts,
        ).save(self.run.last_checkpoint)

    def _restore(self, state: TrainingState, extending: bool) -> None:
        """Continue from ``state``; when the run is ``extending`` past an early stop, the stop's
        patience starts anew."""
        try:
            self.model.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
            if self.scheduler is not None and state.scheduler:
                self.scheduler.load_state_dict(state.scheduler)
            if self.scaler is not None and state.scaler:
                self.scaler.load_state_dict(state.scaler)
            if self.average is not None:
                self.average.load(state.averaged, state.averaged_from)
            self.stopper.load_state_dict(state.stopper)
            torch.set_rng_state(state.torch_rng)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise fail(self.run.last_checkpoint, f"does not fit this run's network and options "
                       f"({type(exc).__name__})") from None
        self.epoch, self.rows, self.seconds = state.epoch, list(state.rows), state.seconds
        self.lovasz_since = state.lovasz_since
        self.snapshots.starts = list(state.cycle_starts)
        if extending and self.stopper.stop:
            log.info("extending a run that stopped early: %d more epochs without improvement allowed",
                     self.stopper.patience)
            self.stopper.bad_epochs = 0
        if self.ranks.is_main:
            self.run.write_metrics(self.rows)
        log.info("resuming %s after epoch %d", self.run.root, self.epoch)

    def _log_epoch(self, row: dict[str, float], improved: bool, steps: int, planned: int) -> None:
        cap = self.config["epochs"]
        of = f"/{cap}" if cap < 100_000 else ""
        cut = f" (cut at step {steps}/{planned} by the budget)" if steps < planned else ""
        log.info(
            "epoch %d%s  train_loss %.4f  val_loss %.4f  val_iou %.3f  val_map %.3f  lr %.2g  %.0fs%s%s",
            row["epoch"], of, row["train_loss"], row["val_loss"], row["val_iou"], row["val_map"],
            row["lr"], row["seconds"], "  *best" if improved else "", cut,
        )
