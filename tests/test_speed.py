"""Prune to a speed target: the profile record and its key, the allocation's dynamic program
(against brute force on constructed profiles), the refusal of an unreachable target, a
drawn ticket whose layers carry exactly the allocation, and a real DeepSparse profile."""

import itertools
import json
import re

import pytest

from conftest import assert_one_line_error, run_cli
from edge_transfer.errors import OptionError
from edge_transfer.train import TrainSettings


def _key(**changes):
    from edge_transfer.speed import ProfileKey

    base = dict(arch="resnet18-cifar", input_size=(3, 32, 32), engine="deepsparse", engine_version="1.8.0",
                batch_size=1, cores=2, cpu="cpu", isa=("avx2",), precision="fp32", block=1)
    return ProfileKey(**{**base, **changes})


def _profile(unit_ms, fixed=1.0, grid=None, key=None):
    from edge_transfer.speed import PROFILE_SCHEMA, SpeedProfile

    grid = grid or tuple(round(i / len(unit_ms[0]), 3) for i in range(len(unit_ms[0])))
    units = [{"layers": [f"l{i}.weight"], "ms": list(ms)} for i, ms in enumerate(unit_ms)]
    record = SpeedProfile(schema=PROFILE_SCHEMA, key=key or _key(), grid=grid, units=units,
                          fixed_ms=[fixed] * len(grid), measured_ms=[10.0] * len(grid), method="constructed")
    return SpeedProfile.from_json(record.to_json(), "constructed")


def test_the_program_finds_the_known_optimum():
    """Two units: A saves 4 ms at a cost of 1, B saves 4 ms at a cost of 3; halving 10 ms needs
    one of them: the program must prune A and leave B dense."""
    from edge_transfer.speed import allocate

    profile = _profile([[4.5, 0.5], [4.5, 0.5]], fixed=1.0)
    found = allocate(profile, [[0.0, 1.0], [0.0, 3.0]], target_speedup=10 / 6)
    assert found.choice == (1, 0) and found.cost == 1.0
    assert found.predicted_ms == pytest.approx(6.0) and found.predicted_speedup == pytest.approx(10 / 6)


@pytest.mark.parametrize("seed", range(6))
def test_the_program_matches_brute_force(seed):
    import numpy as np

    from edge_transfer.speed import allocate

    rng = np.random.default_rng(seed)
    times = [sorted(rng.uniform(0.1, 3.0, 4), reverse=True) for _ in range(5)]  # slower when denser
    costs = [sorted(rng.uniform(0, 1, 4)) for _ in range(5)]  # costlier when sparser
    profile = _profile(times, fixed=0.7)
    target = float(rng.uniform(1.1, 0.9 * profile.dense_ms / (0.7 + sum(min(t) for t in times))))
    found = allocate(profile, costs, target)
    budget = profile.dense_ms / target
    assert found.predicted_ms <= budget + 1e-9  # the guarantee
    step = (budget - 0.7) / 4000
    best = min(sum(costs[i][j] for i, j in enumerate(c)) for c in itertools.product(range(4), repeat=5)
               if profile.predicted_ms(list(c)) <= budget - len(times) * step)  # choices the rounding can represent
    assert found.cost <= best + 1e-12


def test_an_unreachable_target_names_the_best_speedup():
    from edge_transfer.speed import allocate
    from edge_transfer.speed.solve import UnreachableTarget

    profile = _profile([[4.0, 1.0], [4.0, 2.0]], fixed=2.0)  # dense 10 ms, fastest 5 ms
    with pytest.raises(UnreachableTarget) as info:
        allocate(profile, [[0, 1], [0, 1]], target_speedup=2.5)
    assert info.value.best_speedup == pytest.approx(2.0)
    assert allocate(profile, [[0, 1], [0, 1]], target_speedup=2.0).choice == (1, 1)


def test_the_profile_key_covers_every_setting_and_a_foreign_profile_is_refused():
    from edge_transfer.speed.record import ProfileError

    base = _key()
    changed = [_key(**{f: v}) for f, v in (("arch", "resnet50"), ("input_size", (3, 64, 64)), ("engine", "x"),
                                            ("engine_version", "1.7"), ("batch_size", 64), ("cores", 12),
                                            ("cpu", "other"), ("isa", ()), ("precision", "int8"), ("block", 4))]
    assert len({base.digest(), *(k.digest() for k in changed)}) == 11
    profile = _profile([[2.0, 1.0]], key=base)
    profile.check_matches(_key(cores=16, batch_size=64), "p.json")  # the profile's own batch and cores answer
    with pytest.raises(ProfileError, match="precision 'fp32' vs 'int8'"):
        profile.check_matches(_key(precision="int8"), "p.json")
    with pytest.raises(ProfileError, match="cpu 'cpu' vs 'other'"):
        profile.check_matches(_key(cpu="other"), "p.json")


