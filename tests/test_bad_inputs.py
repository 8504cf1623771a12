"""Bad and hostile input across every subcommand, as a user would type it (subprocess).

Each case runs in its own process (forked from one that imported edge-transfer once, see
cli_forker.py; the signal tests start the real console entry point). For every case: exit 2, exactly one error line on stderr naming the fix, no traceback, and
the user's files beside and inside the output survive byte for byte, with no temp folder
left behind. Signals: SIGINT exits 130 and SIGTERM 143, with nothing partial written.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from bad_files import make_bad_files, make_device_files
from conftest import assert_one_line_error, run_cli

from edge_transfer.cli.main import SUBCOMMANDS

SENTINEL = b"the user's own file\n"
FAST = ["--no-progress"]
BENCH = ["--engine", "onnxruntime", "--batch-size", "2", "--time", "0.05", "--warmup", "0", "--min-iterations", "1",
         "--repeats", "1", "--no-memory", "--no-int8-peers", "--quiet"]

# (id, argv with {name} from bad_files and {out} the output, fragment of the one error line,
#  the output exists beforehand with a file of the user's inside)
CASES = [
    # prune: numbers, names, files, recipes, outputs
    ("prune-sparsity-1.5", ["prune", "--arch", "resnet18-cifar", "--sparsity", "1.5", "--output", "{out}"], "[0, 1)"),
    ("prune-sparsity-neg", ["prune", "--arch", "resnet18-cifar", "--sparsity", "-0.1", "--output", "{out}"], "[0, 1)"),
    ("prune-sparsity-text", ["prune", "--arch", "resnet18-cifar", "--sparsity", "most", "--output", "{out}"],
     "not a number"),
    ("prune-method", ["prune", "--arch", "resnet18-cifar", "--method", "snip", "--output", "{out}"], "invalid choice"),
    ("prune-arch", ["prune", "--arch", "resnet51", "--output", "{out}"], "unknown architecture"),
    ("prune-block-3", ["prune", "--arch", "resnet18-cifar", "--block", "3", "--output", "{out}"], "--block"),
    ("prune-block-lmp", ["prune", "--arch", "resnet18-cifar", "--method", "lmp", "--block", "4", "--output", "{out}"],
     "--block"),
    ("prune-block-stem", ["prune", "--arch", "resnet18-cifar", "--block", "4", "--prune-first-conv", "--output",
                          "{out}"], "divisible by 4"),
    ("prune-rounds-0", ["prune", "--arch", "resnet18-cifar", "--rounds", "0", "--output", "{out}"], "--rounds"),
    ("prune-score-lr-nan", ["prune", "--arch", "resnet18-cifar", "--score-lr", "nan", "--output", "{out}"], "finite"),
    ("prune-lr-nan", ["prune", "--arch", "resnet18-cifar", "--lr", "nan", "--output", "{out}"], "finite"),
    ("prune-lr-inf", ["prune", "--arch", "resnet18-cifar", "--lr", "inf", "--output", "{out}"], "finite"),
    ("prune-epochs-0", ["prune", "--arch", "resnet18-cifar", "--epochs", "0", "--output", "{out}"], "positive"),
    ("prune-seed-text", ["prune", "--arch", "resnet18-cifar", "--seed", "one", "--output", "{out}"], "invalid int"),
    ("prune-pretraining", ["prune", "--arch", "resnet18-cifar", "--pretraining", "magic", "--output", "{out}"],
     "invalid choice"),
    ("prune-ckpt-missing", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{missing}", "--output", "{out}"],
     "not found"),
    ("prune-ckpt-garbage", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{garbage_ckpt}", "--output", "{out}"],
     "truncated or corrupt"),
    ("prune-ckpt-bomb", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{bomb}", "--output", "{out}"],
     "--trust-checkpoint"),
    ("prune-ckpt-nan", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{nan}", "--output", "{out}"],
     "NaN or Inf"),
    ("prune-ckpt-folder", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{a_folder}", "--output", "{out}"],
     "checkpoint"),
    ("prune-mask-from-missing", ["prune", "--arch", "resnet18-cifar", "--mask-from", "{missing}", "--output", "{out}"],
     "not found"),
    ("prune-mask-from-folder", ["prune", "--arch", "resnet18-cifar", "--mask-from", "{a_folder}", "--output", "{out}"],
     "not a ticket folder"),
    ("prune-mask-from-arch", ["prune", "--arch", "resnet18", "--mask-from", "{ticket}", "--output", "{out}"],
     "does not fit --arch"),
    ("prune-recipe-omp", ["prune", "--arch", "resnet18-cifar", "--recipe", "{recipe_bomb}", "--output", "{out}"],
     "--recipe drives"),
    ("prune-recipe-bomb", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_bomb}",
                           "--data", "embedded:mnist-0to4", "--output", "{out}"], "power"),
    ("prune-recipe-call", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_call}",
                           "--data", "embedded:mnist-0to4", "--output", "{out}"], "plain arithmetic"),
    ("prune-recipe-notyaml", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_notyaml}",
                              "--data", "embedded:mnist-0to4", "--output", "{out}"], "YAML"),
    ("prune-imp-no-data", ["prune", "--arch", "resnet18-cifar", "--method", "imp", "--output", "{out}"], "--data"),
    ("prune-output-exists", ["prune", "--arch", "resnet18-cifar", "--output", "{out}"], "already exists", True),
    ("prune-output-is-ckpt", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{nan}", "--output", "{nan}"],
     "lies inside the input"),
    ("prune-output-is-a-file", ["prune", "--arch", "resnet18-cifar", "--output", "{nan}"], "not a folder"),
    ("prune-output-readonly", ["prune", "--arch", "resnet18-cifar", "--output", "/proc/edge-transfer-test/t"],
     "writable --output"),
    # info
    ("info-missing", ["info", "{missing}"], "not found"),
    ("info-not-ticket", ["info", "{a_folder}"], "not a ticket folder"),
    ("info-ticket-list", ["info", "{t_list}"], "not an object"),
    ("info-ticket-noarch", ["info", "{t_noarch}"], "lacks 'arch'"),
    ("info-ticket-ten", ["info", "{t_ten}"], "num_classes = 'ten'"),
    ("info-flipped-byte", ["info", "{flipped}"], "sha256"),
    ("info-json-folder", ["info", "{ticket}", "--json", "{a_folder}"], "is a folder"),
    ("info-nothing", ["info"], "--list-archs"),
    # export
    ("export-missing", ["export", "{missing}", "--output", "{out}"], "not found"),
    ("export-not-ticket", ["export", "{a_folder}", "--output", "{out}"], "not a ticket folder"),
    ("export-onto-ticket", ["export", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("export-inside-ticket", ["export", "{own_ticket}", "--output", "{own_ticket}/sub", "--force"], "outside it"),
    ("export-holding-ticket", ["export", "{own_ticket}", "--output", "{case}", "--force"], "outside it"),
    ("export-opset", ["export", "{ticket}", "--output", "{out}", "--opset", "5"], "--opset"),
    ("export-batch-0", ["export", "{ticket}", "--output", "{out}", "--batch-size", "0"], "--batch-size"),
    ("export-batch-text", ["export", "{ticket}", "--output", "{out}", "--batch-size", "many"], "dynamic"),
    ("export-engine", ["export", "{ticket}", "--output", "{out}", "--validate-engines", "tensorrt"], "unknown engine"),
    ("export-engines-empty-item", ["export", "{ticket}", "--output", "{out}", "--validate-engines", "onnxruntime,,"],
     "empty item"),
    ("export-output-exists", ["export", "{ticket}", "--output", "{out}"], "already exists", True),
    ("export-ticket-list", ["export", "{t_list}", "--output", "{out}"], "redraw the ticket"),
    ("export-flipped-byte", ["export", "{flipped}", "--output", "{out}"], "sha256"),
    ("export-readonly", ["export", "{ticket}", "--output", "/proc/edge-transfer-test/e"], "writable --output"),
    # quantize
    ("quantize-samples-0", ["quantize", "{ticket}", "--output", "{out}", "--samples", "0"], "positive"),
    ("quantize-max-drop", ["quantize", "{ticket}", "--output", "{out}", "--max-drop", "-1"], ">= 0"),
    ("quantize-max-drop-nan", ["quantize", "{ticket}", "--output", "{out}", "--max-drop", "nan"], "finite"),
    ("quantize-qat-epochs", ["quantize", "{ticket}", "--output", "{out}", "--qat-epochs", "-2"], ">= 0"),
    ("quantize-qat-lr", ["quantize", "{ticket}", "--output", "{out}", "--qat-lr", "0"], "> 0"),
    ("quantize-calib-missing", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{missing}"],
     "not found"),
    ("quantize-calib-unreadable", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{unreadable}"],
     "readable"),
    ("quantize-calib-empty", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{empty}"], "image"),
    ("quantize-swapped-export", ["quantize", "{swapped}", "--output", "{out}"], "sha256"),
    ("quantize-manifest-list", ["quantize", "{m_list}", "--output", "{out}"], "re-export"),
    ("quantize-not-ticket", ["quantize", "{a_folder}", "--output", "{out}"], "neither a ticket"),
    ("quantize-onto-source", ["quantize", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("quantize-engine-torch", ["quantize", "{ticket}", "--output", "{out}", "--validate-engines", "torch"], "INT8"),
    ("quantize-output-exists", ["quantize", "{ticket}", "--output", "{out}"], "already exists", True),
    # bench
    ("bench-cores-0", ["bench", "{export}", "--cores", "0"], "positive"),
    ("bench-batch-0", ["bench", "{export}", "--batch-size", "0"], "positive"),
    ("bench-batch-empty-item", ["bench", "{export}", "--batch-size", "1,,64"], "empty item"),
    ("bench-time-inf", ["bench", "{export}", "--time", "inf"], "finite"),
    ("bench-time-neg", ["bench", "{export}", "--time", "-1"], "finite"),
    ("bench-warmup-nan", ["bench", "{export}", "--warmup", "nan"], "finite"),
    ("bench-repeats-0", ["bench", "{export}", "--repeats", "0"], "positive"),
    ("bench-engine", ["bench", "{export}", "--engine", "tensorrt"], "unknown engine"),
    ("bench-scenario", ["bench", "{export}", "--scenario", "burst"], "invalid choice"),
    ("bench-shape", ["bench", "{export}", "--input-shape", "3x0x8"], "CxHxW"),
    ("bench-path-missing", ["bench", "{missing}"], "not found"),
    ("bench-not-a-model", ["bench", "{garbage}"], "neither a ticket folder"),
    ("bench-compare-binary", ["bench", "--compare", "{garbage}", "{garbage}"], "not readable JSON"),
    ("bench-compare-list", ["bench", "--compare", "{list_json}", "{list_json}"], "bench --json"),
    ("bench-compare-no-results", ["bench", "--compare", "{no_results}", "{no_results}"], "no readable results"),
    ("bench-manifest-list", ["bench", "{m_list}", *BENCH], "not an object"),
    ("bench-manifest-noarch", ["bench", "{m_noarch}", *BENCH], "lacks 'arch'"),
    ("bench-manifest-size", ["bench", "{m_size}", *BENCH], "input_size"),
    ("bench-swapped-model", ["bench", "{swapped}", *BENCH], "sha256"),
    ("bench-onnx-outside", ["bench", "{onnx_outside}", *BENCH], "outside the model's folder"),
    ("bench-onnx-subgraph", ["bench", "{onnx_subgraph}", *BENCH], "outside the model's folder"),
    ("bench-onnx-past-end", ["bench", "{onnx_pastend}", *BENCH], "past the end"),
    ("bench-onnx-unknown-op", ["bench", "{onnx_unknown_op}", *BENCH], "NoSuchOperator"),
    ("bench-onnx-static-batch", ["bench", "{onnx_static1}", *BENCH], "static batch of 1"),
    ("bench-json-folder", ["bench", "{export}", *BENCH, "--json", "{a_folder}"], "is a folder"),
    # adapt
    ("adapt-missing", ["adapt", "{missing}", "--output", "{out}"], "not found"),
    ("adapt-lr-nan", ["adapt", "{ticket}", "--output", "{out}", "--lr", "nan"], "finite"),
    ("adapt-momentum", ["adapt", "{ticket}", "--output", "{out}", "--momentum", "1.5"], "--momentum"),
    ("adapt-epochs-0", ["adapt", "{ticket}", "--output", "{out}", "--epochs", "0"], "positive"),
    ("adapt-batch-0", ["adapt", "{ticket}", "--output", "{out}", "--batch-size", "0"], "positive"),
    ("adapt-engine", ["adapt", "{ticket}", "--output", "{out}", "--engine", "tensorrt"], "unknown engine"),
    ("adapt-probe", ["adapt", "{ticket}", "--output", "{out}", "--probe", "adam"], "invalid choice"),
    ("adapt-train-limit", ["adapt", "{ticket}", "--output", "{out}", "--train-limit", "5"], "at least 10"),
    ("adapt-data-missing", ["adapt", "{ticket}", "--output", "{out}", "--data", "{missing}"], "not found"),
    ("adapt-data-unreadable", ["adapt", "{ticket}", "--output", "{out}", "--data", "{unreadable}"], "readable"),
    ("adapt-resume-nothing", ["adapt", "{ticket}", "--output", "{out}", "--resume", "--probe", "sgd",
                              "--precompute"], "checkpoint"),
    ("adapt-json-folder", ["adapt", "{ticket}", "--output", "{out}", "--json", "{a_folder}"], "is a folder"),
    ("adapt-flipped-byte", ["adapt", "{flipped}", "--output", "{out}", "--epochs", "1"], "sha256"),
    ("adapt-output-holds-a-run", ["adapt", "{ticket}", "--output", "{out}"], "already holds an adapt run",
     "checkpoint.pt"),
    # finetune
    ("finetune-missing", ["finetune", "{missing}"], "not found"),
    ("finetune-lr-inf", ["finetune", "{ticket}", "--lr", "inf"], "finite"),
    ("finetune-epochs-neg", ["finetune", "{ticket}", "--epochs", "-1"], "positive"),
    ("finetune-data-unreadable", ["finetune", "{ticket}", "--data", "{unreadable}", *FAST], "readable"),
    ("finetune-onto-ticket", ["finetune", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("finetune-output-exists", ["finetune", "{ticket}", "--output", "{out}"], "already exists", True),
    # pretrain
    ("pretrain-arch", ["pretrain", "--arch", "vgg99", "--output", "{out}.pt"], "unknown architecture"),
    ("pretrain-robust", ["pretrain", "--arch", "resnet18-cifar", "--robust", "magic", "--output", "{out}.pt"],
     "invalid choice"),
    ("pretrain-eps", ["pretrain", "--arch", "resnet18-cifar", "--robust", "pgd", "--eps", "-1", "--output",
                      "{out}.pt"], "--eps"),
    ("pretrain-wd-nan", ["pretrain", "--arch", "resnet18-cifar", "--weight-decay", "nan", "--output", "{out}.pt"],
     "finite"),
    ("pretrain-image-size", ["pretrain", "--arch", "resnet18-cifar", "--image-size", "0", "--output", "{out}.pt"],
     "positive"),
    ("pretrain-data-unreadable", ["pretrain", "--arch", "resnet18-cifar", "--data", "{unreadable}", *FAST, "--output",
                                  "{out}.pt"], "readable"),
    ("pretrain-data-empty", ["pretrain", "--arch", "resnet18-cifar", "--data", "{empty}", *FAST, "--output",
                             "{out}.pt"], "image"),
    ("pretrain-output-folder", ["pretrain", "--arch", "resnet18-cifar", "--output", "{a_folder}"], "folder"),
    # study
    ("study-seeds-0", ["study", "--source-seeds", "0", "--output", "{out}"], "positive"),
    ("study-methods", ["study", "--methods", "snip", "--output", "{out}"], "snip"),
    ("study-robust", ["study", "--robust", "magic", "--output", "{out}"], "magic"),
    ("study-modes", ["study", "--modes", "linear,zero-shot", "--output", "{out}"], "zero-shot"),
    ("study-sparsity", ["study", "--sparsities", "0.5,1.5", "--output", "{out}"], "[0, 1)"),
    ("study-sparsity-0", ["study", "--sparsities", "0", "--output", "{out}"], "dense model is always included"),
    ("study-engine", ["study", "--engine", "tensorrt", "--output", "{out}"], "unknown engine"),
    ("study-eps-nan", ["study", "--eps", "nan", "--output", "{out}"], "finite"),
    ("study-target-missing", ["study", "--target", "{missing}", "--output", "{out}"], "not found"),
    # deploy, predict, learn (cases that need a real run or artifact are in test_deploy.py)
    ("deploy-neither", ["deploy", "{a_folder}", "--output", "{out}"], "neither an adapt run folder"),
    ("deploy-missing", ["deploy", "{missing}", "--output", "{out}"], "not found"),
    ("deploy-plain-ticket", ["deploy", "{ticket}", "--output", "{out}"], "still its source task's"),
    ("deploy-export", ["deploy", "{export}", "--output", "{out}"], "neither an adapt run folder"),
    ("deploy-engine", ["deploy", "{a_folder}", "--engine", "tensorrt", "--output", "{out}"], "unknown engine"),
    ("deploy-time-0", ["deploy", "{a_folder}", "--time", "0", "--output", "{out}"], "> 0"),
    ("deploy-int8-torch", ["deploy", "{a_folder}", "--int8", "--engine", "torch", "--output", "{out}"],
     "does not run INT8"),
    ("deploy-samples-0", ["deploy", "{a_folder}", "--calibration-samples", "0", "--output", "{out}"], "positive"),
    ("deploy-output-exists", ["deploy", "{a_folder}", "--output", "{out}"], "exists", True),
    ("predict-top-k-0", ["predict", "{a_folder}", "{a_folder}", "--top-k", "0"], "positive"),
    ("predict-batch-0", ["predict", "{a_folder}", "{a_folder}", "--batch-size", "0"], "positive"),
    ("predict-not-artifact", ["predict", "{export}", "{a_folder}"], "deploy.json not found"),
    ("predict-input-missing", ["predict", "{a_folder}", "{missing}"], "not found"),
    ("learn-not-artifact", ["learn", "{export}", "--data", "embedded:mnist-5to9", "--output", "{out}"],
     "deploy.json not found"),
    ("learn-no-data", ["learn", "{a_folder}", "--output", "{out}"], "--data"),
    ("learn-epochs-0", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--epochs", "0", "--output", "{out}"],
     "positive"),
    ("learn-lr-nan", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--lr", "nan", "--output", "{out}"],
     "finite"),
    ("learn-output-exists", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--output", "{out}"], "exists",
     True),
    # profile
    ("profile-engine-no-layer-timing", ["profile", "{ticket}", "--engine", "onnxruntime", "--output", "{out}.json"],
     "no per-layer timing"),
    ("profile-engine-unknown", ["profile", "{ticket}", "--engine", "tensorrt", "--output", "{out}.json"],
     "unknown engine"),
    ("profile-grid-no-dense", ["profile", "{ticket}", "--grid", "0.5,0.9", "--output", "{out}.json"], "starting at 0"),
    ("profile-grid-empty-item", ["profile", "{ticket}", "--grid", "0,,0.9", "--output", "{out}.json"], "empty item"),
    ("profile-missing", ["profile", "{missing}", "--output", "{out}.json"], "neither a ticket"),
    ("profile-output-folder", ["profile", "{ticket}", "--output", "{a_folder}"], "is a folder"),
    ("profile-output-into-ticket", ["profile", "{own_ticket}", "--output", "{own_ticket}/p.json"], "lies inside"),
    ("profile-precision", ["profile", "{ticket}", "--precision", "int4", "--output", "{out}.json"], "invalid choice"),
    ("profile-flipped-byte", ["profile", "{flipped}", "--output", "{out}.json"], "sha256"),
    # demo
    ("demo-sparsities", ["demo", "--sparsities", "1.5", "--output", "{out}"], "[0, 1)"),
    ("demo-adapt-epochs", ["demo", "--adapt-epochs", "-3", "--output", "{out}"], ">= 0"),
    ("demo-bench-time", ["demo", "--bench-time", "0", "--output", "{out}"], "> 0"),
    ("demo-archs", ["demo", "--archs", "resnet51", "--output", "{out}"], "unknown architecture"),
    ("demo-users-folder", ["demo", "--output", "{out}"], "did not write", True),
    ("demo-output-file", ["demo", "--output", "{nan}"], "not a folder"),
]

ORT = ["--engine", "onnxruntime"]

# The device side (issue: deploy, predict, learn, the API, quantize, --cluster, --compare met
# hostile files and images). {own_X}: a copy of X made inside the case folder, so that the
# byte-for-byte check below covers the input a wrong output would have replaced.
DEVICE_CASES = [
    # outputs that are, or lie inside, an input (--json files included)
    ("predict-json-onto-image", ["predict", "{artifact}", "{own_image}", "--json", "{own_image}"], "lies inside the input"),
    ("predict-json-into-artifact", ["predict", "{own_artifact}", "{image}", "--json", "{own_artifact}/deploy.json"],
     "lies inside the input"),
    ("predict-json-into-images", ["predict", "{artifact}", "{own_images}", "--json", "{own_images}/p.json"],
     "lies inside the input"),
    ("info-json-into-ticket", ["info", "{own_ticket}", "--json", "{own_ticket}/ticket.json"], "lies inside the input"),
    ("bench-json-into-export", ["bench", "{own_export}", *BENCH, "--json", "{own_export}/manifest.json"],
     "lies inside the input"),
    ("bench-cluster-json-into-export", ["bench", "{own_export}", "--cluster", "local:1", "--json",
                                        "{own_export}/manifest.json"], "lies inside the input"),
    ("bench-csv-onto-model", ["bench", "{own_export}", *BENCH, "--csv", "{own_export}/model.onnx"], "lies inside"),
    ("bench-markdown-onto-compared", ["bench", "--compare", "{own_c_good}", "{c_good}", "--markdown", "{own_c_good}"],
     "lies inside the input"),
    ("adapt-json-into-ticket", ["adapt", "{own_ticket}", "--output", "{out}", "--json", "{own_ticket}/adapt.json"],
     "lies inside the input"),
    ("finetune-json-into-ticket", ["finetune", "{own_ticket}", "--json", "{own_ticket}/f.json"], "lies inside the input"),
    ("deploy-output-into-val", ["deploy", "{run}", "--val", "{own_images}", "--output", "{own_images}/art"],
     "lies inside the input"),
    ("deploy-output-into-run", ["deploy", "{own_run}", "--output", "{own_run}/art"], "lies inside"),
    ("learn-output-into-data", ["learn", "{artifact}", "--data", "{own_images}", "--output", "{own_images}/new"],
     "lies inside the input"),
    ("learn-onto-artifact", ["learn", "{own_artifact}", "--data", "embedded:mnist-5to9", "--output", "{own_artifact}",
                             "--force"], "lies inside"),
    ("quantize-output-into-calibration", ["quantize", "{ticket}", "--calibration", "{own_images}", "--output",
                                          "{own_images}/q"], "lies inside the input"),
    ("study-json-into-target", ["study", "--target", "{own_images}", "--json", "{own_images}/s.json", "--output", "{out}"],
     "lies inside the input"),
    ("pretrain-output-into-data", ["pretrain", "--arch", "resnet18-cifar", "--data", "{own_images}", "--output",
                                   "{own_images}/s.pt"], "lies inside the input"),
    # recorded file names that leave their folder
    ("quantize-manifest-file-up", ["quantize", "{m_file_up}", "--output", "{out}"], "not inside its folder"),
    ("bench-manifest-file-up", ["bench", "{m_file_up}", *BENCH], "not inside its folder"),
    ("bench-manifest-dense-up", ["bench", "{m_dense_up}", *BENCH], "not inside its folder"),
    ("predict-files-up", ["predict", "{a_files_up}", "{image}", *ORT], "not inside its folder"),
    ("predict-files-absolute", ["predict", "{a_files_absolute}", "{image}", *ORT], "not inside its folder"),
    ("predict-labels-link-out", ["predict", "{a_link_out}", "{image}", *ORT], "leaves its folder"),
    ("predict-model-external-out", ["predict", "{a_model_outside}", "{image}", *ORT], "outside the model's folder"),
    # sizes and nesting read from a small file, bounded before allocation
    ("predict-input-size-huge", ["predict", "{a_size_huge}", "{image}", *ORT], "pixels a side"),
    ("predict-classes-huge", ["predict", "{a_classes_huge}", "{image}", *ORT], "classes"),
    ("predict-features-huge", ["predict", "{a_features_huge}", "{image}", *ORT], "features"),
    ("predict-deploy-nested", ["predict", "{a_nested}", "{image}", *ORT], "nests deeper"),
    ("predict-deploy-huge", ["predict", "{a_huge_json}", "{image}", *ORT], "MiB"),
    ("predict-deploy-not-json", ["predict", "{a_not_json}", "{image}", *ORT], "not readable JSON"),
    ("predict-deploy-list", ["predict", "{a_list}", "{image}", *ORT], "not an object"),
    ("predict-labels-nested", ["predict", "{a_labels_nested}", "{image}", *ORT], "nests deeper"),
    ("deploy-adapt-nested", ["deploy", "{r_nested}", "--output", "{out}"], "nests deeper"),
    ("info-ticket-nested", ["info", "{t_nested}"], "nests deeper"),
    ("info-ticket-classes-huge", ["info", "{t_classes_huge}"], "at most"),
    ("export-ticket-size-huge", ["export", "{t_size_huge}", "--output", "{out}"], "pixels a side"),
    ("quantize-manifest-classes-huge", ["quantize", "{m_classes_huge}", "--output", "{out}"], "num_classes"),
    ("bench-manifest-size-huge", ["bench", "{m_size_huge}", *BENCH], "pixels a side"),
    ("bench-compare-nested", ["bench", "--compare", "{c_nested}", "{c_good}"], "nests deeper"),
    # fields checked against the graph and each other
    ("predict-std-inf", ["predict", "{a_std_inf}", "{image}", *ORT], "finite"),
    ("predict-mean-nan", ["predict", "{a_mean_nan}", "{image}", *ORT], "finite"),
    ("predict-size-not-the-graphs", ["predict", "{a_size_other}", "{image}", *ORT], "takes"),
    ("predict-format-not-the-graphs", ["predict", "{a_format_other}", "{image}", *ORT], "takes"),
    ("predict-classes-not-the-graphs", ["predict", "{a_classes_other}", "{image}", *ORT], "columns"),
    ("predict-outputs-missing", ["predict", "{a_outputs_none}", "{image}", *ORT], "outputs"),
    ("predict-outputs-reversed", ["predict", "{a_outputs_reversed}", "{image}", *ORT], "gives"),
    ("predict-outputs-text", ["predict", "{a_outputs_text}", "{image}", *ORT], "not a list"),
    ("predict-history-int", ["predict", "{a_history_int}", "{image}", *ORT], "not a list"),
    ("predict-head-name", ["predict", "{a_head_name}", "{image}", *ORT], "does not hold"),
    ("predict-labels-duplicate", ["predict", "{a_labels_dup}", "{image}", *ORT], "distinct"),
    ("predict-model-garbage", ["predict", "{a_model_garbage}", "{image}", *ORT], "not a readable ONNX"),
    ("predict-tampered", ["predict", "{a_tampered}", "{image}", *ORT], "sha256"),
    ("learn-head-garbage", ["learn", "{a_head_garbage}", "--data", "{images}", *ORT, "--output", "{out}"],
     "not a readable safetensors"),
    ("learn-head-width", ["learn", "{a_head_width}", "--data", "{images}", *ORT, "--output", "{out}"], "head on 512"),
    ("learn-head-nan", ["learn", "{a_head_nan}", "--data", "{images}", *ORT, "--output", "{out}"], "non-finite"),
    ("learn-tampered", ["learn", "{a_tampered}", "--data", "{images}", *ORT, "--output", "{out}"], "sha256"),
    ("deploy-no-settings", ["deploy", "{r_no_settings}", *ORT, "--output", "{out}"], "lacks settings"),
    ("deploy-mean-inf", ["deploy", "{r_mean_inf}", *ORT, "--output", "{out}"], "finite"),
    ("deploy-data-not-text", ["deploy", "{r_data_int}", *ORT, "--output", "{out}"], "settings.train.data"),
    ("deploy-predictions-text", ["deploy", "{r_preds_text}", *ORT, "--output", "{out}"], "class indices"),
    ("deploy-classes-duplicate", ["deploy", "{r_classes_dup}", *ORT, "--output", "{out}"], "distinct"),
    ("deploy-no-feature-stats", ["deploy", "{r_no_stats}", *ORT, "--output", "{out}"], "feature statistics"),
    ("deploy-head-nan", ["deploy", "{r_head_nan}", *ORT, "--output", "{out}"], "NaN"),
    ("deploy-checkpoint-pickle", ["deploy", "{r_ckpt_bomb}", *ORT, "--output", "{out}"], "cannot read the head"),
    # a gate is never skipped silently
    ("deploy-predictions-incomplete", ["deploy", "{r_preds_short}", *ORT, "--time", "0.05", "--output", "{out}"],
     "cover 17 images"),
    # hostile images: a bomb is an unreadable file like any other
    ("predict-only-a-bomb", ["predict", "{artifact}", "{bomb_png}", *ORT], "decompression bomb"),
    ("predict-only-a-jpeg-bomb", ["predict", "{artifact}", "{bomb_jpeg}", *ORT], "none of the 1 files"),
    ("predict-only-truncated", ["predict", "{artifact}", "{truncated_png}", *ORT], "none of the 1 files"),
    ("learn-data-all-bombs", ["learn", "{artifact}", "--data", "{bombs}", *ORT, "--output", "{out}"], "could be read"),
    ("quantize-calibration-bombs", ["quantize", "{ticket}", "--calibration", "{bombs}", "--output", "{out}"],
     "could be read"),
    ("deploy-val-bombs", ["deploy", "{run}", "--val", "{bombs}", *ORT, "--output", "{out}"], "no readable validation"),
    # other options of the device commands
    ("quantize-samples-huge", ["quantize", "{ticket}", "--output", "{out}", "--samples", "10000000000"], "100,000"),
    ("deploy-calibration-samples-huge", ["deploy", "{run}", "--int8", "--calibration-samples", "10000000000",
                                         "--output", "{out}"], "100,000"),
    ("predict-batch-huge", ["predict", "{artifact}", "{image}", *ORT, "--batch-size", "1000000000"], "4096"),
    ("learn-batch-huge", ["learn", "{artifact}", "--data", "{images}", *ORT, "--batch-size", "1000000000", "--output",
                          "{out}"], "4096"),
    ("predict-engine", ["predict", "{artifact}", "{image}", "--engine", "tensorrt"], "unknown engine"),
    ("predict-cores-0", ["predict", "{artifact}", "{image}", "--cores", "0"], "positive"),
    ("learn-batch-0", ["learn", "{artifact}", "--data", "{images}", "--batch-size", "0", "--output", "{out}"], "positive"),
    ("learn-data-missing", ["learn", "{artifact}", "--data", "{missing}", *ORT, "--output", "{out}"], "not found"),
    ("deploy-val-missing", ["deploy", "{run}", "--val", "{missing}", *ORT, "--output", "{out}"], "not found"),
    # cluster and compare
    ("bench-cluster-empty", ["bench", "{export}", "--cluster", ""], "neither local:N"),
    ("bench-cluster-http", ["bench", "{export}", "--cluster", "http://127.0.0.1:8787"], "tcp"),
    ("bench-cluster-ws", ["bench", "{export}", "--cluster", "ws://127.0.0.1:8786"], "tcp"),
    ("study-cluster-output-file", ["study", "--cluster", "local:1", "--output", "{garbage}"], "not a folder"),
    ("study-cluster-output-readonly", ["study", "--cluster", "local:1", "--output", "/proc/edge-transfer-test/s"],
     "writable"),
    ("bench-compare-text-numbers", ["bench", "--compare", "{c_text_numbers}", "{c_good}"], "no readable results"),
    ("bench-compare-null-cores", ["bench", "--compare", "{c_good}", "{c_null_cores}"], "no readable results"),
    ("bench-compare-results-dict", ["bench", "--compare", "{c_results_dict}", "{c_good}"], "no readable results"),
    ("bench-compare-speedup-text", ["bench", "--compare", "{c_speedup_text}", "{c_good}"], "no readable results"),
]


def _case(row):
    case_id, argv, fragment, *inside = row  # inside: the output exists, holding this file of the user's
    name = (inside[0] if isinstance(inside[0], str) else "inside.txt") if inside else None
    return pytest.param(argv, fragment, name, id=case_id)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """``run(*argv, cwd=...)`` -> CompletedProcess: one forked process per call (cli_forker.py),
    so 100+ cases do not pay the torch import 100 times."""
    import json
    from pathlib import Path

    logs = tmp_path_factory.mktemp("cli-logs")
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_forker.py"))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def run(*argv, cwd):
        out, err = logs / "stdout", logs / "stderr"
        server.stdin.write(json.dumps({"argv": [str(a) for a in argv], "cwd": str(cwd), "stdout": str(out),
                                       "stderr": str(err)}) + "\n")
        server.stdin.flush()
        rc = json.loads(server.stdout.readline())["rc"]
        return subprocess.CompletedProcess(argv, rc, out.read_text(), err.read_text())

    yield run
    server.stdin.close()
    server.wait(timeout=60)


@pytest.fixture(scope="module")
def bad(small_ticket, small_export, tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"), small_ticket, small_export.path)


@pytest.fixture(scope="module")
def device(bad, run90, artifact, tmp_path_factory):
    return make_device_files(tmp_path_factory.mktemp("device"), bad, run90, artifact.path)


def test_the_table_covers_every_subcommand_with_100_cases():
    from edge_transfer.cli.main import SUBCOMMANDS

    per_command = Counter(row[1][0] for row in CASES)
    assert len(CASES) >= 100 and set(per_command) == set(SUBCOMMANDS), per_command


def test_the_device_table_has_60_cases_over_the_device_commands():
    per_command = Counter(row[1][0] for row in DEVICE_CASES)
    assert len(DEVICE_CASES) >= 60 and {"deploy", "predict", "learn", "quantize", "bench"} <= set(per_command), per_command


def _run_case(cli, files, tmp_path, argv, fragment, inside):
    import re
    import shutil

    case = tmp_path / "case"
    case.mkdir()
    out = case / "out"
    (case / "beside.txt").write_bytes(SENTINEL)
    if inside:
        out.mkdir()
        (out / inside).write_bytes(SENTINEL)
    names = {**{k: str(v) for k, v in files.items()}, "out": str(out), "case": str(case)}
    for own in {m for a in argv for m in re.findall(r"\{own_(\w+)\}", a)}:  # a copy inside the case folder
        source = Path(files[own])
        copy = shutil.copytree if source.is_dir() else shutil.copy
        names[f"own_{own}"] = str(copy(source, case / f"own-{source.name}"))
    before = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    proc = cli(*[a.format(**names) for a in argv], cwd=case)
    assert_one_line_error(proc, fragment)
    after = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    assert after == before, "files beside or inside the output, or a copied input, changed"
    assert not [p.name for p in case.rglob(".*tmp-*")], "a temp folder was left behind"
    assert inside or not out.exists()
    assert not (files["bomb"].parent / "PWNED").exists()


@pytest.mark.parametrize("argv, fragment, inside", [_case(r) for r in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(cli, bad, tmp_path, argv, fragment, inside):
    _run_case(cli, bad, tmp_path, argv, fragment, inside)


@pytest.mark.parametrize("argv, fragment, inside", [_case(r) for r in DEVICE_CASES])
def test_hostile_device_input_is_one_line_exit_2_and_loses_nothing(cli, bad, device, tmp_path, argv, fragment, inside):
    _run_case(cli, {**bad, **device}, tmp_path, argv, fragment, inside)


def _default_sigint():
    """In the child before exec: a shell without job control starts background jobs with SIGINT
    ignored, and Python then keeps it ignored; give the CLI the disposition an interactive user's has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# (command, a run long enough to be interrupted mid-work); each writes with a temp folder
