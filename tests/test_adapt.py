"""Online linear fine-tuning: padding without recompiling, overlap correctness, exact
resume, dense comparison, and bad input. Tiny data made here; few steps."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, run_cli
from edge_transfer.adapt import AdaptOptions, adapt
from edge_transfer.adapt.options import default_train_settings
from edge_transfer.adapt.learner import OnlineLearner
from edge_transfer.adapt.loop import run_epoch
from edge_transfer.data import batches, load_task
from edge_transfer.data.batches import Preprocess
from edge_transfer.engines import get_engine
from edge_transfer.errors import CheckpointError, OptionError, OutputExistsError

INPUT = (3, 32, 32)
NORM = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def make_folder(root, classes=3, per_class=10, size=12, seed=0, corrupt=0):
    """Class folders of small PNGs whose colour depends on the class (learnable)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.zeros((size, size, 3))
            base[..., c % 3] = 200
            img = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype("uint8")
            Image.fromarray(img).save(root / f"class{c}" / f"{i}.png")
    for i in range(corrupt):
        (root / "class0" / f"broken{i}.png").write_bytes(b"not a png")
    return root


class RecordingModel:
    """Wraps a compiled model and records the batch size of every call."""

    def __init__(self, inner):
        self.inner, self.settings, self.calls = inner, inner.settings, []

    def run(self, inputs):
        self.calls.append(inputs[0].shape[0])
        return self.inner.run(inputs)


@pytest.fixture(scope="module")
def backbone_path(small_export):
    return small_export.path / "backbone.onnx"


def test_embedded_target_task_split_is_fixed():
    a, b = load_task("embedded:mnist-5to9"), load_task("embedded:mnist-5to9")
    assert (len(a.train), len(a.val), a.num_classes) == (2000, 500, 5)
    assert a.train.classes == ["5", "6", "7", "8", "9"]
    ids = lambda ds: {id(item[0]) for item in ds.items}  # noqa: E731
    assert not ids(a.train) & ids(a.val)
    assert [int(x[0].sum()) for x in a.val.items[:20]] == [int(x[0].sum()) for x in b.val.items[:20]]
    assert np.bincount([label for _, label in a.val.items]).tolist() == [100] * 5  # stratified


def test_embedded_digits_is_a_ten_class_target_upsampled_like_any_image():
    from sklearn.datasets import load_digits

    task = load_task("embedded:digits")
    assert (len(task.train), len(task.val), task.num_classes) == (1438, 359, 10)
    assert task.train.classes == [str(d) for d in range(10)]
    img = task.val.image(0)
    assert img.dtype == torch.uint8 and img.shape[-2:] == (8, 8) and int(img.max()) == 255
    # the 17 grey levels of the scans span the full 0..255 range; labels are the digits
    raw = load_digits()
    assert int(raw.images.max()) == 16 and sorted({lbl for _, lbl in task.train.items}) == list(range(10))
    batch = Preprocess((3, 16, 16), *NORM).batch([task.val.image(i) for i in range(4)], None)
    assert batch.shape == (4, 3, 16, 16) and torch.isfinite(batch).all()


def test_padding_and_no_recompile(backbone_path):
    compiled = RecordingModel(get_engine("onnxruntime").compile(backbone_path, 8, 1))
    learner = OnlineLearner(compiled, num_classes=3, feature_dim=512)
    x = np.random.default_rng(0).standard_normal((19, *INPUT), dtype=np.float32)
    feats = learner.features(x)
    assert feats.shape == (19, 512)
    assert compiled.calls == [8, 8, 8]  # 19 rows: two full batches and one padded
    # Padded rows are dropped and do not change the real rows' features.
    direct = get_engine("onnxruntime").compile(backbone_path, 3, 1).run([x[16:]])[0]
    np.testing.assert_allclose(feats[16:], direct, rtol=1e-5, atol=1e-5)
    learner.partial_fit(x[:5], np.array([0, 1, 2, 0, 1]))
    assert compiled.calls[-1] == 8 and len(compiled.calls) == 4


def test_partial_fit_learns_and_checks_labels(backbone_path):
    learner = OnlineLearner(get_engine("onnxruntime").compile(backbone_path, 4, 1), num_classes=3, feature_dim=512, lr=0.05)
    x = np.random.default_rng(1).standard_normal((4, *INPUT), dtype=np.float32)
    y = np.array([0, 1, 2, 1])
    losses = [learner.partial_fit(x, y) for _ in range(40)]
    assert losses[-1] < losses[0] * 0.5
    assert (learner.predict(x) == y).all()
    with pytest.raises(OptionError, match=r"labels must be in \[0, 2\]"):
        learner.partial_fit(x, np.array([0, 1, 3, 1]))


def test_feature_size_mismatch(backbone_path):
    learner = OnlineLearner(get_engine("onnxruntime").compile(backbone_path, 2, 1), num_classes=3, feature_dim=2048)
    with pytest.raises(OptionError, match="512 features but the head expects 2048"):
        learner.features(np.zeros((2, *INPUT), dtype=np.float32))