def test_a_damaged_profile_is_refused(tmp_path):
    from edge_transfer.speed import SpeedProfile
    from edge_transfer.speed.record import ProfileError

    good = _profile([[2.0, 1.0]]).to_json()
    for bad, fragment in ((dict(good, grid=[0.5, 0.1]), "ascending"), (dict(good, fixed_ms=[1.0]), "fixed_ms"),
                          (dict(good, units=[{"layers": [], "ms": [1, 1]}]), "layer names"),
                          (dict(good, key={"arch": "x"}), "not the fields")):
        (tmp_path / "p.json").write_text(json.dumps(bad))
        with pytest.raises(ProfileError, match=fragment):
            SpeedProfile.read(tmp_path / "p.json")


def _here_profile(tmp_path, arch="resnet18-cifar", input_size=(3, 32, 32), block=1, grid=(0.0, 0.5, 0.9, 0.98),
                  only: str = ""):
    """A constructed profile of every prunable layer of ``arch``, keyed for this machine: 3x3
    convolutions gain with sparsity, 1x1 ones barely (the shape DeepSparse's timings have)."""
    from edge_transfer.backbones import create_backbone, get_backbone_cfg, prunable_parameters
    from edge_transfer.cluster.identity import isa_flags
    from edge_transfer.engines import get_engine
    from edge_transfer.speed import PROFILE_SCHEMA, SpeedProfile
    from edge_transfer.system import cpu_model

    key = _key(arch=arch, input_size=input_size, block=block, cpu=cpu_model(), isa=tuple(isa_flags()),
               engine_version=get_engine("deepsparse").version())
    weights = prunable_parameters(create_backbone(arch), get_backbone_cfg(arch))
    gains, flat = {0.0: 1.0, 0.5: 0.7, 0.9: 0.3, 0.98: 0.15}, {0.0: 0.3, 0.5: 0.29, 0.9: 0.28, 0.98: 0.27}
    units = [{"layers": [name], "ms": [(gains if w.dim() == 4 and w.shape[-1] == 3 else flat)[s] for s in grid]}
             for name, w in weights.items() if name.startswith(only)]
    profile = SpeedProfile(schema=PROFILE_SCHEMA, key=key, grid=grid, units=units, fixed_ms=[2.0] * len(grid),
                           measured_ms=[5.0] * len(grid), method="constructed")
    path = tmp_path / "profile.json"
    profile.write(path)
    return SpeedProfile.read(path), path


def test_a_speed_target_ticket_carries_its_allocation_exactly(tmp_path):
    from edge_transfer.ticket import load_ticket_meta

    profile, path = _here_profile(tmp_path)
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--target-speedup", "2", "--profile", path, "--output",
                   tmp_path / "t")
    assert proc.returncode == 0, proc.stderr
    meta = load_ticket_meta(tmp_path / "t")
    a = meta.allocation
    assert a["target_speedup"] == 2 and a["predicted_speedup"] >= 2 and a["profile"]["digest"] == profile.key.digest()
    layers = {r["name"]: r for r in meta.layers if r["prunable"]}
    assert set(a["layers"]) == set(layers)
    for name, s in a["layers"].items():  # each layer pruned to exactly its allocated sparsity
        assert layers[name]["zeros"] == round(s * layers[name]["params"]), name
    chosen = {s for n, s in a["layers"].items() if layers[n]["shape"][-1] == 3}
    assert max(chosen) > max(s for n, s in a["layers"].items() if layers[n]["shape"][-1] == 1)  # 3x3 pay off
    latency = run_cli("prune", "--arch", "resnet18-cifar", "--target-latency", "2.5", "--profile", path, "--output",
                      tmp_path / "t-latency")  # measured dense 5 ms: the same as asking for 2x
    assert latency.returncode == 0, latency.stderr
    assert load_ticket_meta(tmp_path / "t-latency").allocation["layers"] == a["layers"]
    again = run_cli("prune", "--arch", "resnet18-cifar", "--allocation", tmp_path / "t" / "ticket.json", "--output",
                    tmp_path / "t2")  # the allocation file form: the same masks
    assert again.returncode == 0, again.stderr
    assert [r["zeros"] for r in load_ticket_meta(tmp_path / "t2").layers] == [r["zeros"] for r in meta.layers]


