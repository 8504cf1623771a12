"""Transfer numbers that mean what they say, on a 90% OMP ticket of a trained resnet18-cifar
(conftest's trained_ticket90): fresh
BatchNorm statistics before full and linear transfer, and a linear probe that converges."""

import dataclasses
import json

import numpy as np
import pytest

from edge_transfer.prune import PruneOptions, draw_ticket
from edge_transfer.train import TrainSettings

TARGET = "embedded:mnist-5to9"


@pytest.fixture(scope="module")
def ticket90(trained_ticket90):
    return trained_ticket90


def test_drawn_ticket_records_its_batchnorm_statistics(ticket90):
    meta = json.loads((ticket90 / "ticket.json").read_text())
    assert meta["batchnorm"] == {"recalibrated": False, "draw_trained": False}


def test_finetune_recalibrates_batchnorm_so_a_90_ticket_learns_at_the_quick_budget(ticket90):
    """A 90% ticket keeps its source's BatchNorm statistics, which pruning made stale: at the
    quick study's budget (512 images, one epoch, 8 steps) it stays near chance (0.2) unless
    finetune re-estimates them first, which it does by default and records."""
    from edge_transfer.finetune import FinetuneOptions, finetune

    quick = TrainSettings(data=TARGET, epochs=1, image_size=16, limit=512, lr=0.01, progress=False)
    fresh = finetune(FinetuneOptions(ticket=ticket90, train=quick, head_epochs=0))  # the statistics alone decide
    stale = finetune(FinetuneOptions(ticket=ticket90, train=quick, keep_bn_stats=True, head_epochs=0))
    assert fresh.record["batchnorm"] == {"recalibrated": True, "images": 512}
    assert stale.record["batchnorm"] == {"recalibrated": False, "images": 0}
    assert fresh.top1 >= 0.4 and fresh.top1 > stale.top1 + 0.1, (fresh.top1, stale.top1)


def test_full_finetuning_converges_and_is_not_below_the_linear_probe(ticket90, tmp_path):
    """LP-FT with one late decay: on 1,000 target images, 4 epochs bring the training loss under
    finetune.CONVERGED_LOSS, and full fine-tuning lands at least at the converged linear probe on
    the same images less a point (measured: 0.948 against 0.908, loss 0.009). The papers'
    decays at 1/3 and 2/3 left the study's 4-epoch cells 4-15 points under the probe."""
    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings
    from edge_transfer.finetune import CONVERGED_LOSS, FinetuneOptions, finetune

    full = finetune(FinetuneOptions(ticket=ticket90, train=TrainSettings(data=TARGET, epochs=4, image_size=16,
                                                                         limit=1000, lr=0.01, progress=False)))
    probe = adapt(AdaptOptions(source=ticket90, output=tmp_path / "probe", precompute=True, engine="onnxruntime",
                               keep_backbone=False, train=dataclasses.replace(default_train_settings(), data=TARGET,
                                                                              limit=1000, augment=False)))
    r = full.record
    assert r["schedule"]["head_epochs"] == 1 and r["schedule"]["lr_steps"] == [3] and len(r["schedule"]["head"]) == 1
    assert r["converged"] and r["final_train_loss"] <= CONVERGED_LOSS, r["final_train_loss"]
    assert full.top1 >= probe.summary["val_top1"] - 0.01, (full.top1, probe.summary["val_top1"])


def _reference_features(ticket, limit: int):
    """Pooled features of ``ticket`` by PyTorch itself, on the same training subset and
    validation split adapt uses: (train x, train y, val x, val y)."""
    import torch

    from edge_transfer.ticket import ModuleFactory, load_ticket_meta
    from edge_transfer.train import load_train_data

    meta = load_ticket_meta(ticket)
    backbone = ModuleFactory(str(ticket), backbone=True)()
    data = load_train_data(TrainSettings(data=TARGET, limit=limit), tuple(meta.input_size))
    mean, std = (torch.tensor(getattr(meta, k)).view(1, -1, 1, 1) for k in ("mean", "std"))

    def run(batches):
        with torch.no_grad():
            pairs = [(backbone((x - mean) / std).flatten(1).numpy(), y.numpy()) for x, y in batches]
        return np.concatenate([f for f, _ in pairs]), np.concatenate([y for _, y in pairs])

    return (*run(data.train_batches(256, 0)), *run(data.val_batches()))


def test_linear_probe_converges_on_a_90_ticket(ticket90, tmp_path):
    """adapt --precompute (the study's linear mode) reaches within 2 points of an independent
    standardised L-BFGS logistic regression on the same ticket's features; so does the online
    SGD recipe, now that it sees standardised features. Before, SGD on the raw features of such
    a ticket (stale statistics: nearly constant across images) sat 20-30 points lower."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings
    from edge_transfer.batchnorm import recalibrated_ticket

    train = dataclasses.replace(default_train_settings(), data=TARGET, limit=1000)
    common = dict(source=ticket90, precompute=True, engine="onnxruntime", cores=2)
    lbfgs = adapt(AdaptOptions(output=tmp_path / "lbfgs", train=train, **common))
    sgd = adapt(AdaptOptions(output=tmp_path / "sgd", probe="sgd", train=dataclasses.replace(train, epochs=30), **common))
    record = recalibrated_ticket(ticket90, TARGET, tmp_path / "recalibrated", limit=1000)
    assert record["recalibrated"] and record["images"] == 1000
    x, y, vx, vy = _reference_features(tmp_path / "recalibrated", 1000)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y).score(vx, vy)
    s = lbfgs.summary
    assert s["probe"]["converged"] and s["probe"]["train_loss"] < 0.3 and s["batchnorm"]["recalibrated"]
    assert reference > 0.6, reference
    assert abs(s["val_top1"] - reference) <= 0.02, (s["val_top1"], reference)
    assert abs(sgd.summary["val_top1"] - reference) <= 0.02, (sgd.summary["val_top1"], reference)
    assert "probe" not in sgd.summary and len(sgd.epochs) == 30


def test_adapt_records_whether_statistics_were_recalibrated(ticket90, tmp_path):
    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings

    train = dataclasses.replace(default_train_settings(), data=TARGET, limit=200)
    common = dict(source=ticket90, train=train, precompute=True, engine="onnxruntime", cores=2)
    kept = adapt(AdaptOptions(output=tmp_path / "kept", keep_bn_stats=True, **common))
    assert kept.summary["batchnorm"] == {"recalibrated": False, "reason": "--keep-bn-stats"}
    fresh = adapt(AdaptOptions(output=tmp_path / "fresh", compare_dense=True, **common))
    bn = fresh.summary["batchnorm"]
    assert bn["recalibrated"] and bn["images"] == 200 and bn["dense_too"]
    assert fresh.summary["dense_val_top1"] > 0.5 and "dense_probe" in fresh.summary
    payload = json.loads((tmp_path / "fresh" / "adapt.json").read_text())
    assert payload["settings"]["train_images"] == 200
    assert "BatchNorm statistics: re-estimated on 200 training images" in (tmp_path / "fresh" / "report.md").read_text()