SIGNALLED = {
    "prune": ["prune", "--arch", "resnet18-cifar", "--method", "imp", "--data", "embedded:mnist-0to4", "--epochs", "50",
              "--output", "{out}"],
    "export": ["export", "{ticket}", "--output", "{out}"],
    "quantize": ["quantize", "{ticket}", "--output", "{out}"],
    "finetune": ["finetune", "{ticket}", "--epochs", "50", "--train-limit", "256", "--output", "{out}"],
    "pretrain": ["pretrain", "--arch", "resnet18-cifar", "--data", "embedded:mnist-0to4", "--epochs", "50", "--output",
                 "{out}.pt"],
    "adapt": ["adapt", "{ticket}", "--epochs", "50", "--train-limit", "256", "--output", "{out}"],
    # the device side: the source artifact or run must come out byte for byte intact
    "deploy": ["deploy", "{run}", "--engine", "onnxruntime", "--time", "30", "--output", "{out}"],
    "learn": ["learn", "{artifact}", "--data", "embedded:mnist-5to9", "--epochs", "50", "--engine", "onnxruntime",
              "--output", "{out}"],
}
SOURCE_OF = {"deploy": "run90", "learn": "artifact"}


def _digest(folder: Path) -> dict:
    import hashlib

    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(SIGNALLED))