def test_speed_target_bad_input(tmp_path):
    """Through the CLI where the command line itself is the subject (one line, exit 2, nothing
    written); the rest through the API, which raises the same typed errors."""
    from edge_transfer.prune import PruneOptions, draw_ticket

    _, path = _here_profile(tmp_path)
    prune = ["prune", "--arch", "resnet18-cifar", "--output", tmp_path / "t"]
    assert_one_line_error(run_cli(*prune, "--target-speedup", "50", "--profile", path), "best it predicts is")
    assert_one_line_error(run_cli(*prune, "--target-speedup", "2", "--profile", path, "--sparsity", "0.9"),
                          "drop it")
    (tmp_path / "cut.json").write_text(path.read_text()[:200])
    assert_one_line_error(run_cli(*prune, "--target-speedup", "2", "--profile", tmp_path / "cut.json"),
                          "not readable JSON")
    base = dict(arch="resnet18-cifar", output=tmp_path / "t", profile=path)
    for kwargs, fragment in [
        (dict(target_speedup=1.0), "> 1"),
        (dict(target_speedup=float("nan")), "finite"),
        (dict(target_speedup=2.0, profile=None), "--profile"),
        (dict(target_latency_ms=6.0), "no faster than"),
        (dict(target_latency_ms=0.1), "best it predicts is"),
        (dict(target_latency_ms=2.0, target_speedup=2.0), "not both"),
        (dict(target_speedup=2.0, method="lmp", train=TrainSettings(data="embedded:mnist-0to4")),
         "each layer to its own sparsity"),
        (dict(target_speedup=2.0, arch="resnet18"), "arch 'resnet18-cifar' vs 'resnet18'"),
        (dict(target_speedup=2.0, block=4), "block 1 vs 4"),
    ]:
        with pytest.raises(OptionError, match=re.escape(fragment)):
            draw_ticket(PruneOptions(**{**base, **kwargs}))
    assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_a_real_profile_on_deepsparse_and_its_cache(small_ticket, tmp_path, monkeypatch):
    from edge_transfer.speed import profile as measuring
    from edge_transfer.ticket import load_ticket_meta

    out = tmp_path / "p.json"
    proc = run_cli("profile", small_ticket, "--grid", "0,0.9", "--batch-size", "1", "--cores", "1", "--iterations",
                   "5", "--time", "0.2", "--output", out)
    assert proc.returncode == 0, proc.stderr
    assert "cannot speed up" in proc.stdout.splitlines()[2] or "cannot speed up" in proc.stdout
    profile = measuring.SpeedProfile.read(out)
    prunable = {r["name"] for r in load_ticket_meta(small_ticket).layers if r["prunable"]}
    assert profile.units and set(profile.layers) <= prunable and len(profile.layers) >= len(prunable) // 2
    assert all(ms > 0 for ms in profile.measured_ms) and 0 < profile.static_fraction() < 1
    assert (tmp_path / "p.png").stat().st_size > 0
    monkeypatch.setattr(measuring, "_grid_point", lambda *a, **k: pytest.fail("measured again"))
    again = measuring.measure_profile(measuring.ProfileOptions(model=small_ticket, output=out, grid=(0.0, 0.9),
                                                               cores=1, iterations=5, time_s=0.2))
    assert again.to_json() == profile.to_json()  # the same key: read from the file, not measured


