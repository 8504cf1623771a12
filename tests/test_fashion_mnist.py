"""Fashion-MNIST as a data source, read from IDX files the test writes itself (the suite does not
need Debian's dataset-fashion-mnist package): class subsets, the official splits, and one-line
refusals of a missing package and of damaged files."""

import gzip

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from edge_transfer.errors import OptionError


def write_idx(folder, split_sizes=(("train", 40), ("t10k", 20)), gz=True, side=28):
    """The four files in the real layout: magic, big-endian dims, unsigned bytes. Image i of a
    split shows its class as a bright row at height 2 * label, so a model can learn it."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in split_sizes:
        labels = np.arange(n, dtype=np.uint8) % 10
        images = np.zeros((n, side, side), dtype=np.uint8)
        for i, y in enumerate(labels):
            images[i, 2 * y: 2 * y + 2, :] = 255
        for kind, array, magic in (("images-idx3", images, 0x803), ("labels-idx1", labels, 0x801)):
            header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
            data = header + array.tobytes()
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def fashion(tmp_path, monkeypatch):
    folder = write_idx(tmp_path / "fashion-mnist")
    monkeypatch.setenv("EDGE_TRANSFER_FASHION_MNIST", str(folder))
    from edge_transfer.data import idx

    idx._split.cache_clear()
    yield folder
    idx._split.cache_clear()


def test_fashion_mnist_splits_and_class_subsets(fashion):
    from edge_transfer.data import load_task

    task = load_task("fashion-mnist")
    assert (len(task.train), len(task.val), task.num_classes) == (40, 20, 10)
    assert task.train.classes[0] == "T-shirt/top" and task.train.classes[9] == "Ankle boot"
    img = task.train.image(3)
    assert tuple(img.shape) == (3, 28, 28) and int(img[0, 6, 0]) == 255 and task.train.label(3) == 3
    half = load_task("fashion-mnist:5to9")
    assert half.train.classes == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert len(half.train) == 20 and {half.train.label(i) for i in range(20)} == set(range(5))
    assert half.train.label(0) == 0 and int(half.train.image(0)[0, 10, 0]) == 255  # class 5, renumbered to 0
    picked = load_task("fashion-mnist:8,0")
    assert picked.train.classes == ["Bag", "T-shirt/top"] and picked.val.label(0) == 1  # val image 0 is class 0


def test_uncompressed_files_are_read_too(tmp_path, monkeypatch):
    from edge_transfer.data import idx, load_task

    monkeypatch.setenv("EDGE_TRANSFER_FASHION_MNIST", str(write_idx(tmp_path / "raw", gz=False)))
    idx._split.cache_clear()
    assert len(load_task("fashion-mnist:0to1").val) == 4
    idx._split.cache_clear()


def test_pretrain_on_fashion_mnist_from_the_cli(fashion, tmp_path):
    proc = run_cli("pretrain", "--arch", "resnet18-cifar", "--data", "fashion-mnist:0to4", "--epochs", "1",
                   "--image-size", "16", "--output", tmp_path / "src.pt")
    assert proc.returncode == 0, proc.stderr
    assert "fashion-mnist:0to4" in proc.stdout and (tmp_path / "src.pt").is_file()


@pytest.mark.parametrize("damage, fragment", [
    (lambda f: (f / "train-images-idx3-ubyte.gz").unlink(), "not found; Fashion-MNIST is not installed"),
    (lambda f: (f / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 20)),
     "not an IDX file of 1-dimensional"),
    (lambda f: (f / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(
        (0x803).to_bytes(4, "big") + (10**9).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)), "declares shape"),
    (lambda f: (f / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(
        (0x803).to_bytes(4, "big") + (20).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)),
     "holds 100 bytes of data where its header declares 15680"),
    (lambda f: (f / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all"), "cannot be read"),
])
def test_damaged_files_are_refused_in_one_line(fashion, damage, fragment):
    from edge_transfer.data import load_task

    damage(fashion)
    with pytest.raises(OptionError, match=fragment.replace("(", r"\(")):
        load_task("fashion-mnist")


@pytest.mark.parametrize("spec, fragment", [
    ("fashion-mnist:3", "at least 2 distinct classes"),
    ("fashion-mnist:0to12", "from 0 to 9"),
    ("fashion-mnist:shoes", "not a Fashion-MNIST spec"),
])
def test_bad_specs_are_refused(fashion, spec, fragment):
    from edge_transfer.data import load_task

    with pytest.raises(OptionError, match=fragment):
        load_task(spec)


def test_a_missing_package_is_named_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_TRANSFER_FASHION_MNIST", str(tmp_path / "absent"))  # the CLI's process inherits it
    proc = run_cli("pretrain", "--arch", "resnet18-cifar", "--data", "fashion-mnist", "--epochs", "1",
                   "--output", tmp_path / "x.pt")
    assert_one_line_error(proc, "apt-get install dataset-fashion-mnist")
    assert not (tmp_path / "x.pt").exists()
