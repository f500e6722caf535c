"""The training loop: epochs of training steps, validation, checkpoints and the schedule."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import torch
from rich.progress import TextColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from saltseg import distributed
from saltseg.console import progress_bar
from saltseg.datafile import Dataset
from saltseg.device import Precision, autocast
from saltseg.engine import predict_logits, recompute_batch_norm, train_steps
from saltseg.errors import SaltsegError
from saltseg.losses import SIDE_LOSS_WEIGHT, Loss, pixel_loss
from saltseg.metric import competition_score, iou_per_image
from saltseg.models import build_model
from saltseg.plots import plot_curves
from saltseg.rundir import RunDir, load_checkpoint, save_checkpoint
from saltseg.schedule import EarlyStopping, budget_lr, planned_epochs, plateau_scheduler
from saltseg.shapes import InputFit

log = logging.getLogger("saltseg")

AVERAGE_RESERVE_EPOCHS = 0.5
"""Share of an epoch's time kept at the end of a budget for the weight average's batch-norm pass
and validation."""


def ids_to_rows(ids: list[str], wanted: list[str]) -> np.ndarray:
    """Return the row of each id of ``wanted`` in ``ids``; an unknown id is an error."""
    index = {name: i for i, name in enumerate(ids)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise SaltsegError(f"the split names {len(missing)} ids the data file lacks, e.g. {missing[0]}")
    return np.array([index[name] for name in wanted], dtype=np.int64)


def _fraction(config: dict[str, Any], key: str) -> float:
    """Return the run fraction ``config[key]`` (1, never, when it is missing or None)."""
    value = config.get(key)
    return 1.0 if value is None else float(value)


class Trainer:
    """Holds the model, optimizer, schedule and data of one run, and trains it epoch by epoch."""

    def __init__(
        self,
        config: dict[str, Any],
        run: RunDir,
        data: Dataset,
        split: dict[str, Any],
        device: torch.device,
        ranks: distributed.Ranks,
    ) -> None:
        self.config, self.run, self.device, self.ranks = config, run, device, ranks
        assert data.masks is not None
        train_rows, val_rows = ids_to_rows(data.ids, split["train"]), ids_to_rows(data.ids, split["val"])
        self.train_images, self.train_masks = self._on_device(data, train_rows)
        self.val_images, self.val_masks = self._on_device(data, val_rows)
        resuming = run.last_checkpoint.exists()
        torch.manual_seed(config["seed"])
        self.model = build_model(config, load_encoder_weights=not resuming)
        self.model.to(device, memory_format=torch.channels_last)
        self.net: nn.Module = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        mode = "min" if config["monitor"] == "val_loss" else "max"
        budgeted = config["schedule"] == "budget"
        self.scheduler = None if budgeted else plateau_scheduler(self.optimizer, mode)
        self.stopper = EarlyStopping(mode=mode, patience=math.inf if budgeted else 10)  # type: ignore[arg-type]
        self.loss_fn = self._loss(config["loss"])
        self.precision = autocast(device, Precision(config["precision"]))
        self.input_fit = InputFit.of_config(config)
        fp16 = Precision(config["precision"]) is Precision.fp16
        self.scaler = torch.amp.GradScaler(device.type) if fp16 else None
        self.averaged = AveragedModel(self.model) if _fraction(config, "average_from") < 1 else None
        self.averaged_from: int | None = None
        self.average_row: dict[str, float] | None = None
        self.epoch, self.rows, self.seconds = 0, [], 0.0
        self._seconds_before = 0.0
        if resuming:
            self._restore(load_checkpoint(run.last_checkpoint))
        elif ranks.is_main:
            self._save_last()

    def fit(self) -> str:
        """Train until the epochs, the early stop or the budget end it, then try the weight average;
        return why training ended."""
        reason = self._train_epochs()
        if self.ranks.is_main:
            self._adopt_average_if_better()
        return reason

    def _train_epochs(self) -> str:
        while self.epoch < self.config["epochs"]:
            if self._budget_spent():
                return "time budget spent"
            self._run_epoch(self.epoch + 1)
            if self.stopper.stop:
                return f"early stop: no improvement in {self.stopper.patience} epochs"
        return f"reached {self.config['epochs']} epochs"

    def _on_device(self, data: Dataset, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        assert data.masks is not None
        images = torch.from_numpy(data.images[rows]).to(self.device)
        return images, torch.from_numpy(data.masks[rows]).to(self.device)

    def _epoch_seconds(self) -> float | None:
        """Median epoch time, leaving out the first epoch (one-off warm-up) once others exist.

        The median keeps an epoch slowed by another program on the machine from shortening the
        schedule.
        """
        times = [r["seconds"] for r in self.rows]
        return float(np.median(times[1:] or times)) if times else None

    def _epochs_budget(self) -> float | None:
        """Return the seconds the epochs may take: the budget less the weight average's reserve."""
        budget, epoch_s = self.config.get("budget"), self._epoch_seconds()
        if budget is None or self.averaged is None or epoch_s is None:
            return budget
        return budget - AVERAGE_RESERVE_EPOCHS * epoch_s

    def _budget_spent(self) -> bool:
        budget, epoch_s = self._epochs_budget(), self._epoch_seconds()
        if budget is None or epoch_s is None:
            return False
        return budget - self.seconds < 0.2 * epoch_s

    def _run_epoch(self, epoch: int) -> None:
        start = time.monotonic()
        self._seconds_before = self.seconds
        self.loss_fn = self._epoch_loss(epoch)
        gen = torch.Generator().manual_seed(self.config["seed"] * 100_003 + epoch)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        batches = self._rank_batches(torch.randperm(len(self.train_images), generator=gen))
        lr = self.optimizer.param_groups[0]["lr"]
        train_loss, steps = self._train_pass(epoch, batches, gen)
        self._update_average(epoch)
        train_loss = distributed.mean_over_ranks(train_loss, self.ranks, self.device)
        val = distributed.from_main(self._validate() if self.ranks.is_main else None, self.ranks)
        improved = self.stopper.update(val[self.config["monitor"]], epoch)
        if self.scheduler is not None:
            self.scheduler.step(val[self.config["monitor"]])
        else:
            lr = self.optimizer.param_groups[0]["lr"]
        self.seconds = self._seconds_before + time.monotonic() - start
        row = {"epoch": epoch, "train_loss": train_loss, **val, "lr": lr}
        row["seconds"] = time.monotonic() - start
        self.rows.append(row)
        self.epoch = epoch
        if self.ranks.is_main:
            self._write_epoch(improved)
        self._log_epoch(row, improved, steps, len(batches))

    def _rank_batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        """Split the epoch's order into batches; under DDP each rank takes its share of each."""
        size, world = self.config["batch_size"], self.ranks.world
        batches = list(order.split(size))
        if world == 1:
            return [b.to(self.device) for b in batches]
        batches = [b for b in batches if len(b) >= world]
        return [b.tensor_split(world)[self.ranks.rank].to(self.device) for b in batches]

    def _train_pass(self, epoch: int, batches: list[torch.Tensor], gen: torch.Generator) -> tuple[float, int]:
        images_s = TextColumn("{task.fields[status]}")
        with progress_bar(images_s) as bar:
            task = bar.add_task(f"epoch {epoch}", total=len(batches), status="")
            started, seen = time.monotonic(), 0

            def before(i: int) -> bool:
                if self.scheduler is None:
                    self._set_budget_lr(epoch, i, len(batches))
                    return i == 0 or not self._must_cut_epoch(i, len(batches), started)
                return True

            def after(i: int, loss: float) -> None:
                nonlocal seen
                seen += len(batches[i])
                rate = seen / max(time.monotonic() - started, 1e-9)
                bar.update(task, advance=1, status=f"loss {loss:.4f}  {rate:.0f} img/s")

            return train_steps(
                self.net,
                self.train_images,
                self.train_masks,
                batches,
                self.optimizer,
                self.loss_fn,
                self.precision,
                self.config["augment"],
                gen,
                self.input_fit,
                before,
                after,
                self.scaler,
                SIDE_LOSS_WEIGHT if self.config.get("deep_supervision") else 0.0,
            )

    def _planned_epochs(self) -> float:
        """Return how many epochs the run is expected to reach (the cap, or what the budget allows)."""
        epoch_s, cap, budget = self._epoch_seconds(), self.config["epochs"], self._epochs_budget()
        if budget is None or epoch_s is None:
            return float(cap)
        return planned_epochs(budget, self._seconds_before, epoch_s, self.epoch, cap)

    def _in_last_part(self, epoch: int, key: str) -> bool:
        """Whether ``epoch`` comes after the fraction ``config[key]`` of the planned epochs."""
        start = _fraction(self.config, key)
        return start < 1 and epoch - 1 >= start * self._planned_epochs()

    def _epoch_loss(self, epoch: int) -> Loss:
        """Return the epoch's loss: the chosen one, then the Lovasz hinge from ``lovasz_from`` of the run."""
        return self._loss("lovasz" if self._in_last_part(epoch, "lovasz_from") else self.config["loss"])

    def _loss(self, name: str) -> Loss:
        """Return the loss ``name`` with the run's Lovasz hinge (``relu`` in runs made before the choice)."""
        return pixel_loss(name, self.config.get("lovasz_hinge", "relu"))

    def _update_average(self, epoch: int) -> None:
        """Add the epoch's weights to the running average from ``average_from`` of the run on."""
        if self.averaged is None or not self._in_last_part(epoch, "average_from"):
            return
        self.averaged.update_parameters(self.model)
        self.averaged_from = self.averaged_from or epoch

    def _adopt_average_if_better(self) -> None:
        """Give the averaged weights fresh batch-norm statistics, validate them, and make them
        best.pt when they beat the best epoch on the monitored value."""
        if self.averaged is None or int(self.averaged.n_averaged) < 2:
            return
        averaged = self.averaged.module
        with self.precision:
            recompute_batch_norm(averaged, self.train_images, self.input_fit, 2 * self.config["batch_size"])
        val = self._validate(averaged)
        first, monitor = self.averaged_from, self.config["monitor"]
        better = self.stopper.improves(val[monitor])
        log.info(
            "average of epochs %d-%d: val_loss %.4f  val_iou %.3f  val_map %.3f  %s",
            first, self.epoch, val["val_loss"], val["val_iou"], val["val_map"],
            "*best" if better else f"(epoch {self.stopper.best_epoch} stays best)",
        )
        if better:
            self.average_row = {"epoch": self.epoch, "averaged_from": first, **val}
            save_checkpoint(self.run.best_checkpoint, {"model": averaged.state_dict(), **self.average_row})

    def _set_budget_lr(self, epoch: int, step: int, steps: int) -> None:
        lr = budget_lr(self.config["lr"], epoch - 1 + step / max(steps, 1), self._planned_epochs())
        if epoch > 1:  # after the warm-up a new estimate of the epochs left never raises the rate
            lr = min(lr, self.optimizer.param_groups[0]["lr"])
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _must_cut_epoch(self, step: int, steps: int, started: float) -> bool:
        """Whether finishing this epoch (and validating) would overrun the budget."""
        step_s = (time.monotonic() - started) / step
        val_s = self.rows[-1]["seconds"] - steps * step_s if self.rows else 0.0
        val_s = max(val_s, len(self.val_images) / self.config["batch_size"] * step_s / 3)
        projected = self._seconds_before + (time.monotonic() - started) + step_s + val_s
        return projected > self._epochs_budget()

    def _validate(self, model: nn.Module | None = None) -> dict[str, float]:
        batch = 2 * self.config["batch_size"]
        logits = predict_logits(model or self.model, self.val_images, self.input_fit, batch, self.precision)
        truth = self.val_masks.bool()
        loss = self.loss_fn(logits.unsqueeze(1), truth.unsqueeze(1).float()).item()
        pred = logits > 0
        return {
            "val_loss": loss,
            "val_iou": float(iou_per_image(pred, truth).float().mean()),
            "val_map": float(competition_score(pred, truth)),
        }

    def _write_epoch(self, improved: bool) -> None:
        if improved:
            best = {"model": self.model.state_dict(), "epoch": self.epoch, **self.rows[-1]}
            save_checkpoint(self.run.best_checkpoint, best)
        self._save_last()
        self.run.write_metrics(self.rows)
        plot_curves(self.rows, self.run.curves_path)

    def _save_last(self) -> None:
        save_checkpoint(
            self.run.last_checkpoint,
            {
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else {},
                "scaler": self.scaler.state_dict() if self.scaler else {},
                "averaged": self.averaged.state_dict() if self.averaged else {},
                "averaged_from": self.averaged_from,
                "stopper": self.stopper.state_dict(),
                "rows": self.rows,
                "seconds": self.seconds,
                "torch_rng": torch.get_rng_state(),
            },
        )

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.stopper.load_state_dict(state["stopper"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.averaged is not None and state.get("averaged"):
            self.averaged.load_state_dict(state["averaged"])
            self.averaged_from = state["averaged_from"]
        self.epoch, self.rows, self.seconds = state["epoch"], list(state["rows"]), state["seconds"]
        torch.set_rng_state(state["torch_rng"])
        if self.ranks.is_main:
            self.run.write_metrics(self.rows)
        log.info("resuming %s after epoch %d", self.run.root, self.epoch)

    def _log_epoch(self, row: dict[str, float], improved: bool, steps: int, planned: int) -> None:
        cap = self.config["epochs"]
        of = f"/{cap}" if cap < 100_000 else ""
        cut = f" (cut at step {steps}/{planned} by the budget)" if steps < planned else ""
        log.info(
            "epoch %d%s  train_loss %.4f  val_loss %.4f  val_iou %.3f  val_map %.3f  lr %.2g  %.0fs%s%s",
            row["epoch"],
            of,
            row["train_loss"],
            row["val_loss"],
            row["val_iou"],
            row["val_map"],
            row["lr"],
            row["seconds"],
            "  *best" if improved else "",
            cut,
        )