def test_a_signal_mid_work_leaves_nothing_partial(bad, request, tmp_path, command, sig, code):
    out = tmp_path / "out"
    (tmp_path / "beside.txt").write_bytes(SENTINEL)
    source = None
    if command in SOURCE_OF:
        found = request.getfixturevalue(SOURCE_OF[command])
        source = Path(getattr(found, "path", found))
        before = _digest(source)
    argv = [a.format(out=out, ticket=bad["ticket"], run=source, artifact=source) for a in SIGNALLED[command]]
    import os

    proc = subprocess.Popen([sys.executable, "-m", "edge_transfer.cli.main", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=_default_sigint)
    import select

    select.select([proc.stdout, proc.stderr], [], [], 20)  # its first line or progress bar: the work has begun
    time.sleep(1.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and ("nothing partial was written" in err or "--resume" in err)
    assert (tmp_path / "beside.txt").read_bytes() == SENTINEL
    kept = {p.name for p in out.iterdir()} if out.exists() else set()
    assert kept <= ({"checkpoint.pt"} if command == "adapt" else set()) and not (tmp_path / "out.pt").exists()
    assert not [p.name for p in tmp_path.rglob(".*tmp-*")], "a temp folder was left behind"
    if source is not None:
        assert _digest(source) == before, "the source changed"
        assert not [p.name for p in source.parent.rglob(".*tmp-*")], "a temp folder was left beside the source"


def test_some_unreadable_images_are_skipped_with_a_warning(cli, tmp_path):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    for c, base in (("a", 0), ("b", 200)):
        (data / c).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.full((8, 8, 3), base + 5 * i, np.uint8)).save(data / c / f"{i}.png")
    (data / "a" / "broken.png").write_bytes(b"not a png at all")
    proc = cli("pretrain", "--arch", "resnet18-cifar", "--data", data, "--epochs", "1", "--image-size", "8",
               "--no-progress", "--output", tmp_path / "s.pt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: 1 unreadable images" in proc.stdout and (tmp_path / "s.pt").is_file()


@pytest.mark.slow
def test_adapt_stopped_mid_epoch_on_deepsparse_exits_cleanly_and_resumes(bad, tmp_path):
    """SIGINT while the backbone thread is inside DeepSparse, once an epoch is done: exit 130
    with the last completed epoch kept, and --resume finishes the run. Before the stage threads
    were stopped on exit, this aborted the process (-6, "terminate called without an active
    exception"); a signal between epochs, when no thread runs the engine, did not show it."""
    out = tmp_path / "run"
    argv = ["adapt", str(bad["ticket"]), "--epochs", "3", "--train-limit", "512", "--engine", "deepsparse",
            "--output", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "edge_transfer.cli.main", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "checkpoint.pt").exists(), "no epoch finished"
    time.sleep(0.3)  # into the next epoch: the backbone thread is running the engine
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "terminate called" not in err and "rerun with --resume" in err
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt"}
    resumed = run_cli(*argv, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout.lower() or "epoch 3/3" in resumed.stdout


# The Python API on a device: every misuse is the package's typed error naming the fix
# (EdgeTransferError), never a bare RuntimeError from torch or the engine.
def _learner(model):
    return model.learner()


API_CASES = [
    ("predict-empty-list", lambda m, f: m.predict([]), "no images"),
    ("predict-empty-uint8", lambda m, f: m.predict(np.zeros((0, 16, 16, 3), np.uint8)), "no images"),
    ("predict-empty-float", lambda m, f: m.predict(np.zeros((0, 3, 16, 16), np.float32)), "no images"),
    ("predict-float-shape", lambda m, f: m.predict(np.zeros((2, 3, 8, 8), np.float32)), "normalised NCHW of shape"),
    ("predict-float-nan", lambda m, f: m.predict(np.full((1, 3, 16, 16), np.nan, np.float32)), "NaN"),
    ("predict-file-names", lambda m, f: m.predict([str(f["image"])]), "uint8 pixels"),
    ("predict-no-pixels", lambda m, f: m.predict([np.zeros((0, 5, 3), np.uint8)]), "HW or HWC"),
    ("predict-5-channels", lambda m, f: m.predict([np.zeros((8, 8, 5), np.uint8)]), "1, 3 or 4 channels"),
    ("predict-huge-image", lambda m, f: m.predict([np.zeros((8193, 8193), np.uint8)]), "downscale"),
    ("partial-fit-size", lambda m, f: _learner(m).partial_fit(np.zeros((2, 3, 8, 8), np.float32), [0, 1]),
     "model.preprocess"),
    ("partial-fit-nhwc", lambda m, f: _learner(m).partial_fit(np.zeros((2, 16, 16, 3), np.float32), [0, 1]),
     "model.preprocess"),
    ("partial-fit-empty", lambda m, f: _learner(m).partial_fit(np.zeros((0, 3, 16, 16), np.float32), []), "no images"),
    ("partial-fit-labels", lambda m, f: _learner(m).partial_fit(np.zeros((2, 3, 16, 16), np.float32), [0]),
     "2 images but 1 labels"),
    ("partial-fit-label-range", lambda m, f: _learner(m).partial_fit(np.zeros((2, 3, 16, 16), np.float32), [0, 9]),
     "labels must be in"),
    ("learner-classes", lambda m, f: m.learner(["x", "y"]), "must start with"),
    ("save-inside-artifact", lambda m, f: m.save(m.folder / "new", _learner(m)), "lies inside"),
    ("load-batch-0", lambda m, f: load_artifact(f["artifact"], batch_size=0), "batch_size"),
    ("load-batch-huge", lambda m, f: load_artifact(f["artifact"], batch_size=10**9), "batch_size"),
    ("load-engine", lambda m, f: load_artifact(f["artifact"], engine="tensorrt"), "unknown engine"),
    ("load-an-export", lambda m, f: load_artifact(f["export"]), "deploy.json"),
    ("load-huge-input", lambda m, f: load_artifact(f["a_size_huge"]), "pixels a side"),
    ("load-graph-mismatch", lambda m, f: load_artifact(f["a_size_other"]), "takes"),
]


def load_artifact(folder, **kw):
    from edge_transfer.deploy import load

    return load(folder, **{"engine": "onnxruntime", **kw})


@pytest.fixture(scope="module")
def api_model(device):
    return load_artifact(device["artifact"], batch_size=4)


@pytest.mark.parametrize("call, fragment", [pytest.param(c, f, id=i) for i, c, f in API_CASES])
def test_the_python_api_raises_typed_errors_that_name_the_fix(api_model, bad, device, call, fragment):
    from edge_transfer.errors import EdgeTransferError

    with pytest.raises(EdgeTransferError, match=re.escape(fragment)):
        call(api_model, {**bad, **device})


def test_no_marked_argument_reaches_a_command():
    """The input/output marks the parser puts on arguments are for main's overlap check only: a
    marked str or Path pickled into a checkpoint (adapt's head) would not load with weights_only."""
    from edge_transfer.cli import _args
    from edge_transfer.cli.main import build_parser

    args = build_parser().parse_args(["adapt", "T", "--data", "D", "--val", "V", "--json", "o.json", "--output", "O"])
    marked = (_args.InputPath, _args.InputSpec, _args.OutputFile, _args.OutputFolder)
    assert any(isinstance(v, marked) for v in vars(args).values())
    _args.unmark(args)
    assert not [k for k, v in vars(args).items() for x in _args._flat(v) if isinstance(x, marked)]
    assert type(args.data) is str and type(args.source).__name__ == "PosixPath"


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_help_works(cli, tmp_path, command):
    proc = cli(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "usage: edge-transfer" in proc.stdout and not proc.stderr, proc.stderr


def test_a_bomb_among_good_images_is_skipped_and_the_run_goes_on(cli, device, tmp_path):
    predicted = cli("predict", device["artifact"], device["mixed"], *ORT, "--json", tmp_path / "p.json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert "bomb.png: unreadable (declares 30000x30000 pixels" in predicted.stdout or "decompression bomb" in predicted.stdout
    assert "20 images (1 unreadable, skipped)" in predicted.stdout
    learned = cli("learn", device["artifact"], "--data", device["mixed"], "--epochs", "1", *ORT, "--output",
                  tmp_path / "new", cwd=tmp_path)
    assert learned.returncode == 0, learned.stderr
    assert "unreadable images in" in learned.stdout and "bomb.png" in learned.stdout
    assert (tmp_path / "new" / "deploy.json").is_file()