def test_overlap_gives_the_same_head(backbone_path, tmp_path):
    task = load_task(str(make_folder(tmp_path / "data")))
    pre = Preprocess(INPUT, *NORM, augment=True)
    heads, stats = [], []
    for overlap in (False, True):
        learner = OnlineLearner(get_engine("deepsparse").compile(backbone_path, 8, 1), 3, feature_dim=512, seed=3)
        for epoch in range(2):
            stats.append(run_epoch(learner, batches(task.train, pre, 8, shuffle=True, seed=epoch), overlap=overlap))
        heads.append({k: v.clone() for k, v in learner.head.state_dict().items()})
    for k in heads[0]:
        assert torch.equal(heads[0][k], heads[1][k]), k
    assert stats[0].images == len(task.train) and stats[0].backbone_s > 0 and stats[0].hidden_s == 0


def test_save_load_round_trip(backbone_path, tmp_path):
    compiled = get_engine("onnxruntime").compile(backbone_path, 4, 1)
    learner = OnlineLearner(compiled, 3, feature_dim=512, seed=1)
    x = np.random.default_rng(2).standard_normal((4, *INPUT), dtype=np.float32)
    learner.partial_fit(x, np.array([0, 1, 2, 0]))
    learner.save(tmp_path / "head.pt")
    other = OnlineLearner(compiled, 3, feature_dim=512, seed=99)
    other.load(tmp_path / "head.pt")
    assert (other.predict(x) == learner.predict(x)).all()
    assert other.optimizer.state_dict()["state"][0]["momentum_buffer"].equal(learner.optimizer.state_dict()["state"][0]["momentum_buffer"])
    with pytest.raises(CheckpointError, match="3 classes but the data has 4"):
        OnlineLearner(compiled, 4, feature_dim=512).load(tmp_path / "head.pt")


def _opts(small_export, data, out, epochs=3, lr=0.01, **kw):
    train = dataclasses.replace(default_train_settings(), data=str(data), epochs=epochs, batch_size=8, lr=lr)
    base = dict(source=small_export.path, train=train, output=out, lr_steps=(2,), engine="deepsparse", cores=1)
    return AdaptOptions(**{**base, **kw})