def test_a_trained_checkpoint_is_allocated_by_measured_sensitivity_and_the_cache_is_used(trained_ticket90, tmp_path,
                                                                                         monkeypatch):
    """With the checkpoint's own task as --data, the cost of a choice is the validation loss
    increase of pruning that unit alone: zero when dense, larger at 98% than at 50% on the
    whole; the second draw reads the measured table from the cache."""
    import json

    monkeypatch.setenv("EDGE_TRANSFER_CACHE", str(tmp_path / "cache"))
    _, path = _here_profile(tmp_path, input_size=(3, 16, 16), grid=(0.0, 0.5, 0.98), only="layer4")
    checkpoint = trained_ticket90.parent / "src.pt"
    argv = ["prune", "--arch", "resnet18-cifar", "--checkpoint", checkpoint, "--data", "embedded:mnist-0to4",
            "--train-limit", "300", "--image-size", "16", "--target-speedup", "1.2", "--profile", path]
    first = run_cli(*argv, "--output", tmp_path / "t1")
    assert first.returncode == 0, first.stderr
    units = len(json.loads(path.read_text())["units"])
    assert f"sensitivity {units}/{units}" in first.stdout
    (cached,) = (tmp_path / "cache" / "sensitivity").glob("*.json")
    rows = json.loads(cached.read_text())["loss_increase"]
    assert all(r[0] == 0 and min(r) >= 0 for r in rows)
    assert sum(r[-1] for r in rows) > sum(r[1] for r in rows)
    meta = json.loads((tmp_path / "t1" / "ticket.json").read_text())
    assert meta["allocation"]["criterion"].startswith("validation loss increase")
    second = run_cli(*argv, "--output", tmp_path / "t2")
    assert second.returncode == 0 and "from the cache" in second.stdout and "sensitivity 1/" not in second.stdout
    assert json.loads((tmp_path / "t2" / "ticket.json").read_text())["allocation"]["layers"] == meta["allocation"]["layers"]
    other_task = run_cli(*argv[:6], "embedded:digits", *argv[7:], "--output", tmp_path / "t3")
    assert_one_line_error(other_task, "checkpoint's own task")


def test_over_best_peer_aims_past_the_fastest_dense_model(tmp_path, monkeypatch):
    """--over best-peer: the target over the profile's dense form is X times the peer's measured
    lead (here 1.25x), recorded with the peer; the peer is the fastest dense record of a run."""
    import dataclasses

    from edge_transfer.prune import PruneOptions, draw_ticket
    from edge_transfer.speed import dense_peer, peers

    profile, path = _here_profile(tmp_path)
    records = [{"variant": "dense", "model": "r-dense", "engine": "deepsparse", "precision": "fp32", "items_per_sec": 200},
               {"variant": "dense", "model": "r-dense", "engine": "openvino", "precision": "fp32", "items_per_sec": 250},
               {"variant": "ticket", "model": "r-omp90", "engine": "deepsparse", "precision": "fp32", "items_per_sec": 900}]
    peer = dense_peer.pick_peer(records, profile.key)
    assert (peer.name, peer.ratio) == ("r-dense on openvino", 1.25)
    with pytest.raises(OptionError, match="--over dense"):
        dense_peer.pick_peer([r for r in records if r["engine"] != "deepsparse"], profile.key)
    monkeypatch.setattr(peers, "fastest_dense_peer", lambda key, log: peer)  # what the prune command measures first
    over_dense = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "d", target_speedup=2.0,
                                          profile=path)).meta.allocation
    asked = PruneOptions(arch="resnet18-cifar", output=tmp_path / "p", target_speedup=1.6, profile=path, over="best-peer")
    with pytest.raises(OptionError, match="measured first"):  # pruning does not reach up to bench for it
        draw_ticket(asked)
    over_peer = draw_ticket(peers.with_best_peer(asked)).meta.allocation
    assert over_peer["target_speedup"] == pytest.approx(2.0) and over_peer["over"] == "best-peer"
    assert over_peer["layers"] == over_dense["layers"]  # 1.6x over a peer 1.25x faster = 2x over dense
    assert over_peer["best_peer"]["name"] == "r-dense on openvino"
    assert over_peer["predicted_speedup_over_best_peer"] == pytest.approx(over_peer["predicted_speedup"] / 1.25)
    with pytest.raises(OptionError, match="over the best peer.*ask for at most that"):
        draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "x", target_speedup=40, profile=path,
                                 over="best-peer", peer=peer))
    slow = dataclasses.replace(peer, items_per_sec=40 * peer.form_items_per_sec)  # a peer no ticket can beat
    with pytest.raises(OptionError, match="no sparsity beats the best peer here: ask --over dense"):
        draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "x", target_speedup=1.1, profile=path,
                                 over="best-peer", peer=slow))
    with pytest.raises(OptionError, match="give --target-speedup X with it"):
        PruneOptions(arch="resnet18-cifar", output=tmp_path / "y", target_latency_ms=2, profile=path,
                     over="best-peer").validate()