def _head(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["head"]


def test_resume_is_exact(small_export, tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    straight = adapt(_opts(small_export, data, tmp_path / "a"))
    # Interrupted during epoch 3: the checkpoint of epoch 2 must survive intact.
    import edge_transfer.adapt.loop as loop

    real = loop.run_epoch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("edge_transfer.adapt.loop.run_epoch", flaky)
    with pytest.raises(KeyboardInterrupt):
        adapt(_opts(small_export, data, tmp_path / "b"))
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    monkeypatch.setattr("edge_transfer.adapt.loop.run_epoch", real)
    resumed = adapt(_opts(small_export, data, tmp_path / "b", resume=True))
    for k, v in _head(tmp_path / "a").items():
        assert torch.equal(v, _head(tmp_path / "b")[k]), k
    assert [r["val_top1"] for r in straight.epochs] == [r["val_top1"] for r in resumed.epochs]
    assert [r["lr"] for r in resumed.epochs] == [0.01, 0.01, 0.001]


def test_compare_dense_and_results(small_export, tmp_path):
    data = make_folder(tmp_path / "data", corrupt=1)
    result = adapt(_opts(small_export, data, tmp_path / "run", epochs=2, compare_dense=True))
    s = result.summary
    for key in ("epoch_seconds_median", "val_top1", "val_mean_class_acc", "dense_epoch_seconds_median",
                "epoch_speedup", "backbone_speedup"):
        assert isinstance(s[key], float), key
    assert s["epoch_speedup_min"] <= s["epoch_speedup"] <= s["epoch_speedup_max"]
    assert s["unreadable_images"] == 1
    payload = json.loads((tmp_path / "run" / "adapt.json").read_text())
    assert payload["schema"] == "edge-transfer.adapt/1"
    assert {r["variant"] for r in payload["epochs"]} == {"sparse", "dense"} and len(payload["epochs"]) == 4
    assert (tmp_path / "run" / "adapt.png").read_bytes()[:4] == b"\x89PNG"
    assert "epoch speedup" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("probe", ["lbfgs", "sgd"])
def test_precompute_mode(small_export, tmp_path, probe):
    data = make_folder(tmp_path / "data")
    result = adapt(_opts(small_export, data, tmp_path / "run", epochs=4, precompute=True, lr=0.05, probe=probe))
    # Features were extracted once, up front: an epoch only indexes cached arrays.
    assert all(r["backbone_s"] < 0.01 and r["data_s"] < 0.05 for r in result.epochs)
    assert result.summary["val_top1"] >= 0.5  # colour classes are separable even with random features
    assert len(result.epochs) == (1 if probe == "lbfgs" else 4)  # L-BFGS: one fit, not epochs
    assert ("probe" in result.summary) == (probe == "lbfgs")
    assert result.summary["batchnorm"]["recalibrated"] is False  # an export folder: statistics are in the graph


def test_existing_run_is_not_overwritten(small_export, tmp_path):
    data = make_folder(tmp_path / "data")
    adapt(_opts(small_export, data, tmp_path / "run", epochs=1))
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume"):
        adapt(_opts(small_export, data, tmp_path / "run", epochs=1))
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_resume_with_other_class_count(small_export, tmp_path):
    data = make_folder(tmp_path / "data")
    adapt(_opts(small_export, data, tmp_path / "run", epochs=1))
    make_folder(tmp_path / "data", classes=4)  # a class folder appeared since
    with pytest.raises(CheckpointError, match="3 classes but the data has 4"):
        adapt(_opts(small_export, data, tmp_path / "run", epochs=2, resume=True))


def test_cli_bad_input(small_export, tmp_path):
    (tmp_path / "empty").mkdir()
    one = make_folder(tmp_path / "one", classes=1)
    cases = [
        (["--data", tmp_path / "empty"], "no images"),
        (["--data", one], "at least 2 class"),
        (["--data", tmp_path / "nowhere"], "not found"),
        (["--resume", "--output", tmp_path / "fresh"], "--resume needs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--engine", "tensorrt"], "unknown engine"),
        (["--precompute", "--resume", "--output", tmp_path / "fresh"], "nothing to resume"),
        (["--train-limit", "5"], "--train-limit"),
    ]
    for args, fragment in cases:
        assert_one_line_error(run_cli("adapt", small_export.path, "--epochs", "1", *args), fragment)
    assert not (tmp_path / "fresh").exists()


def test_cli_adapt_ticket(small_ticket, tmp_path):
    data = make_folder(tmp_path / "data")
    proc = run_cli("adapt", small_ticket, "--data", data, "--epochs", "2", "--batch-size", "8", "--cores", "1",
                   "--compare-dense", "--output", tmp_path / "run", "--json", tmp_path / "out.json")
    assert proc.returncode == 0, proc.stderr
    assert "epoch speedup" in proc.stdout and "backbone inference speedup" in proc.stdout
    assert json.loads((tmp_path / "out.json").read_text())["summary"]["epochs_run"] == 2


def test_batch_preprocessing():
    task = load_task("embedded:mnist-5to9")
    imgs = [task.val.image(i) for i in range(16)]
    plain = Preprocess(INPUT, *NORM)
    # The vectorised batch path equals the per-image path exactly when not augmenting.
    torch.testing.assert_close(plain.batch(imgs, None), torch.stack([plain(i, None) for i in imgs]), rtol=0, atol=0)
    aug = Preprocess(INPUT, *NORM, augment=True, crop_scale=(0.35, 1.0))
    a = aug.batch(imgs, torch.Generator().manual_seed(5))
    b = aug.batch(imgs, torch.Generator().manual_seed(5))
    c = aug.batch(imgs, torch.Generator().manual_seed(6))
    assert a.shape == (16, *INPUT) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, plain.batch(imgs, None))  # crops and flips changed the images


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_other_engines(small_export, tmp_path, engine):
    data = make_folder(tmp_path / "data")
    result = adapt(_opts(small_export, data, tmp_path / "run", epochs=1, engine=engine, compare_dense=True))
    assert result.payload["settings"]["engine"] == engine and result.summary["epoch_speedup"] > 0


class IdentityBackbone:
    """A 'backbone' that returns its input rows: lets the head be tested on chosen features."""

    def __init__(self, dim: int, batch_size: int = 32):
        self.settings = {"batch_size": batch_size, "output_shape": (batch_size, dim)}

    def run(self, inputs):
        return [inputs[0].reshape(len(inputs[0]), -1)]


def _ticket_like_features(n, dim=64, classes=5, seed=0):
    """What a 90% ticket's pooled features look like: a large common offset (0.27) and a
    tiny class-dependent spread (about 0.007)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(0, 0.007, (classes, dim))
    feats = 0.27 + centres[labels] + rng.normal(0, 0.004, (n, dim))
    return feats.astype(np.float32), labels


def test_head_learns_from_nearly_constant_features_by_standardising(tmp_path):
    """Raw SGD on such features stays near chance; the learner standardises them with
    running statistics (which equal the whole stream's), learns, and saves the statistics
    with the head so a reloaded learner predicts the same."""
    feats, labels = _ticket_like_features(2000)
    train_x, train_y, val_x, val_y = feats[:1500], labels[:1500], feats[1500:], labels[1500:]
    rng = np.random.default_rng(1)
    learner = OnlineLearner(IdentityBackbone(64), num_classes=5, lr=0.01)
    for _ in range(3):
        order = rng.permutation(len(train_y))
        for start in range(0, len(order), 64):
            idx = order[start:start + 64]
            learner.partial_fit(train_x[idx], train_y[idx])
    assert learner.stats.mean == pytest.approx(train_x.astype(np.float64).mean(0), abs=1e-9)
    assert learner.stats.std == pytest.approx(train_x.astype(np.float64).std(0), rel=1e-6)
    acc = (learner.predict(val_x) == val_y).mean()
    assert acc > 0.9
    learner.save(tmp_path / "head.pt")
    again = OnlineLearner(IdentityBackbone(64), num_classes=5)
    again.load(tmp_path / "head.pt")
    assert (again.predict(val_x) == learner.predict(val_x)).all()
